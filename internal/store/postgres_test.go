//go:build linux

package store

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestPostgres runs the suite against a real PostgreSQL: a throwaway server
// that it starts in a temporary directory (listening only on a Unix socket
// there), or the server named by SPLIT_TEST_POSTGRES_DSN. It is skipped with
// -short and fails, rather than skips, when PostgreSQL is not installed.
//
// Needs the Debian package "postgresql" (initdb and postgres in
// /usr/lib/postgresql/<version>/bin); SPLIT_PG_BINDIR overrides the
// directory. As root the server runs as the "postgres" user that the package
// creates, because PostgreSQL refuses to run as root.
func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the PostgreSQL suite")
	}
	srv := pgtest.Start(t)
	if srv.Linguistic {
		// The database's own collation must sort 'k_a' before 'k_B', so
		// that KeysSortBytewise proves the "C" key columns matter.
		var lt bool
		if err := srv.Admin.QueryRowContext(t.Context(), `SELECT 'k_a' < 'k_B'`).Scan(&lt); err != nil || !lt {
			t.Fatalf("test server collation is not linguistic: 'k_a' < 'k_B' = %v, %v", lt, err)
		}
	}
	runSuite(t, backend{name: "postgres", persistent: true, dsn: func(t *testing.T) string { return srv.FreshDSN(t) }})

	t.Run("Engine", func(t *testing.T) {
		if db := openT(t, srv.FreshDSN(t)); db.Engine() != EnginePostgres {
			t.Fatalf("Engine = %q", db.Engine())
		}
	})
}

// Without PostgreSQL the full suite must fail and say what to install.
func TestPGBinDirMissing(t *testing.T) {
	t.Setenv("SPLIT_PG_BINDIR", "")
	t.Setenv("PATH", t.TempDir())
	_, err := pgtest.BinDir(filepath.Join(t.TempDir(), "*", "bin"))
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("err = %v, want a hint to install postgresql", err)
	}

	t.Setenv("SPLIT_PG_BINDIR", t.TempDir())
	if _, err := pgtest.BinDir(pgtest.DebianBinDirs); err == nil {
		t.Fatal("an empty SPLIT_PG_BINDIR was accepted")
	}
}
