package copilot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media/mixer"
)

// Service is one configured AI service (config `copilot.services[]`).
type Service struct {
	Name        string
	URL         string   // wss://…, or ws:// to a loopback address
	Format      string   // split (default) or twilio
	Rate        int      // split: 8000 or 16000 (default 16000); twilio: always 8000
	Token       string   // Authorization: Bearer; never logged
	Secret      string   // X-Split-Signature key; never logged
	Roles       []string // participant roles streamed (empty: every role but ai)
	MaySpeak    bool
	SpeakTo     string // twilio: agent (default) or all
	AgentAttach bool   // an agent may attach it from the console
}

// Check reports what is wrong with s.
func (s *Service) Check() error {
	if s.Name == "" {
		return errors.New("copilot service: name is required")
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("copilot service %q: url %q is not a ws:// or wss:// URL", s.Name, s.URL)
	}
	switch u.Scheme {
	case "wss":
	case "ws":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("copilot service %q: ws:// (no TLS) only to a loopback address; use wss://", s.Name)
		}
	default:
		return fmt.Errorf("copilot service %q: url scheme %q (ws or wss)", s.Name, u.Scheme)
	}
	switch s.Format {
	case "", "split", "twilio":
	default:
		return fmt.Errorf("copilot service %q: format %q (split or twilio)", s.Name, s.Format)
	}
	switch s.Rate {
	case 0, 8000, 16000:
	default:
		return fmt.Errorf("copilot service %q: rate %d (8000 or 16000)", s.Name, s.Rate)
	}
	switch s.SpeakTo {
	case "", "agent", "all":
	default:
		return fmt.Errorf("copilot service %q: speak_to %q (agent or all)", s.Name, s.SpeakTo)
	}
	for _, r := range s.Roles {
		if !slices.Contains(Roles, r) {
			return fmt.Errorf("copilot service %q: participant role %q (one of %v)", s.Name, r, Roles)
		}
	}
	return nil
}

// Roles are the participant roles a service may stream.
var Roles = []string{"customer", "agent", "interpreter", "phone-party", "acd", "supervisor", "agent-path"}

func (s *Service) format() string {
	if s.Format == "" {
		return "split"
	}
	return s.Format
}

func (s *Service) rate() int {
	if s.format() == "twilio" {
		return 8000
	}
	if s.Rate == 0 {
		return 16000
	}
	return s.Rate
}

func (s *Service) streams(role string) bool {
	if role == "ai" {
		return false
	}
	return len(s.Roles) == 0 || slices.Contains(s.Roles, role)
}

// ServiceStats are one service's counters, hub-wide (metrics).
type ServiceStats struct {
	Connected atomic.Int64  // sockets open now
	Dropped   atomic.Uint64 // frames dropped because a ring was full
	Failures  atomic.Uint64 // sockets lost, refused or closed for abuse
	Frames    atomic.Uint64 // audio frames sent
}

// SessionInfo is what the hello says of the session.
type SessionInfo struct {
	ID       string
	Mode     string
	Queue    string
	Customer Customer
}

// Customer is the hello's customer object.
type Customer struct {
	Name     string            `json:"name,omitempty"`
	Language string            `json:"language,omitempty"`
	Context  map[string]string `json:"context,omitempty"`
}

// Events is how an attachment reports to the hub. It is called from the
// attachment's goroutines and must not block.
type Events interface {
	// Message is a checked message from the service (transcript, hint,
	// alert, tag, speak, clear).
	Message(service string, m Message)
	// Connection reports the service reachable (up) or not (err says why).
	Connection(service string, up bool, err error)
}

// Manager holds the configured services and owns every attachment's
// goroutines.
type Manager struct {
	log      *slog.Logger
	services map[string]*Service
	stats    map[string]*ServiceStats
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	hubID    string
	alerts   sync.Map // severity → *atomic.Uint64
	th       Thresholds
	talk     TalkSeconds
}

// SetAnalytics sets the embedded analytics' thresholds (before any Attach).
func (m *Manager) SetAnalytics(th Thresholds) { m.th = th }

// TalkSeconds is the speech counted by the embedded analytics, by role.
func (m *Manager) TalkSeconds(role string) float64 { return m.talk.Seconds(role) }

