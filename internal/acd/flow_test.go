package acd

import (
	"errors"
	"testing"
	"time"
)

func TestAbandonWaiting(t *testing.T) {
	h := newHarness(t, q1)
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.take()
	h.clk.Advance(10 * time.Second)
	if !h.acd.Remove("s1") {
		t.Fatal("Remove(s1) = false")
	}
	h.expect("pos s2 sales 1 1m0s")
	if h.acd.Remove("s1") {
		t.Error("second Remove(s1) = true")
	}
	q := h.queue("sales")
	if q.Abandoned != 1 || q.Waiting != 1 || q.LongestWait != 10*time.Second {
		t.Errorf("queue = %+v", q)
	}
}

func TestAbandonRinging(t *testing.T) {
	h := newHarness(t, q1)
	h.loginReady([]string{"sales"}, "a1", "a2")
	h.enqueue("s1", "sales", 0)
	h.expectOf("offer", "offer a1 s1 sales")
	h.clk.Advance(5 * time.Second)
	if !h.acd.Remove("s1") {
		t.Fatal("Remove(s1) = false")
	}
	h.expectOf("cancel agent", "cancel a1 s1 abandoned", "agent a1 ready")
	// a1 did nothing wrong: it keeps its place as the longest idle agent,
	// and its ring timer is gone.
	h.enqueue("s2", "sales", 0)
	h.expectOf("offer", "offer a1 s2 sales")
	h.clk.Advance(DefaultRingTimeout - time.Second)
	h.expectOf("cancel")
	if err := h.acd.Accept("a1", "s1"); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("Accept of abandoned session: %v", err)
	}
}

func TestOverflowAfterMaxWait(t *testing.T) {
	h := newHarness(t, QueueConfig{Name: "sales", MaxWait: 30 * time.Second, Overflow: "sip:vm@pbx", RingTimeout: time.Minute})
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	h.enqueue("s1", "sales", 0)
	h.clk.Advance(29 * time.Second)
	h.enqueue("s2", "sales", 0)
	h.must(h.acd.SetReady("a1", true)) // rings for s1 (ring timeout 1 min)
	h.take()
	h.clk.Advance(time.Second)
	h.expectOf("cancel overflow offer agent pos", "cancel a1 s1 overflow", "agent a1 ready", "overflow s1 sales sip:vm@pbx",
		"offer a1 s2 sales", "agent a1 ringing", "pos s2 sales 1 1m0s")
	if _, _, _, ok := h.acd.Position("s1"); ok {
		t.Error("s1 still queued")
	}
	h.clk.Advance(29 * time.Second)
	h.expectOf("overflow cancel", "cancel a1 s2 overflow", "overflow s2 sales sip:vm@pbx")
	if q := h.queue("sales"); q.Overflowed != 2 || q.Waiting != 0 {
		t.Errorf("queue = %+v", q)
	}
}

func TestOverflowWhenNoAgent(t *testing.T) {
	h := newHarness(t,
		QueueConfig{Name: "sales", Overflow: "sip:other@pbx"},
		QueueConfig{Name: "patient", MaxWait: time.Second}) // no Overflow: MaxWait ignored
	pos, err := h.acd.Enqueue("s1", "sales", 0)
	if err != nil || pos != 0 {
		t.Fatalf("Enqueue = %d, %v; want 0, nil", pos, err)
	}
	h.expect("overflow s1 sales sip:other@pbx")
	if h.enqueue("s2", "patient", 0) != 1 {
		t.Error("patient queue did not queue")
	}
	h.clk.Advance(time.Hour)
	h.expectOf("overflow")
	if p := h.position("s2"); p != 1 {
		t.Errorf("s2 position = %d", p)
	}
	// A logged-in agent, even paused, keeps sessions queued.
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	if h.enqueue("s3", "sales", 0) != 1 {
		t.Error("s3 overflowed with an agent logged in")
	}
}

