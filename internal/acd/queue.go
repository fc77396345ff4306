package acd

import (
	"slices"
	"sort"
	"time"
)

// historySize is how many recent calls the averages cover.
const historySize = 20

// EWT notifications below both thresholds are suppressed.
const (
	ewtMinChange   = 10 * time.Second
	ewtMinFraction = 4 // 1/4 = 25 %
)

type queue struct {
	cfg        QueueConfig
	waiting    []*session // in service order, ringing sessions included
	members    []*agent   // logged-in agents
	answered   int
	abandoned  int
	overflowed int
	waits      window // enqueue → answer
	handles    window // answer → end of wrap-up
}

// session is a queued session: waiting, or ringing one agent.
type session struct {
	id        string
	q         *queue
	priority  int
	front     bool // transferred in: ahead of regular arrivals
	seq       uint64
	enqueued  time.Time
	agent     *agent // ringing this agent; nil while waiting
	offerGen  uint64 // identifies the current offer for its timer
	ringTimer Timer
	maxTimer  Timer
	gone      bool // left the queue; stale timers ignore it
	lastPos   int  // last position notified (0 = none yet)
	lastEWT   time.Duration
}

// before reports whether s is served before o.
func (s *session) before(o *session) bool {
	if s.front != o.front {
		return s.front
	}
	if s.priority != o.priority {
		return s.priority > o.priority
	}
	return s.seq < o.seq
}

func (q *queue) insert(s *session) {
	i := sort.Search(len(q.waiting), func(i int) bool { return s.before(q.waiting[i]) })
	q.waiting = slices.Insert(q.waiting, i, s)
}

func (q *queue) remove(s *session) {
	if i := slices.Index(q.waiting, s); i >= 0 {
		q.waiting = slices.Delete(q.waiting, i, i+1)
	}
}

// firstWaiting returns the first session not ringing an agent.
func (q *queue) firstWaiting() *session {
	for _, s := range q.waiting {
		if s.agent == nil {
			return s
		}
	}
	return nil
}

// longestIdle returns the ready member idle longest (earliest login on ties).
func (q *queue) longestIdle() *agent {
	var best *agent
	for _, ag := range q.members {
		if ag.state == StateReady && (best == nil || ag.idleBefore(best)) {
			best = ag
		}
	}
	return best
}

func (q *queue) hasReady() bool {
	for _, ag := range q.members {
		if ag.state == StateReady {
			return true
		}
	}
	return false
}

// window is a fixed-size ring of recent durations.
type window struct {
	v [historySize]time.Duration
	n int // samples stored, ≤ historySize
	i int // next slot
}

func (w *window) add(d time.Duration) {
	w.v[w.i] = d
	w.i = (w.i + 1) % historySize
	if w.n < historySize {
		w.n++
	}
}

func (w *window) mean() time.Duration {
	if w.n == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range w.v[:w.n] {
		sum += d
	}
	return sum / time.Duration(w.n)
}

// ewt is k × AHT / N (see the package doc); a.mu must be held.
func (a *ACD) ewt(q *queue, k int) time.Duration {
	if k <= 0 {
		return 0
	}
	aht := a.defAHT
	if q.handles.n > 0 {
		aht = q.handles.mean()
	}
	n := max(len(q.members), 1)
	return (time.Duration(k) * aht / time.Duration(n)).Round(time.Second)
}

// newCallerEWT is the wait a session enqueued now is expected to have.
func (a *ACD) newCallerEWT(q *queue) time.Duration {
	if q.hasReady() {
		return 0
	}
	k := 1
	for _, s := range q.waiting {
		if s.agent == nil {
			k++
		}
	}
	return a.ewt(q, k)
}

// place returns the position and EWT of a queued session.
func (a *ACD) place(s *session) (int, time.Duration) {
	k := 1
	for i, o := range s.q.waiting {
		if o == s {
			return i + 1, a.ewt(s.q, k)
		}
		if o.agent == nil {
			k++
		}
	}
	return 0, 0
}

