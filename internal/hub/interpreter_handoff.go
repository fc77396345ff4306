package hub

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/session"
)

// Hand-off and team requests (docs/interpreter.md §5.1, §8.1): the lead
// asks for another interpreter — a named one (agent:<id>) or the next free
// one of a queue (queue:<name>). A queue request waits while nobody of the
// queue is free and moves down the queue when the one offered declines or
// rings out; a named one fails on a decline. Either is withdrawn after
// interpreter.handoff.timeout. Once a hand-off's incoming interpreter has
// joined, both see the deaf user; the outgoing one leaves by hanging up,
// by `lead`, or after interpreter.handoff.overlap_max.

// ivHandoff is a request in progress (session goroutine).
type ivHandoff struct {
	purpose   string // handoff or team
	to        string // the target as requested
	queue     string // queue:<name>: the queue to take the next free interpreter from
	agent     string // the interpreter being offered now ("": waiting for one)
	offeredAt time.Time
	tried     map[string]bool // interpreters offered already
	started   time.Time
	gen       int
	incoming  string // a hand-off's incoming interpreter leg, once joined (the overlap)
	outgoing  string // the lead leaving at the end of the overlap
}

// ivHandoffMsg is the session frame's view of it, for the consoles.
type ivHandoffMsg struct {
	State   string `json:"state"` // queued, ringing, overlap
	Purpose string `json:"purpose"`
	To      string `json:"to,omitempty"`
}

// ivHandoffTick is how often a request checks its offer and the queue.
const ivHandoffTick = time.Second

// ivOfferAnother starts (or withdraws) a hand-off or team request (session
// goroutine).
func (h *Hub) ivOfferAnother(s *session.Session, m inFrame, lead bool) error {
	t := st(s)
	iv := t.iv
	purpose := m.Type
	if purpose == "handoff" && !lead {
		return fmt.Errorf("%w: only the lead interpreter can hand off", errConflict)
	}
	if m.Cancel {
		ho := iv.ho
		if ho == nil || ho.purpose != purpose || ho.incoming != "" {
			return fmt.Errorf("%w: no %s pending", errConflict, purpose)
		}
		h.ivHandoffOver(s, "withdrawn", "withdrawn")
		return nil
	}
	if iv.ho != nil {
		return fmt.Errorf("%w: a %s is pending", errConflict, iv.ho.purpose)
	}
	if purpose == "team" && !h.cfg.Interpreter.WithDefaults().TeamAllowed() {
		return fmt.Errorf("%w: team interpreting is off (interpreter.team)", errForbidden)
	}
	if n := len(s.LegsWith(session.RoleInterpreter)); n >= 2 {
		return fmt.Errorf("%w: two interpreters are in the session already", errConflict)
	}
	to := strings.TrimSpace(m.To)
	ho := &ivHandoff{purpose: purpose, to: to, tried: map[string]bool{}, started: time.Now()}
	if q, isQueue := strings.CutPrefix(to, "queue:"); isQueue {
		if _, ok := h.queueConfig(q); !ok || q == "" {
			return fmt.Errorf("%w: no queue %q", errBadRequest, q)
		}
		ho.queue = q
	} else {
		id, ok := strings.CutPrefix(to, "agent:")
		if !ok || id == "" {
			return fmt.Errorf("%w: to must be agent:<id> or queue:<name>", errBadRequest)
		}
		for _, l := range s.LegsWith(session.RoleInterpreter) {
			if l.Party == id {
				return fmt.Errorf("%w: %s is in the session already", errConflict, id)
			}
		}
		if h.consolesFor(id, s.ID) == 0 && !h.onlyElsewhere(id) {
			return fmt.Errorf("%w: interpreter %q is not connected", errUnavailableErr, id)
		}
		if err := h.ivHandoffOffer(s, ho, id); err != nil {
			return fmt.Errorf("%w: %v", errUnavailableErr, err)
		}
	}
	iv.hoGen++
	ho.gen = iv.hoGen
	iv.ho = ho
	s.Record("interpreter.handoff", iv.pending, map[string]any{"state": "requested", "purpose": purpose, "agent": ho.agent, "queue": ho.queue})
	h.m.Interpreter(purpose + "_requested")
	if ho.queue != "" {
		h.ivHandoffNext(s)
	}
	h.ivHandoffWatch(s, ho.gen)
	h.notifyAgents(s)
	return nil
}

// ivHandoffOffer rings interpreter id for the request (session goroutine).
func (h *Hub) ivHandoffOffer(s *session.Session, ho *ivHandoff, id string) error {
	t := st(s)
	iv := t.iv
	iv.purpose = ho.purpose
	err := h.offerToAgent(s, id, "direct", nil, "")
	iv.purpose = ""
	if err != nil {
		return err
	}
	for legID, o := range t.offers {
		if o.agent == id {
			iv.pending, iv.pendingP = legID, ho.purpose
		}
	}
	ho.agent, ho.offeredAt = id, time.Now()
	ho.tried[id] = true
	return nil
}

// ivHandoffNext offers a queue request to the queue's next free
// interpreter, or leaves it waiting (session goroutine).
func (h *Hub) ivHandoffNext(s *session.Session) {
	iv := st(s).iv
	ho := iv.ho
	if ho == nil || ho.queue == "" || ho.agent != "" || ho.incoming != "" {
		return
	}
	for {
		id := h.ivFreeInterpreter(s, ho.queue, ho.tried)
		if id == "" {
			return // queued: the next tick looks again
		}
		if err := h.ivHandoffOffer(s, ho, id); err == nil {
			s.Record("interpreter.handoff", iv.pending, map[string]any{"state": "ringing", "purpose": ho.purpose, "agent": id})
			h.notifyAgents(s)
			return
		}
		ho.tried[id] = true
	}
}

