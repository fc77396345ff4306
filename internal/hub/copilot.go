package hub

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/split-hub/split/internal/copilot"
	"github.com/split-hub/split/internal/media/mixer"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/siprec"
)

// The Copilot AI mode's glue (docs/copilot.md): AI services attached to a
// session as legs of role ai, fed by the session's tap, their messages
// turned into history, webhooks and console frames; and the supervisor's
// listen modes. The wire, the rings and the sockets are internal/copilot's.

// Copilot is what the hub needs of the AI services (copilot.Manager).
type Copilot interface {
	Service(name string) (copilot.Service, bool)
	Attachable() []string
	Attach(service string, info copilot.SessionInfo, ev copilot.Events) (*copilot.Attachment, error)
	CountAlert(severity string)
}

// cpState is a session's attachments and supervisor modes (session
// goroutine; the tap reads feed).
type cpState struct {
	atts     map[string]*copilot.Attachment // by leg id
	recs     []*siprec.Recorder             // SIPREC recordings (siprec.go)
	srs      string                         // the route's SIPREC server URI, recorded once answered
	feed     atomic.Pointer[[]feeder]
	sup      map[string]string // supervisor (agent id) → monitor, whisper or barge
	known    map[string]string // leg id → the state the services were last told
	auto     []string          // the route's services, attached when the session is answered
	autoDone bool
}

// cp returns the session's copilot state, creating it (and hooking the
// session) on first use.
func (h *Hub) cp(s *session.Session) *cpState {
	t := st(s)
	if t.cp == nil {
		t.cp = &cpState{atts: map[string]*copilot.Attachment{}, sup: map[string]string{}, known: map[string]string{}}
		s.Watch(func(e session.Event) { h.cpEvent(s, e) })
	}
	return t.cp
}

// Hears is the session's override: an AI hears nobody through the mix (it
// has the tap) and is heard by the agent side only, or by everyone when it
// speaks to all; a supervisor who monitors is heard by nobody, one who
// whispers by the agent side only.
func (c *cpState) Hears(l, sp *session.Leg) (bool, bool) {
	agentSide := l.Role == session.RoleAgent || l.Role == session.RoleInterpreter || l.Role == session.RoleACD ||
		l.Role == session.RoleSupervisor
	switch {
	case l.Role == session.RoleAI:
		return false, true
	case sp.Role == session.RoleAI:
		a := c.atts[sp.ID]
		return a != nil && (a.SpeakTo() == "all" || agentSide), true
	case sp.Role == session.RoleSupervisor:
		switch c.sup[sp.Party] {
		case "monitor":
			return false, true
		case "whisper":
			return agentSide, true
		}
	}
	return false, false
}

// feeder takes the session's tap: an AI attachment, a SIPREC recording.
type feeder interface {
	Feed(rate int, frames []mixer.TapFrame)
}

// tap feeds every attachment and recording (mixer goroutine: never blocks).
func (c *cpState) tap(rate int, frames []mixer.TapFrame) {
	if p := c.feed.Load(); p != nil {
		for _, a := range *p {
			a.Feed(rate, frames)
		}
	}
}

func (c *cpState) publishFeed() {
	list := make([]feeder, 0, len(c.atts)+len(c.recs))
	for _, a := range c.atts {
		list = append(list, a)
	}
	for _, r := range c.recs {
		list = append(list, r)
	}
	c.feed.Store(&list)
}

