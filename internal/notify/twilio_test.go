package notify_test

import (
	"context"
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

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func smsMsg() notify.Message {
	return notify.Message{Channel: notify.ChannelSMS, To: "+34600111222", Text: "Your agent is ready. Join:", Link: link, Ref: "ses_42"}
}

func newTwilio(t *testing.T, cfg notify.TwilioConfig) *notify.Twilio {
	t.Helper()
	c, err := notify.NewTwilio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func providerError(t *testing.T, err error) *notify.ProviderError {
	t.Helper()
	var pe *notify.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("want a *ProviderError, got %T %v", err, err)
	}
	return pe
}

func TestTwilioSend(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	cfg := fake.Config()
	cfg.StatusCallback = "https://hub.example/webhooks/twilio?x=1"
	tw := newTwilio(t, cfg)
	r, err := tw.Send(ctxT(t), smsMsg())
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 {
		t.Fatalf("fake got %d messages", len(got))
	}
	m := got[0]
	if m.To != "+34600111222" || m.From != fake.From || m.MessagingServiceSID != "" {
		t.Errorf("wire To/From = %q/%q/%q", m.To, m.From, m.MessagingServiceSID)
	}
	if m.Body != "Your agent is ready. Join:\n"+link {
		t.Errorf("Body = %q", m.Body)
	}
	if m.StatusCallback != "https://hub.example/webhooks/twilio?ref=ses_42&x=1" {
		t.Errorf("StatusCallback = %q", m.StatusCallback)
	}
	if fake.LastLink() != link {
		t.Errorf("LastLink = %q", fake.LastLink())
	}
	if r.Channel != notify.ChannelSMS || r.ProviderID != m.SID || !strings.HasPrefix(r.ProviderID, "SM") ||
		r.Status != notify.StatusQueued || time.Since(r.At) > time.Minute {
		t.Errorf("receipt = %+v", r)
	}
}

func TestTwilioMessagingService(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	for _, from := range []string{"", fake.From} { // Twilio accepts the service alone or with From
		cfg := fake.Config()
		cfg.From, cfg.MessagingServiceSID = from, fake.MessagingServiceSID
		r, err := newTwilio(t, cfg).Send(ctxT(t), smsMsg())
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != notify.StatusQueued { // Twilio says "accepted"
			t.Errorf("status = %q", r.Status)
		}
	}
	ms := fake.Messages()
	if len(ms) != 2 || ms[0].MessagingServiceSID != fake.MessagingServiceSID || ms[0].From != "" || ms[1].From != fake.From || ms[0].Status != "accepted" {
		t.Errorf("wire = %+v", ms)
	}
}

func TestTwilioValidation(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	tw := newTwilio(t, fake.Config())
	for name, mod := range map[string]func(*notify.Message){
		"not E.164":     func(m *notify.Message) { m.To = "600111222" },
		"no link":       func(m *notify.Message) { m.Link = "" },
		"ftp link":      func(m *notify.Message) { m.Link = "ftp://x.example/j" },
		"body too long": func(m *notify.Message) { m.Text = strings.Repeat("€", notify.MaxSMSBody) },
		"other channel": func(m *notify.Message) { m.Channel = notify.ChannelWhatsApp },
	} {
		m := smsMsg()
		mod(&m)
		if _, err := tw.Send(ctxT(t), m); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := fake.Requests(); n != 0 {
		t.Errorf("invalid messages reached Twilio: %d requests", n)
	}
	m := smsMsg()
	m.Channel = ""
	m.Text = strings.Repeat("x", notify.MaxSMSBody-len(link)-1) // exactly 1600 with the newline and link
	if _, err := tw.Send(ctxT(t), m); err != nil {
		t.Errorf("1600-character body: %v", err)
	}
}

func TestTwilioErrors(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	tw := newTwilio(t, fake.Config())

	m := smsMsg()
	m.To = "+15005550001" // Twilio's documented "invalid number" test number
	_, err := tw.Send(ctxT(t), m)
	pe := providerError(t, err)
	if pe.Code != "21211" || pe.HTTPStatus != 400 || pe.Retryable || pe.Channel != notify.ChannelSMS ||
		!strings.Contains(pe.Message, "not a valid phone number") || notify.Retryable(err) {
		t.Errorf("21211 = %+v", pe)
	}

	fake.FailNext(1, 429, 20429, "Too Many Requests")
	_, err = tw.Send(ctxT(t), smsMsg())
	pe = providerError(t, err)
	if !pe.Retryable || pe.HTTPStatus != 429 || pe.Code != "20429" || pe.RetryAfter != time.Second || !errors.Is(err, notify.ErrRateLimited) {
		t.Errorf("429 = %+v", pe)
	}

	fake.FailNext(1, 503, 20503, "Service Unavailable")
	_, err = tw.Send(ctxT(t), smsMsg())
	if pe = providerError(t, err); !pe.Retryable || pe.HTTPStatus != 503 {
		t.Errorf("503 = %+v", pe)
	}

	cfg := fake.Config()
	cfg.AuthToken = "wrong-token-value"
	_, err = newTwilio(t, cfg).Send(ctxT(t), smsMsg())
	pe = providerError(t, err)
	if pe.Retryable || pe.HTTPStatus != 401 || pe.Code != "20003" || !errors.Is(err, notify.ErrUnauthorized) {
		t.Errorf("401 = %+v", pe)
	}
	if strings.Contains(err.Error(), "wrong-token-value") {
		t.Errorf("error leaks the token: %v", err)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	cfg = fake.Config()
	cfg.BaseURL = srv.URL
	_, err = newTwilio(t, cfg).Send(ctxT(t), smsMsg())
	if pe = providerError(t, err); !pe.Retryable || pe.HTTPStatus != 0 || strings.Contains(err.Error(), fake.AuthToken) {
		t.Errorf("transport error = %+v", pe)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tw.Send(ctx, smsMsg()); !errors.Is(err, context.Canceled) || notify.Retryable(err) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

// The hub's status-callback handler, fed by the fake's signed callbacks.
func TestTwilioStatusCallback(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	got := make(chan notify.TwilioStatus, 4)
	var hub *httptest.Server
	hub = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := notify.ParseTwilioStatus(r, fake.AuthToken, hub.URL+r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		got <- st
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hub.Close)

	cfg := fake.Config()
	cfg.StatusCallback = hub.URL + "/webhooks/twilio/status"
	r, err := newTwilio(t, cfg).Send(ctxT(t), smsMsg())
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.SendStatus(ctxT(t), r.ProviderID, "delivered", ""); err != nil {
		t.Fatal(err)
	}
	st := <-got
	if st.MessageSid != r.ProviderID || st.MessageStatus != "delivered" || st.Status != notify.StatusDelivered ||
		st.Ref != "ses_42" || st.To != "+34600111222" || st.AccountSid != fake.AccountSID || st.ErrorCode != "" {
		t.Errorf("status = %+v", st)
	}
	if err := fake.SendStatus(ctxT(t), r.ProviderID, "undelivered", "30003"); err != nil {
		t.Fatal(err)
	}
	if st = <-got; st.Status != notify.StatusFailed || st.ErrorCode != "30003" {
		t.Errorf("status = %+v", st)
	}
	if fake.Messages()[0].Status != "undelivered" {
		t.Errorf("fake did not record the status")
	}
}

func TestParseTwilioStatusSignature(t *testing.T) {
	const token = "12345"
	fullURL := "https://hub.example/webhooks/twilio?ref=ses_1"
	form := url.Values{
		"MessageSid": {"SM0123"}, "MessageStatus": {"sent"}, "To": {"+34600111222"},
		"AccountSid": {"AC0123"}, "SmsSid": {"SM0123"}, "SmsStatus": {"sent"}, "ApiVersion": {"2010-04-01"},
	}
	req := func(f url.Values, sig string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/twilio?ref=ses_1", strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			r.Header.Set("X-Twilio-Signature", sig)
		}
		return r
	}
	good := notifytest.TwilioSignature(token, fullURL, form)
	st, err := notify.ParseTwilioStatus(req(form, good), token, fullURL)
	if err != nil || st.MessageSid != "SM0123" || st.Status != notify.StatusSent || st.Ref != "ses_1" {
		t.Fatalf("valid: %+v %v", st, err)
	}
	// Twilio's SDKs accept a signature made with or without the default port.
	withPort := "https://hub.example:443/webhooks/twilio?ref=ses_1"
	if _, err := notify.ParseTwilioStatus(req(form, notifytest.TwilioSignature(token, withPort, form)), token, fullURL); err != nil {
		t.Errorf("signature over the URL with :443: %v", err)
	}
	tampered := url.Values{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered.Set("MessageStatus", "delivered")
	for name, r := range map[string]*http.Request{
		"tampered param": req(tampered, good),
		"added param": req(func() url.Values {
			f := url.Values{"ErrorCode": {"1"}}
			for k, v := range form {
				f[k] = v
			}
			return f
		}(), good),
		"wrong token":    req(form, notifytest.TwilioSignature("54321", fullURL, form)),
		"other URL":      req(form, notifytest.TwilioSignature(token, "https://evil.example/webhooks/twilio?ref=ses_1", form)),
		"missing header": req(form, ""),
		"garbage":        req(form, "bm90IGEgc2lnbmF0dXJl"),
	} {
		if _, err := notify.ParseTwilioStatus(r, token, fullURL); !errors.Is(err, notify.ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
	get := httptest.NewRequest(http.MethodGet, fullURL, nil)
	get.Header.Set("X-Twilio-Signature", good)
	if _, err := notify.ParseTwilioStatus(get, token, fullURL); !errors.Is(err, notify.ErrSignature) {
		t.Errorf("GET: %v", err)
	}
}

// The signature algorithm against the vector in Twilio's own SDK tests
// (twilio-go client/request_validator_test.go).
func TestTwilioSignatureVector(t *testing.T) {
	form := url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"},
	}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	for name, got := range map[string]string{
		"notify":     notify.TwilioSignature("12345", u, form),
		"notifytest": notifytest.TwilioSignature("12345", u, form),
	} {
		if got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
			t.Errorf("%s.TwilioSignature = %q", name, got)
		}
	}
	if got := notify.TwilioSignature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", form); got != "kvajT1Ptam85bY51eRf/AJRuM3w=" {
		t.Errorf("with :443 = %q", got)
	}
}
