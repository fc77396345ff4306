package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/httpjson"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/wsjson"
)

// Roles of a socket (docs/sessions.md).
const (
	roleCustomer = "customer"
	roleAgent    = "agent"
	roleViewer   = "viewer"
)

// Messages of docs/sessions.md.
type (
	inFrame struct {
		Type     string            `json:"type"`
		Leg      string            `json:"leg"`
		Session  string            `json:"session"`
		SDP      string            `json:"sdp"`
		Name     string            `json:"name"`
		Context  map[string]string `json:"context"`
		Language string            `json:"language"`
		Queues   []string          `json:"queues"`
		// VideoCodecs: the video codecs a console's browser both encodes
		// and decodes (login), for the interpreter mode's H.264 choice
		VideoCodecs []string                 `json:"video_codecs"`
		Ready       *bool                    `json:"ready"`
		Hold        bool                     `json:"hold"`
		Mute        bool                     `json:"mute"`
		To          string                   `json:"to"`
		Digits      string                   `json:"digits"`
		Channel     string                   `json:"channel"`
		Candidate   *webrtc.ICECandidateInit `json:"candidate"`
		// Deaf Interpreter mode (docs/interpreter.md §5)
		SignLanguage string `json:"sign_language"`
		VCO          *bool  `json:"vco"`
		HCO          *bool  `json:"hco"`
		SideTalk     *bool  `json:"side_talk"`
		Cancel       bool   `json:"cancel"`
		// Copilot AI mode (docs/copilot.md): a service to attach or detach,
		// a supervisor's listen mode
		Service string `json:"service"`
		Mode    string `json:"mode"`
	}
	helloMsg struct {
		Type       string             `json:"type"`
		Role       string             `json:"role"`
		Identity   string             `json:"identity"`
		Session    string             `json:"session,omitempty"`
		ICEServers []webrtc.ICEServer `json:"ice_servers"`
		Server     string             `json:"server"`
		Agent      *agentMsg          `json:"agent,omitempty"`
		Queues     []string           `json:"queues,omitempty"`
		// Interpreter: the Deaf Interpreter mode's choices (languages,
		// dial hints) for a deaf user's page and interpreter consoles.
		Interpreter *ivHelloMsg `json:"interpreter,omitempty"`
		// Copilot: the AI services an agent may attach from the console.
		Copilot []string `json:"copilot,omitempty"`
	}
	answerMsg struct {
		Type    string `json:"type"`
		Leg     string `json:"leg"`
		Session string `json:"session"`
		SDP     string `json:"sdp"`
		// Resume (customers): a socket token for this session, to come back
		// after a dropped connection or a reload while the call goes on.
		Resume string `json:"resume,omitempty"`
	}
	offerMsg struct {
		Type        string           `json:"type"`
		Leg         string           `json:"leg"`
		Session     string           `json:"session"`
		SDP         string           `json:"sdp"`
		Queue       string           `json:"queue,omitempty"`
		From        string           `json:"from,omitempty"`
		Customer    session.Customer `json:"customer"`
		Video       bool             `json:"video"`
		RingTimeout int              `json:"ring_timeout,omitempty"`
		Interpreter *ivOfferMsg      `json:"interpreter,omitempty"`
		// Supervise: a supervisor's offer, with the listen mode they join in
		Supervise string `json:"supervise,omitempty"`
	}
	cancelMsg struct {
		Type    string `json:"type"`
		Leg     string `json:"leg"`
		Session string `json:"session"`
		Reason  string `json:"reason"`
	}
	sessionMsg struct {
		Type     string `json:"type"`
		Session  string `json:"session"`
		State    string `json:"state"`
		Mode     string `json:"mode"`
		Queue    string `json:"queue,omitempty"`
		Position int    `json:"position,omitempty"`
		EWT      int    `json:"ewt,omitempty"`
		Held     bool   `json:"held"`
		// PhoneAudio: the customer's voice is on a phone call (Remote
		// Viewer); the page offers to move it to the browser.
		PhoneAudio  bool              `json:"phone_audio,omitempty"`
		Agent       *session.AgentRef `json:"agent,omitempty"`
		Customer    *session.Customer `json:"customer,omitempty"`
		Interpreter *ivSessionMsg     `json:"interpreter,omitempty"`
	}
	agentMsg struct {
		Type    string    `json:"type"`
		ID      string    `json:"id"`
		Name    string    `json:"name,omitempty"`
		State   string    `json:"state"`
		Since   time.Time `json:"since"`
		Queues  []string  `json:"queues"`
		Session string    `json:"session,omitempty"`
	}
	endedMsg struct {
		Type    string `json:"type"`
		Session string `json:"session"`
		Leg     string `json:"leg,omitempty"`
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
	}
	errorMsg struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Leg     string `json:"leg,omitempty"`
		Session string `json:"session,omitempty"`
	}
	restartedMsg struct {
		Type    string `json:"type"`
		Leg     string `json:"leg"`
		Session string `json:"session"`
		SDP     string `json:"sdp"`
	}
	deliveryMsg struct {
		Type     string `json:"type"`
		Session  string `json:"session"`
		Channel  string `json:"channel"`
		Status   string `json:"status"`
		Fallback string `json:"fallback,omitempty"` // "template": WhatsApp got the approved template
	}
	audioMovedMsg struct {
		Type    string `json:"type"`
		Session string `json:"session"`
	}
	pongMsg struct {
		Type string `json:"type"`
	}
)

