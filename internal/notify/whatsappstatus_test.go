package notify_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
)

// statusHook is the status webhook of research whatsapp.md §2.5, with our
// Ref, plus fields this package does not know.
const statusHook = `{
  "object": "whatsapp_business_account",
  "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
    "messaging_product": "whatsapp",
    "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
    "statuses": [{
      "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
      "status": "failed",
      "timestamp": "1751142888",
      "recipient_id": "16505551234",
      "biz_opaque_callback_data": "ses_1.0123abcd",
      "recipient_user_id": "US.13491208655302741918",
      "errors": [{
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": { "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number." },
        "href": "/documentation/business-messaging/whatsapp/support/error-codes"
      }]
    }, {
      "id": "wamid.TPL", "status": "delivered", "timestamp": 1751142890, "recipient_id": "16505551234",
      "biz_opaque_callback_data": "ses_1.0123abcd|tpl",
      "pricing": { "billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility" }
    }, { "status": "sent" }],
    "errors": [{ "code": 131000, "title": "Something went wrong" }]
  }}, { "field": "calls", "value": { "statuses": [{ "id": "wacid.X", "status": "RINGING" }] } }]}]
}`

func TestDecodeWhatsAppWebhook(t *testing.T) {
	wh, err := notify.DecodeWhatsAppWebhook([]byte(statusHook))
	if err != nil {
		t.Fatal(err)
	}
	if len(wh.Statuses) != 2 || len(wh.Errors) != 1 || wh.Errors[0].Code != 131000 {
		t.Fatalf("decoded %+v", wh)
	}
	f, d := wh.Statuses[0], wh.Statuses[1]
	if f.MessageID != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA" || f.Normalized() != notify.StatusFailed || !f.OutsideWindow() ||
		f.Ref != "ses_1.0123abcd" || f.Template || f.RecipientID != "16505551234" || f.PhoneNumberID != "106540352242922" ||
		!f.Timestamp.Equal(time.Unix(1751142888, 0)) || f.ErrorCode() != "131047" || !strings.Contains(f.ErrorText(), "24 hours") {
		t.Errorf("failed status = %+v", f)
	}
	if d.MessageID != "wamid.TPL" || d.Normalized() != notify.StatusDelivered || d.OutsideWindow() || d.Ref != "ses_1.0123abcd" || !d.Template ||
		!d.Timestamp.Equal(time.Unix(1751142890, 0)) || d.ErrorCode() != "" || d.ErrorText() != "" {
		t.Errorf("delivered status = %+v", d)
	}
	for in, want := range map[string]string{"sent": "sent", "DELIVERED": "delivered", "read": "read", "played": "read", "failed": "failed", "deleted": "deleted"} {
		if got := notify.NormalizeWhatsAppStatus(in); got != want {
			t.Errorf("NormalizeWhatsAppStatus(%q) = %q", in, got)
		}
	}
	for _, bad := range []string{"", "{", `{"entry":{}}`, `{"entry":[{"changes":[{"value":{"statuses":[{"id":"x","status":"sent","timestamp":"soon"}]}}]}]}`} {
		if _, err := notify.DecodeWhatsAppWebhook([]byte(bad)); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
	// A failed template is not "outside the window" for the fallback's purpose
	// only because the hub checks Template; OutsideWindow itself is about 131047.
	wh, _ = notify.DecodeWhatsAppWebhook([]byte(`{"entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"failed","errors":[{"code":"131047"}],"biz_opaque_callback_data":"a.b|tpl"}]}}]}]}`))
	if len(wh.Statuses) != 1 || !wh.Statuses[0].OutsideWindow() || !wh.Statuses[0].Template {
		t.Errorf("code as a string: %+v", wh)
	}
}

func TestWhatsAppSignature(t *testing.T) {
	body := []byte(statusHook)
	const secret = "app-secret-123"
	sig := notify.WhatsAppSignature(secret, body)
	if sig != notifytest.WhatsAppWebhookSignature(secret, body) || !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
		t.Fatalf("signature %q differs from the fake's", sig)
	}
	if err := notify.VerifyWhatsAppSignature(secret, body, sig); err != nil {
		t.Fatal(err)
	}
	if err := notify.VerifyWhatsAppSignature(secret, body, "sha256="+strings.ToUpper(sig[7:])); err != nil {
		t.Errorf("upper-case hex: %v", err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = ' '
	for name, c := range map[string]struct {
		secret string
		body   []byte
		header string
	}{
		"missing":       {secret, body, ""},
		"wrong secret":  {"verify-token-by-mistake", body, sig},
		"no secret":     {"", body, sig},
		"tampered body": {secret, tampered, sig},
		"sha1":          {secret, body, "sha1=" + sig[7:47]},
		"not hex":       {secret, body, "sha256=" + strings.Repeat("z", 64)},
		"short":         {secret, body, sig[:len(sig)-2]},
	} {
		if err := notify.VerifyWhatsAppSignature(c.secret, c.body, c.header); !errors.Is(err, notify.ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

func TestParseWhatsAppWebhook(t *testing.T) {
	const secret = "s3cret"
	req := func(body, sig string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/notify/whatsapp", strings.NewReader(body))
		if sig != "" {
			r.Header.Set("X-Hub-Signature-256", sig)
		}
		return r
	}
	wh, err := notify.ParseWhatsAppWebhook(req(statusHook, notify.WhatsAppSignature(secret, []byte(statusHook))), secret)
	if err != nil || len(wh.Statuses) != 2 {
		t.Fatalf("%+v %v", wh, err)
	}
	if _, err := notify.ParseWhatsAppWebhook(req(statusHook, ""), secret); !errors.Is(err, notify.ErrSignature) {
		t.Errorf("unsigned: %v", err)
	}
	// The signature is checked before the body is parsed.
	if _, err := notify.ParseWhatsAppWebhook(req("{not json", "sha256="+strings.Repeat("0", 64)), secret); !errors.Is(err, notify.ErrSignature) {
		t.Errorf("badly signed garbage: %v", err)
	}
	if _, err := notify.ParseWhatsAppWebhook(req("{not json", notify.WhatsAppSignature(secret, []byte("{not json"))), secret); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("signed garbage: %v", err)
	}
	big := strings.Repeat(" ", 4<<20+1)
	if _, err := notify.ParseWhatsAppWebhook(req(big, notify.WhatsAppSignature(secret, []byte(big))), secret); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("oversized: %v", err)
	}
	get := httptest.NewRequest(http.MethodGet, "/v1/notify/whatsapp", nil)
	if _, err := notify.ParseWhatsAppWebhook(get, secret); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("GET: %v", err)
	}
}

func TestVerifyWhatsAppSubscription(t *testing.T) {
	q := func(mode, token, challenge string) url.Values {
		return url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
	}
	if ch, err := notify.VerifyWhatsAppSubscription(q("subscribe", "tok", "1158201444"), "tok"); err != nil || ch != "1158201444" {
		t.Fatalf("%q %v", ch, err)
	}
	for name, c := range map[string]struct {
		v     url.Values
		token string
	}{
		"wrong token":     {q("subscribe", "tok2", "1"), "tok"},
		"prefix of token": {q("subscribe", "to", "1"), "tok"},
		"mode":            {q("unsubscribe", "tok", "1"), "tok"},
		"no challenge":    {q("subscribe", "tok", ""), "tok"},
		"long challenge":  {q("subscribe", "tok", strings.Repeat("1", 257)), "tok"},
		"none configured": {q("subscribe", "", "1"), ""},
		"empty query":     {url.Values{}, "tok"},
	} {
		if _, err := notify.VerifyWhatsAppSubscription(c.v, c.token); !errors.Is(err, notify.ErrSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
