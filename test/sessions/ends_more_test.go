package sessions

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// acd starts the cell's ACD (a SIP user agent on the trunk's address) and
// returns it with a channel of the calls the hub places to it.
func (c *cell) acd(addr string, ring time.Duration) (*testutil.SIPUAS, chan *testutil.SIPCall) {
	c.t.Helper()
	calls := make(chan *testutil.SIPCall, 4)
	u, err := testutil.StartUAS(testutil.UASOptions{Listen: addr, ToneHz: tonePhone, Ring: ring, Record: -1,
		OnCall: func(sc *testutil.SIPCall) { calls <- sc }})
	if err != nil {
		c.t.Fatal(err)
	}
	c.close = append(c.close, func() { _ = u.Close() })
	return u, calls
}

func (c *cell) next(calls chan *testutil.SIPCall) *testutil.SIPCall {
	c.t.Helper()
	select {
	case sc := <-calls:
		return sc
	case <-c.ctx.Done():
		c.t.Fatal("no SIP call came")
		return nil
	}
}

// dialIn places a call from u to the hub (an agent leg, a phone) that the
// console answers; it returns the call once answered.
func (c *cell) dialIn(u *testutil.SIPUAS, to string, ag *testutil.SessionPeer, hdrs ...sip.Header) *testutil.SIPCall {
	c.t.Helper()
	type res struct {
		sc  *testutil.SIPCall
		err error
	}
	ch := make(chan res, 1)
	go func() {
		sc, err := u.InviteWith(c.ctx, to, hdrs...)
		ch <- res{sc, err}
	}()
	c.accept(ag, tonePhone)
	r := <-ch
	if r.err != nil {
		c.t.Fatal(r.err)
	}
	return r.sc
}

