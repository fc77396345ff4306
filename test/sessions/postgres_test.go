//go:build linux

package sessions

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestHubOnPostgres runs the hub on PostgreSQL (a throwaway server) instead
// of the embedded SQLite: a Forward call through the built-in queue with
// media both ways, its record after a restart, a single-use link that two
// simultaneous joins cannot both use, and an appointment that survives the
// restart.
func TestHubOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pg := pgtest.Start(t)
	cfg := hubConfig(t, 20500, t.TempDir())
	cfg.Sessions.Store = pg.FreshDSN(t)
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := api{t, h.URL}

	// A Forward call: queue → agent1, audio both ways.
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, h, ag)
	sid := offer.Session
	waitUntil(t, 10*time.Second, "the customer hearing the agent", func() bool { return cust.DominantHz(tones) == toneAgent1 })
	if err := cust.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	var before []string
	waitUntil(t, 10*time.Second, "the ended session in the store", func() bool {
		before = eventTypes(t, a, sid)
		return contains(before, "session.ended")
	})

	// A single-use link: of two simultaneous joins exactly one wins.
	code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("create session: %d %v", code, s)
	}
	code, lk := a.do("POST", "/v1/sessions/"+s["id"].(string)+"/links", map[string]any{})
	if code != 201 {
		t.Fatalf("create link: %d %v", code, lk)
	}
	tok := linkToken(t, lk["url"].(string))
	var wg sync.WaitGroup
	codes := make([]int, 4)
	errs := make([]string, 4)
	for i := range codes {
		wg.Go(func() {
			c, out := join(t, a, tok, nil)
			codes[i], errs[i] = c, errCodeOf(out)
		})
	}
	wg.Wait()
	won := 0
	for i, c := range codes {
		switch {
		case c == 200:
			won++
		case errs[i] != "link_used":
			t.Errorf("a losing join got %d %s, want link_used", c, errs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d joins used a single-use link: %v %v", won, codes, errs)
	}

	// An appointment.
	start := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	code, appt := a.do("POST", "/v1/appointments", map[string]any{"start": start.Format(time.RFC3339), "duration": "30m",
		"title": "Claim review", "customer": map[string]any{"name": "Bo"}, "channel": "copy", "agent_id": "agent1"})
	if code != 201 {
		t.Fatalf("appointment: %d %v", code, appt)
	}

	// Restart on the same database.
	ag.Close()
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	h, err = testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a = api{t, h.URL}
	code, got := a.do("GET", "/v1/sessions/"+sid, nil)
	if code != 200 || got["state"] != "ended" || got["agent"].(map[string]any)["id"] != "agent1" {
		t.Fatalf("the session after the restart: %d %v", code, got)
	}
	if after := eventTypes(t, a, sid); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("history after the restart differs:\n%v\n%v", after, before)
	}
	code, got = a.do("GET", "/v1/appointments/"+appt["id"].(string), nil)
	if code != 200 || got["title"] != "Claim review" || got["state"] != "scheduled" {
		t.Fatalf("the appointment after the restart: %d %v", code, got)
	}
	if code, out := join(t, a, tok, nil); code == 200 || errCodeOf(out) != "link_used" {
		t.Fatalf("the used link after the restart: %d %v", code, out)
	}
	// and it all is in PostgreSQL
	db, err := sql.Open("pgx", cfg.Sessions.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n); err != nil || n < 2 {
		t.Fatalf("sessions in PostgreSQL: %d, %v; want the two of this test", n, err)
	}
}
