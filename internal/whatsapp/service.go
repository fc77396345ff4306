package whatsapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/httpjson"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/store"
)

// Store is the persistence the service needs; *store.DB implements it.
type Store interface {
	SetWhatsAppPermission(ctx context.Context, p store.WhatsAppPermission) error
	WhatsAppPermission(ctx context.Context, pnid, user string) (store.WhatsAppPermission, error)
	AddWhatsAppUsage(ctx context.Context, pnid, user, kind string, at time.Time) error
	WhatsAppUsage(ctx context.Context, pnid, user, kind string, since time.Time) ([]time.Time, error)
	AddWhatsAppDeadLetter(ctx context.Context, d store.WhatsAppDeadLetter) error
	WhatsAppDeadLetters(ctx context.Context, limit int) ([]store.WhatsAppDeadLetter, error)
}

var _ Store = (*store.DB)(nil)

// Bounds of the webhook pipeline.
const (
	queueSize      = 1024  // deliveries waiting for the worker, and for the forwarders
	seenMax        = 20000 // event keys remembered for deduplication
	terminatedMax  = 10000 // call ids whose terminate came, remembered to drop a late connect
	forwardWorkers = 2
	closeGrace     = 5 * time.Second // Close lets in-flight forwards finish this long
	storeTimeout   = 5 * time.Second // one store write of the worker
)

// Stats counts what the webhook endpoint did since New (for metrics).
type Stats struct {
	Received       uint64 // verified POST deliveries
	Refused        uint64 // bad or missing signatures, oversized or unreadable bodies
	Malformed      uint64 // verified deliveries that were not a webhook body (forwarded anyway)
	Duplicates     uint64 // events dropped as already seen
	Stale          uint64 // call events dropped for age
	LateConnects   uint64 // connects dropped because their terminate came first
	Unrouted       uint64 // events for a number that is not configured (or has calling off)
	QueueFull      uint64 // deliveries answered 503 (Meta redelivers) because the worker's or the forwarder's queue was full
	Forwarded      uint64 // deliveries the chat platform accepted
	ForwardRetries uint64 // forward attempts after the first
	DeadLetters    uint64 // deliveries recorded as dead letters
	Events         uint64 // events handed to the Handler
}

type counters struct {
	received, refused, malformed, duplicates, stale, lateConnects, unrouted, queueFull atomic.Uint64
	forwarded, forwardRetries, deadLetters, events                                     atomic.Uint64
}

// delivery is one verified webhook POST.
type delivery struct {
	id          string
	body        []byte
	signature   string
	contentType string
	received    time.Time
}

// Service is the hub's WhatsApp side: one webhook endpoint for the Meta
// app, the Graph calling client per business number, permission state.
// Create it with New; Close stops its workers.
type Service struct {
	cfg     config.WhatsApp
	st      Store
	h       Handler
	log     *slog.Logger
	clients map[string]*Client
	now     func() time.Time
	fwd     *forwarder // nil without forward.url
	c       counters

	mu     sync.RWMutex // guards closed against the sends on in and fwd.q
	qmu    sync.Mutex   // one sender at a time: room checked in both queues is still there when sending
	closed bool
	in     chan delivery
	wg     sync.WaitGroup
	once   sync.Once

	// owned by the worker goroutine
	seen       *seenSet
	terminated *seenSet
}