// TestEndsExternalACD: Forward into an external ACD over SIP. The ACD
// answers the hub's queue call and delivers the session to agent1's console
// with a second call carrying X-Split-Session.
func TestEndsExternalACD(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 21300
	acdAddr := fmt.Sprintf("127.0.0.1:%d", base+90)
	hubSIP := fmt.Sprintf("127.0.0.1:%d", base+1)
	mutate := func(cfg *config.Config) {
		cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
		cfg.Sessions.Routes = []config.Route{{Name: "acd", Entry: "default", Target: "sip:support@" + acdAddr}}
	}
	// active: the ACD answered the customer's call
	active := func(c *cell) (*testutil.SessionPeer, *testutil.SIPUAS, *testutil.SIPCall) {
		u, calls := c.acd(acdAddr, 0)
		cu := c.customer()
		q := c.next(calls)
		c.state(cu, "active")
		return cu, u, q
	}
	// withAgent: the ACD delivered the session to agent1, who answered
	withAgent := func(c *cell) (cu, ag *testutil.SessionPeer, q, al *testutil.SIPCall) {
		cu, u, q := active(c)
		ag = c.agent("agent1", toneAgent1, 1, false)
		al = c.dialIn(u, "sip:agent1@"+hubSIP, ag, sip.NewHeader("X-Split-Session", c.sid))
		return cu, ag, q, al
	}
	// back with the ACD: the agent's part is over, the customer is still
	// with the ACD; the test then ends the call from the customer's side.
	backWithACD := func(c *cell, cu *testutil.SessionPeer, q *testutil.SIPCall) {
		waitUntil(c.t, 10*time.Second, "the session back with the ACD", func() bool {
			_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
			return s["state"] == "active" && legsOf(s) == "customer,acd"
		})
		c.hangup(cu)
		c.expect(200, "Customer hung up")
		c.told = append(c.told, cu)
		c.byes = append(c.byes, q)
	}
	cells := map[string]cellFunc{
		"customer hangs up while queued": func(c *cell) {
			_, calls := c.acd(acdAddr, time.Minute)
			cu := c.customer()
			q := c.next(calls)
			c.state(cu, "waiting")
			c.hangup(cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
			c.gone = append(c.gone, q) // CANCEL
		},
		"customer drops while queued": func(c *cell) {
			_, calls := c.acd(acdAddr, time.Minute)
			cu := c.customer()
			q := c.next(calls)
			c.state(cu, "waiting")
			cu.Close()
			c.expect(487, "Customer abandoned")
			c.gone = append(c.gone, q)
		},
		"customer hangs up while active": func(c *cell) {
			cu, _, q := active(c)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, cu)
			c.byes = append(c.byes, q)
		},
		"customer drops while active": func(c *cell) {
			cu, _, q := active(c)
			cu.Close()
			c.expect(200, "Customer left")
			c.byes = append(c.byes, q)
		},
		"ACD hangs up while active": func(c *cell) {
			cu, _, q := active(c)
			if err := q.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			c.expect(200, "ACD hung up")
			c.told = append(c.told, cu)
		},
		"ACD vanishes while active": func(c *cell) {
			cu, _, q := active(c)
			q.Silence()
			c.expect(408, "Media timeout")
			c.told = append(c.told, cu)
			c.byes = append(c.byes, q)
		},
		"customer hangs up while ringing an agent": func(c *cell) {
			cu, u, q := active(c)
			ag := c.agent("agent1", toneAgent1, 1, false)
			errc := make(chan error, 1)
			go func() {
				_, err := u.InviteWith(c.ctx, "sip:agent1@"+hubSIP, sip.NewHeader("X-Split-Session", c.sid))
				errc <- err
			}()
			c.wait(ag, isType("offer"))
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, cu)
			c.byes = append(c.byes, q)
			c.wait(ag, isType("cancel"))
			if err := <-errc; err == nil {
				c.t.Error("the agent leg was answered after the customer left")
			}
		},
		"agent hangs up while active": func(c *cell) {
			cu, ag, q, al := withAgent(c)
			c.hangup(ag)
			c.wait(ag, isType("ended"))
			waitDone(c.t, al)
			if !al.ByeReceived() {
				c.t.Error("the ACD's agent leg got no BYE")
			}
			backWithACD(c, cu, q)
		},
		"agent drops while active": func(c *cell) {
			cu, ag, q, al := withAgent(c)
			ag.Close()
			waitDone(c.t, al)
			if !al.ByeReceived() {
				c.t.Error("the ACD's agent leg got no BYE")
			}
			backWithACD(c, cu, q)
		},
		"ACD hangs up the agent leg while active": func(c *cell) {
			cu, ag, q, al := withAgent(c)
			if err := al.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			c.wait(ag, isType("ended"))
			backWithACD(c, cu, q)
		},
		"agent leg vanishes while active": func(c *cell) {
			cu, ag, q, al := withAgent(c)
			al.Silence()
			c.wait(ag, isType("ended"))
			waitDone(c.t, al)
			if !al.ByeReceived() {
				c.t.Error("the silent agent leg got no BYE")
			}
			backWithACD(c, cu, q)
		},
		"ACD hangs up while the agent has the call": func(c *cell) {
			cu, ag, q, al := withAgent(c)
			if err := q.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			c.expect(200, "ACD hung up")
			c.told = append(c.told, cu, ag)
			c.byes = append(c.byes, al)
		},
		"customer hangs up while held": func(c *cell) {
			cu, ag, q, al := withAgent(c)
			c.send(ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
			waitUntil(c.t, 5*time.Second, "the hold", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return s["held"] == true
			})
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, cu, ag)
			c.byes = append(c.byes, q, al)
		},
	}
	order := []string{
		"customer hangs up while queued", "customer drops while queued",
		"customer hangs up while active", "customer drops while active", "ACD hangs up while active", "ACD vanishes while active",
		"customer hangs up while ringing an agent",
		"agent hangs up while active", "agent drops while active", "ACD hangs up the agent leg while active", "agent leg vanishes while active",
		"ACD hangs up while the agent has the call", "customer hangs up while held",
	}
	runCells(t, base, mutate, cells, order)
}

func waitDone(t *testing.T, sc *testutil.SIPCall) {
	t.Helper()
	select {
	case <-sc.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("SIP call %s never ended", sc.ID)
	}
}

