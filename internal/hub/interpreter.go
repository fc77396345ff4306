package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/interpreter"
	"github.com/split-hub/split/internal/sdp"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
)

// The Deaf Interpreter mode's glue (docs/interpreter.md): the policy lives
// in internal/interpreter (the listen matrix, the dial policy); this file
// turns frames into it and keeps the session's interpreter state.

// ivState is an interpreter session's state (session goroutine).
type ivState struct {
	plan     *interpreter.Plan
	sign     string      // the deaf user's sign language (BCP 47)
	lang     string      // the hearing side's spoken language
	to       string      // the number the deaf user asked for (E.164)
	phoneLeg string      // the live phone party's leg
	inbound  *sipua.Call // a hearing caller's INVITE, until an interpreter accepts (§2.2)
	phone    ivPhoneMsg
	calls    int                      // phone calls placed
	joined   map[string]time.Time     // interpreter legs → when they joined
	text     map[string]*ivTextSource // real-time text by source leg (interpreter_rtt.go)
	purpose  string                   // the purpose of the offer being made (interpret, handoff, team)
	pending  string                   // the leg of a pending hand-off or team offer
	ho       *ivHandoff               // the hand-off or team request in progress (interpreter_handoff.go)
	hoGen    int
	pendingP string          // its purpose
	dropped  map[string]bool // interpreter legs whose console was lost (socket closed), not hung up
	requeues int             // times the session went back to its queue (each has its own timer)
	lines    []ivLine        // completed text lines so far, for rtt_backlog (interpreter_rtt.go)
	// acd: the interpreters come from the external ACD; the queue leg
	// stands in for the lead (interpreter_acd.go). acdTarget and acdRoute
	// are where the session is queued again when the ACD drops it.
	acd       bool
	acdTarget string
	acdRoute  config.Route
	// user is the registered deaf user the hearing caller's number belongs
	// to; reach and ringing follow how they are reached (interpreter_reach.go)
	hearing bool // hearing-initiated: the phone party called (§2.2)
	user    string
	reach   string
	ringing map[*conn]bool
	ring    incomingMsg // the frame the pages ring with (for pages on other nodes, as their sockets arrive)
}

type (
	ivLangMsg struct {
		Tag    string `json:"tag"`
		Name   string `json:"name"`
		Spoken string `json:"spoken,omitempty"`
	}
	ivHelloMsg struct {
		Languages []ivLangMsg `json:"languages"`
		Dial      struct {
			CountryCode        string `json:"country_code,omitempty"`
			AllowInternational bool   `json:"allow_international"`
		} `json:"dial"`
		// Video is what the pages ask the camera and the encoder for
		// (docs/interpreter.md §7): ideal values, never minimums.
		Video ivVideoMsg `json:"video"`
		// User: a registered deaf user's page (deaf_user token): who they
		// are and their usual sign language, preselected in the chooser.
		User *ivUserMsg `json:"user,omitempty"`
	}
	ivUserMsg struct {
		ID           string `json:"id"`
		Name         string `json:"name,omitempty"`
		SignLanguage string `json:"sign_language,omitempty"`
	}
	ivVideoMsg struct {
		Codecs     []string `json:"codecs"`
		Width      int      `json:"width"`
		Height     int      `json:"height"`
		FrameRate  int      `json:"frame_rate"`
		MaxBitrate int      `json:"max_bitrate"`
		MinFPS     int      `json:"min_fps"`
		MinWidth   int      `json:"min_width"`
		MinHeight  int      `json:"min_height"`
	}
	ivOfferMsg struct {
		Purpose      string `json:"purpose"`
		SignLanguage string `json:"sign_language"`
		Language     string `json:"language,omitempty"`
		To           string `json:"to,omitempty"`
	}
	ivPhoneMsg struct {
		State  string `json:"state"` // none, dialling, ringing, connected, ended
		To     string `json:"to,omitempty"`
		Leg    string `json:"leg,omitempty"`
		Code   int    `json:"code,omitempty"`
		Reason string `json:"reason,omitempty"`
	}
	ivInterpMsg struct {
		Leg   string    `json:"leg"`
		ID    string    `json:"id"`
		Name  string    `json:"name"`
		Lead  bool      `json:"lead"`
		Since time.Time `json:"since"`
	}
	ivSessionMsg struct {
		SignLanguage string        `json:"sign_language"`
		Language     string        `json:"language,omitempty"`
		VCO          bool          `json:"vco"`
		HCO          bool          `json:"hco"`
		SideTalk     bool          `json:"side_talk"`
		DeafUser     string        `json:"deaf_user"` // joined, disconnected, absent
		Phone        ivPhoneMsg    `json:"phone"`
		Interpreters []ivInterpMsg `json:"interpreters"`
		// PhoneHears and DeafHears say the plan in words (the consoles'
		// routing line): "interpreter", "deaf user", "phone".
		PhoneHears []string `json:"phone_hears"`
		DeafHears  []string `json:"deaf_hears"`
		// ACD: the interpreters come from the external ACD, which owns
		// hand-off and team (docs/interpreter.md §4.4)
		ACD bool `json:"acd,omitempty"`
		// Handoff: a hand-off or team request in progress (queued,
		// ringing, overlap)
		Handoff *ivHandoffMsg `json:"handoff,omitempty"`
	}
)

