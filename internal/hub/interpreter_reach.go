package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/session"
)

// Reaching a registered deaf user (docs/interpreter.md §2.2 step 3): a
// hearing caller dialled a number of interpreter.numbers that belongs to a
// user of interpreter.users. When the first interpreter accepts, every page
// the user has open with a deaf_user token rings (`incoming`); the first to
// answer (`start {session, sdp}`) joins the session as its customer and the
// others stop ringing (`cancel`, answered_elsewhere). With no page open, or
// none answering within interpreter.reach.ring_timeout, the user's contact
// gets a join link (reach.auto). A `decline` stops the ringing and sends no
// link: the interpreter tells the caller.

type incomingMsg struct {
	Type         string `json:"type"`
	Session      string `json:"session"`
	From         string `json:"from,omitempty"` // the caller's number
	SignLanguage string `json:"sign_language"`
	Language     string `json:"language,omitempty"`
	RingTimeout  int    `json:"ring_timeout"` // seconds
}

// Reach states of ivState.reach, shown as the session frame's deaf_user
// while the deaf user has not joined.
const (
	reachRinging  = "ringing"
	reachInvited  = "invited"
	reachDeclined = "declined"
)

func (h *Hub) addDeafUser(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deafUsers.add(c)
	if c.bound == "" {
		defer h.consoleChanged(deafPresence(c.identity))
	}
}

func (h *Hub) removeDeafUser(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deafUsers.remove(c)
	if c.bound == "" {
		defer h.consoleChanged(deafPresence(c.identity))
	}
}

// deafUserConns are the user's pages here (not their sockets for one call).
func (h *Hub) deafUserConns(id string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*conn
	for _, c := range h.deafUsers.list(id) {
		if c.bound == "" {
			out = append(out, c)
		}
	}
	return out
}

// deafPresence is the key under which a deaf user's pages are recorded for
// the other nodes (store.SetConsoles; agent ids have no colon).
func deafPresence(user string) string { return "deaf:" + user }

// ivReach reaches the session's registered deaf user (session goroutine),
// once, when the first interpreter has accepted a hearing caller's call.
func (h *Hub) ivReach(s *session.Session) {
	t := st(s)
	iv := t.iv
	if iv.user == "" || iv.reach != "" || s.Leg(t.custLeg) != nil {
		return
	}
	cfg := h.cfg.Interpreter.Reach
	pages := h.deafUserConns(iv.user)
	elsewhere := h.clustered() && h.consolesElsewhere(deafPresence(iv.user))
	if len(pages) == 0 && !elsewhere {
		h.ivSendLink(s, "no page open")
		return
	}
	iv.reach = reachRinging
	iv.ringing = map[*conn]bool{}
	iv.ring = incomingMsg{Type: "incoming", Session: s.ID, From: iv.phone.To, SignLanguage: iv.sign, Language: iv.lang,
		RingTimeout: int(cfg.Ring() / time.Second)}
	for _, c := range pages {
		iv.ringing[c] = true
		c.send(iv.ring)
	}
	if elsewhere {
		// pages on other nodes: they open a socket for this call (relayed
		// here) and ring when it arrives (ivRemotePage)
		h.notifyNodes(remoteOfferNote{Kind: "incoming", User: iv.user, Session: s.ID})
	}
	s.Record("deaf_user.ringing", "", map[string]any{"pages": len(pages), "other_nodes": elsewhere})
	h.notifyAgents(s)
	h.after(s, cfg.Ring(), func() {
		if iv.reach == reachRinging && s.Leg(t.custLeg) == nil {
			h.ivStopRinging(s, nil, "timeout")
			h.ivSendLink(s, "no answer")
		}
	})
}

// ivRemotePage: a deaf user's page on another node opened its socket for a
// call ringing here (after remote_incoming): it rings too, or hears at once
// that the call no longer rings. False (the socket is closed) when the
// session is not a call for this user.
func (h *Hub) ivRemotePage(c *conn) bool {
	err := h.onSession(c.bound, func(s *session.Session) error {
		t := st(s)
		iv := t.iv
		if iv == nil || iv.user != c.identity {
			return fmt.Errorf("%w: this call is not for you", errForbidden)
		}
		if iv.reach != reachRinging || s.Leg(t.custLeg) != nil {
			c.send(cancelMsg{Type: "cancel", Session: s.ID, Reason: "answered_elsewhere"})
			return nil
		}
		iv.ringing[c] = true
		c.send(iv.ring)
		s.Record("deaf_user.ringing", "", map[string]any{"pages": 1, "other_node": true})
		return nil
	})
	if err != nil {
		c.log.Info("a deaf user's socket for a session that is not their call", "session", c.bound, "err", err)
		return false
	}
	return true
}