func legsOf(s map[string]any) string {
	out := ""
	legs, _ := s["legs"].([]any)
	for i, l := range legs {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprint(l.(map[string]any)["role"])
	}
	return out
}

// TestEndsRemoteViewerAndPhone: a phone call that reaches agent1's console
// with no session reference (a phone customer, or a transfer that lost the
// reference — issue 8 item 16) and the Remote Viewer escalation of it.
func TestEndsRemoteViewerAndPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 21400
	phoneAddr := fmt.Sprintf("127.0.0.1:%d", base+91)
	hubSIP := fmt.Sprintf("127.0.0.1:%d", base+1)
	mutate := func(cfg *config.Config) {
		cfg.SIP.Allow = []string{"127.0.0.1/32"}
	}
	phoneCall := func(c *cell) (*testutil.SessionPeer, *testutil.SIPCall) {
		u, _ := c.acd(phoneAddr, 0)
		ag := c.agent("agent1", toneAgent1, 1, false)
		return ag, c.dialIn(u, "sip:agent1@"+hubSIP, ag)
	}
	escalated := func(c *cell) (*testutil.SessionPeer, *testutil.SIPCall, *testutil.SessionPeer) {
		ag, ph := phoneCall(c)
		c.send(ag, map[string]any{"type": "escalate", "session": c.sid, "channel": "copy"})
		inv := c.wait(ag, isType("invited"))
		var invited struct{ URL string }
		_ = json.Unmarshal(inv.Raw, &invited)
		code, out := join(c.t, c.a, linkToken(c.t, invited.URL), nil)
		if code != 200 {
			c.t.Fatalf("join: %d %v", code, out)
		}
		cu := c.peer("token="+out["ws_token"].(string), toneCustomer, 9)
		if err := cu.Start(c.ctx, "", nil); err != nil {
			c.t.Fatal(err)
		}
		waitUntil(c.t, 10*time.Second, "video between the browser and the agent", func() bool {
			return ag.VideoFrom(9) > 10 && cu.VideoFrom(1) > 10
		})
		return ag, ph, cu
	}
	cells := map[string]cellFunc{
		"phone hangs up while active": func(c *cell) {
			ag, ph := phoneCall(c)
			if err := ph.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			c.expect(200, "Caller hung up")
			c.told = append(c.told, ag)
		},
		"agent hangs up while active": func(c *cell) {
			ag, ph := phoneCall(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			c.byes = append(c.byes, ph)
		},
		"agent drops while active": func(c *cell) {
			ag, ph := phoneCall(c)
			ag.Close()
			c.expect(200, "Agent hung up")
			c.byes = append(c.byes, ph)
		},
		"phone vanishes while active": func(c *cell) {
			ag, ph := phoneCall(c)
			ph.Silence()
			c.expect(408, "Media timeout")
			c.told = append(c.told, ag)
			c.byes = append(c.byes, ph)
		},
		"agent hangs up while held": func(c *cell) {
			ag, ph := phoneCall(c)
			c.send(ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
			waitUntil(c.t, 5*time.Second, "the hold", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return s["held"] == true
			})
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			c.byes = append(c.byes, ph)
		},
		"phone hangs up while escalated": func(c *cell) {
			ag, ph, cu := escalated(c)
			if err := ph.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			c.expect(200, "Caller hung up")
			c.told = append(c.told, ag, cu)
		},
		"agent hangs up while escalated": func(c *cell) {
			ag, ph, cu := escalated(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag, cu)
			c.byes = append(c.byes, ph)
		},
		"browser closes the video, then the phone hangs up": func(c *cell) {
			ag, ph, cu := escalated(c)
			c.hangup(cu)
			waitUntil(c.t, 5*time.Second, "the browser to leave the call", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return s["state"] == "active" && legsOf(s) == "agent-path,agent"
			})
			if err := ph.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			c.expect(200, "Caller hung up")
			c.told = append(c.told, ag)
		},
		"browser drops while escalated, then the agent hangs up": func(c *cell) {
			ag, ph, cu := escalated(c)
			cu.Close()
			// the phone call goes on, past the resume grace
			deadline := time.Now().Add(endsGrace + time.Second)
			waitUntil(c.t, 10*time.Second, "the grace to pass with the phone call still up", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return s["state"] == "active" && legsOf(s) == "agent-path,agent" && time.Now().After(deadline)
			})
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			c.byes = append(c.byes, ph)
		},
	}
	order := []string{"phone hangs up while active", "agent hangs up while active", "agent drops while active",
		"phone vanishes while active", "agent hangs up while held",
		"phone hangs up while escalated", "agent hangs up while escalated",
		"browser closes the video, then the phone hangs up", "browser drops while escalated, then the agent hangs up"}
	runCells(t, base, mutate, cells, order)
}

