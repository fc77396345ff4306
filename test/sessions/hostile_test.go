package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// hostile are the values put into every field, path and query parameter:
// a NUL byte, bytes that are not UTF-8, and a 10 kB string.
var hostile = []struct{ name, raw string }{
	{"NUL", "a\x00b"},
	{"invalid UTF-8", "a\xff\xfeb"},
	{"10 kB", strings.Repeat("x", 10<<10)},
}

// storeWords would betray store internals in an error message.
var storeWords = []string{"sqlite", "SQLITE", "pq:", "pgx", "SQLSTATE", "sql:", "database", "constraint", "byte sequence",
	"UTF8", "syntax error", "relation", "column"}

// jsonString is s as the inside of a JSON string, sent as is: NUL as the
// \u0000 escape (a raw control character is not JSON), other bytes raw
// (so bytes that are not UTF-8 reach the hub).
func jsonString(s string) string {
	return strings.ReplaceAll(s, "\x00", `\u0000`)
}

// TestHostileInput walks every REST endpoint, every path parameter, every
// query parameter and every string field of every JSON body with a NUL
// byte, invalid UTF-8 and a 10 kB value, on SQLite and PostgreSQL: each
// answer is a 4xx with a JSON error whose message is short, clean UTF-8
// and says nothing about the store.
func TestHostileInput(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { hostileWalk(t, "") })
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: needs PostgreSQL")
		}
		hostileWalk(t, pgtest.Start(t).FreshDSN(t))
	})
}

