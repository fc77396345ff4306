package acd

import (
	"errors"
	"testing"
	"time"
)

var q1 = QueueConfig{Name: "sales"}

func TestNewValidates(t *testing.T) {
	rec := &recorder{}
	for name, qs := range map[string][]QueueConfig{
		"empty name": {{Name: ""}},
		"duplicate":  {{Name: "a"}, {Name: "a"}},
		"negative":   {{Name: "a", MaxWait: -1}},
	} {
		if _, err := New(qs, rec); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := New(nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil dispatcher: err = %v", err)
	}
	if _, err := New(nil, rec, WithClock(nil)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil clock: err = %v", err)
	}
	a, err := New([]QueueConfig{q1}, rec)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if a.queues["sales"].cfg.RingTimeout != DefaultRingTimeout {
		t.Errorf("RingTimeout default not applied")
	}
}

func TestErrors(t *testing.T) {
	h := newHarness(t, q1)
	a := h.acd
	if err := a.Login("a1", "", []string{"nope"}); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Login unknown queue: %v", err)
	}
	if _, err := a.Enqueue("s1", "nope", 0); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Enqueue unknown queue: %v", err)
	}
	h.enqueue("s1", "sales", 0)
	if _, err := a.Enqueue("s1", "sales", 0); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Enqueue duplicate: %v", err)
	}
	if err := a.SetReady("ghost", true); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("SetReady unknown: %v", err)
	}
	h.must(a.Login("a1", "", []string{"sales"}))
	if err := a.Login("a1", "", []string{"sales"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Login twice: %v", err)
	}
	if err := a.Accept("a1", "s1"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("Accept unoffered: %v", err)
	}
	if err := a.Accept("a1", "s9"); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("Accept unknown session: %v", err)
	}
	if err := a.CallEnded("a1"); !errors.Is(err, ErrNotInCall) {
		t.Errorf("CallEnded not busy: %v", err)
	}
	if err := a.OfferTo("s1", "a1"); !errors.Is(err, ErrAgentNotReady) {
		t.Errorf("OfferTo not ready: %v", err)
	}
	h.must(a.Logout("a1"))
	h.must(a.Logout("a1")) // idempotent
	if err := a.SetReady("a1", true); !errors.Is(err, ErrLoggedOut) {
		t.Errorf("SetReady logged out: %v", err)
	}
	if a.Remove("s9") {
		t.Error("Remove unknown = true")
	}
}

func TestLongestIdleFirst(t *testing.T) {
	h := newHarness(t, q1)
	sales := []string{"sales"}
	// Ready order: a2, a3, a1 (one second apart).
	for _, id := range []string{"a1", "a2", "a3"} {
		h.must(h.acd.Login(id, id, sales))
	}
	for _, id := range []string{"a2", "a3", "a1"} {
		h.must(h.acd.SetReady(id, true))
		h.clk.Advance(time.Second)
	}
	h.take()
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.enqueue("s3", "sales", 0)
	h.expect("offer a2 s1 sales", "offer a3 s2 sales", "offer a1 s3 sales")

	h.must(h.acd.Accept("a2", "s1"))
	h.must(h.acd.Accept("a3", "s2"))
	h.must(h.acd.Accept("a1", "s3"))
	// Calls end in the order a1, a3, a2: now a1 has been idle longest.
	for _, id := range []string{"a1", "a3", "a2"} {
		h.clk.Advance(time.Second)
		h.must(h.acd.CallEnded(id))
	}
	h.take()
	h.enqueue("s4", "sales", 0)
	h.enqueue("s5", "sales", 0)
	h.expect("offer a1 s4 sales", "offer a3 s5 sales")
	if got := h.agent("a2").Handled; got != 1 {
		t.Errorf("a2 handled = %d, want 1", got)
	}
}