// New checks cfg (defaults applied) and starts the service's workers: one
// that decodes deliveries and calls h, and the forwarders. st may be nil
// (no permission memory; dead letters only logged); h must not be nil.
func New(cfg config.WhatsApp, st Store, h Handler, log *slog.Logger) (*Service, error) {
	s, err := newService(cfg, st, h, log, nil)
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// newService builds the service without starting it (tests set fields).
func newService(cfg config.WhatsApp, st Store, h Handler, log *slog.Logger, hc *http.Client) (*Service, error) {
	if h == nil {
		return nil, invalidf("a Handler is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	if cfg.AppSecret == "" {
		return nil, invalidf("app_secret is required to verify webhooks")
	}
	s := &Service{cfg: cfg, st: st, h: h, log: log.With("component", "whatsapp"), clients: map[string]*Client{},
		now: time.Now, in: make(chan delivery, queueSize), seen: newSeenSet(seenMax), terminated: newSeenSet(terminatedMax)}
	for _, n := range cfg.Numbers {
		c, err := NewClient(cfg, n, hc)
		if err != nil {
			return nil, err
		}
		if _, dup := s.clients[n.PhoneNumberID]; dup {
			return nil, invalidf("number %s is configured twice", n.PhoneNumberID)
		}
		s.clients[n.PhoneNumberID] = c
	}
	if cfg.Forward.URL != "" {
		s.fwd = newForwarder(s, cfg.Forward)
	}
	return s, nil
}

func (s *Service) start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for d := range s.in {
			s.process(d)
		}
	}()
	if s.fwd != nil {
		s.fwd.start(&s.wg)
	}
}

// Close stops accepting deliveries (later ones get 503, so Meta retries
// them), lets the worker handle what is queued, gives in-flight forwards a
// few seconds and records every forward still pending as a dead letter,
// then waits for all of it. Idempotent.
func (s *Service) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.in)
		if s.fwd != nil {
			s.fwd.close()
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() { // owned: ends with the workers, which Close waits for below
			s.wg.Wait()
			close(done)
		}()
		if s.fwd != nil {
			t := time.NewTimer(s.fwd.grace)
			select {
			case <-done:
			case <-t.C: // forwards still in flight: abort them (they become dead letters)
				s.fwd.cancel()
			}
			t.Stop()
		}
		<-done
		if s.fwd != nil {
			s.fwd.cancel()
		}
	})
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	c := &s.c
	return Stats{Received: c.received.Load(), Refused: c.refused.Load(), Malformed: c.malformed.Load(),
		Duplicates: c.duplicates.Load(), Stale: c.stale.Load(), LateConnects: c.lateConnects.Load(),
		Unrouted: c.unrouted.Load(), QueueFull: c.queueFull.Load(), Forwarded: c.forwarded.Load(),
		ForwardRetries: c.forwardRetries.Load(), DeadLetters: c.deadLetters.Load(), Events: c.events.Load()}
}

// Config returns the configuration the service runs with (defaults applied).
func (s *Service) Config() config.WhatsApp { return s.cfg }

// Number returns the configured number with phone_number_id pnid.
func (s *Service) Number(pnid string) (config.WhatsAppNumber, bool) { return s.cfg.Number(pnid) }

// Client returns the Graph client of a configured number.
func (s *Service) Client(pnid string) (*Client, bool) {
	c, ok := s.clients[pnid]
	return c, ok
}

// DeadLetters lists the deliveries that could not be forwarded, newest
// first (limit ≤ 0: 100).
func (s *Service) DeadLetters(ctx context.Context, limit int) ([]store.WhatsAppDeadLetter, error) {
	if s.st == nil {
		return nil, nil
	}
	return s.st.WhatsAppDeadLetters(ctx, limit)
}

// ServeHTTP is the Meta app's webhook: GET answers the hub.verify_token
// handshake; POST verifies X-Hub-Signature-256 over the raw body (401
// without one, 403 when wrong), answers 200 at once and processes and
// forwards the delivery afterwards.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		s.verify(w, r)
	case http.MethodPost:
		s.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "GET (verification) or POST (deliveries)")
	}
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request) {
	challenge, err := notify.VerifyWhatsAppSubscription(r.URL.Query(), s.cfg.VerifyToken)
	if err != nil {
		s.log.Warn("WhatsApp webhook verification refused (the App Dashboard's verify token must equal whatsapp.verify_token)", "err", err)
		httpjson.Error(w, http.StatusForbidden, "forbidden", "hub.verify_token does not match")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge)
}

