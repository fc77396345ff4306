package acd

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// model is a Dispatcher that tracks offers and session outcomes from the
// callbacks and the test's own calls, and reports any violation of:
//   - an agent rings for at most one session, a session rings at most one agent;
//   - CancelOffer matches an open offer; Overflow and Position concern a
//     queued session that is not ringing (for Overflow);
//   - every offer the model holds can be accepted or declined.
//
// At the end every session must be answered, abandoned or overflowed.
type model struct {
	t          *testing.T
	a          *ACD
	mu         sync.Mutex
	rings      map[string]string // agent → session
	ringer     map[string]string // session → agent
	status     map[string]string // session → queued, answered, abandoned, overflowed
	autoAnswer bool
	// autoAnswered sessions were accepted from inside Offer.
	autoAnswered map[string]bool
}

func newModel(t *testing.T, autoAnswer bool) *model {
	return &model{t: t, rings: map[string]string{}, ringer: map[string]string{}, status: map[string]string{},
		autoAnswer: autoAnswer, autoAnswered: map[string]bool{}}
}

func (m *model) Offer(agentID, sessionID, _ string) {
	m.mu.Lock()
	if s := m.rings[agentID]; s != "" {
		m.t.Errorf("Offer(%s, %s) while the agent rings for %s", agentID, sessionID, s)
	}
	if ag := m.ringer[sessionID]; ag != "" {
		m.t.Errorf("Offer(%s, %s) while the session rings %s", agentID, sessionID, ag)
	}
	if st := m.status[sessionID]; st != "queued" {
		m.t.Errorf("Offer(%s, %s) of a %q session", agentID, sessionID, st)
	}
	m.rings[agentID], m.ringer[sessionID] = sessionID, agentID
	m.mu.Unlock()
	if m.autoAnswer && hash(sessionID)%4 == 0 {
		m.mu.Lock()
		m.autoAnswered[sessionID] = true
		m.mu.Unlock()
		// Re-entrant. The offer may be stale already (a timer fired in the
		// same step; its CancelOffer is queued behind this callback).
		if err := m.a.Accept(agentID, sessionID); err == nil {
			m.take(agentID, sessionID)
			m.set(sessionID, "answered")
		} else if !errors.Is(err, ErrNotOffered) && !errors.Is(err, ErrUnknownSession) {
			m.t.Errorf("Accept from Offer: %v", err)
		}
	}
}

func (m *model) CancelOffer(agentID, sessionID, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rings[agentID] != sessionID {
		m.t.Errorf("CancelOffer(%s, %s, %s) without an offer", agentID, sessionID, reason)
	}
	delete(m.rings, agentID)
	delete(m.ringer, sessionID)
}

func (m *model) Overflow(sessionID, queue, target string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.status[sessionID]; st != "queued" || m.ringer[sessionID] != "" || target == "" {
		m.t.Errorf("Overflow(%s, %s, %q) of a %q session ringing %q", sessionID, queue, target, st, m.ringer[sessionID])
	}
	m.status[sessionID] = "overflowed"
}

func (m *model) Position(sessionID, queue string, pos int, ewt time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A Position sent with an Offer may arrive after an auto-answer from Offer.
	st := m.status[sessionID]
	if st != "queued" && !(st == "answered" && m.autoAnswered[sessionID]) || pos < 1 || ewt < 0 {
		m.t.Errorf("Position(%s, %s, %d, %v) of a %q session", sessionID, queue, pos, ewt, st)
	}
}

func (m *model) AgentState(st AgentStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The snapshot may be older than an auto-answer made from Offer.
	if st.State == StateRinging && m.rings[st.ID] != st.Session && m.status[st.Session] != "answered" {
		m.t.Errorf("agent %s ringing for %q, offered %q", st.ID, st.Session, m.rings[st.ID])
	}
}

// take removes the model's offer (agentID, sessionID) before the test calls
// Accept or Decline, so that callbacks those calls cause find it gone.
func (m *model) take(agentID, sessionID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rings[agentID] != sessionID || sessionID == "" {
		return false
	}
	delete(m.rings, agentID)
	delete(m.ringer, sessionID)
	return true
}

func (m *model) set(sessionID, st string) {
	m.mu.Lock()
	m.status[sessionID] = st
	m.mu.Unlock()
}

func (m *model) get(sessionID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status[sessionID]
}

func (m *model) accept(agentID, sessionID string) {
	offered := m.take(agentID, sessionID)
	if offered {
		m.set(sessionID, "answered")
	}
	err := m.a.Accept(agentID, sessionID)
	if offered != (err == nil) {
		m.t.Errorf("Accept(%s, %s) = %v, offered per callbacks: %v", agentID, sessionID, err, offered)
	}
}

