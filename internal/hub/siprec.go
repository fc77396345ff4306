package hub

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/siprec"
)

// SIPREC (docs/copilot.md §7): a route's sessions recorded to a Session
// Recording Server once answered; internal/siprec does the SIP and the
// streams, fed by the session's tap like an AI.

// siprecStart records the session to uri (session goroutine).
func (h *Hub) siprecStart(s *session.Session, uri string) {
	if st(s).iv != nil && (h.cfg.Interpreter == nil || !h.cfg.Interpreter.AllowRecording) {
		s.Record("siprec.failed", "", map[string]any{"reason": "interpreter sessions are confidential (interpreter.allow_recording is off)"})
		return
	}
	if h.ua == nil {
		return
	}
	c := h.cp(s)
	r := siprec.Start(h.ua, uri, s.ID, []sip.Header{sip.NewHeader("X-Split-Session", s.ID)}, &siprecEvents{h: h, s: s, uri: uri}, h.log)
	c.recs = append(c.recs, r)
	c.publishFeed()
	s.SetOverride(c)
	s.SetTap(c.tap)
	for _, l := range s.Legs() {
		if l.Role == session.RoleAI {
			continue
		}
		if err := r.Participant(l.ID, string(l.Role), l.Name, h.aorOf(s, l), "joined"); err != nil {
			h.log.Warn("siprec: cannot record a participant", "session", s.ID, "leg", l.ID, "err", err)
		}
		c.known[l.ID] = h.cpLegState(s, l)
	}
	h.goAsync(func() { <-r.Done() })
}

// aorOf is a participant's address for the metadata's nameID.
func (h *Hub) aorOf(s *session.Session, l *session.Leg) string {
	host := h.cfg.SIP.Host
	if host == "" {
		host = "127.0.0.1"
	}
	switch {
	case l.Role == session.RoleCustomer && s.Info().Customer.Contact != "":
		c := s.Info().Customer.Contact
		if strings.HasPrefix(c, "+") {
			return "tel:" + c
		}
		if strings.Contains(c, "@") && !strings.HasPrefix(c, "sip") {
			return "sip:" + c
		}
		return c
	case strings.HasPrefix(l.Party, "sip:") || strings.HasPrefix(l.Party, "sips:"):
		return l.Party
	case l.Party != "" && l.Role != session.RoleCustomer:
		return "sip:" + l.Party + "@" + host
	}
	return "sip:" + string(l.Role) + "-" + l.ID + "@" + host
}

// siprecEvents records a recording's progress in the session's history.
type siprecEvents struct {
	h   *Hub
	s   *session.Session
	uri string
}

func (e *siprecEvents) Recording(event string, code int, reason string) {
	e.s.Do(func() {
		if e.s.Ended() {
			return
		}
		data := map[string]any{"srs": e.uri}
		if code != 0 {
			data["code"] = code
		}
		if reason != "" {
			data["reason"] = reason
		}
		e.s.Record("siprec."+event, "", data)
	})
}
