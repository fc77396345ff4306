package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/httpjson"
	"github.com/split-hub/split/internal/metrics"
)

func testServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	signer, err := auth.NewSigner([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), APIKey: "key-0123456789abcdef", Signer: signer,
		TokenTTL: time.Hour, MaxTTL: 24 * time.Hour, Metrics: metrics.New(func() float64 { return 0 })}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, method, url, key, body string) (*http.Response, httpjson.Body, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var e httpjson.Body
	_ = json.Unmarshal(b, &e)
	return res, e, b
}

func TestTokens(t *testing.T) {
	s, ts := testServer(t)
	res, e, _ := do(t, "POST", ts.URL+"/v1/tokens", "", `{"identity":"alice"}`)
	if res.StatusCode != 401 || e.Error.Code != "unauthorized" || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no key: %d %+v", res.StatusCode, e)
	}
	res, _, _ = do(t, "POST", ts.URL+"/v1/tokens", "wrong-key-0123456789", `{"identity":"alice"}`)
	if res.StatusCode != 401 {
		t.Fatalf("wrong key: %d", res.StatusCode)
	}
	for body, want := range map[string]string{
		`{"identity":"alice"`:              "malformed",
		`{"identity":"al ice"}`:            "identity",
		`{"identity":"alice","ttl":"99h"}`: "max_token_ttl",
		`{"identity":"alice","ttl":"-1s"}`: "ttl",
		`{"identity":"a","bogus":1}`:       "unknown field",
	} {
		res, e, _ := do(t, "POST", ts.URL+"/v1/tokens", s.APIKey, body)
		if res.StatusCode != 400 || e.Error.Code != "bad_request" || !strings.Contains(e.Error.Message, want) {
			t.Errorf("%s: %d %+v, want 400 mentioning %q", body, res.StatusCode, e, want)
		}
	}
	res, _, b := do(t, "POST", ts.URL+"/v1/tokens", s.APIKey, `{"identity":"alice","ttl":"10m"}`)
	if res.StatusCode != 201 {
		t.Fatalf("mint: %d %s", res.StatusCode, b)
	}
	var tok tokenResponse
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	c, err := s.Signer.Verify(tok.Token)
	if err != nil || c.Identity != "alice" || time.Until(tok.ExpiresAt) > 11*time.Minute {
		t.Fatalf("minted token: %+v %v", c, err)
	}
}

type agentSet map[string]bool

func (a agentSet) KnownAgent(_ context.Context, id string) (bool, error) { return a[id], nil }