func (m *model) decline(agentID, sessionID string) {
	offered := m.take(agentID, sessionID)
	err := m.a.Decline(agentID, sessionID)
	if offered != (err == nil) {
		m.t.Errorf("Decline(%s, %s) = %v, offered per callbacks: %v", agentID, sessionID, err, offered)
	}
}

// requeue marks an answered session queued again before a transfer; undo
// reverts it if the transfer failed.
func (m *model) requeue(sessionID string) (undo func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.status[sessionID]
	if old == "answered" {
		m.status[sessionID] = "queued"
	}
	return func() { m.set(sessionID, old) }
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

var randomQueues = []QueueConfig{
	{Name: "q0"},
	{Name: "q1", RingTimeout: 5 * time.Second, MaxWait: 40 * time.Second, Overflow: "sip:q1-overflow", WrapUp: 10 * time.Second},
	{Name: "q2", RingTimeout: 8 * time.Second, Overflow: "sip:q2-overflow", WrapUp: 3 * time.Second},
}

// byteReader hands out the fuzz input; 0 once it is exhausted.
type byteReader []byte

func (r *byteReader) next() int {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return int(b)
}

// runOps applies the operations encoded in data, checking the invariants
// after each, then drains every queue and checks each session's outcome.
func runOps(t *testing.T, data []byte) {
	clk := newFakeClock()
	m := newModel(t, len(data) > 0 && data[0]%2 == 1)
	a, err := New(randomQueues, m, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	m.a = a
	agents := []string{"a0", "a1", "a2", "a3"}
	var sessions []string
	r := byteReader(data)
	busyWith := func(agentID string) string {
		a.mu.Lock()
		defer a.mu.Unlock()
		if ag := a.agents[agentID]; ag != nil && ag.state == StateBusy {
			return ag.call.id
		}
		return ""
	}
	offeredTo := func(agentID string) string {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.rings[agentID]
	}
	for len(r) > 0 {
		op, ag := r.next(), agents[r.next()%len(agents)]
		switch op % 13 {
		case 0:
			var qs []string
			for i, q := range randomQueues {
				if op>>4&(1<<i) != 0 {
					qs = append(qs, q.Name)
				}
			}
			_ = a.Login(ag, ag, qs)
		case 1:
			_ = a.Logout(ag)
		case 2, 3:
			_ = a.SetReady(ag, true)
		case 4:
			_ = a.SetReady(ag, false)
		case 5, 6:
			sid := fmt.Sprintf("s%d", len(sessions))
			sessions = append(sessions, sid)
			m.set(sid, "queued")
			if _, err := a.Enqueue(sid, randomQueues[r.next()%len(randomQueues)].Name, r.next()%3); err != nil {
				t.Fatalf("Enqueue(%s): %v", sid, err)
			}
		case 7:
			if len(sessions) > 0 {
				sid := sessions[r.next()%len(sessions)]
				was := m.get(sid)
				if a.Remove(sid) {
					if was != "queued" {
						t.Fatalf("Remove(%s) of a %q session = true", sid, was)
					}
					m.set(sid, "abandoned")
				} else if was == "queued" {
					t.Fatalf("Remove(%s) of a queued session = false", sid)
				}
			}
		case 8:
			m.accept(ag, offeredTo(ag))
		case 9:
			m.decline(ag, offeredTo(ag))
		case 10:
			_ = a.CallEnded(ag)
		case 11:
			sid := busyWith(ag)
			if sid == "" || r.next()%2 == 0 {
				if len(sessions) == 0 {
					break
				}
				sid = sessions[r.next()%len(sessions)]
				undo := m.requeue(sid)
				if err := a.OfferTo(sid, agents[r.next()%len(agents)]); err != nil {
					undo()
				}
				break
			}
			m.requeue(sid)
			if _, err := a.Transfer(sid, ag, randomQueues[r.next()%len(randomQueues)].Name); err != nil {
				t.Fatalf("Transfer(%s, %s): %v", sid, ag, err)
			}
		case 12:
			clk.Advance(time.Duration(r.next()%45) * time.Second)
		}
		a.out.Flush()
		if err := a.check(); err != nil {
			t.Fatalf("after op %d: %v", op%13, err)
		}
	}

	// Drain: staff every queue and work until nobody waits.
	_ = a.Logout("drain")
	if err := a.Login("drain", "", []string{"q0", "q1", "q2"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatalf("queues not drained: %+v", a.Queues())
		}
		for _, st := range a.Agents() {
			a.out.Flush() // the model must see earlier callbacks first
			switch st.State {
			case StateRinging:
				m.accept(st.ID, offeredTo(st.ID))
			case StateBusy:
				if err := a.CallEnded(st.ID); err != nil {
					t.Fatal(err)
				}
			case StateNotReady, StateWrapUp:
				if err := a.SetReady(st.ID, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		a.out.Flush()
		clk.Advance(time.Second)
		a.out.Flush()
		if err := a.check(); err != nil {
			t.Fatalf("drain: %v", err)
		}
		if !slices.ContainsFunc(a.Queues(), func(q QueueStatus) bool { return q.Waiting > 0 }) {
			break
		}
	}
	for _, sid := range sessions {
		if st := m.get(sid); st == "queued" || st == "" {
			t.Errorf("session %s ended %q", sid, st)
		}
	}
	var answered, abandoned, overflowed int
	for _, q := range a.Queues() {
		answered += q.Answered
		abandoned += q.Abandoned
		overflowed += q.Overflowed
	}
	if answered+abandoned+overflowed < len(sessions) {
		t.Errorf("counters %d+%d+%d < %d sessions", answered, abandoned, overflowed, len(sessions))
	}
}

// check verifies the ACD's internal invariants.
func (a *ACD) check() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	calls := map[string]bool{}
	for id, ag := range a.agents {
		if (ag.state == StateRinging) != (ag.offer != nil) {
			return fmt.Errorf("agent %s: state %s, offer %v", id, ag.state, ag.offer != nil)
		}
		if ag.offer != nil && (ag.offer.agent != ag || a.sessions[ag.offer.id] != ag.offer) {
			return fmt.Errorf("agent %s: offer of %s not linked back", id, ag.offer.id)
		}
		if inCall := ag.state == StateBusy || ag.state == StateWrapUp; inCall != (ag.call != nil) {
			return fmt.Errorf("agent %s: state %s, call %v", id, ag.state, ag.call != nil)
		}
		if (ag.state == StateWrapUp) != (ag.wrapTimer != nil) {
			return fmt.Errorf("agent %s: state %s, wrap timer %v", id, ag.state, ag.wrapTimer != nil)
		}
		if ag.state == StateBusy {
			if calls[ag.call.id] || a.sessions[ag.call.id] != nil {
				return fmt.Errorf("agent %s: call %s also elsewhere", id, ag.call.id)
			}
			calls[ag.call.id] = true
		}
		for _, q := range a.qorder {
			member := slices.Contains(q.members, ag)
			if member != slices.Contains(ag.queues, q) || member && ag.state == StateLoggedOut {
				return fmt.Errorf("agent %s (%s): membership of %s inconsistent", id, ag.state, q.cfg.Name)
			}
		}
	}
	n := 0
	for _, q := range a.qorder {
		n += len(q.waiting)
		for i, s := range q.waiting {
			if a.sessions[s.id] != s || s.q != q || s.gone {
				return fmt.Errorf("queue %s: stray session %s", q.cfg.Name, s.id)
			}
			if i > 0 && !q.waiting[i-1].before(s) {
				return fmt.Errorf("queue %s: %s before %s out of order", q.cfg.Name, q.waiting[i-1].id, s.id)
			}
			if s.agent != nil && (s.agent.offer != s || (s.ringTimer == nil)) {
				return fmt.Errorf("session %s: offer to %s not linked back", s.id, s.agent.id)
			}
			if s.lastPos != i+1 {
				return fmt.Errorf("session %s: position %d, last notified %d", s.id, i+1, s.lastPos)
			}
		}
		if q.firstWaiting() != nil && q.hasReady() {
			return fmt.Errorf("queue %s: a session waits while an agent is ready", q.cfg.Name)
		}
	}
	if n != len(a.sessions) {
		return fmt.Errorf("%d sessions registered, %d queued", len(a.sessions), n)
	}
	return nil
}

func TestRandomOperations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		data := make([]byte, 100+rng.IntN(400))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if !t.Run(fmt.Sprint(i), func(t *testing.T) { runOps(t, data) }) {
			break
		}
	}
}

func FuzzOperations(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x70, 0, 2, 0, 5, 0, 0, 0, 8, 0, 10, 0})
	f.Add([]byte{0xf1, 1, 0x70, 1, 3, 1, 5, 1, 1, 0, 12, 0, 40, 9, 1, 11, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 600 { // keeps minimization quick
			return
		}
		wd := time.AfterFunc(5*time.Second, func() { panic("hang") })
		defer wd.Stop()
		runOps(t, data)
	})
}
