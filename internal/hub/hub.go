// Package hub runs SPLIT's sessions: it creates them for customers arriving
// at an entry point, routes them (the built-in ACD or an external ACD over
// SIP, carrying the session reference in User-to-User), joins the agent leg
// that comes back — from the built-in queue, or as a SIP INVITE that the
// external ACD delivers to an agent endpoint hosted here — and keeps the
// customer's video following whichever agent has the call.
//
// The hub is the policy layer above package session: a session owns its
// legs, media plan and history; the hub decides when legs are created,
// replaced and ended. Everything it does to a session runs on that session's
// goroutine (session.Do).
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/i18n"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/bridge"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/wallboard"
)

// Metrics is what the hub counts.
type Metrics interface {
	SessionStarted(mode string)
	SessionEnded(mode, cause string, d time.Duration)
	SessionState(mode, from, to string)
	QueueWait(queue string, d time.Duration)
	SessionSetup(d time.Duration)
	LegMedia(side string, sent, received uint64, lost int64, jitter time.Duration)
	Interpreter(event string)
	RTTChars(source string, n int)
	VideoFPS(mode string, fps float64)
	NodeLost(sessions int)
	ClusterRelay(kind string)
	CallRecord(queue, channel, outcome, serviceLevel string)
}

type noMetrics struct{}

func (noMetrics) SessionStarted(string)                                 {}
func (noMetrics) SessionEnded(string, string, time.Duration)            {}
func (noMetrics) SessionState(string, string, string)                   {}
func (noMetrics) QueueWait(string, time.Duration)                       {}
func (noMetrics) SessionSetup(time.Duration)                            {}
func (noMetrics) LegMedia(string, uint64, uint64, int64, time.Duration) {}
func (noMetrics) Interpreter(string)                                    {}
func (noMetrics) RTTChars(string, int)                                  {}
func (noMetrics) VideoFPS(string, float64)                              {}
func (noMetrics) NodeLost(int)                                          {}
func (noMetrics) ClusterRelay(string)                                   {}
func (noMetrics) CallRecord(string, string, string, string)             {}

// Publisher receives session events for webhooks (nil: none).
type Publisher interface {
	Publish(typ, sessionID string, at time.Time, data any)
}

// Deps are what the hub is built from.
type Deps struct {
	Config   *config.Config
	Log      *slog.Logger
	UA       *sipua.UA
	RTC      *rtc.Engine
	Store    *store.DB
	Signer   *auth.Signer
	Metrics  Metrics
	Hooks    Publisher
	Fallback sipua.Handler // SIP calls that are not the hub's (the softphone gateway)
	NewMixer func() session.Mixer
	Notifier Notifier // link delivery (nil: copy links only)
	Copilot  Copilot  // AI services (nil: none configured)
	Version  string
	// Node names this hub process in the store: the owner recorded on
	// every session it runs. At start the hub ends the sessions its node
	// left unfinished (a crash or a kill): cause node_restart.
	Node string
}

// Hub owns the live sessions and the agents' and customers' sockets.
type Hub struct {
	cfg      *config.Config
	log      *slog.Logger
	ua       *sipua.UA
	rtc      *rtc.Engine
	acd      distributor
	store    *store.DB
	signer   *auth.Signer
	m        Metrics
	hooks    Publisher
	fallback sipua.Handler
	newMixer func() session.Mixer
	version  string
	node     string
	started  time.Time
	lastBeat atomic.Int64 // unix nanoseconds of the last heartbeat the store took
	// relayTransport carries requests relayed to a session's owner node
	relayTransport http.RoundTripper
	remote         remoteWaits // calls waiting for an agent's console on another node (remote.go)
	pres           presence    // this node's agents' consoles, recorded for the other nodes (remote.go)
	wasReady       atomic.Bool
	rec            *recorder
	board          *wallboard.Board
	i18n           *i18n.Catalogs
	limiter        *limiter
	notifier       Notifier
	wa             WhatsApp // nil: WhatsApp calling off
	copilot        Copilot  // nil: no AI service
	waCalls        waIndex

	apptMu sync.Mutex // one session per appointment
	stop   context.CancelFunc
	life   context.Context // ends with Close (h.stop)

	mu       sync.Mutex
	sessions map[string]*session.Session
	agents   connIndex
	// deafUsers are the registered deaf users' open pages (deaf_user
	// tokens), by user id (interpreter_reach.go)
	deafUsers connIndex
	clis      *cliPool            // caller-ID correlation (routes' caller_id_pool)
	pools     map[string][]string // routes' caller_id_pool, expanded, by poolKey
	draining  bool
	wg        sync.WaitGroup
}

