package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// The ends matrix against sipp (issue 8: "each party ends the call, or loses
// its connection, in each state"; docs/sessions.md "Every way a call ends").
// test/sessions runs the whole matrix with SIP peers the project wrote; here
// every SIP party is sipp, a peer the project did not write: the external
// ACD's queue leg (sipp/ends_acd_queue.xml answers, ends_acd_ring.xml never
// does), the ACD's leg to a hosted agent and a phone calling one
// (sipp/ends_uac.xml). Their scenarios fail unless what the hub owes them
// arrives — the BYE, the CANCEL, the final response — so a sipp exit code 0
// is that proof. A SIP party "vanishes" when its sipp is killed (no BYE, no
// RTP, no answer to anything). Browsers and consoles are pion peers.
//
// After every cell: the session is ended in the store with the expected
// cause, no session is live, it has no leg, every browser party was told,
// every surviving sipp exited 0, no RTP port pair is in use
// (split_rtp_port_pairs_in_use) and the process is back to its goroutines.
// The cells of a mode share one hub and run in order.

const (
	endsRTPTimeout = 2 * time.Second // rtp.timeout of the matrix's hub
	callerPort     = "15094"         // the ACD's agent leg or the phone (sipp UAC)
	callerMedia    = "16100"
	// deadPeerIdle is how long a transaction toward a vanished peer may keep
	// its goroutines: a CANCEL or a 200 OK is retransmitted until Timer F /
	// Timer H (64 × T1 = 32 s, RFC 3261 §17) before the transaction gives up.
	deadPeerIdle = 45 * time.Second
)

type endsCell struct {
	t   *testing.T
	h   *hub
	ctx context.Context
	sid string
	// what the end must look like
	code   int
	cause  string
	told   []*testutil.SessionPeer // must get `ended` for their leg
	sipps  []*sipp                 // must exit 0 (their scenario saw what it waits for)
	finals map[*sipp]string        // a caller's INVITE: the final response the hub must have sent
	idle   time.Duration           // how long goroutines may take to go (a dead peer's transaction)
	within time.Duration           // how long the end may take (0: 15 s)
	close  []func()
}

// queue starts the ACD's queue (a sipp UAS on the trunk's address).
func (c *endsCell) queue(scenario string) *sipp {
	c.t.Helper()
	s := startSipp(c.t, "-sf", "sipp/"+scenario, "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000",
		"-m", "1", "-rtp_echo", "-trace_logs")
	c.sipps = append(c.sipps, s)
	return s
}

// caller starts a sipp UAC calling agent1 on the hub with header ref
// ("User-to-User: …" for the ACD's agent leg, anything else for a phone).
func (c *endsCell) caller(ref string) *sipp {
	c.t.Helper()
	s := startSipp(c.t, hubSIP, "-sf", "sipp/ends_uac.xml", "-s", "agent1", "-key", "ref", ref, "-i", "127.0.0.1", "-p", callerPort,
		"-mi", "127.0.0.1", "-mp", callerMedia, "-m", "1", "-rtp_echo", "-trace_logs")
	c.sipps = append(c.sipps, s)
	return s
}

// kill makes a SIP party vanish: no BYE, no RTP, no answer to anything.
func (c *endsCell) kill(s *sipp) {
	c.t.Helper()
	_ = s.cmd.Process.Kill()
	<-s.done
	for i, x := range c.sipps {
		if x == s {
			c.sipps = append(c.sipps[:i], c.sipps[i+1:]...)
		}
	}
	delete(c.finals, s)
}

// refused: the hub must have answered s's INVITE with code.
func (c *endsCell) refused(s *sipp, code int) {
	if c.finals == nil {
		c.finals = map[*sipp]string{}
	}
	c.finals[s] = fmt.Sprint(code)
}

func (c *endsCell) peer(q string, hz float64, tag byte) *testutil.SessionPeer {
	c.t.Helper()
	p, err := testutil.DialSession(c.ctx, sessionWS(q), hz, tag, true)
	if err != nil {
		c.t.Fatal(err)
	}
	c.close = append(c.close, p.Close)
	return p
}

