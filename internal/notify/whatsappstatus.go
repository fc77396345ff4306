package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WhatsAppWebhook is what one WhatsApp Cloud API webhook POST said about
// sent messages (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status):
// entry[].changes[].value.statuses[] and value.errors[]. Everything else
// (inbound messages, calls, unknown fields) is ignored.
type WhatsAppWebhook struct {
	Statuses []WhatsAppStatus
	Errors   []WhatsAppError // value.errors[]: problems not tied to one message
}

// WhatsAppStatus is one entry of statuses[].
type WhatsAppStatus struct {
	MessageID     string    // "wamid.…"
	Status        string    // Meta's word: sent, delivered, read, failed, played
	Timestamp     time.Time // zero when absent
	RecipientID   string    // the customer's wa_id (absent for some username-only users)
	PhoneNumberID string    // metadata.phone_number_id: the business number that sent it
	Ref           string    // Message.Ref, echoed in biz_opaque_callback_data
	Template      bool      // the message was a template message sent by this package
	Errors        []WhatsAppError
}

// WhatsAppError is one Graph error object of a webhook.
type WhatsAppError struct {
	Code    int
	Title   string
	Message string
	Details string // error_data.details
}

// Normalized is Status mapped onto the Status* constants.
func (s WhatsAppStatus) Normalized() string { return NormalizeWhatsAppStatus(s.Status) }

// OutsideWindow reports a failed message refused with 131047: the customer
// has not written in the last 24 hours, so only a template can be sent.
func (s WhatsAppStatus) OutsideWindow() bool {
	if s.Normalized() != StatusFailed {
		return false
	}
	for _, e := range s.Errors {
		if e.Code == 131047 {
			return true
		}
	}
	return false
}

// ErrorCode is the first error's code as text ("" without errors).
func (s WhatsAppStatus) ErrorCode() string {
	if len(s.Errors) == 0 {
		return ""
	}
	return strconv.Itoa(s.Errors[0].Code)
}

// ErrorText describes the first error ("" without errors).
func (s WhatsAppStatus) ErrorText() string {
	if len(s.Errors) == 0 {
		return ""
	}
	e := s.Errors[0]
	msg := first(e.Message, e.Title)
	if e.Details != "" {
		msg += ": " + e.Details
	}
	return fmt.Sprintf("code %d: %s", e.Code, msg)
}

// NormalizeWhatsAppStatus maps WhatsApp's status words onto the Status*
// constants: sent, delivered, read (and played, for voice notes), failed.
// Other words are returned lower-cased.
func NormalizeWhatsAppStatus(s string) string {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "sent":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "read", "played":
		return StatusRead
	case "failed":
		return StatusFailed
	}
	return s
}

// WhatsAppSignatureHeader carries the webhook signature.
const WhatsAppSignatureHeader = "X-Hub-Signature-256"

// maxWhatsAppWebhook bounds a webhook body: Meta batches up to 1000 updates.
const maxWhatsAppWebhook = 4 << 20

// WhatsAppSignature is the X-Hub-Signature-256 value for body:
// "sha256=" + lower-case hex of HMAC-SHA256 keyed with the app secret.
func WhatsAppSignature(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWhatsAppSignature checks header (the X-Hub-Signature-256 value)
// against the raw body, in constant time. A missing, malformed or wrong
// signature, or an empty app secret, gives an error wrapping ErrSignature.
func VerifyWhatsAppSignature(appSecret string, body []byte, header string) error {
	if appSecret == "" {
		return fmt.Errorf("%w: whatsapp: no app secret to verify the webhook with", ErrSignature)
	}
	if header == "" {
		return fmt.Errorf("%w: whatsapp: missing %s", ErrSignature, WhatsAppSignatureHeader)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: whatsapp: %s is not sha256=<hex>", ErrSignature, WhatsAppSignatureHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: whatsapp: %s is not sha256=<hex>", ErrSignature, WhatsAppSignatureHeader)
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: whatsapp: %s does not match the body", ErrSignature, WhatsAppSignatureHeader)
	}
	return nil
}