// New builds the hub, its built-in ACD (queues from the configuration) and
// loads the configured agents into the store.
func New(ctx context.Context, d Deps) (*Hub, error) {
	h := &Hub{cfg: d.Config, log: d.Log, ua: d.UA, rtc: d.RTC, store: d.Store, signer: d.Signer, m: d.Metrics,
		hooks: d.Hooks, fallback: d.Fallback, newMixer: d.NewMixer, version: d.Version, notifier: d.Notifier, node: d.Node, copilot: d.Copilot,
		sessions: map[string]*session.Session{}, agents: connIndex{}, deafUsers: connIndex{}, limiter: newLimiter(),
		clis: newCLIPool(time.Minute), pools: map[string][]string{}, started: time.Now()}
	for _, r := range d.Config.Sessions.Routes {
		if len(r.CallerIDPool) > 0 {
			n, err := config.PoolNumbers(r.CallerIDPool)
			if err != nil {
				return nil, fmt.Errorf("sessions.routes %s: caller_id_pool: %w", r.Name, err)
			}
			h.pools[poolKey(r)] = n
		}
	}
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.Proxy = nil // node to node: never through an outbound proxy
	h.relayTransport = rt
	if h.m == nil {
		h.m = noMetrics{}
	}
	cat, err := i18n.Load(d.Config.I18n.Dir, d.Config.I18n.Default)
	if err != nil {
		return nil, err
	}
	h.i18n = cat
	var qs []acd.QueueConfig
	for _, q := range d.Config.Sessions.Queues {
		qs = append(qs, acd.QueueConfig{Name: q.Name, RingTimeout: q.RingTimeout, MaxWait: q.MaxWait, Overflow: q.Overflow, WrapUp: q.WrapUp})
	}
	a, err := h.newDistributor(qs)
	if err != nil {
		return nil, err
	}
	h.acd = a
	for _, ag := range d.Config.Sessions.Agents {
		if err := d.Store.PutAgent(ctx, store.Agent{ID: ag.ID, Name: ag.Name, Queues: ag.Queues}); err != nil {
			a.Close()
			return nil, fmt.Errorf("hub: agent %s: %w", ag.ID, err)
		}
	}
	if h.notifier == nil {
		n, err := newLinkNotifier(h, linkNotify(d.Config), d.Log)
		if err != nil {
			a.Close()
			return nil, err
		}
		if n != nil {
			h.notifier = n
		}
	}
	if err := h.endStale(ctx); err != nil {
		a.Close()
		return nil, err
	}
	h.rec = newRecorder(h)
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h.stop, h.life = stop, sctx
	// jobs on the store's data run on one node of a cluster at a time (a
	// reminder goes out once); each node watches its own calls' media
	h.goAsync(func() { h.Singleton(sctx, "appointments:reminders", h.schedule) })
	h.goAsync(func() { h.watchMedia(sctx) })
	h.goAsync(func() { h.Singleton(sctx, "rtt:retention", h.rttRetention) })
	h.wasReady.Store(true) // said only when it changes
	h.beat(ctx)
	h.goAsync(func() { h.heartbeats(sctx) })
	h.goAsync(func() { h.followOtherNodes(sctx) })
	h.board = h.newBoard()
	h.goAsync(func() { h.feedBoard(sctx) })
	if h.clustered() {
		h.pres.wake = make(chan struct{}, 1)
		_ = h.store.ForgetConsoles(ctx, h.node) // a previous run's
		h.goAsync(func() { h.writePresence(sctx) })
	}
	return h, nil
}

// Drain refuses new sessions from now on.
func (h *Hub) Drain() {
	h.mu.Lock()
	h.draining = true
	h.mu.Unlock()
}

func (h *Hub) isDraining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// Active is the number of live sessions.
func (h *Hub) Active() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Close ends every session (503) and waits for their goroutines and the
// event recorder.
func (h *Hub) Close() {
	h.mu.Lock()
	h.draining = true
	ss := make([]*session.Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.Do(func() { h.end(s, 503, "Service shutting down") })
	}
	for _, s := range ss {
		<-s.Stopped()
	}
	h.acd.Close()
	h.stop()
	h.wg.Wait()
	h.leave()
	if n, ok := h.notifier.(*linkNotifier); ok {
		n.close()
	}
	h.rec.close()
}

// Session returns a live session.
func (h *Hub) Session(id string) *session.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

// Sessions returns the live sessions' snapshots.
func (h *Hub) Sessions() []*session.Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*session.Info, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s.Info())
	}
	return out
}

// after runs f on the session's goroutine once d has passed, unless the
// session ends first (a timer the hub waits for at Close).
func (h *Hub) after(s *session.Session, d time.Duration, f func()) {
	h.goAsync(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-s.Done():
		case <-t.C:
			s.Do(f)
		}
	})
}

// go runs f on a goroutine the hub waits for at Close.
func (h *Hub) goAsync(f func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
}

// state is the hub's per-session state; only the session goroutine touches it.
type state struct {
	customer     *conn // the customer's socket, when the customer is a browser
	custLeg      string
	acdLeg       string // SIP leg toward an external ACD / overflow target
	agentLeg     string // the primary agent's leg (console or viewer)
	agentID      string
	queue        string
	offers       map[string]*offer
	transfer     string // target of a transfer in progress
	refer        *referState
	agentWaiting string        // reverse: the agent waiting for the customer
	phoneAgent   bool          // reverse from a desk phone: the agent leg is SIP
	escalated    bool          // remote viewer: the browser joins a phone call's session
	pathHeld     string        // the agent's SIP leg from an external ACD that the agent holds (re-INVITE)
	dropped      bool          // the customer's browser went away; waiting for it to resume
	drops        int           // how many times (each drop has its own grace timer)
	ringback     chan struct{} // reverse from a desk phone: closed when the customer joins
	wa           *waCall       // WhatsApp mode: the customer's WhatsApp call
	iv           *ivState      // Deaf Interpreter mode (interpreter.go)
	cp           *cpState      // AI services and supervisor modes (copilot.go); nil until used
	waDial       *waDial       // WhatsApp mode: a business-initiated call to place once an agent has the session
	position     int
	ewt          time.Duration
	timedOut     map[string]int       // SIP legs the hub hung up for want of media (→ 408)
	activeSince  map[string]time.Time // SIP legs: when first seen answered (media timeout)
	enqueuedAt   time.Time
	created      time.Time
}

// referState is a transfer the ACD asked for with REFER: the hub calls the
// new target (keeping the session reference) and swaps it in for the old
// ACD leg once it answers.
type referState struct {
	oldLeg, newLeg string
	r              *sipua.Refer
}

// offer is a pending ring of an agent console.
type offer struct {
	legID string
	agent string
	rl    *rtc.Leg
	sip   *sipua.Call // the ACD's INVITE (external ACD), or nil (built-in queue)
	group string
	kind  string // "queue", "acd"
}

func st(s *session.Session) *state { return s.Scoped("hub").(*state) }

// newSession creates and registers a session.
func (h *Hub) newSession(id string, mode session.Mode, entry string, c session.Customer) (*session.Session, error) {
	if h.isDraining() {
		return nil, errUnavailable
	}
	s := session.New(session.Options{ID: id, Mode: mode, Entry: entry, Customer: c, Observer: h.rec, Logger: h.log,
		Media: session.MediaOptions{
			Bridge:   bridge.Options{Transcode: media.TranscodeOptions{OpusBitrate: h.cfg.Media.OpusBitrate, OpusComplexity: h.cfg.Media.OpusComplexity}, JitterFrames: h.cfg.Media.JitterBuffer},
			NewMixer: h.newMixer,
		}})
	// the hub's state first: a session in h.sessions is one every
	// ticker (media watch, shutdown) may post work to, and that work reads it
	s.Call(func() {
		s.SetScoped("hub", &state{offers: map[string]*offer{}, created: time.Now(), timedOut: map[string]int{}, activeSince: map[string]time.Time{}})
		s.OnLegGone(func(l *session.Leg, _ int, _ string) { h.legGone(s, l) })
	})
	h.mu.Lock()
	h.sessions[s.ID] = s
	h.mu.Unlock()
	h.m.SessionStarted(string(mode))
	h.goAsync(func() {
		<-s.Stopped()
		h.clis.release(s.ID)
		h.rec.flush(5 * time.Second)
		h.mu.Lock()
		delete(h.sessions, s.ID)
		h.mu.Unlock()
		h.callRecord(s.ID) // its history is in the store
	})
	return s, nil
}

