package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"               // registers the "sqlite" database/sql driver
)

// Engine names returned by (*DB).Engine.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Connection settings. SQLite has one writer connection; see the package doc.
const (
	sqliteBusyTimeoutMS = 5000
	sqliteBusy          = 5 // SQLITE_BUSY, the primary result code
	sqliteReaders       = 4
	pgMaxOpenConns      = 16
	pgMaxIdleConns      = 4
	pgConnMaxIdleTime   = 5 * time.Minute
	pgConnMaxLifetime   = time.Hour
)

// DB is a handle on one database. It is safe for concurrent use; Close it
// when done.
type DB struct {
	engine string
	w      *sql.DB // all writes and transactions
	r      *sql.DB // reads; the same pool as w except for a SQLite file
	now    func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// dsnConfig is a parsed DSN.
type dsnConfig struct {
	engine string
	path   string // SQLite file path; empty for an in-memory database
	memory bool
	pgDSN  string // the PostgreSQL URL, unchanged
}

// parseDSN understands "sqlite:<path>", "sqlite::memory:", ":memory:",
// "postgres://…" and "postgresql://…". Errors never echo a PostgreSQL DSN,
// which may hold a password.
func parseDSN(dsn string) (dsnConfig, error) {
	switch {
	case dsn == "":
		return dsnConfig{}, fmt.Errorf("store: empty dsn (want sqlite:<path> or postgres://…): %w", ErrInvalid)
	case dsn == ":memory:" || dsn == "sqlite::memory:":
		return dsnConfig{engine: EngineSQLite, memory: true}, nil
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		return dsnConfig{engine: EnginePostgres, pgDSN: dsn}, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		p := strings.TrimPrefix(dsn, "sqlite:")
		switch {
		case p == "":
			return dsnConfig{}, fmt.Errorf("store: sqlite dsn has no path (want sqlite:<path>): %w", ErrInvalid)
		case strings.HasPrefix(p, "//"):
			return dsnConfig{}, fmt.Errorf("store: sqlite dsn %q: write sqlite:<path>, e.g. sqlite:/var/lib/split/split.db, not sqlite://: %w", dsn, ErrInvalid)
		case strings.ContainsAny(p, "?#\x00"):
			return dsnConfig{}, fmt.Errorf("store: sqlite path %q must not contain '?', '#' or NUL: %w", p, ErrInvalid)
		}
		return dsnConfig{engine: EngineSQLite, path: p}, nil
	}
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || strings.ContainsAny(scheme, "/@ =") {
		scheme = "(none)"
	}
	return dsnConfig{}, fmt.Errorf("store: unknown dsn scheme %q (want sqlite:<path>, sqlite::memory: or postgres://…): %w", scheme, ErrInvalid)
}

// Open connects to the database named by dsn, applies pending migrations and
// returns the handle. DSN forms:
//
//	sqlite:./data/split.db        SQLite file; the directory is created 0700
//	sqlite::memory:  or  :memory: private in-memory SQLite (tests)
//	postgres://user:pass@host/db  PostgreSQL (also postgresql://), any pgx parameter
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{engine: cfg.engine, now: time.Now}
	switch cfg.engine {
	case EngineSQLite:
		err = db.openSQLite(cfg)
	case EnginePostgres:
		err = db.openPostgres(cfg)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if cfg.engine == EngineSQLite {
		err = db.connectSQLite(ctx)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if err := db.Ping(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if err := db.migrate(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

func (db *DB) openSQLite(cfg dsnConfig) error {
	// _txlock=immediate: a transaction takes the write lock at BEGIN, so two
	// writers never deadlock on a read-to-write upgrade.
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1", sqliteBusyTimeoutMS)
	if cfg.memory {
		// Every connection to ":memory:" is its own database: keep exactly
		// one, forever.
		w, err := sql.Open("sqlite", ":memory:?"+common+"&_txlock=immediate")
		if err != nil {
			return fmt.Errorf("store: open sqlite memory: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		db.w, db.r = w, w
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.path), 0o700); err != nil {
		return fmt.Errorf("store: create directory for %s: %w", cfg.path, err)
	}
	w, err := sql.Open("sqlite", cfg.path+"?"+common+"&_txlock=immediate&_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return fmt.Errorf("store: open sqlite %s: %w", cfg.path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db.w = w
	r, err := sql.Open("sqlite", cfg.path+"?"+common+"&_query_only=1")
	if err != nil {
		return fmt.Errorf("store: open sqlite %s for reading: %w", cfg.path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	db.r = r
	return nil
}

// connectSQLite opens the first writer connection. That connection switches
// a new file to WAL mode, which needs an exclusive lock, and SQLite fails
// the switch with SQLITE_BUSY at once, without waiting busy_timeout, when
// another process is opening the same new file. Retry for as long as
// busy_timeout would have waited.
func (db *DB) connectSQLite(ctx context.Context) error {
	deadline := time.Now().Add(sqliteBusyTimeoutMS * time.Millisecond)
	for {
		err := db.w.PingContext(ctx)
		if err == nil {
			return nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return fmt.Errorf("store: open sqlite: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: open sqlite: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (db *DB) openPostgres(cfg dsnConfig) error {
	p, err := sql.Open("pgx", cfg.pgDSN)
	if err != nil {
		// pgx parse errors redact the password, but say only "invalid" to be safe.
		return fmt.Errorf("store: open postgres: invalid dsn: %w", ErrInvalid)
	}
	p.SetMaxOpenConns(pgMaxOpenConns)
	p.SetMaxIdleConns(pgMaxIdleConns)
	p.SetConnMaxIdleTime(pgConnMaxIdleTime)
	p.SetConnMaxLifetime(pgConnMaxLifetime)
	db.w, db.r = p, p
	return nil
}

// Engine reports which engine db uses: "sqlite" or "postgres".
func (db *DB) Engine() string { return db.engine }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.engine, err)
	}
	if db.r != db.w {
		if err := db.r.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping %s reader: %w", db.engine, err)
		}
	}
	return nil
}

// Close closes the database. It is idempotent: later calls return the first
// call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.r != nil && db.r != db.w {
			errs = append(errs, db.r.Close())
		}
		if db.w != nil {
			errs = append(errs, db.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			db.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return db.closeErr
}

// inTx runs fn in a transaction on the writer and commits it, or rolls it
// back if fn fails.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, rbErr)
		}
		return err
	}
	return tx.Commit()
}