func (s *Service) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		s.c.refused.Add(1)
		s.log.Warn("WhatsApp webhook: cannot read the body", "err", err)
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "cannot read the body")
		return
	}
	if len(body) > MaxBody {
		s.c.refused.Add(1)
		s.log.Warn("WhatsApp webhook refused: body too large", "limit", MaxBody)
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body larger than %d bytes", MaxBody))
		return
	}
	sig := r.Header.Get(notify.WhatsAppSignatureHeader)
	if err := notify.VerifyWhatsAppSignature(s.cfg.AppSecret, body, sig); err != nil {
		s.c.refused.Add(1)
		status := http.StatusForbidden
		if sig == "" {
			status = http.StatusUnauthorized
		}
		s.log.Warn("WhatsApp webhook refused: bad signature (whatsapp.app_secret must be the Meta app's secret from "+
			"App Dashboard → Settings → Basic, not the verify token)", "err", err, "status", status)
		httpjson.Error(w, status, "bad_signature", "X-Hub-Signature-256 does not match the body")
		return
	}
	d := delivery{id: newID("wh_"), body: body, signature: sig, contentType: r.Header.Get("Content-Type"), received: s.now()}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "shutting down") // Meta retries
		return
	}
	// Both the worker and the forwarder must take the delivery, or neither:
	// when either queue is full Meta is asked to retry (it redelivers for
	// days), so a burst loses nothing and forwards nothing twice.
	s.qmu.Lock()
	full := len(s.in) == cap(s.in) || (s.fwd != nil && len(s.fwd.q) == cap(s.fwd.q))
	if !full {
		s.in <- d
		if s.fwd != nil {
			s.fwd.q <- d
		}
	}
	s.qmu.Unlock()
	s.mu.RUnlock()
	if full {
		s.c.queueFull.Add(1)
		s.log.Warn("WhatsApp webhook: queues full, Meta is asked to redeliver", "delivery", d.id)
		w.Header().Set("Retry-After", "5")
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "busy: retry")
		return
	}
	s.c.received.Add(1)
	w.WriteHeader(http.StatusOK)
}

// newID returns prefix + 16 random hex digits.
func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// process decodes one delivery and hands its events to the Handler.
func (s *Service) process(d delivery) {
	dl, err := Decode(d.body)
	if err != nil {
		s.c.malformed.Add(1)
		s.log.Warn("WhatsApp webhook: not a webhook body (forwarded as it is)", "delivery", d.id, "err", err)
		return
	}
	now := s.now()
	for _, e := range dl.Errors {
		s.log.Warn("WhatsApp reported an error", "code", e.Code, "title", e.Title, "details", e.Details)
	}
	for _, ev := range dl.Connects {
		switch {
		case !s.callingNumber(ev.PhoneNumberID, "connect", ev.CallID):
		case !s.first("connect|" + ev.CallID):
		case s.terminated.has(ev.CallID):
			s.c.lateConnects.Add(1)
			s.log.Info("WhatsApp call connect after its terminate: dropped", "call", ev.CallID)
		case s.stale(ev.Timestamp, now):
			s.log.Info("WhatsApp call connect too old: dropped", "call", ev.CallID, "timestamp", ev.Timestamp)
		default:
			s.deliver(func() { s.h.CallConnect(ev) })
		}
	}
	for _, ev := range dl.CallStatuses {
		switch {
		case !s.callingNumber(ev.PhoneNumberID, "status", ev.CallID):
		case !s.first("cstatus|" + ev.CallID + "|" + ev.Status):
		case s.stale(ev.Timestamp, now):
			s.log.Info("WhatsApp call status too old: dropped", "call", ev.CallID, "status", ev.Status)
		default:
			if ev.Status == StatusAccepted {
				s.addUsage(ev.PhoneNumberID, ev.User(), store.WhatsAppUsageBusinessCall, orTime(ev.Timestamp, now))
			}
			s.deliver(func() { s.h.CallStatus(ev) })
		}
	}
	for _, ev := range dl.Terminates {
		if !s.callingNumber(ev.PhoneNumberID, "terminate", ev.CallID) || !s.first("terminate|"+ev.CallID) {
			continue
		}
		s.terminated.add(ev.CallID)
		if ev.Answered() && ev.Direction == UserInitiated {
			s.addUsage(ev.PhoneNumberID, ev.User(), store.WhatsAppUsageUserCall, ev.StartTime)
		}
		s.deliver(func() { s.h.CallTerminate(ev) })
	}
	for _, ev := range dl.PermissionReplies {
		if !s.known(ev.PhoneNumberID, "permission reply") || !s.first("perm|"+ev.MessageID) {
			continue
		}
		s.recordReply(ev, now)
		s.deliver(func() { s.h.PermissionReply(ev) })
	}
	for _, m := range dl.Messages {
		if !s.known(m.PhoneNumberID, "message") || !s.first("msg|"+m.MessageID) {
			continue
		}
		n, _ := s.cfg.Number(m.PhoneNumberID)
		m.Keyword = keyword(n.Keywords, m.Text)
		s.deliver(func() { s.h.Message(m) })
	}
	for _, st := range dl.MessageStatuses {
		if !s.known(st.PhoneNumberID, "message status") || !s.first("mstatus|"+st.MessageID+"|"+strings.ToLower(st.Status)) {
			continue
		}
		s.deliver(func() { s.h.MessageStatus(st) })
	}
}

