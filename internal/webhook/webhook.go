package webhook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Event types emitted by SPLIT. Endpoint filters may name them exactly or
// by prefix ("session.*").
const (
	TypeSessionCreated     = "session.created"
	TypeSessionRinging     = "session.ringing"
	TypeSessionAnswered    = "session.answered"
	TypeSessionTransferred = "session.transferred"
	TypeSessionEnded       = "session.ended"
	TypeAgentState         = "agent.state"
)

// Header names and the User-Agent of every delivery.
const (
	HeaderEvent     = "X-Split-Event"
	HeaderDelivery  = "X-Split-Delivery"
	HeaderSignature = "X-Split-Signature"
	UserAgent       = "split-webhook/1"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxAttempts    = 6
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultTimeout        = 10 * time.Second
	DefaultQueueSize      = 1024
)

const (
	dropWarnInterval = 10 * time.Second // at most one "dropped" warning per endpoint per interval
	maxResponseDrain = 64 << 10         // response bytes read (and discarded) to reuse the connection
)

// Endpoint is one receiver of webhooks.
//
// Endpoint implements fmt.Stringer, fmt.GoStringer and slog.LogValuer so
// that printing or logging it shows only the URL's scheme and host, never the
// secret nor URL credentials or query.
type Endpoint struct {
	URL    string   // absolute http or https URL
	Secret string   // HMAC-SHA256 key for X-Split-Signature; never logged
	Events []string // event types to send; empty means all; "session.*" matches by prefix, "*" matches all
}

// String returns "scheme://host" only.
func (e Endpoint) String() string {
	u, err := url.Parse(e.URL)
	if err != nil || u.Host == "" {
		return "<invalid webhook URL>"
	}
	return u.Scheme + "://" + u.Host
}

// GoString keeps %#v from printing the secret.
func (e Endpoint) GoString() string {
	return fmt.Sprintf("webhook.Endpoint{URL:%q, Secret:\"REDACTED\", Events:%#v}", e.String(), e.Events)
}

// LogValue logs the host and the event filter.
func (e Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", hostOf(e.URL)), slog.Any("events", e.Events))
}

// Event is one notification. Send fills in ID and At when they are zero.
type Event struct {
	ID        string    // unique id, for receivers' idempotency; "evt_" + 26 random base32 characters if empty
	Type      string    // e.g. TypeSessionCreated; required
	At        time.Time // when it happened; the time of Send if zero
	SessionID string    // may be empty
	Data      any       // JSON-marshalled by Send
}

// wireEvent is the JSON body of a delivery.
type wireEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	CreatedAt string `json:"created_at"`
	SessionID string `json:"session_id"`
	Data      any    `json:"data"`
}

// Metrics receives delivery counts. Implementations must be safe for
// concurrent use and must not block. endpoint is the endpoint URL's host
// (host:port), eventType the event's Type: both bounded by configuration.
type Metrics interface {
	// Delivered counts an event acknowledged with a 2xx.
	Delivered(endpoint, eventType string)
	// Failed counts a failed attempt; final is true when the event is given
	// up (permanent rejection, 410, attempts exhausted, or Close gave up).
	Failed(endpoint, eventType string, final bool)
	// Dropped counts an event not queued for one endpoint (queue full or
	// dispatcher closed) or abandoned in the queue by Close.
	Dropped()
}

type nopMetrics struct{}

func (nopMetrics) Delivered(string, string)    {}
func (nopMetrics) Failed(string, string, bool) {}
func (nopMetrics) Dropped()                    {}

// Options tune a Dispatcher. Zero fields take the Default* values; negative
// values are errors.
type Options struct {
	MaxAttempts    int           // attempts per event and endpoint, including the first (DefaultMaxAttempts)
	InitialBackoff time.Duration // wait after the first failed attempt, doubled each time (DefaultInitialBackoff)
	MaxBackoff     time.Duration // cap on one wait, including Retry-After (DefaultMaxBackoff)
	Timeout        time.Duration // per request, headers and body (DefaultTimeout)
	QueueSize      int           // queued events per endpoint before Send drops (DefaultQueueSize)
	// Client sends the requests. Nil means a private client that does not
	// follow redirects (a 3xx is a permanent failure); its idle connections
	// are closed by Close. A supplied client should not follow redirects
	// either: Go turns a redirected POST into a GET.
	Client  *http.Client
	Logger  *slog.Logger // nil means slog.Default()
	Metrics Metrics      // nil means none
}