var (
	errUnavailable = errors.New("hub is shutting down")
	errNotFound    = errors.New("no such session")
)

// end ends a session (session goroutine).
func (h *Hub) end(s *session.Session, code int, reason string) {
	if s.Ended() {
		return
	}
	t := st(s)
	h.acd.Remove(s.ID)
	for id, o := range t.offers {
		h.dropOffer(s, o, "ended")
		delete(t.offers, id)
	}
	for _, l := range append(s.LegsWith(session.RoleAgent), s.LegsWith(session.RoleInterpreter)...) {
		if l.Party != "" && t.queue != "" {
			_ = h.acd.CallEnded(l.Party)
		}
	}
	h.ivEnding(s, code, reason)
	s.End(code, reason)
	in := s.Info()
	h.m.SessionEnded(string(in.Mode), causeLabel(code), time.Since(t.created))
	if t.customer != nil {
		t.customer.send(endedMsg{Type: "ended", Session: s.ID, Leg: t.custLeg, Code: code, Reason: reason})
	}
}

func causeLabel(code int) string {
	switch {
	case code == 0 || code == 200:
		return "normal"
	case code == 503:
		return "shutdown"
	case code == 487:
		return "cancelled"
	case code >= 400 && code < 500:
		return "no_answer"
	}
	return "failed"
}

// legGone is the policy when a leg's transport ends by itself.
func (h *Hub) legGone(s *session.Session, l *session.Leg) {
	if ep, ok := l.EP.(*rtcEP); ok {
		ep.final() // a browser that went first: its figures are in the record too
	}
	h.legGonePolicy(s, l)
	h.endIfEmpty(s)
}

// endIfEmpty ends a session that has no leg left (session goroutine): nobody
// is in it any more, and nothing would ever end it otherwise. A session that
// never had a leg yet (a Reverse call whose agent is still being offered it)
// is not empty in this sense: it ends by its own timers and hang-ups.
func (h *Hub) endIfEmpty(s *session.Session) {
	if s.Ended() {
		return
	}
	for _, l := range s.Legs() {
		if l.Role != session.RoleAI { // an AI alone is nobody
			return
		}
	}
	code, reason := 200, "No party left"
	if s.State() != session.StateActive {
		code, reason = 487, "Abandoned"
	}
	h.end(s, code, reason)
}

// legCause is the cause a SIP leg ended with: the hub's own (a media
// timeout), the far end's error response, or — for a BYE, a CANCEL (487) or
// anything else — the role's own words (defCode, defReason: "ACD hung up",
// "Caller abandoned").
func (h *Hub) legCause(s *session.Session, l *session.Leg, defCode int, defReason string) (int, string) {
	if c, ok := st(s).timedOut[l.ID]; ok {
		return c, "Media timeout"
	}
	if sc, ok := l.EP.(*sipEP); ok {
		if c, r := sc.c.End(); c != 0 && c != 200 && c != 487 { // a BYE (200) or CANCEL (487) takes the role's own words
			return c, r
		}
	}
	return defCode, defReason
}

func (h *Hub) legGonePolicy(s *session.Session, l *session.Leg) {
	t := st(s)
	switch l.Role {
	case session.RoleCustomer:
		h.ivTextLeft(s, l.ID)
		if h.waBrowserGone(s, l.ID) {
			return // the WhatsApp call keeps the voice
		}
		if h.waCallFailed(s, l) {
			return
		}
		if l.ID == t.custLeg && s.State() == session.StateActive && h.cfg.Sessions.ResumeGrace > 0 && !t.escalated && t.wa == nil {
			// the browser's media died (ICE failure, closed tab): as a socket drop
			if h.customerDropped(s, l.ID, false) {
				return
			}
		}
		if t.escalated && h.hasPhone(s) {
			// remote viewer: the customer closed the browser; the phone call goes on
			t.custLeg, t.customer = "", nil
			s.Record("session.video_ended", l.ID, nil)
			h.notifyAgents(s)
			return
		}
		code, reason := 200, "Customer hung up"
		if s.State() != session.StateActive {
			code, reason = 487, "Customer abandoned"
		}
		h.end(s, code, reason)
	case session.RoleACD:
		if rf := t.refer; rf != nil && l.ID == rf.newLeg {
			// the transfer target failed: the old ACD leg keeps the call
			code, reason := 480, "Temporarily Unavailable"
			if sc, ok := l.EP.(*sipEP); ok {
				if c, r := sc.c.End(); c >= 300 {
					code, reason = c, r
				}
			}
			rf.r.Notify(code, reason)
			t.refer = nil
			if s.Leg(rf.oldLeg) != nil {
				h.ivACDLeg(s, rf.oldLeg, config.Route{Name: "refer"}, "")
				_ = s.SetGroup(rf.oldLeg, "")
				s.Record("sip.refer_failed", l.ID, map[string]any{"code": code, "reason": reason})
				return
			}
		}
		if h.ivACDGone(s, l) {
			return // an interpreter session queued in the ACD again
		}
		code, reason := h.legCause(s, l, 200, "ACD hung up")
		if l.ID == t.acdLeg {
			h.end(s, code, reason)
		}
	case session.RoleAgentPath:
		// The ACD took the call away from this agent (transfer, agent
		// hung up on the desk side): the console legs of its group go too.
		for _, o := range s.Legs() {
			if o.Group == l.Group {
				_ = s.RemoveLeg(o.ID, 200, "Call moved")
				if o.Role == session.RoleInterpreter {
					h.ivInterpreterLeft(s, o, true) // the ACD took the interpreter away
				}
			}
		}
		if t.agentLeg != "" && s.Leg(t.agentLeg) == nil {
			// the session no longer names an agent (as when the agent
			// hangs up in the console: agentLeft)
			t.agentLeg, t.agentID = "", ""
			s.Update(func(in *session.Info) { in.Agent = nil })
		}
		h.pathHoldOver(s)
		for id, o := range t.offers {
			if o.group == l.Group {
				h.dropOffer(s, o, "cancelled")
				delete(t.offers, id)
			}
		}
		if t.acdLeg == "" && t.agentLeg == "" && len(s.LegsWith(session.RoleAgentPath)) == 0 {
			// No ACD leg of ours holds a customer: this SIP leg was the
			// caller's own call (a phone customer reaching a hosted agent,
			// a Remote Viewer's phone). With it gone the call is over —
			// the browser that escalated it has nobody left to see.
			code, reason := h.legCause(s, l, 200, "Caller hung up")
			if s.State() != session.StateActive {
				code, reason = h.legCause(s, l, 487, "Caller abandoned")
			}
			h.end(s, code, reason)
			return
		}
		h.notifyAgents(s)
		h.notifyCustomer(s)
	case session.RoleAgent:
		h.agentLeft(s, l)
	case session.RoleInterpreter:
		h.ivInterpreterLeft(s, l, true) // its media went: lost
	case session.RolePhoneParty:
		h.ivPhoneGone(s, l, "hung up") // interpreter sessions; otherwise a third party left and nothing else changes
	}
}