func TestWrapUp(t *testing.T) {
	h := newHarness(t, QueueConfig{Name: "sales", WrapUp: 30 * time.Second})
	h.loginReady([]string{"sales"}, "a1")
	h.take()
	h.enqueue("s1", "sales", 0)
	h.must(h.acd.Accept("a1", "s1"))
	h.clk.Advance(10 * time.Second)
	h.must(h.acd.CallEnded("a1"))
	h.enqueue("s2", "sales", 0)
	h.expectOf("agent offer", "offer a1 s1 sales", "agent a1 ringing", "agent a1 busy", "agent a1 wrap_up")
	if got := h.agent("a1"); got.Session != "s1" {
		t.Errorf("session during wrap-up = %q", got.Session)
	}
	h.clk.Advance(30*time.Second - time.Millisecond)
	h.expectOf("agent offer")
	h.clk.Advance(time.Millisecond)
	h.expectOf("agent offer", "agent a1 ready", "offer a1 s2 sales", "agent a1 ringing")
	if got := h.queue("sales").AvgHandle; got != 40*time.Second {
		t.Errorf("AvgHandle = %v, want 40s", got)
	}

	// Second call: the agent ends wrap-up early.
	h.must(h.acd.Accept("a1", "s2"))
	h.clk.Advance(20 * time.Second)
	h.must(h.acd.CallEnded("a1"))
	h.clk.Advance(5 * time.Second)
	h.must(h.acd.SetReady("a1", true))
	h.expectOf("agent", "agent a1 busy", "agent a1 wrap_up", "agent a1 ready")
	h.clk.Advance(time.Minute) // the stopped wrap-up timer does not fire
	h.expectOf("agent")
	if got := h.queue("sales").AvgHandle; got != (40*time.Second+25*time.Second)/2 {
		t.Errorf("AvgHandle = %v, want 32.5s", got)
	}
	if got := h.agent("a1").Handled; got != 2 {
		t.Errorf("Handled = %d", got)
	}
}

func TestPauseDuringCall(t *testing.T) {
	h := newHarness(t, q1)
	h.loginReady([]string{"sales"}, "a1")
	h.enqueue("s1", "sales", 0)
	h.must(h.acd.Accept("a1", "s1"))
	h.must(h.acd.SetReady("a1", false))
	if st := h.state("a1"); st != StateBusy {
		t.Fatalf("a1 = %s, want busy", st)
	}
	h.must(h.acd.CallEnded("a1"))
	if st := h.state("a1"); st != StateNotReady {
		t.Errorf("after call a1 = %s, want not_ready", st)
	}
}

func TestLogoutWhileBusy(t *testing.T) {
	h := newHarness(t, QueueConfig{Name: "sales", WrapUp: time.Minute})
	h.loginReady([]string{"sales"}, "a1")
	h.enqueue("s1", "sales", 0)
	h.must(h.acd.Accept("a1", "s1"))
	h.take()
	h.must(h.acd.Logout("a1"))
	h.expectOf("agent")
	if st := h.state("a1"); st != StateBusy {
		t.Fatalf("a1 = %s, want busy until the call ends", st)
	}
	if q := h.queue("sales"); q.LoggedIn != 1 || q.Busy != 1 {
		t.Errorf("queue during call = %+v", q)
	}
	h.must(h.acd.CallEnded("a1"))
	h.expectOf("agent", "agent a1 logged_out") // no wrap-up
	if q := h.queue("sales"); q.LoggedIn != 0 {
		t.Errorf("LoggedIn = %d", q.LoggedIn)
	}
	// Logging in again keeps the history.
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	if a := h.agent("a1"); a.State != StateNotReady || a.Handled != 1 {
		t.Errorf("after re-login = %+v", a)
	}
}

func TestLogoutWhileRinging(t *testing.T) {
	h := newHarness(t, q1)
	h.loginReady([]string{"sales"}, "a1", "a2")
	h.enqueue("s1", "sales", 0)
	h.take()
	h.must(h.acd.Logout("a1"))
	h.expectOf("offer cancel agent", "cancel a1 s1 logout", "agent a1 logged_out", "offer a2 s1 sales", "agent a2 ringing")
}

func TestNotReadyWhileRinging(t *testing.T) {
	h := newHarness(t, q1)
	h.loginReady([]string{"sales"}, "a1", "a2")
	h.enqueue("s1", "sales", 0)
	h.take()
	h.must(h.acd.SetReady("a1", false))
	h.expectOf("offer cancel", "cancel a1 s1 not_ready", "offer a2 s1 sales")
}

