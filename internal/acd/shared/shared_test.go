//go:build linux

package shared

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// event is one Dispatcher callback as a node received it.
type event struct {
	node, kind, agent, session, queue, reason string
	pos                                       int
	state                                     acd.AgentState
}

// recorder is a node's Dispatcher: it records every callback and, when
// onOffer is set, calls it (as the session layer does, on the callback
// goroutine).
type recorder struct {
	node    string
	mu      sync.Mutex
	events  []event
	changed chan struct{}
	onOffer func(agent, session string)
}

func newRecorder(node string) *recorder {
	return &recorder{node: node, changed: make(chan struct{}, 1)}
}

func (r *recorder) add(e event) {
	e.node = r.node
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Offer(agentID, sessionID, queue string) {
	r.add(event{kind: "offer", agent: agentID, session: sessionID, queue: queue})
	if r.onOffer != nil {
		r.onOffer(agentID, sessionID)
	}
}
func (r *recorder) CancelOffer(agentID, sessionID, reason string) {
	r.add(event{kind: "cancel", agent: agentID, session: sessionID, reason: reason})
}
func (r *recorder) Overflow(sessionID, queue, target string) {
	r.add(event{kind: "overflow", session: sessionID, queue: queue, reason: target})
}
func (r *recorder) Position(sessionID, queue string, position int, _ time.Duration) {
	r.add(event{kind: "position", session: sessionID, queue: queue, pos: position})
}
func (r *recorder) AgentState(a acd.AgentStatus) {
	r.add(event{kind: "state", agent: a.ID, session: a.Session, state: a.State})
}

// wait waits until match finds an event (returning it) or fails the test.
func (r *recorder) wait(t *testing.T, what string, match func(event) bool) event {
	t.Helper()
	return r.waitFrom(t, 0, what, match)
}

// n is the number of events so far (for waitFrom).
func (r *recorder) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// waitFrom is wait for the events after the first from.
func (r *recorder) waitFrom(t *testing.T, from int, what string, match func(event) bool) event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for _, e := range r.events[from:] {
			if match(e) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("node %s: no %s within 10 s; events: %+v", r.node, what, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func (r *recorder) has(match func(event) bool) bool {
	for _, e := range r.snapshot() {
		if match(e) {
			return true
		}
	}
	return false
}

// cluster is n engines on one fresh database, their notes carried by the
// store's LISTEN as the hub carries them.
type cluster struct {
	db    *store.DB
	nodes []*Engine
	recs  []*recorder
}

// TestShared runs the tests on one throwaway PostgreSQL, a fresh database
// each.
func TestShared(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the shared ACD needs PostgreSQL")
	}
	srv := pgtest.Start(t)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *pgtest.Server)
	}{
		{"AcrossNodes", testAcrossNodes},
		{"GlobalOrderAndLongestIdle", testGlobalOrderAndLongestIdle},
		{"EndsAcrossNodes", testEndsAcrossNodes},
		{"HundredSessionsNoDoubleOffer", testHundredSessionsNoDoubleOffer},
		{"CallEndsWhileTheStoreIsAway", testCallEndsWhileTheStoreIsAway},
		{"BadNotes", testBadNotes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, srv) })
	}
}

func startCluster(t *testing.T, srv *pgtest.Server, n int, queues []acd.QueueConfig, setup func(i int, r *recorder)) *cluster {
	t.Helper()
	return startClusterTB(t, srv, n, queues, setup)
}