func agentStateMsg(a acd.AgentStatus) agentMsg {
	q := a.Queues
	if q == nil {
		q = []string{}
	}
	return agentMsg{Type: "agent", ID: a.ID, Name: a.Name, State: a.State.String(), Since: a.Since.UTC(), Queues: q, Session: a.Session}
}

// Errors with their protocol codes.
var (
	errBadRequest     = errors.New("bad_request")
	errConflict       = errors.New("conflict")
	errNotFoundErr    = errors.New("not_found")
	errUnavailableErr = errors.New("unavailable")
	errForbidden      = errors.New("forbidden")
)

func errCode(err error) string {
	for _, e := range []error{errBadRequest, errConflict, errNotFoundErr, errUnavailableErr, errForbidden} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if errors.Is(err, errUnavailable) {
		return "unavailable"
	}
	if errors.Is(err, errNotFound) {
		return "not_found"
	}
	return "bad_request"
}

// Peer is who a socket is, decided by the HTTP layer before the upgrade.
type Peer struct {
	Role     string // customer, agent, viewer
	Identity string
	Session  string // token-scoped session (viewer, customer join token)
	Entry    string // customer: entry point
	Addr     string // client address (rate limits)
	DeafUser bool   // customer: a registered deaf user's page (Identity is the user), rung for their calls
}

// conn is one session-protocol socket.
type conn struct {
	h        *Hub
	ws       *websocket.Conn
	role     string
	identity string
	entry    string
	addr     string
	deafUser bool     // a registered deaf user's page (interpreter_reach.go)
	vcodecs  []string // video codecs the console's browser encodes and decodes (login; under mu)
	log      *slog.Logger
	out      *wsjson.Out

	mu       sync.Mutex
	legs     map[string]string // leg id → session id, for this socket's legs and offers
	session  string            // customer/viewer: their session
	loggedIn bool

	// bound: an agent's socket for one session, opened on a remote_offer
	// (remote.go); it gets that session's offers only. Set at creation.
	bound string
}

// boundSession is the session an agent's socket is for ("": the console's
// own socket).
func (c *conn) boundSession() string { return c.bound }

// Serve runs the session protocol on ws until it closes.
func (h *Hub) Serve(ctx context.Context, ws *websocket.Conn, p Peer) {
	ws.SetReadLimit(256 << 10)
	c := &conn{h: h, ws: ws, role: p.Role, identity: p.Identity, entry: p.Entry, addr: p.Addr, session: p.Session,
		deafUser: p.DeafUser, legs: map[string]string{}}
	if p.Role == roleAgent || p.DeafUser {
		c.bound = p.Session // a socket for one call (remote_offer, remote_incoming)
		if p.DeafUser {
			c.session = "" // the page's call starts with start {session}
		}
	}
	c.log = h.log.With("role", p.Role, "identity", p.Identity)
	c.out = wsjson.NewOut(ws, 64, c.log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.out.Run(ctx)
	}()
	ice := h.rtc.ICEServers()
	if ice == nil {
		ice = []webrtc.ICEServer{} // an array, never null: it goes to RTCPeerConnection as it is
	}
	hello := helloMsg{Type: "hello", Role: p.Role, Identity: p.Identity, Session: p.Session, ICEServers: ice, Server: "split/" + h.version}
	if p.Role == roleAgent {
		h.addAgent(c)
		for _, q := range h.cfg.Sessions.Queues {
			hello.Queues = append(hello.Queues, q.Name)
		}
		hello.Copilot = h.cpAttachable()
		// An agent's hello always says where the agent stands: its ACD
		// state, or logged_out (in no queue) before its first login.
		a, ok := h.agentStatus(p.Identity)
		if !ok {
			a = acd.AgentStatus{ID: p.Identity, State: acd.StateLoggedOut, Since: time.Now()}
			if sa, err := h.store.GetAgent(ctx, p.Identity); err == nil {
				a.Name = sa.Name
			}
		}
		m := agentStateMsg(a)
		hello.Agent = &m
		hello.Interpreter = h.ivHello()
	}
	if p.Role == roleCustomer && (p.DeafUser || h.ivEntry(p.Entry) || p.Session != "" && h.sessionMode(p.Session) == session.ModeInterpreter) {
		hello.Interpreter = h.ivHello()
	}
	if p.DeafUser {
		c.entry = h.ivEntryName() // the user's own calls start there
		h.addDeafUser(c)
		if u, ok := h.cfg.Interpreter.LookupUser(p.Identity); ok && hello.Interpreter != nil {
			hello.Interpreter.User = &ivUserMsg{ID: u.ID, Name: u.Name, SignLanguage: u.SignLanguage}
		}
	}
	c.send(hello)
	c.log.Info("session socket connected")
	refused := false
	switch {
	case c.bound != "" && p.DeafUser:
		refused = !h.ivRemotePage(c) // a call for the user rings here
	case c.bound != "":
		h.sessionSocketArrived(c) // a call on this node waits for it
	}
	if !refused {
		c.readLoop(ctx)
	}
	c.gone()
	cancel()
	wg.Wait()
	c.log.Info("session socket closed")
}

