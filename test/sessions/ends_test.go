package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// Every way a call ends (issue 8, "an ends matrix per mode"; the table is in
// docs/sessions.md). Each cell puts a session of one mode in one state, has
// one party end the call or lose its connection, then checks that the
// session ended with the expected cause (the live list and the store), that
// every other party was told (an `ended` frame for a browser or console leg,
// a BYE for a SIP peer), and that no goroutine and no RTP port is left.
// Browsers and consoles are pion peers; SIP peers (the ACD, a phone) are
// testutil's SIP user agent. "drops" is a socket closed without a hangup
// (and its WebRTC connection with it); a SIP peer "vanishes" by going silent
// (no RTP, no BYE: rtp.timeout hangs it up).

const endsGrace = time.Second // sessions.resume_grace in the matrix

type cell struct {
	t   *testing.T
	ctx context.Context
	h   *testutil.Hub
	a   api
	sid string
	// what the end must look like
	code  int
	cause string
	told  []*testutil.SessionPeer // must get `ended` for their leg
	byes  []*testutil.SIPCall     // must get the hub's BYE
	gone  []*testutil.SIPCall     // must be over (BYE or CANCEL)
	none  bool                    // the cell creates no session (a lobby visit): nothing may be live
	close []func()
	logs  interface{ String() string } // the hub's info log, when the test keeps it
}

func (c *cell) peer(q string, hz float64, tag byte) *testutil.SessionPeer {
	c.t.Helper()
	p, err := testutil.DialSession(c.ctx, wsURL(c.h, q), hz, tag, true)
	if err != nil {
		c.t.Fatal(err)
	}
	c.close = append(c.close, p.Close)
	return p
}