// hasPhone: the session still has the phone call an escalation started from.
func (h *Hub) hasPhone(s *session.Session) bool {
	for _, l := range s.Legs() {
		if l.Role == session.RoleAgentPath {
			return true
		}
	}
	return false
}

// pathHoldOver: the agent's SIP leg that the agent held by re-INVITE is
// gone, and with it the hold (session goroutine). The customer, still with
// the external ACD, is no longer "held" by anyone.
func (h *Hub) pathHoldOver(s *session.Session) {
	t := st(s)
	if t.pathHeld == "" || s.Leg(t.pathHeld) != nil {
		return
	}
	t.pathHeld = ""
	if s.Info().Held && !s.MediaHeld() {
		s.Update(func(in *session.Info) { in.Held = false })
		s.Record("session.resumed", "", map[string]any{"by": "agent left"})
	}
}

// agentLeft: an agent's console leg is gone (hung up or disconnected).
func (h *Hub) agentLeft(s *session.Session, l *session.Leg) {
	t := st(s)
	// external ACD: hang up the agent's SIP leg of the same group
	for _, o := range s.Legs() {
		if o.Group == l.Group && o.Role == session.RoleAgentPath && l.Group != "" {
			_ = s.RemoveLeg(o.ID, 200, "Agent hung up")
		}
	}
	h.pathHoldOver(s)
	if t.queue != "" && l.Party != "" {
		_ = h.acd.CallEnded(l.Party)
	}
	if l.ID != t.agentLeg {
		return
	}
	t.agentLeg, t.agentID = "", ""
	s.Update(func(in *session.Info) { in.Agent = nil })
	if t.transfer != "" {
		return // the session waits for the transfer target
	}
	if t.acdLeg != "" {
		h.notifyCustomer(s)
		return // the external ACD still has the customer (it may deliver another agent)
	}
	code, reason := 200, "Agent hung up"
	if l.EP != nil {
		code, reason = h.legCause(s, l, code, reason)
	}
	h.end(s, code, reason)
}

// --- routing ---

// target is where a route sends a session.
type target struct {
	agent string // a named agent (appointments, reverse)
	queue string // built-in queue
	sip   string // SIP destination on a trunk
	route config.Route
}

// route picks the first matching route for a session.
func (h *Hub) route(entry string, c session.Customer, now time.Time) (target, error) {
	for _, r := range h.cfg.Sessions.Routes {
		if !routeMatches(r, entry, c, now) {
			continue
		}
		if q, ok := strings.CutPrefix(r.Target, "queue:"); ok {
			return target{queue: q, route: r}, nil
		}
		return target{sip: r.Target, route: r}, nil
	}
	return target{}, fmt.Errorf("no route matches entry point %q", entry)
}

