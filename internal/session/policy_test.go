package session

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media/mixer"
)

// recMixer records what the plan asks of a mixer.
type recMixer struct {
	mu     sync.Mutex
	n      int
	ops    []string
	hears  map[[2]string]bool
	closed bool
}

func (m *recMixer) Add(id string, _ *leg.Track) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops = append(m.ops, "add "+id)
	return nil
}
func (m *recMixer) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops = append(m.ops, "remove "+id)
	for k := range m.hears {
		if k[0] == id || k[1] == id {
			delete(m.hears, k)
		}
	}
}
func (m *recMixer) SetHears(l, s string, h bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hears[[2]string{l, s}] = h
}
func (m *recMixer) Close() { m.mu.Lock(); m.closed = true; m.mu.Unlock() }

func (m *recMixer) deaf() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, h := range m.hears {
		if !h {
			out = append(out, k[0]+"<-"+k[1])
		}
	}
	sort.Strings(out)
	return out
}

// onlyFrom: a listener hears only the speakers listed for it.
type onlyFrom struct {
	heard map[string][]string
	lead  string
}

func (p *onlyFrom) Hears(l, s *Leg) bool {
	for _, x := range p.heard[l.ID] {
		if x == s.ID {
			return true
		}
	}
	return false
}
func (p *onlyFrom) Lead() string { return p.lead }

// A directed group: mixed from two members on, one mixer for the
// session's life (members join and leave it live), the policy's matrix
// pushed, and the customer shown the policy's lead.
func TestPolicyDirectsTheMainGroup(t *testing.T) {
	var mixers []*recMixer
	var mu sync.Mutex
	s := New(Options{Media: MediaOptions{NewMixer: func() Mixer {
		m := &recMixer{hears: map[[2]string]bool{}}
		mu.Lock()
		mixers = append(mixers, m)
		mu.Unlock()
		return m
	}}})
	defer s.Call(func() { s.End(200, "test over") })
	pol := &onlyFrom{heard: map[string][]string{"p": {"a"}, "a": {"p"}, "b": {"p", "a"}}, lead: "a"}
	d, a, b, p := newFakeEP(true), newFakeEP(true), newFakeEP(true), newFakeEP(false)
	s.Call(func() {
		s.SetPolicy(pol)
		_ = s.AddLeg(&Leg{ID: "d", Role: RoleCustomer, EP: d})
		_ = s.AddLeg(&Leg{ID: "a", Role: RoleInterpreter, EP: a})
	})
	mu.Lock()
	if len(mixers) != 1 {
		mu.Unlock()
		t.Fatalf("%d mixers for a directed group of two, want 1", len(mixers))
	}
	m := mixers[0]
	mu.Unlock()
	if got := fmt.Sprint(m.deaf()); got != "[a<-d d<-a]" {
		t.Errorf("two members: not heard %s", got)
	}
	s.Call(func() {
		_ = s.AddLeg(&Leg{ID: "p", Role: RolePhoneParty, EP: p})
		_ = s.AddLeg(&Leg{ID: "b", Role: RoleInterpreter, EP: b})
	})
	if got := fmt.Sprint(m.deaf()); got != "[a<-b a<-d b<-d d<-a d<-b d<-p p<-b p<-d]" {
		t.Errorf("four members: not heard %s", got)
	}
	// the lead changes: same mixer, nobody removed, the matrix follows
	s.Call(func() {
		pol.heard = map[string][]string{"p": {"b"}, "b": {"p", "a"}, "a": {"p", "b"}}
		pol.lead = "b"
		s.Replan()
	})
	if got := fmt.Sprint(m.deaf()); got != "[a<-d b<-d d<-a d<-b d<-p p<-a p<-d]" {
		t.Errorf("after the lead change: not heard %s", got)
	}
	s.Call(func() { _ = s.RemoveLeg("a", 200, "handed off") })
	mu.Lock()
	n := len(mixers)
	mu.Unlock()
	m.mu.Lock()
	ops, closed := fmt.Sprint(m.ops), m.closed
	m.mu.Unlock()
	if n != 1 || closed {
		t.Fatalf("membership changes rebuilt the mixer (%d mixers, closed %v): the phone's stream would restart", n, closed)
	}
	if ops != "[add d add a add p add b remove a]" {
		t.Errorf("mixer operations %s", ops)
	}
	// the customer sees the lead's camera (b), not the last who joined
	deadline := time.Now().Add(2 * time.Second)
	for {
		var src *leg.Track
		s.Call(func() {
			if k := s.plan.sinks[d.video]; k != nil {
				src = k.src.Load()
			}
		})
		if src == b.video {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the customer does not see the lead's camera")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tapMixer is a recMixer that takes a tap.
type tapMixer struct {
	recMixer
	tap mixer.Tap
}

func (m *tapMixer) SetTap(t mixer.Tap) { m.mu.Lock(); m.tap = t; m.mu.Unlock() }

// A tap mixes the main group even for two members (each voice is decoded
// on its own), without a policy: nobody is made deaf; removing it goes back
// to the two-party bridge.
func TestTapMixesTheMainGroup(t *testing.T) {
	var mixers []*tapMixer
	var mu sync.Mutex
	s := New(Options{Media: MediaOptions{NewMixer: func() Mixer {
		m := &tapMixer{recMixer: recMixer{hears: map[[2]string]bool{}}}
		mu.Lock()
		mixers = append(mixers, m)
		mu.Unlock()
		return m
	}}})
	defer s.Call(func() { s.End(200, "test over") })
	c, a := newFakeEP(false), newFakeEP(false)
	s.Call(func() {
		_ = s.AddLeg(&Leg{ID: "c", Role: RoleCustomer, EP: c})
		_ = s.AddLeg(&Leg{ID: "a", Role: RoleAgent, EP: a})
	})
	mu.Lock()
	if len(mixers) != 0 {
		t.Fatalf("two members without a tap: %d mixers", len(mixers))
	}
	mu.Unlock()
	var calls int
	s.Call(func() { s.SetTap(func(int, []mixer.TapFrame) { calls++ }) })
	mu.Lock()
	if len(mixers) != 1 || mixers[0].tap == nil {
		mu.Unlock()
		t.Fatalf("a tap on two members: %d mixers, tap installed %v", len(mixers), len(mixers) == 1 && mixers[0].tap != nil)
	}
	m := mixers[0]
	mu.Unlock()
	m.tap(8000, nil)
	if got := fmt.Sprint(m.ops, m.deaf()); got != "[add c add a] []" || calls != 1 {
		t.Errorf("mixer %s, tap calls %d", got, calls)
	}
	s.Call(func() { s.SetTap(nil) })
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if !closed {
		t.Error("the tap removed: the mixer of two was kept")
	}
}