// ivStopRinging tells every ringing page but except that the call is no
// longer for them (session goroutine).
func (h *Hub) ivStopRinging(s *session.Session, except *conn, reason string) {
	iv := st(s).iv
	if iv == nil {
		return
	}
	for c := range iv.ringing {
		if c != except {
			c.send(cancelMsg{Type: "cancel", Session: s.ID, Reason: reason})
		}
	}
	iv.ringing = nil
}

// ivSendLink sends the registered user's contact a join link (session
// goroutine), when reach.auto is on and the user has a contact.
func (h *Hub) ivSendLink(s *session.Session, why string) {
	iv := st(s).iv
	u, ok := h.cfg.Interpreter.LookupUser(iv.user)
	if !ok || u.Contact == "" || !h.cfg.Interpreter.Reach.AutoLink() {
		iv.reach = ""
		s.Record("deaf_user.unreached", "", map[string]any{"why": why})
		h.notifyAgents(s)
		return
	}
	ch := u.Channel
	if ch == "" {
		ch = channelFor(u.Contact)
	}
	to := u.Contact
	if ch != "email" {
		to = h.e164(to)
	}
	o, err := h.linkOptions(linkReq{Channel: ch, To: to}, time.Now())
	if err != nil {
		h.log.Warn("interpreter: cannot make the deaf user's link", "session", s.ID, "err", err)
		s.Record("deaf_user.unreached", "", map[string]any{"why": "link refused"})
		return
	}
	o.SessionID = s.ID
	iv.reach = reachInvited
	s.Record("session.escalated", "", map[string]any{"channel": ch, "to": notify.MaskAddr(to), "why": why, "auto": true})
	h.notifyAgents(s)
	h.goAsync(func() { // issueLink posts to the session
		if _, err := h.issueLink(context.Background(), s, o); err != nil {
			h.log.Warn("interpreter: the deaf user's link was not sent", "session", s.ID, "err", err)
		}
	})
}

// ivUserAnswer: a registered deaf user's page answers the call it was rung
// for (start {session, sdp}): the socket is bound to the session and joins
// it as the session's customer.
func (h *Hub) ivUserAnswer(c *conn, m inFrame) error {
	if prev := c.currentSession(); prev != "" {
		if h.sessionLive(prev) {
			return fmt.Errorf("%w: this page is in a call; hang up first", errConflict)
		}
		c.forgetSession(prev)
	}
	return h.onSession(m.Session, func(s *session.Session) error {
		iv := st(s).iv
		if iv == nil || iv.user != c.identity {
			return fmt.Errorf("%w: this call is not for you", errForbidden)
		}
		if iv.reach != reachRinging || !iv.ringing[c] {
			return fmt.Errorf("%w: this call is not ringing here", errConflict)
		}
		h.ivStopRinging(s, c, "answered_elsewhere")
		iv.reach = ""
		c.mu.Lock()
		c.session = s.ID
		c.mu.Unlock()
		s.Record("deaf_user.answered", "", nil)
		ep, _ := h.cfg.Sessions.EntryPoint(c.entry)
		return h.startCustomer(s, c, m, ep, session.Customer{})
	})
}

// ivUserDecline: the page declines the call it was rung for: every page
// stops ringing and no link is sent (the interpreter tells the caller).
func (h *Hub) ivUserDecline(c *conn, m inFrame) error {
	return h.onSession(m.Session, func(s *session.Session) error {
		iv := st(s).iv
		if iv == nil || iv.user != c.identity || !iv.ringing[c] {
			return fmt.Errorf("%w: no call is ringing here", errConflict)
		}
		h.ivStopRinging(s, c, "declined")
		iv.reach = reachDeclined
		s.Record("deaf_user.declined", "", nil)
		h.notifyAgents(s)
		return nil
	})
}

// ivCallerID is the caller ID of a phone call the session places: the
// registered deaf user's own number with interpreter.dial.from: user, the
// trunk's otherwise (def).
func (h *Hub) ivCallerID(s *session.Session, def string) string {
	if h.cfg.Interpreter.Dial.From != "user" {
		return def
	}
	if u, ok := h.cfg.Interpreter.LookupUser(st(s).iv.user); ok && u.Number != "" {
		return u.Number
	}
	return def
}

// ivSetUser makes a session started from a registered deaf user's page
// theirs (session goroutine): their name and contact unless the page gave
// others, and their number as caller ID with dial.from: user.
func (h *Hub) ivSetUser(s *session.Session, id string) {
	u, ok := h.cfg.Interpreter.LookupUser(id)
	if !ok {
		return
	}
	st(s).iv.user = id
	s.Update(func(in *session.Info) {
		if in.Customer.Name == "" {
			in.Customer.Name = u.Name
		}
		if in.Customer.Contact == "" {
			in.Customer.Contact = u.Contact
		}
	})
}

// ivEntryName is the entry point a registered deaf user's own calls start
// at: the first with mode interpreter.
func (h *Hub) ivEntryName() string {
	for _, ep := range h.cfg.Sessions.EntryPoints {
		if ep.Mode == config.ModeInterpreter {
			return ep.Name
		}
	}
	return ""
}
