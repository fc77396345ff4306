package sessions

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

// TestCustomerHangupAfterItsMediaClosed: a page that hangs up closes its
// PeerConnection as it sends hangup; when the hub sees the media end first
// (a drop: the session waits resume_grace for the customer to come back),
// the hangup from the same socket still ends the call at once, as "Customer
// hung up" — before, it was refused ("not your session") and the agent
// waited for the grace period (found by TestForwardKamailioACDToDeskPhone).
func TestCustomerHangupAfterItsMediaClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := hubConfig(t, 24700, t.TempDir())
	cfg.Sessions.ResumeGrace = time.Minute
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, h, ag)
	sid := offer.Session
	if err := cust.CloseMedia(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the hub to see the customer's media gone", func() bool {
		_, ev := a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
		b, _ := json.Marshal(ev)
		return strings.Contains(string(b), "customer.disconnected")
	})
	if err := cust.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == sid }); err != nil {
		t.Fatalf("the agent was not told: %v", err)
	}
	waitUntil(t, 10*time.Second, "the session's end in the record", func() bool {
		_, s := a.do("GET", "/v1/sessions/"+sid, nil)
		return s["state"] == "ended" && s["cause"] != nil
	})
	_, s := a.do("GET", "/v1/sessions/"+sid, nil)
	if s["cause"] != "Customer hung up" {
		t.Errorf("cause %v, want Customer hung up", s["cause"])
	}
}