func startClusterTB(t testing.TB, srv *pgtest.Server, n int, queues []acd.QueueConfig, setup func(i int, r *recorder)) *cluster {
	t.Helper()
	dsn := srv.FreshDSN(t)
	c := &cluster{}
	for i := range n {
		db, err := store.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c.db = db
		}
		r := newRecorder(fmt.Sprintf("n%d", i+1))
		if setup != nil {
			setup(i, r)
		}
		e, err := New(queues, r, Options{Store: db, Node: r.node, Sweep: 50 * time.Millisecond, DefaultHandleTime: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			db.Listen(ctx, func(channel, payload string) {
				if channel == store.ACDChannel || channel == "" {
					e.Note(payload)
				}
			})
		}()
		t.Cleanup(func() {
			e.Close()
			cancel()
			<-done
			_ = db.Close()
		})
		c.nodes = append(c.nodes, e)
		c.recs = append(c.recs, r)
	}
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isEvent(kind, agent, session string) func(event) bool {
	return func(e event) bool {
		return e.kind == kind && (agent == "" || e.agent == agent) && (session == "" || e.session == session)
	}
}

func isState(agent string, st acd.AgentState) func(event) bool {
	return func(e event) bool { return e.kind == "state" && e.agent == agent && e.state == st }
}

// A session on node 1 is served by an agent logged in on node 2: the offer
// reaches the session's node, the agent's states reach the agent's node,
// and the queue's figures are the same from every node.
func testAcrossNodes(t *testing.T, srv *pgtest.Server) {
	c := startCluster(t, srv, 2, []acd.QueueConfig{{Name: "sales", WrapUp: 300 * time.Millisecond}}, nil)
	n1, n2 := c.nodes[0], c.nodes[1]
	r1, r2 := c.recs[0], c.recs[1]
	must(t, n2.Login("a1", "Ann", []string{"sales"}))
	if pos, err := n1.Enqueue("s1", "sales", 0); err != nil || pos != 1 {
		t.Fatalf("Enqueue = %d, %v; want position 1", pos, err)
	}
	if _, err := n1.Enqueue("s1", "sales", 0); err == nil {
		t.Fatal("a second Enqueue of s1 was accepted")
	}
	if q := n2.Queues(); len(q) != 1 || q[0].Waiting != 1 || q[0].LoggedIn != 1 || q[0].Ready != 0 {
		t.Fatalf("Queues from node 2 = %+v", q)
	}
	must(t, n2.SetReady("a1", true))
	r1.wait(t, "offer of s1 to a1", isEvent("offer", "a1", "s1"))
	r2.wait(t, "a1 ringing", isState("a1", acd.StateRinging))
	if r2.has(isEvent("offer", "", "")) || r1.has(isEvent("state", "a1", "")) {
		t.Fatal("a callback reached the wrong node")
	}
	if err := n2.Accept("a1", "nope"); err == nil {
		t.Fatal("Accept of a session never offered succeeded")
	}
	must(t, n1.Accept("a1", "s1"))
	r2.wait(t, "a1 busy", isState("a1", acd.StateBusy))
	mark := r2.n()
	must(t, n1.CallEnded("a1"))
	r2.waitFrom(t, mark, "a1 in wrap-up", isState("a1", acd.StateWrapUp))
	r2.waitFrom(t, mark, "a1 ready after wrap-up", isState("a1", acd.StateReady))
	q := n1.Queues()[0]
	if q.Answered != 1 || q.Waiting != 0 || q.AvgHandle < 300*time.Millisecond || q.Ready != 1 {
		t.Fatalf("Queues after the call = %+v", q)
	}
	if a := n1.Agents(); len(a) != 1 || a[0].Handled != 1 || a[0].State != acd.StateReady {
		t.Fatalf("Agents = %+v", a)
	}
}

// Of two ready agents on different nodes, the one idle longest gets the
// session, and the queue's order is global: the session that arrived first
// on any node is offered first.
func testGlobalOrderAndLongestIdle(t *testing.T, srv *pgtest.Server) {
	c := startCluster(t, srv, 3, []acd.QueueConfig{{Name: "q"}}, nil)
	must(t, c.nodes[2].Enqueue2("s-first", "q"))
	must(t, c.nodes[0].Enqueue2("s-second", "q"))
	r3 := c.recs[2]
	r3.wait(t, "position 1 of s-first", func(e event) bool { return e.kind == "position" && e.session == "s-first" && e.pos == 1 })
	c.recs[0].wait(t, "position 2 of s-second", func(e event) bool { return e.kind == "position" && e.session == "s-second" && e.pos == 2 })
	must(t, c.nodes[1].Login("b", "B", []string{"q"}))
	must(t, c.nodes[0].Login("a", "A", []string{"q"}))
	must(t, c.nodes[1].SetReady("b", true)) // b is idle longer: ready first
	r3.wait(t, "offer of s-first to b", isEvent("offer", "b", "s-first"))
	must(t, c.nodes[0].SetReady("a", true))
	c.recs[0].wait(t, "offer of s-second to a", isEvent("offer", "a", "s-second"))
	if _, pos, _, ok := c.nodes[1].Position("s-second"); !ok || pos != 2 {
		t.Fatalf("s-second ringing behind s-first is at %d (%v), want 2: a ringing session keeps its place", pos, ok)
	}
	must(t, c.nodes[2].Accept("b", "s-first"))
	c.recs[0].wait(t, "s-second to position 1", func(e event) bool { return e.kind == "position" && e.session == "s-second" && e.pos == 1 })
}

// Enqueue2 is Enqueue for tests that do not look at the position.
func (e *Engine) Enqueue2(id, q string) error {
	_, err := e.Enqueue(id, q, 0)
	return err
}

// Every way an offer ends across nodes: the ring times out, the customer
// abandons, the agent's node is lost, the session waits too long.
func testEndsAcrossNodes(t *testing.T, srv *pgtest.Server) {
	c := startCluster(t, srv, 3, []acd.QueueConfig{
		{Name: "q", RingTimeout: 400 * time.Millisecond},
		{Name: "o", MaxWait: 300 * time.Millisecond, Overflow: "sip:overflow@pbx"},
	}, nil)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	r1, r2 := c.recs[0], c.recs[1]

	t.Run("ring timeout", func(t *testing.T) {
		must(t, n2.Login("t1", "T", []string{"q"}))
		must(t, n2.SetReady("t1", true))
		must(t, n1.Enqueue2("rt", "q"))
		r1.wait(t, "offer", isEvent("offer", "t1", "rt"))
		r1.wait(t, "cancel (timeout)", func(e event) bool { return isEvent("cancel", "t1", "rt")(e) && e.reason == "timeout" })
		r2.wait(t, "t1 not_ready", isState("t1", acd.StateNotReady))
		if _, pos, _, ok := n3.Position("rt"); !ok || pos != 1 {
			t.Fatalf("after the timeout rt is at %d (%v), want 1", pos, ok)
		}
		must(t, n2.Logout("t1"))
		if !n1.Remove("rt") {
			t.Fatal("Remove of a waiting session = false")
		}
	})
	t.Run("abandoned while ringing", func(t *testing.T) {
		must(t, n2.Login("t2", "T", []string{"q"}))
		must(t, n2.SetReady("t2", true))
		must(t, n1.Enqueue2("ab", "q"))
		r1.wait(t, "offer", isEvent("offer", "t2", "ab"))
		if !n1.Remove("ab") {
			t.Fatal("Remove = false")
		}
		r1.wait(t, "cancel (abandoned)", func(e event) bool { return isEvent("cancel", "t2", "ab")(e) && e.reason == "abandoned" })
		r2.wait(t, "t2 ready again", func(e event) bool { return isState("t2", acd.StateReady)(e) && e.session == "" })
		if n1.Remove("ab") {
			t.Fatal("a second Remove = true")
		}
		must(t, n2.Logout("t2"))
	})
	t.Run("agent's node lost while ringing", func(t *testing.T) {
		must(t, n2.Login("t3", "T", []string{"q"}))
		must(t, n3.Login("t4", "T", []string{"q"}))
		must(t, n2.SetReady("t3", true))
		must(t, n1.Enqueue2("nl", "q"))
		r1.wait(t, "offer to t3", isEvent("offer", "t3", "nl"))
		must(t, n3.SetReady("t4", true))
		must(t, n3.ForgetNode("n2")) // a survivor's view of node 2's loss
		r1.wait(t, "cancel of t3's ring", func(e event) bool { return isEvent("cancel", "t3", "nl")(e) && e.reason == "logout" })
		r1.wait(t, "offer to t4", isEvent("offer", "t4", "nl"))
		for _, a := range n1.Agents() {
			if a.ID == "t3" && a.State != acd.StateLoggedOut {
				t.Fatalf("t3 is %s after its node was lost", a.State)
			}
		}
		must(t, n1.Accept("t4", "nl"))
		must(t, n1.CallEnded("t4"))
		must(t, n3.Logout("t4"))
	})
	t.Run("session's node lost while ringing", func(t *testing.T) {
		must(t, n3.Login("t5", "T", []string{"q"}))
		must(t, n3.SetReady("t5", true))
		must(t, n2.Enqueue2("gone", "q"))
		r2.wait(t, "offer to t5", isEvent("offer", "t5", "gone"))
		must(t, n3.ForgetNode("n2"))
		c.recs[2].wait(t, "t5 ready again", func(e event) bool { return isState("t5", acd.StateReady)(e) && e.session == "" })
		if _, _, _, ok := n1.Position("gone"); ok {
			t.Fatal("the lost node's session is still queued")
		}
		must(t, n3.Logout("t5"))
	})
	t.Run("session's node lost while its agent talks", func(t *testing.T) {
		must(t, n3.Login("t6", "T", []string{"q"}))
		must(t, n3.SetReady("t6", true))
		must(t, n2.Enqueue2("talk", "q"))
		r2.wait(t, "offer to t6", isEvent("offer", "t6", "talk"))
		must(t, n2.Accept("t6", "talk"))
		c.recs[2].wait(t, "t6 busy", isState("t6", acd.StateBusy))
		mark := c.recs[2].n()
		must(t, n1.ForgetNode("n2"))
		c.recs[2].waitFrom(t, mark, "t6 ready: its call went with the node", isState("t6", acd.StateReady))
		must(t, n3.Logout("t6"))
	})
	t.Run("max wait overflows", func(t *testing.T) {
		must(t, n2.Login("o1", "O", []string{"o"})) // logged in, never ready
		must(t, n1.Enqueue2("ov", "o"))
		e := r1.wait(t, "overflow", isEvent("overflow", "", "ov"))
		if e.reason != "sip:overflow@pbx" {
			t.Fatalf("overflow target %q", e.reason)
		}
		must(t, n2.Logout("o1"))
		if pos, err := n1.Enqueue("ov2", "o", 0); err != nil || pos != 0 {
			t.Fatalf("Enqueue in an unstaffed overflow queue = %d, %v; want an overflow", pos, err)
		}
		r1.wait(t, "overflow at once", isEvent("overflow", "", "ov2"))
		if q := n3.Queues()[1]; q.Overflowed != 2 {
			t.Fatalf("overflowed = %d, want 2", q.Overflowed)
		}
	})
}

// One hundred sessions enqueued on three nodes at once, four agents on two
// nodes answering as fast as they are offered: every session is answered
// exactly once, no agent is ever offered a second session while one rings
// or is in its call, and sessions are offered in the order they arrived
// (to within the number of agents pairing at the same moment).
func testHundredSessionsNoDoubleOffer(t *testing.T, srv *pgtest.Server) {
	const sessions, agents = 100, 4
	var (
		mu       sync.Mutex
		holding  = map[string]string{} // agent → session offered or in a call
		answered = map[string]int{}
		order    []string
		problems []string
		done     = make(chan struct{})
	)
	var c *cluster
	c = startCluster(t, srv, 3, []acd.QueueConfig{{Name: "q"}}, func(i int, r *recorder) {
		r.onOffer = func(agent, session string) {
			mu.Lock()
			if h := holding[agent]; h != "" {
				problems = append(problems, fmt.Sprintf("%s offered %s while holding %s", agent, session, h))
			}
			holding[agent] = session
			order = append(order, session)
			mu.Unlock()
			e := c.nodes[i]
			go func() { // the console answers, talks a moment and hangs up
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
				if err := e.Accept(agent, session); err != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("accept %s by %s: %v", session, agent, err))
					mu.Unlock()
					return
				}
				time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
				mu.Lock()
				holding[agent] = ""
				answered[session]++
				n := len(answered)
				mu.Unlock()
				if err := e.CallEnded(agent); err != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("end %s by %s: %v", session, agent, err))
					mu.Unlock()
				}
				if n == sessions {
					close(done)
				}
			}()
		}
	})
	for i := range sessions { // in arrival order, before any agent is ready
		must(t, c.nodes[i%3].Enqueue2(fmt.Sprintf("s%03d", i), "q"))
	}
	for i := range agents {
		id := fmt.Sprintf("a%d", i)
		must(t, c.nodes[i%2].Login(id, id, []string{"q"}))
	}
	var wg sync.WaitGroup
	for i := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); must(t, c.nodes[i%2].SetReady(fmt.Sprintf("a%d", i), true)) }()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		t.Fatalf("answered %d of %d in 60 s; problems: %v", len(answered), sessions, problems)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %v", len(problems), problems[:min(5, len(problems))])
	}
	for id, n := range answered {
		if n != 1 {
			t.Errorf("%s answered %d times", id, n)
		}
	}
	for i, s := range order {
		var want int
		fmt.Sscanf(s, "s%03d", &want)
		if d := want - i; d > agents || d < -agents {
			t.Errorf("offer %d was %s: out of arrival order by %d", i, s, d)
		}
	}
	total := 0
	for _, a := range c.nodes[2].Agents() {
		total += a.Handled
	}
	if q := c.nodes[2].Queues()[0]; q.Answered != sessions || q.Waiting != 0 || total != sessions {
		t.Fatalf("after the run: %+v, handled %d", q, total)
	}
}

