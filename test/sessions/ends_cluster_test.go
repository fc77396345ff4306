//go:build linux

package sessions

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestEndsRemoteAgent: the ends matrix of a call whose agent's console is
// on another node (docs/sessions.md, remote_offer). Node A (ports 27700-)
// hosts the customer's session and its external-ACD call; agent1's console
// is on node B (27800-). The ACD delivers the agent leg to A; A asks B; the
// console opens its session socket at B, relayed to A. Each party ends or
// drops in each state; afterwards the session is over everywhere, every
// SIP dialog saw its BYE or final answer, and no goroutine is left.
func TestEndsRemoteAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const baseA, baseB = 27700, 27800
	acdAddr := fmt.Sprintf("127.0.0.1:%d", baseA+90)
	hubs := startNodes(ctx, t, pgtest.Start(t).FreshDSN(t), 5*time.Second, func(cfg *config.Config) {
		cfg.Sessions.ResumeGrace = endsGrace
		cfg.RTP.Timeout = 1500 * time.Millisecond
		cfg.SIP.Trunks[0].URI, cfg.SIP.Trunks[0].InboundFrom = "sip:"+acdAddr, []string{"127.0.0.1"}
		cfg.Sessions.Routes = []config.Route{{Name: "acd", Entry: "default", Target: "sip:support@" + acdAddr}}
	}, baseA, baseB)
	a, b := hubs[0], hubs[1]
	aSIP := fmt.Sprintf("127.0.0.1:%d", baseA+1)

	// setup: the customer on A with the ACD (answered); agent1's console
	// on B; the ACD's agent leg sent to A
	type call struct {
		cu, home *testutil.SessionPeer
		q        *testutil.SIPCall // the hub's queue call, answered by the ACD
		invite   chan error        // the agent leg's INVITE: nil once answered
		al       chan *testutil.SIPCall
	}
	setup := func(c *cell, console bool) *call {
		u, calls := c.acd(acdAddr, 0)
		k := &call{invite: make(chan error, 1), al: make(chan *testutil.SIPCall, 1)}
		if console {
			p, err := testutil.DialSession(c.ctx, wsURL(b, "token="+agentToken(c.t, b, "agent1")), toneAgent1, 1, true)
			if err != nil {
				c.t.Fatal(err)
			}
			c.close = append(c.close, p.Close)
			c.wait(p, isType("hello"))
			k.home = p
			// A knows agent1 is online, on B (the consoles' record in the store)
			waitUntil(c.t, 5*time.Second, "agent1 online as seen from A", func() bool {
				_, l := c.a.do("GET", "/v1/agents", nil)
				for _, x := range l["agents"].([]any) {
					if m := x.(map[string]any); m["id"] == "agent1" {
						return m["online"] == true
					}
				}
				return false
			})
		}
		k.cu = c.customer()
		k.q = c.next(calls)
		c.state(k.cu, "active")
		go func() {
			sc, err := u.InviteWith(c.ctx, "sip:agent1@"+aSIP, sip.NewHeader("X-Split-Session", c.sid))
			if sc != nil {
				k.al <- sc
			}
			k.invite <- err
		}()
		return k
	}
	// sessionSocket: the console's socket for the call, as session.js opens it on remote_offer
	sessionSocket := func(c *cell, k *call) *testutil.SessionPeer {
		ro := c.wait(k.home, isType("remote_offer"))
		if ro.Session != c.sid {
			c.t.Fatalf("remote_offer for %q, want %q", ro.Session, c.sid)
		}
		p, err := testutil.DialSession(c.ctx, wsURL(b, "token="+agentToken(c.t, b, "agent1")+"&session="+c.sid), toneAgent1, 1, true)
		if err != nil {
			c.t.Fatal(err)
		}
		c.close = append(c.close, p.Close)
		return p
	}
	answered := func(c *cell, k *call) (*testutil.SessionPeer, *testutil.SIPCall) {
		p := sessionSocket(c, k)
		c.accept(p, tonePhone)
		if err := <-k.invite; err != nil {
			c.t.Fatal(err)
		}
		return p, <-k.al
	}
	refused := func(c *cell, k *call, what string) {
		select {
		case err := <-k.invite:
			if err == nil {
				c.t.Fatalf("%s: the agent leg was answered", what)
			}
		case <-c.ctx.Done():
			c.t.Fatalf("%s: the agent leg got no final answer", what)
		}
		waitUntil(c.t, 10*time.Second, "the session back with the ACD", func() bool {
			_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
			return s["state"] == "active" && legsOf(s) == "customer,acd"
		})
	}
	backWithACD := func(c *cell, k *call) {
		waitUntil(c.t, 10*time.Second, "the session back with the ACD", func() bool {
			_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
			return s["state"] == "active" && legsOf(s) == "customer,acd"
		})
		c.hangup(k.cu)
		c.expect(200, "Customer hung up")
		c.told = append(c.told, k.cu)
		c.byes = append(c.byes, k.q)
	}
	cells := []struct {
		name string
		f    cellFunc
	}{
		{"agent's console on no node", func(c *cell) {
			k := setup(c, false)
			start := time.Now()
			refused(c, k, "no console")
			// no node has a console of agent1: no need to wait for one
			if d := time.Since(start); d > 2*time.Second {
				c.t.Errorf("refused after %s; no console is open anywhere", d)
			}
			c.hangup(k.cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, k.cu)
			c.byes = append(c.byes, k.q)
		}},
		{"console opens no session socket", func(c *cell) {
			k := setup(c, true)
			c.wait(k.home, isType("remote_offer"))
			refused(c, k, "no session socket")
			backWithACD(c, k)
		}},
		{"agent declines on its session socket", func(c *cell) {
			k := setup(c, true)
			p := sessionSocket(c, k)
			o := c.wait(p, isType("offer"))
			c.send(p, map[string]any{"type": "decline", "leg": o.Leg})
			refused(c, k, "declined")
			backWithACD(c, k)
		}},
		{"session socket drops while ringing", func(c *cell) {
			k := setup(c, true)
			p := sessionSocket(c, k)
			c.wait(p, isType("offer"))
			p.Close()
			refused(c, k, "dropped while ringing")
			backWithACD(c, k)
		}},
		{"agent hangs up on its session socket", func(c *cell) {
			k := setup(c, true)
			p, al := answered(c, k)
			c.hangup(p)
			c.told = append(c.told, p)
			c.byes = append(c.byes, al)
			backWithACD(c, k)
		}},
		{"session socket drops while active", func(c *cell) {
			k := setup(c, true)
			p, al := answered(c, k)
			p.Close()
			c.byes = append(c.byes, al)
			backWithACD(c, k)
		}},
		{"customer hangs up while the agent talks on its session socket", func(c *cell) {
			k := setup(c, true)
			p, al := answered(c, k)
			c.hangup(k.cu)
			c.expect(200, "Customer hung up")
			c.told = append(c.told, k.cu, p)
			c.byes = append(c.byes, k.q, al)
			// the session socket closes once the session is over
			waitUntil(c.t, 10*time.Second, "the session socket closed", p.Closed)
		}},
	}
	for _, cl := range cells {
		t.Run(cl.name, func(t *testing.T) { runCell(ctx, t, a, cl.f) })
	}
}
