package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSQLite(t *testing.T) {
	runSuite(t, backend{
		name:       "sqlite file",
		persistent: true,
		dsn: func(t *testing.T) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "data", "split.db")
		},
	})
}

func TestSQLiteMemory(t *testing.T) {
	for _, dsn := range []string{":memory:", "sqlite::memory:"} {
		t.Run(dsn, func(t *testing.T) {
			runSuite(t, backend{name: dsn, dsn: func(*testing.T) string { return dsn }})
		})
	}
}

// Two in-memory handles are two databases.
func TestSQLiteMemoryIsPrivate(t *testing.T) {
	a, b := openT(t, ":memory:"), openT(t, ":memory:")
	if err := a.CreateSession(t.Context(), Session{ID: "ses_1"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.GetSession(t.Context(), "ses_1")
	wantErr(t, err, ErrNotFound)
}

func TestSQLiteFileSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	db := openT(t, "sqlite:"+filepath.Join(dir, "split.db"))
	if db.Engine() != EngineSQLite {
		t.Fatalf("Engine = %q", db.Engine())
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("directory mode %o, want 700", perm)
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1",
	} {
		var got string
		if err := db.w.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	var qo string
	if err := db.r.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&qo); err != nil || qo != "1" {
		t.Fatalf("reader query_only = %q, %v", qo, err)
	}
	if _, err := db.r.ExecContext(t.Context(), `DELETE FROM sessions`); err == nil {
		t.Fatal("reader pool accepted a write")
	}
}

func TestParseDSN(t *testing.T) {
	good := []struct {
		dsn    string
		engine string
		path   string
		memory bool
	}{
		{"sqlite:./data/split.db", EngineSQLite, "./data/split.db", false},
		{"sqlite:/var/lib/split/split.db", EngineSQLite, "/var/lib/split/split.db", false},
		{"sqlite:split.db", EngineSQLite, "split.db", false},
		{"sqlite::memory:", EngineSQLite, "", true},
		{":memory:", EngineSQLite, "", true},
		{"postgres://u:p@localhost:5432/split?sslmode=disable", EnginePostgres, "", false},
		{"postgresql://localhost/split", EnginePostgres, "", false},
	}
	for _, tc := range good {
		c, err := parseDSN(tc.dsn)
		if err != nil {
			t.Errorf("parseDSN(%q): %v", tc.dsn, err)
			continue
		}
		if c.engine != tc.engine || c.path != tc.path || c.memory != tc.memory {
			t.Errorf("parseDSN(%q) = %+v", tc.dsn, c)
		}
		if c.engine == EnginePostgres && c.pgDSN != tc.dsn {
			t.Errorf("parseDSN(%q) changed the postgres DSN to %q", tc.dsn, c.pgDSN)
		}
	}
	bad := []struct{ dsn, mention string }{
		{"", "empty dsn"},
		{"sqlite:", "no path"},
		{"sqlite://data/split.db", "not sqlite://"},
		{"sqlite:./x.db?_pragma=foo", "must not contain"},
		{"mysql://root:hunter2@db/split", `"mysql"`},
		{"./split.db", "unknown dsn scheme"},
		{"host=db password=hunter2", "unknown dsn scheme"},
		{"pg://x", `"pg"`},
	}
	for _, tc := range bad {
		_, err := parseDSN(tc.dsn)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("parseDSN(%q) err = %v, want ErrInvalid", tc.dsn, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("parseDSN(%q) err = %q, want it to mention %q", tc.dsn, err, tc.mention)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseDSN(%q) leaks the password: %v", tc.dsn, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	// An unreachable PostgreSQL (a socket directory with no server in it):
	// the error must not carry the password.
	_, err := Open(t.Context(), "postgres://split:hunter2@/split?host="+t.TempDir()+"&connect_timeout=2")
	if err == nil {
		t.Fatal("Open of an absent PostgreSQL succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error leaks the password: %v", err)
	}
	// A SQLite path under a regular file cannot be created.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), "sqlite:"+filepath.Join(f, "split.db")); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	if _, err := Open(t.Context(), "postgres://split:hunter2@db:notaport/split"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("malformed postgres DSN: %v", err)
	}
	if _, err := Open(t.Context(), "redis://x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown scheme: %v", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	for _, engine := range []string{EngineSQLite, EnginePostgres} {
		ms, err := loadMigrations(migrationFS, engine)
		if err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		if len(ms) == 0 || ms[0].version != 1 {
			t.Fatalf("%s: migrations %+v", engine, ms)
		}
		for _, m := range ms {
			if other := map[string]string{EngineSQLite: ".postgres.sql", EnginePostgres: ".sqlite.sql"}[engine]; strings.HasSuffix(m.name, other) {
				t.Errorf("%s got %s", engine, m.name)
			}
		}
	}

	fsys := fstest.MapFS{
		"migrations/0002_b.sql":          {Data: []byte("B")},
		"migrations/0001_a.sql":          {Data: []byte("A")},
		"migrations/0003_c.postgres.sql": {Data: []byte("C-pg")},
		"migrations/0003_c.sqlite.sql":   {Data: []byte("C-lite")},
	}
	ms, err := loadMigrations(fsys, EngineSQLite)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.sql)
	}
	if strings.Join(got, ",") != "A,B,C-lite" {
		t.Fatalf("sqlite migrations = %v", got)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"duplicate version": {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"bad name":          {"migrations/1_a.sql": {}},
		"version zero":      {"migrations/0000_a.sql": {}},
		"unknown engine":    {"migrations/0001_a.mysql.sql": {}},
	} {
		if _, err := loadMigrations(fsys, EngineSQLite); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
