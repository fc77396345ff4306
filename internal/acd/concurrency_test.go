package acd

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A dispatcher that calls back into the ACD from inside its callbacks must
// not deadlock, and sees the callbacks that its calls cause after the
// current one, in order.
func TestReentrantDispatcher(t *testing.T) {
	h := newHarness(t, q1)
	var acceptErr error
	h.rec.onOffer = func(agentID, sessionID, _ string) {
		acceptErr = h.acd.Accept(agentID, sessionID) // auto-answer
	}
	h.rec.onAgent = func(AgentStatus) { h.acd.Queues(); h.acd.Agents() }

	done := make(chan struct{})
	go func() {
		defer close(done)
		h.loginReady([]string{"sales"}, "a1")
		h.enqueue("s1", "sales", 0)
		h.acd.out.Flush()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: a re-entrant dispatcher blocked the ACD")
	}
	if acceptErr != nil {
		t.Fatalf("Accept from Offer: %v", acceptErr)
	}
	h.expect("agent a1 not_ready", "agent a1 ready", "offer a1 s1 sales", "agent a1 ringing", "pos s1 sales 1 1m0s", "agent a1 busy")
	if st := h.state("a1"); st != StateBusy {
		t.Errorf("a1 = %s", st)
	}
}

// Callbacks from many goroutines arrive one at a time and, per session, in
// the order of the state changes.
func TestCallbacksSerialized(t *testing.T) {
	var (
		mu     sync.Mutex
		inside int
		bad    bool
	)
	rec := &recorder{}
	rec.onAgent = func(AgentStatus) {
		mu.Lock()
		inside++
		if inside > 1 {
			bad = true
		}
		mu.Unlock()
		runtime.Gosched()
		mu.Lock()
		inside--
		mu.Unlock()
	}
	a, err := New([]QueueConfig{q1}, rec, WithClock(newFakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := string(rune('a' + i))
			for range 50 {
				_ = a.Login(id, "", []string{"sales"})
				_ = a.SetReady(id, true)
				_ = a.Logout(id)
			}
		})
	}
	wg.Wait()
	a.out.Flush()
	if bad {
		t.Fatal("two callbacks ran at once")
	}
	// Per agent the states cycle in order.
	next := map[string]string{}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	cycle := map[string]string{"": "not_ready", "not_ready": "ready", "ready": "logged_out", "logged_out": "not_ready"}
	for _, e := range rec.events {
		var id, st string
		if _, err := fmt.Sscan(e, new(string), &id, &st); err != nil {
			t.Fatal(err)
		}
		if want := cycle[next[id]]; st != want {
			t.Fatalf("agent %s: got %s after %q, want %s", id, st, next[id], want)
		}
		next[id] = st
	}
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t, QueueConfig{Name: "sales", WrapUp: time.Minute, MaxWait: time.Minute, Overflow: "sip:x"})
	h.loginReady([]string{"sales"}, "a1", "a2")
	h.enqueue("s1", "sales", 0)
	h.enqueue("s2", "sales", 0)
	h.enqueue("s3", "sales", 0)
	h.must(h.acd.Accept("a2", "s2"))
	h.must(h.acd.CallEnded("a2")) // wrap-up timer
	h.take()
	if h.clk.pending() == 0 {
		t.Fatal("no timers running before Close")
	}
	h.acd.Close()
	h.acd.Close() // idempotent
	select {
	case <-h.acd.out.done:
	default:
		t.Fatal("callback goroutine still running after Close")
	}
	if n := h.clk.pending(); n != 0 {
		t.Errorf("%d timers still pending after Close", n)
	}
	h.clk.Advance(time.Hour)
	h.rec.mu.Lock()
	n := len(h.rec.events)
	h.rec.mu.Unlock()
	if n != 0 {
		t.Errorf("callbacks after Close: %q", h.rec.events)
	}
	if _, err := h.acd.Enqueue("s4", "sales", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if err := h.acd.Accept("a1", "s1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if h.acd.Remove("s3") {
		t.Error("Remove after Close = true")
	}
	waitGoroutines(t, before)
}

// Close while a callback runs waits for it and drops the rest.
func TestCloseDuringCallback(t *testing.T) {
	h := newHarness(t, q1)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.rec.onAgent = func(AgentStatus) {
		once.Do(func() { // only the first callback blocks
			close(entered)
			<-release
		})
	}
	h.must(h.acd.Login("a1", "", []string{"sales"})) // blocks the callback goroutine
	<-entered
	h.must(h.acd.SetReady("a1", true)) // queued behind it
	closed := make(chan struct{})
	go func() { h.acd.Close(); close(closed) }()
	for !h.acd.out.isClosed() { // Close has begun
		runtime.Gosched()
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a callback was running")
	default:
	}
	close(release)
	<-closed
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if len(h.rec.events) != 1 {
		t.Errorf("events = %q, want only the first", h.rec.events)
	}
}

// With the system clock, ring timeouts fire on their own.
func TestSystemClock(t *testing.T) {
	before := runtime.NumGoroutine()
	cancelled := make(chan string, 1)
	rec := &cancelRecorder{recorder: &recorder{}, ch: cancelled}
	a, err := New([]QueueConfig{{Name: "sales", RingTimeout: 5 * time.Millisecond}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Login("a1", "", []string{"sales"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetReady("a1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Enqueue("s1", "sales", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-cancelled:
		if reason != "timeout" {
			t.Errorf("reason = %q", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ring timeout did not fire")
	}
	a.Close()
	waitGoroutines(t, before)
}

type cancelRecorder struct {
	*recorder
	ch chan string
}

func (r *cancelRecorder) CancelOffer(agentID, sessionID, reason string) {
	r.recorder.CancelOffer(agentID, sessionID, reason)
	r.ch <- reason
}

// waitGoroutines fails if the goroutine count does not drop back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, want ≤ %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}
