package session

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/leg"
)

// fakeEP is an endpoint whose tracks capture what the session sends them.
type fakeEP struct {
	audio, video *leg.Track
	done         chan struct{}
	once         sync.Once

	mu        sync.Mutex
	gotAudio  [][]byte
	gotVideo  [][]byte
	keyframes int
	closed    int
}

func newFakeEP(video bool) *fakeEP {
	ep := &fakeEP{done: make(chan struct{})}
	pcmu := leg.Codec{PT: 0, Name: "PCMU", Clock: 8000, Channels: 1}
	ep.audio = leg.NewTrack("audio", pcmu, leg.Codec{}, leg.WriterFunc(func(p []byte) error {
		ep.mu.Lock()
		ep.gotAudio = append(ep.gotAudio, append([]byte(nil), p...))
		ep.mu.Unlock()
		return nil
	}))
	ep.audio.SetRecv([]leg.Codec{pcmu})
	if video {
		vp8 := leg.Codec{PT: 96, Name: "VP8", Clock: 90000}
		ep.video = leg.NewTrack("video", vp8, leg.Codec{}, leg.WriterFunc(func(p []byte) error {
			ep.mu.Lock()
			ep.gotVideo = append(ep.gotVideo, append([]byte(nil), p...))
			ep.mu.Unlock()
			return nil
		}))
		ep.video.SetRecv([]leg.Codec{vp8})
		ep.video.SetKeyframeRequester(func() { ep.mu.Lock(); ep.keyframes++; ep.mu.Unlock() })
	}
	return ep
}

func (e *fakeEP) Kind() leg.Kind        { return leg.KindWebRTC }
func (e *fakeEP) Audio() *leg.Track     { return e.audio }
func (e *fakeEP) Video() *leg.Track     { return e.video }
func (e *fakeEP) Done() <-chan struct{} { return e.done }
func (e *fakeEP) Close(int, string) {
	e.mu.Lock()
	e.closed++
	e.mu.Unlock()
	e.once.Do(func() { close(e.done) })
}

func (e *fakeEP) counts() (a, v, k int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.gotAudio), len(e.gotVideo), e.keyframes
}

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32) []byte {
	p := make([]byte, 12+160)
	p[0] = 0x80
	p[1] = pt
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	return p
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) SessionEvent(_ *Info, e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

func TestSessionMediaFollowsTheAgent(t *testing.T) {
	rec := &recorder{}
	s := New(Options{Mode: ModeForward, Entry: "web", Observer: rec, Customer: Customer{Name: "Ana"}})
	cust, a1, a2 := newFakeEP(true), newFakeEP(true), newFakeEP(true)
	mustDo(t, s, func() error { return s.AddLeg(&Leg{ID: "c", Role: RoleCustomer, EP: cust}) })
	mustDo(t, s, func() error { return s.AddLeg(&Leg{ID: "a1", Role: RoleAgent, Party: "agent1", EP: a1}) })
	mustDo(t, s, func() error { return s.SetState(StateActive, nil) })

	// audio both ways, video both ways
	_ = cust.audio.Deliver(rtpPacket(0, 1, 160, 1))
	_ = a1.audio.Deliver(rtpPacket(0, 1, 160, 2))
	for i := 0; i < 5; i++ {
		_ = cust.video.Deliver(rtpPacket(96, uint16(100+i), uint32(3000*i), 11))
		_ = a1.video.Deliver(rtpPacket(96, uint16(500+i), uint32(9000*i), 12))
	}
	if n, _, _ := a1.counts(); n != 1 {
		t.Fatalf("agent got %d audio packets, want 1", n)
	}
	if n, _, _ := cust.counts(); n != 1 {
		t.Fatalf("customer got %d audio packets, want 1", n)
	}
	_, cv, _ := cust.counts()
	_, av, ak := a1.counts()
	if cv != 5 || av != 5 {
		t.Fatalf("video: customer got %d, agent got %d; want 5 each", cv, av)
	}
	if ak == 0 {
		t.Fatal("no keyframe requested from the agent when its video was routed")
	}

	// Transfer: agent 2 joins, agent 1 leaves. The customer's incoming video
	// continues from agent 2 with continuous sequence numbers.
	mustDo(t, s, func() error { return s.AddLeg(&Leg{ID: "a2", Role: RoleAgent, Party: "agent2", EP: a2}) })
	mustDo(t, s, func() error { return s.RemoveLeg("a1", 200, "transferred") })
	for i := 0; i < 3; i++ {
		_ = a2.video.Deliver(rtpPacket(96, uint16(40000+i), uint32(123456+3000*i), 13))
		_ = a1.video.Deliver(rtpPacket(96, uint16(600+i), 0, 12)) // stale: must not reach the customer
	}
	cust.mu.Lock()
	got := cust.gotVideo
	cust.mu.Unlock()
	if len(got) != 8 {
		t.Fatalf("customer got %d video packets after the transfer, want 8", len(got))
	}
	for i := 1; i < len(got); i++ {
		prev, cur := binary.BigEndian.Uint16(got[i-1][2:]), binary.BigEndian.Uint16(got[i][2:])
		if cur != prev+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d: the browser would see loss", prev, cur, i)
		}
	}
	if a1.closed != 1 {
		t.Fatalf("agent 1 closed %d times, want 1", a1.closed)
	}
	// the customer's video now reaches agent 2, not agent 1
	_ = cust.video.Deliver(rtpPacket(96, 200, 0, 11))
	if _, v, _ := a2.counts(); v != 1 {
		t.Fatalf("agent 2 got %d customer video packets, want 1", v)
	}

	// hold pauses media to and from the customer
	s.Call(func() { s.SetHeld(true) })
	_ = a2.audio.Deliver(rtpPacket(0, 2, 320, 2))
	if n, _, _ := cust.counts(); n != 1 {
		t.Fatalf("held customer received audio (%d packets)", n)
	}
	s.Call(func() { s.SetHeld(false) })
	_ = a2.audio.Deliver(rtpPacket(0, 3, 480, 2))
	if n, _, _ := cust.counts(); n != 2 {
		t.Fatalf("resumed customer got %d audio packets, want 2", n)
	}

	s.Call(func() { s.End(200, "done") })
	<-s.Stopped()
	if cust.closed != 1 || a2.closed != 1 {
		t.Fatalf("legs not closed at the end: customer %d, agent2 %d", cust.closed, a2.closed)
	}
	in := s.Info()
	if in.State != StateEnded || in.Cause != "done" || in.EndedAt == nil || in.AnsweredAt == nil || len(in.Legs) != 0 {
		t.Fatalf("final snapshot wrong: %+v", in)
	}
	types := rec.types()
	want := []string{"session.created", "leg.joined", "leg.joined", "session.state", "leg.joined", "leg.left", "session.held", "session.resumed", "leg.left", "leg.left", "session.ended"}
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
}