func (h *Hub) agentStatus(id string) (acd.AgentStatus, bool) {
	for _, a := range h.acd.Agents() {
		if a.ID == id {
			return a, true
		}
	}
	return acd.AgentStatus{}, false
}

// connIndex is the open sockets of an identity (an agent's consoles, a
// registered deaf user's pages), under Hub.mu.
type connIndex map[string]map[*conn]struct{}

func (x connIndex) add(c *conn) {
	m := x[c.identity]
	if m == nil {
		m = map[*conn]struct{}{}
		x[c.identity] = m
	}
	m[c] = struct{}{}
}

// remove reports whether c was the identity's last socket.
func (x connIndex) remove(c *conn) bool {
	m := x[c.identity]
	delete(m, c)
	if len(m) == 0 {
		delete(x, c.identity)
		return true
	}
	return false
}

func (x connIndex) list(id string) []*conn {
	out := make([]*conn, 0, len(x[id]))
	for c := range x[id] {
		out = append(out, c)
	}
	return out
}

func (h *Hub) addAgent(c *conn) {
	h.mu.Lock()
	h.agents.add(c)
	h.mu.Unlock()
	if c.bound == "" {
		h.consoleChanged(c.identity)
	}
}

// removeAgent reports whether it was the agent's last console.
func (h *Hub) removeAgent(c *conn) bool {
	h.mu.Lock()
	last := h.agents.remove(c)
	h.mu.Unlock()
	if c.bound == "" {
		h.consoleChanged(c.identity)
	}
	return last
}

func (h *Hub) agentConns(id string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents.list(id)
}

// gone: the socket closed. A customer's or viewer's leg ends with it; an
// agent's calls end and, if it was their last console (on any node), they
// are logged out. A session's own socket (?session=) is not a console: the
// ACD is shared by the nodes, and the console that asked for that socket
// stays logged in.
func (c *conn) gone() {
	h := c.h
	if c.role == roleAgent && h.removeAgent(c) && c.bound == "" && !(h.clustered() && h.consolesElsewhere(c.identity)) {
		_ = h.acd.Logout(c.identity)
	}
	if c.deafUser {
		h.removeDeafUser(c)
	}
	c.mu.Lock()
	legs := make(map[string]string, len(c.legs))
	for k, v := range c.legs {
		legs[k] = v
	}
	c.mu.Unlock()
	if sid := c.currentSession(); c.role == roleCustomer && sid != "" && len(legs) == 0 {
		// an appointment's customer who left before starting the call
		if s := h.Session(sid); s != nil {
			s.Do(func() { h.endUnjoined(s) })
		}
	}
	for legID, sid := range legs {
		if s := h.Session(sid); s != nil {
			s.Do(func() {
				t := st(s)
				if o := t.offers[legID]; o != nil && o.agent == c.identity {
					if len(h.agentConns(c.identity)) == 0 {
						_ = h.decline(s, c, legID)
					}
					return
				}
				if c.role == roleCustomer && legID == st(s).custLeg && h.customerDropped(s, legID, true) {
					return // the session waits for the customer to come back
				}
				if l := s.Leg(legID); l != nil {
					if iv := st(s).iv; iv != nil && l.Role == session.RoleInterpreter {
						iv.dropped[legID] = true // lost, not hung up: the session may wait for another (ivRequeue)
					}
					_ = s.RemoveLeg(legID, 200, "Browser disconnected")
					h.afterRemoval(s, l)
				}
			})
		}
	}
}

// afterRemoval applies the policy after the hub itself removed leg l
// (RemoveLeg does not run the leg-gone policy). l is the leg as it was in the
// session — its role, party and audio group decide what else goes with it.
func (h *Hub) afterRemoval(s *session.Session, l *session.Leg) {
	t := st(s)
	switch l.Role {
	case session.RoleCustomer:
		if h.waBrowserGone(s, l.ID) {
			return
		}
		if l.ID == t.custLeg && t.escalated && h.hasPhone(s) {
			t.custLeg, t.customer = "", nil
			s.Record("session.video_ended", l.ID, nil)
			h.notifyAgents(s)
			return
		}
		if l.ID == t.custLeg {
			code, reason := 200, "Customer hung up"
			if s.State() != session.StateActive {
				code, reason = 487, "Customer abandoned"
			}
			h.end(s, code, reason)
			return
		}
	case session.RoleAgent:
		h.agentLeft(s, l)
	case session.RoleInterpreter:
		h.ivInterpreterLeft(s, l, false)
	}
	h.endIfEmpty(s)
}