func (c *cell) agent(id string, hz float64, tag byte, ready bool) *testutil.SessionPeer {
	c.t.Helper()
	p := c.peer("token="+agentToken(c.t, c.h, id), hz, tag)
	if ready {
		c.send(p, map[string]any{"type": "login"})
		c.send(p, map[string]any{"type": "ready", "ready": true})
		c.wait(p, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" })
	}
	return p
}

func (c *cell) customer() *testutil.SessionPeer {
	c.t.Helper()
	p := c.peer("entry=default", toneCustomer, 9)
	if err := p.Start(c.ctx, "Ana", nil); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cell) send(p *testutil.SessionPeer, v map[string]any) {
	c.t.Helper()
	if err := p.Send(c.ctx, v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cell) wait(p *testutil.SessionPeer, f func(testutil.Message) bool) testutil.Message {
	c.t.Helper()
	m, err := p.WaitFor(c.ctx, f)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *cell) state(p *testutil.SessionPeer, state string) testutil.Message {
	c.t.Helper()
	m := c.wait(p, func(m testutil.Message) bool { return m.Type == "session" && m.State == state })
	if c.sid == "" {
		c.sid = m.Session
	}
	return m
}

// accept answers p's next offer and waits until it hears the customer.
func (c *cell) accept(p *testutil.SessionPeer, hears float64) testutil.Message {
	c.t.Helper()
	o := c.wait(p, isType("offer"))
	if err := p.Accept(c.ctx, o); err != nil {
		c.t.Fatal(err)
	}
	if c.sid == "" {
		c.sid = o.Session
	}
	waitUntil(c.t, 10*time.Second, "the answered call's audio", func() bool { return p.DominantHz(tones4) == hears })
	return o
}

func (c *cell) hangup(p *testutil.SessionPeer) {
	c.send(p, map[string]any{"type": "hangup", "session": c.sid})
}

func (c *cell) expect(code int, cause string) { c.code, c.cause = code, cause }

var tones4 = []float64{toneCustomer, toneAgent1, toneAgent2, tonePhone}

// check is the common end of every cell.
func (c *cell) check() {
	t := c.t
	t.Helper()
	if c.none {
		waitUntil(t, 5*time.Second, "no live session", func() bool {
			code, list := c.a.do("GET", "/v1/sessions?active=true", nil)
			return code == 200 && len(list["sessions"].([]any)) == 0
		})
		return
	}
	if c.sid == "" {
		t.Fatal("the cell named no session")
	}
	waitUntil(t, 15*time.Second, "the session's end", func() bool {
		code, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
		return code == 200 && s["state"] == "ended" && s["ended_at"] != nil
	})
	waitUntil(t, 5*time.Second, "no live session", func() bool {
		code, list := c.a.do("GET", "/v1/sessions?active=true", nil)
		return code == 200 && len(list["sessions"].([]any)) == 0
	})
	_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
	if s["cause_code"] != float64(c.code) || s["cause"] != c.cause {
		t.Errorf("ended with %v %q, want %d %q", s["cause_code"], s["cause"], c.code, c.cause)
	}
	if legs, _ := s["legs"].([]any); len(legs) != 0 {
		t.Errorf("legs left in the ended session: %v", legs)
	}
	code, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
	if evs, _ := ev["events"].([]any); code != 200 || len(evs) == 0 || evs[len(evs)-1].(map[string]any)["type"] == "" {
		t.Errorf("events: %d %v", code, ev)
	}
	for _, p := range c.told {
		if _, err := p.WaitFor(c.ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == c.sid }); err != nil {
			t.Errorf("a party was not told the call ended: %v", err)
		}
	}
	for _, call := range append(c.byes, c.gone...) {
		select {
		case <-call.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("SIP peer %s: its call never ended", call.ID)
		}
	}
	for _, call := range c.byes {
		if !call.ByeReceived() {
			t.Errorf("SIP peer %s: no BYE from the hub", call.ID)
		}
	}
}

type cellFunc func(c *cell)

// runCells runs each cell as a subtest on one hub.
func runCells(t *testing.T, base int, mutate func(*config.Config), cells map[string]cellFunc, order []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := hubConfig(t, base, t.TempDir())
	cfg.Sessions.ResumeGrace = endsGrace
	cfg.RTP.Timeout = 1500 * time.Millisecond
	cfg.Sessions.Agents = append(cfg.Sessions.Agents, config.Agent{ID: "agent3", Name: "Carol", Queues: []string{"default"}})
	if mutate != nil {
		mutate(cfg)
	}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	// A first session starts what the hub keeps for good (connection
	// caches): the idle state is measured after it.
	func() {
		c := &cell{t: t, ctx: ctx, h: h, a: api{t, h.URL}}
		defer func() {
			for _, f := range c.close {
				f()
			}
		}()
		cu := c.customer()
		c.hangup(cu)
		c.wait(cu, isType("ended"))
		// an agent's login starts the ACD's event delivery, which then
		// stays for the hub's life (the first cell to log an agent in
		// would otherwise "leave" it behind)
		c.agent("agent3", toneAgent1, 3, true)
	}()
	if len(order) != len(cells) {
		t.Fatalf("order names %d cells, the table has %d", len(order), len(cells))
	}
	for _, name := range order {
		f := cells[name]
		if f == nil {
			t.Fatalf("no cell %q", name)
		}
		t.Run(name, func(t *testing.T) { runCell(ctx, t, h, f) })
	}
}

// runCell runs one cell against hub h: its parties closed afterwards, its
// end checked, and no goroutine left over.
func runCell(ctx context.Context, t *testing.T, h *testutil.Hub, f cellFunc) {
	idle := testutil.IdleNow()
	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	defer ccancel()
	c := &cell{t: t, ctx: cctx, h: h, a: api{t, h.URL}}
	func() {
		defer func() {
			for i := len(c.close) - 1; i >= 0; i-- {
				c.close[i]()
			}
		}()
		f(c)
		if !t.Failed() {
			c.check()
		}
	}()
	if t.Failed() {
		return
	}
	if left := testutil.WaitIdle(idle, 20*time.Second); left != "" {
		t.Fatal(left)
	}
}

// TestEndsBuiltInQueue: Forward to the built-in queue.
func TestEndsBuiltInQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	queued := func(c *cell) *testutil.SessionPeer {
		cu := c.customer()
		c.state(cu, "waiting")
		return cu
	}
	ringing := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		ag := c.agent("agent1", toneAgent1, 1, true)
		cu := c.customer()
		o := c.wait(ag, isType("offer"))
		c.sid = o.Session
		c.state(cu, "ringing")
		return cu, ag
	}
	active := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		ag := c.agent("agent1", toneAgent1, 1, true)
		cu := c.customer()
		c.accept(ag, toneCustomer)
		c.state(cu, "active")
		return cu, ag
	}
	held := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer) {
		cu, ag := active(c)
		c.send(ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
		c.wait(cu, func(m testutil.Message) bool {
			return m.Type == "session" && string(m.Raw) != "" && jsonHas(m.Raw, "held", true)
		})
		return cu, ag
	}
	// transferring: agent1 has the call and transfers it to agent2, whose console rings.
	transferring := func(c *cell) (cu, ag1, ag2 *testutil.SessionPeer) {
		cu, ag1 = active(c)
		ag2 = c.agent("agent2", toneAgent2, 2, true)
		c.send(ag1, map[string]any{"type": "transfer", "session": c.sid, "to": "agent:agent2"})
		c.wait(ag2, isType("offer"))
		return cu, ag1, ag2
	}
	cells := map[string]cellFunc{
		"customer hangs up while queued": func(c *cell) {
			cu := queued(c)
			c.hangup(cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
		},
		"customer drops while queued": func(c *cell) {
			queued(c).Close()
			c.expect(487, "Customer abandoned")
		},
		"customer hangs up while ringing": func(c *cell) {
			cu, ag := ringing(c)
			c.hangup(cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
			c.wait(ag, isType("cancel"))
		},
		"customer drops while ringing": func(c *cell) {
			cu, ag := ringing(c)
			cu.Close()
			c.expect(487, "Customer abandoned")
			c.wait(ag, isType("cancel"))
		},
		"agent drops while ringing": func(c *cell) {
			cu, ag := ringing(c)
			ag.Close()
			c.state(cu, "waiting") // back in the queue; the customer then gives up
			c.hangup(cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
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
		"agent hangs up while held": func(c *cell) {
			cu, ag := held(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, cu, ag)
		},
		"customer hangs up while transferring": func(c *cell) {
			cu, ag1, ag2 := transferring(c)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, cu, ag1)
			c.wait(ag2, isType("cancel"))
		},
		"agent hangs up while transferring, target declines": func(c *cell) {
			cu, ag1, ag2 := transferring(c)
			c.hangup(ag1)
			c.wait(ag1, isType("ended"))
			o := c.wait(ag2, isType("offer"))
			c.send(ag2, map[string]any{"type": "decline", "leg": o.Leg})
			// nobody serves the customer: back in the queue (which may offer
			// it to the next agent at once), not "active" alone
			waitUntil(c.t, 5*time.Second, "the session back in the queue", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return (s["state"] == "waiting" || s["state"] == "ringing") && s["transferring"] == nil
			})
			c.hangup(cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, cu)
		},
		"target drops while transferring, agent hangs up": func(c *cell) {
			cu, ag1, ag2 := transferring(c)
			ag2.Close()
			waitUntil(c.t, 5*time.Second, "the transfer to fail", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return s["transferring"] == nil
			})
			c.hangup(ag1)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, cu, ag1)
		},
	}
	order := []string{
		"customer hangs up while queued", "customer drops while queued",
		"customer hangs up while ringing", "customer drops while ringing", "agent drops while ringing",
		"customer hangs up while active", "customer drops while active", "agent hangs up while active", "agent drops while active",
		"customer hangs up while held", "agent hangs up while held",
		"customer hangs up while transferring", "agent hangs up while transferring, target declines", "target drops while transferring, agent hangs up",
	}
	runCells(t, 21200, nil, cells, order)
}

func jsonHas(raw []byte, key string, want any) bool {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	return fmt.Sprint(m[key]) == fmt.Sprint(want)
}

var _ = sip.NewHeader