// ivEntry reports whether entry point name starts interpreter sessions.
func (h *Hub) ivEntry(name string) bool {
	ep, ok := h.cfg.Sessions.EntryPoint(name)
	return ok && ep.Mode == config.ModeInterpreter && h.cfg.Interpreter != nil
}

// ivHello is hello's interpreter object (nil when the mode is not configured).
func (h *Hub) ivHello() *ivHelloMsg {
	if h.cfg.Interpreter == nil {
		return nil
	}
	iv := h.cfg.Interpreter.WithDefaults()
	m := &ivHelloMsg{Languages: []ivLangMsg{}}
	for _, l := range iv.Languages {
		m.Languages = append(m.Languages, ivLangMsg{Tag: l.Tag, Name: l.Name, Spoken: l.Spoken})
	}
	m.Dial.CountryCode = h.cfg.Sessions.CountryCode
	m.Dial.AllowInternational = len(iv.Dial.Allow) > 0
	// VP8 first: every browser encodes and decodes it, while H.264 in
	// Firefox needs the OpenH264 plug-in, which an offline contact centre
	// may not have, and a session forwards one video codec to every leg
	m.Video = ivVideoMsg{Codecs: []string{"VP8", "H264"}, Width: 1280, Height: 720, FrameRate: 30, MaxBitrate: 1500000,
		MinFPS: 20, MinWidth: 640, MinHeight: 480}
	return m
}

func (h *Hub) ivPolicy() interpreter.DialPolicy {
	return interpreter.DialPolicy{CountryCode: h.cfg.Sessions.CountryCode, Dial: h.cfg.Interpreter.WithDefaults().Dial}
}

// ivCheckStart checks a deaf user's start frame before any session exists
// (§2.1 step 2) and fills the customer's sign language and language.
func (h *Hub) ivCheckStart(m inFrame, cust *session.Customer) (to string, err error) {
	lang, ok := h.cfg.Interpreter.Language(strings.TrimSpace(m.SignLanguage))
	if !ok {
		return "", fmt.Errorf("%w: sign_language must be one of the languages in hello.interpreter", errBadRequest)
	}
	cust.SignLanguage = lang.Tag
	if cust.Language == "" {
		cust.Language = lang.Spoken
	}
	if strings.TrimSpace(m.To) != "" {
		if len(m.To) > 256 {
			return "", fmt.Errorf("%w: to is too long", errBadRequest)
		}
		if to, err = h.ivPolicy().Check(m.To, 0); err != nil {
			return "", ivDialErr(err)
		}
	}
	s, err := sdp.Parse([]byte(m.SDP))
	if err != nil {
		return "", fmt.Errorf("%w: offer: %v", errBadRequest, err)
	}
	if v := s.First("video"); v == nil { // First returns live m-lines only: Firefox's bundle-only (port 0) video is live

		return "", fmt.Errorf("%w: an interpreter session needs the camera (the offer has no video)", errBadRequest)
	}
	return to, nil
}

