package sessions

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

func linkToken(t *testing.T, url string) string {
	t.Helper()
	i := strings.LastIndex(url, "/j/")
	if i < 0 {
		t.Fatalf("join URL %q has no /j/<token>", url)
	}
	tok, _, _ := strings.Cut(url[i+3:], "?") // ?lang=… (docs/i18n.md)
	if len(tok) != 22 {
		t.Fatalf("token %q: want 22 characters (128 bits, base64url)", tok)
	}
	return tok
}

func join(t *testing.T, a api, tok string, extra map[string]any) (int, map[string]any) {
	t.Helper()
	body := map[string]any{"token": tok}
	for k, v := range extra {
		body[k] = v
	}
	return a.do("POST", "/v1/join", body)
}

func errCodeOf(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestJoinLinkAttacks: tampered, unknown, expired, not-yet-valid, replayed
// single-use, revoked and wrong-role links are each refused with their own
// code; GET never consumes; nothing about the session leaks.
func TestJoinLinkAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := testutil.StartHub(ctx, hubConfig(t, 19500, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("create session: %d %v", code, s)
	}
	sid := s["id"].(string)
	mk := func(body map[string]any) string {
		t.Helper()
		code, out := a.do("POST", "/v1/sessions/"+sid+"/links", body)
		if code != 201 {
			t.Fatalf("create link %v: %d %v", body, code, out)
		}
		if len(out["url"].(string)) > 80 {
			t.Errorf("link %q is long for an SMS", out["url"])
		}
		return linkToken(t, out["url"].(string))
	}
	good := mk(map[string]any{})

	// GET /j/<token> serves the page and consumes nothing.
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; i < 3; i++ {
		res, err := cl.Get(h.URL + "/j/" + good)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 302 || res.Header.Get("Location") != "/customer.html#join="+good {
			t.Fatalf("GET /j/: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	}
	if code, out := join(t, a, good, map[string]any{"dry_run": true}); code != 200 || out["ws_token"] != nil || out["session"] != nil {
		t.Fatalf("dry run: %d %v (must not consume nor reveal the session)", code, out)
	}
	// the real join consumes the single-use link and yields a socket token for the session
	code, out := join(t, a, good, nil)
	if code != 200 || out["session"] != sid || out["ws_token"] == "" {
		t.Fatalf("join: %d %v", code, out)
	}
	p, err := testutil.DialSession(ctx, wsURL(h, "token="+out["ws_token"].(string)), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if hello := p.Frames()[0]; !strings.Contains(string(hello.Raw), sid) {
		t.Fatalf("socket hello is not for the session: %s", hello.Raw)
	}

	tampered := "A" + good[1:]
	if tampered == good {
		tampered = "B" + good[1:]
	}
	early := mk(map[string]any{"not_before": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
	expired := mk(map[string]any{"expires_in": "1s", "not_before": time.Now().Add(-2 * time.Minute).UTC().Format(time.RFC3339)})
	time.Sleep(1500 * time.Millisecond)
	revoked := mk(map[string]any{})
	if code, _ := a.do("DELETE", "/v1/sessions/"+sid, nil); code != 204 {
		t.Fatalf("end session: %d", code)
	}
	for _, tc := range []struct {
		name, tok string
		extra     map[string]any
		status    int
		code      string
	}{
		{"replayed single-use", good, nil, 409, "link_used"},
		{"tampered", tampered, nil, 404, "invalid_link"},
		{"garbage", "x' OR 1=1 --", nil, 404, "invalid_link"},
		{"not yet valid", early, nil, 425, "too_early"},
		{"expired", expired, nil, 410, "link_expired"},
		{"wrong role", revoked, map[string]any{"role": "agent"}, 403, "wrong_role"},
		{"session over", revoked, nil, 410, "session_over"},
	} {
		code, out := join(t, a, tc.tok, tc.extra)
		if code != tc.status || errCodeOf(out) != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, out, tc.status, tc.code)
		}
		if strings.Contains(fmt2(out), sid) || strings.Contains(fmt2(out), "Ana") {
			t.Errorf("%s: the refusal leaks the session: %v", tc.name, out)
		}
	}
	if code, out := join(t, a, early, nil); code == 425 {
		e := out["error"].(map[string]any)
		if _, ok := e["not_before"]; !ok {
			t.Error("too_early carries no not_before for the lobby countdown")
		}
	}
	// rate limit per token (10 a minute): 25 quick attempts must meet it,
	// even if a minute boundary falls in between
	limited := false
	for i := 0; i < 25 && !limited; i++ {
		code, out := join(t, a, tampered, nil)
		limited = code == 429 && errCodeOf(out) == "rate_limited"
	}
	if !limited {
		t.Error("25 quick attempts with one token were never rate limited")
	}
}

func fmt2(v any) string { b, _ := jsonMarshal(v); return string(b) }

var jsonMarshal = func(v any) ([]byte, error) { return json.Marshal(v) }

// startJoined joins with a join response's ws_token as the customer and
// starts the call (audio and video); the peer closes when t ends.
func startJoined(ctx context.Context, t *testing.T, h *testutil.Hub, out map[string]any) *testutil.SessionPeer {
	t.Helper()
	tok, _ := out["ws_token"].(string)
	if tok == "" {
		t.Fatalf("the join gave no ws_token: %v", out)
	}
	cust, err := testutil.DialSession(ctx, wsURL(h, "token="+tok), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cust.Close)
	if err := cust.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	return cust
}
