package sessions

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/testutil"
)

const (
	waCustomer    = "+34600777888"
	waVerifyToken = "verify-token-for-tests"
)

// startWhatsAppHub runs a hub whose WhatsApp sender talks to fake (with the
// template "video_link" when withTemplate) and subscribes the fake to the
// hub's webhook through Meta's verification GET.
func startWhatsAppHub(ctx context.Context, t *testing.T, base int, fake *notifytest.WhatsAppFake, withTemplate bool) (*testutil.Hub, api) {
	t.Helper()
	cfg := hubConfig(t, base, t.TempDir())
	wc := fake.Config()
	cfg.Sessions.Notify.WhatsApp = &config.WhatsAppConfig{BaseURL: wc.BaseURL, Version: wc.Version, PhoneNumberID: wc.PhoneNumberID,
		AccessToken: wc.AccessToken, AppSecret: fake.AppSecret, VerifyToken: waVerifyToken}
	if withTemplate {
		links := "http://" + cfg.HTTP.Listen + "/j/"
		fake.ApproveTemplate(notifytest.WhatsAppTemplate{Name: "video_link", Language: "en_US", BodyParams: 1, URL: links + "{{1}}"})
		cfg.Sessions.Notify.WhatsApp.Template = &config.WhatsAppTemplate{Name: "video_link", Language: "en_US", URLBase: links, BodyParams: 1}
	}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("hub stop: %v", err)
		}
	})
	if err := fake.Subscribe(ctx, h.URL+"/v1/notify/whatsapp", "not-the-token"); err == nil {
		t.Fatal("the hub verified a subscription with a wrong verify token")
	}
	if err := fake.Subscribe(ctx, h.URL+"/v1/notify/whatsapp", waVerifyToken); err != nil {
		t.Fatal(err)
	}
	return h, api{t, h.URL}
}

// deliveries returns the data of session sid's link.delivery events.
func deliveries(t *testing.T, a api, sid string) []map[string]any {
	t.Helper()
	code, out := a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	if code != 200 {
		t.Fatalf("events: %d %v", code, out)
	}
	var list []map[string]any
	evs, _ := out["events"].([]any)
	for _, e := range evs {
		if m, _ := e.(map[string]any); m["type"] == "link.delivery" {
			d, _ := m["data"].(map[string]any)
			list = append(list, d)
		}
	}
	return list
}

