package notify

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeWhatsAppWebhook: decoding never panics and fails only with
// ErrInvalid; what it accepts has an id and a status for every message; the
// signature of any body verifies and stops verifying when one byte is added;
// ParseWhatsAppWebhook on a signed request agrees with the decoder (corpus in
// testdata/fuzz/FuzzDecodeWhatsAppWebhook).
func FuzzDecodeWhatsAppWebhook(f *testing.F) {
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.A","status":"failed","timestamp":"1751142888","recipient_id":"16505551234","biz_opaque_callback_data":"ses_1.ab|tpl","errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}`))
	f.Add([]byte(`{"entry":[{"changes":[{"value":{"errors":[{"code":"131000"}],"statuses":[{"id":"w","status":"read","timestamp":12}]}}]}]}`))
	const secret = "fuzz-secret"
	f.Fuzz(func(t *testing.T, data []byte) {
		wh, err := DecodeWhatsAppWebhook(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
		} else {
			for _, s := range wh.Statuses {
				if s.MessageID == "" || s.Status == "" {
					t.Fatalf("accepted a status without id or status: %+v", s)
				}
				if n := s.Normalized(); n != strings.ToLower(strings.TrimSpace(s.Status)) && n != StatusRead {
					t.Fatalf("Normalized(%q) = %q", s.Status, n)
				}
				if s.OutsideWindow() && s.Normalized() != StatusFailed {
					t.Fatalf("OutsideWindow on a %q status", s.Status)
				}
			}
		}
		sig := WhatsAppSignature(secret, data)
		if err := VerifyWhatsAppSignature(secret, data, sig); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		if err := VerifyWhatsAppSignature(secret, append(bytes.Clone(data), 'x'), sig); !errors.Is(err, ErrSignature) {
			t.Fatalf("signature of another body accepted: %v", err)
		}
		r := httptest.NewRequest(http.MethodPost, "/v1/notify/whatsapp", bytes.NewReader(data))
		r.Header.Set(WhatsAppSignatureHeader, sig)
		pwh, perr := ParseWhatsAppWebhook(r, secret)
		if (perr == nil) != (err == nil) || (err == nil && !reflect.DeepEqual(pwh, wh)) {
			t.Fatalf("ParseWhatsAppWebhook = %+v, %v; DecodeWhatsAppWebhook = %+v, %v", pwh, perr, wh, err)
		}
	})
}
