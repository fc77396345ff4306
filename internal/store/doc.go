// Package store is SPLIT's persistence layer: sessions and their append-only
// event log, agents, queues, appointments and single-use token marks.
//
// One *DB serves two engines with one set of SQL statements:
//
//   - SQLite (the embedded default), through the pure-Go modernc.org/sqlite
//     driver: DSN "sqlite:<path>" (for example "sqlite:./data/split.db"), or
//     "sqlite::memory:" / ":memory:" for a private in-memory database. A file
//     database runs in WAL mode with synchronous=NORMAL, busy_timeout=5000
//     and foreign keys on. A committed write survives the hub process
//     crashing or restarting; only a power cut or kernel crash can roll back
//     the last commits (never corrupting the file). synchronous=FULL, which
//     closes that gap, makes each commit some 10-15 times slower here (an
//     fsync per commit; see the benchmarks). Writes go through a single
//     connection (SQLite allows one writer at a time anyway) and transactions
//     start with BEGIN IMMEDIATE, so writers queue instead of failing with
//     SQLITE_BUSY; reads use a small separate pool of read-only connections
//     and run alongside the writer.
//   - PostgreSQL, through github.com/jackc/pgx/v5/stdlib: DSN
//     "postgres://user:pass@host:5432/db?sslmode=..." or "postgresql://…",
//     passed unchanged to pgx (so every pgx connection parameter works).
//
// Statements use $1-style placeholders, which both drivers accept, and only
// portable types: TEXT and BIGINT. Timestamps are BIGINT Unix milliseconds
// (a zero time.Time is stored as NULL, and times read back are in UTC with
// millisecond precision); maps, lists and event payloads are JSON in
// TEXT columns. Inserts that must not overwrite use INSERT … ON CONFLICT DO
// NOTHING and upserts use ON CONFLICT … DO UPDATE, which both engines share.
// Per-session event sequence numbers come from a counter column bumped with
// UPDATE … RETURNING, so neither engine's auto-increment is needed.
//
// The engines differ in exactly three places, all in db.go and migrate.go:
// the driver and its connection settings; a PostgreSQL advisory lock that
// serialises migrations between hub nodes starting at once (SQLite gets the
// same from BEGIN IMMEDIATE); and migration files named *.postgres.sql or
// *.sqlite.sql that run on one engine only. The one such file today sets the
// "C" collation on PostgreSQL key columns so that ids sort bytewise, as they
// do in SQLite, whatever the database's default collation is.
//
// Migrations are embedded (migrations/NNNN_name.sql), applied in order by
// Open, each in its own transaction, and recorded in schema_migrations, so
// re-opening a database is a no-op. Open refuses a database whose schema is
// newer than this binary knows.
//
// The package keeps its own record types and imports nothing else from this
// repository; callers convert at their edge. All methods are safe for
// concurrent use.
package store