func (c *endsCell) customer() *testutil.SessionPeer {
	c.t.Helper()
	p := c.peer("entry=default", toneCustomer, 9)
	if err := p.Start(c.ctx, "Ana", nil); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *endsCell) send(p *testutil.SessionPeer, v map[string]any) {
	c.t.Helper()
	if err := p.Send(c.ctx, v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *endsCell) wait(p *testutil.SessionPeer, f func(testutil.Message) bool) testutil.Message {
	c.t.Helper()
	m, err := p.WaitFor(c.ctx, f)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *endsCell) state(p *testutil.SessionPeer, state string) {
	c.t.Helper()
	m := c.wait(p, func(m testutil.Message) bool { return m.Type == "session" && m.State == state })
	if c.sid == "" {
		c.sid = m.Session
	}
}

func (c *endsCell) hangup(p *testutil.SessionPeer) {
	c.t.Helper()
	c.send(p, map[string]any{"type": "hangup", "session": c.sid})
}

func (c *endsCell) expect(code int, cause string) { c.code, c.cause = code, cause }

// session polls the session until f holds.
func (c *endsCell) session(what string, f func(s map[string]any) bool) {
	c.t.Helper()
	eventually(c.t, 10*time.Second, what, func() bool { return f(getSession(c.t, c.sid)) })
}

// check is the common end of every cell.
func (c *endsCell) check() {
	t := c.t
	t.Helper()
	if c.sid == "" {
		t.Fatal("the cell named no session")
	}
	within := c.within
	if within == 0 {
		within = 15 * time.Second
	}
	eventually(t, within, "the session's end", func() bool {
		s := getSession(t, c.sid)
		return s["state"] == "ended" && s["ended_at"] != nil
	})
	eventually(t, 5*time.Second, "no live session", func() bool {
		_, list := apiDo(t, "GET", "/v1/sessions?active=true", nil)
		l, _ := list["sessions"].([]any)
		return list["sessions"] != nil && len(l) == 0
	})
	s := getSession(t, c.sid)
	if s["cause_code"] != float64(c.code) || s["cause"] != c.cause {
		t.Errorf("ended with %v %q, want %d %q", s["cause_code"], s["cause"], c.code, c.cause)
	}
	if legs, _ := s["legs"].([]any); len(legs) != 0 {
		t.Errorf("legs left in the ended session: %v", legs)
	}
	for _, p := range c.told {
		if _, err := p.WaitFor(c.ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == c.sid }); err != nil {
			t.Errorf("a party was not told the call ended: %v", err)
		}
	}
	for _, sp := range c.sipps {
		if code := sp.wait(t, 15*time.Second); code != 0 {
			t.Errorf("sipp %s: exit %d (its scenario did not get what it waits for)", sp.scenario(), code)
		}
	}
	for sp, want := range c.finals {
		if got := sp.logged(t, "FINAL"); got != want {
			t.Errorf("the hub answered the caller's INVITE with %s, want %s", got, want)
		}
	}
	eventually(t, 10*time.Second, "no RTP port pair in use (split_rtp_port_pairs_in_use 0)", func() bool {
		return metricValue(t, "split_rtp_port_pairs_in_use") == 0
	})
	eventually(t, 10*time.Second, "no browser leg left on the fast path (split_media_fast_path_legs 0)", func() bool {
		return metricValue(t, "split_media_fast_path_legs") == 0
	})
}

// scenario is the scenario file sipp runs.
func (s *sipp) scenario() string {
	for i, a := range s.cmd.Args {
		if a == "-sf" && i+1 < len(s.cmd.Args) {
			return filepath.Base(s.cmd.Args[i+1])
		}
	}
	return "?"
}

// logged waits until sipp's -trace_logs file has a line KEY or KEY=value
// and returns the value.
func (s *sipp) logged(t *testing.T, key string) string {
	t.Helper()
	name := strings.TrimSuffix(s.scenario(), ".xml") + fmt.Sprintf("_%d_logs.log", s.cmd.Process.Pid)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `(?:=\s*(\S*))?\s*$`)
	var val string
	eventually(t, 15*time.Second, "sipp's log of "+key, func() bool {
		b, _ := os.ReadFile(filepath.Join(s.cmd.Dir, name))
		if m := re.FindSubmatch(b); m != nil {
			val = string(m[1])
			return true
		}
		return false
	})
	return val
}

