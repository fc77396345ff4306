package sessions

import (
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// TestEndsScheduled: the ends matrix for Scheduled mode (appointments). An
// appointment with agent1 is created through the API; the customer redeems
// its link (the session is created then), connects and starts the call:
// routed straight to agent1's console when it is connected (ringing), to
// agent1's queue otherwise (waiting). Each cell has one party hang up or
// lose its connection in one state; runCells then checks what every cell
// of the matrix checks (cause in the store, nothing live, no leg, parties
// told, no RTP port and no goroutine left).
func TestEndsScheduled(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	// book creates an appointment with agent1 starting in `in`; it returns
	// the link's token.
	book := func(c *cell, in time.Duration) (string, string) {
		c.t.Helper()
		code, appt := c.a.do("POST", "/v1/appointments", map[string]any{
			"start": time.Now().Add(in).UTC().Format(time.RFC3339), "duration": "30m", "title": "Claim",
			"customer": map[string]any{"name": "Ana"}, "channel": "copy", "agent_id": "agent1"})
		if code != 201 {
			c.t.Fatalf("create appointment: %d %v", code, appt)
		}
		return appt["id"].(string), linkToken(c.t, appt["join_url"].(string))
	}
	// joined: the customer redeems the link (the session exists from now
	// on) and connects, without starting the call yet.
	joined := func(c *cell) *testutil.SessionPeer {
		_, tok := book(c, time.Minute)
		code, out := join(c.t, c.a, tok, nil)
		if code != 200 {
			c.t.Fatalf("join: %d %v", code, out)
		}
		c.sid = out["session"].(string)
		return c.peer("token="+out["ws_token"].(string), toneCustomer, 9)
	}
	start := func(c *cell, cu *testutil.SessionPeer) {
		if err := cu.Start(c.ctx, "", nil); err != nil {
			c.t.Fatal(err)
		}
	}
	// waiting: agent1 is not connected; the customer waits in agent1's queue
	waiting := func(c *cell) *testutil.SessionPeer {
		cu := joined(c)
		start(c, cu)
		c.state(cu, "waiting")
		return cu
	}
	// ringing: agent1's console is open; it is offered the call directly
	ringing := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		ag := c.agent("agent1", toneAgent1, 1, false)
		cu := joined(c)
		start(c, cu)
		o := c.wait(ag, isType("offer"))
		if o.Session != c.sid {
			c.t.Fatalf("agent1 was offered %s, want the appointment's %s", o.Session, c.sid)
		}
		c.state(cu, "ringing")
		return cu, ag
	}
	active := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		cu, ag := ringing(c)
		c.accept(ag, toneCustomer)
		c.state(cu, "active")
		waitUntil(c.t, 10*time.Second, "the agent at the customer and video both ways", func() bool {
			return cu.DominantHz(tones4) == toneAgent1 && cu.VideoFrom(1) > 10 && ag.VideoFrom(9) > 10
		})
		return cu, ag
	}
	held := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		cu, ag := active(c)
		c.send(ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
		c.wait(cu, func(m testutil.Message) bool { return m.Type == "session" && jsonHas(m.Raw, "held", true) })
		return cu, ag
	}
	// backInTheQueue: agent1 did not take the appointment; the customer
	// waits in agent1's queue (any agent of it may serve them), then gives up.
	backInTheQueue := func(c *cell, cu *testutil.SessionPeer) {
		waitUntil(c.t, 5*time.Second, "the appointment in agent1's queue", func() bool {
			_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
			return s["state"] == "waiting" && s["queue"] == "default"
		})
		c.hangup(cu)
		c.expect(487, "Customer abandoned")
		c.told = append(c.told, cu)
	}
	cells := map[string]cellFunc{
		"customer leaves the lobby": func(c *cell) {
			id, tok := book(c, 2*time.Hour)
			code, out := join(c.t, c.a, tok, nil)
			if code != 425 || errCodeOf(out) != "too_early" {
				c.t.Fatalf("join before the window: %d %v, want 425 too_early", code, out)
			}
			// nothing was created: no session to end, the appointment untouched
			if _, a := c.a.do("GET", "/v1/appointments/"+id, nil); a["state"] != "scheduled" || a["session_id"] != nil {
				c.t.Errorf("the appointment after a lobby visit: %v", a)
			}
			c.none = true
		},
		"customer drops after joining, before the call": func(c *cell) {
			joined(c).Close()
			c.expect(487, "Customer abandoned")
		},
		"customer hangs up while waiting": func(c *cell) {
			cu := waiting(c)
			c.hangup(cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
		},
		"customer drops while waiting": func(c *cell) {
			waiting(c).Close()
			c.expect(487, "Customer abandoned")
		},
		"customer hangs up while ringing": func(c *cell) {
			cu, ag := ringing(c)
			c.hangup(cu)
			c.wait(ag, isType("cancel"))
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
		},
		"customer drops while ringing": func(c *cell) {
			cu, ag := ringing(c)
			cu.Close()
			c.wait(ag, isType("cancel"))
			c.expect(487, "Customer abandoned")
		},
		"agent declines while ringing": func(c *cell) {
			cu, ag := ringing(c)
			o := c.wait(ag, isType("offer"))
			c.send(ag, map[string]any{"type": "decline", "leg": o.Leg})
			backInTheQueue(c, cu)
		},
		"agent drops while ringing": func(c *cell) {
			cu, ag := ringing(c)
			ag.Close()
			backInTheQueue(c, cu)
		},
		"customer hangs up while active": func(c *cell) {
			cu, ag := active(c)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, cu, ag)
		},
		"customer drops while active": func(c *cell) {
			cu, ag := active(c)
			cu.Close()
			c.expect(200, "Customer left") // after sessions.resume_grace
			c.told = append(c.told, ag)
		},
		"agent hangs up while active": func(c *cell) {
			cu, ag := active(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, cu, ag)
		},
		"agent drops while active": func(c *cell) {
			cu, ag := active(c)
			ag.Close()
			c.expect(200, "Agent hung up")
			c.told = append(c.told, cu)
		},
		"customer hangs up while held": func(c *cell) {
			cu, ag := held(c)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, cu, ag)
		},
		"customer drops while held": func(c *cell) {
			cu, ag := held(c)
			cu.Close()
			c.expect(200, "Customer left")
			c.told = append(c.told, ag)
		},
		"agent hangs up while held": func(c *cell) {
			cu, ag := held(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, cu, ag)
		},
		"agent drops while held": func(c *cell) {
			cu, ag := held(c)
			ag.Close()
			c.expect(200, "Agent hung up")
			c.told = append(c.told, cu)
		},
	}
	order := []string{
		"customer leaves the lobby", "customer drops after joining, before the call",
		"customer hangs up while waiting", "customer drops while waiting",
		"customer hangs up while ringing", "customer drops while ringing", "agent declines while ringing", "agent drops while ringing",
		"customer hangs up while active", "customer drops while active", "agent hangs up while active", "agent drops while active",
		"customer hangs up while held", "customer drops while held", "agent hangs up while held", "agent drops while held",
	}
	runCells(t, 21600, func(cfg *config.Config) {
		cfg.Sessions.Appointments.OpenBefore = 10 * time.Minute
		cfg.Sessions.Appointments.Reminder = 0
	}, cells, order)
}