// endedNotifier tells this socket that its leg is over.
func (c *conn) endedNotifier(sid, legID string) func(int, string) {
	return func(code int, reason string) {
		if c.untrack(legID) {
			c.send(endedMsg{Type: "ended", Session: sid, Leg: legID, Code: code, Reason: reason})
		}
	}
}

func (c *conn) track(legID, sid string) {
	c.mu.Lock()
	c.legs[legID] = sid
	c.mu.Unlock()
}

// untrack reports whether the socket had the leg.
func (c *conn) untrack(legID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.legs[legID]
	delete(c.legs, legID)
	return ok
}

func (c *conn) sessionOf(legID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.legs[legID]
}

func (c *conn) send(v any) { c.out.Send(v) }

func (c *conn) sendErr(err error, leg, sid string) {
	c.send(errorMsg{Type: "error", Code: errCode(err), Message: err.Error(), Leg: leg, Session: sid})
}

// parseFrame decodes one client frame; it never panics on any input.
func parseFrame(b []byte) (inFrame, error) {
	var m inFrame
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: malformed JSON: %v", errBadRequest, err)
	}
	if m.Type == "" {
		return m, fmt.Errorf("%w: missing type", errBadRequest)
	}
	if len(m.SDP) > 64<<10 {
		return m, fmt.Errorf("%w: sdp too large", errBadRequest)
	}
	if len(m.Name) > 128 || len(m.To) > 256 || len(m.Digits) > 64 || len(m.Context) > 32 || len(m.Queues) > 64 {
		return m, fmt.Errorf("%w: field too long", errBadRequest)
	}
	for k, v := range m.Context {
		if len(k) > 64 || len(v) > 512 {
			return m, fmt.Errorf("%w: context entries are limited to 64-character keys and 512-character values", errBadRequest)
		}
		if httpjson.CheckText(k) != nil || httpjson.CheckText(v) != nil {
			return m, fmt.Errorf("%w: context entries take printable text only", errBadRequest)
		}
	}
	if len(m.Language) > 35 {
		return m, fmt.Errorf("%w: field too long", errBadRequest)
	}
	for _, f := range append([]string{m.Name, m.Language, m.To, m.Digits, m.Channel, m.Leg, m.Session, m.Service, m.Mode}, m.Queues...) {
		if err := httpjson.CheckText(f); err != nil {
			return m, fmt.Errorf("%w: %v", errBadRequest, err)
		}
	}
	return m, nil
}

func (c *conn) readLoop(ctx context.Context) {
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.sendErr(fmt.Errorf("%w: text frames only", errBadRequest), "", "")
			continue
		}
		m, err := parseFrame(b)
		if err != nil {
			c.sendErr(err, m.Leg, m.Session)
			continue
		}
		c.handle(m)
	}
}

