package sessions

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// TestMessagesInTheCustomersLanguage (docs/i18n.md): a link for a session
// whose customer speaks Spanish goes out by SMS in Spanish and opens the page
// in Spanish (?lang=es through /j/); an appointment booked in Spanish from
// Madrid invites by e-mail in Spanish with the time in Madrid's zone, and
// its cancellation too; the catalog endpoint follows the link, the entry
// point and the browser, in that order.
func TestMessagesInTheCustomersLanguage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tw := notifytest.StartTwilio(t)
	mail := notifytest.StartSMTP(t)
	cfg := hubConfig(t, 31300, t.TempDir())
	withNotify(cfg, tw, mail)
	cfg.Sessions.EntryPoints = append(cfg.Sessions.EntryPoints, config.EntryPoint{Name: "tienda", Public: true, RateLimit: 10, Language: "es"})
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}

	code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana", "language": "es-ES"}})
	if code != 201 {
		t.Fatalf("create session: %d %v", code, s)
	}
	code, link := a.do("POST", "/v1/sessions/"+s["id"].(string)+"/links", map[string]any{"channel": "sms", "to": "+34600123456"})
	if code != 201 {
		t.Fatalf("link: %d %v", code, link)
	}
	url := link["url"].(string)
	if !strings.HasSuffix(url, "?lang=es") {
		t.Errorf("link URL %s does not carry the customer's language", url)
	}
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if body := msgs[0].Body; !strings.Contains(body, "Hola, Ana: un agente le espera en una videollamada. Entre aquí: "+url) {
		t.Errorf("the SMS is not in Spanish: %q", body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != 302 || !strings.HasPrefix(loc, "/customer.html#join=") || !strings.HasSuffix(loc, "&lang=es") {
		t.Errorf("/j/ redirects %d to %q, want the page with lang=es", res.StatusCode, loc)
	}
	// an explicit language for the link wins; a bad one is refused
	if code, l := a.do("POST", "/v1/sessions/"+s["id"].(string)+"/links", map[string]any{"language": "en"}); code != 201 || !strings.HasSuffix(l["url"].(string), "?lang=en") {
		t.Errorf("link in English: %d %v", code, l)
	}
	if code, l := a.do("POST", "/v1/sessions/"+s["id"].(string)+"/links", map[string]any{"language": "<es>"}); code != 400 {
		t.Errorf("a link with language <es>: %d %v", code, l)
	}

	// an appointment booked in Spanish, from Madrid
	start := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC) // a Monday, 10:00 in Madrid (CET)
	code, appt := a.do("POST", "/v1/appointments", map[string]any{"start": start.Format(time.RFC3339), "duration": "30m",
		"time_zone": "Europe/Madrid", "customer": map[string]any{"name": "Ana", "contact": "ana@example.com", "language": "es"}})
	if code != 201 {
		t.Fatalf("appointment: %d %v", code, appt)
	}
	mails, err := mail.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "Hola, Ana: su videollamada es el lunes 1 de marzo de 2027, 10:00 (CET). Entre aquí: " + appt["join_url"].(string)
	if !strings.Contains(mails[0].Text, want) || !strings.Contains(mails[0].Subject, "Su videollamada") {
		t.Errorf("invitation e-mail: subject %q, text %q; want %q", mails[0].Subject, mails[0].Text, want)
	}
	if ics := strings.ReplaceAll(string(mail.LastCalendar()), "\r\n ", ""); !strings.Contains(ics, "LABEL=Unirse a la videollamada") {
		t.Errorf("the invitation's conference label is not in Spanish:\n%s", ics)
	}
	if !strings.HasSuffix(appt["join_url"].(string), "?lang=es") {
		t.Errorf("the appointment's link %v does not carry its language", appt["join_url"])
	}
	if code, _ := a.do("DELETE", "/v1/appointments/"+appt["id"].(string), nil); code != 204 {
		t.Fatalf("cancel: %d", code)
	}
	mails, err = mail.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m := mails[1]; !strings.Contains(m.Subject, "Cancelada") || !strings.Contains(m.Text, "su videollamada del lunes 1 de marzo de 2027, 10:00 (CET) se ha cancelado") {
		t.Errorf("cancellation: %q %q", m.Subject, m.Text)
	}

	// the catalog: ?lang=, then the entry point, then Accept-Language, then the default
	catalog := func(query, accept string) (string, map[string]string) {
		req, _ := http.NewRequest("GET", h.URL+"/i18n/catalog.json?"+query, nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("catalog: Access-Control-Allow-Origin %q, want * (the widget on another site)", got)
		}
		var c struct {
			Lang     string            `json:"lang"`
			Messages map[string]string `json:"messages"`
		}
		b, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(b, &c); err != nil || res.StatusCode != 200 {
			t.Fatalf("catalog %s: %d %v %s", query, res.StatusCode, err, b)
		}
		return c.Lang, c.Messages
	}
	for _, c := range []struct{ query, accept, want string }{
		{"", "es-MX,es;q=0.9", "es"},
		{"", "de-DE", "en"},
		{"", "", "en"},
		{"lang=en", "es", "en"},
		{"lang=es-AR", "", "es"},
		{"entry=tienda", "en-US", "es"},
		{"entry=tienda&lang=en", "", "en"},
		{"lang=%3Cscript%3E", "es", "es"},
	} {
		if got, msgs := catalog(c.query, c.accept); got != c.want || msgs["msg.link_label"] == "" {
			t.Errorf("catalog?%s with Accept-Language %q: %s, want %s", c.query, c.accept, got, c.want)
		}
	}
	if _, msgs := catalog("lang=es", ""); msgs["msg.link_label"] != "Unirse a la videollamada" {
		t.Errorf("Spanish catalog: %q", msgs["msg.link_label"])
	}
}
