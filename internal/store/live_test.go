package store

import (
	"reflect"
	"testing"
	"time"
)

// testLiveSessionsOf: a node finds the sessions it owned that never ended
// (its process died with them) and ends them once; other nodes' sessions
// and ended ones are left alone; unowned records are claimed only on request.
func testLiveSessionsOf(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	mk := func(id, node string, ended bool) {
		s := Session{ID: id, Mode: "forward", State: "active", Node: node, CreatedAt: ms("2026-03-01T10:00:00Z")}
		if ended {
			s.State, s.EndedAt, s.Cause, s.CauseCode = "ended", ms("2026-03-01T10:05:00Z"), "Customer hung up", 200
		}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	mk("ses_a1", "node-a", false)
	mk("ses_a2", "node-a", true)
	mk("ses_a3", "node-a", false)
	mk("ses_b1", "node-b", false)
	mk("ses_u1", "", false)

	got, err := db.LiveSessionsOf(ctx, "node-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ses_a1", "ses_a3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("LiveSessionsOf(node-a) = %v, want %v", got, want)
	}
	got, _ = db.LiveSessionsOf(ctx, "node-a", true)
	if want := []string{"ses_a1", "ses_a3", "ses_u1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("LiveSessionsOf(node-a, unowned) = %v, want %v", got, want)
	}

	at := ms("2026-03-01T11:00:00Z")
	if ok, err := db.EndSession(ctx, "ses_a1", at, 503, "node_restart"); err != nil || !ok {
		t.Fatalf("EndSession: %v %v", ok, err)
	}
	s, _ := db.GetSession(ctx, "ses_a1")
	if s.State != "ended" || !s.EndedAt.Equal(at) || s.Cause != "node_restart" || s.CauseCode != 503 || s.Node != "node-a" {
		t.Fatalf("ended record: %+v", s)
	}
	// ending again, or an ended session, changes nothing
	if ok, err := db.EndSession(ctx, "ses_a1", at.Add(time.Hour), 500, "again"); err != nil || ok {
		t.Fatalf("second EndSession: %v %v", ok, err)
	}
	if ok, _ := db.EndSession(ctx, "ses_a2", at, 503, "node_restart"); ok {
		t.Fatal("EndSession changed a session that had ended")
	}
	if s, _ := db.GetSession(ctx, "ses_a2"); s.Cause != "Customer hung up" {
		t.Fatalf("an ended session's cause was overwritten: %+v", s)
	}
	if _, err := db.EndSession(ctx, "ses_nope", at, 503, "node_restart"); err == nil {
		t.Fatal("EndSession of an unknown session: no error")
	}
	wantErr(t, func() error { _, err := db.EndSession(ctx, "ses_nope", at, 503, "x"); return err }(), ErrNotFound)
	got, _ = db.LiveSessionsOf(ctx, "node-a", false)
	if want := []string{"ses_a3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after ending: %v, want %v", got, want)
	}
	if _, err := db.LiveSessionsOf(ctx, "bad\x00node", false); err == nil {
		t.Fatal("a NUL in the node name was accepted")
	}
}