// ivHandoffWatch checks the request every tick (session goroutine, by
// timer): an offer declined or rung out moves a queue request down the
// queue and fails a named one; handoff.timeout withdraws it.
func (h *Hub) ivHandoffWatch(s *session.Session, gen int) {
	h.after(s, ivHandoffTick, func() {
		t := st(s)
		iv := t.iv
		ho := iv.ho
		if s.Ended() || ho == nil || ho.gen != gen || ho.incoming != "" {
			return
		}
		cfg := h.cfg.Interpreter.Handoff
		if time.Since(ho.started) >= cfg.Within() {
			h.ivHandoffOver(s, "timeout", "withdrawn")
			return
		}
		if ho.agent != "" {
			o := t.offers[iv.pending]
			ring := 20 * time.Second
			if q, ok := h.queueConfig(ho.queue); ok && q.RingTimeout > 0 {
				ring = q.RingTimeout
			}
			switch {
			case o == nil: // declined, or the console went away
				s.Record("interpreter.handoff", iv.pending, map[string]any{"state": "declined", "purpose": ho.purpose, "agent": ho.agent})
			case time.Since(ho.offeredAt) >= ring:
				h.dropOffer(s, o, "timeout")
				delete(t.offers, o.legID)
				s.Record("interpreter.handoff", o.legID, map[string]any{"state": "rang_out", "purpose": ho.purpose, "agent": ho.agent})
			default:
				h.ivHandoffWatch(s, gen)
				return
			}
			iv.pending, iv.pendingP, ho.agent = "", "", ""
			if ho.queue == "" {
				h.ivHandoffOver(s, "failed", "")
				return
			}
			h.notifyAgents(s)
		}
		h.ivHandoffNext(s)
		h.ivHandoffWatch(s, gen)
	})
}

// ivHandoffOver ends a request that no interpreter took (session
// goroutine): the offer ringing is withdrawn with cancel.reason (when one
// is given), the lead keeps the call.
func (h *Hub) ivHandoffOver(s *session.Session, state, reason string) {
	t := st(s)
	iv := t.iv
	ho := iv.ho
	if ho == nil {
		return
	}
	if o := t.offers[iv.pending]; o != nil && reason != "" {
		h.dropOffer(s, o, reason)
		delete(t.offers, o.legID)
	}
	s.Record("interpreter.handoff", iv.pending, map[string]any{"state": state, "purpose": ho.purpose})
	h.m.Interpreter(ho.purpose + "_" + state)
	iv.ho, iv.pending, iv.pendingP = nil, "", ""
	h.notifyAgents(s)
}

// ivHandoffJoined: the interpreter offered has joined (session goroutine).
// A team partner ends the request; a hand-off's incoming interpreter starts
// the overlap, which handoff.overlap_max bounds.
func (h *Hub) ivHandoffJoined(s *session.Session, l *session.Leg) {
	iv := st(s).iv
	ho := iv.ho
	if ho == nil {
		return
	}
	if ho.purpose != "handoff" {
		iv.ho = nil
		return
	}
	ho.incoming, ho.outgoing = l.ID, iv.plan.LeadLeg
	out := ho.outgoing
	h.after(s, h.cfg.Interpreter.Handoff.Overlap(), func() {
		if s.Ended() || iv.ho != ho {
			return
		}
		if ol := s.Leg(out); ol != nil && s.Leg(ho.incoming) != nil {
			s.Record("interpreter.handoff", out, map[string]any{"state": "overlap_over"})
			_ = s.RemoveLeg(out, 200, "Handed off")
			h.ivInterpreterLeft(s, ol, false)
		}
	})
}

// ivHandoffLeft: an interpreter left while a request was in progress
// (session goroutine): the overlap is over when either of the two goes.
func (h *Hub) ivHandoffLeft(s *session.Session, l *session.Leg) {
	iv := st(s).iv
	if ho := iv.ho; ho != nil && ho.incoming != "" && (l.ID == ho.incoming || l.ID == ho.outgoing) {
		iv.ho = nil
	}
}

// ivHandoffView is the session frame's hand-off block (nil: none).
func (h *Hub) ivHandoffView(s *session.Session) *ivHandoffMsg {
	ho := st(s).iv.ho
	if ho == nil {
		return nil
	}
	m := &ivHandoffMsg{State: "queued", Purpose: ho.purpose, To: ho.to}
	switch {
	case ho.incoming != "":
		m.State = "overlap"
	case ho.agent != "":
		m.State = "ringing"
	}
	return m
}

// ivFreeInterpreter picks, for a queue request, the interpreter of that
// queue who has been ready the longest, connected, not in this session and
// not offered it already ("": nobody free now).
func (h *Hub) ivFreeInterpreter(s *session.Session, queue string, tried map[string]bool) string {
	in := map[string]bool{}
	for _, l := range s.LegsWith(session.RoleInterpreter) {
		in[l.Party] = true
	}
	var best acd.AgentStatus
	for _, a := range h.acd.Agents() {
		if a.State != acd.StateReady || in[a.ID] || tried[a.ID] || !slices.Contains(a.Queues, queue) || len(h.agentConns(a.ID)) == 0 {
			continue
		}
		if best.ID == "" || a.Since.Before(best.Since) {
			best = a
		}
	}
	return best.ID
}
