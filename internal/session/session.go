// Package session is SPLIT's domain core: a Session is one customer
// interaction — the "transactional whole" — with legs that come and go (the
// customer's browser, the SIP call toward an ACD, an agent console, a
// supervisor, an agent view), a state machine, an append-only event history
// and a termination cause. A session outlives any single leg.
//
// One goroutine owns each session's state. Everything else — transports,
// the router, the API — talks to it by posting closures with Do, which run
// on that goroutine in order. Legs are reached only through the narrow
// Endpoint interface: the package knows no SIP, WebRTC or HTTP.
//
// The session also owns the media plan: which legs hear and see each other,
// derived from their roles and audio groups (see plan.go).
package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media/mixer"
)

// Mode is what kind of interaction a session is.
type Mode string

// Modes (a session has one primary mode; later modes such as copilot are
// added as flags by their own packages).
const (
	ModeForward     Mode = "forward"
	ModeReverse     Mode = "reverse"
	ModeScheduled   Mode = "scheduled"
	ModeWhatsApp    Mode = "whatsapp"
	ModeInterpreter Mode = "interpreter"
)

// State is where a session is in its life.
type State string

// States, in order. Held and transferring are flags on Active.
const (
	StateCreated State = "created"
	StateRouting State = "routing"
	StateWaiting State = "waiting"
	StateRinging State = "ringing"
	StateActive  State = "active"
	StateEnded   State = "ended"
)

var stateOrder = map[State]int{StateCreated: 0, StateRouting: 1, StateWaiting: 2, StateRinging: 3, StateActive: 4, StateEnded: 5}

// Role is what a leg is for.
type Role string

// Roles.
const (
	RoleCustomer    Role = "customer"
	RoleAgent       Role = "agent"
	RoleSupervisor  Role = "supervisor"
	RoleViewer      Role = "viewer"      // video-only agent view (agent on a desk phone)
	RoleACD         Role = "acd"         // the SIP leg toward an external ACD / queue
	RoleAgentPath   Role = "agent-path"  // the SIP leg the ACD delivers to an agent endpoint hosted by SPLIT
	RolePhoneParty  Role = "phone-party" // a third party on the telephone
	RoleInterpreter Role = "interpreter" // a sign-language interpreter's console (Deaf Interpreter mode)
	RoleAI          Role = "ai"          // a Copilot AI service: a tap on the others' audio, and a voice when it may speak
)

// Policy directs a session's media where groups are not enough: who hears
// whom inside the main audio group (one-way links, such as the Deaf
// Interpreter mode's VCO and HCO), and whose camera the customer sees.
// A session without one (every other mode) has symmetric groups and shows
// the customer the last agent-side leg that joined.
type Policy interface {
	// Hears reports whether listener hears speaker; both are members of
	// the main group ("") and differ.
	Hears(listener, speaker *Leg) bool
	// Lead is the id of the leg whose camera the customer sees ("" or a
	// leg without video: the usual choice).
	Lead() string
}

// Override decides who hears whom for the legs it knows — an AI's voice,
// a supervisor's monitor or whisper — before the Policy (or the symmetric
// default) does; ok false leaves the pair to them. A session with an
// override mixes its main group.
type Override interface {
	Hears(listener, speaker *Leg) (hears, ok bool)
}

// Endpoint is what the session needs of a leg's transport.
type Endpoint interface {
	Kind() leg.Kind
	Audio() *leg.Track // nil: no audio (a viewer)
	Video() *leg.Track // nil: no video
	Done() <-chan struct{}
	// Close ends the leg from the hub's side with a SIP-style cause.
	Close(code int, reason string)
}

// Leg is one endpoint in a session.
type Leg struct {
	ID     string
	Role   Role
	Party  string // agent id, customer name, SIP URI
	Name   string // display name
	Group  string // audio group: legs in one group hear each other ("" is the main group)
	EP     Endpoint
	Joined time.Time
}

// Customer is who the session serves.
type Customer struct {
	Name     string            `json:"name,omitempty"`
	Contact  string            `json:"contact,omitempty"`
	Language string            `json:"language,omitempty"`
	Context  map[string]string `json:"context,omitempty"`
	// SignLanguage is a deaf user's sign language (BCP 47, as RFC 8373
	// hlang: ase, bfi, ssp) in the Deaf Interpreter mode.
	SignLanguage string `json:"sign_language,omitempty"`
}

// Event is one entry of a session's history.
type Event struct {
	Seq  int64          `json:"seq"`
	At   time.Time      `json:"at"`
	Type string         `json:"type"`
	Leg  string         `json:"leg,omitempty"`
	Data map[string]any `json:"data,omitempty"`
}