func TestPositionNotifications(t *testing.T) {
	h := newHarness(t, q1)
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	h.must(h.acd.Login("a2", "", []string{"sales"}))
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.enqueue("s3", "sales", 0)
	// AHT 60 s (default), N = 2 agents.
	h.expectOf("pos", "pos s1 sales 1 30s", "pos s2 sales 2 1m0s", "pos s3 sales 3 1m30s")

	h.must(h.acd.SetReady("a1", true))
	// s1 rings: its position stays; those behind it are expected to wait
	// one turn less.
	h.expectOf("pos", "pos s2 sales 2 30s", "pos s3 sales 3 1m0s")
	h.must(h.acd.Accept("a1", "s1"))
	h.expectOf("pos", "pos s2 sales 1 30s", "pos s3 sales 2 1m0s")

	// Unrelated changes send nothing.
	h.clk.Advance(time.Minute)
	h.acd.Queues()
	h.enqueue("s4", "sales", 0)
	h.expectOf("pos", "pos s4 sales 3 1m30s")
	h.must(h.acd.CallEnded("a1"))                                  // a 1-minute call (AHT unchanged); a1 takes s2 at once
	h.expectOf("pos", "pos s3 sales 2 30s", "pos s4 sales 3 1m0s") // s2 rings: one turn less
	h.must(h.acd.Accept("a1", "s2"))
	h.expectOf("pos", "pos s3 sales 1 30s", "pos s4 sales 2 1m0s")
	if q, pos, ewt, ok := h.acd.Position("s4"); !ok || q != "sales" || pos != 2 || ewt != time.Minute {
		t.Errorf("Position(s4) = %q %d %v %v", q, pos, ewt, ok)
	}
}

func TestEWT(t *testing.T) {
	h := newHarness(t, q1)
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	var last time.Duration
	for i, sid := range []string{"s1", "s2", "s3", "s4"} {
		h.enqueue(sid, "sales", 0)
		_, pos, ewt, _ := h.acd.Position(sid)
		if pos != i+1 || ewt <= last {
			t.Errorf("%s: position %d, EWT %v; want growing EWT (last %v)", sid, pos, ewt, last)
		}
		last = ewt
	}
	if got := h.queue("sales").EWT; got != 5*time.Minute {
		t.Errorf("new-caller EWT with 1 agent = %v, want 5m", got)
	}
	one := ewtOf(h, "s4")
	h.must(h.acd.Login("a2", "", []string{"sales"}))
	two := ewtOf(h, "s4")
	h.must(h.acd.Login("a3", "", []string{"sales"}))
	three := ewtOf(h, "s4")
	if !(one > two && two > three) || three != 80*time.Second {
		t.Errorf("EWT of 4th caller with 1,2,3 agents = %v, %v, %v; want shrinking to 1m20s", one, two, three)
	}
	// s4 was told about the changes.
	h.expectOf("pos", "pos s1 sales 1 1m0s", "pos s2 sales 2 2m0s", "pos s3 sales 3 3m0s", "pos s4 sales 4 4m0s",
		"pos s1 sales 1 30s", "pos s2 sales 2 1m0s", "pos s3 sales 3 1m30s", "pos s4 sales 4 2m0s",
		"pos s1 sales 1 20s", "pos s2 sales 2 40s", "pos s3 sales 3 1m0s", "pos s4 sales 4 1m20s")

	// History replaces the default: one call of 3 minutes.
	h.must(h.acd.SetReady("a1", true))
	h.must(h.acd.Accept("a1", "s1"))
	h.clk.Advance(3 * time.Minute)
	h.must(h.acd.CallEnded("a1"))
	h.must(h.acd.Accept("a1", "s2"))
	if got := ewtOf(h, "s3"); got != time.Minute { // k=1, AHT 3m, N=3
		t.Errorf("EWT with history = %v, want 1m", got)
	}
	if got := h.queue("sales"); got.AvgWait != (0+3*time.Minute)/2 || got.AvgHandle != 3*time.Minute {
		t.Errorf("averages = %v wait, %v handle", got.AvgWait, got.AvgHandle)
	}
	// Both others ring (for s3, s4): a new caller waits for the first
	// agent to become free; a ready agent means no wait.
	h.must(h.acd.SetReady("a2", true))
	h.must(h.acd.SetReady("a3", true))
	if got := h.queue("sales").EWT; got != time.Minute {
		t.Errorf("EWT with all agents busy or ringing = %v, want 1m", got)
	}
	h.loginReady([]string{"sales"}, "a4")
	if got := h.queue("sales").EWT; got != 0 {
		t.Errorf("EWT with ready agents = %v", got)
	}
}