// copilotAttach attaches service to the session (session goroutine) and
// returns the AI's participant (leg) id.
func (h *Hub) copilotAttach(s *session.Session, service, by string) (string, error) {
	if h.copilot == nil {
		return "", fmt.Errorf("%w: no copilot services are configured", errNotFoundErr)
	}
	if _, ok := h.copilot.Service(service); !ok {
		return "", fmt.Errorf("%w: no copilot service %q", errNotFoundErr, service)
	}
	if s.Ended() {
		return "", fmt.Errorf("%w: the session has ended", errConflict)
	}
	t := st(s)
	if t.iv != nil && (h.cfg.Interpreter == nil || !h.cfg.Interpreter.AllowRecording) {
		return "", fmt.Errorf("%w: interpreter sessions are confidential (interpreter.allow_recording is off)", errForbidden)
	}
	c := h.cp(s)
	for _, a := range c.atts {
		if a.Service() == service {
			return "", fmt.Errorf("%w: %s is already attached as %s", errConflict, service, a.ID)
		}
	}
	in := s.Info()
	a, err := h.copilot.Attach(service, copilot.SessionInfo{ID: s.ID, Mode: string(in.Mode), Queue: in.Queue,
		Customer: copilot.Customer{Name: in.Customer.Name, Language: in.Customer.Language, Context: in.Customer.Context}},
		&cpEvents{h: h, s: s})
	if err != nil {
		return "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	c.atts[a.ID] = a
	c.publishFeed()
	if err := s.AddLeg(&session.Leg{ID: a.ID, Role: session.RoleAI, Party: service, Name: service, EP: a.Endpoint()}); err != nil {
		delete(c.atts, a.ID)
		c.publishFeed()
		a.Close(500, "not attached")
		return "", err
	}
	s.SetOverride(c)
	s.SetTap(c.tap)
	for _, l := range s.Legs() {
		if l.Role != session.RoleAI {
			a.Participant(l.ID, string(l.Role), l.Name, h.cpLegState(s, l))
		}
	}
	s.Record("copilot.attached", a.ID, map[string]any{"service": service, "by": by})
	h.cpNotify(s, copilotMsg{Type: "copilot", Event: "attached", Service: service, Participant: a.ID})
	return a.ID, nil
}

// copilotDetach removes an AI participant (session goroutine).
func (h *Hub) copilotDetach(s *session.Session, id string) error {
	c := st(s).cp
	if c == nil || c.atts[id] == nil {
		return fmt.Errorf("%w: no AI participant %q", errNotFoundErr, id)
	}
	return s.RemoveLeg(id, 200, "Detached")
}

// cpLegState is what a leg's state is for the services.
func (h *Hub) cpLegState(s *session.Session, l *session.Leg) string {
	if l.Role == session.RoleCustomer && s.MediaHeld() {
		return "held"
	}
	return "joined"
}

// cpEvent follows the session for its services (session goroutine).
func (h *Hub) cpEvent(s *session.Session, e session.Event) {
	c := st(s).cp
	switch e.Type {
	case "session.ended":
		for _, r := range c.recs {
			r.Close()
		}
		c.recs = nil
		c.publishFeed()
	case "session.state":
		if to, _ := e.Data["to"].(string); to == string(session.StateActive) && !c.autoDone {
			c.autoDone = true
			if c.srs != "" {
				h.siprecStart(s, c.srs)
			}
			for _, name := range c.auto {
				if _, err := h.copilotAttach(s, name, "route"); err != nil {
					h.log.Warn("copilot: cannot attach the route's service", "session", s.ID, "service", name, "err", err)
					s.Record("copilot.failed", "", map[string]any{"service": name, "reason": err.Error()})
				}
			}
		}
		for _, a := range c.atts {
			a.SessionEvent(e.Data["to"].(string), "state", agentOf(s))
		}
	case "session.transferred", "session.held", "session.resumed", "session.escalated":
		for _, a := range c.atts {
			a.SessionEvent(string(s.State()), e.Type[len("session."):], agentOf(s))
		}
		h.cpSync(s)
	case "leg.joined", "leg.left":
		if l := s.Leg(e.Leg); e.Type == "leg.left" && l == nil && c.atts[e.Leg] != nil {
			delete(c.atts, e.Leg) // an AI detached or the session ending
			c.publishFeed()
			if len(c.atts) == 0 && len(c.recs) == 0 { // a SIPREC recording still needs the tap
				s.SetTap(nil)
			}
		}
		h.cpSync(s)
	}
}

func agentOf(s *session.Session) string {
	if a := s.Info().Agent; a != nil {
		return a.ID
	}
	return ""
}

// cpSync tells every service what changed among the participants.
func (h *Hub) cpSync(s *session.Session) {
	c := st(s).cp
	now := map[string]*session.Leg{}
	for _, l := range s.Legs() {
		if l.Role != session.RoleAI {
			now[l.ID] = l
		}
	}
	for id := range c.known {
		if now[id] == nil {
			for _, a := range c.atts {
				a.Participant(id, "", "", "left")
			}
			for _, r := range c.recs {
				_ = r.Participant(id, "", "", "", "left")
			}
			delete(c.known, id)
		}
	}
	for id, l := range now {
		stNow := h.cpLegState(s, l)
		if c.known[id] == stNow {
			continue
		}
		next := stNow
		if c.known[id] != "" && stNow == "joined" {
			next = "resumed"
		}
		for _, a := range c.atts {
			a.Participant(id, string(l.Role), l.Name, next)
		}
		if c.known[id] == "" {
			for _, r := range c.recs {
				if err := r.Participant(id, string(l.Role), l.Name, h.aorOf(s, l), "joined"); err != nil {
					h.log.Warn("siprec: cannot record a participant", "session", s.ID, "leg", id, "err", err)
				}
			}
		}
		c.known[id] = stNow
	}
}

// cpEvents carries an attachment's reports onto the session's goroutine.
type cpEvents struct {
	h *Hub
	s *session.Session
}

func (e *cpEvents) Message(service string, m copilot.Message) {
	e.s.Do(func() { e.h.copilotMessage(e.s, service, m) })
}

func (e *cpEvents) Connection(service string, up bool, err error) {
	e.s.Do(func() {
		if e.s.Ended() {
			return
		}
		ev, data := "copilot.up", map[string]any{"service": service}
		if !up {
			ev = "copilot.down"
			if err != nil {
				data["reason"] = err.Error()
			}
		}
		e.s.Record(ev, "", data)
		e.h.cpNotify(e.s, copilotMsg{Type: "copilot", Event: ev[len("copilot."):], Service: service})
	})
}

// copilotMessage applies one checked message from a service (session
// goroutine): the console sees it live, the history and the webhooks keep
// finals, hints, alerts and tags, a tag goes into the context.
func (h *Hub) copilotMessage(s *session.Session, service string, m copilot.Message) {
	if s.Ended() {
		return
	}
	leg, role, name := "", "", ""
	if c := st(s).cp; c != nil {
		for id, a := range c.atts {
			if a.Service() == service {
				leg = id
				if m.Participant != "" {
					_, role, name, _ = a.Who(m.Participant)
				}
			}
		}
	}
	out := copilotMsg{Type: "copilot", Event: m.Type, Service: service, Participant: m.Participant, Role: role, Name: name, Text: m.Text, Final: m.Final,
		StartMS: m.StartMS, EndMS: m.EndMS, Language: m.Language, ID: m.ID, Title: m.Title, URL: m.URL, Card: m.Card,
		Severity: m.Severity, Reason: m.Reason, Key: m.Key, Value: m.Value}
	switch m.Type {
	case "transcript":
		if m.Final {
			s.Record("copilot.transcript", leg, map[string]any{"service": service, "participant": m.Participant, "role": role,
				"text": m.Text, "start_ms": m.StartMS, "end_ms": m.EndMS, "language": m.Language})
		}
	case "hint":
		s.Record("copilot.hint", leg, map[string]any{"service": service, "id": m.ID, "text": m.Text, "title": m.Title, "url": m.URL})
	case "alert":
		h.copilot.CountAlert(m.Severity)
		s.Record("copilot.alert", leg, map[string]any{"service": service, "id": m.ID, "severity": m.Severity, "reason": m.Reason})
	case "tag":
		key := "ai." + service + "." + m.Key
		s.Update(func(in *session.Info) {
			if in.Customer.Context == nil {
				in.Customer.Context = map[string]string{}
			}
			in.Customer.Context[key] = m.Value
		})
		s.Record("copilot.tag", leg, map[string]any{"service": service, "key": key, "value": m.Value})
		h.notifyAgents(s) // the console's context shows it
		out.Key = key
	case "speak":
		s.Replan() // who hears the AI may have changed (to: agent or all)
		return
	case "clear":
		return
	}
	h.cpNotify(s, out)
}

// copilotMsg is the console's `copilot` frame (docs/sessions.md).
type copilotMsg struct {
	Type        string          `json:"type"`
	Session     string          `json:"session"`
	Event       string          `json:"event"`
	Service     string          `json:"service"`
	Participant string          `json:"participant,omitempty"`
	Role        string          `json:"role,omitempty"`
	Name        string          `json:"name,omitempty"`
	Text        string          `json:"text,omitempty"`
	Final       bool            `json:"final,omitempty"`
	StartMS     int64           `json:"start_ms,omitempty"`
	EndMS       int64           `json:"end_ms,omitempty"`
	Language    string          `json:"language,omitempty"`
	ID          string          `json:"id,omitempty"`
	Title       string          `json:"title,omitempty"`
	URL         string          `json:"url,omitempty"`
	Card        json.RawMessage `json:"card,omitempty"`
	Severity    string          `json:"severity,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Key         string          `json:"key,omitempty"`
	Value       string          `json:"value,omitempty"`
}

// cpNotify sends a copilot frame to the consoles in the session: the
// agents, interpreters and supervisors.
func (h *Hub) cpNotify(s *session.Session, m copilotMsg) {
	m.Type, m.Session = "copilot", s.ID
	seen := map[string]bool{}
	for _, l := range s.Legs() {
		switch l.Role {
		case session.RoleAgent, session.RoleInterpreter, session.RoleSupervisor, session.RoleViewer:
		default:
			continue
		}
		if l.Party == "" || seen[l.Party] {
			continue
		}
		seen[l.Party] = true
		for _, c := range h.agentConns(l.Party) {
			c.send(m)
		}
	}
}

// supervise sets an agent's listen mode in the session — monitor (hears
// everyone, heard by nobody), whisper (heard by the agent side only) or
// barge (everybody) — and, with offer, rings their console to join as a
// supervisor if they are not in the session yet (session goroutine).
func (h *Hub) supervise(s *session.Session, agent, mode string, offer bool) error {
	switch mode {
	case "monitor", "whisper", "barge":
	default:
		return fmt.Errorf("%w: mode must be monitor, whisper or barge", errBadRequest)
	}
	if s.State() != session.StateActive {
		return fmt.Errorf("%w: the session is %s", errConflict, s.State())
	}
	if t := st(s); t.iv != nil && mode != "barge" && (h.cfg.Interpreter == nil || !h.cfg.Interpreter.AllowRecording) {
		return fmt.Errorf("%w: interpreter sessions are confidential (interpreter.allow_recording is off)", errForbidden)
	}
	c := h.cp(s)
	c.sup[agent] = mode
	s.SetOverride(c) // replans: the mode applies at once, or from the supervisor's first packet
	present := false
	for _, l := range s.LegsWith(session.RoleSupervisor) {
		present = present || l.Party == agent
	}
	if present || !offer {
		s.Record("supervisor.mode", "", map[string]any{"agent": agent, "mode": mode})
		return nil
	}
	if err := h.offerToAgent(s, agent, "supervisor", nil, ""); err != nil {
		delete(c.sup, agent)
		return fmt.Errorf("%w: %v", errUnavailableErr, err)
	}
	s.Record("supervisor.offered", "", map[string]any{"agent": agent, "mode": mode})
	return nil
}

// cpFrame handles the console's Copilot frames: copilot_attach and
// copilot_detach {session, service} (services with agent_attach) and
// supervise {session, mode} (a supervisor's own listen mode).
func (h *Hub) cpFrame(c *conn, m inFrame) error {
	return h.onSession(c.agentSession(m.Session), func(s *session.Session) error {
		if !c.inSession(s) {
			return fmt.Errorf("%w: not your session", errForbidden)
		}
		switch m.Type {
		case "supervise":
			sup := false
			for _, l := range s.LegsWith(session.RoleSupervisor) {
				sup = sup || c.owns(l.ID)
			}
			if !sup {
				return fmt.Errorf("%w: only a supervisor in the session changes their mode", errForbidden)
			}
			return h.supervise(s, c.identity, m.Mode, false)
		}
		if h.copilot == nil {
			return fmt.Errorf("%w: no copilot services are configured", errNotFoundErr)
		}
		svc, ok := h.copilot.Service(m.Service)
		if !ok || !svc.AgentAttach {
			return fmt.Errorf("%w: %q is not a service agents may attach", errForbidden, m.Service)
		}
		if m.Type == "copilot_attach" {
			_, err := h.copilotAttach(s, m.Service, "agent:"+c.identity)
			return err
		}
		if cs := st(s).cp; cs != nil {
			for id, a := range cs.atts {
				if a.Service() == m.Service {
					return h.copilotDetach(s, id)
				}
			}
		}
		return fmt.Errorf("%w: %s is not attached", errNotFoundErr, m.Service)
	})
}

// cpAttachable are the services an agent may attach from the console
// (the agents' hello).
func (h *Hub) cpAttachable() []string {
	if h.copilot == nil {
		return nil
	}
	return h.copilot.Attachable()
}

// cpDTMF tells the services of a participant's digits (session goroutine).
func (h *Hub) cpDTMF(s *session.Session, legID, digits string) {
	if c := st(s).cp; c != nil {
		for _, a := range c.atts {
			a.DTMF(legID, digits)
		}
	}
}

// cpMute tells the services that a participant muted or unmuted its
// microphone: its stream carries silence frames meanwhile.
func (h *Hub) cpMute(s *session.Session, l *session.Leg, muted bool) {
	c := st(s).cp
	if c == nil {
		return
	}
	state := "unmuted"
	if muted {
		state = "muted"
	}
	for _, a := range c.atts {
		a.Participant(l.ID, string(l.Role), l.Name, state)
	}
}
