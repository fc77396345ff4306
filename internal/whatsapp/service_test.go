package whatsapp

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/store"
)

var connectAt = time.Unix(1671644824, 0) // the user_connect payload's timestamp

func TestVerifyHandshake(t *testing.T) {
	s := testService(t, testConfig("http://127.0.0.1:1", ""), nil, &recorder{}, connectAt, nil)
	for _, tc := range []struct {
		token string
		code  int
		body  string
	}{{testVerify, 200, "1158201444"}, {testSecret, 403, ""}, {"", 403, ""}} {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1158201444"}, "hub.verify_token": {tc.token}}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/wa?"+q.Encode(), nil))
		if w.Code != tc.code || (tc.body != "" && w.Body.String() != tc.body) {
			t.Errorf("token %q: %d %q", tc.token, w.Code, w.Body.String())
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/wa", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", w.Code)
	}
}

func TestSignatureRefused(t *testing.T) {
	var fwd atomic.Int32
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fwd.Add(1) }))
	defer chat.Close()
	rec := &recorder{}
	s := testService(t, testConfig("http://127.0.0.1:1", chat.URL), nil, rec, connectAt, nil)
	body := payload(t, "user_connect")
	for _, tc := range []struct {
		sig  string
		code int
	}{
		{"", http.StatusUnauthorized},
		{notify.WhatsAppSignature(testVerify, body), http.StatusForbidden}, // the verify token is not the key
		{"sha256=zz", http.StatusForbidden},
		{notify.WhatsAppSignature(testSecret, append(body, ' ')), http.StatusForbidden},
	} {
		r := httptest.NewRequest(http.MethodPost, "/wa", bytes.NewReader(body))
		if tc.sig != "" {
			r.Header.Set(notify.WhatsAppSignatureHeader, tc.sig)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != tc.code {
			t.Errorf("sig %q: %d, want %d", tc.sig, w.Code, tc.code)
		}
	}
	big := bytes.Repeat([]byte(" "), MaxBody+1)
	if code := post(t, s, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d", code)
	}
	s.Close()
	if st := s.Stats(); st.Refused != 5 || st.Received != 0 || len(rec.all()) != 0 || fwd.Load() != 0 {
		t.Fatalf("refused deliveries went through: %+v, %d events, %d forwarded", st, len(rec.all()), fwd.Load())
	}
}

func TestEventsDedupeAndOrder(t *testing.T) {
	rec := &recorder{}
	st := memStore(t)
	s := testService(t, testConfig("http://127.0.0.1:1", ""), st, rec, connectAt.Add(10*time.Second), nil)
	for _, name := range []string{"user_connect", "user_connect", "text", "button_reply", "status_failed", "status_failed",
		"permission_reply", "terminate", "terminate"} {
		if code := post(t, s, payload(t, name)); code != http.StatusOK {
			t.Fatalf("%s: %d", name, code)
		}
	}
	// the last delivery is a duplicate: wait until it too has been processed
	waitFor(t, "8 events and 3 duplicates", func() bool { return len(rec.all()) == 8 && s.Stats().Duplicates == 3 })
	ev := rec.all()
	c, ok := ev[0].(CallEvent)
	if !ok || c.CallID != "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh" || c.SDPType != "offer" {
		t.Fatalf("first event %#v", ev[0])
	}
	if m, ok := ev[1].(InboundMessage); !ok || m.Keyword != "agent" || m.Contact.Name != "Sheena Nelson" {
		t.Fatalf("text: %#v", ev[1])
	}
	if m := ev[2].(InboundMessage); m.Keyword != "call me" || m.Payload != "call_me" {
		t.Fatalf("button: %#v", ev[2])
	}
	if m := ev[4].(InboundMessage); m.Type != "image" || m.Keyword != "" {
		t.Fatalf("image: %#v", ev[4])
	}
	if ms, ok := ev[5].(notify.WhatsAppStatus); !ok || !ms.OutsideWindow() {
		t.Fatalf("status: %#v", ev[5])
	}
	if _, ok := ev[6].(PermissionEvent); !ok {
		t.Fatalf("permission: %#v", ev[6])
	}
	if te, ok := ev[7].(TerminateEvent); !ok || te.Status != StatusFailed {
		t.Fatalf("terminate: %#v", ev[7])
	}
	if got := s.Stats(); got.Duplicates != 3 || got.Received != 9 || got.Events != 8 {
		t.Fatalf("stats %+v", got)
	}
	// the reply is in the store; the answered user-initiated call counts
	p, err := st.WhatsAppPermission(t.Context(), pnUser, "14085551234")
	if err != nil || p.Status != store.WhatsAppPermissionTemporary || !p.ExpiresAt.Equal(time.Unix(1768550400, 0)) || p.Source != "user_action" {
		t.Fatalf("permission %+v %v", p, err)
	}
	calls, _ := st.WhatsAppUsage(t.Context(), pnUser, "16315553602", store.WhatsAppUsageUserCall, time.Time{})
	if len(calls) != 1 {
		t.Fatalf("user call usage %v", calls)
	}
}

