package hub

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/store"
)

// Join links bring a customer into a session (or an appointment) with one
// click. The token is an opaque 128-bit random value — 22 URL-safe
// characters, so a link fits an SMS segment with room for text — and only
// its SHA-256 is stored: a stolen database yields no usable link, and a
// link is revoked by a row update. (A signed JWT would verify without the
// store but needs ~200 characters and cannot be revoked or consumed
// without a server-side list anyway.)
//
// Opening the link (GET /j/<token>) never consumes it — link-preview bots
// and mail scanners fetch links. The page asks POST /v1/join with dry_run
// to show a lobby or a clear error, and consumes the link with the POST
// that joins, which returns a short-lived socket token for that session.

const (
	linkWSTokenTTL = 10 * time.Minute
	// The window is checked on the hub's clock only (the browser's clock
	// plays no part), so no leeway is needed.
)

// newLinkToken returns a token and its stored hash.
func newLinkToken() (string, string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, hashToken(tok), nil
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// validLinkToken checks the shape before any lookup.
func validLinkToken(tok string) bool {
	if len(tok) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil
}

// LinkOptions describe a new join link.
type LinkOptions struct {
	SessionID     string
	AppointmentID string
	Role          string // customer (default)
	NotBefore     time.Time
	ExpiresAt     time.Time
	SingleUse     bool
	Channel       string // copy, sms, email, whatsapp
	Recipient     string
	Language      string // the page's language: ?lang= on the link ("" : none)
}

// CreateLink stores a new link and returns its URL and token.
func (h *Hub) CreateLink(ctx context.Context, o LinkOptions) (url, token string, err error) {
	if o.Role == "" {
		o.Role = roleCustomer
	}
	if o.Channel == "" {
		o.Channel = "copy"
	}
	tok, hash, err := newLinkToken()
	if err != nil {
		return "", "", err
	}
	l := store.JoinLink{Hash: hash, SessionID: o.SessionID, AppointmentID: o.AppointmentID, Role: o.Role, NotBefore: o.NotBefore,
		ExpiresAt: o.ExpiresAt, SingleUse: o.SingleUse, Channel: o.Channel, Recipient: o.Recipient, DeliveryStatus: "created"}
	if err := h.store.PutJoinLink(ctx, l); err != nil {
		return "", "", err
	}
	u := h.publicURL() + "/j/" + tok
	if o.Language != "" {
		u += "?lang=" + o.Language
	}
	return u, tok, nil
}

// linkError is a refused join: a status, a stable code and a message that
// says nothing about the session.
type linkError struct {
	status    int
	code, msg string
	notBefore time.Time
}

func (e *linkError) Error() string { return e.msg }

var (
	errLinkInvalid = &linkError{status: http.StatusNotFound, code: "invalid_link", msg: "This link is not valid. Check that you opened the whole link, or ask for a new one."}
	errLinkExpired = &linkError{status: http.StatusGone, code: "link_expired", msg: "This link has expired. Ask for a new one."}
	errLinkRevoked = &linkError{status: http.StatusGone, code: "link_revoked", msg: "This link was cancelled."}
	errLinkUsed    = &linkError{status: http.StatusConflict, code: "link_used", msg: "This link was already used. Ask for a new one."}
	errLinkRole    = &linkError{status: http.StatusForbidden, code: "wrong_role", msg: "This link is not for this page."}
	errLinkRate    = &linkError{status: http.StatusTooManyRequests, code: "rate_limited", msg: "Too many attempts. Wait a minute and try again."}
	errLinkOver    = &linkError{status: http.StatusGone, code: "session_over", msg: "This call is over."}
)

// checkLink validates a link at now; consume marks the use.
func (h *Hub) checkLink(ctx context.Context, tok, role string, now time.Time, consume bool) (store.JoinLink, error) {
	if !validLinkToken(tok) {
		return store.JoinLink{}, errLinkInvalid
	}
	hash := hashToken(tok)
	l, err := h.store.GetJoinLink(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return l, errLinkInvalid
	}
	if err != nil {
		return l, err
	}
	switch {
	case !l.RevokedAt.IsZero():
		return l, errLinkRevoked
	case role != "" && l.Role != role:
		return l, errLinkRole
	case now.After(l.ExpiresAt):
		return l, errLinkExpired
	case now.Before(l.NotBefore):
		e := *(&linkError{status: http.StatusTooEarly, code: "too_early", msg: "It is too early: the call opens at the time of your appointment.", notBefore: l.NotBefore})
		return l, &e
	case l.SingleUse && l.Uses > 0:
		return l, errLinkUsed
	}
	if !consume {
		return l, nil
	}
	l, err = h.store.UseJoinLink(ctx, hash, now)
	switch {
	case errors.Is(err, store.ErrUsed):
		return l, errLinkUsed
	case errors.Is(err, store.ErrRevoked):
		return l, errLinkRevoked
	}
	return l, err
}

type joinReq struct {
	Token  string `json:"token"`
	Role   string `json:"role"`
	DryRun bool   `json:"dry_run"`
}

type joinResp struct {
	Session   string    `json:"session,omitempty"`
	Role      string    `json:"role"`
	WSToken   string    `json:"ws_token,omitempty"`
	NotBefore time.Time `json:"not_before,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	State     string    `json:"state"` // ready (dry run), joined
}

// apiJoin checks (dry_run) or redeems a join link.
func (h *Hub) apiJoin(w http.ResponseWriter, r *http.Request) {
	// kept to relay it as it came when the session lives on another node
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "bad_request", "the request body is too large")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req joinReq
	if !decodeJSON(w, r, &req) {
		return
	}
	addr := h.clientAddr(r)
	if !h.limiter.allow("join-addr|"+addr, 30) || !h.limiter.allow("join-tok|"+req.Token, 10) {
		h.writeLinkErr(w, errLinkRate)
		return
	}
	now := time.Now()
	if l, err := h.checkLink(r.Context(), req.Token, req.Role, now, false); err == nil && !req.DryRun {
		if n, ok := h.linkOwner(r.Context(), l); ok {
			r.Body = io.NopCloser(bytes.NewReader(body))
			if h.relayTo(w, r, n) {
				return
			}
		}
	}
	l, err := h.checkLink(r.Context(), req.Token, req.Role, now, !req.DryRun)
	if err != nil {
		h.writeLinkErr(w, err)
		return
	}
	resp := joinResp{Role: l.Role, ExpiresAt: l.ExpiresAt.UTC(), State: "ready"}
	if !l.NotBefore.IsZero() {
		resp.NotBefore = l.NotBefore.UTC()
	}
	if req.DryRun {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	sid := l.SessionID
	if sid == "" && l.AppointmentID != "" {
		if sid, err = h.appointmentSession(r.Context(), l.AppointmentID); err != nil {
			h.writeLinkErr(w, err)
			return
		}
	}
	// The session must still be live: an ended session leaves the hub's
	// table only when its goroutine has wound down, so ask the goroutine.
	var tok string
	err = h.onSession(sid, func(s *session.Session) error {
		var err error
		if tok, _, err = h.signer.Mint(auth.Claims{Identity: l.Role, Role: l.Role, Session: sid}, linkWSTokenTTL); err != nil {
			return err
		}
		s.Record("link.used", "", map[string]any{"role": l.Role, "channel": l.Channel, "uses": l.Uses})
		return nil
	})
	if errors.Is(err, errNotFoundErr) {
		h.writeLinkErr(w, errLinkOver)
		return
	}
	if err != nil {
		h.internalErr(w, "link", err)
		return
	}
	resp.Session, resp.WSToken, resp.State = sid, tok, "joined"
	writeJSON(w, http.StatusOK, resp)
}

// linkOwner is the node other than this one that hosts the live session a
// link leads to (its session, or its appointment's once joined).
func (h *Hub) linkOwner(ctx context.Context, l store.JoinLink) (store.Node, bool) {
	sid := l.SessionID
	if sid == "" && l.AppointmentID != "" {
		if a, err := h.store.GetAppointment(ctx, l.AppointmentID); err == nil {
			sid = a.SessionID
		}
	}
	if sid == "" || h.Session(sid) != nil {
		return store.Node{}, false
	}
	return h.owner(ctx, sid)
}

func (h *Hub) writeLinkErr(w http.ResponseWriter, err error) {
	var le *linkError
	if !errors.As(err, &le) {
		h.writeHubErr(w, err)
		return
	}
	var b struct {
		Error struct {
			Code      string     `json:"code"`
			Message   string     `json:"message"`
			NotBefore *time.Time `json:"not_before,omitempty"`
		} `json:"error"`
	}
	b.Error.Code, b.Error.Message = le.code, le.msg
	if !le.notBefore.IsZero() {
		nb := le.notBefore.UTC()
		b.Error.NotBefore = &nb
		w.Header().Set("Retry-After", fmt.Sprint(int(time.Until(le.notBefore).Seconds())+1))
	}
	writeJSON(w, le.status, b)
}

// serveJoinPage answers GET /j/<token>: the customer page, told to join
// with the link (in the fragment, so the token is not sent again or
// logged). The link is not checked, let alone consumed, here.
func (h *Hub) serveJoinPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if !validLinkToken(tok) {
		tok = "invalid"
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	to := "/customer.html#join=" + tok
	if lang := r.URL.Query().Get("lang"); lang != "" && langTagRE.MatchString(lang) {
		to += "&lang=" + lang // the customer's language (docs/i18n.md)
	}
	http.Redirect(w, r, to, http.StatusFound)
}

type linkReq struct {
	Role      string     `json:"role"`
	Channel   string     `json:"channel"`
	To        string     `json:"to"`
	SingleUse *bool      `json:"single_use"`
	NotBefore *time.Time `json:"not_before"`
	ExpiresIn string     `json:"expires_in"`
	Language  string     `json:"language"` // the page's and message's language ("" : the customer's, else the default)
}

type linkResp struct {
	URL       string    `json:"url"`
	Channel   string    `json:"channel"`
	To        string    `json:"to,omitempty"`
	Role      string    `json:"role"`
	SingleUse bool      `json:"single_use"`
	NotBefore time.Time `json:"not_before,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Delivery  string    `json:"delivery"`
}

// apiCreateLink: POST /v1/sessions/{id}/links — a join link for a live
// session, optionally delivered by SMS, e-mail or WhatsApp.
func (h *Hub) apiCreateLink(w http.ResponseWriter, r *http.Request) {
	var req linkReq
	if !decodeJSON(w, r, &req) {
		return
	}
	sid, ok := sessionID(w, r)
	if !ok {
		return
	}
	s := h.Session(sid)
	if s == nil {
		writeErr(w, http.StatusNotFound, "not_found", "no live session "+sid)
		return
	}
	o, err := h.linkOptions(req, time.Now())
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	o.SessionID = sid
	if o.Language == "" {
		if l := s.Info().Customer.Language; l != "" {
			o.Language = h.i18n.Match(l) // the language the customer's page chose
		}
	}
	resp, err := h.issueLink(r.Context(), s, o)
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (h *Hub) linkOptions(req linkReq, now time.Time) (LinkOptions, error) {
	o := LinkOptions{Role: req.Role, Channel: req.Channel, Recipient: strings.TrimSpace(req.To), SingleUse: true, NotBefore: now}
	if len(o.Recipient) > 256 {
		return o, fmt.Errorf("%w: to is limited to 256 bytes", errBadRequest)
	}
	if req.Language != "" {
		if !langTagRE.MatchString(req.Language) {
			return o, fmt.Errorf("%w: language must be a language tag such as en or es", errBadRequest)
		}
		o.Language = h.i18n.Match(req.Language)
	}
	if o.Role == "" {
		o.Role = roleCustomer
	}
	if o.Role != roleCustomer {
		return o, fmt.Errorf("%w: role must be customer", errBadRequest)
	}
	if o.Channel == "" {
		o.Channel = "copy"
	}
	switch o.Channel {
	case "copy":
	case "sms", "whatsapp", "email":
		if o.Recipient == "" {
			return o, fmt.Errorf("%w: to is required for channel %s", errBadRequest, o.Channel)
		}
		if h.notifier == nil || !h.notifier.Has(o.Channel) {
			return o, fmt.Errorf("%w: channel %s is not configured (sessions.notify)", errUnavailableErr, o.Channel)
		}
	default:
		return o, fmt.Errorf("%w: channel must be copy, sms, email or whatsapp", errBadRequest)
	}
	if req.SingleUse != nil {
		o.SingleUse = *req.SingleUse
	}
	if req.NotBefore != nil {
		o.NotBefore = *req.NotBefore
	}
	ttl := 30 * time.Minute
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			return o, fmt.Errorf("%w: expires_in must be a positive duration up to 720h", errBadRequest)
		}
		ttl = d
	}
	o.ExpiresAt = maxTime(now, o.NotBefore).Add(ttl)
	return o, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// issueLink creates the link and sends it on its channel.
func (h *Hub) issueLink(ctx context.Context, s *session.Session, o LinkOptions) (linkResp, error) {
	url, tok, err := h.CreateLink(ctx, o)
	if err != nil {
		return linkResp{}, err
	}
	resp := linkResp{URL: url, Channel: o.Channel, To: o.Recipient, Role: o.Role, SingleUse: o.SingleUse, ExpiresAt: o.ExpiresAt.UTC(), Delivery: "ready"}
	if !o.NotBefore.IsZero() {
		resp.NotBefore = o.NotBefore.UTC()
	}
	if s != nil {
		s.Do(func() {
			s.Record("link.created", "", map[string]any{"channel": o.Channel, "to": notify.MaskAddr(o.Recipient), "expires_at": o.ExpiresAt.UTC()})
		})
	}
	if o.Channel != "copy" {
		resp.Delivery = "queued"
		h.notifier.Deliver(ctx, Delivery{Hash: hashToken(tok), SessionID: o.SessionID, Channel: o.Channel, To: o.Recipient, URL: url,
			Customer: customerName(s), ExpiresAt: o.ExpiresAt, Language: o.Language})
	}
	return resp, nil
}

func customerName(s *session.Session) string {
	if s == nil {
		return ""
	}
	return s.Info().Customer.Name
}

// Delivery is one link to send.
type Delivery struct {
	Hash, SessionID, AppointmentID string
	Channel, To, URL, Customer     string
	ExpiresAt                      time.Time
	Start                          time.Time // appointments
	Duration                       time.Duration
	Title                          string
	Sequence                       int
	Cancel                         bool
	Language                       string // a loaded language ("" : the default)
	TimeZone                       string // IANA, for dates ("" : UTC)
}

// Notifier sends links (internal/notify behind an adapter in app).
type Notifier interface {
	Has(channel string) bool
	Deliver(ctx context.Context, d Delivery)
}
