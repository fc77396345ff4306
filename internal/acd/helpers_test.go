package acd

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual Clock: timers fire, in time order, from Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	seq  int
	f    func()
	done bool // fired or stopped
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// pending counts timers neither fired nor stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// Advance moves time forward by d, firing due timers (including timers
// that fired timers start) one by one at their own instant.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.done {
				continue
			}
			live = append(live, t)
			if !t.at.After(end) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		c.timers = live
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
}

// recorder is a Dispatcher that logs every call as a line of text.
// Hooks, if set, run after the line is logged.
type recorder struct {
	mu      sync.Mutex
	events  []string
	onOffer func(agentID, sessionID, queue string)
	onAgent func(AgentStatus)
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Offer(agentID, sessionID, queue string) {
	r.add("offer %s %s %s", agentID, sessionID, queue)
	if r.onOffer != nil {
		r.onOffer(agentID, sessionID, queue)
	}
}

func (r *recorder) CancelOffer(agentID, sessionID, reason string) {
	r.add("cancel %s %s %s", agentID, sessionID, reason)
}

func (r *recorder) Overflow(sessionID, queue, target string) {
	r.add("overflow %s %s %s", sessionID, queue, target)
}

func (r *recorder) Position(sessionID, queue string, position int, ewt time.Duration) {
	r.add("pos %s %s %d %v", sessionID, queue, position, ewt)
}

func (r *recorder) AgentState(a AgentStatus) {
	r.add("agent %s %s", a.ID, a.State)
	if r.onAgent != nil {
		r.onAgent(a)
	}
}

// harness wires an ACD to a fake clock and a recorder.
type harness struct {
	t   *testing.T
	clk *fakeClock
	rec *recorder
	acd *ACD
}

func newHarness(t *testing.T, queues ...QueueConfig) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(), rec: &recorder{}}
	a, err := New(queues, h.rec, WithClock(h.clk))
	if err != nil {
		t.Fatal(err)
	}
	h.acd = a
	t.Cleanup(a.Close)
	return h
}

// take waits for pending callbacks and returns (and forgets) the events
// that start with one of the prefixes (all events if none given).
func (h *harness) take(prefixes ...string) []string {
	h.t.Helper()
	h.acd.out.Flush()
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	var out []string
	for _, e := range h.rec.events {
		if len(prefixes) == 0 || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(e, p) }) {
			out = append(out, e)
		}
	}
	h.rec.events = nil
	return out
}

// expect asserts the events (filtered by the prefixes of want's first words).
func (h *harness) expect(want ...string) {
	h.t.Helper()
	var prefixes []string
	for _, w := range want {
		p, _, _ := strings.Cut(w, " ")
		if !slices.Contains(prefixes, p+" ") {
			prefixes = append(prefixes, p+" ")
		}
	}
	got := h.take(prefixes...)
	if !slices.Equal(got, want) {
		h.t.Fatalf("events:\n got  %q\n want %q", got, want)
	}
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// login logs agents in to queues and makes them ready, one second apart
// (so the first one listed has been idle longest).
func (h *harness) loginReady(queues []string, ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		h.must(h.acd.Login(id, "Agent "+id, queues))
		h.must(h.acd.SetReady(id, true))
		h.clk.Advance(time.Second)
	}
}

func (h *harness) enqueue(sid, queue string, prio int) int {
	h.t.Helper()
	pos, err := h.acd.Enqueue(sid, queue, prio)
	h.must(err)
	return pos
}

func (h *harness) agent(id string) AgentStatus {
	h.t.Helper()
	for _, a := range h.acd.Agents() {
		if a.ID == id {
			return a
		}
	}
	h.t.Fatalf("no agent %q", id)
	return AgentStatus{}
}

func (h *harness) state(id string) AgentState { h.t.Helper(); return h.agent(id).State }

func (h *harness) queue(name string) QueueStatus {
	h.t.Helper()
	for _, q := range h.acd.Queues() {
		if q.Name == name {
			return q
		}
	}
	h.t.Fatalf("no queue %q", name)
	return QueueStatus{}
}

func (h *harness) position(sid string) int {
	h.t.Helper()
	_, pos, _, ok := h.acd.Position(sid)
	if !ok {
		return 0
	}
	return pos
}

// expectOf asserts the events of the given kinds ("offer cancel agent" …).
func (h *harness) expectOf(kinds string, want ...string) {
	h.t.Helper()
	var prefixes []string
	for _, k := range strings.Fields(kinds) {
		prefixes = append(prefixes, k+" ")
	}
	got := h.take(prefixes...)
	if !slices.Equal(got, want) {
		h.t.Fatalf("%s events:\n got  %q\n want %q", kinds, got, want)
	}
}

func (n *Callbacks) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}
