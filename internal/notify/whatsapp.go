package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WhatsAppConfig configures the WhatsApp Cloud API sender
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-cta-url-messages).
type WhatsAppConfig struct {
	BaseURL       string // default https://graph.facebook.com
	Version       string // Graph API version, default v25.0
	PhoneNumberID string // the business phone number's ID (not the number)
	AccessToken   string // system-user token; secret
	Footer        string // optional footer text on every message (truncated to 60 characters)
	// Template, when set, is sent instead when WhatsApp refuses the
	// free-form message because the customer is outside the 24 h window
	// (131047). Nil: the refusal is reported as it is.
	Template *WhatsAppTemplate
	Client   *http.Client
}

// String redacts the AccessToken.
func (c WhatsAppConfig) String() string {
	tpl := "nil"
	if c.Template != nil {
		tpl = fmt.Sprintf("%+v", *c.Template)
	}
	return fmt.Sprintf("WhatsAppConfig{BaseURL:%q Version:%q PhoneNumberID:%q AccessToken:%q Footer:%q Template:%s}",
		c.BaseURL, c.Version, c.PhoneNumberID, redact(c.AccessToken), c.Footer, tpl)
}

// GoString redacts the AccessToken in %#v.
func (c WhatsAppConfig) GoString() string { return c.String() }

// LogValue redacts the AccessToken in slog output.
func (c WhatsAppConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("version", c.Version),
		slog.String("phone_number_id", c.PhoneNumberID), slog.String("access_token", redact(c.AccessToken)))
}

// Limits of an interactive cta_url message, in characters.
const (
	WhatsAppMaxBody        = 1024
	WhatsAppMaxDisplayText = 20
	WhatsAppMaxHeader      = 60
	WhatsAppMaxFooter      = 60
)

// WhatsApp sends the join link as an interactive call-to-action URL button
// message. Free-form messages like this one are only allowed inside the 24 h
// customer-service window; outside it Meta answers 131047 (ErrOutsideWindow)
// and only an approved template can be sent: with a Template configured,
// Send then sends it at once (Receipt.Fallback says so).
type WhatsApp struct {
	cfg      WhatsAppConfig
	client   *http.Client
	endpoint string
}

var _ Sender = (*WhatsApp)(nil)

var graphVersion = regexp.MustCompile(`^v\d+\.\d+$`)

// NewWhatsApp checks cfg and returns a sender. It does not contact Meta.
func NewWhatsApp(cfg WhatsAppConfig) (*WhatsApp, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://graph.facebook.com"
	}
	if cfg.Version == "" {
		cfg.Version = "v25.0"
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, invalidf("whatsapp: BaseURL must be an http(s) URL")
	}
	switch {
	case !graphVersion.MatchString(cfg.Version):
		return nil, invalidf("whatsapp: Version must look like v25.0")
	case cfg.PhoneNumberID == "" || strings.Trim(cfg.PhoneNumberID, "0123456789") != "":
		return nil, invalidf("whatsapp: PhoneNumberID must be the numeric phone number ID")
	case cfg.AccessToken == "":
		return nil, invalidf("whatsapp: AccessToken is required")
	case strings.ContainsAny(cfg.Footer, "\r\n"):
		return nil, invalidf("whatsapp: Footer must be one line")
	}
	if cfg.Template != nil {
		t := *cfg.Template
		if err := t.check(); err != nil {
			return nil, err
		}
		cfg.Template = &t // our own copy
	}
	return &WhatsApp{
		cfg:      cfg,
		client:   defaultClient(cfg.Client),
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/" + cfg.Version + "/" + cfg.PhoneNumberID + "/messages",
	}, nil
}

// String redacts the AccessToken.
func (w *WhatsApp) String() string { return "notify.WhatsApp{" + w.cfg.String() + "}" }

// GoString redacts the secret in %#v.
func (w *WhatsApp) GoString() string { return w.String() }

