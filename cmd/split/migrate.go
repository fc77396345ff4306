package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/split-hub/split/internal/store"
)

// migrateCmd runs "split migrate": it opens the store the configuration
// names, applies the migrations this binary carries that the database
// lacks, and says where the schema stands. Every hub also does this when it
// starts; on PostgreSQL an advisory lock lets one node (or this command) at
// a time do it, so a cluster can be upgraded node by node, or migrated by
// hand first (docs/deploy.md).
func migrateCmd(args []string, stdout, stderr io.Writer) int {
	cfg, err := load(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, cfg.StoreDSN())
	if err != nil {
		fmt.Fprintln(stderr, "split migrate:", err)
		return 1
	}
	defer db.Close()
	v, n, err := db.SchemaVersion(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "split migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "store (%s): schema at version %d, %d migrations applied\n", db.Engine(), v, n)
	return 0
}
