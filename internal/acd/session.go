package acd

import "fmt"

// Enqueue queues a session with a priority (higher is served first; equal
// priorities in arrival order) and returns its 1-based position. If nobody
// is logged in to the queue and it has an Overflow target, the session
// overflows at once: Overflow is dispatched and the position is 0.
func (a *ACD) Enqueue(sessionID, queue string, priority int) (position int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return 0, ErrClosed
	}
	q := a.queues[queue]
	if q == nil {
		return 0, fmt.Errorf("%w %q", ErrUnknownQueue, queue)
	}
	if a.sessions[sessionID] != nil || a.inCall(sessionID) != nil {
		return 0, fmt.Errorf("%w: session %q is known", ErrDuplicate, sessionID)
	}
	s := a.enqueue(sessionID, q, priority, false)
	a.settle()
	if s == nil {
		return 0, nil
	}
	pos, _ := a.place(s)
	return pos, nil
}

// enqueue adds a session to q, or overflows it if q is unstaffed; it
// returns nil on overflow. The caller settles.
func (a *ACD) enqueue(sessionID string, q *queue, priority int, front bool) *session {
	if len(q.members) == 0 && q.cfg.Overflow != "" {
		a.overflow(sessionID, q)
		return nil
	}
	return a.addSession(sessionID, q, priority, front)
}

func (a *ACD) addSession(sessionID string, q *queue, priority int, front bool) *session {
	a.seq++
	s := &session{id: sessionID, q: q, priority: priority, front: front, seq: a.seq, enqueued: a.clock.Now()}
	if q.cfg.MaxWait > 0 && q.cfg.Overflow != "" {
		s.maxTimer = a.clock.AfterFunc(q.cfg.MaxWait, func() { a.maxWait(s) })
	}
	q.insert(s)
	a.sessions[sessionID] = s
	a.log.Debug("acd: enqueue", "session", sessionID, "queue", q.cfg.Name, "priority", priority, "front", front)
	return s
}

// inCall returns the busy agent whose call is sessionID, if any.
func (a *ACD) inCall(sessionID string) *agent {
	for _, ag := range a.agents {
		if ag.state == StateBusy && ag.call.id == sessionID {
			return ag
		}
	}
	return nil
}

// Remove takes an abandoned session out of its queue, cancelling its
// ringing offer (reason "abandoned"; the agent stays ready and keeps its
// place in the idle order). It reports whether the session was queued;
// an answered session is not (end it with CallEnded).
func (a *ACD) Remove(sessionID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[sessionID]
	if a.closed || s == nil {
		return false
	}
	if s.agent != nil {
		a.setState(a.withdraw(s, "abandoned"), StateReady)
	}
	a.leave(s)
	s.q.abandoned++
	a.settle()
	return true
}

// ringing returns the session agentID is ringing for, checking it is sessionID.
func (a *ACD) ringing(agentID, sessionID string) (*agent, *session, error) {
	ag, err := a.lookup(agentID)
	if err != nil {
		return nil, nil, err
	}
	s := ag.offer
	if s == nil || s.id != sessionID {
		if a.sessions[sessionID] == nil {
			return nil, nil, fmt.Errorf("%w %q", ErrUnknownSession, sessionID)
		}
		return nil, nil, fmt.Errorf("%w: session %q, agent %q", ErrNotOffered, sessionID, agentID)
	}
	return ag, s, nil
}

// Accept records that the offered agent answered: the agent is busy and the
// session leaves the queue.
func (a *ACD) Accept(agentID, sessionID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, s, err := a.ringing(agentID, sessionID)
	if err != nil {
		return err
	}
	a.withdraw(s, "")
	a.leave(s)
	now := a.clock.Now()
	s.q.answered++
	s.q.waits.add(now.Sub(s.enqueued))
	ag.call = &call{id: s.id, q: s.q, priority: s.priority, answered: now}
	ag.handled++
	a.setState(ag, StateBusy)
	a.settle()
	return nil
}

// Decline records that the offered agent rejected the session. The agent
// goes not_ready; the session keeps its place and is offered to the next
// ready agent. No CancelOffer is sent.
func (a *ACD) Decline(agentID, sessionID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, s, err := a.ringing(agentID, sessionID)
	if err != nil {
		return err
	}
	a.withdraw(s, "")
	a.setState(ag, StateNotReady)
	a.settle()
	return nil
}

// Transfer moves an agent's call to the front of a queue (behind earlier
// transfers) with the call's original priority; the agent's call ends as
// with CallEnded. MaxWait counts from the transfer. It returns the
// position, or 0 if the session overflowed at once because nobody is logged
// in to the queue.
func (a *ACD) Transfer(sessionID, fromAgentID, queue string) (position int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.lookup(fromAgentID)
	if err != nil {
		return 0, err
	}
	q := a.queues[queue]
	if q == nil {
		return 0, fmt.Errorf("%w %q", ErrUnknownQueue, queue)
	}
	if ag.state != StateBusy || ag.call.id != sessionID {
		return 0, fmt.Errorf("%w: session %q, agent %q", ErrNotInCall, sessionID, fromAgentID)
	}
	prio := ag.call.priority
	a.endCall(ag)
	s := a.enqueue(sessionID, q, prio, true)
	a.settle()
	if s == nil {
		return 0, nil
	}
	pos, _ := a.place(s)
	return pos, nil
}

// OfferTo rings a named ready agent for a session, whether or not the agent
// serves the session's queue. The session is either queued and not ringing
// anyone, or in a call with another agent (a direct transfer: that agent's
// call ends as with CallEnded, and the session joins the front of the queue
// it was answered from). If the named agent does not accept, the session is
// served from its place in the queue as usual.
func (a *ACD) OfferTo(sessionID, agentID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.lookup(agentID)
	if err != nil {
		return err
	}
	if ag.state != StateReady {
		return fmt.Errorf("%w: agent %q is %s", ErrAgentNotReady, agentID, ag.state)
	}
	s := a.sessions[sessionID]
	switch from := a.inCall(sessionID); {
	case s != nil && s.agent != nil:
		return fmt.Errorf("%w: session %q rings agent %q", ErrAlreadyOffered, sessionID, s.agent.id)
	case s == nil && from == nil:
		return fmt.Errorf("%w %q", ErrUnknownSession, sessionID)
	case s == nil:
		c := from.call
		a.endCall(from)
		s = a.addSession(sessionID, c.q, c.priority, true)
	}
	a.offer(s, ag)
	a.settle()
	return nil
}