// LegInfo describes a leg in a snapshot.
type LegInfo struct {
	ID     string    `json:"id"`
	Role   Role      `json:"role"`
	Kind   leg.Kind  `json:"kind"`
	Party  string    `json:"party,omitempty"`
	Name   string    `json:"name,omitempty"`
	Group  string    `json:"group,omitempty"`
	Video  bool      `json:"video"`
	Joined time.Time `json:"joined_at"`
}

// AgentRef names the agent serving a session.
type AgentRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Info is an immutable snapshot of a session, readable from any goroutine.
type Info struct {
	ID         string     `json:"id"`
	Mode       Mode       `json:"mode"`
	State      State      `json:"state"`
	Held       bool       `json:"held"`
	Transfer   string     `json:"transferring,omitempty"`
	Entry      string     `json:"entry_point,omitempty"`
	Route      string     `json:"route,omitempty"`
	Queue      string     `json:"queue,omitempty"`
	Customer   Customer   `json:"customer"`
	Agent      *AgentRef  `json:"agent,omitempty"`
	Legs       []LegInfo  `json:"legs"`
	CreatedAt  time.Time  `json:"created_at"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	CauseCode  int        `json:"cause_code,omitempty"`
	Cause      string     `json:"cause,omitempty"`
}

// Observer hears every event of every session, on the session's goroutine:
// it must not block (persist, fan out, count — quickly).
type Observer interface {
	SessionEvent(info *Info, e Event)
}

// Errors.
var (
	ErrEnded   = errors.New("session: ended")
	ErrNoLeg   = errors.New("session: no such leg")
	ErrBadInfo = errors.New("session: invalid")
)

// Options configure a new session.
type Options struct {
	ID       string // empty: a new UUIDv7
	Mode     Mode
	Entry    string
	Customer Customer
	Observer Observer
	Logger   *slog.Logger
	Media    MediaOptions
}

// Session is one customer interaction.
type Session struct {
	ID  string
	log *slog.Logger
	obs Observer

	// Do's queue: unbounded, so Do never blocks (not even from the session's
	// own goroutine); closed once the final drain has found it empty
	mu      sync.Mutex
	queue   []func()
	closed  bool
	wake    chan struct{} // capacity 1: the queue has work
	done    chan struct{}
	stopped chan struct{}
	wg      sync.WaitGroup

	// owned by the run goroutine
	info   Info
	legs   map[string]*Leg
	order  []string // leg ids in join order
	seq    int64
	plan   *plan
	onLeg  func(l *Leg, code int, reason string)
	ended  bool
	scoped map[string]any // per-session state of the layers above (router, ACD glue)
	// mediaHeld: SetHeld paused the media (Info.Held alone may say a hold
	// done elsewhere, e.g. by re-INVITE on an ACD's leg)
	mediaHeld bool
	policy    Policy
	override  Override
	watchers  []func(Event)

	snap atomic.Pointer[Info]
}

// New starts a session's goroutine.
func New(o Options) *Session {
	id := o.ID
	if id == "" {
		id = NewID()
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Session{
		ID: id, log: log.With("session", id), obs: o.Observer,
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
		legs: map[string]*Leg{}, scoped: map[string]any{},
	}
	s.plan = newPlan(s.log, o.Media)
	s.info = Info{ID: id, Mode: o.Mode, State: StateCreated, Entry: o.Entry, Customer: o.Customer, CreatedAt: time.Now().UTC()}
	if s.info.Mode == "" {
		s.info.Mode = ModeForward
	}
	s.publish()
	go s.run()
	s.Do(func() { s.Record("session.created", "", map[string]any{"mode": s.info.Mode, "entry_point": o.Entry}) })
	return s
}

// NewID returns a time-ordered session id (UUIDv7).
func NewID() string {
	u, err := uuid.NewV7()
	if err != nil {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	return u.String()
}

func (s *Session) run() {
	defer close(s.stopped)
	for {
		select {
		case <-s.wake:
			s.runQueued()
		case <-s.done:
			s.finish()
			return
		}
	}
}

// finish runs what is posted after the end until the legs' watchers have
// returned, then closes the queue and runs what it held, in that order: a Do
// that reported true has always run, and a Do that comes later reports false.
func (s *Session) finish() {
	idle := make(chan struct{})
	go func() { s.wg.Wait(); close(idle) }()
	for waiting := true; waiting; {
		select {
		case <-s.wake:
			s.runQueued()
		case <-idle:
			waiting = false
		}
	}
	s.mu.Lock()
	s.closed = true
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, f := range q {
		f()
	}
}

func (s *Session) runQueued() {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, f := range q {
		f()
	}
}

// Do runs f on the session's goroutine, after what was posted before it. It
// never blocks. It reports false if the session's goroutine has stopped (f did
// not and will not run); when it reports true, f runs.
func (s *Session) Do(f func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// Call runs f on the session's goroutine and waits for it.
func (s *Session) Call(f func()) bool {
	ch := make(chan struct{})
	if !s.Do(func() { defer close(ch); f() }) {
		return false
	}
	select {
	case <-ch:
		return true
	case <-s.stopped:
		return false
	}
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Stopped is closed when the session's goroutine has exited.
func (s *Session) Stopped() <-chan struct{} { return s.stopped }

// Info returns the latest snapshot (any goroutine).
func (s *Session) Info() *Info { return s.snap.Load() }

// --- the methods below run on the session goroutine only ---

// Ended reports whether End has run.
func (s *Session) Ended() bool { return s.ended }

// State is the current state.
func (s *Session) State() State { return s.info.State }

// Scoped is per-session storage for the layers above (keyed by their name).
func (s *Session) Scoped(key string) any { return s.scoped[key] }

// SetScoped stores v under key.
func (s *Session) SetScoped(key string, v any) { s.scoped[key] = v }

// OnLegGone sets the policy callback for a leg whose transport ended by
// itself (the leg is already removed when it runs).
func (s *Session) OnLegGone(f func(l *Leg, code int, reason string)) { s.onLeg = f }

// Record appends an event to the history and tells the observer.
func (s *Session) Record(typ, legID string, data map[string]any) {
	s.seq++
	e := Event{Seq: s.seq, At: time.Now().UTC(), Type: typ, Leg: legID, Data: data}
	s.log.Debug("session event", "type", typ, "leg", legID)
	if s.obs != nil {
		s.obs.SessionEvent(s.snap.Load(), e)
	}
	for _, w := range s.watchers {
		w(e)
	}
}

// Watch calls f with each event recorded from now on, on the session's
// goroutine (a layer that follows the participants: a Copilot AI).
func (s *Session) Watch(f func(Event)) { s.watchers = append(s.watchers, f) }

// SetState moves the state machine. Backward moves are allowed only from
// active/ringing to waiting (re-queue after a decline or a transfer).
func (s *Session) SetState(st State, data map[string]any) error {
	if s.ended {
		return ErrEnded
	}
	cur := s.info.State
	if st == cur {
		return nil
	}
	if st == StateEnded {
		return fmt.Errorf("%w: use End", ErrBadInfo)
	}
	back := stateOrder[st] < stateOrder[cur]
	if back && !(st == StateWaiting || st == StateRouting || st == StateRinging) {
		return fmt.Errorf("%w: %s → %s", ErrBadInfo, cur, st)
	}
	s.info.State = st
	if st == StateActive && s.info.AnsweredAt == nil {
		t := time.Now().UTC()
		s.info.AnsweredAt = &t
	}
	s.publish()
	if data == nil {
		data = map[string]any{}
	}
	data["from"], data["to"] = string(cur), string(st)
	s.Record("session.state", "", data)
	return nil
}

// Update changes descriptive fields and republishes the snapshot.
func (s *Session) Update(f func(*Info)) {
	f(&s.info)
	s.publish()
}

// SetHeld pauses (or resumes) the media between the customer and the others.
// (Info.Held may also be set with Update for a hold done elsewhere — a
// re-INVITE on an external ACD's leg, after which the ACD plays its music to
// the customer: that hold does not pause the session's media.)
func (s *Session) SetHeld(held bool) {
	if s.ended || s.mediaHeld == held && s.info.Held == held {
		return
	}
	s.info.Held, s.mediaHeld = held, held
	s.publish()
	s.replan()
	typ := "session.resumed"
	if held {
		typ = "session.held"
	}
	s.Record(typ, "", nil)
}

// AddLeg joins a leg and replans the media. The leg's end is watched: when
// its transport ends by itself the leg is removed and OnLegGone runs.
func (s *Session) AddLeg(l *Leg) error {
	if s.ended {
		return ErrEnded
	}
	if l.ID == "" || l.EP == nil {
		return fmt.Errorf("%w: leg needs an id and an endpoint", ErrBadInfo)
	}
	if _, dup := s.legs[l.ID]; dup {
		return fmt.Errorf("%w: duplicate leg %s", ErrBadInfo, l.ID)
	}
	if l.Joined.IsZero() {
		l.Joined = time.Now().UTC()
	}
	s.legs[l.ID] = l
	s.order = append(s.order, l.ID)
	s.publish()
	s.replan()
	s.Record("leg.joined", l.ID, map[string]any{"role": string(l.Role), "kind": string(l.EP.Kind()), "party": l.Party, "video": l.EP.Video() != nil})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-l.EP.Done():
			s.Do(func() { s.legGone(l) })
		case <-s.done:
		}
	}()
	return nil
}

func (s *Session) legGone(l *Leg) {
	if s.legs[l.ID] != l {
		return // removed already
	}
	s.dropLeg(l)
	s.Record("leg.left", l.ID, map[string]any{"role": string(l.Role), "cause": "transport ended"})
	if s.onLeg != nil && !s.ended {
		s.onLeg(l, 0, "")
	}
}

// RemoveLeg closes a leg with a cause and replans the media.
func (s *Session) RemoveLeg(id string, code int, reason string) error {
	l := s.legs[id]
	if l == nil {
		return ErrNoLeg
	}
	s.dropLeg(l)
	l.EP.Close(code, reason)
	s.Record("leg.left", id, map[string]any{"role": string(l.Role), "code": code, "reason": reason})
	return nil
}

func (s *Session) dropLeg(l *Leg) {
	delete(s.legs, l.ID)
	for i, id := range s.order {
		if id == l.ID {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	s.plan.forget(l)
	s.publish()
	s.replan()
}

// VideoFrames is the number of video frames the session has forwarded to
// each leg that is being sent video, by leg id (session goroutine): the
// hub's own frame rate count (docs/interpreter.md §7.4).
func (s *Session) VideoFrames() map[string]uint64 { return s.plan.videoFrames(s.Legs()) }

// Leg returns a leg by id.
func (s *Session) Leg(id string) *Leg { return s.legs[id] }

// Legs returns the legs in join order.
func (s *Session) Legs() []*Leg {
	out := make([]*Leg, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.legs[id])
	}
	return out
}

// LegsWith returns the legs with role r, in join order.
func (s *Session) LegsWith(r Role) []*Leg {
	var out []*Leg
	for _, l := range s.Legs() {
		if l.Role == r {
			out = append(out, l)
		}
	}
	return out
}

// End closes every leg, stops the media and ends the session with a cause.
func (s *Session) End(code int, reason string) {
	if s.ended {
		return
	}
	s.ended = true
	ids := append([]string(nil), s.order...)
	for _, id := range ids {
		l := s.legs[id]
		s.dropLeg(l)
		l.EP.Close(code, reason)
		s.Record("leg.left", id, map[string]any{"role": string(l.Role), "code": code, "reason": reason})
	}
	s.plan.close()
	now := time.Now().UTC()
	s.info.State, s.info.EndedAt, s.info.CauseCode, s.info.Cause = StateEnded, &now, code, reason
	s.publish()
	s.Record("session.ended", "", map[string]any{"code": code, "reason": reason})
	s.log.Info("session ended", "code", code, "reason", reason, "duration", now.Sub(s.info.CreatedAt).Round(time.Millisecond).String())
	close(s.done)
}

func (s *Session) publish() {
	in := s.info
	in.Legs = make([]LegInfo, 0, len(s.order))
	for _, id := range s.order {
		l := s.legs[id]
		in.Legs = append(in.Legs, LegInfo{ID: l.ID, Role: l.Role, Kind: l.EP.Kind(), Party: l.Party, Name: l.Name,
			Group: l.Group, Video: l.EP.Video() != nil, Joined: l.Joined})
	}
	if in.Customer.Context != nil {
		ctx := make(map[string]string, len(in.Customer.Context))
		for k, v := range in.Customer.Context {
			ctx[k] = v
		}
		in.Customer.Context = ctx
	}
	s.snap.Store(&in)
}

func (s *Session) replan() {
	if s.ended {
		s.plan.close()
		return
	}
	s.plan.apply(s.Legs(), s.mediaHeld && !s.ended, s.policy, s.override)
}

// SetPolicy directs the session's media by p (nil: the symmetric default)
// and replans. Call it again — or Replan — when p's answers change: the
// plan reads p only when it is applied.
func (s *Session) SetPolicy(p Policy) {
	s.policy = p
	s.replan()
}

// SetOverride installs o (nil removes it) and replans; Replan when its
// answers change.
func (s *Session) SetOverride(o Override) {
	s.override = o
	s.replan()
}

// SetTap installs t (nil removes it) on the main audio group: every
// member's own audio, 20 ms at a time, separately (docs/copilot.md §2). A
// session with a tap mixes its main group even for two members, so that
// each voice is decoded on its own. t runs on the mixer's goroutine and
// must not block.
func (s *Session) SetTap(t mixer.Tap) {
	s.plan.tap = t
	s.replan()
}

// SetGroup moves a leg to another audio group and replans the media.
func (s *Session) SetGroup(id, group string) error {
	l := s.legs[id]
	if l == nil {
		return ErrNoLeg
	}
	if l.Group != group {
		l.Group = group
		s.publish()
		s.replan()
	}
	return nil
}

// MediaHeld reports whether SetHeld paused the session's media.
func (s *Session) MediaHeld() bool { return s.mediaHeld }

// Replan recomputes the media plan; call it when a leg's media changed
// (a SIP leg got its answer or early media).
func (s *Session) Replan() { s.replan() }

// MediaStats reports the media counters of the current plan.
func (s *Session) MediaStats() []LinkStats { return s.plan.stats() }