// settings are Options resolved against the defaults.
type settings struct {
	maxAttempts    int
	initialBackoff time.Duration
	maxBackoff     time.Duration
	timeout        time.Duration
	queueSize      int
}

func resolve(o Options) (settings, error) {
	s := settings{
		maxAttempts:    orDefault(o.MaxAttempts, DefaultMaxAttempts),
		initialBackoff: orDefault(o.InitialBackoff, DefaultInitialBackoff),
		maxBackoff:     orDefault(o.MaxBackoff, DefaultMaxBackoff),
		timeout:        orDefault(o.Timeout, DefaultTimeout),
		queueSize:      orDefault(o.QueueSize, DefaultQueueSize),
	}
	var errs []error
	bad := func(field string, v any) {
		errs = append(errs, fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidOptions, field, v))
	}
	if o.MaxAttempts < 0 {
		bad("MaxAttempts", o.MaxAttempts)
	}
	if o.InitialBackoff < 0 {
		bad("InitialBackoff", o.InitialBackoff)
	}
	if o.MaxBackoff < 0 {
		bad("MaxBackoff", o.MaxBackoff)
	}
	if o.Timeout < 0 {
		bad("Timeout", o.Timeout)
	}
	if o.QueueSize < 0 {
		bad("QueueSize", o.QueueSize)
	}
	if s.initialBackoff > s.maxBackoff {
		errs = append(errs, fmt.Errorf("%w: InitialBackoff %v exceeds MaxBackoff %v", ErrInvalidOptions, s.initialBackoff, s.maxBackoff))
	}
	return s, errors.Join(errs...)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// clock separates time from the delivery logic so tests control backoff.
type clock struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error // returns ctx.Err() if ctx ends first
}

func systemClock() clock { return clock{now: time.Now, sleep: sleepCtx} }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dispatcher queues events and delivers them to its endpoints. Its methods
// are safe for concurrent use.
type Dispatcher struct {
	log       *slog.Logger
	metrics   Metrics
	clock     clock
	cfg       settings
	client    *http.Client
	ownClient bool
	workers   []*worker // fixed by New

	stop   context.Context    // ends in-flight requests and backoff waits when Close gives up
	cancel context.CancelFunc // cancels stop

	mu     sync.RWMutex // guards closed against Send's queue writes
	closed bool         // queues are closed; Send drops

	abandoned atomic.Int64 // events given up because Close's ctx ended
}

// New validates the endpoints and options and starts one worker goroutine per
// endpoint; Close stops them. Every problem found is reported, joined; each
// wraps ErrInvalidEndpoint or ErrInvalidOptions. No endpoints is valid: Send
// then does nothing.
func New(endpoints []Endpoint, o Options) (*Dispatcher, error) {
	return newDispatcher(endpoints, o, systemClock())
}

func newDispatcher(endpoints []Endpoint, o Options, c clock) (*Dispatcher, error) {
	cfg, err := resolve(o)
	errs := []error{err}
	type valid struct {
		url, host string
		f         filter
	}
	vs := make([]valid, len(endpoints))
	for i, ep := range endpoints {
		host, err := validateURL(ep.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: endpoint %d (%s): %w", ErrInvalidEndpoint, i, ep, err))
		}
		if ep.Secret == "" {
			errs = append(errs, fmt.Errorf("%w: endpoint %d (%s): empty secret", ErrInvalidEndpoint, i, ep))
		}
		f, err := compileFilter(ep.Events)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: endpoint %d (%s): %w", ErrInvalidEndpoint, i, ep, err))
		}
		vs[i] = valid{url: ep.URL, host: host, f: f}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	d := &Dispatcher{log: o.Logger, metrics: o.Metrics, clock: c, cfg: cfg, client: o.Client}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.metrics == nil {
		d.metrics = nopMetrics{}
	}
	if d.client == nil {
		d.client, d.ownClient = defaultClient(), true
	}
	d.stop, d.cancel = context.WithCancel(context.Background())
	for i, v := range vs {
		d.workers = append(d.workers, &worker{
			d:      d,
			url:    v.url,
			host:   v.host,
			secret: endpoints[i].Secret,
			filter: v.f,
			queue:  make(chan job, cfg.queueSize),
			done:   make(chan struct{}),
			log:    d.log.With("endpoint", v.host),
		})
	}
	for _, w := range d.workers {
		go w.run()
	}
	return d, nil
}

