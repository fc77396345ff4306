package hub

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/session"
)

// The external ACD as the interpreter pool (docs/interpreter.md §2.1 step 3,
// §3.2, §4.4, §8.3). An interpreter session whose route is a SIP target is
// queued in the ACD like a Forward session. The hub's queue leg carries the
// language (Request-URI and X-Split-Sign-Language / X-Split-Language), and
// the ACD delivers it to an interpreter's console hosted here, with the
// session reference, exactly as in Forward. In the session's listen matrix
// the queue leg stands in for the lead interpreter: the interpreter's
// voice reaches the hub through the ACD (whose recording and statistics go
// on working), and the phone and the deaf user hear it by the same
// VCO/HCO/side-talk rules. Video goes from the deaf user to the console
// directly. The ACD owns hand-off and team (a transfer in the ACD is a new
// agent-path leg with the same reference).

// Headers of the hub's INVITE toward an ACD in interpreter sessions, for
// ACDs that route on attributes rather than on the Request-URI.
const (
	HeaderMode         = "X-Split-Mode"
	HeaderSignLanguage = "X-Split-Sign-Language"
	HeaderLanguage     = "X-Split-Language"
)

// ivACDHeaders are the interpreter headers of a queue leg's INVITE; nil
// outside interpreter sessions. Values come from the configuration (a
// checked BCP 47 tag) and the session, never from free text.
func ivACDHeaders(t *state) []sip.Header {
	if t.iv == nil {
		return nil
	}
	hs := []sip.Header{sip.NewHeader(HeaderMode, string(session.ModeInterpreter)), sip.NewHeader(HeaderSignLanguage, t.iv.sign)}
	if t.iv.lang != "" && config.ValidLanguageTag(t.iv.lang) {
		hs = append(hs, sip.NewHeader(HeaderLanguage, t.iv.lang))
	}
	return hs
}

// ivACDLeg: the session's queue leg toward the ACD is now id (session
// goroutine); in an interpreter session it stands in for the lead.
func (h *Hub) ivACDLeg(s *session.Session, id string, r config.Route, to string) {
	t := st(s)
	t.acdLeg = id
	if t.iv == nil {
		return
	}
	iv := t.iv
	iv.acd = true
	if to != "" && r.Name != "refer" {
		iv.acdTarget, iv.acdRoute = to, r
	}
	iv.plan.LeadLeg = id
}

// ivViaACD reports whether the session's interpreters come from the
// external ACD.
func ivViaACD(t *state) bool { return t.iv != nil && t.iv.acd }

// ivLeads reports whether console c speaks for the lead: it owns the lead
// leg, or — through the ACD — the console leg the ACD delivered.
func ivLeads(t *state, c *conn) bool {
	if c.owns(t.iv.plan.LeadLeg) {
		return true
	}
	return t.iv.acd && t.agentLeg != "" && c.owns(t.agentLeg)
}

// ivPathLeft: an interpreter's console in the ACD path is gone (session
// goroutine). Its SIP leg from the ACD is hung up. An interpreter who hung
// up with nobody else present ends the session, as with the built-in pool
// (200 Interpreter hung up); a console that was lost, or that the ACD took
// away (a transfer, a hang-up on the ACD's side), leaves the session waiting
// for the ACD, which may deliver another interpreter, with the deaf user
// told. It reports whether it took care of the leg (an ACD session).
func (h *Hub) ivPathLeft(s *session.Session, l *session.Leg, lost bool) bool {
	t := st(s)
	if !ivViaACD(t) {
		return false
	}
	for _, o := range s.Legs() {
		if o.Group == l.Group && o.Role == session.RoleAgentPath && l.Group != "" {
			_ = s.RemoveLeg(o.ID, 200, "Interpreter hung up")
		}
	}
	if len(s.LegsWith(session.RoleInterpreter)) == 0 && !s.Ended() {
		if !lost {
			h.end(s, 200, "Interpreter hung up")
			return true
		}
		if s.State() == session.StateActive {
			_ = s.SetState(session.StateWaiting, map[string]any{"for": "interpreter", "where": "acd"})
		}
	}
	h.notifyCustomer(s)
	h.notifyAgents(s)
	return true
}

// ivACDGone: the queue leg toward the ACD ended (session goroutine). While
// an interpreter had the call and the deaf user or the phone is still there,
// the session is queued again on the same route (§8.3): the hub dials the
// ACD again and waits interpreter.requeue_max_wait for an interpreter. It
// reports false when the caller should end the session as usual.
func (h *Hub) ivACDGone(s *session.Session, l *session.Leg) bool {
	t := st(s)
	if !ivViaACD(t) || l.ID != t.acdLeg {
		return false
	}
	if sc, ok := l.EP.(*sipEP); ok {
		if c, _ := sc.c.End(); c >= 300 && c != 487 {
			return false // the ACD refused the queue call: its cause ends the session (no loop of redials)
		}
	}
	iv := t.iv
	wait := h.cfg.Interpreter.Requeue()
	phone := s.Leg(iv.phoneLeg) != nil && iv.phone.State == "connected"
	if wait <= 0 || iv.acdTarget == "" || len(iv.joined) == 0 || (s.Leg(t.custLeg) == nil && !phone) {
		return false
	}
	// the ACD took its interpreter with it: their console legs go too
	for _, o := range s.LegsWith(session.RoleInterpreter) {
		_ = s.RemoveLeg(o.ID, 200, "Call moved")
		h.ivInterpreterLeft(s, o, true)
	}
	if s.Ended() {
		return true
	}
	iv.plan.SideTalk = false
	iv.purpose = "handoff"
	iv.requeues++
	n := iv.requeues
	s.Record("interpreter.lost", l.ID, map[string]any{"agent": "acd", "requeue_max_wait_seconds": int(wait / time.Second)})
	h.m.Interpreter("requeued")
	_ = s.SetState(session.StateWaiting, map[string]any{"for": "interpreter", "where": "acd"})
	if err := h.dialACD(s, iv.acdTarget, iv.acdRoute); err != nil {
		h.log.Warn("interpreter: cannot queue the session in the ACD again", "session", s.ID, "err", err)
		h.end(s, 503, "Route failed")
		return true
	}
	s.Replan()
	h.notifyCustomer(s)
	h.notifyAgents(s)
	h.after(s, wait, func() {
		if !s.Ended() && iv.requeues == n && len(s.LegsWith(session.RoleInterpreter)) == 0 {
			h.end(s, 480, "No interpreter available")
		}
	})
	return true
}
