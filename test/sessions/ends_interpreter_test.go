package sessions

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// TestEndsInterpreter: every party of a Deaf Interpreter session — the
// deaf user D (a browser), the lead interpreter L (a console), the phone P
// (a SIP UA behind the trunk) — ends or loses its connection in each
// state (docs/interpreter.md §8). P's end never ends the session
// (after_phone: stay); D's or L's does, and P then gets its BYE (or its
// CANCEL while it rings).
func TestEndsInterpreter(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23200
	phoneAddr := fmt.Sprintf("127.0.0.1:%d", base+90)
	mutate := func(cfg *config.Config) {
		iv := ivConfig(t, base)
		cfg.Sessions.CountryCode = iv.Sessions.CountryCode
		cfg.Sessions.EntryPoints = iv.Sessions.EntryPoints
		cfg.Sessions.Routes = iv.Sessions.Routes
		cfg.Sessions.Queues = iv.Sessions.Queues
		cfg.Sessions.Agents = append(cfg.Sessions.Agents, config.Agent{ID: "int1", Name: "Ana", Queues: []string{"interp-ase-en"}},
			config.Agent{ID: "int2", Name: "Ben", Queues: []string{"interp-ase-en"}})
		cfg.Interpreter = iv.Interpreter
		requeue := 3 * time.Second
		cfg.Interpreter.RequeueMaxWait = &requeue
		cfg.Interpreter.Numbers = []config.InterpreterNumber{{Number: "+34910000399", SignLanguage: "ase"}}
		cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
	}
	// hearing: a caller dials the interpreter number; the interpreter's
	// console rings (the caller is not answered yet)
	hearing := func(c *cell) (in *testutil.SessionPeer, cancelCall context.CancelFunc, answered chan *testutil.SIPCall) {
		u, _ := c.acd(phoneAddr, 0)
		in = c.agent("int1", ivToneInterp, 1, true)
		cctx, cancelCall := context.WithCancel(c.ctx)
		answered = make(chan *testutil.SIPCall, 1)
		go func() {
			sc, err := u.Invite(cctx, fmt.Sprintf("sip:+34910000399@127.0.0.1:%d", base+1))
			if err == nil {
				answered <- sc
			}
			close(answered)
		}()
		c.close = append(c.close, cancelCall)
		return in, cancelCall, answered
	}
	deaf := func(c *cell) *testutil.SessionPeer {
		c.t.Helper()
		d := c.peer("entry=sign", ivToneDeaf, 9)
		if err := d.Start(c.ctx, "Luis", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
			c.t.Fatal(err)
		}
		return d
	}
	queued := func(c *cell) *testutil.SessionPeer {
		d := deaf(c)
		c.state(d, "waiting")
		return d
	}
	ringing := func(c *cell) (d, in *testutil.SessionPeer) {
		in = c.agent("int1", ivToneInterp, 1, true)
		d = deaf(c)
		o := c.wait(in, isType("offer"))
		c.sid = o.Session
		c.state(d, "ringing")
		return d, in
	}
	active := func(c *cell) (d, in *testutil.SessionPeer) {
		in = c.agent("int1", ivToneInterp, 1, true)
		d = deaf(c)
		o := c.wait(in, isType("offer"))
		if err := in.Accept(c.ctx, o); err != nil {
			c.t.Fatal(err)
		}
		c.sid = o.Session
		c.state(d, "active")
		return d, in
	}
	phoneIs := func(state string) func(testutil.Message) bool {
		return func(m testutil.Message) bool {
			return m.Type == "session" && strings.Contains(string(m.Raw), `"phone":{"state":"`+state+`"`)
		}
	}
	// dialling: the phone rings (for a minute) when the cell acts
	dialling := func(c *cell) (d, in *testutil.SessionPeer, p *testutil.SIPCall) {
		_, calls := c.acd(phoneAddr, time.Minute)
		d, in = active(c)
		c.send(in, map[string]any{"type": "dial", "session": c.sid})
		p = c.next(calls)
		c.wait(d, phoneIs("ringing"))
		return d, in, p
	}
	connected := func(c *cell) (d, in *testutil.SessionPeer, p *testutil.SIPCall) {
		_, calls := c.acd(phoneAddr, 0)
		d, in = active(c)
		c.send(in, map[string]any{"type": "dial", "session": c.sid})
		p = c.next(calls)
		c.wait(d, phoneIs("connected"))
		waitUntil(c.t, 10*time.Second, "the interpreter hears the phone", func() bool { return in.ToneLevel(tonePhone) > heard })
		return d, in, p
	}
	cells := map[string]cellFunc{
		"caller hangs up while an interpreter rings": func(c *cell) {
			in, cancelCall, _ := hearing(c)
			o := c.wait(in, isType("offer"))
			c.sid = o.Session
			cancelCall() // CANCEL
			c.wait(in, isType("cancel"))
			c.expect(487, "Caller abandoned")
		},
		"interpreter hangs up with the caller, before the deaf user joined": func(c *cell) {
			in, _, answered := hearing(c)
			o := c.wait(in, isType("offer"))
			c.sid = o.Session
			if err := in.Accept(c.ctx, o); err != nil {
				c.t.Fatal(err)
			}
			p := <-answered
			if p == nil {
				c.t.Fatal("the caller was not answered")
			}
			waitUntil(c.t, 10*time.Second, "the interpreter hears the caller", func() bool { return in.ToneLevel(tonePhone) > heard })
			c.hangup(in)
			c.expect(200, "Interpreter hung up")
			c.told = append(c.told, in)
			c.byes = append(c.byes, p)
		},
		"deaf user hangs up while queued": func(c *cell) {
			d := queued(c)
			c.hangup(d)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, d)
		},
		"deaf user drops while queued": func(c *cell) {
			queued(c).Close()
			c.expect(487, "Customer abandoned")
		},
		"deaf user hangs up while an interpreter rings": func(c *cell) {
			d, in := ringing(c)
			c.hangup(d)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, d)
			c.wait(in, isType("cancel"))
		},
		"interpreter drops while ringing": func(c *cell) {
			d, in := ringing(c)
			in.Close()
			c.state(d, "waiting")
			c.hangup(d)
			c.expect(487, "Customer abandoned")
			c.told = append(c.told, d)
		},
		"deaf user hangs up before the phone call": func(c *cell) {
			d, in := active(c)
			c.hangup(d)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, d, in)
		},
		"interpreter hangs up before the phone call": func(c *cell) {
			d, in := active(c)
			c.hangup(in)
			c.expect(200, "Interpreter hung up")
			c.told = append(c.told, d, in)
		},
		"deaf user hangs up while the phone rings": func(c *cell) {
			d, in, p := dialling(c)
			c.hangup(d)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, d, in)
			c.gone = append(c.gone, p) // CANCEL
		},
		"interpreter releases the ringing phone, then hangs up": func(c *cell) {
			d, in, p := dialling(c)
			c.send(in, map[string]any{"type": "release", "session": c.sid})
			c.wait(d, phoneIs("ended"))
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
				c.t.Fatal("the released call still rings")
			}
			c.hangup(in)
			c.expect(200, "Interpreter hung up")
			c.told = append(c.told, d, in)
		},
		"deaf user hangs up while the phone is connected": func(c *cell) {
			d, in, p := connected(c)
			c.hangup(d)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, d, in)
			c.byes = append(c.byes, p)
		},
		"deaf user drops while the phone is connected": func(c *cell) {
			d, in, p := connected(c)
			d.Close()
			c.expect(200, "Customer left") // after sessions.resume_grace
			c.told = append(c.told, in)
			c.byes = append(c.byes, p)
		},
		"interpreter hangs up while the phone is connected": func(c *cell) {
			d, in, p := connected(c)
			c.hangup(in)
			c.expect(200, "Interpreter hung up")
			c.told = append(c.told, d, in)
			c.byes = append(c.byes, p)
		},
		"interpreter drops while the phone is connected, nobody takes over": func(c *cell) {
			d, in, p := connected(c)
			in.Close()
			// requeued: the deaf user waits, the phone call is kept until
			// requeue_max_wait runs out
			c.state(d, "waiting")
			if p.ByeReceived() {
				c.t.Error("the phone got a BYE when the interpreter was lost")
			}
			c.expect(480, "No interpreter available")
			c.told = append(c.told, d)
			c.byes = append(c.byes, p)
		},
		"interpreter drops while the phone is connected, another takes over": func(c *cell) {
			// the phone records what it hears (c.acd's does not)
			calls := make(chan *testutil.SIPCall, 1)
			u, err := testutil.StartUAS(testutil.UASOptions{Listen: phoneAddr, ToneHz: tonePhone, Record: 20,
				OnCall: func(sc *testutil.SIPCall) { calls <- sc }})
			if err != nil {
				c.t.Fatal(err)
			}
			c.close = append(c.close, func() { _ = u.Close() })
			d, in := active(c)
			c.send(in, map[string]any{"type": "dial", "session": c.sid})
			p := c.next(calls)
			c.wait(d, phoneIs("connected"))
			in2 := c.agent("int2", ivToneInterp2, 2, true)
			in.Close()
			c.state(d, "waiting")
			o := c.wait(in2, isType("offer"))
			if !strings.Contains(string(o.Raw), `"purpose":"handoff"`) {
				c.t.Errorf("the requeued session's offer: %s", o.Raw)
			}
			if err := in2.Accept(c.ctx, o); err != nil {
				c.t.Fatal(err)
			}
			c.state(d, "active")
			waitUntil(c.t, 10*time.Second, "the phone hears the new interpreter", func() bool {
				pcm := p.Received()
				return len(pcm) > 1600 && media.ToneLevel(pcm[len(pcm)-1600:], ivToneInterp2, 8000) > heard
			})
			if st := p.Stats(); p.ByeReceived() || st.SSRCs != 1 {
				c.t.Errorf("the phone saw BYE %v and %d RTP streams across the requeue (want none and 1)", p.ByeReceived(), st.SSRCs)
			}
			c.hangup(d)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, d, in2)
			c.byes = append(c.byes, p)
		},
		"phone hangs up, the session goes on": func(c *cell) {
			d, in, p := connected(c)
			if err := p.Hangup(c.ctx); err != nil {
				c.t.Fatal(err)
			}
			m := c.wait(d, phoneIs("ended"))
			if !strings.Contains(string(m.Raw), `"code":200`) || m.State != "active" {
				c.t.Errorf("after the phone hung up: %s", m.Raw)
			}
			c.hangup(d)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, d, in)
		},
		"phone vanishes, the session goes on": func(c *cell) {
			d, in, p := connected(c)
			p.Silence()
			m := c.wait(d, phoneIs("ended"))
			if !strings.Contains(string(m.Raw), `"code":408`) || m.State != "active" {
				c.t.Errorf("after the phone went silent: %s", m.Raw)
			}
			c.hangup(in)
			c.expect(200, "Interpreter hung up")
			c.told = append(c.told, d, in)
			c.byes = append(c.byes, p) // rtp.timeout hangs it up
		},
	}
	order := []string{"deaf user hangs up while queued", "deaf user drops while queued",
		"deaf user hangs up while an interpreter rings", "interpreter drops while ringing",
		"deaf user hangs up before the phone call", "interpreter hangs up before the phone call",
		"deaf user hangs up while the phone rings", "interpreter releases the ringing phone, then hangs up",
		"deaf user hangs up while the phone is connected", "deaf user drops while the phone is connected",
		"interpreter hangs up while the phone is connected", "interpreter drops while the phone is connected, nobody takes over",
		"interpreter drops while the phone is connected, another takes over",
		"phone hangs up, the session goes on", "phone vanishes, the session goes on",
		"caller hangs up while an interpreter rings", "interpreter hangs up with the caller, before the deaf user joined"}
	runCells(t, base, mutate, cells, order)
}