// hasDelivery reports whether one event has every key/value of want.
func hasDelivery(list []map[string]any, want map[string]any) bool {
	for _, d := range list {
		ok := true
		for k, v := range want {
			if d[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// whatsappLink returns the join link the hub stored for session sid's
// WhatsApp delivery.
func whatsappLink(ctx context.Context, t *testing.T, h *testutil.Hub, sid string) store.JoinLink {
	t.Helper()
	db, err := store.Open(ctx, h.Cfg.StoreDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	links, err := db.JoinLinks(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Channel == "whatsapp" {
			return l
		}
	}
	t.Fatalf("session %s has no WhatsApp link (%d links)", sid, len(links))
	return store.JoinLink{}
}

// postHook POSTs a webhook body with the given X-Hub-Signature-256.
func postHook(t *testing.T, h *testutil.Hub, body []byte, sig string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/v1/notify/whatsapp", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if res.StatusCode != http.StatusOK { // errors are JSON; a 200 has no body
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatalf("webhook answer %s is not JSON: %v", res.Status, err)
		}
	}
	return res.StatusCode, out
}

func newWhatsAppLink(t *testing.T, a api) (sid, url string) {
	t.Helper()
	code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("session: %d %v", code, s)
	}
	sid = s["id"].(string)
	code, lk := a.do("POST", "/v1/sessions/"+sid+"/links", map[string]any{"channel": "whatsapp", "to": waCustomer})
	if code != 201 || lk["delivery"] != "queued" {
		t.Fatalf("whatsapp link: %d %v", code, lk)
	}
	return sid, lk["url"].(string)
}

// TestWhatsAppWindowSyncFallback: the customer has not written for more than
// 24 h, Meta refuses the cta_url message at once (HTTP 400, 131047), the hub
// sends the approved template in the same attempt; its URL button opens the
// same join link; the template's later statuses arrive through the signed
// webhook; badly signed webhooks are refused and change nothing.
func TestWhatsAppWindowSyncFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := notifytest.StartWhatsApp(t)
	fake.Inbound(waCustomer, time.Now().Add(-25*time.Hour))
	h, a := startWhatsAppHub(ctx, t, 23100, fake, true)
	sid, url := newWhatsAppLink(t, a)

	msgs, err := fake.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tpl := msgs[0]
	if tpl.Type != "template" || tpl.TemplateName != "video_link" || tpl.TemplateLanguage != "en_US" || tpl.To != "34600777888" ||
		len(tpl.BodyParams) != 1 || tpl.BodyParams[0] != "Ana" {
		t.Fatalf("sent %+v", tpl)
	}
	if fake.Requests() != 2 {
		t.Errorf("Graph requests = %d, want 2 (the refused cta_url, then the template)", fake.Requests())
	}
	// The button's URL (approved prefix + parameter) is the join link, and it works.
	if tpl.URL != url || !strings.HasSuffix(url, "/j/"+tpl.ButtonParam) {
		t.Fatalf("template button opens %q (parameter %q), want %q", tpl.URL, tpl.ButtonParam, url)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(tpl.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/customer.html#join="+tpl.ButtonParam {
		t.Fatalf("GET %s: %s Location %q", tpl.URL, res.Status, res.Header.Get("Location"))
	}
	if code, out := join(t, a, tpl.ButtonParam, map[string]any{"dry_run": true}); code != 200 {
		t.Fatalf("the template's link does not join: %d %v", code, out)
	}

	waitUntil(t, 5*time.Second, "the template delivery in the history", func() bool {
		return hasDelivery(deliveries(t, a, sid), map[string]any{"status": "queued", "fallback": "template", "provider_id": tpl.ID})
	})
	if l := whatsappLink(ctx, t, h, sid); l.DeliveryID != tpl.ID || l.DeliveryStatus != "queued" {
		t.Fatalf("link delivery %q %q, want the template's %s queued", l.DeliveryID, l.DeliveryStatus, tpl.ID)
	}

	// (c) Badly signed webhooks: 403, nothing recorded.
	read, err := fake.StatusPayload(tpl.ID, "read")
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Replace(string(read), `"read"`, `"failed"`, 1))
	for name, c := range map[string]struct {
		body []byte
		sig  string
	}{
		"no signature":   {read, ""},
		"wrong secret":   {read, notifytest.WhatsAppWebhookSignature("not-the-app-secret", read)},
		"verify token":   {read, notifytest.WhatsAppWebhookSignature(waVerifyToken, read)},
		"tampered body":  {tampered, notifytest.WhatsAppWebhookSignature(fake.AppSecret, read)},
		"not sha256=hex": {read, "sha256=xyz"},
	} {
		want := 403 // a wrong signature; none at all is 401
		if c.sig == "" {
			want = 401
		}
		if code, out := postHook(t, h, c.body, c.sig); code != want || errCodeOf(out) != "bad_signature" {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
	// A signed body that is not a webhook is taken (Meta would redeliver a
	// refusal for days), counted as malformed, and changes nothing.
	garbage := []byte(`{"entry":[{"changes":[{"value":{"statuses":"not a list"}}]}]}`)
	if code, out := postHook(t, h, garbage, notifytest.WhatsAppWebhookSignature(fake.AppSecret, garbage)); code != 200 {
		t.Errorf("signed malformed JSON: %d %v", code, out)
	}
	// A good one afterwards is recorded; the refused ones left no trace.
	if err := fake.SendStatus(ctx, tpl.ID, "delivered"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the delivered status in the history", func() bool {
		return hasDelivery(deliveries(t, a, sid), map[string]any{"status": "delivered", "provider_id": tpl.ID, "fallback": "template"})
	})
	list := deliveries(t, a, sid)
	if hasDelivery(list, map[string]any{"status": "read"}) || hasDelivery(list, map[string]any{"status": "failed"}) {
		t.Fatalf("a refused webhook was recorded: %v", list)
	}
	if l := whatsappLink(ctx, t, h, sid); l.DeliveryStatus != "delivered" {
		t.Fatalf("link delivery status %q, want delivered", l.DeliveryStatus)
	}
}

// TestWhatsAppWindowAsyncFallback: Meta accepts the cta_url message, then
// reports 131047 in a signed "failed" status webhook; the hub records it
// and sends the template once — not again for a duplicate webhook, and
// never for a failed template.
func TestWhatsAppWindowAsyncFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := notifytest.StartWhatsApp(t)
	fake.AsyncWindowErrors(true)
	fake.CloseWindow(waCustomer)
	h, a := startWhatsAppHub(ctx, t, 23200, fake, true)
	sid, url := newWhatsAppLink(t, a)

	msgs, err := fake.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	cta, tpl := msgs[0], msgs[1]
	if cta.Type != "interactive" || cta.Status != "failed" || cta.URL != url || tpl.Type != "template" || tpl.URL != url {
		t.Fatalf("sent %+v then %+v", cta, tpl)
	}
	hooks, err := fake.WaitWebhooks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if hooks[0].Err != nil || hooks[0].Status != 200 {
		t.Fatalf("the failed-status webhook: %+v", hooks[0])
	}
	waitUntil(t, 5*time.Second, "the failure and the template in the history", func() bool {
		list := deliveries(t, a, sid)
		return hasDelivery(list, map[string]any{"status": "failed", "provider_id": cta.ID, "error_code": "131047", "fallback": "template"}) &&
			hasDelivery(list, map[string]any{"status": "queued", "provider_id": tpl.ID, "fallback": "template"})
	})

	// Meta may deliver a webhook twice: no second template.
	dup, err := fake.StatusPayload(cta.ID, "failed", notifytest.Err131047)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := postHook(t, h, dup, notifytest.WhatsAppWebhookSignature(fake.AppSecret, dup)); code != 200 {
		t.Fatalf("duplicate webhook: %d %v", code, out)
	}
	// A failed template never triggers another template.
	if err := fake.SendStatus(ctx, tpl.ID, "failed", notifytest.Err131047); err != nil {
		t.Fatal(err)
	}
	// The duplicate is dropped by the webhook endpoint (same message id and
	// status): it is not recorded again and sends no second template.
	waitUntil(t, 5*time.Second, "the failed template in the history", func() bool {
		list := deliveries(t, a, sid)
		return hasDelivery(list, map[string]any{"status": "failed", "provider_id": tpl.ID, "fallback": "template", "error_code": "131047"})
	})
	n := 0
	for _, d := range deliveries(t, a, sid) {
		if d["status"] == "failed" && d["provider_id"] == cta.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the cta_url's failure recorded %d times, want once (the duplicate dropped)", n)
	}
	if n := len(fake.Messages()); n != 2 {
		t.Fatalf("fake got %d messages, want 2 (one cta_url, one template)", n)
	}
	if l := whatsappLink(ctx, t, h, sid); l.DeliveryID != tpl.ID || l.DeliveryStatus != "failed" {
		t.Fatalf("link delivery %q %q, want the template's %s failed", l.DeliveryID, l.DeliveryStatus, tpl.ID)
	}
}

// TestWhatsAppWindowNoTemplate: without a template, a 131047 (synchronous
// or by webhook) leaves the link "failed" with a message saying what to
// configure, and the inviting agent's console gets the delivery frame.
func TestWhatsAppWindowNoTemplate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := notifytest.StartWhatsApp(t)
	fake.CloseWindow(waCustomer)
	h, a := startWhatsAppHub(ctx, t, 23300, fake, false)
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	if err := ag.Send(ctx, map[string]any{"type": "invite", "to": waCustomer, "channel": "whatsapp", "name": "Bo"}); err != nil {
		t.Fatal(err)
	}
	inv, err := ag.WaitFor(ctx, isType("invited"))
	if err != nil {
		t.Fatal(err)
	}
	var invited struct{ Session string }
	if err := json.Unmarshal(inv.Raw, &invited); err != nil || invited.Session == "" {
		t.Fatalf("invited frame %s: %v", inv.Raw, err)
	}
	frame, err := ag.WaitFor(ctx, isType("delivery"))
	if err != nil {
		t.Fatal(err)
	}
	var fr map[string]any
	if err := json.Unmarshal(frame.Raw, &fr); err != nil {
		t.Fatal(err)
	}
	if fr["status"] != "failed" || fr["channel"] != "whatsapp" || fr["session"] != invited.Session || fr["fallback"] != nil {
		t.Fatalf("delivery frame %v", fr)
	}
	waitUntil(t, 5*time.Second, "the failure in the history", func() bool {
		for _, d := range deliveries(t, a, invited.Session) {
			e, _ := d["error"].(string)
			if d["status"] == "failed" && strings.Contains(e, "131047") && strings.Contains(e, "sessions.notify.whatsapp.template") {
				return true
			}
		}
		return false
	})
	if l := whatsappLink(ctx, t, h, invited.Session); l.DeliveryStatus != "failed" {
		t.Fatalf("link delivery status %q", l.DeliveryStatus)
	}

	// Asynchronous 131047 without a template: recorded with the same advice, nothing else sent.
	fake.AsyncWindowErrors(true)
	sid, _ := newWhatsAppLink(t, a)
	if _, err := fake.WaitWebhooks(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the asynchronous failure in the history", func() bool {
		for _, d := range deliveries(t, a, sid) {
			e, _ := d["error"].(string)
			if d["status"] == "failed" && d["error_code"] == "131047" && strings.Contains(e, "sessions.notify.whatsapp.template") {
				return true
			}
		}
		return false
	})
	if msgs := fake.Messages(); len(msgs) != 1 || msgs[0].Type != "interactive" {
		t.Fatalf("fake got %+v, want only the cta_url message", msgs)
	}
}
