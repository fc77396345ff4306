package notify_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
)

// templateFake is a fake with the template "video_link" (en_US, n body
// variables, URL button https://split.example/j/{{1}}) approved.
func templateFake(t *testing.T, n int) (*notifytest.WhatsAppFake, notify.WhatsAppConfig) {
	t.Helper()
	fake := notifytest.StartWhatsApp(t)
	fake.ApproveTemplate(notifytest.WhatsAppTemplate{Name: "video_link", Language: "en_US", BodyParams: n, URL: "https://split.example/j/{{1}}"})
	cfg := fake.Config()
	cfg.Template = &notify.WhatsAppTemplate{Name: "video_link", Language: "en_US", URLBase: "https://split.example/j/", BodyParams: n}
	return fake, cfg
}

func TestWhatsAppTemplateFallback(t *testing.T) {
	fake, cfg := templateFake(t, 2)
	wa := newWhatsApp(t, cfg)
	fake.CloseWindow("+16505551234")
	m := waMsg()
	m.Name = "Ana\tMaría   de la\r\nO"
	r, err := wa.Send(ctxT(t), m)
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 || got[0].Type != "template" {
		t.Fatalf("fake accepted %+v", got)
	}
	if r.Fallback != notify.FallbackTemplate || r.ProviderID != got[0].ID || r.Status != notify.StatusQueued {
		t.Errorf("receipt = %+v", r)
	}
	var wire map[string]any
	if err := json.Unmarshal(got[0].Raw, &wire); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                "16505551234",
		"type":              "template",
		"template": map[string]any{
			"name":     "video_link",
			"language": map[string]any{"code": "en_US", "policy": "deterministic"},
			"components": []any{
				map[string]any{"type": "body", "parameters": []any{
					map[string]any{"type": "text", "text": "Ana María de la O"},
					map[string]any{"type": "text", "text": "Tap below to start a video call with our agent."},
				}},
				map[string]any{"type": "button", "sub_type": "url", "index": "0", "parameters": []any{
					map[string]any{"type": "text", "text": "Ab3dEf_ghIJkl-mnOPqr"},
				}},
			},
		},
		"biz_opaque_callback_data": "ses_42|tpl",
	}
	if !reflect.DeepEqual(wire, want) {
		gj, _ := json.MarshalIndent(wire, "", " ")
		t.Errorf("wire body:\n%s", gj)
	}
	if fake.LastLink() != link {
		t.Errorf("the template's button opens %q, want the join link %q", fake.LastLink(), link)
	}
	if fake.Requests() != 2 {
		t.Errorf("Graph requests = %d, want 2 (cta_url refused, then the template)", fake.Requests())
	}

	// Inside the window: the cta_url message, no fallback.
	fake.OpenWindow("+16505551234")
	r, err = wa.Send(ctxT(t), waMsg())
	if err != nil || r.Fallback != "" || fake.Messages()[1].Type != "interactive" {
		t.Errorf("inside the window: %+v %v", r, err)
	}

	// TemplateOnly: straight to the template (after an asynchronous 131047).
	m = waMsg()
	m.TemplateOnly, m.Name = true, ""
	r, err = wa.Send(ctxT(t), m)
	if err != nil || r.Fallback != notify.FallbackTemplate || fake.Messages()[2].Type != "template" {
		t.Fatalf("TemplateOnly: %+v %v", r, err)
	}
	if p := fake.Messages()[2].BodyParams; p[0] != "Video support" {
		t.Errorf("{{1}} without a name = %q, want the Subject", p[0])
	}
}

func TestWhatsAppTemplateParamCount(t *testing.T) {
	for n := 0; n <= notify.WhatsAppMaxBodyParams; n++ {
		fake, cfg := templateFake(t, n)
		m := waMsg()
		m.TemplateOnly = true
		if _, err := newWhatsApp(t, cfg).Send(ctxT(t), m); err != nil {
			t.Fatalf("%d body params: %v", n, err)
		}
		if got := fake.Messages()[0].BodyParams; len(got) != n {
			t.Errorf("%d body params sent as %q", n, got)
		}
	}
}

func TestWhatsAppNoTemplateConfigured(t *testing.T) {
	fake := notifytest.StartWhatsApp(t)
	fake.CloseWindow("+16505551234")
	_, err := newWhatsApp(t, fake.Config()).Send(ctxT(t), waMsg())
	pe := providerError(t, err)
	if !errors.Is(err, notify.ErrOutsideWindow) || pe.Retryable || !strings.Contains(err.Error(), "sessions.notify.whatsapp.template") {
		t.Errorf("no template: %v", err)
	}
	m := waMsg()
	m.TemplateOnly = true
	if _, err := newWhatsApp(t, fake.Config()).Send(ctxT(t), m); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("TemplateOnly without a template: %v", err)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("fake accepted %d", n)
	}
}

