package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// TwilioConfig configures the SMS sender (Twilio Programmable Messaging,
// https://www.twilio.com/docs/messaging/api/message-resource).
type TwilioConfig struct {
	BaseURL             string // default https://api.twilio.com
	AccountSID          string // "AC" + 32 hex digits
	AuthToken           string // secret
	From                string // E.164 number or alphanumeric sender ID; optional with MessagingServiceSID
	MessagingServiceSID string // "MG" + 32 hex digits; optional with From (both may be set)
	StatusCallback      string // optional absolute URL; Twilio POSTs status changes there
	Client              *http.Client
}

// String redacts the AuthToken.
func (c TwilioConfig) String() string {
	return fmt.Sprintf("TwilioConfig{BaseURL:%q AccountSID:%q AuthToken:%q From:%q MessagingServiceSID:%q StatusCallback:%q}",
		c.BaseURL, c.AccountSID, redact(c.AuthToken), c.From, c.MessagingServiceSID, c.StatusCallback)
}

// GoString redacts the AuthToken in %#v.
func (c TwilioConfig) GoString() string { return c.String() }

// LogValue redacts the AuthToken in slog output.
func (c TwilioConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL), slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", redact(c.AuthToken)), slog.String("from", c.From),
		slog.String("messaging_service_sid", c.MessagingServiceSID), slog.String("status_callback", c.StatusCallback))
}

// Twilio sends SMS through the Twilio Messages API.
type Twilio struct {
	cfg      TwilioConfig
	client   *http.Client
	endpoint string
}

var _ Sender = (*Twilio)(nil)

var (
	twilioAccountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioServiceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// MaxSMSBody is Twilio's limit for Body, in characters (counted here as
// UTF-16 code units, which is never fewer).
const MaxSMSBody = 1600

// NewTwilio checks cfg and returns a sender. It does not contact Twilio.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.twilio.com"
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, invalidf("twilio: BaseURL must be an http(s) URL")
	}
	switch {
	case !twilioAccountSID.MatchString(cfg.AccountSID):
		return nil, invalidf("twilio: AccountSID must be AC followed by 32 hex digits")
	case cfg.AuthToken == "":
		return nil, invalidf("twilio: AuthToken is required")
	case cfg.From == "" && cfg.MessagingServiceSID == "":
		return nil, invalidf("twilio: From or MessagingServiceSID is required")
	case cfg.MessagingServiceSID != "" && !twilioServiceSID.MatchString(cfg.MessagingServiceSID):
		return nil, invalidf("twilio: MessagingServiceSID must be MG followed by 32 hex digits")
	}
	if cfg.StatusCallback != "" {
		if err := checkLink(cfg.StatusCallback); err != nil {
			return nil, invalidf("twilio: StatusCallback: %v", err)
		}
	}
	return &Twilio{
		cfg:      cfg,
		client:   defaultClient(cfg.Client),
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + cfg.AccountSID + "/Messages.json",
	}, nil
}

// String redacts the AuthToken.
func (t *Twilio) String() string { return "notify.Twilio{" + t.cfg.String() + "}" }

// GoString redacts the secret in %#v.
func (t *Twilio) GoString() string { return t.String() }

// LogValue redacts the secret in slog output.
func (t *Twilio) LogValue() slog.Value { return t.cfg.LogValue() }

// SMSBody is the Body Twilio gets for m: Text, then the link on its own line.
func SMSBody(m Message) string { return m.linkText(false) }

// Send creates one outbound Message resource. The receipt's ProviderID is the
// Message SID ("SM…"); its Status is normally "queued" ("accepted" with a
// Messaging Service, reported as queued too).
func (t *Twilio) Send(ctx context.Context, m Message) (Receipt, error) {
	rec := Receipt{Channel: ChannelSMS}
	m, err := forChannel(m, ChannelSMS)
	if err != nil {
		return rec, err
	}
	body := SMSBody(m)
	if n := len(utf16.Encode([]rune(body))); n > MaxSMSBody {
		return rec, invalidf("sms: body is %d characters, Twilio allows %d", n, MaxSMSBody)
	}
	form := url.Values{}
	form.Set("To", m.To)
	if t.cfg.From != "" {
		form.Set("From", t.cfg.From)
	}
	if t.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
	}
	form.Set("Body", body)
	if t.cfg.StatusCallback != "" {
		form.Set("StatusCallback", withRef(t.cfg.StatusCallback, m.Ref))
	}
	req, err := http.NewRequest(http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return rec, invalidf("sms: %v", err)
	}
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	status, hdr, raw, err := doHTTP(ctx, t.client, ChannelSMS, req)
	if err != nil {
		return rec, err
	}
	if status < 200 || status > 299 {
		return rec, twilioError(status, hdr, raw)
	}
	var res struct {
		SID         string `json:"sid"`
		Status      string `json:"status"`
		DateCreated string `json:"date_created"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.SID == "" {
		return rec, &ProviderError{Channel: ChannelSMS, HTTPStatus: status, Message: "unexpected success response (no sid)"}
	}
	rec.ProviderID = res.SID
	rec.Status = NormalizeTwilioStatus(res.Status)
	rec.At = time.Now()
	if at, err := time.Parse(time.RFC1123Z, res.DateCreated); err == nil {
		rec.At = at
	}
	return rec, nil
}

// RefParam is the query parameter that carries Message.Ref on the
// StatusCallback URL (so it is covered by Twilio's signature).
const RefParam = "ref"

func withRef(callback, ref string) string {
	if ref == "" {
		return callback
	}
	u, err := url.Parse(callback)
	if err != nil {
		return callback
	}
	q := u.Query()
	q.Set(RefParam, ref)
	u.RawQuery = q.Encode()
	return u.String()
}

// twilioError maps Twilio's error JSON ({"code","message","more_info","status"}).
func twilioError(status int, hdr http.Header, raw []byte) *ProviderError {
	pe := &ProviderError{Channel: ChannelSMS, HTTPStatus: status, Retryable: retryableHTTP(status)}
	var e struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if err := json.Unmarshal(raw, &e); err == nil && (e.Code != 0 || e.Message != "") {
		if e.Code != 0 {
			pe.Code = strconv.Itoa(e.Code)
		}
		pe.Message = e.Message
		if e.MoreInfo != "" {
			pe.Message += " (" + e.MoreInfo + ")"
		}
	} else {
		pe.Message = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized || e.Code == 20003:
		pe.kind = ErrUnauthorized
		pe.Retryable = false
	case status == http.StatusTooManyRequests || e.Code == 20429:
		pe.kind = ErrRateLimited
		pe.Retryable = true
	}
	if pe.Retryable {
		pe.RetryAfter = RetryAfter(hdr, time.Now())
	}
	return pe
}

// NormalizeTwilioStatus maps Twilio's MessageStatus vocabulary onto the
// Status* constants: queued, accepted, scheduled and sending → queued; sent →
// sent; delivered → delivered; read → read; failed, undelivered and canceled
// → failed; partially_delivered → sent. Unknown words pass through in lower case.
func NormalizeTwilioStatus(s string) string {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "queued", "accepted", "scheduled", "sending":
		return StatusQueued
	case "sent", "partially_delivered":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "read":
		return StatusRead
	case "failed", "undelivered", "canceled":
		return StatusFailed
	}
	return s
}