// deliver calls the handler, counting it; a panic in the handler is logged
// and does not stop the worker.
func (s *Service) deliver(f func()) {
	s.c.events.Add(1)
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("WhatsApp handler panicked", "panic", v)
		}
	}()
	f()
}

// first records key and reports whether it is new (else counts a duplicate).
func (s *Service) first(key string) bool {
	if s.seen.add(key) {
		return true
	}
	s.c.duplicates.Add(1)
	return false
}

func (s *Service) stale(ts, now time.Time) bool {
	if ts.IsZero() || s.cfg.MaxEventAge <= 0 || now.Sub(ts) <= s.cfg.MaxEventAge {
		return false
	}
	s.c.stale.Add(1)
	return true
}

// known reports whether pnid is a configured number (events of other
// numbers of the same Meta app are only forwarded). An empty pnid passes.
func (s *Service) known(pnid, what string) bool {
	if _, ok := s.cfg.Number(pnid); ok || pnid == "" {
		return true
	}
	s.c.unrouted.Add(1)
	s.log.Debug("WhatsApp event for a number this hub does not serve", "phone_number_id", pnid, "event", what)
	return false
}

// callingNumber reports whether call events of pnid are the hub's.
func (s *Service) callingNumber(pnid, what, callID string) bool {
	n, ok := s.cfg.Number(pnid)
	if !ok || !n.CallingEnabled() {
		s.c.unrouted.Add(1)
		s.log.Debug("WhatsApp call event for a number without calling here", "phone_number_id", pnid, "event", what, "call", callID)
		return false
	}
	return true
}

func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// keyword returns the configured keyword text starts with ("" none).
func keyword(keywords []string, text string) string {
	t := strings.ToLower(strings.TrimSpace(text))
	for _, k := range keywords {
		kk := strings.ToLower(strings.TrimSpace(k))
		if kk == "" || !strings.HasPrefix(t, kk) {
			continue
		}
		if rest := t[len(kk):]; rest == "" || strings.IndexFunc(rest[:1], isWordChar) < 0 {
			return k
		}
	}
	return ""
}

func isWordChar(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127
}

func (s *Service) addUsage(pnid, user, kind string, at time.Time) {
	if s.st == nil || user == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := s.st.AddWhatsAppUsage(ctx, pnid, user, kind, at); err != nil {
		s.log.Warn("WhatsApp: cannot record usage", "kind", kind, "err", err)
	}
}