func (c *conn) handle(m inFrame) {
	h := c.h
	if m.Type == "ping" {
		c.send(pongMsg{Type: "pong"})
		return
	}
	if ok, err := h.ivFrame(c, m); ok {
		if err != nil {
			c.sendErr(err, m.Leg, m.Session)
		}
		return
	}
	var err error
	switch c.role + "/" + m.Type {
	case "customer/start":
		if c.deafUser && m.Session != "" {
			err = h.ivUserAnswer(c, m) // an incoming call rung here
			break
		}
		err = h.customerStart(c, m) // (a registered deaf user's own call starts at the interpreter entry point)
	case "customer/decline":
		if !c.deafUser { // only a registered deaf user's page is rung
			err = fmt.Errorf("%w: %q is not a %s message", errBadRequest, m.Type, c.role)
			break
		}
		err = h.ivUserDecline(c, m)
	case "viewer/view":
		err = h.viewerJoin(c, m)
	case "agent/login":
		c.setVideoCodecs(m.VideoCodecs)
		err = h.agentLogin(c, m.Queues)
	case "agent/escalate":
		err = h.escalate(c, m)
	case "customer/move_audio":
		err = h.moveAudio(c)
	case "agent/invite":
		err = h.agentInvite(c, m)
	case "agent/copilot_attach", "agent/copilot_detach", "agent/supervise":
		err = h.cpFrame(c, m)
	case "agent/logout":
		err = h.acd.Logout(c.identity)
	case "agent/ready":
		if m.Ready == nil {
			err = fmt.Errorf("%w: ready needs a boolean", errBadRequest)
			break
		}
		err = h.acd.SetReady(c.identity, *m.Ready)
	case "agent/accept", "agent/decline":
		sid := c.sessionOf(m.Leg)
		err = h.onSession(sid, func(s *session.Session) error {
			if m.Type == "accept" {
				return h.accept(s, c, m.Leg, m.SDP)
			}
			return h.decline(s, c, m.Leg)
		})
	case "agent/hold":
		err = h.onSession(c.agentSession(m.Session), func(s *session.Session) error {
			if !c.inSession(s) {
				return fmt.Errorf("%w: not your session", errForbidden)
			}
			if st(s).iv != nil {
				return fmt.Errorf("%w: hold is not available in interpreter sessions (use mute to phone)", errConflict)
			}
			// An agent whose call came through an external ACD holds the
			// way a SIP phone does: a re-INVITE (sendonly) on its leg, so
			// the ACD plays its music on hold to the customer.
			for _, l := range s.Legs() {
				if l.Role == session.RoleAgentPath && c.inGroup(s, l.Group) {
					sc := l.EP.(*sipEP).c
					hold := m.Hold
					h.goAsync(func() {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						if err := sc.SetHold(ctx, hold); err != nil {
							c.sendErr(fmt.Errorf("%w: hold: %v", errConflict, err), "", s.ID)
						}
					})
					s.Update(func(in *session.Info) { in.Held = hold })
					st(s).pathHeld = ""
					if hold {
						st(s).pathHeld = l.ID
					}
					typ := "session.resumed"
					if hold {
						typ = "session.held"
					}
					s.Record(typ, l.ID, map[string]any{"by": "re-INVITE"})
					h.notifyAgents(s)
					return nil
				}
			}
			s.SetHeld(m.Hold)
			h.notifyCustomer(s)
			h.notifyAgents(s)
			return nil
		})
	case "agent/transfer":
		err = h.onSession(c.agentSession(m.Session), func(s *session.Session) error {
			if !c.inSession(s) {
				return fmt.Errorf("%w: not your session", errForbidden)
			}
			return h.transfer(s, c.identity, m.To)
		})
	case "agent/hangup", "viewer/hangup", "customer/hangup":
		sid := m.Session
		if c.role != roleAgent || sid == "" {
			sid = c.currentSession()
		}
		err = h.onSession(sid, func(s *session.Session) error {
			if c.role == roleCustomer {
				t := st(s)
				if t.customer != c && t.dropped && t.custLeg == "" && c.currentSession() == s.ID {
					// The page closed its PeerConnection as it sent hangup, and
					// the hub saw the media go first (a drop, waiting for a
					// resume): the hangup from the same socket ends the call.
					h.end(s, 200, "Customer hung up")
					return nil
				}
				if t.customer != c {
					return fmt.Errorf("%w: not your session", errForbidden)
				}
				if l := s.Leg(t.custLeg); l != nil && t.escalated && h.hasPhone(s) {
					_ = s.RemoveLeg(l.ID, 200, "Customer closed the video")
					h.afterRemoval(s, l)
					return nil
				}
				if t.wa != nil && t.wa.browser != "" && t.custLeg == t.wa.leg {
					// the voice is on WhatsApp: the browser only closes its video
					if l := s.Leg(t.wa.browser); l != nil {
						_ = s.RemoveLeg(l.ID, 200, "Customer closed the video")
						h.afterRemoval(s, l)
						return nil
					}
				}
				code, reason := 200, "Customer hung up"
				if s.State() != session.StateActive {
					code, reason = 487, "Customer abandoned"
				}
				h.end(s, code, reason)
				return nil
			}
			for _, l := range s.Legs() {
				if c.owns(l.ID) && s.Leg(l.ID) == l && !s.Ended() {
					_ = s.RemoveLeg(l.ID, 200, "Hung up")
					h.afterRemoval(s, l)
				}
			}
			return nil
		})
	case "agent/mute", "customer/mute":
		err = h.onSession(c.currentSession(), func(s *session.Session) error {
			s.Record("participant.mute", "", map[string]any{"who": c.identity, "mute": m.Mute})
			for _, l := range s.Legs() {
				if c.owns(l.ID) || (c.role == roleCustomer && l.ID == st(s).custLeg) {
					h.cpMute(s, l, m.Mute)
				}
			}
			return nil
		})
	case "customer/dtmf":
		err = h.onSession(c.currentSession(), func(s *session.Session) error {
			t := st(s)
			l := s.Leg(t.acdLeg)
			if l == nil {
				return fmt.Errorf("%w: no SIP leg to send DTMF to", errConflict)
			}
			sc := l.EP.(*sipEP).c
			digits := m.Digits
			h.cpDTMF(s, t.custLeg, digits)
			h.goAsync(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = sc.SendDTMF(ctx, digits)
			})
			return nil
		})
	case "agent/restart", "customer/restart", "viewer/restart":
		err = h.restartICE(c, m.Leg, m.SDP)
	case "agent/candidate", "customer/candidate", "viewer/candidate":
		if m.Candidate == nil {
			err = fmt.Errorf("%w: candidate missing", errBadRequest)
			break
		}
		err = h.onSession(c.sessionOf(m.Leg), func(s *session.Session) error {
			if l := s.Leg(m.Leg); l != nil {
				if e, ok := l.EP.(*rtcEP); ok {
					return e.l.AddCandidate(*m.Candidate)
				}
			}
			if o := st(s).offers[m.Leg]; o != nil {
				return o.rl.AddCandidate(*m.Candidate)
			}
			return fmt.Errorf("%w: no such leg", errNotFoundErr)
		})
	default:
		err = fmt.Errorf("%w: %q is not a %s message", errBadRequest, m.Type, c.role)
	}
	if err != nil {
		c.sendErr(err, m.Leg, m.Session)
	}
}