func TestStaleAndLateConnect(t *testing.T) {
	rec := &recorder{}
	// three minutes after the connect: older than the default 2 min
	s := testService(t, testConfig("http://127.0.0.1:1", ""), nil, rec, connectAt.Add(3*time.Minute), nil)
	post(t, s, payload(t, "user_connect"))
	post(t, s, payload(t, "terminate")) // terminates are never too old
	waitFor(t, "terminate", func() bool { return len(rec.all()) == 1 })
	if _, ok := rec.all()[0].(TerminateEvent); !ok || s.Stats().Stale != 1 {
		t.Fatalf("%#v %+v", rec.all(), s.Stats())
	}

	// terminate before connect: the terminate is delivered, the late connect dropped
	rec2 := &recorder{}
	s2 := testService(t, testConfig("http://127.0.0.1:1", ""), nil, rec2, connectAt, nil)
	post(t, s2, payload(t, "terminate"))
	post(t, s2, payload(t, "user_connect"))
	post(t, s2, payload(t, "bsuid_connect"))
	waitFor(t, "terminate and the other connect", func() bool { return len(rec2.all()) == 2 })
	if c, ok := rec2.all()[1].(CallEvent); !ok || c.CallID != "wacid.BSUID1" || s2.Stats().LateConnects != 1 {
		t.Fatalf("%#v %+v", rec2.all(), s2.Stats())
	}
}

func TestUnroutedNumbers(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig("http://127.0.0.1:1", "")
	cfg.Numbers = cfg.Numbers[1:] // pnUser not served here
	s := testService(t, cfg, nil, rec, connectAt, nil)
	post(t, s, payload(t, "user_connect"))
	post(t, s, payload(t, "text"))
	// a calls webhook for a messages-only number is not the hub's
	b := bytes.ReplaceAll(payload(t, "bsuid_connect"), []byte(pnUser), []byte(pnMsgs))
	post(t, s, b)
	waitFor(t, "3 unrouted", func() bool { return s.Stats().Unrouted == 3 })
	if len(rec.all()) != 0 {
		t.Fatalf("events %#v", rec.all())
	}
}

// chatPlatform records forwarded deliveries; status decides each answer.
type chatPlatform struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	times  []time.Time
	status func(n int) (int, string) // n: 1-based attempt count; returns status and Retry-After
}

func newChatPlatform(t *testing.T, status func(n int) (int, string)) *chatPlatform {
	c := &chatPlatform{status: status}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.got, c.bodies, c.times = append(c.got, r), append(c.bodies, b), append(c.times, time.Now())
		n := len(c.got)
		c.mu.Unlock()
		code, ra := c.status(n)
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *chatPlatform) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }

func TestForwardByteForByteWithRetryAfter(t *testing.T) {
	chat := newChatPlatform(t, func(n int) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, "1"
		}
		return http.StatusOK, ""
	})
	st := memStore(t)
	s := testService(t, testConfig("http://127.0.0.1:1", chat.srv.URL+"/meta"), st, &recorder{}, connectAt, nil)
	// bytes no re-encoding would keep: escaped unicode, odd spacing
	body := []byte("{\"object\":\"whatsapp_business_account\",  \"entry\":[{\"changes\":[{\"field\":\"messages\",\"value\":{\"note\":\"caf\\u00e9 \u00e9\"}}]}]}\n")
	if code := post(t, s, body); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "forwarded after a retry", func() bool { return s.Stats().Forwarded == 1 })
	chat.mu.Lock()
	defer chat.mu.Unlock()
	if len(chat.got) != 2 {
		t.Fatalf("%d attempts", len(chat.got))
	}
	r := chat.got[1]
	if !bytes.Equal(chat.bodies[1], body) || r.Header.Get(notify.WhatsAppSignatureHeader) != notify.WhatsAppSignature(testSecret, body) ||
		r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/meta" {
		t.Fatalf("forwarded %q with %v", chat.bodies[1], r.Header)
	}
	if gap := chat.times[1].Sub(chat.times[0]); gap < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 not honoured: retried after %s", gap)
	}
	if got := s.Stats(); got.ForwardRetries != 1 || got.DeadLetters != 0 {
		t.Fatalf("%+v", got)
	}
}

func TestForwardDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		attempts int
	}{{"exhausted", http.StatusBadGateway, 3}, {"permanent", http.StatusBadRequest, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			chat := newChatPlatform(t, func(int) (int, string) { return tc.status, "" })
			st := memStore(t)
			s := testService(t, testConfig("http://127.0.0.1:1", chat.srv.URL), st, &recorder{}, connectAt, nil)
			body := payload(t, "text")
			post(t, s, body)
			waitFor(t, "dead letter", func() bool { return s.Stats().DeadLetters == 1 })
			dl, err := s.DeadLetters(t.Context(), 10)
			if err != nil || len(dl) != 1 {
				t.Fatalf("%v %v", dl, err)
			}
			d := dl[0]
			if !bytes.Equal(d.Body, body) || d.Signature != notify.WhatsAppSignature(testSecret, body) || d.Attempts != tc.attempts ||
				d.LastStatus != tc.status || !strings.Contains(d.LastError, "HTTP") || chat.count() != tc.attempts {
				t.Fatalf("dead letter %+v after %d attempts", d, chat.count())
			}
			// the hub's own processing is not held up by the chat platform
			// (it runs on its own worker: wait for it, not for the forward's)
			waitFor(t, "the message handled", func() bool { return s.Stats().Events > 0 })
		})
	}
}

func TestCloseTurnsPendingForwardsIntoDeadLetters(t *testing.T) {
	release := make(chan struct{})
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer chat.Close()
	defer close(release)
	st := memStore(t)
	s := testService(t, testConfig("http://127.0.0.1:1", chat.URL), st, &recorder{}, connectAt, func(s *Service) {
		s.fwd.grace = 50 * time.Millisecond
	})
	for i := 0; i < 4; i++ { // two in flight, two queued
		post(t, s, []byte(`{"object":"whatsapp_business_account","entry":[],"n":`+string(rune('0'+i))+`}`))
	}
	s.Close()
	if got := s.Stats(); got.DeadLetters != 4 || got.Forwarded != 0 {
		t.Fatalf("%+v", got)
	}
	if dl, _ := st.WhatsAppDeadLetters(t.Context(), 10); len(dl) != 4 {
		t.Fatalf("%d dead letters stored", len(dl))
	}
	if code := post(t, s, payload(t, "text")); code != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d", code)
	}
	s.Close() // idempotent
}

// TestQueueFullAsksMetaToRetry: a burst larger than the queues is answered
// 503 (Meta redelivers) for what does not fit — nothing is dropped, nothing
// dead-lettered — and the redeliveries go through once there is room.
func TestQueueFullAsksMetaToRetry(t *testing.T) {
	chat := newChatPlatform(t, func(int) (int, string) { return 200, "" })
	rec := &recorder{block: make(chan struct{})}
	s := testService(t, testConfig("http://127.0.0.1:1", chat.srv.URL), nil, rec, connectAt, nil)
	body := payload(t, "status_failed")
	n := queueSize + 20
	var retry [][]byte
	for i := 0; i < n; i++ {
		switch code := post(t, s, body); code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			retry = append(retry, body)
		default:
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	if len(retry) == 0 {
		t.Fatal("a burst over the queue size was all accepted: the worker is blocked, the queue cannot have taken it")
	}
	close(rec.block)          // the handler catches up
	for _, b := range retry { // Meta's redeliveries
		waitFor(t, "room in the queues", func() bool { return post(t, s, b) == http.StatusOK })
	}
	waitFor(t, "all forwarded", func() bool { return s.Stats().Forwarded == uint64(n) })
	if got := s.Stats(); got.DeadLetters != 0 || got.Received != uint64(n) || got.QueueFull < uint64(len(retry)) {
		t.Fatalf("%+v (retried %d)", got, len(retry))
	}
}

func TestHandlerPanicDoesNotStopWorker(t *testing.T) {
	h := &panicky{recorder: &recorder{}}
	s := testService(t, testConfig("http://127.0.0.1:1", ""), nil, h, connectAt, nil)
	post(t, s, payload(t, "user_connect"))
	post(t, s, payload(t, "text"))
	waitFor(t, "message after the panic", func() bool { return len(h.all()) == 1 })
}

type panicky struct{ *recorder }

func (p *panicky) CallConnect(CallEvent) { panic("boom") }

func TestNewRefuses(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1", "")
	if _, err := New(cfg, nil, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil handler: %v", err)
	}
	cfg.AppSecret = ""
	if _, err := New(cfg, nil, &recorder{}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("no app secret: %v", err)
	}
	cfg = testConfig("http://127.0.0.1:1", "")
	cfg.Numbers[1].PhoneNumberID = cfg.Numbers[0].PhoneNumberID
	if _, err := New(cfg, nil, &recorder{}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate number: %v", err)
	}
	s, err := New(testConfig("http://127.0.0.1:1", ""), nil, &recorder{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := s.Number(pnBiz); !ok || n.AccessToken != "tok-biz" || n.Entry != "whatsapp" {
		t.Errorf("Number: %v %v", n, ok)
	}
	s.Close()
}
