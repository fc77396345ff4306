package hub

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/session"
)

// Remote Viewer: a phone call that reached an agent through the ACD
// becomes a video call without dropping the voice. The agent escalates from
// the console; the caller's number gets a link; the customer's browser joins
// the same session with its camera. The phone keeps the audio (the browser
// leg sits in an audio group of its own) — or, if the customer chooses,
// the audio moves to the browser: the browser joins the agent's audio
// group (mixed with the phone for a moment, so the agent hears no gap) and
// the phone leg is released once the browser's audio is flowing.

const moveAudioMinPackets = 25 // half a second of browser audio before the phone goes

// escalate: the console's "escalate" for the agent's current session.
func (h *Hub) escalate(c *conn, m inFrame) error {
	if !h.limiter.allow("invite|"+c.identity, 20) {
		return fmt.Errorf("%w: too many invitations; wait a minute", errUnavailableErr)
	}
	return h.onSession(c.agentSession(m.Session), func(s *session.Session) error {
		if !c.inSession(s) {
			return fmt.Errorf("%w: not your session", errForbidden)
		}
		t := st(s)
		wa := t.wa != nil && t.custLeg == t.wa.leg
		if s.Leg(t.custLeg) != nil && (!wa || s.Leg(t.wa.browser) != nil) {
			return fmt.Errorf("%w: the customer is already in a browser", errConflict)
		}
		to := strings.TrimSpace(m.To)
		if to == "" {
			to = s.Info().Customer.Contact
		}
		if to != "" && !strings.Contains(to, "@") {
			to = h.e164(to)
		}
		ch := m.Channel
		if ch == "" && wa {
			ch = "whatsapp" // the link goes to the same chat
		}
		if ch == "" {
			ch = channelFor(to)
		}
		if ch != "copy" && to == "" {
			return fmt.Errorf("%w: no number for the customer: give one in to", errBadRequest)
		}
		o, err := h.linkOptions(linkReq{Channel: ch, To: to}, time.Now())
		if err != nil {
			return err
		}
		o.SessionID = s.ID
		// issueLink posts to the session: run it off this goroutine.
		h.goAsync(func() {
			lk, err := h.issueLink(context.Background(), s, o)
			if err != nil {
				c.sendErr(err, "", s.ID)
				return
			}
			c.send(invitedMsg{Type: "invited", Session: s.ID, URL: lk.URL, Channel: lk.Channel, To: to, Delivery: lk.Delivery, ExpiresAt: lk.ExpiresAt})
		})
		if t.iv == nil {
			t.escalated = true // an interpreter session's deaf user is its customer, not a viewer of a phone call
		}
		s.Record("session.escalated", "", map[string]any{"channel": ch, "to": notify.MaskAddr(to)})
		return nil
	})
}

// moveAudio: the customer asked to take the call's audio to the browser.
func (h *Hub) moveAudio(c *conn) error {
	return h.onSession(c.currentSession(), func(s *session.Session) error {
		t := st(s)
		if t.wa != nil && t.customer == c && t.custLeg == t.wa.leg {
			return h.waMoveAudio(s)
		}
		if t.customer != c || s.Leg(t.custLeg) == nil {
			return fmt.Errorf("%w: not your session", errForbidden)
		}
		var phone *session.Leg
		for _, l := range s.Legs() {
			if l.Role == session.RoleAgentPath {
				phone = l
			}
		}
		if phone == nil {
			return fmt.Errorf("%w: there is no phone call to move from", errConflict)
		}
		if err := s.SetGroup(t.custLeg, phone.Group); err != nil {
			return err
		}
		s.Record("audio.moving", t.custLeg, map[string]any{"from": phone.ID})
		h.releasePhoneWhenFlowing(s, t.custLeg, phone.ID, 0)
		return nil
	})
}

// releasePhoneWhenFlowing checks every 100 ms (for 10 s) that the
// browser's audio flows, then hangs the phone leg up (session goroutine).
func (h *Hub) releasePhoneWhenFlowing(s *session.Session, custLeg, phoneLeg string, tries int) {
	cl := s.Leg(custLeg)
	if cl == nil || s.Leg(phoneLeg) == nil {
		return
	}
	ep, ok := cl.EP.(*rtcEP)
	if !ok {
		return
	}
	base, _ := ep.l.PacketsIn()
	h.goAsync(func() {
		for i := tries; i < 100; i++ {
			select {
			case <-s.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			if a, _ := ep.l.PacketsIn(); a >= base+moveAudioMinPackets {
				s.Do(func() {
					if s.Leg(phoneLeg) == nil {
						return
					}
					_ = s.RemoveLeg(phoneLeg, 200, "Moved to browser")
					if t := st(s); t.wa != nil && t.wa.leg == phoneLeg {
						t.custLeg, t.wa.browser = custLeg, "" // the browser is the customer's call now
					}
					s.Record("audio.moved", custLeg, map[string]any{"released": phoneLeg})
					if t := st(s); t.customer != nil {
						t.customer.send(audioMovedMsg{Type: "audio_moved", Session: s.ID})
					}
				})
				return
			}
		}
		s.Do(func() {
			// the browser sends no audio: keep the phone, put the browser back
			back := ""
			if t := st(s); t.wa != nil && t.wa.browser == custLeg {
				back = "browser:" + custLeg // its own group: the voice stays on WhatsApp
			}
			_ = s.SetGroup(custLeg, back)
			s.Record("audio.move_failed", custLeg, nil)
		})
	})
}