func TestLegGoneRunsPolicy(t *testing.T) {
	s := New(Options{})
	c, a := newFakeEP(false), newFakeEP(false)
	gone := make(chan string, 2)
	s.Call(func() {
		s.OnLegGone(func(l *Leg, _ int, _ string) { gone <- l.ID })
		_ = s.AddLeg(&Leg{ID: "c", Role: RoleCustomer, EP: c})
		_ = s.AddLeg(&Leg{ID: "a", Role: RoleAgent, EP: a})
	})
	a.Close(0, "") // the transport ends by itself
	select {
	case id := <-gone:
		if id != "a" {
			t.Fatalf("policy got leg %q", id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("leg end not noticed")
	}
	if n := len(s.Info().Legs); n != 1 {
		t.Fatalf("%d legs after one left, want 1", n)
	}
	s.Call(func() { s.End(200, "") })
	<-s.Stopped()
	if s.Do(func() {}) {
		t.Fatal("Do succeeded on a stopped session")
	}
}

func TestStateMachine(t *testing.T) {
	s := New(Options{})
	defer func() { s.Call(func() { s.End(200, "") }) }()
	var errs []error
	s.Call(func() {
		errs = append(errs, s.SetState(StateWaiting, nil), s.SetState(StateRinging, nil), s.SetState(StateWaiting, nil),
			s.SetState(StateActive, nil), s.SetState(StateCreated, nil), s.SetState(StateEnded, nil))
		errs = append(errs, s.AddLeg(&Leg{ID: ""}))
	})
	for i, wantErr := range []bool{false, false, false, false, true, true, true} {
		if (errs[i] != nil) != wantErr {
			t.Fatalf("step %d: err %v, want error %v", i, errs[i], wantErr)
		}
	}
}

func mustDo(t *testing.T, s *Session, f func() error) {
	t.Helper()
	var err error
	if !s.Call(func() { err = f() }) {
		t.Fatal("session stopped")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestDoAtTheEnd: a function that Do accepted runs, even when it is posted
// while the session's goroutine is finishing (after End, waiting for the
// legs' watchers). Before the fix, a Do in that window reported true and its
// function was dropped — a SIP leg's final media figures were lost that way.
func TestDoAtTheEnd(t *testing.T) {
	for round := 0; round < 50; round++ {
		s := New(Options{})
		ep := newFakeEP(false)
		if !s.Call(func() {
			if err := s.AddLeg(&Leg{ID: "c", Role: RoleCustomer, EP: ep}); err != nil {
				t.Error(err)
			}
		}) {
			t.Fatal("session stopped early")
		}
		var accepted, ran sync.WaitGroup
		var mu sync.Mutex
		okCount, runCount := 0, 0
		stop := make(chan struct{})
		for g := 0; g < 4; g++ {
			accepted.Add(1)
			go func() {
				defer accepted.Done()
				for i := 0; i < 5000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if !s.Do(func() { mu.Lock(); runCount++; mu.Unlock() }) {
						return
					}
					mu.Lock()
					okCount++
					mu.Unlock()
				}
			}()
		}
		ran.Add(1)
		go func() { defer ran.Done(); s.Do(func() { s.End(200, "done") }) }()
		ran.Wait()
		select {
		case <-s.Stopped():
		case <-time.After(10 * time.Second):
			t.Fatal("session did not stop")
		}
		close(stop)
		accepted.Wait()
		mu.Lock()
		if okCount != runCount {
			t.Fatalf("round %d: Do reported true %d times, but %d functions ran", round, okCount, runCount)
		}
		mu.Unlock()
		if s.Do(func() {}) {
			t.Fatal("Do after the stop reported true")
		}
	}
}