func (c *conn) owns(legID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.legs[legID]
	return ok
}

func (c *conn) currentSession() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// agentSession resolves the session an agent's request names (or the
// agent's only one).
func (c *conn) agentSession(sid string) string {
	if sid != "" {
		return sid
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.legs {
		return s
	}
	return ""
}

// inSession: the agent has a leg in s (session goroutine).
func (c *conn) inSession(s *session.Session) bool {
	for _, l := range s.Legs() {
		if c.owns(l.ID) {
			return true
		}
	}
	return false
}

// inGroup: the agent has a leg in audio group g (session goroutine).
func (c *conn) inGroup(s *session.Session, g string) bool {
	for _, l := range s.Legs() {
		if l.Group == g && c.owns(l.ID) {
			return true
		}
	}
	return false
}

// onSession runs f on the session's goroutine and returns its error.
func (h *Hub) onSession(sid string, f func(*session.Session) error) error {
	if sid == "" {
		return fmt.Errorf("%w: no session", errNotFoundErr)
	}
	s := h.Session(sid)
	if s == nil {
		return fmt.Errorf("%w: session %s is not live", errNotFoundErr, sid)
	}
	var err error
	if !s.Call(func() {
		if s.Ended() {
			err = fmt.Errorf("%w: session ended", errNotFoundErr)
			return
		}
		err = f(s)
	}) {
		return fmt.Errorf("%w: session ended", errNotFoundErr)
	}
	return err
}

// agentLogin logs an agent into the built-in ACD.
func (h *Hub) agentLogin(c *conn, queues []string) error {
	a, err := h.store.GetAgent(context.Background(), c.identity)
	if err != nil {
		return fmt.Errorf("%w: agent %q is not configured (sessions.agents or POST /v1/agents)", errForbidden, c.identity)
	}
	if len(queues) == 0 {
		queues = a.Queues
	}
	for _, q := range queues {
		if !slices.Contains(a.Queues, q) {
			return fmt.Errorf("%w: agent %q is not a member of queue %q", errForbidden, c.identity, q)
		}
	}
	if err := h.acd.Login(c.identity, a.Name, queues); err != nil {
		if errors.Is(err, acd.ErrDuplicate) {
			return nil // already logged in from another console
		}
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

// customerStart creates (or, with a join token, takes) the customer's
// session, answers the browser's offer and routes it.
func (h *Hub) customerStart(c *conn, m inFrame) error {
	if m.SDP == "" {
		return fmt.Errorf("%w: start needs an sdp offer", errBadRequest)
	}
	if prev := c.currentSession(); c.entry != "" && prev != "" {
		// An entry socket makes one call at a time: after its session has
		// ended it may start the next one (each new session passes the
		// entry point's rate_limit below, as from a new socket).
		if h.sessionLive(prev) {
			return fmt.Errorf("%w: this socket's session is still going on; hang up before starting another", errConflict)
		}
		c.forgetSession(prev)
	}
	ep, ok := h.cfg.Sessions.EntryPoint(c.entry)
	if !ok && c.entry != "" {
		return fmt.Errorf("%w: unknown entry point %q", errNotFoundErr, c.entry)
	}
	cust := session.Customer{Name: strings.TrimSpace(m.Name), Language: m.Language, Context: m.Context}
	mode, ivTo := session.ModeForward, ""
	if c.currentSession() == "" && h.ivEntry(c.entry) {
		var err error
		if u, ok := h.cfg.Interpreter.LookupUser(c.identity); c.deafUser && ok && strings.TrimSpace(m.SignLanguage) == "" {
			m.SignLanguage = u.SignLanguage // a registered deaf user's usual language
		}
		if ivTo, err = h.ivCheckStart(m, &cust); err != nil {
			return err
		}
		mode = session.ModeInterpreter
	}
	var s *session.Session
	if sid := c.currentSession(); sid != "" {
		s = h.Session(sid)
		if s == nil {
			return fmt.Errorf("%w: session %s is not live", errNotFoundErr, sid)
		}
	} else {
		if !h.limiter.allow(c.entry+"|"+c.addr, ep.RateLimit) {
			return fmt.Errorf("%w: too many sessions from this address; try again in a minute", errUnavailableErr)
		}
		var err error
		if s, err = h.newSession("", mode, c.entry, cust); err != nil {
			return err
		}
		if mode == session.ModeInterpreter {
			s.Call(func() {
				h.ivInit(s, ivTo)
				if c.deafUser {
					h.ivSetUser(s, c.identity) // a registered deaf user's own call
				}
			})
		}
		c.mu.Lock()
		c.session = s.ID
		c.mu.Unlock()
	}
	var err error
	ok = s.Call(func() { err = h.startCustomer(s, c, m, ep, cust) })
	if !ok {
		return fmt.Errorf("%w: session ended", errNotFoundErr)
	}
	return err
}

// sessionLive: the session exists and has not ended (any goroutine).
func (h *Hub) sessionLive(sid string) bool {
	s := h.Session(sid)
	if s == nil {
		return false
	}
	select {
	case <-s.Done():
		return false
	default:
		return true
	}
}

// forgetSession drops an ended session from an entry socket: its session
// and the legs it had there.
func (c *conn) forgetSession(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == sid {
		c.session = ""
	}
	for leg, s := range c.legs {
		if s == sid {
			delete(c.legs, leg)
		}
	}
}

func (h *Hub) startCustomer(s *session.Session, c *conn, m inFrame, ep config.EntryPoint, cust session.Customer) error {
	t := st(s)
	if t.wa != nil && t.custLeg == t.wa.leg && s.Leg(t.custLeg) != nil {
		return h.waCompanion(s, c, m.SDP) // the video link of a WhatsApp call
	}
	if t.custLeg != "" {
		return fmt.Errorf("%w: the session already has a customer", errConflict)
	}
	in := s.Info()
	if in.Customer.Name == "" && in.Customer.Context == nil {
		s.Update(func(i *session.Info) { i.Customer = cust })
	} else if cust.Name != "" {
		s.Update(func(i *session.Info) { i.Customer.Name = cust.Name })
	}
	entry := in.Entry
	if entry == "" {
		entry = c.entry
	}
	tg, rerr := h.route(entry, s.Info().Customer, time.Now())
	if fixed, _ := s.Scoped("target").(string); fixed != "" { // POST /v1/sessions named one
		tg, rerr = target{sip: fixed, route: config.Route{Name: "api"}}, nil
		if q, ok := strings.CutPrefix(fixed, "queue:"); ok {
			tg = target{queue: q, route: config.Route{Name: "api"}}
		}
		if a, ok := strings.CutPrefix(fixed, "agent:"); ok {
			tg = target{agent: a, route: config.Route{Name: "api"}}
		}
	}
	routed := t.agentLeg != "" || t.agentWaiting != "" || t.queue != "" || s.Leg(t.acdLeg) != nil
	if rerr != nil && !routed {
		h.end(s, 404, "No route")
		return fmt.Errorf("%w: %v", errNotFoundErr, rerr)
	}
	prefs := []string{"opus", "PCMU", "PCMA"}
	var vcodecs []string = []string{"VP8", "H264"}
	if t.iv != nil {
		vcodecs = h.ivVideoCodecs(tg.queue) // H.264 where every interpreter can (§7.2)
	}
	if tg.sip != "" {
		if trunk, _, err := h.ua.Resolve(tg.sip); err == nil {
			prefs = rtc.BrowserPrefs(h.cfg.WebRTC.AudioCodecs, trunk.Codecs)
			if trunk.Video {
				vcodecs = trunk.VideoCodecs
			}
		}
	}
	if al := s.Leg(t.agentLeg); al != nil {
		// join the agent's formats: passthrough audio, forwardable video
		if a := al.EP.Audio(); a != nil && a.Send().Name != "" {
			prefs = append([]string{a.Send().Name}, prefs...)
		}
		for _, l := range s.Legs() {
			if v := l.EP.Video(); v != nil && v.Send().Name != "" && (l.Role == session.RoleAgent || l.Role == session.RoleViewer || l.Role == session.RoleInterpreter) {
				vcodecs = []string{v.Send().Name}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, answer, err := h.rtc.AcceptOffer(ctx, m.SDP, rtc.Options{AudioPrefs: prefs, Video: h.cfg.WebRTC.Video && ep.VideoAllowed(), VideoCodecs: vcodecs,
		Text: t.iv != nil})
	if err != nil {
		h.end(s, 488, "Not Acceptable Here")
		return fmt.Errorf("%w: offer: %v", errBadRequest, err)
	}
	t.customer = c
	t.custLeg = rl.ID
	if t.ringback != nil {
		close(t.ringback) // the desk phone stops ringing: the customer is here
		t.ringback = nil
	}
	c.track(rl.ID, s.ID)
	resume, _, _ := h.signer.Mint(auth.Claims{Identity: roleCustomer, Role: roleCustomer, Session: s.ID}, 2*time.Hour)
	c.send(answerMsg{Type: "answer", Leg: rl.ID, Session: s.ID, SDP: answer, Resume: resume})
	if t.dropped {
		t.dropped = false
		s.Record("customer.resumed", rl.ID, nil)
	}
	name := s.Info().Customer.Name
	if err := s.AddLeg(&session.Leg{ID: rl.ID, Role: session.RoleCustomer, Party: name, Name: name, EP: h.browserEP(s, rl, nil)}); err != nil {
		_ = rl.Close()
		return err
	}
	h.ivTextWire(s)
	if t.agentLeg != "" || s.Leg(t.acdLeg) != nil {
		// the agent (reverse, escalation, a resumed call) or the ACD's call
		// (a resumed Forward call) is already in the session: the media
		// plan connects the customer now
		h.m.SessionSetup(time.Since(t.created))
		_ = s.SetState(session.StateActive, map[string]any{"customer": "joined"})
		h.notifyCustomer(s)
		h.notifyAgents(s)
		return nil
	}
	if t.queue != "" || t.agentWaiting != "" {
		return nil // already routed: the agent's console is ringing or the session is queued
	}
	h.routeSession(s, tg)
	return nil
}

// viewerJoin: an agent on a desk phone opens the agent view (Call-Info URL).
func (h *Hub) viewerJoin(c *conn, m inFrame) error {
	sid := c.currentSession()
	return h.onSession(sid, func(s *session.Session) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t := st(s)
		var vc []string
		if cl := s.Leg(t.custLeg); cl != nil && cl.EP.Video() != nil {
			vc = []string{cl.EP.Video().Send().Name}
		}
		rl, answer, err := h.rtc.AcceptOffer(ctx, m.SDP, rtc.Options{AudioPrefs: []string{"opus", "PCMU"}, Video: true, VideoCodecs: vc})
		if err != nil {
			return fmt.Errorf("%w: offer: %v", errBadRequest, err)
		}
		c.track(rl.ID, s.ID)
		c.send(answerMsg{Type: "answer", Leg: rl.ID, Session: s.ID, SDP: answer})
		// alone in its audio group: the desk phone has the audio
		l := &session.Leg{ID: rl.ID, Role: session.RoleViewer, Party: c.identity, Group: "view:" + rl.ID, EP: h.browserEP(s, rl, c.endedNotifier(s.ID, rl.ID))}
		if err := s.AddLeg(l); err != nil {
			_ = rl.Close()
			return err
		}
		c.send(h.sessionFrame(s, false))
		return nil
	})
}

// customerDropped: the customer's browser went away without hanging up (a
// network drop, a reload). An answered session keeps its other legs and
// waits sessions.resume_grace for the customer to come back with the
// answer's resume token; then it ends. Reports whether the session waits.
func (h *Hub) customerDropped(s *session.Session, legID string, remove bool) bool {
	grace := h.cfg.Sessions.ResumeGrace
	t := st(s)
	if grace <= 0 || s.State() != session.StateActive || (t.escalated && h.hasPhone(s)) {
		// (Remote Viewer: the phone has the call; the browser only added
		// video, and its drop ends the video, not the call)
		return false
	}
	if remove {
		_ = s.RemoveLeg(legID, 200, "Browser disconnected")
	}
	t.custLeg, t.customer, t.dropped = "", nil, true
	t.drops++
	drop := t.drops
	s.Record("customer.disconnected", legID, map[string]any{"grace_seconds": int(grace / time.Second)})
	h.notifyAgents(s)
	h.after(s, grace, func() {
		// only this drop's timer: an earlier one belongs to a drop the
		// customer came back from
		if t.dropped && t.drops == drop && t.custLeg == "" && !s.Ended() {
			h.end(s, 200, "Customer left")
		}
	})
	return true
}

// restartICE answers a browser's ICE restart (its network changed) on the
// leg's PeerConnection; the answer goes back as a "restarted" frame. The
// session and its media plan are untouched.
func (h *Hub) restartICE(c *conn, legID, offer string) error {
	if legID == "" || offer == "" {
		return fmt.Errorf("%w: restart needs leg and sdp", errBadRequest)
	}
	return h.onSession(c.sessionOf(legID), func(s *session.Session) error {
		l := s.Leg(legID)
		if l == nil {
			return fmt.Errorf("%w: no such leg", errNotFoundErr)
		}
		e, ok := l.EP.(*rtcEP)
		if !ok {
			return fmt.Errorf("%w: not a browser leg", errBadRequest)
		}
		sid := s.ID
		h.goAsync(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ans, err := e.l.Restart(ctx, offer)
			if err != nil {
				c.sendErr(fmt.Errorf("%w: %v", errBadRequest, err), legID, sid)
				return
			}
			c.send(restartedMsg{Type: "restarted", Session: sid, Leg: legID, SDP: ans})
			s.Do(func() { s.Record("leg.ice_restarted", legID, nil) })
		})
		return nil
	})
}