// settle offers waiting sessions to ready agents until no pair is left,
// then sends the Position notifications that became due. Every mutating
// method calls it last; a.mu must be held.
func (a *ACD) settle() {
	a.dispatch()
	for _, q := range a.qorder {
		k := 1 // as in place, in one pass
		for i, s := range q.waiting {
			pos, ewt := i+1, a.ewt(q, k)
			if s.agent == nil {
				k++
			}
			if pos == s.lastPos && !ewtNotable(s.lastEWT, ewt) {
				continue
			}
			s.lastPos, s.lastEWT = pos, ewt
			id, name := s.id, q.cfg.Name
			a.emit(func(d Dispatcher) { d.Position(id, name, pos, ewt) })
		}
	}
}

func ewtNotable(old, cur time.Duration) bool {
	diff := cur - old
	if diff < 0 {
		diff = -diff
	}
	return diff >= ewtMinChange && diff >= old/ewtMinFraction
}

// dispatch pairs the best waiting session whose queue has a ready agent
// with that queue's longest-idle agent, until no pair is left.
func (a *ACD) dispatch() {
	for {
		var best *session
		for _, q := range a.qorder {
			s := q.firstWaiting()
			if s == nil || (best != nil && !s.before(best)) || !q.hasReady() {
				continue
			}
			best = s
		}
		if best == nil {
			return
		}
		a.offer(best, best.q.longestIdle())
	}
}

// offer rings ag for s; ag must be ready and s waiting.
func (a *ACD) offer(s *session, ag *agent) {
	s.agent = ag
	s.offerGen++
	gen := s.offerGen
	ag.offer = s
	s.ringTimer = a.clock.AfterFunc(s.q.cfg.RingTimeout, func() { a.ringTimeout(s, gen) })
	a.log.Debug("acd: offer", "agent", ag.id, "session", s.id, "queue", s.q.cfg.Name)
	agentID, sid, qn := ag.id, s.id, s.q.cfg.Name
	a.emit(func(d Dispatcher) { d.Offer(agentID, sid, qn) })
	a.setState(ag, StateRinging)
}

// withdraw ends s's offer without changing the agent's state, and sends
// CancelOffer with reason unless reason is "". It returns the agent.
func (a *ACD) withdraw(s *session, reason string) *agent {
	ag := s.agent
	stopTimer(&s.ringTimer)
	s.agent = nil
	ag.offer = nil
	if reason != "" {
		agentID, sid := ag.id, s.id
		a.emit(func(d Dispatcher) { d.CancelOffer(agentID, sid, reason) })
	}
	return ag
}

func (a *ACD) ringTimeout(s *session, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || s.gone || s.agent == nil || s.offerGen != gen {
		return
	}
	ag := a.withdraw(s, "timeout")
	a.log.Info("acd: ring timeout", "agent", ag.id, "session", s.id, "queue", s.q.cfg.Name)
	a.setState(ag, StateNotReady)
	a.settle()
}

func (a *ACD) maxWait(s *session) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || s.gone {
		return
	}
	if s.agent != nil {
		a.setState(a.withdraw(s, "overflow"), StateReady)
	}
	a.leave(s)
	a.overflow(s.id, s.q)
	a.settle()
}

// overflow counts and reports a session leaving q for its overflow target.
func (a *ACD) overflow(sid string, q *queue) {
	q.overflowed++
	a.log.Info("acd: overflow", "session", sid, "queue", q.cfg.Name, "target", q.cfg.Overflow)
	name, target := q.cfg.Name, q.cfg.Overflow
	a.emit(func(d Dispatcher) { d.Overflow(sid, name, target) })
}

// leave removes a session (not ringing) from its queue and the registry.
func (a *ACD) leave(s *session) {
	stopTimer(&s.maxTimer)
	s.gone = true
	s.q.remove(s)
	delete(a.sessions, s.id)
}