// TestTokenKindsMinted: POST /v1/tokens mints softphone tokens (the
// default) and agent tokens for agents that exist, and nothing else; the
// softphone socket takes softphone tokens only.
func TestTokenKindsMinted(t *testing.T) {
	s, ts := testServer(t)
	s.Agents = agentSet{"agent1": true}
	for body, want := range map[string]string{
		`{"identity":"alice"}`:                     "softphone",
		`{"identity":"alice","role":"softphone"}`:  "softphone",
		`{"identity":"agent1","role":"agent"}`:     "agent",
		`{"identity":"mallory","role":"agent"}`:    "400 unknown agent",
		`{"identity":"alice","role":"customer"}`:   "400 role must be",
		`{"identity":"alice","role":"viewer"}`:     "400 role must be",
		`{"identity":"alice","role":"supervisor"}`: "400 role must be",
	} {
		res, e, b := do(t, "POST", ts.URL+"/v1/tokens", s.APIKey, body)
		if strings.HasPrefix(want, "400") {
			if res.StatusCode != 400 || !strings.Contains(e.Error.Message, want[4:]) {
				t.Errorf("%s: %d %s, want %s", body, res.StatusCode, b, want)
			}
			continue
		}
		var tok tokenResponse
		_ = json.Unmarshal(b, &tok)
		c, err := s.Signer.Verify(tok.Token)
		if res.StatusCode != 201 || err != nil || c.Role != want || tok.Role != want {
			t.Errorf("%s: %d %s (%+v %v), want a %s token", body, res.StatusCode, b, c, err, want)
		}
	}
	for _, c := range []auth.Claims{
		{Identity: "agent1", Role: auth.RoleAgent},
		{Identity: "customer", Role: auth.RoleCustomer, Session: "s1"},
		{Identity: "viewer", Role: auth.RoleViewer, Session: "s1"},
	} {
		tok, _, err := s.Signer.Mint(c, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		res, e, _ := do(t, "GET", ts.URL+"/v1/ws?token="+tok, "", "")
		if res.StatusCode != 403 || e.Error.Code != "forbidden" {
			t.Errorf("%s token on the softphone socket: %d %+v, want 403", c.Role, res.StatusCode, e)
		}
	}
}

func TestSignallingRefusesBadTokens(t *testing.T) {
	s, ts := testServer(t)
	for _, q := range []string{"", "?token=nope", "?token=" + strings.Repeat("a", 40) + ".b"} {
		res, e, _ := do(t, "GET", ts.URL+"/v1/ws"+q, "", "")
		if res.StatusCode != 401 || e.Error.Code != "unauthorized" {
			t.Errorf("%q: %d %+v", q, res.StatusCode, e)
		}
	}
	s.Drain()
	res, _, _ := do(t, "GET", ts.URL+"/v1/ws?token=x", "", "")
	if res.StatusCode != 503 {
		t.Errorf("draining: %d", res.StatusCode)
	}
}

func TestHealthReadyMetricsOpenAPI(t *testing.T) {
	s, ts := testServer(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/openapi.yaml": 200, "/v1/nothing": 404} {
		res, _, b := do(t, "GET", ts.URL+path, "", "")
		if res.StatusCode != want {
			t.Errorf("%s: %d %s", path, res.StatusCode, b)
		}
	}
	_, _, b := do(t, "GET", ts.URL+"/metrics", "", "")
	if !strings.Contains(string(b), "split_calls_active") {
		t.Error("metrics lack split_calls_active")
	}
	_, _, b = do(t, "GET", ts.URL+"/openapi.yaml", "", "")
	if !strings.Contains(string(b), "/v1/tokens:") {
		t.Error("openapi lacks /v1/tokens")
	}
	s.Drain()
	if res, _, _ := do(t, "GET", ts.URL+"/readyz", "", ""); res.StatusCode != 503 {
		t.Errorf("readyz while draining: %d", res.StatusCode)
	}
	if res, _, _ := do(t, "GET", ts.URL+"/healthz", "", ""); res.StatusCode != 200 {
		t.Errorf("healthz while draining: %d", res.StatusCode)
	}
}

func TestOpenAPIJSON(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	for path, methods := range map[string][]string{
		"/v1/sessions": {"get", "post"}, "/v1/sessions/{id}": {"get", "delete"}, "/v1/sessions/{id}/transfer": {"post"},
		"/v1/sessions/{id}/participants": {"post"}, "/v1/sessions/{id}/participants/{participant}": {"delete"}, "/v1/sessions/{id}/events": {"get"}, "/v1/queues": {"get"},
		"/v1/agents": {"get", "post"}, "/v1/tokens": {"post"},
		"/v1/whatsapp/webhook": {"get", "post"}, "/v1/whatsapp/dead-letters": {"get"}, "/v1/whatsapp/settings": {"get", "post"},
	} {
		for _, m := range methods {
			if doc.Paths[path][m] == nil {
				t.Errorf("openapi.json lacks %s %s", m, path)
			}
		}
	}
}

func TestLogPathHidesJoinTokens(t *testing.T) {
	for in, want := range map[string]string{
		"/j/AbCdEfGhIjKlMnOpQrStUv": "/j/AbCd…",
		"/j/":                       "/j/",
		"/v1/sessions":              "/v1/sessions",
	} {
		if got := logPath(in); got != want {
			t.Errorf("logPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSecurityHeadersEverywhere: API answers and pages alike are never
// MIME-sniffed and send no Referer; pages carry their CSP.
func TestSecurityHeadersEverywhere(t *testing.T) {
	s, _ := testServer(t)
	s.Embedders = func(entry string) []string { return []string{"https://shop.example.com"} }
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, path := range []string{"/healthz", "/v1/tokens", "/v1/nothing", "/agent.html", "/customer.html?entry=x", "/split.js"} {
		res, _, _ := do(t, "GET", ts.URL+path, "", "")
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: %d %v", path, res.StatusCode, res.Header)
		}
	}
	res, _, _ := do(t, "GET", ts.URL+"/customer.html?entry=x", "", "")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'self' https://shop.example.com") {
		t.Errorf("customer page CSP %q", csp)
	}
}

// TestOpenAPICoversEveryRoute: every /v1 route the hub and this package
// mount is in openapi.yaml with its method — a client written from the
// document alone finds every endpoint.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	route := regexp.MustCompile(`mux\.Handle(?:Func)?\("(GET|POST|PATCH|PUT|DELETE) (/v1/[^"]+)"`)
	n := 0
	for _, file := range []string{"api.go", "../hub/api.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range route.FindAllStringSubmatch(string(src), -1) {
			n++
			if doc.Paths[m[2]][strings.ToLower(m[1])] == nil {
				t.Errorf("%s mounts %s %s; openapi.yaml lacks it", file, m[1], m[2])
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d routes: the pattern no longer matches the code", n)
	}
}
