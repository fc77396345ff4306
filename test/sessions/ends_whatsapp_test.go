package sessions

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// TestEndsWhatsApp: the ends matrix for WhatsApp mode, against the contract
// fake of Meta (notifytest). The WhatsApp call is the customer leg.
//
// User-initiated calls come in at the entry point "whatsapp", served by the
// built-in queue (a second route of that entry point, for calls from a
// "call us after hours" button, has hours that never match during the
// test). Business-initiated calls are POST /v1/sessions {"mode":"whatsapp",
// "agent_id":"agent1"}: agent1's console is rung first and the WhatsApp call
// placed once it answered.
//
// Besides what every cell of the matrix checks (runCells: cause in the
// store, nothing live, no leg, parties told, no RTP port and no goroutine
// left), each cell checks Meta's side: how the call ended there (CallEnd.By)
// and what the hub sent to end it — terminate, reject, or nothing when Meta
// (or the user) ended it first. Cells that reach active assert tones both
// ways (the Meta peer's WaitTone, the console's DominantHz).
func TestEndsWhatsApp(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	f := notifytest.StartWhatsApp(t)
	subscribed := false
	users := 0
	// newUser: a WhatsApp user of its own per cell (permissions and
	// Meta's per-user limits do not carry over between cells).
	newUser := func() string { users++; return fmt.Sprintf("+1650555%04d", 1000+users) }

	// start begins a cell: the hub is subscribed to the fake (once) and
	// Meta's side of the call is checked after runCells' own checks
	// (registered first, it runs last, when the cell's peers are closed).
	type metaWant struct {
		call     *notifytest.MetaCall
		by       string // CallEnd.By: user, business, meta
		hubEnds  string // what the hub sent to end the call: terminate, reject or "" (nothing)
		accepted bool   // the hub accepted the (user-initiated) call
	}
	start := func(c *cell) *metaWant {
		if !subscribed {
			subscribe(c.t, c.ctx, f, c.h)
			subscribed = true
		}
		w := &metaWant{}
		idle := testutil.IdleNow()
		c.close = append([]func(){func() {
			if c.t.Failed() || w.call == nil {
				return
			}
			end, err := w.call.WaitTerminated(c.ctx)
			if err != nil {
				c.t.Errorf("Meta's side: %v (the hub's actions %s)", err, actionList(w.call))
				return
			}
			if end.By != w.by {
				c.t.Errorf("Meta's side ended by %q (%+v), want %q", end.By, end, w.by)
			}
			if w.call.Direction == "USER_INITIATED" && w.call.HasAction("accept") != w.accepted {
				c.t.Errorf("the hub accepted: %v, want %v (actions %s)", w.call.HasAction("accept"), w.accepted, actionList(w.call))
			}
			if w.hubEnds != "" {
				if !w.call.HasAction(w.hubEnds) {
					c.t.Errorf("the hub did not %s the call at Meta (actions %s)", w.hubEnds, actionList(w.call))
				}
				return
			}
			// nothing to send: wait until the hub's own goroutines are done,
			// then nothing may have gone to Meta to end the call
			_ = testutil.WaitIdle(idle, 20*time.Second)
			for _, a := range w.call.Actions() {
				if a.Action == "terminate" || a.Action == "reject" {
					c.t.Errorf("the hub sent %s for a call Meta had ended (actions %s)", a.Action, actionList(w.call))
				}
			}
		}}, c.close...)
		return w
	}
	agent := func(c *cell, ready bool) *testutil.SessionPeer {
		c.t.Helper()
		p, err := testutil.DialSession(c.ctx, wsURL(c.h, "token="+agentToken(c.t, c.h, "agent1")), toneAgent1, 1, false)
		if err != nil {
			c.t.Fatal(err)
		}
		c.close = append(c.close, p.Close)
		if ready {
			c.send(p, map[string]any{"type": "login"})
			c.send(p, map[string]any{"type": "ready", "ready": true})
			c.wait(p, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" })
		}
		return p
	}
	sessionState := func(c *cell) string {
		_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
		st, _ := s["state"].(string)
		return st
	}
	// sessionOf finds the session of the WhatsApp user's call.
	sessionOf := func(c *cell, user string) {
		c.t.Helper()
		waitUntil(c.t, 10*time.Second, "the WhatsApp call's session", func() bool {
			_, l := c.a.do("GET", "/v1/sessions?mode=whatsapp&limit=50", nil)
			list, _ := l["sessions"].([]any)
			for _, x := range list {
				s, _ := x.(map[string]any)
				if cust, _ := s["customer"].(map[string]any); cust["contact"] == user {
					c.sid = s["id"].(string)
					return true
				}
			}
			return false
		})
	}

	// --- user-initiated ---

	calls := func(c *cell, w *metaWant, opts ...notifytest.UserCallOption) *notifytest.MetaCall {
		c.t.Helper()
		user := newUser()
		call, err := f.UserCalls(c.ctx, user, "Sheena Nelson", append([]notifytest.UserCallOption{notifytest.WithToneHz(toneWhatsApp)}, opts...)...)
		if err != nil {
			c.t.Fatal(err)
		}
		w.call = call
		return call
	}
	preAccepted := func(c *cell, call *notifytest.MetaCall) {
		c.t.Helper()
		waitUntil(c.t, 10*time.Second, "pre_accept", func() bool { return call.HasAction("pre_accept") })
	}
	// queued: nobody is logged in; the call waits in the built-in queue,
	// pre-accepted, not accepted.
	queued := func(c *cell, w *metaWant, opts ...notifytest.UserCallOption) *notifytest.MetaCall {
		call := calls(c, w, opts...)
		sessionOf(c, "+"+call.User)
		waitUntil(c.t, 10*time.Second, "the call queued", func() bool { return sessionState(c) == "waiting" })
		preAccepted(c, call)
		return call
	}
	// ringing: agent1 is ready; its console is offered the call.
	ringing := func(c *cell, w *metaWant) (*notifytest.MetaCall, *testutil.SessionPeer, testutil.Message) {
		ag := agent(c, true)
		call := calls(c, w)
		o := c.wait(ag, isType("offer"))
		c.sid = o.Session
		preAccepted(c, call)
		if call.HasAction("accept") {
			c.t.Fatal("the hub accepted the WhatsApp call before anybody answered")
		}
		return call, ag, o
	}
	// active: agent1 answers; the hub accepts; tones both ways.
	active := func(c *cell, w *metaWant) (*notifytest.MetaCall, *testutil.SessionPeer) {
		call, ag, o := ringing(c, w)
		if err := ag.Accept(c.ctx, o); err != nil {
			c.t.Fatal(err)
		}
		if err := call.WaitAccepted(c.ctx); err != nil {
			c.t.Fatal(err)
		}
		w.accepted = true
		if err := call.Peer().WaitTone(c.ctx, toneAgent1, 30); err != nil {
			c.t.Fatalf("the agent's voice at the WhatsApp user: %v (stats %+v)", err, call.Peer().Stats())
		}
		waitUntil(c.t, 10*time.Second, "the WhatsApp user's voice at the agent", func() bool { return ag.DominantHz(tonesWA) == toneWhatsApp })
		if st := call.Peer().Stats(); st.EarlyIn != 0 {
			c.t.Errorf("%d packets reached Meta before the accept", st.EarlyIn)
		}
		return call, ag
	}
	held := func(c *cell, w *metaWant) (*notifytest.MetaCall, *testutil.SessionPeer) {
		call, ag := active(c, w)
		c.send(ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
		waitUntil(c.t, 10*time.Second, "the call held", func() bool {
			_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
			return s["held"] == true
		})
		return call, ag
	}
	hangup := func(c *cell, call *notifytest.MetaCall) {
		c.t.Helper()
		if err := call.Hangup(); err != nil {
			c.t.Fatal(err)
		}
	}

	// --- business-initiated ---

	// bic creates the session of agent1 calling a WhatsApp user (permission
	// granted beforehand unless noPermission); it returns the API's answer.
	bic := func(c *cell, user string) map[string]any {
		c.t.Helper()
		code, out := c.a.do("POST", "/v1/sessions", map[string]any{"mode": "whatsapp", "agent_id": "agent1",
			"customer": map[string]any{"name": "Ana", "contact": user}})
		if code != 201 {
			c.t.Fatalf("POST /v1/sessions mode whatsapp: %d %v", code, out)
		}
		c.sid = out["id"].(string)
		return out
	}
	// dialing: agent1 answered its console; the hub placed the WhatsApp
	// call (Meta has it, the user's phone does not ring yet).
	dialing := func(c *cell, w *metaWant) (*notifytest.MetaCall, *testutil.SessionPeer) {
		ag := agent(c, false)
		user := newUser()
		f.GrantCallPermission(user, false)
		bic(c, user)
		o := c.wait(ag, isType("offer"))
		if o.Session != c.sid {
			c.t.Fatalf("agent1 was offered %s, want %s", o.Session, c.sid)
		}
		if err := ag.Accept(c.ctx, o); err != nil {
			c.t.Fatal(err)
		}
		call, err := f.WaitCall(c.ctx, user)
		if err != nil {
			c.t.Fatal(err)
		}
		w.call = call
		if call.BizOpaque() != c.sid {
			c.t.Errorf("biz_opaque_callback_data %q, want the session %s", call.BizOpaque(), c.sid)
		}
		// the hub knows the call's id (Connect's answer is in)
		waitUntil(c.t, 10*time.Second, "the hub's whatsapp.connecting", func() bool { return hasEvent(c, "whatsapp.connecting") })
		return call, ag
	}
	// bicRinging: the user's phone rings; Meta's answer (connect webhook)
	// is applied: ICE and DTLS are up, nobody speaks yet.
	bicRinging := func(c *cell, w *metaWant) (*notifytest.MetaCall, *testutil.SessionPeer) {
		call, ag := dialing(c, w)
		if err := call.Ring(); err != nil {
			c.t.Fatal(err)
		}
		waitUntil(c.t, 10*time.Second, "Meta's answer applied", func() bool { return hasEvent(c, "whatsapp.answered") })
		if err := call.Peer().WaitConnected(c.ctx); err != nil {
			c.t.Fatal(err)
		}
		// the phone rings, media is set up: nothing may reach the user
		// before they answer (what the agent says now would be lost). A
		// negative observation needs a window: half a second of ringing.
		if within(500*time.Millisecond, func() bool { return call.Peer().Stats().EarlyIn > 0 }) {
			c.t.Errorf("the hub sent media while the user's phone rang: %+v", call.Peer().Stats())
		}
		if st := sessionState(c); st != "ringing" {
			c.t.Errorf("the session is %q while the user's phone rings, want ringing", st)
		}
		return call, ag
	}
	tonesBIC := []float64{notifytest.DefaultMetaToneHz, toneCustomer, toneAgent1, toneAgent2}
	bicActive := func(c *cell, w *metaWant) (*notifytest.MetaCall, *testutil.SessionPeer) {
		call, ag := bicRinging(c, w)
		if err := call.Answer(); err != nil {
			c.t.Fatal(err)
		}
		waitUntil(c.t, 10*time.Second, "the session active", func() bool { return sessionState(c) == "active" })
		if err := call.Peer().WaitTone(c.ctx, toneAgent1, 30); err != nil {
			c.t.Fatalf("the agent's voice at the WhatsApp user: %v (stats %+v)", err, call.Peer().Stats())
		}
		waitUntil(c.t, 10*time.Second, "the WhatsApp user's voice at the agent", func() bool {
			return ag.DominantHz(tonesBIC) == notifytest.DefaultMetaToneHz
		})
		if st := call.Peer().Stats(); st.EarlyIn != 0 {
			// the agent's first words, sent while the phone rang, are lost
			c.t.Errorf("%d packets reached Meta before the user answered", st.EarlyIn)
		}
		return call, ag
	}

	cells := map[string]cellFunc{
		"user hangs up while queued": func(c *cell) {
			w := start(c)
			hangup(c, queued(c, w))
			c.expect(487, "Customer abandoned")
			w.by = "user"
		},
		"user hangs up while ringing": func(c *cell) {
			w := start(c)
			call, ag, _ := ringing(c, w)
			hangup(c, call)
			c.wait(ag, isType("cancel"))
			c.expect(487, "Customer abandoned")
			w.by = "user"
		},
		"agent declines while ringing, then the user hangs up": func(c *cell) {
			w := start(c)
			call, ag, o := ringing(c, w)
			c.send(ag, map[string]any{"type": "decline", "leg": o.Leg})
			// back in the queue (which may offer it to agent1 again at once)
			waitUntil(c.t, 10*time.Second, "the call back in the queue", func() bool {
				_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
				return (s["state"] == "waiting" || s["state"] == "ringing") && hasEvent(c, "agent.declined")
			})
			hangup(c, call)
			c.expect(487, "Customer abandoned")
			w.by = "user"
		},
		"agent drops while ringing, then the user hangs up": func(c *cell) {
			w := start(c)
			call, ag, _ := ringing(c, w)
			ag.Close()
			waitUntil(c.t, 10*time.Second, "the call back in the queue", func() bool { return sessionState(c) == "waiting" })
			if call.State() == notifytest.CallTerminated {
				c.t.Fatalf("the WhatsApp call ended with the agent's drop: %+v", call.End())
			}
			hangup(c, call)
			c.expect(487, "Customer abandoned")
			w.by = "user"
		},
		"user hangs up while active": func(c *cell) {
			w := start(c)
			call, ag := active(c, w)
			hangup(c, call)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, ag)
			w.by = "user"
		},
		"agent hangs up while active": func(c *cell) {
			w := start(c)
			_, ag := active(c, w)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			w.by, w.hubEnds = "business", "terminate"
		},
		"agent drops while active": func(c *cell) {
			w := start(c)
			_, ag := active(c, w)
			ag.Close()
			c.expect(200, "Agent hung up")
			w.by, w.hubEnds = "business", "terminate"
		},
		"user hangs up while held": func(c *cell) {
			w := start(c)
			call, ag := held(c, w)
			hangup(c, call)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, ag)
			w.by = "user"
		},
		"agent hangs up while held": func(c *cell) {
			w := start(c)
			_, ag := held(c, w)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			w.by, w.hubEnds = "business", "terminate"
		},
		// Meta drops an answered call whose media stopped (terminate FAILED
		// 138021). The fake's mid-call media timeout is set so short that it
		// fires as soon as media flows: the call drops right after the
		// accept, which is all this cell needs.
		"Meta drops the call for media while active": func(c *cell) {
			w := start(c)
			f.SetCallingLimits(notifytest.CallingLimits{MediaMidTimeout: time.Millisecond})
			call, ag, o := ringing(c, w)
			f.SetCallingLimits(notifytest.CallingLimits{})
			if err := ag.Accept(c.ctx, o); err != nil {
				c.t.Fatal(err)
			}
			w.accepted = true
			end, err := call.WaitTerminated(c.ctx)
			if err != nil {
				c.t.Fatal(err)
			}
			if end.Status != "FAILED" || end.ErrorCode != 138021 {
				c.t.Fatalf("Meta ended the call with %+v, want FAILED 138021", end)
			}
			c.expect(408, "Media timeout")
			c.told = append(c.told, ag)
			w.by = "meta"
		},
		// Meta's accept window (30-60 s) runs out while the call waits in
		// the queue (here 2 s, under the hub's accept_timeout of 25 s):
		// Meta sends terminate FAILED. The hub records it as the caller
		// giving up in the queue (it cannot tell: Meta documents that
		// unanswered calls may also end COMPLETED) and sends nothing back.
		"Meta's accept window runs out while queued": func(c *cell) {
			w := start(c)
			f.SetCallingLimits(notifytest.CallingLimits{AcceptWindow: 2 * time.Second})
			call := queued(c, w)
			f.SetCallingLimits(notifytest.CallingLimits{})
			end, err := call.WaitTerminated(c.ctx)
			if err != nil {
				c.t.Fatal(err)
			}
			if end.Status != "FAILED" || end.By != "meta" {
				c.t.Fatalf("Meta ended the call with %+v, want FAILED by meta", end)
			}
			c.expect(487, "Customer abandoned")
			w.by = "meta"
		},
		"outside hours: the hub rejects": func(c *cell) {
			w := start(c)
			call := calls(c, w, notifytest.WithCTAPayload("after-hours"))
			sessionOf(c, "+"+call.User)
			c.expect(480, "No route (outside hours)")
			w.by, w.hubEnds = "business", "reject"
			c.close = append(c.close, func() {
				if call.HasAction("pre_accept") {
					c.t.Error("the hub pre-accepted a call it rejects")
				}
			})
		},
		"terminate delivered before connect: no session": func(c *cell) {
			w := start(c)
			late := waMetric(c, "late_connect")
			calls(c, w, notifytest.WithHangupAtOnce(true))
			waitUntil(c.t, 10*time.Second, "the late connect dropped", func() bool { return waMetric(c, "late_connect") == late+1 })
			c.none = true
			w.by = "user"
			if n := len(w.call.Actions()); n != 0 {
				c.t.Errorf("the hub acted on a call whose terminate came first: %s", actionList(w.call))
			}
		},
		"stale connect: ignored, no session": func(c *cell) {
			w := start(c)
			stale := waMetric(c, "stale")
			call := calls(c, w, notifytest.WithStaleConnect(10*time.Minute))
			waitUntil(c.t, 10*time.Second, "the stale connect dropped", func() bool { return waMetric(c, "stale") == stale+1 })
			if n := len(call.Actions()); n != 0 {
				c.t.Errorf("the hub acted on a stale connect: %s", actionList(call))
			}
			// the user gives up (else Meta's accept window would end it)
			hangup(c, call)
			c.none = true
			w.by = "user"
		},

		// --- business-initiated ---
		"user declines the business call": func(c *cell) {
			w := start(c)
			call, ag := bicRinging(c, w)
			if err := call.Reject(); err != nil {
				c.t.Fatal(err)
			}
			c.expect(603, "Customer declined")
			c.told = append(c.told, ag)
			w.by = "user"
		},
		// The fake has no ring timeout of its own for business-initiated
		// calls: Meta ending a ringing call without REJECTED is the user's
		// phone ringing out.
		"user does not answer the business call": func(c *cell) {
			w := start(c)
			call, ag := bicRinging(c, w)
			hangup(c, call)
			c.expect(480, "No answer")
			c.told = append(c.told, ag)
			w.by = "user"
		},
		"agent hangs up while the business call is placed": func(c *cell) {
			w := start(c)
			_, ag := dialing(c, w)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			w.by, w.hubEnds = "business", "terminate"
		},
		"agent hangs up while the business call rings": func(c *cell) {
			w := start(c)
			_, ag := bicRinging(c, w)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			w.by, w.hubEnds = "business", "terminate"
		},
		"user hangs up the business call while active": func(c *cell) {
			w := start(c)
			call, ag := bicActive(c, w)
			hangup(c, call)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, ag)
			w.by = "user"
		},
		"agent hangs up the business call while active": func(c *cell) {
			w := start(c)
			_, ag := bicActive(c, w)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag)
			w.by, w.hubEnds = "business", "terminate"
		},
		"no permission: request sent, the user declines it": func(c *cell) {
			start(c)
			ag := agent(c, false)
			user := newUser()
			out := bic(c, user)
			if wa, _ := out["whatsapp"].(map[string]any); wa["permission"] != "requested" {
				c.t.Errorf("the API's answer: %v, want whatsapp.permission requested", out)
			}
			digits := strings.TrimPrefix(user, "+")
			waitUntil(c.t, 10*time.Second, "the permission request and the call button", func() bool {
				req, button := false, false
				for _, m := range f.Messages() {
					if m.WaID == digits && m.Status == "accepted" {
						req = req || m.InteractiveType == "call_permission_request"
						button = button || m.InteractiveType == "voice_call"
					}
				}
				return req && button
			})
			if st := sessionState(c); st != "waiting" {
				c.t.Errorf("the session waiting for the permission is %q", st)
			}
			if err := f.UserAnswersPermission(user, false, false); err != nil {
				c.t.Fatal(err)
			}
			c.expect(603, "Customer declined the call")
			c.close = append(c.close, func() {
				for _, m := range ag.Frames() {
					if m.Type == "offer" && m.Session == c.sid {
						c.t.Error("agent1 was rung for a call the user never allowed")
					}
				}
				for _, mc := range f.Calls() {
					if mc.User == digits {
						c.t.Errorf("a call was placed without permission: %s", actionList(mc))
					}
				}
			})
		},
		"permission granted: the call goes through, the user hangs up": func(c *cell) {
			w := start(c)
			ag := agent(c, false)
			user := newUser()
			bic(c, user)
			waitUntil(c.t, 10*time.Second, "the permission request", func() bool {
				for _, m := range f.Messages() {
					if m.WaID == strings.TrimPrefix(user, "+") && m.InteractiveType == "call_permission_request" {
						return true
					}
				}
				return false
			})
			if err := f.UserAnswersPermission(user, true, false); err != nil {
				c.t.Fatal(err)
			}
			o := c.wait(ag, isType("offer"))
			if err := ag.Accept(c.ctx, o); err != nil {
				c.t.Fatal(err)
			}
			call, err := f.WaitCall(c.ctx, user)
			if err != nil {
				c.t.Fatal(err)
			}
			w.call = call
			if err := call.Answer(); err != nil {
				c.t.Fatal(err)
			}
			if err := call.Peer().WaitTone(c.ctx, toneAgent1, 30); err != nil {
				c.t.Fatalf("the agent's voice at the WhatsApp user: %v", err)
			}
			waitUntil(c.t, 10*time.Second, "the WhatsApp user's voice at the agent", func() bool {
				return ag.DominantHz(tonesBIC) == notifytest.DefaultMetaToneHz
			})
			hangup(c, call)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, ag)
			w.by = "user"
		},
	}
	order := []string{
		"user hangs up while queued", "user hangs up while ringing",
		"agent declines while ringing, then the user hangs up", "agent drops while ringing, then the user hangs up",
		"user hangs up while active", "agent hangs up while active", "agent drops while active",
		"user hangs up while held", "agent hangs up while held",
		"Meta drops the call for media while active", "Meta's accept window runs out while queued",
		"outside hours: the hub rejects", "terminate delivered before connect: no session", "stale connect: ignored, no session",
		"user declines the business call", "user does not answer the business call",
		"agent hangs up while the business call is placed", "agent hangs up while the business call rings",
		"user hangs up the business call while active", "agent hangs up the business call while active",
		"no permission: request sent, the user declines it", "permission granted: the call goes through, the user hangs up",
	}
	runCells(t, 23500, func(cfg *config.Config) {
		waConfig(cfg, f, "")
		// the default route serves the public entry point only (it would
		// also take the WhatsApp calls the routes below turn away)
		for i := range cfg.Sessions.Routes {
			if cfg.Sessions.Routes[i].Entry == "" {
				cfg.Sessions.Routes[i].Entry = "default"
			}
		}
		// calls from the "after hours" button: a route whose hours never
		// match while the test runs; every other WhatsApp call: the queue
		from := time.Now().UTC().Add(2 * time.Hour)
		closed := from.Format("15:04") + "-" + from.Add(time.Hour).Format("15:04")
		cfg.Sessions.Routes = append([]config.Route{
			{Name: "whatsapp-after-hours", Entry: "whatsapp", Context: map[string]string{"cta_payload": "after-hours"}, Hours: closed, TimeZone: "UTC", Target: "queue:default"},
			{Name: "whatsapp", Entry: "whatsapp", Context: map[string]string{"cta_payload": ""}, Target: "queue:default"},
		}, cfg.Sessions.Routes[1:]...) // [0] was waConfig's route
	}, cells, order)
}

// hasEvent reports whether the cell's session recorded an event of type typ.
func hasEvent(c *cell, typ string) bool {
	_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
	evs, _ := ev["events"].([]any)
	for _, e := range evs {
		if m, _ := e.(map[string]any); m["type"] == typ {
			return true
		}
	}
	return false
}

// waMetric reads split_whatsapp_webhook_total{outcome=...} from /metrics.
func waMetric(c *cell, outcome string) float64 {
	c.t.Helper()
	return metric(c, `split_whatsapp_webhook_total{outcome="`+outcome+`"}`)
}

// metric reads one sample ("name{labels}") from /metrics.
func metric(c *cell, sample string) float64 {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.h.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	prefix := sample + " "
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	c.t.Fatalf("/metrics: no %s", strings.TrimSpace(prefix))
	return 0
}

// actionList is a call's Graph actions for messages: "pre_accept accept terminate(138019)".
func actionList(call *notifytest.MetaCall) string {
	var b strings.Builder
	for _, a := range call.Actions() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Action)
		if a.ErrorCode != 0 {
			fmt.Fprintf(&b, "(%d)", a.ErrorCode)
		}
	}
	return "[" + b.String() + "]"
}
