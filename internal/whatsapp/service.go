package whatsapp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/split-hub/split/internal/config"
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

// Stats counts what the webhook endpoint did since New (for metrics).
type Stats struct {
	Received       uint64 // verified POST deliveries
	Refused        uint64 // bad or missing signatures, oversized or unreadable bodies
	Malformed      uint64 // verified deliveries that were not a webhook body (forwarded anyway)
	Duplicates     uint64 // events dropped as already seen
	Stale          uint64 // call events dropped for age
	LateConnects   uint64 // connects dropped because their terminate came first
	QueueFull      uint64 // deliveries not processed because the worker's queue was full (still forwarded)
	Forwarded      uint64 // deliveries the chat platform accepted
	ForwardRetries uint64 // forward attempts after the first
	DeadLetters    uint64 // deliveries recorded as dead letters
	Events         uint64 // events handed to the Handler
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
}

// New checks cfg (defaults applied) and starts the service's workers: one
// that decodes deliveries and calls h, and the forwarders. st may be nil
// (no permission memory, dead letters only logged); h must not be nil.
func New(cfg config.WhatsApp, st Store, h Handler, log *slog.Logger) (*Service, error) {
	return nil, errors.New("todo")
}

// ServeHTTP is the Meta app's webhook: GET answers the hub.verify_token
// handshake; POST verifies X-Hub-Signature-256 (401 missing, 403 wrong),
// answers 200 at once and processes and forwards the delivery afterwards.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {}

// Close stops accepting work, lets the workers finish what is queued (a
// forward still pending becomes a dead letter) and waits for them.
// Idempotent.
func (s *Service) Close() {}

// Stats returns the counters.
func (s *Service) Stats() Stats { return Stats{} }

// Config returns the configuration the service runs with (defaults applied).
func (s *Service) Config() config.WhatsApp { return s.cfg }

// Number returns the configured number with phone_number_id pnid.
func (s *Service) Number(pnid string) (config.WhatsAppNumber, bool) { return s.cfg.Number(pnid) }

// Client returns the Graph client of a configured number.
func (s *Service) Client(pnid string) (*Client, bool) {
	c, ok := s.clients[pnid]
	return c, ok
}

// PreAccept sends pre_accept with the hub's SDP answer (CRLF line ends).
// Errors are *GraphError (errors.Is with ErrSIPEnabled, …) or ErrInvalid,
// ErrUnknownNumber, ErrCallingOff.
func (s *Service) PreAccept(ctx context.Context, pnid, callID, sdpAnswer string) error {
	return errors.New("todo")
}

// Accept sends accept with the same SDP answer as PreAccept and opaque
// (the session id) as biz_opaque_callback_data; media may flow once it
// returns nil. A successful accept counts as a connected call for the
// user's permission-request limits.
func (s *Service) Accept(ctx context.Context, pnid, callID, sdpAnswer, opaque string) error {
	return errors.New("todo")
}

// Reject refuses a user-initiated call (no route, outside hours).
func (s *Service) Reject(ctx context.Context, pnid, callID string) error { return errors.New("todo") }

// Terminate ends a call the hub is in (always send it when the hub ends a
// call: Meta bills by it).
func (s *Service) Terminate(ctx context.Context, pnid, callID string) error {
	return errors.New("todo")
}

// Connect places a business-initiated call to user (wa_id or BSUID) with
// the hub's SDP offer and opaque (the session id); it returns the call id.
// It does not check permission first: call Permission for a clear refusal;
// Meta's own refusal comes back as ErrNoPermission / ErrCallLimit.
func (s *Service) Connect(ctx context.Context, pnid, to, sdpOffer, opaque string) (callID string, err error) {
	return "", errors.New("todo")
}
