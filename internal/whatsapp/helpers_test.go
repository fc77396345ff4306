package whatsapp

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

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/store"
)

const (
	testSecret = "app-secret-0123456789"
	testVerify = "verify-token-xyz"
	pnUser     = "106540352242922" // calling, graph (the payloads' user-initiated number)
	pnBiz      = "436666719526789" // calling, graph (the payloads' business-initiated number)
	pnSIP      = "555000111222333" // calling, sip
	pnMsgs     = "777000111222333" // messages only
)

// graphCall is one request the fake Graph API received.
type graphCall struct {
	Method, Path, Query, Auth string
	Body                      map[string]any
}

// fakeGraph is a small stand-in for Meta's Graph API, answering with the
// documented shapes (research §1, §3, §4.3, §5.1, §5.7); reply, when set,
// decides the answer to each request.
type fakeGraph struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []graphCall
	reply func(c graphCall) (status int, hdr map[string]string, body string)
}

func newFakeGraph(t *testing.T) *fakeGraph {
	f := &fakeGraph{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := graphCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization")}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &c.Body); err != nil {
				http.Error(w, `{"error":{"message":"bad json","code":100}}`, http.StatusBadRequest)
				return
			}
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		reply := f.reply
		f.mu.Unlock()
		status, hdr, body := 200, map[string]string(nil), ""
		if reply != nil {
			status, hdr, body = reply(c)
		}
		if body == "" {
			body = defaultGraphReply(c)
		}
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func defaultGraphReply(c graphCall) string {
	switch {
	case strings.HasSuffix(c.Path, "/calls") && c.Body["action"] == "connect":
		return `{"messaging_product":"whatsapp","calls":[{"id":"wacid.NEW1"}]}`
	case strings.HasSuffix(c.Path, "/messages"):
		return `{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":"wamid.SENT1"}]}`
	case strings.HasSuffix(c.Path, "/call_permissions"):
		return `{"messaging_product":"whatsapp","permission":{"status":"no_permission"},"actions":[]}`
	}
	return `{"messaging_product":"whatsapp","success":true}`
}

func (f *fakeGraph) requests() []graphCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]graphCall(nil), f.calls...)
}

func (f *fakeGraph) setReply(r func(c graphCall) (int, map[string]string, string)) {
	f.mu.Lock()
	f.reply = r
	f.mu.Unlock()
}

func testConfig(graphURL, forwardURL string) config.WhatsApp {
	off := false
	return config.WhatsApp{BaseURL: graphURL, AppSecret: testSecret, VerifyToken: testVerify,
		Forward: config.WhatsAppForward{URL: forwardURL, Attempts: 3, Timeout: 5 * time.Second},
		Numbers: []config.WhatsAppNumber{
			{PhoneNumberID: pnUser, Number: "+15550783881", AccessToken: "tok-user", Keywords: []string{"agent", "call me"},
				PermissionTemplate: &config.WhatsAppPermissionTemplate{Name: "may_we_call", Language: "en_US"}},
			{PhoneNumberID: pnBiz, Number: "+13175551399", AccessToken: "tok-biz"},
			{PhoneNumberID: pnSIP, Number: "+13175551398", AccessToken: "tok-sip", Signalling: "sip",
				SIP: &config.WhatsAppSIP{Hostname: "sip.hub.example.com"}},
			{PhoneNumberID: pnMsgs, Number: "+13175551397", AccessToken: "tok-msgs", Calling: &off},
		}}
}

// recorder is a Handler that records every event in order.
type recorder struct {
	mu     sync.Mutex
	events []any
	block  chan struct{} // when set, every call waits for it to close
}

func (r *recorder) add(e any) {
	r.mu.Lock()
	b := r.block
	r.mu.Unlock()
	if b != nil {
		<-b
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) CallConnect(e CallEvent)               { r.add(e) }
func (r *recorder) CallStatus(e StatusEvent)              { r.add(e) }
func (r *recorder) CallTerminate(e TerminateEvent)        { r.add(e) }
func (r *recorder) PermissionReply(e PermissionEvent)     { r.add(e) }
func (r *recorder) Message(e InboundMessage)              { r.add(e) }
func (r *recorder) MessageStatus(e notify.WhatsAppStatus) { r.add(e) }
func (r *recorder) all() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.events...)
}

var _ Handler = (*recorder)(nil)

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func memStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// testService builds a service with a fixed clock (at) and starts it.
func testService(t *testing.T, cfg config.WhatsApp, st Store, h Handler, at time.Time, tweak func(*Service)) *Service {
	t.Helper()
	s, err := newService(cfg, st, h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return at }
	if s.fwd != nil {
		s.fwd.backoff = time.Millisecond
	}
	if tweak != nil {
		tweak(s)
	}
	s.start()
	t.Cleanup(s.Close)
	return s
}

// post sends a signed webhook body to s and returns the status.
func post(t *testing.T, s http.Handler, body []byte) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(notify.WhatsAppSignatureHeader, notify.WhatsAppSignature(testSecret, body))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code
}
