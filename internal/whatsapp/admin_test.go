package whatsapp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/store"
)

// TestServeSettings: GET shows Meta's settings with the SIP password
// redacted, the configuration's and the difference, and posts nothing;
// POST pushes; an unknown number is a 404.
func TestServeSettings(t *testing.T) {
	g := newFakeGraph(t)
	g.setReply(func(c graphCall) (int, map[string]string, string) {
		if c.Method == "GET" {
			return 200, nil, `{"calling":{"status":"DISABLED","sip":{"status":"ENABLED","servers":[{"hostname":"h.example.com","sip_user_password":"META-PW-1"}]}}}`
		}
		return 200, nil, `{"success":true}`
	})
	wc := testConfig(g.srv.URL, "")
	s := testService(t, wc, nil, &recorder{}, connectAt, nil)
	cfg := &config.Config{WhatsApp: &wc}
	cfg.Sessions.EntryPoints = []config.EntryPoint{{Name: "whatsapp"}}
	cfg.Sessions.Routes = []config.Route{{Name: "wa", Entry: "whatsapp", Target: "queue:default"}}
	serve := func(method, q string) (int, string) {
		rec := httptest.NewRecorder()
		s.ServeSettings(rec, httptest.NewRequest(method, "/v1/whatsapp/settings"+q, nil), cfg)
		return rec.Code, rec.Body.String()
	}
	code, body := serve("GET", "?phone_number_id="+pnUser)
	if code != 200 || strings.Contains(body, "META-PW-1") || !strings.Contains(body, `"diff":["calling.status: DISABLED → ENABLED"`) {
		t.Fatalf("GET: %d %s", code, body)
	}
	for _, r := range g.requests() {
		if r.Method != "GET" {
			t.Fatalf("GET posted to Meta: %+v", r)
		}
	}
	if code, body := serve("POST", "?phone_number_id="+pnUser); code != 200 || !strings.Contains(body, `"pushed":true`) {
		t.Fatalf("POST: %d %s", code, body)
	}
	if code, _ := serve("GET", "?phone_number_id=42"); code != 404 {
		t.Fatalf("unknown number: %d", code)
	}
}

// TestServeDeadLetters: the stored dead letters, newest first, bounded by
// limit; a bad limit is a 400.
func TestServeDeadLetters(t *testing.T) {
	st := memStore(t)
	for i, b := range []string{`{"n":1}`, `{"n":2}`} {
		if err := st.AddWhatsAppDeadLetter(t.Context(), store.WhatsAppDeadLetter{ID: "dl" + string(rune('a'+i)), Body: []byte(b),
			Signature: "sha256=00", Attempts: 6, LastStatus: 500, ReceivedAt: connectAt.Add(time.Duration(i) * time.Second),
			FailedAt: connectAt.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	s := testService(t, testConfig("http://127.0.0.1:1", ""), st, &recorder{}, connectAt, nil)
	rec := httptest.NewRecorder()
	s.ServeDeadLetters(rec, httptest.NewRequest("GET", "/v1/whatsapp/dead-letters?limit=1", nil))
	var out struct {
		DeadLetters []map[string]any `json:"dead_letters"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.DeadLetters) != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.ServeDeadLetters(rec, httptest.NewRequest("GET", "/v1/whatsapp/dead-letters?limit=0", nil))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("limit 0: %d", rec.Code)
	}
}