// ParseWhatsAppWebhook reads a webhook POST, verifies its
// X-Hub-Signature-256 with appSecret over the exact bytes received (before
// any parsing) and decodes it. Errors wrap ErrSignature (refuse with 403,
// record nothing) or ErrInvalid (not a webhook body: 400).
func ParseWhatsAppWebhook(r *http.Request, appSecret string) (WhatsAppWebhook, error) {
	if r.Method != http.MethodPost {
		return WhatsAppWebhook{}, fmt.Errorf("%w: whatsapp: a webhook must be a POST", ErrInvalid)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWhatsAppWebhook+1))
	if err != nil {
		return WhatsAppWebhook{}, fmt.Errorf("%w: whatsapp: reading the webhook: %v", ErrInvalid, err)
	}
	if len(body) > maxWhatsAppWebhook {
		return WhatsAppWebhook{}, fmt.Errorf("%w: whatsapp: webhook body larger than %d bytes", ErrInvalid, maxWhatsAppWebhook)
	}
	if err := VerifyWhatsAppSignature(appSecret, body, r.Header.Get(WhatsAppSignatureHeader)); err != nil {
		return WhatsAppWebhook{}, err
	}
	return DecodeWhatsAppWebhook(body)
}

// flexInt accepts a JSON number or a string of digits (Meta sends
// timestamps as strings and codes as numbers; either may change).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	if string(b) == "null" || len(b) == 0 {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		var fl float64
		if ferr := json.Unmarshal(b, &fl); ferr != nil || fl != float64(int64(fl)) {
			return errors.New("not an integer")
		}
		n = int64(fl)
	}
	*f = flexInt(n)
	return nil
}

type waHookError struct {
	Code      flexInt `json:"code"`
	Title     string  `json:"title"`
	Message   string  `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e waHookError) value() WhatsAppError {
	return WhatsAppError{Code: int(e.Code), Title: e.Title, Message: e.Message, Details: e.ErrorData.Details}
}

type waHook struct {
	Entry []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Statuses []struct {
					ID          string        `json:"id"`
					Status      string        `json:"status"`
					Timestamp   flexInt       `json:"timestamp"`
					RecipientID string        `json:"recipient_id"`
					BizOpaque   string        `json:"biz_opaque_callback_data"`
					Errors      []waHookError `json:"errors"`
				} `json:"statuses"`
				Errors []waHookError `json:"errors"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// DecodeWhatsAppWebhook decodes a webhook body (already verified). Unknown
// fields are ignored, and so are statuses without an id or a status;
// malformed JSON gives an error wrapping ErrInvalid.
func DecodeWhatsAppWebhook(body []byte) (WhatsAppWebhook, error) {
	var h waHook
	if err := json.Unmarshal(body, &h); err != nil {
		return WhatsAppWebhook{}, fmt.Errorf("%w: whatsapp: webhook body: %v", ErrInvalid, err)
	}
	var out WhatsAppWebhook
	for _, e := range h.Entry {
		for _, c := range e.Changes {
			if c.Field != "" && c.Field != "messages" {
				continue
			}
			v := c.Value
			for _, s := range v.Statuses {
				if s.ID == "" || s.Status == "" {
					continue
				}
				st := WhatsAppStatus{MessageID: s.ID, Status: s.Status, RecipientID: s.RecipientID,
					PhoneNumberID: v.Metadata.PhoneNumberID}
				if s.Timestamp > 0 {
					st.Timestamp = time.Unix(int64(s.Timestamp), 0).UTC()
				}
				st.Ref, st.Template = strings.CutSuffix(s.BizOpaque, templateMark)
				for _, e := range s.Errors {
					st.Errors = append(st.Errors, e.value())
				}
				out.Statuses = append(out.Statuses, st)
			}
			for _, e := range v.Errors {
				out.Errors = append(out.Errors, e.value())
			}
		}
	}
	return out, nil
}

// maxChallenge bounds the echoed hub.challenge (Meta sends a number).
const maxChallenge = 256

// VerifyWhatsAppSubscription answers Meta's webhook verification request
// (GET <callback>?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…):
// when hub.mode is "subscribe" and hub.verify_token equals verifyToken
// (constant-time; an empty verifyToken never matches) it returns the
// challenge to send back as the 200 response body; otherwise an error
// wrapping ErrSignature (answer 403).
func VerifyWhatsAppSubscription(q url.Values, verifyToken string) (string, error) {
	challenge := q.Get("hub.challenge")
	switch {
	case verifyToken == "":
		return "", fmt.Errorf("%w: whatsapp: no verify token is configured", ErrSignature)
	case q.Get("hub.mode") != "subscribe":
		return "", fmt.Errorf("%w: whatsapp: hub.mode is not subscribe", ErrSignature)
	case subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(verifyToken)) != 1:
		return "", fmt.Errorf("%w: whatsapp: hub.verify_token does not match", ErrSignature)
	case challenge == "" || len(challenge) > maxChallenge:
		return "", fmt.Errorf("%w: whatsapp: hub.challenge missing or too long", ErrSignature)
	}
	return challenge, nil
}
