//go:build linux

package sessions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestQueueAcrossNodes: one built-in queue for three nodes (ports
// 28000-28899). Six customers enter it in turn, two at each node, while
// the two agents (consoles on nodes B and C) are logged in but not ready;
// then both go ready. Every customer is served once, in the order they
// arrived, by whichever agent is free, wherever the agent's console is
// (a remote_offer and a session socket when the customer is on another
// node); each call is checked by tones both ways; no agent is offered a
// second call while it holds one.
func TestQueueAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hubs := startNodes(ctx, t, pgtest.Start(t).FreshDSN(t), 5*time.Second, nil, 28000, 28300, 28600)
	type agent struct {
		id   string
		hub  *testutil.Hub
		tone float64
		home *testutil.SessionPeer
	}
	agents := []*agent{{id: "agent1", hub: hubs[1], tone: toneAgent1}, {id: "agent2", hub: hubs[2], tone: toneAgent2}}
	for i, ag := range agents {
		ag.home = connectAgent(ctx, t, ag.hub, ag.id, ag.tone, byte(i+1), false)
		if err := ag.home.Send(ctx, map[string]any{"type": "login"}); err != nil {
			t.Fatal(err)
		}
		if _, err := ag.home.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "not_ready" }); err != nil {
			t.Fatal(err)
		}
	}
	const customers = 6
	custs := map[string]*testutil.SessionPeer{}
	var arrival []string
	for i := range customers {
		h := hubs[i%3]
		c, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), toneCustomer, 9, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Start(ctx, fmt.Sprintf("Customer %d", i), nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" })
		if err != nil {
			t.Fatal(err)
		}
		custs[w.Session] = c
		arrival = append(arrival, w.Session)
	}
	// every node sees the whole queue
	for _, h := range hubs {
		_, q := (api{t, h.URL}).do("GET", "/v1/queues", nil)
		if s := fmt.Sprint(q); !containsAll(s, "waiting:6", "logged_in:2") {
			t.Fatalf("queues at %s: %s", h.URL, s)
		}
	}

	var (
		mu       sync.Mutex
		order    []string
		served   = map[string]string{}
		finished int
		remotes  int // served through a remote_offer
		problems []string
	)
	working, allServed := context.WithCancel(ctx)
	defer allServed()
	var wg sync.WaitGroup
	for _, ag := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveQueue(working, t, ag.id, ag.hub, ag.home, ag.tone, custs, func(sid string, remote bool) {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, sid)
				if who := served[sid]; who != "" {
					problems = append(problems, fmt.Sprintf("%s offered to %s after %s served it", sid, ag.id, who))
				}
				served[sid] = ag.id
				if remote {
					remotes++
				}
			}, func() {
				mu.Lock()
				defer mu.Unlock()
				if finished++; finished == customers {
					allServed()
				}
			}); err != nil {
				mu.Lock()
				problems = append(problems, ag.id+": "+err.Error())
				mu.Unlock()
			}
		}()
		if err := ag.home.Send(ctx, map[string]any{"type": "ready", "ready": true}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if len(served) != customers {
		t.Fatalf("served %d of %d: %v", len(served), customers, served)
	}
	for i, sid := range order {
		for j, want := range arrival {
			if want == sid && (j-i > 1 || i-j > 1) {
				t.Errorf("offer %d was the customer who arrived %d-th: queue order is not global", i+1, j+1)
			}
		}
	}
	if remotes < 2 { // node A's two customers at least: no agent is there
		t.Errorf("%d calls went through a remote_offer, want at least 2", remotes)
	}
	byAgent := map[string]int{}
	for _, who := range served {
		byAgent[who]++
	}
	if byAgent["agent1"] == 0 || byAgent["agent2"] == 0 {
		t.Errorf("one agent served everyone: %v", byAgent)
	}
	waitUntil(t, 10*time.Second, "the queue empty and both agents ready, from node A", func() bool {
		_, q := (api{t, hubs[0].URL}).do("GET", "/v1/queues", nil)
		_, a := (api{t, hubs[0].URL}).do("GET", "/v1/agents", nil)
		return containsAll(fmt.Sprint(q), "waiting:0", "answered:6") && containsAll(fmt.Sprint(a), "state:ready")
	})
	// every node's records and wallboard have the cluster's six calls, each
	// recorded once by the node that owned it (docs/records.md, wallboard.md)
	for i, h := range hubs {
		a := api{t, h.URL}
		waitUntil(t, 15*time.Second, fmt.Sprintf("node %d's records and wallboard", i), func() bool {
			_, recs := a.do("GET", "/v1/records", nil)
			_, wb := a.do("GET", "/v1/wallboard", nil)
			list, _ := recs["records"].([]any)
			answered := 0
			for _, r := range list {
				if r.(map[string]any)["outcome"] == "answered" {
					answered++
				}
			}
			hour, _ := wb["overall"].(map[string]any)["hour"].(map[string]any)
			return len(list) == customers && answered == customers && hour != nil && hour["answered"] == float64(customers)
		})
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// serveQueue is one agent's console working through the queue until ctx
// ends: each offer, on its own socket or, for a customer on another node,
// on the session socket a remote_offer asks for, is accepted, checked by
// tones both ways and hung up. took is told each session offered, and
// ended each call ended.
func serveQueue(ctx context.Context, t *testing.T, id string, h *testutil.Hub, home *testutil.SessionPeer, tone float64,
	custs map[string]*testutil.SessionPeer, took func(sid string, remote bool), ended func()) error {
	from := 0 // frames of home already handled
	for {
		i := 0 // WaitFor matches each frame once, in order
		m, err := home.WaitFor(ctx, func(m testutil.Message) bool {
			i++
			return i > from && (m.Type == "offer" || m.Type == "remote_offer") && m.Session != ""
		})
		if ctx.Err() != nil {
			return nil // all served
		}
		if err != nil {
			return fmt.Errorf("waiting for an offer: %w", err)
		}
		from = i
		// the order the ACD offered in: told as the console hears of the
		// offer, before a remote one's socket is dialled (which takes a
		// while on a busy machine, and another agent's next offer can come
		// meanwhile)
		took(m.Session, m.Type == "remote_offer")
		sock, offer := home, m
		if m.Type == "remote_offer" {
			sock, err = testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, id)+"&session="+m.Session), tone, 1, false)
			if err != nil {
				return err
			}
			if offer, err = sock.WaitFor(ctx, isType("offer")); err != nil {
				sock.Close()
				return err
			}
		}
		cust := custs[offer.Session]
		err = func() error {
			if err := sock.Accept(ctx, offer); err != nil {
				return err
			}
			deadline := time.Now().Add(15 * time.Second)
			for sock.DominantHz(tones) != toneCustomer || cust.DominantHz(tones) != tone {
				if time.Now().After(deadline) {
					return fmt.Errorf("session %s (%s): no tones both ways (agent hears %v, customer %v)", offer.Session, m.Type, sock.DominantHz(tones), cust.DominantHz(tones))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := sock.Send(ctx, map[string]any{"type": "hangup", "session": offer.Session}); err != nil {
				return err
			}
			_, err := cust.WaitFor(ctx, isType("ended"))
			return err
		}()
		if sock != home {
			sock.Close()
		}
		if err != nil {
			return err
		}
		ended()
	}
}

// TestEndsQueueAcrossNodes: how an offer of the shared queue ends when the
// customer, the agent's console and the agent are on different nodes
// (customer on A, agent1's console on B, agent2's on C; ring timeout
// 1.5 s; ports 28900-29799). After each case no session is live on any
// node and the queue is empty, as every node sees it.
func TestEndsQueueAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hubs := startNodes(ctx, t, pgtest.Start(t).FreshDSN(t), 5*time.Second, func(c *config.Config) {
		c.Sessions.Queues = []config.Queue{{Name: "default", RingTimeout: 1500 * time.Millisecond}}
	}, 28900, 29200, 29500)
	a, b, c := hubs[0], hubs[1], hubs[2]
	state := func(at *testutil.Hub, agent string) string {
		_, l := (api{t, at.URL}).do("GET", "/v1/agents", nil)
		list, _ := l["agents"].([]any)
		for _, x := range list {
			if m, _ := x.(map[string]any); m["id"] == agent {
				s, _ := m["state"].(string)
				return s
			}
		}
		return ""
	}
	waitState := func(at *testutil.Hub, agent, want string) {
		t.Helper()
		waitUntil(t, 10*time.Second, agent+" "+want+" as seen from "+at.URL, func() bool { return state(at, agent) == want })
	}
	clean := func() {
		t.Helper()
		for _, h := range hubs {
			if h == nil {
				continue
			}
			waitUntil(t, 10*time.Second, "no live session and an empty queue at "+h.URL, func() bool {
				_, l := (api{t, h.URL}).do("GET", "/v1/sessions?active=true", nil)
				_, q := (api{t, h.URL}).do("GET", "/v1/queues", nil)
				ss, _ := l["sessions"].([]any)
				return len(ss) == 0 && strings.Contains(fmt.Sprint(q), "waiting:0")
			})
		}
	}
	queued := func() (*testutil.SessionPeer, string) {
		t.Helper()
		cust, err := testutil.DialSession(ctx, wsURL(a, "entry=default"), toneCustomer, 9, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cust.Close)
		if err := cust.Start(ctx, "Ana", nil); err != nil {
			t.Fatal(err)
		}
		w, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" })
		if err != nil {
			t.Fatal(err)
		}
		return cust, w.Session
	}
	hangup := func(p *testutil.SessionPeer, sid string) {
		t.Helper()
		if err := p.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
			t.Fatal(err)
		}
	}
	ag1 := connectAgent(ctx, t, b, "agent1", toneAgent1, 1, true)
	ag2 := connectAgent(ctx, t, c, "agent2", toneAgent2, 2, false) // logs in later
	waitState(a, "agent1", "ready")

	t.Run("ring timeout", func(t *testing.T) {
		cust, sid := queued()
		if _, err := ag1.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "remote_offer" && m.Session == sid }); err != nil {
			t.Fatal(err)
		}
		// the console does not open the session's socket: nobody answers
		waitState(c, "agent1", "not_ready") // a missed offer pauses the agent
		waitUntil(t, 5*time.Second, "the customer waiting again", func() bool {
			_, v := (api{t, c.URL}).do("GET", "/v1/sessions/"+sid, nil)
			return v["state"] == "waiting"
		})
		hangup(cust, sid)
		clean()
	})
	t.Run("customer abandons while a console on another node rings", func(t *testing.T) {
		if err := ag1.Send(ctx, map[string]any{"type": "ready", "ready": true}); err != nil {
			t.Fatal(err)
		}
		waitState(a, "agent1", "ready")
		cust, sid := queued()
		if _, err := ag1.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "remote_offer" && m.Session == sid }); err != nil {
			t.Fatal(err)
		}
		sock, offer := sessionSocket(ctx, t, b, "agent1", sid, toneAgent1, 1)
		hangup(cust, sid)
		if _, err := sock.WaitFor(ctx, func(m testutil.Message) bool {
			return (m.Type == "cancel" || m.Type == "ended") && (m.Session == sid || m.Leg == offer.Leg)
		}); err != nil {
			t.Fatalf("the console's ringing offer was not withdrawn: %v", err)
		}
		waitState(c, "agent1", "ready") // not the agent's fault: ready, in its place
		clean()
	})
	t.Run("the agent's console closes while it rings", func(t *testing.T) {
		if err := ag2.Send(ctx, map[string]any{"type": "login"}); err != nil {
			t.Fatal(err)
		}
		waitState(a, "agent2", "not_ready")
		cust, sid := queued()
		if _, err := ag1.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "remote_offer" && m.Session == sid }); err != nil {
			t.Fatal(err)
		}
		ag1.Close()
		waitState(a, "agent1", "logged_out")
		if err := ag2.Send(ctx, map[string]any{"type": "ready", "ready": true}); err != nil {
			t.Fatal(err)
		}
		ro, err := ag2.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "remote_offer" && m.Session == sid })
		if err != nil {
			t.Fatalf("the session was not offered to the next agent: %v", err)
		}
		sock, offer := sessionSocket(ctx, t, c, "agent2", ro.Session, toneAgent2, 2)
		if err := sock.Accept(ctx, offer); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "agent2 (on C) and the customer (on A) hear each other", func() bool {
			return sock.DominantHz(tones) == toneCustomer && cust.DominantHz(tones) == toneAgent2
		})
		waitState(b, "agent2", "busy")
		sock.Close() // the agent's session socket goes: its call ends, the agent stays logged in
		if _, err := cust.WaitFor(ctx, isType("ended")); err != nil {
			t.Fatal(err)
		}
		waitState(a, "agent2", "ready")
		clean()
	})
	t.Run("the customer's node stops while a console on another node rings", func(t *testing.T) {
		queued()
		waitState(c, "agent2", "ringing")
		if err := a.Stop(); err != nil {
			t.Fatal(err)
		}
		hubs[0] = nil
		waitState(c, "agent2", "ready")
		clean()
	})
}

// sessionSocket opens agent's socket for session sid at h (after a
// remote_offer) and returns it with the call's offer; it closes with the
// test.
func sessionSocket(ctx context.Context, t *testing.T, h *testutil.Hub, agent, sid string, tone float64, tag byte) (*testutil.SessionPeer, testutil.Message) {
	t.Helper()
	sock, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, agent)+"&session="+sid), tone, tag, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sock.Close)
	offer, err := sock.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	return sock, offer
}