// TestEndsReverse: an agent calls a customer from the console (a link to
// copy); the customer joins with it.
func TestEndsReverse(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	invite := func(c *cell, accept bool) (*testutil.SessionPeer, string) {
		ag := c.agent("agent1", toneAgent1, 1, false)
		c.send(ag, map[string]any{"type": "invite", "to": "+34600123456", "channel": "copy", "name": "Ana"})
		inv := c.wait(ag, isType("invited"))
		var invited struct{ URL, Session string }
		_ = json.Unmarshal(inv.Raw, &invited)
		c.sid = invited.Session
		o := c.wait(ag, isType("offer"))
		if accept {
			if err := ag.Accept(c.ctx, o); err != nil {
				c.t.Fatal(err)
			}
			waitUntil(c.t, 5*time.Second, "the agent waiting for the customer", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return s["state"] == "waiting"
			})
		}
		return ag, invited.URL
	}
	active := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		ag, url := invite(c, true)
		code, out := join(c.t, c.a, linkToken(c.t, url), nil)
		if code != 200 {
			c.t.Fatalf("join: %d %v", code, out)
		}
		cu := c.peer("token="+out["ws_token"].(string), toneCustomer, 9)
		if err := cu.Start(c.ctx, "", nil); err != nil {
			c.t.Fatal(err)
		}
		waitUntil(c.t, 10*time.Second, "the customer and the agent hearing each other", func() bool {
			return ag.DominantHz(tones4) == toneCustomer && cu.DominantHz(tones4) == toneAgent1
		})
		return ag, cu
	}
	cells := map[string]cellFunc{
		"agent hangs up while waiting for the customer": func(c *cell) {
			ag, _ := invite(c, true)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
		},
		"agent drops while waiting for the customer": func(c *cell) {
			ag, _ := invite(c, true)
			ag.Close()
			c.expect(200, "Agent hung up")
		},
		"agent declines its own call while ringing": func(c *cell) {
			ag, _ := invite(c, false)
			o := c.wait(ag, isType("offer"))
			c.send(ag, map[string]any{"type": "decline", "leg": o.Leg})
			c.expect(480, "Agent unavailable")
		},
		"agent drops while ringing": func(c *cell) {
			ag, _ := invite(c, false)
			ag.Close()
			c.expect(480, "Agent unavailable")
		},
		"customer hangs up while active": func(c *cell) {
			ag, cu := active(c)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, ag, cu)
		},
		"customer drops while active": func(c *cell) {
			ag, cu := active(c)
			cu.Close()
			c.expect(200, "Customer left")
			c.told = append(c.told, ag)
		},
		"agent hangs up while active": func(c *cell) {
			ag, cu := active(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag, cu)
		},
		"agent hangs up while held": func(c *cell) {
			ag, cu := active(c)
			c.send(ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
			c.wait(cu, func(m testutil.Message) bool { return m.Type == "session" && jsonHas(m.Raw, "held", true) })
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag, cu)
		},
	}
	order := []string{"agent hangs up while waiting for the customer", "agent drops while waiting for the customer",
		"agent declines its own call while ringing", "agent drops while ringing",
		"customer hangs up while active", "customer drops while active", "agent hangs up while active", "agent hangs up while held"}
	runCells(t, 21500, nil, cells, order)
}
