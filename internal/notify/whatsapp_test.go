package notify_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
)

func waMsg() notify.Message {
	return notify.Message{
		Channel: notify.ChannelWhatsApp, To: "+16505551234", Subject: "Video support",
		Text: "Tap below to start a video call with our agent.", Link: link, LinkLabel: "Join video call", Ref: "ses_42",
	}
}

func newWhatsApp(t *testing.T, cfg notify.WhatsAppConfig) *notify.WhatsApp {
	t.Helper()
	c, err := notify.NewWhatsApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWhatsAppSend(t *testing.T) {
	fake := notifytest.StartWhatsApp(t)
	cfg := fake.Config()
	cfg.Footer = "Link valid for 15 minutes"
	r, err := newWhatsApp(t, cfg).Send(ctxT(t), waMsg())
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 {
		t.Fatalf("fake got %d messages", len(got))
	}
	var wire map[string]any
	if err := json.Unmarshal(got[0].Raw, &wire); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                "16505551234",
		"type":              "interactive",
		"interactive": map[string]any{
			"type":   "cta_url",
			"header": map[string]any{"type": "text", "text": "Video support"},
			"body":   map[string]any{"text": "Tap below to start a video call with our agent."},
			"action": map[string]any{"name": "cta_url", "parameters": map[string]any{"display_text": "Join video call", "url": link}},
			"footer": map[string]any{"text": "Link valid for 15 minutes"},
		},
		"biz_opaque_callback_data": "ses_42",
	}
	if !reflect.DeepEqual(wire, want) {
		gj, _ := json.MarshalIndent(wire, "", " ")
		t.Errorf("wire body:\n%s", gj)
	}
	if got[0].Version != "v25.0" || fake.LastLink() != link {
		t.Errorf("version %q link %q", got[0].Version, fake.LastLink())
	}
	if r.Channel != notify.ChannelWhatsApp || r.ProviderID != got[0].ID || !strings.HasPrefix(r.ProviderID, "wamid.") || r.Status != notify.StatusQueued {
		t.Errorf("receipt = %+v", r)
	}
}

func TestWhatsAppTruncatesLabels(t *testing.T) {
	fake := notifytest.StartWhatsApp(t)
	cfg := fake.Config()
	cfg.Footer = strings.Repeat("Este enlace caduca pronto. ", 4)
	m := waMsg()
	m.Subject = strings.Repeat("Videollamada con su gestor ", 4)
	m.LinkLabel = "Unirse a la videollamada ahora"
	m.Text = strings.Repeat("ñ", notify.WhatsAppMaxBody) // exactly at the limit
	if _, err := newWhatsApp(t, cfg).Send(ctxT(t), m); err != nil {
		t.Fatal(err) // the fake enforces the documented limits
	}
	g := fake.Messages()[0]
	for name, c := range map[string]struct {
		s   string
		max int
	}{"display_text": {g.DisplayText, 20}, "header": {g.HeaderText, 60}, "footer": {g.Footer, 60}} {
		if n := utf8.RuneCountInString(c.s); n > c.max || n < c.max/2 || !strings.HasSuffix(c.s, "…") {
			t.Errorf("%s = %q (%d characters)", name, c.s, n)
		}
	}
	if g.DisplayText != "Unirse a la…" {
		t.Errorf("display_text cut at a word: %q", g.DisplayText)
	}
	// No label: the default fits.
	m = waMsg()
	m.LinkLabel, m.Subject = "", ""
	if _, err := newWhatsApp(t, fake.Config()).Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if g := fake.Messages()[1]; g.DisplayText != notify.DefaultLinkLabel || g.HeaderText != "" {
		t.Errorf("defaults: %+v", g)
	}
}

func TestWhatsAppValidation(t *testing.T) {
	fake := notifytest.StartWhatsApp(t)
	wa := newWhatsApp(t, fake.Config())
	for name, mod := range map[string]func(*notify.Message){
		"body too long": func(m *notify.Message) { m.Text = strings.Repeat("a", notify.WhatsAppMaxBody+1) },
		"no body":       func(m *notify.Message) { m.Text = "  " },
		"not E.164":     func(m *notify.Message) { m.To = "16505551234" },
		"no link":       func(m *notify.Message) { m.Link = "" },
	} {
		m := waMsg()
		mod(&m)
		if _, err := wa.Send(ctxT(t), m); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := fake.Requests(); n != 0 {
		t.Errorf("invalid messages reached Graph: %d requests", n)
	}
}

func TestWhatsAppErrors(t *testing.T) {
	fake := notifytest.StartWhatsApp(t)
	wa := newWhatsApp(t, fake.Config())

	fake.CloseWindow("+16505551234")
	_, err := wa.Send(ctxT(t), waMsg())
	pe := providerError(t, err)
	if pe.Code != "131047" || pe.HTTPStatus != 400 || pe.Retryable || !errors.Is(err, notify.ErrOutsideWindow) ||
		!strings.Contains(pe.Message, "24-hour") || !strings.Contains(pe.Message, "template") || !strings.Contains(pe.Message, "fbtrace_id") {
		t.Errorf("131047 = %+v", pe)
	}
	fake.OpenWindow("16505551234")

	fake.FailNext(1, notifytest.Err131026)
	_, err = wa.Send(ctxT(t), waMsg())
	if pe = providerError(t, err); pe.Code != "131026" || pe.Retryable || !strings.Contains(pe.Message, "undeliverable") {
		t.Errorf("131026 = %+v", pe)
	}

	for _, e := range []notifytest.GraphError{
		notifytest.Err130429,
		{HTTPStatus: 400, Code: 80007, Message: "(#80007) Rate limit issues"},
		{HTTPStatus: 429, Code: 4, Message: "(#4) Application request limit reached"},
	} {
		fake.FailNext(1, e)
		_, err = wa.Send(ctxT(t), waMsg())
		if pe = providerError(t, err); !pe.Retryable || !errors.Is(err, notify.ErrRateLimited) {
			t.Errorf("%d = %+v", e.Code, pe)
		}
	}
	fake.FailNext(1, notifytest.GraphError{HTTPStatus: 500, Code: 1, Message: "An unknown error occurred"})
	_, err = wa.Send(ctxT(t), waMsg())
	if pe = providerError(t, err); !pe.Retryable || pe.HTTPStatus != 500 {
		t.Errorf("500 = %+v", pe)
	}
	fake.FailNext(1, notifytest.GraphError{HTTPStatus: 400, Code: 100, Message: "(#100) Invalid parameter"})
	_, err = wa.Send(ctxT(t), waMsg())
	if pe = providerError(t, err); pe.Retryable || pe.Code != "100" {
		t.Errorf("100 = %+v", pe)
	}

	cfg := fake.Config()
	cfg.AccessToken = "EAAG-wrong-token"
	_, err = newWhatsApp(t, cfg).Send(ctxT(t), waMsg())
	if pe = providerError(t, err); pe.Retryable || pe.Code != "190" || pe.HTTPStatus != 401 || !errors.Is(err, notify.ErrUnauthorized) ||
		strings.Contains(err.Error(), "EAAG-wrong-token") {
		t.Errorf("190 = %+v", pe)
	}
	cfg = fake.Config()
	cfg.PhoneNumberID = "999"
	_, err = newWhatsApp(t, cfg).Send(ctxT(t), waMsg())
	if pe = providerError(t, err); pe.Retryable || pe.Code != "100" {
		t.Errorf("unknown phone number ID = %+v", pe)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("fake accepted %d messages", n)
	}
}
