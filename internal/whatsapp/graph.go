package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify"
)

// Graph request limits.
const (
	graphTimeout     = 15 * time.Second // one Graph request (an accept must land within Meta's ring window)
	maxGraphResponse = 1 << 20
	userAgent        = "split-whatsapp/1"
)

// Client is the Graph API client of one business number (messages, calls,
// call permissions, settings). It is safe for concurrent use.
type Client struct {
	base   string // https://graph.facebook.com/v25.0/<pnid>
	token  string
	number config.WhatsAppNumber
	http   *http.Client
}

// NewClient returns the Graph client of number n under w's base URL and
// version (defaults applied). hc nil: a client with a 15 s timeout.
func NewClient(w config.WhatsApp, n config.WhatsAppNumber, hc *http.Client) (*Client, error) {
	w = w.WithDefaults()
	u, err := url.Parse(w.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalidf("base URL must be an http(s) URL")
	}
	if n.PhoneNumberID == "" || strings.Trim(n.PhoneNumberID, "0123456789") != "" {
		return nil, invalidf("phone_number_id must be Meta's numeric id, not %q", n.PhoneNumberID)
	}
	if n.AccessToken == "" {
		return nil, invalidf("number %s has no access token", n.PhoneNumberID)
	}
	if hc == nil {
		hc = &http.Client{Timeout: graphTimeout}
	}
	return &Client{base: strings.TrimRight(w.BaseURL, "/") + "/" + w.Version + "/" + n.PhoneNumberID,
		token: n.AccessToken, number: n, http: hc}, nil
}

// String names the number without the token.
func (c *Client) String() string { return "whatsapp.Client{" + c.number.PhoneNumberID + "}" }

// do sends one Graph request (body JSON-encoded unless nil) and decodes a
// 2xx response into out (unless nil). Anything else is a *GraphError.
func (c *Client) do(ctx context.Context, method, edge string, query url.Values, body, out any) error {
	u := c.base + "/" + edge
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return invalidf("%v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return invalidf("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("whatsapp: %s %s: %w", method, edge, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			err = ue.Err // without the URL
		}
		return &GraphError{Message: "transport: " + err.Error(), Retryable: true}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphResponse))
	if err != nil {
		return &GraphError{HTTPStatus: resp.StatusCode, Message: "reading the response: " + err.Error(), Retryable: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return graphError(resp.StatusCode, resp.Header, raw, time.Now())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &GraphError{HTTPStatus: resp.StatusCode, Message: "unexpected success response: " + err.Error()}
	}
	return nil
}

// graphError decodes Meta's error envelope.
func graphError(status int, hdr http.Header, raw []byte, now time.Time) *GraphError {
	ge := &GraphError{HTTPStatus: status, Retryable: status == http.StatusTooManyRequests || status >= 500}
	var env struct {
		Error *struct {
			Message   string          `json:"message"`
			Type      string          `json:"type"`
			Code      int             `json:"code"`
			Subcode   int             `json:"error_subcode"`
			ErrorData json.RawMessage `json:"error_data"`
			FBTraceID string          `json:"fbtrace_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Error == nil {
		ge.Message = http.StatusText(status)
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			ge.kind = ErrUnauthorized
			ge.Message += ": check the number's access_token"
		}
	} else {
		e := env.Error
		ge.Code, ge.Subcode, ge.Type, ge.Title, ge.FBTraceID = e.Code, e.Subcode, e.Type, e.Message, e.FBTraceID
		ge.Details, ge.NextAllowed = errorData(e.ErrorData)
		explain(ge)
	}
	if ge.Retryable {
		ge.RetryAfter = notify.RetryAfter(hdr, now)
	}
	return ge
}

// errorData reads error_data: {"details": "..."} usually; 138012 may carry
// the next allowed time under a key Meta does not document exactly, so any
// Unix-seconds number in it named like "*time*" is taken.
func errorData(raw json.RawMessage) (string, time.Time) {
	if len(raw) == 0 {
		return "", time.Time{}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, time.Time{}
		}
		return "", time.Time{}
	}
	details, _ := m["details"].(string)
	var next time.Time
	for k, v := range m {
		if !strings.Contains(strings.ToLower(k), "time") {
			continue
		}
		var secs int64
		switch x := v.(type) {
		case float64:
			secs = int64(x)
		case string:
			secs, _ = strconv.ParseInt(x, 10, 64)
		}
		if secs > 1e9 && secs < 1e11 {
			next = time.Unix(secs, 0).UTC()
		}
	}
	return details, next
}

// explain maps the codes of the Calling and messaging APIs (research §3.6, §8).
func explain(ge *GraphError) {
	title := ge.Title
	if ge.Details != "" {
		title += ": " + ge.Details
	}
	msg := ""
	switch ge.Code {
	case 138006:
		ge.kind = ErrNoPermission
		msg = "the user has not given this business permission to call them: send a call-permission request and wait for the grant"
	case 138009:
		ge.kind = ErrPermissionRequestLimit
		msg = "call-permission request limit reached for this user (1 per 24 h, 2 per 7 days; a connected call resets it)"
	case 138012:
		ge.kind = ErrCallLimit
		msg = "limit of connected business-initiated calls to this user in 24 h reached"
		if !ge.NextAllowed.IsZero() {
			msg += "; next allowed at " + ge.NextAllowed.Format(time.RFC3339)
		}
	case 138002:
		ge.kind, ge.Retryable = ErrCallRateLimit, true
		msg = "concurrent-call limit of the business number reached"
	case 138005, 130429, 4, 80007:
		ge.kind, ge.Retryable = ErrCallRateLimit, true
		msg = "call or message rate limit reached: slow down"
	case 138003:
		ge.kind = ErrDuplicateCall
		msg = "a call with this user is already ongoing"
	case 131055:
		ge.kind = ErrSIPEnabled
		msg = "the number is SIP-enabled: Meta refuses Graph call actions (set signalling: sip for this number, or disable SIP in its calling settings)"
	case 138000:
		ge.kind = ErrCallingDisabled
		msg = "calling is not enabled on this number (split whatsapp settings --push enables it)"
	case 138013:
		ge.kind = ErrCallingDisabled
		msg = "business-initiated calls are not available for this business number's country"
	case 138014:
		ge.kind = ErrCallingDisabled
		msg = "calling is temporarily disabled on this number (quality enforcement)"
	case 138001:
		msg = "the user cannot be called (not on a supported WhatsApp client)"
	case 138007:
		msg = "connect timeout: the SDP was not applied in time"
	case 131047:
		ge.kind = ErrOutsideWindow
		msg = "outside the 24-hour customer-service window: only an approved template can be sent"
	case 131026:
		msg = "message undeliverable (not on WhatsApp, terms not accepted, or a client too old for this message type)"
	case 131009:
		msg = "interactive voice_call messages are not supported for this sender"
	case 100:
		msg = "invalid parameter (for calls: the SDP was refused)"
	case 190:
		ge.kind = ErrUnauthorized
		msg = "the access token is invalid or expired"
	case 1, 2, 131016, 138004:
		ge.Retryable = true
		msg = "temporary Meta service error"
	}
	switch {
	case msg == "":
		ge.Message = title
	case title != "":
		ge.Message = msg + " (" + title + ")"
	default:
		ge.Message = msg
	}
}