// LogValue redacts the secret in slog output.
func (w *WhatsApp) LogValue() slog.Value { return w.cfg.LogValue() }

// The request body (Cloud API, POST /{version}/{phone-number-id}/messages).
type waText struct {
	Type string `json:"type,omitempty"`
	Text string `json:"text"`
}

type waInteractive struct {
	Type   string  `json:"type"`
	Header *waText `json:"header,omitempty"`
	Body   waText  `json:"body"`
	Action struct {
		Name       string `json:"name"`
		Parameters struct {
			DisplayText string `json:"display_text"`
			URL         string `json:"url"`
		} `json:"parameters"`
	} `json:"action"`
	Footer *waText `json:"footer,omitempty"`
}

type waRequest struct {
	MessagingProduct string         `json:"messaging_product"`
	RecipientType    string         `json:"recipient_type"`
	To               string         `json:"to"`
	Type             string         `json:"type"`
	Interactive      *waInteractive `json:"interactive,omitempty"`
	Template         *waTemplate    `json:"template,omitempty"`
	BizOpaque        string         `json:"biz_opaque_callback_data,omitempty"`
}

// request builds the JSON body Send posts for m: header = Subject
// (≤60, truncated), body = Text (≤1024, refused when longer), button
// display_text = LinkLabel (≤20, truncated), url = Link, footer = the
// configured Footer (≤60, truncated), biz_opaque_callback_data = Ref.
func (w *WhatsApp) request(m Message) (waRequest, error) {
	text := strings.TrimSpace(m.Text)
	if text == "" {
		return waRequest{}, invalidf("whatsapp: Text is required (it is the message body)")
	}
	if n := utf8.RuneCountInString(text); n > WhatsAppMaxBody {
		return waRequest{}, invalidf("whatsapp: Text is %d characters, the limit is %d", n, WhatsAppMaxBody)
	}
	req := waRequest{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               strings.TrimPrefix(m.To, "+"),
		Type:             "interactive",
		Interactive:      &waInteractive{},
		BizOpaque:        m.Ref,
	}
	in := req.Interactive
	in.Type = "cta_url"
	if s := strings.TrimSpace(m.Subject); s != "" {
		in.Header = &waText{Type: "text", Text: truncate(s, WhatsAppMaxHeader)}
	}
	in.Body.Text = text
	in.Action.Name = "cta_url"
	in.Action.Parameters.DisplayText = truncate(m.label(), WhatsAppMaxDisplayText)
	in.Action.Parameters.URL = m.Link
	if f := strings.TrimSpace(w.cfg.Footer); f != "" {
		in.Footer = &waText{Text: truncate(f, WhatsAppMaxFooter)}
	}
	return req, nil
}

// Send posts one interactive cta_url message. The receipt's ProviderID is the
// "wamid.…" message ID and its Status is "queued": sent, delivered and read
// arrive later through the WhatsApp webhook (ParseWhatsAppWebhook).
//
// When WhatsApp refuses the message with 131047 (outside the 24 h window)
// and a Template is configured, Send sends the template at once and returns
// its receipt with Fallback "template" (or the template's error). A message
// with TemplateOnly skips the cta_url message.
func (w *WhatsApp) Send(ctx context.Context, m Message) (Receipt, error) {
	m, err := forChannel(m, ChannelWhatsApp)
	if err != nil {
		return Receipt{Channel: ChannelWhatsApp}, err
	}
	if m.TemplateOnly {
		return w.sendTemplate(ctx, m)
	}
	body, err := w.request(m)
	if err != nil {
		return Receipt{Channel: ChannelWhatsApp}, err
	}
	rec, err := w.post(ctx, body)
	var pe *ProviderError
	if err == nil || !errors.Is(err, ErrOutsideWindow) || !errors.As(err, &pe) {
		return rec, err
	}
	if w.cfg.Template == nil {
		pe.Message += "; no template is configured to fall back to (set sessions.notify.whatsapp.template " +
			"to an approved template with a URL button)"
		return rec, err
	}
	rec, err = w.sendTemplate(ctx, m)
	if errors.As(err, &pe) {
		pe.Message = "the customer is outside the 24-hour window (131047) and the template fallback failed: " + pe.Message
	}
	return rec, err
}

