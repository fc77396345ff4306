package sessions

import (
	"context"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

// TestScheduled: an appointment created through the API; joining before
// its window gets the lobby (too_early with the opening time); the
// appointment and its link survive a hub restart; inside the window the
// customer is routed to the booked agent; after the window the link is
// refused; cancelling revokes; rescheduling re-issues.
func TestScheduled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	cfg := hubConfig(t, 19600, dir)
	cfg.Sessions.Appointments.OpenBefore = time.Second
	cfg.Sessions.Appointments.CloseAfter = time.Second
	cfg.Sessions.Appointments.Reminder = 0
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := api{t, h.URL}
	start := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second)
	code, appt := a.do("POST", "/v1/appointments", map[string]any{
		"start": start.Format(time.RFC3339), "duration": "1m", "time_zone": "Europe/Madrid", "title": "Insurance claim",
		"customer": map[string]any{"name": "Ana"}, "channel": "copy", "agent_id": "agent1", "notes": "claim 42"})
	if code != 201 {
		t.Fatalf("create appointment: %d %v", code, appt)
	}
	id := appt["id"].(string)
	tok := linkToken(t, appt["join_url"].(string))
	if appt["opens_at"] != start.Add(-time.Second).Format(time.RFC3339) {
		t.Errorf("opens_at %v, want %s", appt["opens_at"], start.Add(-time.Second).Format(time.RFC3339))
	}
	// before the window: the lobby
	for _, dry := range []bool{true, false} {
		code, out := join(t, a, tok, map[string]any{"dry_run": dry})
		e, _ := out["error"].(map[string]any)
		if code != 425 || errCodeOf(out) != "too_early" || e["not_before"] == nil {
			t.Fatalf("early join (dry_run %v): %d %v", dry, code, out)
		}
	}
	// bad input
	for _, body := range []map[string]any{
		{"duration": "1m"},
		{"start": "tomorrow"},
		{"start": start.Format(time.RFC3339), "duration": "2s"},
		{"start": start.Format(time.RFC3339), "agent_id": "nobody"},
		{"start": start.Format(time.RFC3339), "time_zone": "Mars/Olympus"},
		{"start": start.Format(time.RFC3339), "channel": "sms", "customer": map[string]any{"contact": "555"}},
		{"start": time.Now().Add(-time.Hour).Format(time.RFC3339), "duration": "1m"},
	} {
		if code, out := a.do("POST", "/v1/appointments", body); code != 400 || errCodeOf(out) != "bad_request" {
			t.Errorf("appointment %v: %d %v, want 400", body, code, out)
		}
	}

	// restart: the appointment and its link survive
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	h, err = testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a = api{t, h.URL}
	code, got := a.do("GET", "/v1/appointments/"+id, nil)
	if code != 200 || got["title"] != "Insurance claim" || got["state"] != "scheduled" || got["notes"] != "claim 42" {
		t.Fatalf("after restart: %d %v", code, got)
	}
	code, list := a.do("GET", "/v1/appointments?from="+start.Add(-time.Hour).Format(time.RFC3339), nil)
	if code != 200 || len(list["appointments"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, list)
	}

	// the agent waits with the console open
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	time.Sleep(time.Until(start.Add(-time.Second)) + 100*time.Millisecond)
	code, out := join(t, a, tok, nil)
	if code != 200 {
		t.Fatalf("join inside the window: %d %v", code, out)
	}
	cust := startJoined(ctx, t, h, out)
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the scheduled call's media", func() bool {
		return cust.DominantHz(tones) == toneAgent1 && ag.DominantHz(tones) == toneCustomer && cust.VideoFrom(1) > 20 && ag.VideoFrom(9) > 20
	})
	_, s := a.do("GET", "/v1/sessions/"+out["session"].(string), nil)
	if s["mode"] != "scheduled" {
		t.Errorf("session mode %v", s["mode"])
	}
	if _, got = a.do("GET", "/v1/appointments/"+id, nil); got["state"] != "joined" || got["session_id"] != out["session"] {
		t.Errorf("appointment after join: %v", got)
	}

	// an appointment whose window is about to close
	code, late := a.do("POST", "/v1/appointments", map[string]any{"start": time.Now().Add(-58 * time.Second).UTC().Format(time.RFC3339),
		"duration": "1m", "customer": map[string]any{"name": "Bo"}, "channel": "copy"})
	if code != 201 {
		t.Fatalf("late appointment: %d %v", code, late)
	}
	lateTok := linkToken(t, late["join_url"].(string))
	// cancel and reschedule
	code, c2 := a.do("POST", "/v1/appointments", map[string]any{"start": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"customer": map[string]any{"name": "Cy"}, "channel": "copy"})
	if code != 201 {
		t.Fatalf("appointment: %d %v", code, c2)
	}
	oldTok := linkToken(t, c2["join_url"].(string))
	code, moved := a.do("PATCH", "/v1/appointments/"+c2["id"].(string), map[string]any{"start": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
	if code != 200 || moved["join_url"] == c2["join_url"] {
		t.Fatalf("reschedule: %d %v", code, moved)
	}
	if code, out := join(t, a, oldTok, map[string]any{"dry_run": true}); code != 410 || errCodeOf(out) != "link_revoked" {
		t.Errorf("the link of the old time: %d %v", code, out)
	}
	newTok := linkToken(t, moved["join_url"].(string))
	if code, _ := a.do("DELETE", "/v1/appointments/"+c2["id"].(string), nil); code != 204 {
		t.Fatalf("cancel: %d", code)
	}
	if code, out := join(t, a, newTok, map[string]any{"dry_run": true}); code != 410 || errCodeOf(out) != "link_revoked" {
		t.Errorf("cancelled appointment's link: %d %v", code, out)
	}
	if code, _ := a.do("DELETE", "/v1/appointments/"+c2["id"].(string), nil); code != 409 {
		t.Errorf("second cancel: %d, want 409", code)
	}
	time.Sleep(time.Until(time.Now().Add(4 * time.Second)))
	if code, out := join(t, a, lateTok, nil); code != 410 || errCodeOf(out) != "link_expired" {
		t.Errorf("after the window: %d %v", code, out)
	}
}