// PostgreSQL restarts while an agent is in a call: the call's end, made
// while the store is away, is taken when it is back, and the agent is
// ready again instead of busy for ever.
func testCallEndsWhileTheStoreIsAway(t *testing.T, srv *pgtest.Server) {
	c := startCluster(t, srv, 1, []acd.QueueConfig{{Name: "q"}}, nil)
	n, r := c.nodes[0], c.recs[0]
	must(t, n.Login("a", "A", []string{"q"}))
	must(t, n.SetReady("a", true))
	must(t, n.Enqueue2("s", "q"))
	r.wait(t, "offer", isEvent("offer", "a", "s"))
	must(t, n.Accept("a", "s"))
	must(t, n.Enqueue2("gone", "q")) // waits: its customer will hang up while the store is away
	srv.Stop(t)
	if err := n.CallEnded("a"); err != nil {
		t.Fatalf("CallEnded with the store away = %v, want it kept for later", err)
	}
	if n.Remove("gone") {
		t.Fatal("Remove with the store away said it removed")
	}
	srv.Resume(t)
	mark := r.n()
	r.waitFrom(t, mark, "a ready once the store is back", isState("a", acd.StateReady))
	deadline := time.Now().Add(10 * time.Second)
	for {
		q := n.Queues()
		if len(q) == 1 && q[0].Waiting == 0 && q[0].Abandoned == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue after the store came back: %+v", q)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Notes that are not JSON, are another node's, or repeat an offer already
// delivered make no callback.
func testBadNotes(t *testing.T, srv *pgtest.Server) {
	c := startCluster(t, srv, 1, []acd.QueueConfig{{Name: "q"}}, nil)
	n, r := c.nodes[0], c.recs[0]
	n.Note("not json")
	n.Note(`{"from":"elsewhere","to":"n9","k":"offer","a":"a","s":"s1","q":"q","g":1}`) // for another node
	n.Note(`{"from":"n1","k":"offer","a":"a","s":"s1","q":"q","g":1}`)                  // this node's own
	n.Note(`{"from":"elsewhere","to":"n1","k":"offer","a":"a","s":"s2","q":"q","g":1}`)
	n.Note(`{"from":"elsewhere","to":"n1","k":"offer","a":"a","s":"s2","q":"q","g":1}`) // the same offer again
	r.wait(t, "the one offer for this node", isEvent("offer", "a", "s2"))
	n.out.Flush()
	offers := 0
	for _, e := range r.snapshot() {
		if e.kind == "offer" {
			offers++
		}
	}
	if offers != 1 {
		t.Fatalf("%d offers delivered, want 1: %+v", offers, r.snapshot())
	}
}