// ivDialErr maps a dial policy refusal to the frame's error code.
func ivDialErr(err error) error {
	switch {
	case errors.Is(err, interpreter.ErrMaxCalls):
		return fmt.Errorf("%w: %v", errConflict, err)
	case errors.Is(err, interpreter.ErrNoNumber), errors.Is(err, interpreter.ErrBadNumber):
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return fmt.Errorf("%w: %v", errForbidden, err)
}

// ivInit makes s an interpreter session (session goroutine, before its
// first leg): the plan with the configured switches.
func (h *Hub) ivInit(s *session.Session, to string) {
	t := st(s)
	if t.iv != nil {
		return
	}
	cfg := h.cfg.Interpreter.WithDefaults()
	in := s.Info()
	t.iv = &ivState{
		plan: &interpreter.Plan{Controls: interpreter.Controls{VCO: cfg.VCO, HCO: cfg.HCO, VCOMutesInterpreter: cfg.VCOMutesInterpreter}},
		sign: in.Customer.SignLanguage, lang: in.Customer.Language, to: to,
		phone: ivPhoneMsg{State: "none", To: to}, joined: map[string]time.Time{},
		text: map[string]*ivTextSource{}, dropped: map[string]bool{},
	}
	s.SetPolicy(t.iv.plan)
	h.watchVideo(s)
	s.Record("interpreter.requested", "", map[string]any{"sign_language": t.iv.sign, "language": t.iv.lang, "number_given": to != ""})
}

// ivOffer is an offer's interpreter object.
func (h *Hub) ivOffer(s *session.Session) *ivOfferMsg {
	iv := st(s).iv
	if iv == nil {
		return nil
	}
	p := iv.purpose
	if p == "" {
		p = "interpret"
	}
	return &ivOfferMsg{Purpose: p, SignLanguage: iv.sign, Language: iv.lang, To: iv.to}
}

// ivAccepted: an interpreter's console joined (session goroutine). The
// first becomes the lead.
func (h *Hub) ivAccepted(s *session.Session, l *session.Leg) {
	iv := st(s).iv
	iv.joined[l.ID] = time.Now().UTC()
	purpose := "interpret"
	if l.ID == iv.pending {
		purpose = iv.pendingP
		iv.pending, iv.pendingP = "", ""
		s.Record("interpreter.handoff", l.ID, map[string]any{"state": "accepted", "purpose": purpose, "agent": l.Party})
		h.m.Interpreter(purpose + "_accepted")
		h.ivHandoffJoined(s, l)
	}
	first := len(iv.joined) == 1
	if iv.plan.LeadLeg == "" || s.Leg(iv.plan.LeadLeg) == nil {
		iv.plan.LeadLeg = l.ID
		iv.plan.SideTalk = false
		iv.purpose = "" // a requeued session's offers said "handoff" until now
		s.Record("interpreter.lead", l.ID, map[string]any{"agent": l.Party})
	}
	if iv.acd {
		iv.purpose = ""
		// through the ACD the queue leg stands in for the lead in the
		// matrix; the record names the interpreter the ACD delivered
		s.Record("interpreter.lead", l.ID, map[string]any{"agent": l.Party, "via": "acd"})
	}
	s.Record("interpreter.joined", l.ID, map[string]any{"agent": l.Party, "purpose": purpose})
	h.ivBacklog(s, l)
	s.Replan()
	h.ivTextWire(s)
	h.ivAnswerInbound(s)
	h.ivReach(s)
	if first && iv.inbound == nil && iv.to != "" && iv.calls == 0 && h.cfg.Interpreter.Dial.Auto {
		// interpreter.dial.auto: the number the deaf user gave, at once
		if err := h.ivDial(s, ""); err != nil {
			// no error text: a transport's error may name the number
			s.Record("phone.dial_failed", "", map[string]any{"auto": true})
			h.log.Info("interpreter: automatic dial failed; the interpreter can dial", "session", s.ID)
		}
	}
}

// ivFrame handles the interpreter frames of docs/interpreter.md §5.1.
// handled is false for a frame this mode does not take.
func (h *Hub) ivFrame(c *conn, m inFrame) (handled bool, err error) {
	switch c.role + "/" + m.Type {
	case "agent/dial", "agent/release", "customer/release", "agent/carry_over", "customer/carry_over",
		"agent/side_talk", "agent/dtmf", "agent/handoff", "agent/team", "agent/lead":
	default:
		return false, nil
	}
	sid := c.currentSession()
	if c.role == roleAgent {
		sid = c.agentSession(m.Session)
	}
	return true, h.onSession(sid, func(s *session.Session) error {
		t := st(s)
		if t.iv == nil {
			return fmt.Errorf("%w: %s is for interpreter sessions", errConflict, m.Type)
		}
		iv := t.iv
		lead := false
		if c.role == roleAgent {
			if !c.inSession(s) {
				return fmt.Errorf("%w: not your session", errForbidden)
			}
			lead = ivLeads(t, c)
		} else if t.customer != c {
			return fmt.Errorf("%w: not your session", errForbidden)
		}
		switch m.Type {
		case "dial":
			if !lead {
				return fmt.Errorf("%w: only the lead interpreter can dial", errConflict)
			}
			return h.ivDial(s, m.To)
		case "release":
			l := s.Leg(iv.phoneLeg)
			if l == nil {
				return fmt.Errorf("%w: no phone call", errConflict)
			}
			_ = s.RemoveLeg(l.ID, 200, "Released")
			h.ivPhoneGone(s, l, "released by "+c.role)
			return nil
		case "carry_over":
			if m.VCO == nil && m.HCO == nil {
				return fmt.Errorf("%w: carry_over needs vco or hco", errBadRequest)
			}
			if m.VCO != nil && *m.VCO != iv.plan.VCO {
				iv.plan.VCO = *m.VCO
				s.Record("interpreter.vco", "", map[string]any{"on": *m.VCO, "by": c.role})
			}
			if m.HCO != nil && *m.HCO != iv.plan.HCO {
				iv.plan.HCO = *m.HCO
				s.Record("interpreter.hco", "", map[string]any{"on": *m.HCO, "by": c.role})
			}
		case "side_talk":
			if m.SideTalk == nil {
				return fmt.Errorf("%w: side_talk needs a boolean", errBadRequest)
			}
			if !lead {
				return fmt.Errorf("%w: only the lead interpreter can talk to the deaf user alone", errConflict)
			}
			if *m.SideTalk != iv.plan.SideTalk {
				iv.plan.SideTalk = *m.SideTalk
				s.Record("interpreter.side_talk", "", map[string]any{"on": *m.SideTalk})
			}
		case "handoff", "team":
			if iv.acd {
				return fmt.Errorf("%w: the ACD owns the interpreters of this session: transfer or conference in the ACD", errConflict)
			}
			return h.ivOfferAnother(s, m, lead)
		case "lead":
			if iv.acd {
				return fmt.Errorf("%w: the ACD owns the interpreters of this session: transfer or conference in the ACD", errConflict)
			}
			l := s.Leg(m.Leg)
			if l == nil || l.Role != session.RoleInterpreter {
				return fmt.Errorf("%w: leg must be an interpreter leg of the session", errBadRequest)
			}
			if l.ID != iv.plan.LeadLeg {
				h.ivSetLead(s, l, "lead")
			}
		case "dtmf":
			l := s.Leg(iv.phoneLeg)
			if l == nil || iv.phone.State != "connected" {
				return fmt.Errorf("%w: no phone call connected", errConflict)
			}
			digits := m.Digits
			if digits == "" || len(digits) > 32 || strings.Trim(digits, "0123456789*#ABCD") != "" {
				return fmt.Errorf("%w: digits must be 1-32 of 0-9 * # A-D", errBadRequest)
			}
			sc := l.EP.(*sipEP).c
			h.goAsync(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = sc.SendDTMF(ctx, digits)
			})
			return nil
		}
		s.Replan()
		h.notifyCustomer(s)
		h.notifyAgents(s)
		return nil
	})
}