// CountAlert counts an alert of severity (split_copilot_alerts_total).
func (m *Manager) CountAlert(severity string) {
	v, _ := m.alerts.LoadOrStore(severity, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// Alerts is the number of alerts of severity counted.
func (m *Manager) Alerts(severity string) uint64 {
	if v, ok := m.alerts.Load(severity); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

// Attachable are the services an agent may attach from the console, the
// built-in analytics last.
func (m *Manager) Attachable() []string {
	var out []string
	for _, n := range m.Names() {
		if m.services[n].AgentAttach {
			out = append(out, n)
		}
	}
	return append(out, AnalyticsService)
}

// Names are the configured services' names.
func (m *Manager) Names() []string {
	out := make([]string, 0, len(m.services))
	for n := range m.services {
		if n != AnalyticsService {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// NewManager checks services and returns a manager for them.
func NewManager(services []Service, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{log: log, services: map[string]*Service{}, stats: map[string]*ServiceStats{}, ctx: ctx, cancel: cancel, hubID: randHex(16)}
	m.services[AnalyticsService] = &Service{Name: AnalyticsService, Format: "analytics", AgentAttach: true}
	m.stats[AnalyticsService] = &ServiceStats{}
	for i := range services {
		s := services[i]
		if s.Name == AnalyticsService {
			cancel()
			return nil, fmt.Errorf("copilot service %q: the name of the built-in analytics", s.Name)
		}
		if err := s.Check(); err != nil {
			cancel()
			return nil, err
		}
		if m.services[s.Name] != nil {
			cancel()
			return nil, fmt.Errorf("copilot service %q: defined twice", s.Name)
		}
		m.services[s.Name] = &s
		m.stats[s.Name] = &ServiceStats{}
	}
	return m, nil
}

// Service returns the named service's configuration.
func (m *Manager) Service(name string) (Service, bool) {
	s := m.services[name]
	if s == nil {
		return Service{}, false
	}
	return *s, true
}

// Stats returns each service's counters.
func (m *Manager) Stats() map[string]*ServiceStats { return m.stats }

// Close ends every attachment and waits for their goroutines.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// ErrUnknownService is returned by Attach for a service not configured.
var ErrUnknownService = errors.New("copilot: no such service")

// Attach connects service to a session: the returned attachment is fed by
// the session's tap (Feed) and told of its participants (Participant); its
// Endpoint is the AI's session leg.
func (m *Manager) Attach(service string, info SessionInfo, ev Events) (*Attachment, error) {
	svc := m.services[service]
	if svc == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	ctx, cancel := context.WithCancel(m.ctx)
	a := &Attachment{m: m, svc: svc, st: m.stats[service], info: info, ev: ev, ctx: ctx, cancel: cancel,
		ID: "ai_" + randHex(6), byLeg: map[string]*part{}, done: make(chan struct{}), started: time.Now(),
		log: m.log.With("session", info.ID, "copilot", service)}
	a.speakTo.Store(svc.SpeakTo)
	if a.speakTo.Load() == "" {
		a.speakTo.Store("agent")
	}
	if svc.Format == "analytics" {
		a.an = newAnalyzer(a, m.th, &m.talk)
		a.goOwned(a.an.run)
		return a, nil
	}
	if svc.MaySpeak {
		a.spk = newSpeaker(a)
		a.goOwned(a.spk.run)
	}
	a.main = a.newStream(nil)
	return a, nil
}

// Attachment is one AI service attached to one session.
type Attachment struct {
	ID string // the participant id the API returns (ai_…)

	m       *Manager
	svc     *Service
	st      *ServiceStats
	info    SessionInfo
	ev      Events
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time
	spk     *speaker
	an      *analyzer    // the built-in analytics (no socket)
	speakTo atomic.Value // string: agent or all
	done    chan struct{}
	once    sync.Once

	mu      sync.Mutex // guards below; Feed takes it once per tick
	parts   []*part    // join order
	byLeg   map[string]*part
	tick    uint64
	main    *stream
	streams []*stream // twilio: the per-participant sockets
	closed  bool
	bye     [2]string // code, reason
}

type part struct {
	leg, role, name string
	idx             uint8
	seq             uint32
	state           string
	st              *stream // nil: not streamed
	track           string  // twilio track name
}

func (a *Attachment) goOwned(f func()) {
	a.m.wg.Add(1)
	go func() {
		defer a.m.wg.Done()
		f()
	}()
}

// Service is the attached service's name.
func (a *Attachment) Service() string { return a.svc.Name }

// MaySpeak reports whether the service may speak.
func (a *Attachment) MaySpeak() bool { return a.svc.MaySpeak }

// SpeakTo is who hears the service: "agent" (a whisper) or "all".
func (a *Attachment) SpeakTo() string { return a.speakTo.Load().(string) }

// Participant tells the service of a participant's change (state joined,
// left, held, resumed, muted, unmuted). It never blocks.
func (a *Attachment) Participant(legID, role, name, state string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	p := a.byLeg[legID]
	if p == nil {
		if state != "joined" || len(a.parts) >= 255 {
			return
		}
		p = &part{leg: legID, role: role, name: name, idx: uint8(len(a.parts) + 1)}
		a.parts = append(a.parts, p)
		a.byLeg[legID] = p
		if a.main != nil && a.svc.streams(role) {
			p.st = a.main
			if a.svc.format() == "twilio" {
				p.st, p.track = a.twilioStreamFor(p)
			}
		}
	}
	p.state = state
	if state == "left" {
		delete(a.byLeg, legID)
	}
	if state == "joined" && p.st != nil {
		n := 0
		for _, o := range a.parts {
			if o.st == p.st {
				n++
			}
		}
		p.st.ring.grow(RingFrames * n)
	}
	if p.st != nil {
		p.st.participant(p)
		if state == "left" && p.st != a.main {
			p.st.stop()
		}
	}
}

// twilioStreamFor places a participant on a Twilio-shaped socket: the
// customer is the first socket's inbound track and the agent side (agent,
// acd) its outbound track; anybody else gets a socket of their own with
// one inbound track (docs/copilot.md §4). Under a.mu.
func (a *Attachment) twilioStreamFor(p *part) (*stream, string) {
	switch p.role {
	case "customer":
		return a.main, "inbound"
	case "agent", "acd":
		return a.main, "outbound"
	}
	s := a.newStream(p)
	a.streams = append(a.streams, s)
	return s, "inbound"
}

// Who names participant pid (p1…): its leg, role and name.
func (a *Attachment) Who(pid string) (legID, role, name string, ok bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(pid, "p"))
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || n < 1 || n > len(a.parts) || !strings.HasPrefix(pid, "p") {
		return "", "", "", false
	}
	p := a.parts[n-1]
	return p.leg, p.role, p.name, true
}

// SessionEvent tells the service of a session change (split format only).
func (a *Attachment) SessionEvent(state, event, agent string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.main == nil || a.svc.format() != "split" {
		return
	}
	a.main.control(mustJSON(map[string]any{"type": "session", "state": state, "event": event, "agent": agent}))
}

// DTMF tells the service of a participant's digits.
func (a *Attachment) DTMF(legID, digits string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.byLeg[legID]
	if a.closed || p == nil || p.st == nil {
		return
	}
	if a.svc.format() == "split" {
		p.st.control(mustJSON(map[string]any{"type": "dtmf", "participant": "p" + strconv.Itoa(int(p.idx)), "digits": digits}))
		return
	}
	for _, d := range digits {
		p.st.control(p.st.tw.DTMF(p.track+"_track", string(d)))
	}
}

// Feed is the session's tap: one frame per main-group member per tick. It
// copies each streamed participant's frame into its socket's ring and
// never waits; a participant without a frame this tick (held, not in the
// mix) gets a silence frame, so streams stay aligned.
func (a *Attachment) Feed(rate int, frames []mixer.TapFrame) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.tick++
	if a.an != nil {
		a.analyse(frames)
		return
	}
	for _, p := range a.parts {
		if p.st == nil || p.state == "left" {
			continue
		}
		var pcm []int16
		for i := range frames {
			if frames[i].ID == p.leg {
				if frames[i].Active && p.state != "held" && p.state != "muted" {
					pcm = frames[i].PCM
				}
				break
			}
		}
		if p.st.ring.push(p.idx, p.seq, a.tick, rate, pcm, pcm == nil) {
			a.st.Dropped.Add(1)
		}
		p.seq++
	}
}

// analyse feeds the embedded analytics (under a.mu).
func (a *Attachment) analyse(frames []mixer.TapFrame) {
	held := false
	for _, p := range a.parts {
		if p.state == "left" || p.role == "ai" {
			continue
		}
		held = held || (p.role == "customer" && p.state == "held")
		var pcm []int16
		for i := range frames {
			if frames[i].ID == p.leg && frames[i].Active && p.state != "held" && p.state != "muted" {
				pcm = frames[i].PCM
			}
		}
		a.an.frame(p, pcm)
	}
	a.an.held = held
	a.an.endTick()
}

// Close ends the attachment: each socket says bye (split: code and reason;
// twilio: stop) and closes. It does not wait (Manager.Close does).
func (a *Attachment) Close(code int, reason string) {
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.bye = [2]string{strconv.Itoa(code), reason}
		a.mu.Unlock()
		a.cancel()
		close(a.done)
	})
}

// Endpoint is the AI's session leg: no transport, a voice when it may
// speak (its audio track is fed by the speaker), done when closed.
func (a *Attachment) Endpoint() *Endpoint { return &Endpoint{a: a} }

// Endpoint implements the session's leg endpoint for an AI.
type Endpoint struct{ a *Attachment }

func (e *Endpoint) Kind() leg.Kind { return leg.KindAI }
func (e *Endpoint) Audio() *leg.Track {
	if e.a.spk == nil {
		return nil
	}
	return e.a.spk.track
}
func (e *Endpoint) Video() *leg.Track             { return nil }
func (e *Endpoint) Done() <-chan struct{}         { return e.a.done }
func (e *Endpoint) Close(code int, reason string) { e.a.Close(code, reason) }
func (e *Endpoint) Attachment() *Attachment       { return e.a }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