func ewtOf(h *harness, sid string) time.Duration {
	h.t.Helper()
	_, _, ewt, ok := h.acd.Position(sid)
	if !ok {
		h.t.Fatalf("%s not queued", sid)
	}
	return ewt
}

func TestTransfer(t *testing.T) {
	h := newHarness(t,
		QueueConfig{Name: "sales", WrapUp: 10 * time.Second},
		QueueConfig{Name: "support"},
		QueueConfig{Name: "billing", Overflow: "sip:billing@pbx"})
	h.loginReady([]string{"sales"}, "a1")
	h.must(h.acd.Login("b1", "", []string{"support"}))
	h.enqueue("s1", "sales", 3)
	h.must(h.acd.Accept("a1", "s1"))
	h.enqueue("w1", "support", 9)
	h.enqueue("w2", "support", 0)
	h.take()

	if _, err := h.acd.Transfer("s1", "a1", "nope"); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Transfer to unknown queue: %v", err)
	}
	if _, err := h.acd.Transfer("w1", "a1", "support"); !errors.Is(err, ErrNotInCall) {
		t.Errorf("Transfer of another session: %v", err)
	}
	pos, err := h.acd.Transfer("s1", "a1", "support")
	if err != nil || pos != 1 {
		t.Fatalf("Transfer = %d, %v; want front of the queue", pos, err)
	}
	h.expectOf("agent pos", "agent a1 wrap_up", "pos s1 support 1 1m0s", "pos w1 support 2 2m0s", "pos w2 support 3 3m0s")
	h.must(h.acd.SetReady("b1", true))
	h.expectOf("offer", "offer b1 s1 support")
	h.must(h.acd.Accept("b1", "s1"))

	// To a queue nobody serves, with an overflow target: overflow at once.
	pos, err = h.acd.Transfer("s1", "b1", "billing")
	if err != nil || pos != 0 {
		t.Fatalf("Transfer to empty queue = %d, %v", pos, err)
	}
	h.expectOf("overflow", "overflow s1 billing sip:billing@pbx")
}

func TestOfferTo(t *testing.T) {
	h := newHarness(t, QueueConfig{Name: "sales", RingTimeout: 10 * time.Second}, QueueConfig{Name: "vip"})
	h.must(h.acd.Login("a1", "", []string{"sales"}))
	h.loginReady([]string{"vip"}, "v1", "v2")
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.take()

	// A waiting session to an agent of another queue.
	h.must(h.acd.OfferTo("s2", "v1"))
	h.expectOf("offer", "offer v1 s2 sales")
	if err := h.acd.OfferTo("s2", "v2"); !errors.Is(err, ErrAlreadyOffered) {
		t.Errorf("OfferTo of a ringing session: %v", err)
	}
	if err := h.acd.OfferTo("s1", "v1"); !errors.Is(err, ErrAgentNotReady) {
		t.Errorf("OfferTo a ringing agent: %v", err)
	}
	if err := h.acd.OfferTo("nope", "v2"); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("OfferTo unknown session: %v", err)
	}
	h.must(h.acd.Accept("v1", "s2"))

	// A call in progress, agent to agent: v1 is done with it, v2 rings.
	h.must(h.acd.OfferTo("s2", "v2"))
	h.expectOf("offer agent", "agent v1 busy", "agent v1 ready", "offer v2 s2 sales", "agent v2 ringing")
	if p := h.position("s2"); p != 1 {
		t.Errorf("s2 position = %d, want 1 (front of sales)", p)
	}
	// v2 misses it: s2 waits at the front of sales, for a sales agent.
	h.clk.Advance(10 * time.Second)
	h.expectOf("cancel offer", "cancel v2 s2 timeout")
	h.must(h.acd.SetReady("a1", true))
	h.expectOf("offer", "offer a1 s2 sales")
}

func TestTransferWithoutWrapUpMayReturn(t *testing.T) {
	// With no wrap-up the transferring agent is ready at once and, being
	// the only ready agent of the queue, is offered the session again.
	h := newHarness(t, q1)
	h.loginReady([]string{"sales"}, "a1")
	h.enqueue("s1", "sales", 0)
	h.must(h.acd.Accept("a1", "s1"))
	h.take()
	if _, err := h.acd.Transfer("s1", "a1", "sales"); err != nil {
		t.Fatal(err)
	}
	h.expectOf("offer", "offer a1 s1 sales")
}