func validateURL(raw string) (host string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("unparsable URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", errors.New("URL has no host")
	}
	return u.Host, nil
}

// hostOf returns the host[:port] of a URL for logs and metric labels.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "invalid-url"
	}
	return u.Host
}

func defaultClient() *http.Client {
	tr, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		tr = tr.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Send queues e for every endpoint whose filter matches e.Type. It never
// blocks: if an endpoint's queue is full, or the Dispatcher is closed, the
// event is dropped for that endpoint, counted and logged (at most once per
// endpoint every 10 s, with the number dropped). Send marshals e.Data before
// it returns, so the caller may reuse it. An event without a Type, or whose
// Data cannot be marshalled, is logged at Error and not sent.
func (d *Dispatcher) Send(e Event) {
	if e.Type == "" {
		d.log.Error("webhook: event without a type not sent", "session", e.SessionID)
		return
	}
	matched := false
	for _, w := range d.workers {
		if w.filter.match(e.Type) {
			matched = true
			break
		}
	}
	if !matched {
		return
	}
	j, err := newJob(e, d.clock.now())
	if err != nil {
		d.log.Error("webhook: event not sent: data is not JSON-encodable", "event", e.Type, "session", e.SessionID, "err", err)
		for _, w := range d.workers {
			if w.filter.match(e.Type) {
				d.metrics.Failed(w.host, e.Type, true)
			}
		}
		return
	}

	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, w := range d.workers {
		if !w.filter.match(e.Type) {
			continue
		}
		if d.closed {
			w.dropped(j, "dispatcher closed")
			continue
		}
		select {
		case w.queue <- j:
		default:
			w.dropped(j, "queue full")
		}
	}
}

// job is one event ready to be delivered: the same body goes to every
// endpoint and every attempt.
type job struct {
	id, typ string
	body    []byte
}

func newJob(e Event, now time.Time) (job, error) {
	if e.ID == "" {
		e.ID = "evt_" + rand.Text()
	}
	if e.At.IsZero() {
		e.At = now
	}
	body, err := json.Marshal(wireEvent{
		ID:        e.ID,
		Type:      e.Type,
		CreatedAt: e.At.UTC().Format(time.RFC3339Nano),
		SessionID: e.SessionID,
		Data:      e.Data,
	})
	if err != nil {
		return job{}, err
	}
	return job{id: e.ID, typ: e.Type, body: body}, nil
}

// Close stops accepting events (Send drops from now on) and delivers what is
// queued, retries included, until every queue is empty or ctx ends. When ctx
// ends first, in-flight requests and backoff waits are cancelled and the
// remaining events are abandoned (counted as final failures or drops); the
// error then wraps ErrUnflushed and the ctx error. Close returns only after
// every worker goroutine has exited. It is idempotent and safe to call
// concurrently.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, w := range d.workers {
			close(w.queue)
		}
	}
	d.mu.Unlock()

	gaveUp := false
	for _, w := range d.workers {
		select {
		case <-w.done:
		case <-ctx.Done():
			gaveUp = true
			d.cancel()
			<-w.done
		}
	}
	d.cancel()
	if d.ownClient {
		d.client.CloseIdleConnections()
	}
	if n := d.abandoned.Load(); gaveUp && n > 0 {
		return fmt.Errorf("%w: %d events: %w", ErrUnflushed, n, context.Cause(ctx))
	}
	return nil
}