// recordReply stores a call_permission_reply.
func (s *Service) recordReply(ev PermissionEvent, now time.Time) {
	user := ev.User()
	if s.st == nil || user == "" {
		return
	}
	p := store.WhatsAppPermission{PhoneNumberID: ev.PhoneNumberID, User: user, Status: store.WhatsAppPermissionNone,
		Source: ev.Source, UpdatedAt: orTime(ev.Timestamp, now)}
	if p.Source == "" {
		p.Source = "user_action"
	}
	if ev.Accepted {
		p.Status, p.ExpiresAt = store.WhatsAppPermissionTemporary, ev.Expires
		if ev.Permanent {
			p.Status, p.ExpiresAt = store.WhatsAppPermissionPermanent, time.Time{}
		} else if p.ExpiresAt.IsZero() {
			p.ExpiresAt = p.UpdatedAt.Add(TemporaryPermission)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	// A reply older than what is stored (Meta does not order webhooks) does not overwrite it.
	if old, err := s.st.WhatsAppPermission(ctx, p.PhoneNumberID, user); err == nil && old.UpdatedAt.After(p.UpdatedAt) {
		return
	}
	if err := s.st.SetWhatsAppPermission(ctx, p); err != nil {
		s.log.Warn("WhatsApp: cannot record a call-permission reply", "err", err)
	}
}

// client returns the Graph client of a number that has calling on.
func (s *Service) callClient(pnid string) (*Client, error) {
	n, ok := s.cfg.Number(pnid)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNumber, pnid)
	}
	if !n.CallingEnabled() {
		return nil, fmt.Errorf("%w: %s", ErrCallingOff, pnid)
	}
	if n.Signalling == config.WhatsAppSignallingSIP {
		return nil, fmt.Errorf("%w: number %s has signalling: sip (its calls go over SIP)", ErrSIPEnabled, pnid)
	}
	return s.clients[pnid], nil
}

// msgClient returns the Graph client of a configured number.
func (s *Service) msgClient(pnid string) (*Client, error) {
	c, ok := s.clients[pnid]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNumber, pnid)
	}
	return c, nil
}

// PreAccept sends pre_accept with the hub's SDP answer (CRLF line ends).
// Errors are *GraphError (errors.Is with ErrSIPEnabled, …) or ErrInvalid,
// ErrUnknownNumber, ErrCallingOff.
func (s *Service) PreAccept(ctx context.Context, pnid, callID, sdpAnswer string) error {
	c, err := s.callClient(pnid)
	if err != nil {
		return err
	}
	return c.PreAccept(ctx, callID, sdpAnswer)
}

// Accept sends accept with the same SDP answer as PreAccept and opaque
// (the session id) as biz_opaque_callback_data; media may flow once it
// returns nil.
func (s *Service) Accept(ctx context.Context, pnid, callID, sdpAnswer, opaque string) error {
	c, err := s.callClient(pnid)
	if err != nil {
		return err
	}
	return c.Accept(ctx, callID, sdpAnswer, opaque)
}

// Reject refuses a user-initiated call (no route, outside hours).
func (s *Service) Reject(ctx context.Context, pnid, callID string) error {
	c, err := s.callClient(pnid)
	if err != nil {
		return err
	}
	return c.Reject(ctx, callID)
}

// Terminate ends a call the hub is in (always send it when the hub ends a
// call: Meta bills by it).
func (s *Service) Terminate(ctx context.Context, pnid, callID string) error {
	c, err := s.callClient(pnid)
	if err != nil {
		return err
	}
	return c.Terminate(ctx, callID)
}

// Connect places a business-initiated call to user (wa_id or BSUID) with
// the hub's SDP offer and opaque (the session id); it returns the call id.
// It does not check permission first: call Permission for a clear refusal;
// Meta's own refusal comes back as ErrNoPermission / ErrCallLimit.
func (s *Service) Connect(ctx context.Context, pnid, to, sdpOffer, opaque string) (callID string, err error) {
	c, err := s.callClient(pnid)
	if err != nil {
		return "", err
	}
	return c.Connect(ctx, to, sdpOffer, opaque)
}
