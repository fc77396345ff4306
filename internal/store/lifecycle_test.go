package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func testCloseIdempotent(t *testing.T, dsn string) {
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	if _, err := db.GetSession(t.Context(), "ses_1"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSession after Close: %v", err)
	}
}

// testSurvivesReopen is the "restarting the hub loses no records" property.
func testSurvivesReopen(t *testing.T, dsn string) {
	ctx := t.Context()
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	s := fullSession("ses_keep")
	s.AnsweredAt = ms("2026-03-01T10:00:01Z")
	a := Agent{ID: "agent-1", Name: "Ana", Queues: []string{"support"}, CreatedAt: ms("2026-01-01T00:00:00Z")}
	q := Queue{Name: "support", RingTimeoutSec: 15}
	ap := Appointment{ID: "ap_1", Title: "t", Start: ms("2026-06-01T09:00:00Z"),
		CreatedAt: ms("2026-05-01T00:00:00Z"), UpdatedAt: ms("2026-05-02T00:00:00Z")}
	steps := []error{
		db.CreateSession(ctx, s),
		db.PutAgent(ctx, a),
		db.PutQueue(ctx, q),
		db.PutAppointment(ctx, ap),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for i := range 3 {
		if _, err := db.AppendEvent(ctx, Event{SessionID: s.ID, At: s.CreatedAt, Type: fmt.Sprintf("e%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if first, err := db.ConsumeToken(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil || !first {
		t.Fatalf("ConsumeToken: %v %v", first, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openT(t, dsn)
	gs, err := db.GetSession(ctx, s.ID)
	if err != nil || !reflect.DeepEqual(gs, s) {
		t.Fatalf("session after reopen = %+v, %v", gs, err)
	}
	ga, err := db.GetAgent(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(ga, a) {
		t.Fatalf("agent after reopen = %+v, %v", ga, err)
	}
	gq, err := db.GetQueue(ctx, q.Name)
	if err != nil || gq != q {
		t.Fatalf("queue after reopen = %+v, %v", gq, err)
	}
	gap, err := db.GetAppointment(ctx, ap.ID)
	if err != nil || !reflect.DeepEqual(gap, ap) {
		t.Fatalf("appointment after reopen = %+v, %v", gap, err)
	}
	evs, err := db.Events(ctx, s.ID, 0, 0)
	if err != nil || len(evs) != 3 || evs[2].Type != "e2" {
		t.Fatalf("events after reopen = %+v, %v", evs, err)
	}
	if seq, err := db.AppendEvent(ctx, Event{SessionID: s.ID, Type: "e3"}); err != nil || seq != 4 {
		t.Fatalf("next seq after reopen = %d, %v; want 4", seq, err)
	}
	if first, err := db.ConsumeToken(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil || first {
		t.Fatalf("token replay after reopen accepted: %v %v", first, err)
	}
}

func appliedMigrations(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), `SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func wantMigrations(t *testing.T, engine string) []string {
	t.Helper()
	ms, err := loadMigrations(migrationFS, engine)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	return names
}

func testMigrationsIdempotent(t *testing.T, dsn string) {
	ctx := t.Context()
	for i := range 3 {
		db, err := Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			if err := db.CreateSession(ctx, Session{ID: "ses_1"}); err != nil {
				t.Fatal(err)
			}
		}
		got, want := appliedMigrations(t, db), wantMigrations(t, db.Engine())
		if !reflect.DeepEqual(got, want) || len(want) == 0 {
			t.Fatalf("open %d: applied %v, want %v", i, got, want)
		}
		if ss, err := db.ListSessions(ctx, SessionFilter{}); err != nil || len(ss) != 1 {
			t.Fatalf("open %d: sessions %v, %v", i, ss, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// testConcurrentOpen starts several "nodes" on one fresh database at once:
// the migrations must run exactly once and every Open must succeed.
func testConcurrentOpen(t *testing.T, dsn string) {
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	if got, want := appliedMigrations(t, dbs[0]), wantMigrations(t, dbs[0].Engine()); !reflect.DeepEqual(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

func testRefusesNewerSchema(t *testing.T, dsn string) {
	ctx := context.Background()
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, dsn)
	if err == nil {
		_ = db.Close()
		t.Fatal("Open accepted a database with an unknown schema version")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Fatalf("error does not name the version: %v", err)
	}
}