// ivDial places the phone call (session goroutine, §2.1 step 5).
func (h *Hub) ivDial(s *session.Session, to string) error {
	iv := st(s).iv
	if strings.TrimSpace(to) == "" {
		to = iv.to
	}
	if len(to) > 256 {
		return fmt.Errorf("%w: to is too long", errBadRequest)
	}
	if s.Leg(iv.phoneLeg) != nil {
		return fmt.Errorf("%w: a phone call is %s; release it first", errConflict, iv.phone.State)
	}
	number, err := h.ivPolicy().Check(to, iv.calls)
	if err != nil {
		return ivDialErr(err)
	}
	if h.isDraining() {
		return fmt.Errorf("%w: the hub is draining", errUnavailableErr)
	}
	dest := number
	if name := h.cfg.Interpreter.Dial.Trunk; name != "" {
		tr, ok := h.cfg.Trunk(name)
		if !ok {
			return fmt.Errorf("%w: no trunk %q", errUnavailableErr, name)
		}
		tu, err := config.ParseTrunkURI(tr.URI)
		if err != nil {
			return fmt.Errorf("%w: trunk %q: %v", errUnavailableErr, name, err)
		}
		dest = (&sip.Uri{Scheme: "sip", User: number, Host: tu.Host, Port: tu.Port}).String()
	}
	trunk, uri, err := h.ua.Resolve(dest)
	if err != nil {
		return fmt.Errorf("%w: no trunk for this number (%v)", errUnavailableErr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var legID string
	sc, err := h.ua.Dial(ctx, sipua.DialOptions{
		Trunk: trunk, To: uri, FromUser: h.ivCallerID(s, trunk.FromUser), FromName: trunk.FromName,
		Headers: []sip.Header{sip.NewHeader(HeaderSession, s.ID)}, Private: true, TextLang: iv.lang,
		Events: sipua.Events{
			OnState: func(ss sipua.State, code int, reason string) {
				s.Do(func() { h.ivProgress(s, legID, ss, code, reason) })
			},
			OnDTMF: func(rune) {},
		},
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailableErr, err)
	}
	legID = sc.ID
	if err := s.AddLeg(&session.Leg{ID: sc.ID, Role: session.RolePhoneParty, Party: "phone", Name: "Phone", EP: &sipEP{c: sc, h: h}}); err != nil {
		sc.Hangup(context.Background(), 500, "Session ended")
		return err
	}
	h.watchSIP(s, sc)
	iv.calls++
	iv.phoneLeg = sc.ID
	iv.phone = ivPhoneMsg{State: "dialling", To: number, Leg: sc.ID}
	s.Record("phone.dial", sc.ID, map[string]any{"trunk": trunk.Name, "call": iv.calls}) // the number is not recorded in logs
	h.m.Interpreter("phone_dialled")
	h.notifyCustomer(s)
	h.notifyAgents(s)
	return nil
}

// ivProgress follows the phone call (session goroutine).
func (h *Hub) ivProgress(s *session.Session, legID string, ss sipua.State, code int, reason string) {
	t := st(s)
	if s.Ended() || t.iv == nil || s.Leg(legID) == nil || t.iv.phoneLeg != legID {
		return
	}
	iv := t.iv
	switch ss {
	case sipua.StateRinging, sipua.StateEarly:
		iv.phone.State = "ringing"
	case sipua.StateActive:
		if iv.phone.State != "connected" {
			s.Record("phone.answered", legID, nil)
			h.m.Interpreter("phone_answered")
			t.activeSince[legID] = time.Now()
		}
		iv.phone.State = "connected"
		h.ivTextWire(s)
	default:
		return
	}
	s.Replan() // the leg's codec is known now
	h.notifyCustomer(s)
	h.notifyAgents(s)
}

// ivPhoneGone: the phone party's leg is over (session goroutine).
func (h *Hub) ivPhoneGone(s *session.Session, l *session.Leg, why string) {
	iv := st(s).iv
	if iv == nil || l.ID != iv.phoneLeg {
		return
	}
	code, reason := h.legCause(s, l, 200, "Phone hung up")
	if iv.phone.State != "connected" && code == 200 {
		code, reason = 487, "Cancelled"
	}
	iv.phoneLeg = ""
	h.ivTextLeft(s, l.ID)
	iv.phone.State, iv.phone.Leg, iv.phone.Code, iv.phone.Reason = "ended", "", code, reason
	s.Record("phone.ended", l.ID, map[string]any{"code": code, "reason": reason, "why": why})
	if iv.inbound != nil || s.State() != session.StateActive {
		// a hearing caller who gives up before an interpreter answered
		iv.inbound = nil
		h.end(s, 487, "Caller abandoned")
		return
	}
	if iv.hearing && s.Leg(st(s).custLeg) == nil && !strings.HasPrefix(why, "released") {
		// a hearing caller who hangs up before the deaf user joined: the
		// call is over (§8.2); the link sent is session_over from now on
		h.end(s, 200, "Caller hung up")
		return
	}
	if h.cfg.Interpreter.WithDefaults().AfterPhone == "end" && !strings.HasPrefix(why, "released") {
		h.end(s, code, reason)
		return
	}
	h.notifyCustomer(s)
	h.notifyAgents(s)
}

// ivInterpreterLeft: an interpreter's console leg is gone (session
// goroutine). Through the external ACD, ivPathLeft decides. Otherwise a
// second interpreter leaving changes nothing else; the lead leaving passes
// the lead to the interpreter present, or requeues the session when the
// lead was lost, or ends it (the phone party gets its BYE).
func (h *Hub) ivInterpreterLeft(s *session.Session, l *session.Leg, lost bool) {
	t := st(s)
	iv := t.iv
	lost = lost || iv.dropped[l.ID]
	delete(iv.dropped, l.ID)
	h.ivHandoffLeft(s, l)
	if t.queue != "" && l.Party != "" {
		_ = h.acd.CallEnded(l.Party)
	}
	s.Record("interpreter.left", l.ID, map[string]any{"agent": l.Party,
		"seconds": int(time.Since(iv.joined[l.ID]).Seconds())})
	h.ivTextLeft(s, l.ID)
	if l.ID == t.agentLeg {
		t.agentLeg, t.agentID = "", ""
		s.Update(func(in *session.Info) { in.Agent = nil })
	}
	if h.ivPathLeft(s, l, lost) {
		return
	}
	if l.ID != iv.plan.LeadLeg {
		h.notifyAgents(s)
		return
	}
	// the lead left: another interpreter present takes over (the end of a
	// hand-off's overlap, a team partner); the phone call is untouched
	if next := s.LegsWith(session.RoleInterpreter); len(next) > 0 {
		h.ivSetLead(s, next[0], "lead left")
		s.Replan()
		h.notifyCustomer(s)
		h.notifyAgents(s)
		return
	}
	if lost && h.ivRequeue(s, l) {
		return
	}
	code, reason := h.legCause(s, l, 200, "Interpreter hung up")
	h.end(s, code, reason)
}

// ivRequeue: the lead was lost (not hung up) with nobody else present
// (session goroutine). The session goes back to the front of its queue with
// the deaf user and the phone call kept — the phone hears silence, nobody is
// seen — and the next interpreter to accept becomes the lead (its offer says
// purpose "handoff"). Nobody within interpreter.requeue_max_wait: 480.
// It reports false when the session cannot wait (not active, no queue,
// requeue_max_wait 0): the caller ends it.
func (h *Hub) ivRequeue(s *session.Session, l *session.Leg) bool {
	t := st(s)
	iv := t.iv
	wait := h.cfg.Interpreter.Requeue()
	if wait <= 0 || t.queue == "" || s.State() != session.StateActive || t.custLeg == "" {
		h.log.Info("interpreter lost; the session cannot wait for another", "session", s.ID, "leg", l.ID,
			"requeue_max_wait", wait, "queue", t.queue, "state", s.State(), "deaf_user_present", t.custLeg != "")
		return false
	}
	iv.plan.LeadLeg, iv.plan.SideTalk = "", false
	iv.purpose = "handoff"
	iv.requeues++
	n := iv.requeues
	s.Record("interpreter.lost", l.ID, map[string]any{"agent": l.Party, "requeue_max_wait_seconds": int(wait / time.Second)})
	h.m.Interpreter("requeued")
	s.Replan()
	h.enqueue(s, t.queue, true)
	h.notifyAgents(s)
	h.after(s, wait, func() {
		if !s.Ended() && iv.requeues == n && (iv.plan.LeadLeg == "" || s.Leg(iv.plan.LeadLeg) == nil) {
			h.end(s, 480, "No interpreter available")
		}
	})
	return true
}

// ivSetLead makes l the lead (session goroutine): the phone hears it, the
// deaf user sees it, side-talk is reset so the new lead is not silently
// muted to the phone. The caller replans and notifies.
func (h *Hub) ivSetLead(s *session.Session, l *session.Leg, why string) {
	t := st(s)
	t.iv.plan.LeadLeg = l.ID
	t.iv.plan.SideTalk = false
	t.agentLeg, t.agentID = l.ID, l.Party
	s.Update(func(in *session.Info) { in.Agent = &session.AgentRef{ID: l.Party, Name: l.Name} })
	s.Record("interpreter.lead", l.ID, map[string]any{"agent": l.Party, "why": why})
	if why == "lead left" {
		h.m.Interpreter("handoff_done")
	}
}

// ivSessionFrame is the session frame's interpreter block.
func (h *Hub) ivSessionFrame(s *session.Session, forCustomer bool) *ivSessionMsg {
	t := st(s)
	iv := t.iv
	if iv == nil {
		return nil
	}
	m := &ivSessionMsg{SignLanguage: iv.sign, Language: iv.lang, VCO: iv.plan.VCO, HCO: iv.plan.HCO,
		SideTalk: iv.plan.SideTalk, DeafUser: "absent", Phone: iv.phone, Interpreters: []ivInterpMsg{}, ACD: iv.acd, Handoff: h.ivHandoffView(s)}
	if s.Leg(t.custLeg) != nil {
		m.DeafUser = "joined"
	} else if t.dropped {
		m.DeafUser = "disconnected"
	} else if iv.reach != "" {
		m.DeafUser = iv.reach // ringing, invited, declined
	}
	for _, l := range s.LegsWith(session.RoleInterpreter) {
		x := ivInterpMsg{Leg: l.ID, ID: l.Party, Name: l.Name, Lead: l.ID == iv.plan.LeadLeg || (iv.acd && l.ID == t.agentLeg), Since: iv.joined[l.ID]}
		if forCustomer {
			x.ID = ""
		}
		m.Interpreters = append(m.Interpreters, x)
	}
	m.PhoneHears, m.DeafHears = iv.plan.Summary()
	if s.Leg(iv.phoneLeg) == nil || iv.phone.State != "connected" {
		m.PhoneHears = []string{}
	}
	if m.PhoneHears == nil {
		m.PhoneHears = []string{}
	}
	if m.DeafHears == nil {
		m.DeafHears = []string{}
	}
	return m
}

// sessionMode is a live session's mode ("" when it is not live).
func (h *Hub) sessionMode(id string) session.Mode {
	if s := h.Session(id); s != nil {
		return s.Info().Mode
	}
	return ""
}

// ivIncoming: a hearing caller dialled a number of interpreter.numbers
// (§2.2). The call becomes an interpreter session with the caller as its
// phone party; it rings (180) while the session is routed to the pool,
// and is answered when an interpreter accepts. The deaf user is invited by
// link from the console (escalate).
func (h *Hub) ivIncoming(sc *sipua.Call, n config.InterpreterNumber) {
	if h.isDraining() {
		sc.Reject(503, "Service Unavailable")
		return
	}
	lang, _ := h.cfg.Interpreter.Language(n.SignLanguage)
	entry := n.Entry
	if entry == "" {
		for _, ep := range h.cfg.Sessions.EntryPoints {
			if ep.Mode == config.ModeInterpreter {
				entry = ep.Name
				break
			}
		}
	}
	cust := session.Customer{SignLanguage: lang.Tag, Language: n.Language}
	if u, ok := h.cfg.Interpreter.LookupUser(n.User); ok {
		cust.Name, cust.Contact = u.Name, u.Contact // the escalate frame's default "to"
	}
	if cust.Language == "" {
		cust.Language = lang.Spoken
	}
	tg, err := h.route(entry, cust, time.Now())
	if err != nil {
		sc.Reject(404, "Not Found")
		return
	}
	s, err := h.newSession("", session.ModeInterpreter, entry, cust)
	if err != nil {
		sc.Reject(503, "Service Unavailable")
		return
	}
	s.Do(func() {
		h.ivInit(s, "")
		t := st(s)
		iv := t.iv
		if err := s.AddLeg(&session.Leg{ID: sc.ID, Role: session.RolePhoneParty, Party: "phone", Name: "Phone", EP: &sipEP{c: sc, h: h}}); err != nil {
			sc.Reject(500, "Server Internal Error")
			return
		}
		h.watchSIP(s, sc)
		iv.inbound = sc
		iv.hearing = true
		iv.user = n.User
		iv.phoneLeg = sc.ID
		iv.phone = ivPhoneMsg{State: "ringing", To: sc.From.User, Leg: sc.ID}
		s.Record("phone.incoming", sc.ID, map[string]any{"sign_language": lang.Tag})
		sc.Ringing()
		h.routeSession(s, tg)
		if h.cfg.Interpreter.AtOnce() && !s.Ended() {
			h.ivAnswerInbound(s) // answer_inbound: at_once
		}
	})
}

// ivAnswerInbound answers a hearing caller's INVITE once an interpreter
// has accepted (session goroutine).
func (h *Hub) ivAnswerInbound(s *session.Session) {
	iv := st(s).iv
	sc := iv.inbound
	if sc == nil || s.Leg(sc.ID) == nil {
		return
	}
	iv.inbound = nil
	h.goAsync(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
		defer cancel()
		if err := sc.Answer(ctx); err != nil {
			s.Do(func() {
				if l := s.Leg(sc.ID); l != nil {
					_ = s.RemoveLeg(l.ID, 408, "No ACK")
					h.ivPhoneGone(s, l, "answer failed")
				}
			})
			return
		}
		s.Do(func() {
			if s.Ended() || st(s).iv.phoneLeg != sc.ID {
				return
			}
			st(s).iv.phone.State = "connected"
			st(s).activeSince[sc.ID] = time.Now()
			s.Record("phone.answered", sc.ID, nil)
			h.ivTextWire(s)
			s.Replan()
			h.notifyCustomer(s)
			h.notifyAgents(s)
		})
	})
}

// hasRef: the INVITE names a SPLIT session (X-Split-Session or UUI): an
// ACD delivering a session, never a new hearing caller.
func hasRef(sc *sipua.Call) bool {
	_, ok := sessionRef(sc.Headers)
	return ok
}

// ivRecord is the `interpreter` block of an interpreter session's record
// (docs/interpreter.md §10), computed from its history: the same for a live
// session, an ended one and another node's.
func (h *Hub) ivRecord(ctx context.Context, in *session.Info, live bool) (*interpreter.Record, error) {
	if live {
		h.rec.flush(time.Second) // what the session recorded so far is in the store
	}
	var events []interpreter.Event
	var after int64
	for len(events) < 100_000 {
		page, err := h.store.Events(ctx, in.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			se := fromStoreEvent(e)
			events = append(events, interpreter.Event{At: se.At, Type: se.Type, Leg: se.Leg, Data: se.Data})
			after = e.Seq
		}
		if len(page) < 1000 {
			break
		}
	}
	end := time.Now().UTC()
	if in.EndedAt != nil {
		end = *in.EndedAt
	}
	return interpreter.Summarize(events, end, in.EndedAt == nil), nil
}

// ivEnding closes what the session's end cuts short (session goroutine,
// before the legs go): the last text lines go to the history, and the phone
// call and every interpreter present get their end in the history, so the
// record's minutes (ivRecord) end where the session did.
func (h *Hub) ivEnding(s *session.Session, code int, reason string) {
	iv := st(s).iv
	if iv == nil {
		return
	}
	for id := range iv.text {
		h.ivTextLeft(s, id)
	}
	h.ivStopRinging(s, nil, "session_over")
	if iv.phoneLeg != "" && s.Leg(iv.phoneLeg) != nil {
		s.Record("phone.ended", iv.phoneLeg, map[string]any{"code": code, "reason": reason, "why": "session ended"})
		iv.phoneLeg = ""
	}
	for _, l := range s.LegsWith(session.RoleInterpreter) {
		s.Record("interpreter.left", l.ID, map[string]any{"agent": l.Party, "why": "session ended",
			"seconds": int(time.Since(iv.joined[l.ID]).Seconds())})
	}
}