func TestWhatsAppTemplateErrors(t *testing.T) {
	// The configuration says 1 body variable, Meta's template has 2: 132000.
	fake, cfg := templateFake(t, 2)
	cfg.Template.BodyParams = 1
	fake.CloseWindow("+16505551234")
	_, err := newWhatsApp(t, cfg).Send(ctxT(t), waMsg())
	pe := providerError(t, err)
	if pe.Code != "132000" || pe.Retryable || !errors.Is(err, notify.ErrTemplate) || !strings.Contains(pe.Message, "parameter count") ||
		!strings.Contains(pe.Message, `"video_link"`) || !strings.Contains(pe.Message, "131047") {
		t.Errorf("132000 = %v", err)
	}
	// A name or language Meta does not know: 132001.
	_, cfg = templateFake(t, 0)
	cfg.BaseURL = fake.URL // same account as fake, where video_link is approved in en_US only
	cfg.PhoneNumberID, cfg.AccessToken = fake.PhoneNumberID, fake.AccessToken
	cfg.Template.Language = "es"
	_, err = newWhatsApp(t, cfg).Send(ctxT(t), waMsg())
	pe = providerError(t, err)
	if pe.Code != "132001" || pe.Retryable || !errors.Is(err, notify.ErrTemplate) || !strings.Contains(pe.Message, "does not exist") ||
		!strings.Contains(pe.Message, " es ") {
		t.Errorf("132001 = %v", err)
	}
	for _, e := range []notifytest.GraphError{
		{HTTPStatus: 400, Code: 132015, Message: "(#132015) Template is paused"},
		{HTTPStatus: 400, Code: 132016, Message: "(#132016) Template is disabled"},
	} {
		m := waMsg()
		m.TemplateOnly = true
		fake.FailNext(1, e)
		_, err = newWhatsApp(t, cfg).Send(ctxT(t), m)
		if !errors.Is(err, notify.ErrTemplate) || notify.Retryable(err) {
			t.Errorf("%d = %v", e.Code, err)
		}
	}
	// A retryable failure of the template stays retryable.
	_, cfg = templateFake(t, 0)
	cfg.BaseURL, cfg.PhoneNumberID, cfg.AccessToken = fake.URL, fake.PhoneNumberID, fake.AccessToken
	cfg.Template.Language = "en_US"
	fake.FailNext(1, notifytest.Err131047)
	fake.FailNext(1, notifytest.Err130429)
	_, err = newWhatsApp(t, cfg).Send(ctxT(t), waMsg())
	if !notify.Retryable(err) || !errors.Is(err, notify.ErrRateLimited) {
		t.Errorf("rate-limited template: %v", err)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("fake accepted %d", n)
	}
}

func TestWhatsAppTemplateLinkMustMatchURLBase(t *testing.T) {
	fake, cfg := templateFake(t, 0)
	cfg.Template.URLBase = "https://other.example/j/"
	m := waMsg()
	m.TemplateOnly = true
	_, err := newWhatsApp(t, cfg).Send(ctxT(t), m)
	if !errors.Is(err, notify.ErrInvalid) || !strings.Contains(err.Error(), "url_base") || strings.Contains(err.Error(), "Ab3dEf") {
		t.Errorf("link outside url_base: %v (must not show the token)", err)
	}
	cfg.Template.URLBase = link // nothing left for the button's variable
	if _, err := newWhatsApp(t, cfg).Send(ctxT(t), m); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("empty suffix: %v", err)
	}
	if fake.Requests() != 0 {
		t.Errorf("invalid template messages reached Graph")
	}
}

func TestWhatsAppTemplateConfig(t *testing.T) {
	base := notifytest.StartWhatsApp(t).Config()
	good := notify.WhatsAppTemplate{Name: "video_link", Language: "en_US", URLBase: "https://h.example/j/", BodyParams: 1}
	for name, mod := range map[string]func(*notify.WhatsAppTemplate){
		"upper-case name": func(t *notify.WhatsAppTemplate) { t.Name = "Video_Link" },
		"no name":         func(t *notify.WhatsAppTemplate) { t.Name = "" },
		"language":        func(t *notify.WhatsAppTemplate) { t.Language = "english" },
		"no language":     func(t *notify.WhatsAppTemplate) { t.Language = "" },
		"url_base":        func(t *notify.WhatsAppTemplate) { t.URLBase = "h.example/j/" },
		"url_base query":  func(t *notify.WhatsAppTemplate) { t.URLBase = "https://h.example/j?t=" },
		"3 params":        func(t *notify.WhatsAppTemplate) { t.BodyParams = 3 },
		"negative":        func(t *notify.WhatsAppTemplate) { t.BodyParams = -1 },
	} {
		tpl := good
		mod(&tpl)
		cfg := base
		cfg.Template = &tpl
		if _, err := notify.NewWhatsApp(cfg); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, lang := range []string{"en", "en_US", "pt_BR", "fil", "zh_CN"} {
		tpl := good
		tpl.Language = lang
		cfg := base
		cfg.Template = &tpl
		if _, err := notify.NewWhatsApp(cfg); err != nil {
			t.Errorf("%s: %v", lang, err)
		}
	}
	// The sender keeps its own copy: changing the caller's struct later has no effect.
	tpl := good
	cfg := base
	cfg.Template = &tpl
	wa, err := notify.NewWhatsApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tpl.Name = "changed"
	if s := wa.String(); !strings.Contains(s, "video_link") || strings.Contains(s, base.AccessToken) {
		t.Errorf("String = %s", s)
	}
}