// press presses a sipp party's button: an INFO with its call's Call-ID,
// sent by the test (the operator's hand, not the hub), on which its scenario
// (ends_*.xml) logs BUTTON and hangs up, cancels or refuses the call.
func (s *sipp) press(t *testing.T, port string) {
	t.Helper()
	callID := s.logged(t, "CALLID")
	conn, err := net.Dial("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "INFO sip:button@127.0.0.1:" + port + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-button\r\n" +
		"From: <sip:test@127.0.0.1>;tag=button\r\nTo: <sip:button@127.0.0.1>\r\nCall-ID: " + callID + "\r\n" +
		"CSeq: 1 INFO\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	s.logged(t, "BUTTON")
}

// runEnds runs each cell as a subtest on one hub.
// warm is a first call through the hub: it starts what the hub keeps for
// good (connection caches, pools); the idle state is measured after it.
func runEnds(t *testing.T, mutate func(*config.Config), warm func(c *endsCell), cells map[string]func(c *endsCell), order []string) {
	needPeers(t, "sipp")
	if len(order) != len(cells) {
		t.Fatalf("order names %d cells, the table has %d", len(order), len(cells))
	}
	h := startHub(t, func(cfg *config.Config) {
		mutate(cfg)
		cfg.RTP.Timeout = endsRTPTimeout
		cfg.Sessions.ResumeGrace = time.Second
		cfg.Log.Level = "info"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	func() {
		c := &endsCell{t: t, h: h, ctx: ctx}
		defer func() {
			for _, f := range c.close {
				f()
			}
		}()
		warm(c)
		c.check()
	}()
	if t.Failed() {
		return
	}
	for _, name := range order {
		f := cells[name]
		if f == nil {
			t.Fatalf("no cell %q", name)
		}
		t.Run(name, func(t *testing.T) {
			idle := testutil.IdleNow()
			cctx, ccancel := context.WithTimeout(ctx, 90*time.Second)
			defer ccancel()
			c := &endsCell{t: t, h: h, ctx: cctx, idle: 20 * time.Second}
			func() {
				defer func() {
					if t.Failed() {
						// end what the cell left while its peers are still
						// there to answer, so that nothing of it reaches the
						// next cell's peers on the same ports
						for _, id := range liveSessions(t) {
							apiDo(t, "DELETE", "/v1/sessions/"+id, nil)
						}
						eventually(t, 10*time.Second, "the failed cell's sessions to end", func() bool { return len(liveSessions(t)) == 0 })
					}
					for i := len(c.close) - 1; i >= 0; i-- {
						c.close[i]()
					}
					for _, s := range c.sipps {
						if !s.exited() {
							_ = s.cmd.Process.Kill()
							<-s.done
						}
					}
				}()
				f(c)
				if !t.Failed() {
					c.check()
				}
			}()
			// also after a failure: what the cell left (a BYE toward a killed
			// peer, retransmitted) must not reach the next cell's peers
			if left := testutil.WaitIdle(idle, c.idle); left != "" && !t.Failed() {
				t.Fatal(left)
			}
		})
	}
}

func liveSessions(t *testing.T) []string {
	_, list := apiDo(t, "GET", "/v1/sessions?active=true", nil)
	var out []string
	l, _ := list["sessions"].([]any)
	for _, s := range l {
		out = append(out, fmt.Sprint(s.(map[string]any)["id"]))
	}
	return out
}

// TestEndsSippExternalACD: Forward into an external ACD (sipp), which
// delivers the session to agent1's console with an INVITE carrying the
// User-to-User it received (sipp again).
func TestEndsSippExternalACD(t *testing.T) {
	type parties struct {
		cu, ag *testutil.SessionPeer
		q, leg *sipp
	}
	// queued: the ACD rings and does not answer (the customer waits in its queue)
	queued := func(c *endsCell) parties {
		q := c.queue("ends_acd_ring.xml")
		cu := c.customer()
		c.state(cu, "waiting")
		q.logged(c.t, "CALLID")
		return parties{cu: cu, q: q}
	}
	// ringing: the ACD answered and delivers the session to agent1, whose console rings
	ringing := func(c *endsCell) parties {
		q := c.queue("ends_acd_queue.xml")
		ag := c.peer("token="+c.h.agentToken("agent1"), toneAgent, 1)
		cu := c.customer()
		c.state(cu, "active")
		eventually(c.t, 10*time.Second, "the ACD's audio (the customer's, echoed) at the customer", func() bool {
			return cu.DominantHz(acdTones) == toneCustomer
		})
		leg := c.caller("User-to-User: " + q.logged(c.t, "UUI"))
		o := c.wait(ag, frameIs("offer"))
		if o.Session != c.sid {
			c.t.Fatalf("the console was offered %s, want %s", o.Session, c.sid)
		}
		return parties{cu, ag, q, leg}
	}
	// active: the agent answered
	active := func(c *endsCell) parties {
		p := ringing(c)
		o := c.wait(p.ag, frameIs("offer"))
		if err := p.ag.Accept(c.ctx, o); err != nil {
			c.t.Fatal(err)
		}
		p.leg.logged(c.t, "ANSWERED")
		eventually(c.t, 10*time.Second, "the agent's audio through the ACD's agent leg and video both ways", func() bool {
			return p.ag.DominantHz(acdTones) == toneAgent && p.cu.VideoFrom(1) > 10 && p.ag.VideoFrom(9) > 10
		})
		return p
	}
	// held: the agent holds (re-INVITE sendonly on the ACD's agent leg)
	held := func(c *endsCell) parties {
		p := active(c)
		c.send(p.ag, map[string]any{"type": "hold", "session": c.sid, "hold": true})
		p.leg.logged(c.t, "HOLD")
		c.session("the session held", func(s map[string]any) bool { return s["held"] == true })
		return p
	}
	// backWithACD: the agent's part is over; the customer is still with the
	// ACD (its audio flows: the ACD echoes it), not held, no agent named.
	// Then the customer hangs up.
	backWithACD := func(c *endsCell, p parties) {
		c.session("the session back with the ACD alone", func(s map[string]any) bool {
			return s["state"] == "active" && legRoles(s) == "customer,acd"
		})
		if s := getSession(c.t, c.sid); s["agent"] != nil || s["held"] != false {
			c.t.Errorf("back with the ACD, the session still names agent %v, held %v", s["agent"], s["held"])
		}
		before := p.cu.AudioPackets()
		eventually(c.t, 5*time.Second, "the customer's audio with the ACD to go on", func() bool {
			return p.cu.AudioPackets() > before+25 && p.cu.DominantHz(acdTones) == toneCustomer
		})
		c.hangup(p.cu)
		c.expect(200, "Customer hung up")
		c.told = append(c.told, p.cu)
	}
	// the six parties' ends, in any state where the agent's part may be going on
	customerHangsUp := func(c *endsCell, p parties) {
		c.hangup(p.cu)
		c.expect(200, "Customer hung up")
		c.told = append(c.told, p.cu)
		if p.ag != nil {
			c.told = append(c.told, p.ag)
		}
	}
	acdHangsUp := func(c *endsCell, p parties) {
		p.q.press(c.t, "15090")
		c.expect(200, "ACD hung up")
		c.told = append(c.told, p.cu, p.ag)
	}
	acdVanishes := func(c *endsCell, p parties) {
		c.kill(p.q)
		c.expect(408, "Media timeout")
		c.told = append(c.told, p.cu, p.ag)
	}
	consoleHangsUp := func(c *endsCell, p parties) {
		c.hangup(p.ag)
		c.wait(p.ag, frameIs("ended"))
		if code := p.leg.wait(c.t, 10*time.Second); code != 0 {
			c.t.Fatalf("the ACD's agent leg got no BYE (sipp exit %d)", code)
		}
		backWithACD(c, p)
	}
	consoleDrops := func(c *endsCell, p parties) {
		p.ag.Close()
		if code := p.leg.wait(c.t, 10*time.Second); code != 0 {
			c.t.Fatalf("the ACD's agent leg got no BYE (sipp exit %d)", code)
		}
		backWithACD(c, p)
	}
	legHangsUp := func(c *endsCell, p parties) {
		p.leg.press(c.t, callerPort)
		c.wait(p.ag, frameIs("ended"))
		backWithACD(c, p)
	}
	cells := map[string]func(c *endsCell){
		"customer hangs up while queued": func(c *endsCell) {
			p := queued(c)
			c.hangup(p.cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, p.cu) // and the ACD got CANCEL (ends_acd_ring.xml)
		},
		"ACD hangs up while queued": func(c *endsCell) {
			p := queued(c)
			p.q.press(c.t, "15090") // the ACD refuses the call: 480
			c.expect(480, "Temporarily Unavailable")
			c.told = append(c.told, p.cu)
		},
		"ACD vanishes while queued, customer hangs up": func(c *endsCell) {
			// Nothing tells the hub: a queue may ring for long without
			// media (sip.ring_timeout bounds it). The customer gives up;
			// the CANCEL goes unanswered until Timer F.
			p := queued(c)
			c.kill(p.q)
			c.hangup(p.cu)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, p.cu)
			c.idle = deadPeerIdle
		},

		"customer hangs up while the agent rings": func(c *endsCell) {
			p := ringing(c)
			c.hangup(p.cu)
			c.wait(p.ag, frameIs("cancel"))
			c.expect(200, "Customer hung up")
			c.told = append(c.told, p.cu)
			c.refused(p.leg, 480)
		},
		"ACD hangs up while the agent rings": func(c *endsCell) {
			p := ringing(c)
			p.q.press(c.t, "15090")
			c.wait(p.ag, frameIs("cancel"))
			c.expect(200, "ACD hung up")
			c.told = append(c.told, p.cu)
			c.refused(p.leg, 480)
		},
		"ACD vanishes while the agent rings": func(c *endsCell) {
			p := ringing(c)
			c.kill(p.q)
			c.wait(p.ag, frameIs("cancel"))
			c.expect(408, "Media timeout")
			c.told = append(c.told, p.cu)
			c.refused(p.leg, 408)
		},
		"console declines while it rings": func(c *endsCell) {
			p := ringing(c)
			o := c.wait(p.ag, frameIs("offer"))
			c.send(p.ag, map[string]any{"type": "decline", "leg": o.Leg})
			if code := p.leg.wait(c.t, 10*time.Second); code != 0 {
				c.t.Fatalf("the ACD's agent leg: sipp exit %d", code)
			}
			c.refused(p.leg, 603)
			backWithACD(c, p)
		},
		"console drops while it rings": func(c *endsCell) {
			p := ringing(c)
			p.ag.Close()
			if code := p.leg.wait(c.t, 10*time.Second); code != 0 {
				c.t.Fatalf("the ACD's agent leg: sipp exit %d", code)
			}
			c.refused(p.leg, 603)
			backWithACD(c, p)
		},
		"agent leg cancelled while it rings": func(c *endsCell) {
			p := ringing(c)
			p.leg.press(c.t, callerPort) // the ACD takes the call back: CANCEL
			c.wait(p.ag, frameIs("cancel"))
			backWithACD(c, p)
		},

		"customer hangs up while active": func(c *endsCell) { customerHangsUp(c, active(c)) },
		"ACD hangs up while active":      func(c *endsCell) { acdHangsUp(c, active(c)) },
		"ACD vanishes while active":      func(c *endsCell) { acdVanishes(c, active(c)) },
		"console hangs up while active":  func(c *endsCell) { consoleHangsUp(c, active(c)) },
		"console drops while active":     func(c *endsCell) { consoleDrops(c, active(c)) },
		"agent leg hangs up while active": func(c *endsCell) {
			legHangsUp(c, active(c))
		},

		"customer hangs up while held":  func(c *endsCell) { customerHangsUp(c, held(c)) },
		"ACD hangs up while held":       func(c *endsCell) { acdHangsUp(c, held(c)) },
		"ACD vanishes while held":       func(c *endsCell) { acdVanishes(c, held(c)) },
		"console hangs up while held":   func(c *endsCell) { consoleHangsUp(c, held(c)) },
		"console drops while held":      func(c *endsCell) { consoleDrops(c, held(c)) },
		"agent leg hangs up while held": func(c *endsCell) { legHangsUp(c, held(c)) },
	}
	order := []string{
		"customer hangs up while queued", "ACD hangs up while queued",
		"customer hangs up while the agent rings", "ACD hangs up while the agent rings", "ACD vanishes while the agent rings",
		"console declines while it rings", "console drops while it rings", "agent leg cancelled while it rings",
		"customer hangs up while active", "ACD hangs up while active", "ACD vanishes while active",
		"console hangs up while active", "console drops while active", "agent leg hangs up while active",
		"customer hangs up while held", "ACD hangs up while held", "ACD vanishes while held",
		"console hangs up while held", "console drops while held", "agent leg hangs up while held",
		"ACD vanishes while queued, customer hangs up",
	}
	warm := func(c *endsCell) { customerHangsUp(c, active(c)) }
	runEnds(t, forwardTo(pbxAddr, "sip:support@"+pbxAddr, "agent1"), warm, cells, order)
}

// TestEndsSippPhone: a phone (sipp) calls agent1's hosted endpoint with no
// session reference: a session of its own, whose SIP leg is the caller; the
// agent may escalate it to video (Remote Viewer: the customer's browser
// joins, the phone keeps the audio).
func TestEndsSippPhone(t *testing.T) {
	ringing := func(c *endsCell) (*testutil.SessionPeer, *sipp) {
		ag := c.peer("token="+c.h.agentToken("agent1"), toneAgent, 1)
		ph := c.caller("Subject: a phone call")
		o := c.wait(ag, frameIs("offer"))
		c.sid = o.Session
		return ag, ph
	}
	active := func(c *endsCell) (*testutil.SessionPeer, *sipp) {
		ag, ph := ringing(c)
		o := c.wait(ag, frameIs("offer"))
		if err := ag.Accept(c.ctx, o); err != nil {
			c.t.Fatal(err)
		}
		ph.logged(c.t, "ANSWERED")
		eventually(c.t, 10*time.Second, "the agent's audio through the phone (echoed)", func() bool {
			return ag.DominantHz(acdTones) == toneAgent
		})
		return ag, ph
	}
	escalated := func(c *endsCell) (*testutil.SessionPeer, *sipp, *testutil.SessionPeer) {
		ag, ph := active(c)
		c.send(ag, map[string]any{"type": "escalate", "session": c.sid, "channel": "copy"})
		inv := c.wait(ag, frameIs("invited"))
		cu := c.peer(strings.TrimPrefix(redeem(c.t, frameField(inv, "url")), "ws://"+hubHTTP+"/v1/sessions/ws?"), toneCustomer, 9)
		if err := cu.Start(c.ctx, "", nil); err != nil {
			c.t.Fatal(err)
		}
		eventually(c.t, 10*time.Second, "video between the browser and the agent, the phone's audio going on", func() bool {
			return ag.VideoFrom(9) > 10 && cu.VideoFrom(1) > 10 && ag.DominantHz(acdTones) == toneAgent
		})
		return ag, ph, cu
	}
	cells := map[string]func(c *endsCell){
		"phone hangs up while ringing": func(c *endsCell) {
			ag, ph := ringing(c)
			ph.press(c.t, callerPort) // CANCEL
			c.wait(ag, frameIs("cancel"))
			c.expect(487, "Caller abandoned")
		},
		"agent declines while ringing": func(c *endsCell) {
			ag, ph := ringing(c)
			o := c.wait(ag, frameIs("offer"))
			c.send(ag, map[string]any{"type": "decline", "leg": o.Leg})
			c.refused(ph, 603)
			c.expect(603, "Decline")
		},
		"phone vanishes while ringing, agent answers": func(c *endsCell) {
			ag, ph := ringing(c)
			c.kill(ph)
			o := c.wait(ag, frameIs("offer"))
			if err := ag.Accept(c.ctx, o); err != nil {
				c.t.Fatal(err)
			}
			// no ACK ever comes: after 64 × T1 the hub gives the call up
			c.expect(408, "No ACK")
			c.told = append(c.told, ag)
			c.within, c.idle = deadPeerIdle, deadPeerIdle
		},
		"phone hangs up while active": func(c *endsCell) {
			ag, ph := active(c)
			ph.press(c.t, callerPort) // BYE
			c.expect(200, "Caller hung up")
			c.told = append(c.told, ag)
		},
		"phone vanishes while active": func(c *endsCell) {
			ag, ph := active(c)
			c.kill(ph)
			c.expect(408, "Media timeout")
			c.told = append(c.told, ag)
		},
		"agent hangs up while active": func(c *endsCell) {
			ag, _ := active(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag) // and the phone got BYE (ends_uac.xml)
		},
		"phone hangs up while escalated": func(c *endsCell) {
			ag, ph, cu := escalated(c)
			ph.press(c.t, callerPort)
			c.expect(200, "Caller hung up")
			c.told = append(c.told, ag, cu)
		},
		"phone vanishes while escalated": func(c *endsCell) {
			ag, ph, cu := escalated(c)
			c.kill(ph)
			c.expect(408, "Media timeout")
			c.told = append(c.told, ag, cu)
		},
		"agent hangs up while escalated": func(c *endsCell) {
			ag, _, cu := escalated(c)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
			c.told = append(c.told, ag, cu)
		},
	}
	order := []string{
		"phone hangs up while ringing", "agent declines while ringing",
		"phone hangs up while active", "phone vanishes while active", "agent hangs up while active",
		"phone hangs up while escalated", "phone vanishes while escalated", "agent hangs up while escalated",
		"phone vanishes while ringing, agent answers",
	}
	warm := func(c *endsCell) {
		ag, _ := active(c)
		c.hangup(ag)
		c.expect(200, "Agent hung up")
	}
	runEnds(t, forwardTo(pbxAddr, "queue:default", "agent1"), warm, cells, order)
}