// post sends one request body and reads the message ID.
func (w *WhatsApp) post(ctx context.Context, body waRequest) (Receipt, error) {
	rec := Receipt{Channel: ChannelWhatsApp}
	raw, err := json.Marshal(body)
	if err != nil {
		return rec, invalidf("whatsapp: %v", err)
	}
	req, err := http.NewRequest(http.MethodPost, w.endpoint, bytes.NewReader(raw))
	if err != nil {
		return rec, invalidf("whatsapp: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+w.cfg.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	status, hdr, resp, err := doHTTP(ctx, w.client, ChannelWhatsApp, req)
	if err != nil {
		return rec, err
	}
	if status < 200 || status > 299 {
		return rec, graphError(status, hdr, resp)
	}
	var res struct {
		Messages []struct {
			ID            string `json:"id"`
			MessageStatus string `json:"message_status"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(resp, &res); err != nil || len(res.Messages) == 0 || res.Messages[0].ID == "" {
		return rec, &ProviderError{Channel: ChannelWhatsApp, HTTPStatus: status, Message: "unexpected success response (no messages[0].id)"}
	}
	rec.ProviderID = res.Messages[0].ID
	rec.Status = StatusQueued
	rec.At = time.Now()
	return rec, nil
}

// graphError maps the Graph error envelope
// {"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}.
func graphError(status int, hdr http.Header, raw []byte) *ProviderError {
	pe := &ProviderError{Channel: ChannelWhatsApp, HTTPStatus: status, Retryable: retryableHTTP(status)}
	var env struct {
		Error *struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
			FBTraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Error == nil {
		pe.Message = http.StatusText(status)
		if retryableHTTP(status) {
			pe.RetryAfter = RetryAfter(hdr, time.Now())
		}
		return pe
	}
	e := env.Error
	pe.Code = strconv.Itoa(e.Code)
	msg := e.Message
	if e.ErrorData.Details != "" {
		msg += ": " + e.ErrorData.Details
	}
	switch e.Code {
	case 131047:
		pe.kind = ErrOutsideWindow
		pe.Retryable = false
		msg = "outside the 24-hour customer-service window: the customer has not written in the last 24 hours, " +
			"so WhatsApp accepts only an approved template message (" + msg + ")"
	case 132000:
		pe.kind, pe.Retryable = ErrTemplate, false
		msg = "template parameter count mismatch: the number of body variables or button parameters sent " +
			"differs from the approved template (" + msg + ")"
	case 132001:
		pe.kind, pe.Retryable = ErrTemplate, false
		msg = "template does not exist: no approved template with this name in this language " +
			"(check the name and language code in WhatsApp Manager) (" + msg + ")"
	case 132005, 132007, 132012, 132015, 132016, 132018:
		pe.kind, pe.Retryable = ErrTemplate, false // text too long, policy, parameter format, paused, disabled, parameter text
		msg = "template refused (" + msg + ")"
	case 131026:
		pe.Retryable = false
		msg = "message undeliverable: the number may not be on WhatsApp, may not have accepted the current terms, " +
			"or its client may be too old for this message type (" + msg + ")"
	case 190:
		pe.kind = ErrUnauthorized
		pe.Retryable = false
	case 4, 80007, 130429, 131056:
		pe.kind = ErrRateLimited
		pe.Retryable = true
	case 1, 2, 131016:
		pe.Retryable = true // Graph "unknown"/"service" errors and 131016 "service unavailable" are temporary
	}
	if e.FBTraceID != "" {
		msg += " [fbtrace_id " + e.FBTraceID + "]"
	}
	pe.Message = msg
	if pe.Retryable {
		pe.RetryAfter = RetryAfter(hdr, time.Now())
	}
	return pe
}
