package notifytest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
)

func templateBody(name, lang string, body []string, button ...string) map[string]any {
	var comps []any
	if body != nil {
		var ps []any
		for _, b := range body {
			ps = append(ps, map[string]any{"type": "text", "text": b})
		}
		comps = append(comps, map[string]any{"type": "body", "parameters": ps})
	}
	for _, b := range button {
		comps = append(comps, map[string]any{"type": "button", "sub_type": "url", "index": "0",
			"parameters": []any{map[string]any{"type": "text", "text": b}}})
	}
	return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "template",
		"template": map[string]any{"name": name, "language": map[string]any{"code": lang, "policy": "deterministic"}, "components": comps}}
}

func TestWhatsAppFakeTemplates(t *testing.T) {
	f := notifytest.StartWhatsApp(t)
	f.ApproveTemplate(notifytest.WhatsAppTemplate{Name: "video_link", Language: "en_US", BodyParams: 1, URL: "https://x.example/j/{{1}}"})
	f.ApproveTemplate(notifytest.WhatsAppTemplate{Name: "plain", Language: "es", BodyParams: 0})
	path := "/v25.0/" + f.PhoneNumberID + "/messages"
	for name, c := range map[string]struct {
		body   any
		status int
		code   float64
	}{
		"unknown name":       {templateBody("nope", "en_US", []string{"Ana"}, "tok"), 404, 132001},
		"unknown language":   {templateBody("video_link", "es", []string{"Ana"}, "tok"), 404, 132001},
		"too many body":      {templateBody("video_link", "en_US", []string{"Ana", "x"}, "tok"), 400, 132000},
		"no body":            {templateBody("video_link", "en_US", nil, "tok"), 400, 132000},
		"no button":          {templateBody("video_link", "en_US", []string{"Ana"}), 400, 132000},
		"button on plain":    {templateBody("plain", "es", nil, "tok"), 400, 132000},
		"newline in param":   {templateBody("video_link", "en_US", []string{"Ana\nB"}, "tok"), 400, 132018},
		"tab in param":       {templateBody("video_link", "en_US", []string{"Ana\tB"}, "tok"), 400, 132018},
		"five spaces":        {templateBody("video_link", "en_US", []string{"Ana     B"}, "tok"), 400, 132018},
		"empty param":        {templateBody("video_link", "en_US", []string{""}, "tok"), 400, 131008},
		"no template object": {`{"messaging_product":"whatsapp","to":"16505551234","type":"template"}`, 400, 131008},
		"no language":        {`{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"plain"}}`, 400, 131008},
		"bad policy":         {`{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"plain","language":{"code":"es","policy":"fallback"}}}`, 400, 131009},
		"unknown key":        {`{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"plain","language":{"code":"es"},"colour":1}}`, 400, 100},
		"quick reply button": {`{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"plain","language":{"code":"es"},"components":[{"type":"button","sub_type":"quick_reply","index":"0","parameters":[]}]}}`, 400, 131009},
	} {
		status, m := postGraph(t, f, path, f.AccessToken, c.body)
		e, _ := m["error"].(map[string]any)
		if status != c.status || e == nil || e["code"] != c.code {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	if n := len(f.Messages()); n != 0 {
		t.Fatalf("fake accepted %d bad templates", n)
	}
	// Four spaces are allowed; the index may be a number; the URL resolves.
	b := templateBody("video_link", "en_US", []string{"Ana    B"}, "Ab3_x")
	b["template"].(map[string]any)["components"].([]any)[1].(map[string]any)["index"] = 0
	if status, m := postGraph(t, f, path, f.AccessToken, b); status != 200 {
		t.Fatalf("good template: %d %v", status, m)
	}
	got := f.Messages()[0]
	if got.Type != "template" || got.TemplateName != "video_link" || got.TemplateLanguage != "en_US" || len(got.BodyParams) != 1 ||
		got.BodyParams[0] != "Ana    B" || got.ButtonParam != "Ab3_x" || got.URL != "https://x.example/j/Ab3_x" || f.LastLink() != got.URL {
		t.Errorf("recorded template: %+v", got)
	}
	// Templates are allowed outside the window; free-form messages are not.
	f.CloseWindow("+16505551234")
	if status, m := postGraph(t, f, path, f.AccessToken, templateBody("plain", "es", nil)); status != 200 {
		t.Errorf("template outside the window: %d %v", status, m)
	}
	if status, m := postGraph(t, f, path, f.AccessToken, ctaBody(nil)); status != 400 || m["error"].(map[string]any)["code"] != float64(131047) {
		t.Errorf("cta_url outside the window: %d %v", status, m)
	}
}

func TestWhatsAppFakeWindowClock(t *testing.T) {
	f := notifytest.StartWhatsApp(t)
	path := "/v25.0/" + f.PhoneNumberID + "/messages"
	for _, c := range []struct {
		ago    time.Duration
		status int
	}{{23*time.Hour + 59*time.Minute, 200}, {24*time.Hour + time.Minute, 400}, {time.Minute, 200}} {
		f.Inbound("16505551234", time.Now().Add(-c.ago))
		if status, m := postGraph(t, f, path, f.AccessToken, ctaBody(nil)); status != c.status {
			t.Errorf("last inbound %v ago: %d %v", c.ago, status, m)
		}
	}
	// A number never mentioned is inside the window (tests that do not care).
	b := ctaBody(nil)
	b["to"] = "+34600000001"
	if status, _ := postGraph(t, f, path, f.AccessToken, b); status != 200 {
		t.Errorf("unknown number: %d", status)
	}
}

// receiver is a webhook endpoint that checks Meta's handshake and signature
// with package notify's code (written independently of the fake's).
type receiver struct {
	secret, token string
	mu            sync.Mutex
	bodies        [][]byte
	bad           int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		ch, err := notify.VerifyWhatsAppSubscription(r.URL.Query(), rc.token)
		if err != nil {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		io.WriteString(w, ch)
		return
	}
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if notify.VerifyWhatsAppSignature(rc.secret, body, r.Header.Get("X-Hub-Signature-256")) != nil {
		rc.bad++
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	rc.bodies = append(rc.bodies, body)
}

func TestWhatsAppFakeAsyncWindowWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	rc := &receiver{secret: f.AppSecret, token: "verify-me"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	if err := f.Subscribe(ctx, srv.URL+"/hook", "wrong"); err == nil {
		t.Fatal("Subscribe with a wrong verify token succeeded")
	}
	if err := f.Subscribe(ctx, srv.URL+"/hook", "verify-me"); err != nil {
		t.Fatal(err)
	}
	f.AsyncWindowErrors(true)
	f.CloseWindow("16505551234")
	path := "/v25.0/" + f.PhoneNumberID + "/messages"
	b := ctaBody(nil)
	b["biz_opaque_callback_data"] = "ses_1.abc"
	status, m := postGraph(t, f, path, f.AccessToken, b)
	if status != 200 {
		t.Fatalf("async mode must accept: %d %v", status, m)
	}
	id := m["messages"].([]any)[0].(map[string]any)["id"].(string)
	hooks, err := f.WaitWebhooks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if hooks[0].Err != nil || hooks[0].Status != 200 {
		t.Fatalf("webhook delivery: %+v", hooks[0])
	}
	wh, err := notify.DecodeWhatsAppWebhook(hooks[0].Body)
	if err != nil || len(wh.Statuses) != 1 {
		t.Fatalf("webhook %s: %v", hooks[0].Body, err)
	}
	st := wh.Statuses[0]
	if st.MessageID != id || st.Status != "failed" || !st.OutsideWindow() || st.Ref != "ses_1.abc" || st.RecipientID != "16505551234" ||
		st.PhoneNumberID != f.PhoneNumberID || st.Timestamp.IsZero() || !strings.Contains(st.ErrorText(), "24 hours") {
		t.Errorf("status = %+v", st)
	}
	if got := f.Messages()[0]; got.Status != "failed" {
		t.Errorf("recorded status %q", got.Status)
	}
	// SendStatus: synchronous, signed; a wrong secret is refused by the receiver.
	if err := f.SendStatus(ctx, id, "read"); err != nil {
		t.Fatal(err)
	}
	f.AppSecret = "not-the-secret"
	if err := f.SendStatus(ctx, id, "read"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("wrongly signed webhook: %v", err)
	}
	rc.mu.Lock()
	n, bad := len(rc.bodies), rc.bad
	rc.mu.Unlock()
	if n != 2 || bad != 1 {
		t.Errorf("receiver got %d good, %d bad", n, bad)
	}
	if _, err := f.StatusPayload("wamid.unknown", "sent"); err == nil {
		t.Error("StatusPayload for an unknown message")
	}
	var env map[string]any
	p, _ := f.StatusPayload(id, "delivered")
	if json.Unmarshal(p, &env) != nil || env["object"] != "whatsapp_business_account" || !strings.Contains(string(p), `"pricing"`) {
		t.Errorf("payload: %s", p)
	}
}

func TestWhatsAppFakeWebhookWithoutCallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	f.AsyncWindowErrors(true)
	f.CloseWindow("16505551234")
	if status, m := postGraph(t, f, "/v25.0/"+f.PhoneNumberID+"/messages", f.AccessToken, ctaBody(nil)); status != 200 {
		t.Fatalf("%d %v", status, m)
	}
	hooks, err := f.WaitWebhooks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if hooks[0].Err == nil || !strings.Contains(hooks[0].Err.Error(), "Subscribe") {
		t.Errorf("delivery without a callback: %+v", hooks[0])
	}
}