func hostileWalk(t *testing.T, dsn string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := hubConfig(t, 22500, t.TempDir())
	if dsn != "" {
		cfg.Sessions.Store = dsn
	}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("session: %d %v", code, s)
	}
	sid := s["id"].(string)
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, ap := a.do("POST", "/v1/appointments", map[string]any{"start": start, "customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("appointment: %d %v", code, ap)
	}
	aid := ap["id"].(string)

	// § marks where the hostile value goes: P in a path, Q in a query, B in a body.
	type probe struct{ method, path, body string }
	probes := []probe{
		// path parameters
		{"GET", "/v1/sessions/§P", ""},
		{"DELETE", "/v1/sessions/§P", ""},
		{"POST", "/v1/sessions/§P/transfer", `{"to":"queue:default"}`},
		{"POST", "/v1/sessions/§P/participants", `{"to":"1000"}`},
		{"GET", "/v1/sessions/§P/events", ""},
		{"GET", "/v1/sessions/§P/events?format=json", ""},
		{"POST", "/v1/sessions/§P/links", `{}`},
		{"GET", "/v1/appointments/§P", ""},
		{"PATCH", "/v1/appointments/§P", `{"notes":"n"}`},
		{"DELETE", "/v1/appointments/§P", ""},
		{"DELETE", "/v1/agents/§P", ""},
		// query parameters
		{"GET", "/v1/sessions?state=§Q", ""},
		{"GET", "/v1/sessions?mode=§Q", ""},
		{"GET", "/v1/sessions?before=§Q", ""},
		{"GET", "/v1/sessions?limit=§Q", ""},
		{"GET", "/v1/sessions?active=false&state=§Q", ""},
		{"GET", "/v1/appointments?from=§Q", ""},
		{"GET", "/v1/appointments?to=§Q", ""},
		{"GET", "/v1/notify/whatsapp?hub.mode=subscribe&hub.verify_token=§Q&hub.challenge=1", ""},
		{"GET", "/v1/sessions/ws?entry=§Q", ""},
		{"GET", "/v1/sessions/ws?token=§Q", ""},
		{"GET", "/v1/ws?token=§Q", ""},
		// JSON bodies, one string field at a time
		{"POST", "/v1/tokens", `{"identity":"§B"}`},
		{"POST", "/v1/tokens", `{"identity":"alice","ttl":"§B"}`},
		{"POST", "/v1/tokens", `{"identity":"alice","role":"§B"}`},
		{"POST", "/v1/sessions", `{"entry_point":"§B"}`},
		{"POST", "/v1/sessions", `{"mode":"§B"}`},
		{"POST", "/v1/sessions", `{"customer":{"name":"§B"}}`},
		{"POST", "/v1/sessions", `{"customer":{"contact":"§B"}}`},
		{"POST", "/v1/sessions", `{"customer":{"language":"§B"}}`},
		{"POST", "/v1/sessions", `{"customer":{"context":{"k":"§B"}}}`},
		{"POST", "/v1/sessions", `{"context":{"§B":"v"}}`},
		{"POST", "/v1/sessions", `{"target":"§B"}`},
		{"POST", "/v1/sessions", `{"agent_id":"§B"}`},
		{"POST", "/v1/sessions", `{"channel":"§B"}`},
		{"POST", "/v1/sessions", `{"ttl":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/transfer", `{"to":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/participants", `{"to":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/participants", `{"to":"1000","role":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/links", `{"role":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/links", `{"channel":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/links", `{"to":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/links", `{"expires_in":"§B"}`},
		{"POST", "/v1/sessions/" + sid + "/links", `{"not_before":"§B"}`},
		{"POST", "/v1/join", `{"token":"§B","dry_run":true}`},
		{"POST", "/v1/join", `{"token":"AAAAAAAAAAAAAAAAAAAAAA","role":"§B","dry_run":true}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","duration":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","time_zone":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","title":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","customer":{"name":"§B"}}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","customer":{"contact":"§B"}}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","channel":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","agent_id":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","queue":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"` + start + `","notes":"§B"}`},
		{"POST", "/v1/appointments", `{"start":"§B"}`},
		{"PATCH", "/v1/appointments/" + aid, `{"notes":"§B"}`},
		{"PATCH", "/v1/appointments/" + aid, `{"duration":"§B"}`},
		{"PATCH", "/v1/appointments/" + aid, `{"time_zone":"§B"}`},
		{"POST", "/v1/agents", `{"id":"§B"}`},
		{"POST", "/v1/agents", `{"id":"agent9","name":"§B"}`},
		{"POST", "/v1/agents", `{"id":"agent9","queues":["§B"]}`},
		{"POST", "/v1/notify/twilio", "MessageSid=§B&MessageStatus=delivered"},
		{"POST", "/v1/notify/whatsapp", `{"entry":[{"id":"§B"}]}`},
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range probes {
		for _, v := range hostile {
			path := strings.ReplaceAll(p.path, "§P", url.PathEscape(v.raw))
			path = strings.ReplaceAll(path, "§Q", url.QueryEscape(v.raw))
			body := strings.ReplaceAll(p.body, "§B", jsonString(v.raw))
			req, _ := http.NewRequestWithContext(ctx, p.method, h.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
			req.Header.Set("Content-Type", "application/json")
			if strings.Contains(path, "twilio") {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			res, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			what := fmt.Sprintf("%s %s %s with %s", p.method, strings.ReplaceAll(p.path, "§", ""), strings.ReplaceAll(p.body, "§B", "…"), v.name)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			switch {
			case res.StatusCode < 400 || res.StatusCode > 499:
				t.Errorf("%s: %d %.300s, want a 4xx", what, res.StatusCode, b)
				continue
			case !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &e) != nil || e.Error.Code == "" || e.Error.Message == "":
				t.Errorf("%s: %d %.300s, want a JSON error", what, res.StatusCode, b)
				continue
			}
			m := e.Error.Message
			if len(m) > 300 || !utf8.ValidString(m) || strings.ContainsRune(m, 0) || strings.ContainsRune(m, utf8.RuneError) {
				t.Errorf("%s: %d, the message is not short clean text: %.300q", what, res.StatusCode, m)
			}
			for _, w := range storeWords {
				if strings.Contains(m, w) {
					t.Errorf("%s: %d, the message shows store internals: %.300q", what, res.StatusCode, m)
				}
			}
		}
	}
	// The session socket: a customer's start frame with a NUL byte in what
	// it says about the customer is refused (it made the store refuse the
	// whole session record).
	for _, extra := range []map[string]any{{"name": "a\x00b"}, {"context": map[string]string{"k": "a\x00"}}, {"language": "es\x00"}} {
		p, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), 0, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx, "", extra); err == nil || !strings.Contains(err.Error(), "bad_request") {
			t.Errorf("start with %q: %v, want a bad_request error frame", extra, err)
		}
		p.Close()
	}
	// /j/<token> is a page: anything that is not a token becomes "invalid".
	for _, v := range hostile {
		res, err := cl.Get(h.URL + "/j/" + url.PathEscape(v.raw))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || loc != "/customer.html#join=invalid" {
			t.Errorf("/j/ with %s: %d → %q", v.name, res.StatusCode, loc)
		}
	}
	// the hub is still fine
	if code, out := a.do("GET", "/v1/sessions/"+sid, nil); code != 200 {
		t.Fatalf("after the walk: %d %v", code, out)
	}
}
