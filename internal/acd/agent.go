package acd

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

type agent struct {
	id, name      string
	queues        []*queue // logged in to; nil when logged out
	state         AgentState
	since         time.Time
	idleSince     time.Time // when it last became ready after a call or a pause
	seq           uint64    // login order, breaks idle ties
	offer         *session  // ringing for this session
	call          *call     // in a call, or in its wrap-up
	wrapTimer     Timer
	logoutPending bool // log out when the call ends
	pausePending  bool // not_ready instead of ready when the call (and wrap-up) ends
	handled       int
}

// call is an accepted session, kept on its agent until wrap-up ends.
type call struct {
	id       string
	q        *queue
	priority int
	answered time.Time
}

func (ag *agent) idleBefore(o *agent) bool {
	if !ag.idleSince.Equal(o.idleSince) {
		return ag.idleSince.Before(o.idleSince)
	}
	return ag.seq < o.seq
}

func (ag *agent) status() AgentStatus {
	st := AgentStatus{ID: ag.id, Name: ag.name, State: ag.state, Since: ag.since, Handled: ag.handled}
	for _, q := range ag.queues {
		st.Queues = append(st.Queues, q.cfg.Name)
	}
	switch {
	case ag.offer != nil:
		st.Session = ag.offer.id
	case ag.call != nil:
		st.Session = ag.call.id
	}
	return st
}

// setState moves ag to st and reports it; a.mu must be held.
func (a *ACD) setState(ag *agent, st AgentState) {
	ag.state = st
	ag.since = a.clock.Now()
	a.log.Debug("acd: agent state", "agent", ag.id, "state", st)
	snap := ag.status()
	a.emit(func(d Dispatcher) { d.AgentState(snap) })
}

// lookup returns a logged-in agent.
func (a *ACD) lookup(agentID string) (*agent, error) {
	if a.closed {
		return nil, ErrClosed
	}
	ag := a.agents[agentID]
	if ag == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownAgent, agentID)
	}
	if ag.state == StateLoggedOut {
		return nil, fmt.Errorf("%w: %q", ErrLoggedOut, agentID)
	}
	return ag, nil
}

// Login logs an agent in to queues, in state not_ready. An agent that logged
// out may log in again (its handled count is kept); one that is logged in
// gets ErrDuplicate. Queue names must exist (duplicates are ignored).
func (a *ACD) Login(agentID, name string, queues []string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	ag := a.agents[agentID]
	if ag != nil && ag.state != StateLoggedOut {
		return fmt.Errorf("%w: agent %q is logged in", ErrDuplicate, agentID)
	}
	var qs []*queue
	for _, n := range queues {
		q := a.queues[n]
		if q == nil {
			return fmt.Errorf("%w %q", ErrUnknownQueue, n)
		}
		if !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	if ag == nil {
		ag = &agent{id: agentID}
		a.agents[agentID] = ag
	}
	a.seq++
	ag.name, ag.queues, ag.seq = name, qs, a.seq
	for _, q := range qs {
		q.members = append(q.members, ag)
	}
	a.setState(ag, StateNotReady)
	a.settle() // N changed, so did EWTs
	return nil
}

// Logout logs an agent out. A ringing offer is cancelled (reason "logout")
// and its session offered to the next agent; wrap-up ends at once; a busy
// agent is logged out when its call ends. Logging out twice is not an error.
func (a *ACD) Logout(agentID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.lookup(agentID)
	if errors.Is(err, ErrLoggedOut) {
		return nil
	}
	if err != nil {
		return err
	}
	switch ag.state {
	case StateBusy:
		ag.logoutPending = true
		return nil
	case StateRinging:
		a.withdraw(ag.offer, "logout")
	case StateWrapUp:
		a.endWrapUp(ag)
	}
	a.logout(ag)
	a.settle()
	return nil
}

func (a *ACD) logout(ag *agent) {
	for _, q := range ag.queues {
		if i := slices.Index(q.members, ag); i >= 0 {
			q.members = slices.Delete(q.members, i, i+1)
		}
	}
	ag.queues = nil
	ag.logoutPending, ag.pausePending = false, false
	a.setState(ag, StateLoggedOut)
}

// SetReady makes an agent ready (ready=true) or not_ready (false).
//
// From wrap_up either way ends wrap-up early. A ringing agent that becomes
// not_ready has its offer cancelled (reason "not_ready"); a busy one goes
// not_ready instead of ready when its call and wrap-up end (ready=true
// undoes that). Setting the current state is a no-op.
func (a *ACD) SetReady(agentID string, ready bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.lookup(agentID)
	if err != nil {
		return err
	}
	switch ag.state {
	case StateReady, StateNotReady:
		if (ag.state == StateReady) == ready {
			return nil
		}
	case StateRinging:
		if ready {
			return nil
		}
		a.withdraw(ag.offer, "not_ready")
	case StateBusy:
		ag.pausePending = !ready
		return nil
	case StateWrapUp:
		a.endWrapUp(ag)
	}
	ag.pausePending = false
	if ready {
		ag.idleSince = a.clock.Now()
		a.setState(ag, StateReady)
	} else {
		a.setState(ag, StateNotReady)
	}
	a.settle()
	return nil
}

// CallEnded reports that the agent's call ended. The agent goes to wrap_up
// for its queue's WrapUp, or straight to ready (or not_ready if it asked
// for a pause, or logged_out if it asked to log out).
func (a *ACD) CallEnded(agentID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.lookup(agentID)
	if err != nil {
		return err
	}
	if ag.state != StateBusy {
		return fmt.Errorf("%w: agent %q is %s", ErrNotInCall, agentID, ag.state)
	}
	a.endCall(ag)
	a.settle()
	return nil
}

// endCall moves a busy agent on: wrap_up, or whatever follows it.
func (a *ACD) endCall(ag *agent) {
	c := ag.call
	if w := c.q.cfg.WrapUp; w > 0 && !ag.logoutPending {
		ag.wrapTimer = a.clock.AfterFunc(w, func() { a.wrapUpDone(ag, c) })
		a.setState(ag, StateWrapUp)
		return
	}
	a.endWrapUp(ag)
	a.afterCall(ag)
}

func (a *ACD) wrapUpDone(ag *agent, c *call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || ag.call != c || ag.state != StateWrapUp {
		return
	}
	a.endWrapUp(ag)
	a.afterCall(ag)
	a.settle()
}

// endWrapUp records the call's handle time and forgets the call.
func (a *ACD) endWrapUp(ag *agent) {
	stopTimer(&ag.wrapTimer)
	c := ag.call
	c.q.handles.add(a.clock.Now().Sub(c.answered))
	ag.call = nil
}

// afterCall applies what the agent asked for during the call.
func (a *ACD) afterCall(ag *agent) {
	switch {
	case ag.logoutPending:
		a.logout(ag)
	case ag.pausePending:
		ag.pausePending = false
		a.setState(ag, StateNotReady)
	default:
		ag.idleSince = a.clock.Now()
		a.setState(ag, StateReady)
	}
}
