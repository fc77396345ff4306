package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// migrationFS holds the schema. A file named NNNN_name.sql runs on every
// engine; NNNN_name.sqlite.sql or NNNN_name.postgres.sql only on that one.
// Versions are unique per engine and files are never edited once released:
// change the schema by adding a file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$`)

// pgMigrationLock is the pg_advisory_xact_lock key that serialises schema
// changes between hub nodes starting at the same time ("SPLITMIG").
const pgMigrationLock int64 = 0x53504c49544d4947

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT   NOT NULL,
	applied_at BIGINT NOT NULL
)`

type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations returns the migrations for engine in version order.
func loadMigrations(fsys fs.FS, engine string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var out []migration
	seen := map[int64]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_name[.sqlite|.postgres].sql", e.Name())
		}
		if m[3] != "" && m[3] != engine {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("store: migration file %q: bad version", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: read migration %q: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// lockMigrations serialises migrations between processes for the rest of tx.
// SQLite needs nothing: transactions begin IMMEDIATE and so already exclude
// each other.
func (db *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if db.engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrationLock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// migrate applies every pending migration, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFS, db.engine)
	if err != nil {
		return err
	}
	var applied map[int64]bool
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
			return err
		}
		applied, err = appliedVersions(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: prepare migrations: %w", err)
	}
	known := map[int64]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("store: database has schema version %d, which this binary does not know; it was migrated by a newer SPLIT", v)
		}
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := db.inTx(ctx, func(tx *sql.Tx) error { return db.apply(ctx, tx, m) }); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// apply runs m in tx unless another process applied it meanwhile.
func (db *DB) apply(ctx context.Context, tx *sql.Tx, m migration) error {
	if err := db.lockMigrations(ctx, tx); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, db.now().UnixMilli())
	return err
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out[v] = true
	}
	return out, rows.Err()
}

// SchemaVersion is the newest migration applied to the database, and how
// many are applied.
func (db *DB) SchemaVersion(ctx context.Context) (version int64, applied int, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		vs, err := appliedVersions(ctx, tx)
		for v := range vs {
			version = max(version, v)
		}
		applied = len(vs)
		return err
	})
	return version, applied, err
}