func TestMultiQueueAgent(t *testing.T) {
	h := newHarness(t, QueueConfig{Name: "sales"}, QueueConfig{Name: "support"})
	h.must(h.acd.Login("both", "", []string{"sales", "support"}))
	h.must(h.acd.Login("s-only", "", []string{"sales"}))
	h.must(h.acd.SetReady("both", true))
	h.clk.Advance(time.Second)
	h.must(h.acd.SetReady("s-only", true))
	h.take()

	// Support has only "both"; sales falls to "s-only".
	h.enqueue("c1", "support", 0)
	h.enqueue("c2", "sales", 0)
	h.expect("offer both c1 support", "offer s-only c2 sales")
	h.must(h.acd.Decline("both", "c1"))
	h.must(h.acd.Decline("s-only", "c2"))

	// With "both" paused, one call waits in each queue; the earlier one
	// (sales) goes first once "both" is ready, whichever queue it is in.
	h.take()
	h.must(h.acd.SetReady("both", true))
	h.expect("offer both c1 support")
	h.must(h.acd.Decline("both", "c1"))

	// Priority beats arrival across queues too.
	h.enqueue("c3", "support", 5)
	h.must(h.acd.SetReady("both", true))
	h.expect("offer both c3 support")
	if got := h.agent("both").Queues; len(got) != 2 || got[0] != "sales" || got[1] != "support" {
		t.Errorf("queues = %v", got)
	}
}

func TestPriorityOrder(t *testing.T) {
	h := newHarness(t, q1)
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	for _, c := range []struct {
		sid       string
		prio, pos int
	}{{"s1", 0, 1}, {"s2", 5, 1}, {"s3", 0, 3}, {"s4", 5, 2}, {"s5", 9, 1}} {
		if got := h.enqueue(c.sid, "sales", c.prio); got != c.pos {
			t.Errorf("Enqueue(%s, prio %d) position = %d, want %d", c.sid, c.prio, got, c.pos)
		}
	}
	for sid, want := range map[string]int{"s5": 1, "s2": 2, "s4": 3, "s1": 4, "s3": 5} {
		if got := h.position(sid); got != want {
			t.Errorf("position(%s) = %d, want %d", sid, got, want)
		}
	}
	h.take()
	h.must(h.acd.SetReady("a1", true))
	for _, sid := range []string{"s5", "s2", "s4", "s1", "s3"} {
		h.expect("offer a1 " + sid + " sales")
		h.must(h.acd.Accept("a1", sid))
		h.must(h.acd.CallEnded("a1"))
	}
}

func TestRingTimeout(t *testing.T) {
	h := newHarness(t, QueueConfig{Name: "sales", RingTimeout: 15 * time.Second})
	h.loginReady([]string{"sales"}, "a1", "a2")
	h.take()
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.expect("offer a1 s1 sales", "offer a2 s2 sales")
	h.must(h.acd.Accept("a2", "s2"))
	h.take()

	h.clk.Advance(15*time.Second - time.Millisecond)
	h.expect() // nothing yet
	h.clk.Advance(time.Millisecond)
	h.expect("cancel a1 s1 timeout", "agent a1 not_ready")
	if st := h.state("a1"); st != StateNotReady {
		t.Fatalf("a1 = %s, want not_ready", st)
	}
	if err := h.acd.Accept("a1", "s1"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("late Accept: %v", err)
	}

	// s1 waits at the front: a later caller does not pass it, and the
	// next agent gets s1.
	h.enqueue("s3", "sales", 0)
	if p := h.position("s1"); p != 1 {
		t.Errorf("s1 position = %d, want 1", p)
	}
	h.loginReady([]string{"sales"}, "a3")
	h.expect("offer a3 s1 sales")
	h.clk.Advance(15 * time.Second)
	h.expect("cancel a3 s1 timeout")
	h.must(h.acd.CallEnded("a2")) // a2 ready again: gets s1, not s3
	h.expect("offer a2 s1 sales")
}

func TestDecline(t *testing.T) {
	h := newHarness(t, q1)
	h.loginReady([]string{"sales"}, "a1")
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.expect("offer a1 s1 sales")
	if err := h.acd.Decline("a1", "s2"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("Decline of unoffered: %v", err)
	}
	h.must(h.acd.Decline("a1", "s1"))
	// No CancelOffer, no new offer: nobody is ready.
	h.expectOf("offer cancel agent", "agent a1 not_ready")
	if st := h.state("a1"); st != StateNotReady {
		t.Errorf("a1 = %s, want not_ready", st)
	}
	h.loginReady([]string{"sales"}, "a2")
	h.expect("offer a2 s1 sales") // s1 kept its place at the front
	if p := h.position("s1"); p != 1 {
		t.Errorf("s1 position = %d", p)
	}
	// The ring timer of the declined offer is gone.
	h.must(h.acd.Accept("a2", "s1"))
	h.clk.Advance(time.Minute)
	h.expectOf("cancel")
}