func routeMatches(r config.Route, entry string, c session.Customer, now time.Time) bool {
	if r.Entry != "" && r.Entry != entry {
		return false
	}
	if r.Language != "" && !strings.HasPrefix(strings.ToLower(c.Language), strings.ToLower(r.Language)) {
		return false
	}
	if r.SignLanguage != "" && !config.TagPrefix(r.SignLanguage, c.SignLanguage) {
		return false
	}
	for k, v := range r.Context {
		if c.Context[k] != v {
			return false
		}
	}
	if r.TimeZone != "" {
		if loc, err := time.LoadLocation(r.TimeZone); err == nil {
			now = now.In(loc)
		}
	}
	if len(r.Days) > 0 {
		ok := false
		for _, d := range r.Days {
			if wd, _ := config.Weekday(d); wd == now.Weekday() {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if r.Hours != "" {
		from, to, err := config.ParseHours(r.Hours)
		if err != nil {
			return false
		}
		m := now.Hour()*60 + now.Minute()
		if from <= to && (m < from || m >= to) || from > to && m < from && m >= to {
			return false
		}
	}
	return true
}

// routeSession sends a session (with its customer leg) to a target.
func (h *Hub) routeSession(s *session.Session, tg target) {
	if len(tg.route.Copilot) > 0 && h.copilot != nil {
		h.cp(s).auto = tg.route.Copilot
	}
	if tg.route.SIPREC != "" {
		for _, r := range h.cfg.SIP.SIPREC {
			if r.Name == tg.route.SIPREC {
				h.cp(s).srs = r.URI
			}
		}
	}
	_ = s.SetState(session.StateRouting, map[string]any{"route": tg.route.Name})
	if tg.agent != "" {
		err := h.offerToAgent(s, tg.agent, "direct", nil, "")
		if err == nil {
			h.notifyCustomer(s) // ringing: the booked agent's console rings
			return
		}
		// the booked agent is not connected: serve the appointment from their queue
		q := h.agentQueue(tg.agent)
		if q == "" {
			h.end(s, 480, "Agent unavailable")
			return
		}
		s.Record("session.rerouted", "", map[string]any{"agent": tg.agent, "queue": q, "why": err.Error()})
		h.enqueue(s, q, true)
		return
	}
	if tg.queue != "" {
		h.enqueue(s, tg.queue, false)
		return
	}
	s.Update(func(in *session.Info) { in.Route = tg.sip })
	if err := h.dialACD(s, tg.sip, tg.route); err != nil {
		h.log.Warn("route failed", "session", s.ID, "target", tg.sip, "err", err)
		h.end(s, 503, "Route failed: "+err.Error())
	}
}

// agentQueue is the first queue of an agent ("" if none).
func (h *Hub) agentQueue(id string) string {
	if a, err := h.store.GetAgent(context.Background(), id); err == nil && len(a.Queues) > 0 {
		return a.Queues[0]
	}
	return ""
}

// enqueue puts the session in a built-in queue (session goroutine).
func (h *Hub) enqueue(s *session.Session, q string, front bool) {
	t := st(s)
	t.queue = q
	t.enqueuedAt = time.Now()
	s.Update(func(in *session.Info) { in.Queue = q })
	prio := 0
	if front {
		prio = 100
	}
	pos, err := h.acd.Enqueue(s.ID, q, prio)
	if err != nil {
		h.end(s, 503, "Queue unavailable: "+err.Error())
		return
	}
	_ = s.SetState(session.StateWaiting, map[string]any{"queue": q, "position": pos})
	if _, p, ewt, ok := h.acd.Position(s.ID); ok {
		t.position, t.ewt = p, ewt
	}
	h.notifyCustomer(s)
}

// --- built-in ACD callbacks (acd.Dispatcher; called on the ACD's goroutine) ---

// Offer rings an agent's console for a queued session.
func (h *Hub) Offer(agentID, sessionID, queue string) {
	s := h.Session(sessionID)
	if s == nil {
		h.acd.Remove(sessionID)
		return
	}
	s.Do(func() {
		if s.Ended() {
			return
		}
		if err := h.offerToAgent(s, agentID, "queue", nil, ""); err != nil {
			h.log.Info("offer failed; declining", "agent", agentID, "session", sessionID, "err", err)
			h.goAsync(func() { _ = h.acd.Decline(agentID, sessionID) })
		}
	})
}

// CancelOffer stops ringing an agent.
func (h *Hub) CancelOffer(agentID, sessionID, reason string) {
	s := h.Session(sessionID)
	if s == nil {
		return
	}
	s.Do(func() {
		t := st(s)
		var gone []*offer
		for id, o := range t.offers {
			if o.agent == agentID && o.kind == "queue" {
				h.dropOffer(s, o, reason)
				delete(t.offers, id)
				gone = append(gone, o)
			}
		}
		if len(t.offers) == 0 && s.State() == session.StateRinging {
			_ = s.SetState(session.StateWaiting, map[string]any{"reason": reason})
			h.notifyCustomer(s)
		}
		for _, o := range gone {
			h.transferTargetGone(s, o, reason)
		}
	})
}

// Overflow routes a session that waited too long to a SIP target.
func (h *Hub) Overflow(sessionID, queue, tgt string) {
	s := h.Session(sessionID)
	if s == nil {
		return
	}
	s.Do(func() {
		if s.Ended() {
			return
		}
		s.Record("session.overflow", "", map[string]any{"queue": queue, "target": tgt})
		st(s).queue = ""
		if err := h.dialACD(s, tgt, config.Route{Name: "overflow:" + queue}); err != nil {
			h.end(s, 480, "Overflow failed: "+err.Error())
		}
	})
}

// Position tells the customer where they are in the queue.
func (h *Hub) Position(sessionID, queue string, position int, ewt time.Duration) {
	s := h.Session(sessionID)
	if s == nil {
		return
	}
	s.Do(func() {
		t := st(s)
		t.position, t.ewt = position, ewt
		h.notifyCustomer(s)
	})
}

// AgentState forwards an agent's ACD state to its consoles.
func (h *Hub) AgentState(a acd.AgentStatus) {
	msg := agentStateMsg(a)
	for _, c := range h.agentConns(a.ID) {
		c.send(msg)
	}
	if h.hooks != nil {
		h.hooks.Publish("agent.state", "", time.Now(), msg)
	}
}

// offerToAgent creates a WebRTC leg for the agent's console and rings it
// (session goroutine). sc is the ACD's INVITE for external-ACD offers.
func (h *Hub) offerToAgent(s *session.Session, agentID, kind string, sc *sipua.Call, group string) error {
	var conns []*conn
	for _, c := range h.agentConns(agentID) {
		if b := c.boundSession(); b == "" || b == s.ID { // a session's own socket takes only its offers
			conns = append(conns, c)
		}
	}
	// no console here, one on another node: the offer is made now and
	// delivered on the socket the console opens for this session after a
	// remote_offer (remote.go); until then it rings as an unanswered one.
	// (The external ACD's leg waits for that socket first: acdDeliveredRemote.)
	remote := len(conns) == 0 && kind != "acd" && h.clustered() && agentIDRE.MatchString(agentID) && h.consolesElsewhere(agentID)
	if len(conns) == 0 && !remote {
		return fmt.Errorf("agent %s has no console connected", agentID)
	}
	t := st(s)
	var prefs []string
	video, vcodec := false, ""
	if cl := s.Leg(t.custLeg); cl != nil {
		if a := cl.EP.Audio(); a != nil && sc == nil {
			prefs = append(prefs, a.Send().Name)
		}
		if v := cl.EP.Video(); v != nil {
			video, vcodec = true, v.Send().Name
		}
	}
	if sc != nil {
		if n := sc.Audio().Send().Name; n != "" {
			prefs = append(prefs, n)
		}
	}
	if s.Leg(t.custLeg) == nil || (t.wa != nil && t.custLeg == t.wa.leg) {
		// no customer browser yet (a phone customer, a reverse call, a
		// WhatsApp call): the video comes later, in what every browser sends
		video, vcodec = h.cfg.WebRTC.Video, "VP8"
	}
	prefs = append(prefs, h.cfg.WebRTC.AudioCodecs...)
	prefs = append(prefs, "opus")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, sdpOffer, err := h.rtc.CreateOffer(ctx, rtc.Options{AudioPrefs: prefs, Video: video, VideoCodecs: rtc.Only(vcodec), Text: t.iv != nil})
	if err != nil {
		return err
	}
	o := &offer{legID: rl.ID, agent: agentID, rl: rl, sip: sc, group: group, kind: kind}
	t.offers[rl.ID] = o
	in := s.Info()
	from := in.Customer.Name
	if sc != nil && from == "" {
		from = sc.FromName
		if from == "" {
			from = sc.From.User
		}
	}
	if from == "" && t.iv != nil && t.iv.hearing {
		from = t.iv.phone.To // a hearing caller: their number
	}
	ring := 0
	if q, ok := h.queueConfig(t.queue); ok && kind == "queue" {
		ring = int(q.RingTimeout / time.Second)
	}
	msg := offerMsg{Type: "offer", Leg: rl.ID, Session: s.ID, SDP: sdpOffer, Queue: t.queue, From: from,
		Customer: in.Customer, Video: rl.Video() != nil, RingTimeout: ring, Interpreter: h.ivOffer(s)}
	if kind == "supervisor" {
		msg.Supervise = "barge"
		if t.cp != nil && t.cp.sup[agentID] != "" {
			msg.Supervise = t.cp.sup[agentID]
		}
	}
	for _, c := range conns {
		c.track(rl.ID, s.ID)
		c.send(msg)
	}
	if remote {
		h.askRemoteAgent(agentID, s.ID, func(c *conn) {
			if c == nil {
				return // it rings on, as an offer nobody answers
			}
			s.Do(func() {
				if t.offers[rl.ID] == o {
					c.track(rl.ID, s.ID)
					c.send(msg)
				}
			})
		})
	}
	if s.State() == session.StateCreated || s.State() == session.StateWaiting || s.State() == session.StateRouting {
		_ = s.SetState(session.StateRinging, map[string]any{"agent": agentID})
	}
	s.Record("agent.offered", rl.ID, map[string]any{"agent": agentID, "kind": kind})
	return nil
}

func (h *Hub) queueConfig(name string) (config.Queue, bool) {
	for _, q := range h.cfg.Sessions.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return config.Queue{}, false
}

// dropOffer withdraws a pending offer (session goroutine).
func (h *Hub) dropOffer(s *session.Session, o *offer, reason string) {
	_ = o.rl.Close()
	for _, c := range h.agentConns(o.agent) {
		c.untrack(o.legID)
		c.send(cancelMsg{Type: "cancel", Leg: o.legID, Session: s.ID, Reason: reason})
	}
}

// accept: an agent's console took an offer (session goroutine).
func (h *Hub) accept(s *session.Session, c *conn, legID, answer string) error {
	t := st(s)
	o := t.offers[legID]
	if o == nil || o.agent != c.identity {
		return fmt.Errorf("%w: no such offer", errBadRequest)
	}
	if err := o.rl.SetAnswer(answer); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	for _, r := range o.rl.Refused() {
		// e.g. Firefox without H.264: the agent joins without that medium
		s.Record("media.refused", legID, map[string]any{"agent": o.agent, "kind": r.Kind, "reason": r.Reason})
	}
	delete(t.offers, legID)
	if o.kind == "direct" {
		// not through the ACD: keep it from offering the agent another
		// session meanwhile (the console's Ready button brings them back)
		_ = h.acd.SetReady(o.agent, false)
	}
	if o.kind == "queue" {
		if err := h.acd.Accept(o.agent, s.ID); err != nil {
			_ = o.rl.Close()
			return fmt.Errorf("%w: %v", errConflict, err)
		}
		if !t.enqueuedAt.IsZero() {
			h.m.QueueWait(t.queue, time.Since(t.enqueuedAt))
		}
	}
	name := h.agentName(o.agent)
	role := session.RoleAgent
	switch o.kind {
	case "view":
		role = session.RoleViewer // video only: the agent's audio is on their desk phone
	case "supervisor":
		role = session.RoleSupervisor // barges into the customer's audio group (mixed)
	default:
		if t.iv != nil {
			role = session.RoleInterpreter
		}
	}
	l := &session.Leg{ID: o.legID, Role: role, Party: o.agent, Name: name, Group: o.group,
		EP: h.browserEP(s, o.rl, h.legClosedNotifier(s.ID, o.legID, o.agent))}
	old := t.agentLeg
	if err := s.AddLeg(l); err != nil {
		_ = o.rl.Close()
		return err
	}
	if o.kind == "view" || o.kind == "supervisor" {
		s.Record("participant.joined", o.legID, map[string]any{"agent": o.agent, "role": string(role)})
		h.notifyAgents(s)
		return nil
	}
	if t.iv != nil {
		h.ivAccepted(s, l)
	}
	if o.sip != nil {
		sc := o.sip
		h.goAsync(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
			defer cancel()
			if err := sc.Answer(ctx); err != nil {
				h.log.Warn("answering the ACD's call failed", "session", s.ID, "err", err)
				s.Do(func() { _ = s.RemoveLeg(legID, 500, "ACD call failed") })
				return
			}
			s.Do(s.Replan) // a late-offer INVITE's codec came with the ACK
		})
	}
	if t.iv != nil && t.iv.plan.LeadLeg != o.legID && !t.iv.acd {
		// a team partner or an incoming interpreter: the lead keeps the session
		h.notifyCustomer(s)
		h.notifyAgents(s)
		return nil
	}
	t.agentLeg, t.agentID = o.legID, o.agent
	if old != "" && old != o.legID && t.iv == nil {
		if ol := s.Leg(old); ol != nil && ol.Group == "" {
			// A transfer inside the hub: the previous agent leaves now that
			// the new one has the call (their audio group is the main one).
			_ = s.RemoveLeg(old, 200, "Transferred")
			if t.queue != "" {
				_ = h.acd.CallEnded(ol.Party)
			}
		}
		s.Record("session.transferred", o.legID, map[string]any{"from_leg": old, "to_agent": o.agent})
	}
	t.transfer = ""
	s.Update(func(in *session.Info) { in.Agent = &session.AgentRef{ID: o.agent, Name: name}; in.Transfer = "" })
	t.agentWaiting = ""
	if t.waDial != nil && s.Leg(t.custLeg) == nil {
		// a business-initiated WhatsApp call: the agent is here, call the user
		h.waPlace(s)
		h.notifyAgents(s)
		return nil
	}
	if s.Leg(t.custLeg) == nil && s.Info().Mode == session.ModeReverse {
		// a reverse session: the agent waits for the customer to open the link
		_ = s.SetState(session.StateWaiting, map[string]any{"agent": o.agent, "for": "customer"})
		h.notifyAgents(s)
		return nil
	}
	if s.State() != session.StateActive {
		h.m.SessionSetup(time.Since(t.created))
	}
	_ = s.SetState(session.StateActive, map[string]any{"agent": o.agent})
	h.notifyCustomer(s)
	h.notifyAgents(s)
	return nil
}

// decline: an agent refused an offer (session goroutine).
func (h *Hub) decline(s *session.Session, c *conn, legID string) error {
	t := st(s)
	o := t.offers[legID]
	if o == nil || o.agent != c.identity {
		return fmt.Errorf("%w: no such offer", errBadRequest)
	}
	delete(t.offers, legID)
	_ = o.rl.Close()
	c.untrack(legID)
	s.Record("agent.declined", legID, map[string]any{"agent": o.agent})
	if o.kind == "direct" && t.iv != nil {
		// an interpreter declining a hand-off or team request: not ready,
		// as after declining a queue offer, so the request moves on
		_ = h.acd.SetReady(o.agent, false)
	}
	if len(t.offers) == 0 && s.State() == session.StateRinging {
		_ = s.SetState(session.StateWaiting, map[string]any{"reason": "declined"})
		h.notifyCustomer(s)
	}
	defer h.transferTargetGone(s, o, "declined")
	if t.agentWaiting == o.agent && t.agentLeg == "" && s.Leg(t.custLeg) == nil && len(t.offers) == 0 {
		// a Reverse call whose agent will not take it: nobody would ever
		// serve the customer who opens the link
		h.end(s, 480, "Agent unavailable")
		return nil
	}
	switch {
	case o.kind == "queue":
		h.goAsync(func() { _ = h.acd.Decline(o.agent, s.ID) })
	case o.sip != nil:
		o.sip.Reject(603, "Decline")
	case o.kind == "direct" && t.transfer == "" && t.agentLeg == "" && t.acdLeg == "" && t.queue == "" &&
		s.Leg(t.custLeg) != nil && len(t.offers) == 0:
		// the customer was routed to this agent by name (an appointment, a
		// session created for an agent) and the agent will not take it:
		// serve them from the agent's queue, as when the agent is not
		// connected, rather than leave them waiting for nobody
		q := h.agentQueue(o.agent)
		if q == "" {
			h.end(s, 480, "Agent unavailable")
			return nil
		}
		s.Record("session.rerouted", legID, map[string]any{"agent": o.agent, "queue": q, "why": "declined"})
		h.enqueue(s, q, true)
	}
	return nil
}

// transferTargetGone: the offer o, which may be the target of a transfer
// to an agent, was declined, rang out or was withdrawn (session goroutine).
// The transfer is over. If the agent who transferred is still in the call,
// they keep it. If nobody serves the customer any more, a session of a
// built-in queue waits in that queue (the ACD queued it again) and any other
// ends: 480 "Transfer failed" — the customer is never left alone in a
// session that looks answered.
func (h *Hub) transferTargetGone(s *session.Session, o *offer, why string) {
	t := st(s)
	if s.Ended() || t.transfer != "agent:"+o.agent || len(t.offers) > 0 {
		return
	}
	t.transfer = ""
	s.Update(func(in *session.Info) { in.Transfer = "" })
	s.Record("session.transfer_failed", o.legID, map[string]any{"to": "agent:" + o.agent, "why": why})
	if t.agentLeg != "" || t.acdLeg != "" {
		h.notifyAgents(s)
		return
	}
	if t.queue != "" {
		_ = s.SetState(session.StateWaiting, map[string]any{"reason": "transfer " + why})
		h.notifyCustomer(s)
		return
	}
	h.end(s, 480, "Transfer failed")
}

// transfer moves a session to another queue, agent or SIP target (session goroutine).
func (h *Hub) transfer(s *session.Session, by, to string) error {
	t := st(s)
	if s.State() != session.StateActive {
		return fmt.Errorf("%w: the session is %s", errConflict, s.State())
	}
	to = strings.TrimSpace(to)
	switch {
	case strings.HasPrefix(to, "queue:"):
		q := strings.TrimPrefix(to, "queue:")
		if _, ok := h.queueConfig(q); !ok {
			return fmt.Errorf("%w: unknown queue %q", errNotFoundErr, q)
		}
		t.transfer = to
		s.Update(func(in *session.Info) { in.Transfer = to })
		s.Record("session.transfer", "", map[string]any{"to": to, "by": by})
		t.queue = q
		if by != "" && t.agentID == by {
			if _, err := h.acd.Transfer(s.ID, by, q); err == nil {
				return nil
			}
		}
		h.enqueue(s, q, true)
		return nil
	case strings.HasPrefix(to, "agent:"):
		ag := strings.TrimPrefix(to, "agent:")
		if h.consolesFor(ag, s.ID) == 0 && !h.onlyElsewhere(ag) {
			return fmt.Errorf("%w: agent %q is not connected", errUnavailableErr, ag)
		}
		t.transfer = to
		s.Update(func(in *session.Info) { in.Transfer = to })
		s.Record("session.transfer", "", map[string]any{"to": to, "by": by})
		if t.queue != "" {
			if err := h.acd.OfferTo(s.ID, ag); err == nil {
				return nil
			} else if !errors.Is(err, acd.ErrUnknownSession) && !h.onlyElsewhere(ag) {
				// (an agent whose console is on another node is not in
				// this node's ACD: offered directly, below)
				t.transfer = ""
				s.Update(func(in *session.Info) { in.Transfer = "" })
				return fmt.Errorf("%w: %v", errConflict, err)
			}
		}
		return h.offerToAgent(s, ag, "direct", nil, "")
	default:
		t.transfer = to
		s.Update(func(in *session.Info) { in.Transfer = to })
		s.Record("session.transfer", "", map[string]any{"to": to, "by": by})
		return h.dialParty(s, to, session.RolePhoneParty, true)
	}
}

func (h *Hub) agentName(id string) string {
	if a, err := h.store.GetAgent(context.Background(), id); err == nil && a.Name != "" {
		return a.Name
	}
	return id
}

// notifyCustomer sends the customer their session's status.
func (h *Hub) notifyCustomer(s *session.Session) {
	t := st(s)
	if t.wa != nil {
		h.waProgress(s)
	}
	if t.customer == nil {
		return
	}
	t.customer.send(h.sessionFrame(s, true))
}

// notifyAgents sends the session's status to the agents in it.
func (h *Hub) notifyAgents(s *session.Session) {
	seen := map[string]bool{}
	for _, l := range s.Legs() {
		if (l.Role == session.RoleAgent || l.Role == session.RoleViewer || l.Role == session.RoleInterpreter) && l.Party != "" && !seen[l.Party] {
			seen[l.Party] = true
			for _, c := range h.agentConns(l.Party) {
				c.send(h.sessionFrame(s, false))
			}
		}
	}
}

func (h *Hub) sessionFrame(s *session.Session, forCustomer bool) sessionMsg {
	t := st(s)
	in := s.Info()
	m := sessionMsg{Type: "session", Session: s.ID, State: string(in.State), Mode: string(in.Mode), Queue: in.Queue, Held: in.Held}
	if in.State == session.StateWaiting || in.State == session.StateRinging {
		m.Position = t.position
		m.EWT = int(t.ewt / time.Second)
	}
	if in.Agent != nil {
		a := *in.Agent
		if forCustomer {
			a.ID = "" // the customer sees the agent's name only
		}
		m.Agent = &a
	}
	if !forCustomer {
		c := in.Customer
		m.Customer = &c
	} else if t.escalated && h.hasPhone(s) {
		m.PhoneAudio = true
	} else if t.wa != nil && t.custLeg == t.wa.leg && t.wa.browser != "" && s.Leg(t.wa.leg) != nil {
		m.PhoneAudio = true // the voice is on the WhatsApp call: the browser may take it
	}
	m.Interpreter = h.ivSessionFrame(s, forCustomer)
	return m
}

// legClosedNotifier tells an agent's consoles that their leg is over.
func (h *Hub) legClosedNotifier(sessionID, legID, agent string) func(int, string) {
	return func(code int, reason string) {
		for _, c := range h.agentConns(agent) {
			if c.untrack(legID) {
				c.send(endedMsg{Type: "ended", Session: sessionID, Leg: legID, Code: code, Reason: reason})
			}
		}
	}
}

// agentViewURL is the screen-pop link for an agent on a desk phone.
func (h *Hub) agentViewURL(sessionID string) string {
	tok, _, err := h.signer.Mint(auth.Claims{Identity: "viewer", Role: "viewer", Session: sessionID}, h.cfg.Sessions.AgentViewTTL)
	if err != nil {
		return ""
	}
	return h.publicURL() + "/agent.html#view=" + url.QueryEscape(tok)
}

func (h *Hub) publicURL() string { return h.cfg.HTTP.BaseURL(h.cfg.HTTP.Listen) }

// --- endpoints ---

// rtcEP adapts a browser leg.
type rtcEP struct {
	l       *rtc.Leg
	onClose func(code int, reason string)
	onStats func(rtc.MediaStats) // the leg's audio figures, read just before it closes
	once    sync.Once
	figures sync.Once
}

// final records the leg's audio figures, once: when it is closed, or when
// its browser went first (legGone) — the counters outlive the connection.
func (e *rtcEP) final() {
	if e.onStats != nil {
		e.figures.Do(func() { e.onStats(e.l.AudioStats()) })
	}
}

func (e *rtcEP) Kind() leg.Kind        { return leg.KindWebRTC }
func (e *rtcEP) Audio() *leg.Track     { return e.l.Audio() }
func (e *rtcEP) Video() *leg.Track     { return e.l.Video() }
func (e *rtcEP) Done() <-chan struct{} { return e.l.Done() }
func (e *rtcEP) Close(code int, reason string) {
	e.final()
	_ = e.l.Close()
	e.once.Do(func() {
		if e.onClose != nil {
			e.onClose(code, reason)
		}
	})
}

// watchSIP records a SIP leg's media counters when it ends: in the
// session's history (leg.media) and in the metrics.
func (h *Hub) watchSIP(s *session.Session, sc *sipua.Call) {
	h.goAsync(func() {
		<-sc.Done()
		st := sc.AudioStats()
		h.m.LegMedia("sip", st.PacketsSent, st.PacketsReceived, st.Lost, time.Duration(st.JitterMs*float64(time.Millisecond)))
		data := map[string]any{"kind": "audio", "packets_sent": st.PacketsSent, "packets_received": st.PacketsReceived,
			"lost": st.Lost, "jitter_ms": st.JitterMs, "remote_lost": st.RemoteLost}
		if !s.Do(func() { s.Record("leg.media", sc.ID, data) }) {
			// the session is over: the record still gets the leg's figures
			h.rec.persist(s.Info(), session.Event{At: time.Now().UTC(), Type: "leg.media", Leg: sc.ID, Data: data})
		}
	})
}

// browserEP wraps a browser leg of s so that its media figures reach the
// call record (leg.media) and the metrics when the hub closes it.
func (h *Hub) browserEP(s *session.Session, l *rtc.Leg, onClose func(int, string)) *rtcEP {
	return &rtcEP{l: l, onClose: onClose, onStats: func(st rtc.MediaStats) {
		h.m.LegMedia("webrtc", st.PacketsSent, st.PacketsReceived, st.PacketsLost, time.Duration(st.JitterMs*float64(time.Millisecond)))
		s.Record("leg.media", l.ID, map[string]any{"kind": "audio", "side": "webrtc", "packets_sent": st.PacketsSent,
			"packets_received": st.PacketsReceived, "lost": st.PacketsLost, "jitter_ms": st.JitterMs})
	}}
}

// sipEP adapts a SIP leg; hanging up runs off the session goroutine.
type sipEP struct {
	c *sipua.Call
	h *Hub
}

func (e *sipEP) Kind() leg.Kind        { return leg.KindSIP }
func (e *sipEP) Audio() *leg.Track     { return e.c.Audio() }
func (e *sipEP) Video() *leg.Track     { return e.c.Video() }
func (e *sipEP) Done() <-chan struct{} { return e.c.Done() }
func (e *sipEP) Close(code int, reason string) {
	e.h.goAsync(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.c.Hangup(ctx, code, reason)
	})
}
