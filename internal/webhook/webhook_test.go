package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDeliveryIsSignedAndWellFormed(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	m := newFakeMetrics()
	d := start(t, []Endpoint{rec.endpoint("s3cret")}, fast(m))
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("CET", 3600))

	d.Send(Event{ID: "evt_given", Type: TypeSessionEnded, At: at, SessionID: "ses_1", Data: map[string]string{"cause": "normal"}})
	d.Send(Event{Type: TypeAgentState})
	rec.wait(t, 2)
	closeNow(t, d)

	hits := rec.snapshot()
	for i, h := range hits {
		if h.method != http.MethodPost || h.path != "/hook" {
			t.Errorf("hit %d: %s %s", i, h.method, h.path)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "split-webhook/1"} {
			if got := h.header.Get(k); got != want {
				t.Errorf("hit %d: %s = %q, want %q", i, k, got, want)
			}
		}
		if err := Verify("s3cret", h.header.Get(HeaderSignature), h.body, time.Now(), time.Minute); err != nil {
			t.Errorf("hit %d: Verify: %v (header %q)", i, err, h.header.Get(HeaderSignature))
		}
		if err := Verify("s3cret", h.header.Get(HeaderSignature), append(h.body, ' '), time.Now(), time.Minute); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("hit %d: tampered body: %v", i, err)
		}
	}

	var first map[string]any
	if err := json.Unmarshal(hits[0].body, &first); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": "evt_given", "type": "session.ended", "created_at": "2026-01-02T02:04:05.000006Z",
		"session_id": "ses_1", "data": map[string]any{"cause": "normal"},
	}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Errorf("body = %s\nwant  %v", hits[0].body, want)
	}
	if got := hits[0].header.Get(HeaderEvent); got != "session.ended" {
		t.Errorf("%s = %q", HeaderEvent, got)
	}
	if got := hits[0].header.Get(HeaderDelivery); got != "evt_given" {
		t.Errorf("%s = %q", HeaderDelivery, got)
	}

	var second wireEvent
	if err := json.Unmarshal(hits[1].body, &second); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(second.ID, "evt_") || len(second.ID) != 30 || hits[1].header.Get(HeaderDelivery) != second.ID {
		t.Errorf("generated id %q, header %q", second.ID, hits[1].header.Get(HeaderDelivery))
	}
	if ts, err := time.Parse(time.RFC3339Nano, second.CreatedAt); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("generated created_at %q: %v", second.CreatedAt, err)
	}
	if second.Data != nil || second.SessionID != "" || !strings.Contains(string(hits[1].body), `"session_id":"","data":null`) {
		t.Errorf("empty session and data: %s", hits[1].body)
	}
	if c := m.total(); c.delivered != 2 || c.failed+c.final+c.dropped != 0 {
		t.Errorf("metrics %+v", c)
	}
}

func TestEventIDsAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		j, err := newJob(Event{Type: "x"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if seen[j.id] {
			t.Fatalf("duplicate id %s", j.id)
		}
		seen[j.id] = true
	}
}

func TestRetryOn500ThenSuccess(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(n int, _ hit, w http.ResponseWriter, _ *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	m := newFakeMetrics()
	o := fast(m)
	o.MaxAttempts = 5
	d := start(t, []Endpoint{rec.endpoint("k")}, o)
	d.Send(Event{Type: TypeSessionCreated})
	rec.wait(t, 3)
	closeNow(t, d)

	hits := rec.snapshot()
	if len(hits) != 3 {
		t.Fatalf("%d attempts, want 3", len(hits))
	}
	for _, h := range hits[1:] {
		if string(h.body) != string(hits[0].body) || h.header.Get(HeaderDelivery) != hits[0].header.Get(HeaderDelivery) {
			t.Errorf("a retry changed the event: %s vs %s", h.body, hits[0].body)
		}
	}
	if c := m.total(); c != (counts{delivered: 1, failed: 2}) {
		t.Errorf("metrics %+v", c)
	}
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   int
		attempts int
	}{
		{http.StatusBadRequest, 1},
		{http.StatusUnauthorized, 1},
		{http.StatusNotFound, 1},
		{http.StatusUnprocessableEntity, 1},
		{http.StatusGone, 1},
		{http.StatusFound, 1}, // redirects are not followed
		{http.StatusRequestTimeout, 3},
		{http.StatusTooManyRequests, 3},
		{http.StatusInternalServerError, 3},
		{http.StatusBadGateway, 3},
		{http.StatusServiceUnavailable, 3},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, func(_ int, _ hit, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(tt.status)
			})
			m := newFakeMetrics()
			d := start(t, []Endpoint{rec.endpoint("k")}, fast(m)) // MaxAttempts 3
			d.Send(Event{Type: TypeSessionCreated})
			closeNow(t, d) // flushes: returns after the final outcome
			if got := len(rec.snapshot()); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
			if c := m.total(); c != (counts{failed: tt.attempts - 1, final: 1}) {
				t.Errorf("metrics %+v", c)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(n int, _ hit, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // the client gives up first
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	m := newFakeMetrics()
	o := fast(m)
	o.Timeout = 50 * time.Millisecond
	d := start(t, []Endpoint{rec.endpoint("k")}, o)
	d.Send(Event{Type: TypeSessionCreated})
	rec.wait(t, 2)
	closeNow(t, d)
	if c := m.total(); c != (counts{delivered: 1, failed: 1}) {
		t.Errorf("metrics %+v", c)
	}
}

func TestConnectionErrorIsRetried(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	ep := rec.endpoint("k")
	rec.srv.Close() // nothing listens any more
	m := newFakeMetrics()
	d := start(t, []Endpoint{ep}, fast(m))
	d.Send(Event{Type: TypeSessionCreated})
	closeNow(t, d)
	if c := m.total(); c != (counts{failed: 2, final: 1}) {
		t.Errorf("metrics %+v", c)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	rec := newRecorder(t, func(n int, _ hit, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			w.Header().Set("Retry-After", "30") // ignored on a 500
			w.WriteHeader(http.StatusInternalServerError)
		case 4:
			w.Header().Set("Retry-After", date)
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	var mu sync.Mutex
	var waits []time.Duration
	c := clock{now: time.Now, sleep: func(context.Context, time.Duration) error { return nil }}
	c.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return nil
	}
	m := newFakeMetrics()
	o := fast(m)
	o.MaxAttempts = 6
	o.InitialBackoff, o.MaxBackoff = 10*time.Millisecond, time.Minute
	d := startWith(t, []Endpoint{rec.endpoint("k")}, o, c)
	d.Send(Event{Type: TypeSessionCreated})
	rec.wait(t, 5)
	closeNow(t, d)

	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 4 {
		t.Fatalf("waits %v", waits)
	}
	if waits[0] != time.Second || waits[1] != 2*time.Second {
		t.Errorf("Retry-After seconds: waits %v, want 1s, 2s", waits[:2])
	}
	if waits[2] < 10*time.Millisecond || waits[2] > 40*time.Millisecond {
		t.Errorf("after a 500 (third failure) wait %v, want backoff in [10ms, 40ms]", waits[2])
	}
	if waits[3] <= time.Second || waits[3] > 3*time.Second {
		t.Errorf("Retry-After date: wait %v, want (1s, 3s]", waits[3])
	}
	if c := m.total(); c != (counts{delivered: 1, failed: 4}) {
		t.Errorf("metrics %+v", c)
	}
}

func TestRetryWait(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := settings{initialBackoff: time.Second, maxBackoff: time.Minute}
	tests := []struct {
		name   string
		status int
		ra     string
		want   time.Duration
	}{
		{"429 seconds", 429, "7", 7 * time.Second},
		{"503 seconds", 503, "0", 0},
		{"clamped to MaxBackoff", 429, "3600", time.Minute},
		{"huge", 503, "99999999999999999999", time.Minute},
		{"date", 503, now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second},
		{"date in the past", 429, now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"ignored on 500", 500, "7", time.Second},
		{"ignored on 408", 408, "7", time.Second},
		{"invalid", 429, "soon", time.Second},
		{"negative", 429, "-5", time.Second},
		{"absent", 503, "", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := result{status: tt.status, retryAfter: tt.ra}
			if got := retryWait(1, r, now, cfg, 1); got != tt.want { // rnd 1: the top of the jitter range
				t.Errorf("retryWait = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	initial, maxWait := 100*time.Millisecond, 2*time.Second
	wantCap := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000}
	for i, c := range wantCap {
		attempt := i + 1
		c *= time.Millisecond
		if lo := backoff(attempt, initial, maxWait, 0); lo != c/2 {
			t.Errorf("attempt %d rnd 0: %v, want %v", attempt, lo, c/2)
		}
		if hi := backoff(attempt, initial, maxWait, 0.9999999); hi > c || hi < c-time.Millisecond {
			t.Errorf("attempt %d rnd ~1: %v, want ~%v", attempt, hi, c)
		}
	}
	if got := backoff(200, time.Second, 5*time.Minute, 0); got != 150*time.Second {
		t.Errorf("many attempts: %v, want the capped 5m/2", got)
	}
}

func TestOrderPreservedPerEndpoint(t *testing.T) {
	t.Parallel()
	const n = 100
	var mu sync.Mutex
	retried := map[int]bool{}
	var order []int
	rec := newRecorder(t, func(_ int, h hit, w http.ResponseWriter, _ *http.Request) {
		var ev struct{ Data int }
		if err := json.Unmarshal(h.body, &ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.Data%7 == 0 && !retried[ev.Data] { // every 7th event fails once
			retried[ev.Data] = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		order = append(order, ev.Data)
		w.WriteHeader(http.StatusOK)
	})
	m := newFakeMetrics()
	o := fast(m)
	o.QueueSize = n
	d := start(t, []Endpoint{rec.endpoint("k")}, o)
	for i := range n {
		d.Send(Event{Type: TypeSessionRinging, Data: i})
	}
	closeNow(t, d)

	mu.Lock()
	defer mu.Unlock()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(order, want) {
		t.Errorf("delivery order %v", order)
	}
	if c := m.total(); c != (counts{delivered: n, failed: len(retried)}) {
		t.Errorf("metrics %+v", c)
	}
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		match    []string
		noMatch  []string
	}{
		{nil, []string{"session.created", "agent.state", "x"}, nil},
		{[]string{"*"}, []string{"session.created", "x"}, nil},
		{[]string{"session.*"}, []string{"session.created", "session.ended", "session.a.b"}, []string{"session", "sessions.created", "agent.state", "xsession.created"}},
		{[]string{"agent.state", "session.ended"}, []string{"agent.state", "session.ended"}, []string{"agent.stat", "agent.state.x", "session.created"}},
		{[]string{"session.a.*", "agent.*"}, []string{"session.a.b", "agent.state"}, []string{"session.b", "session.a"}},
	}
	for _, tt := range tests {
		f, err := compileFilter(tt.patterns)
		if err != nil {
			t.Fatalf("%q: %v", tt.patterns, err)
		}
		for _, typ := range tt.match {
			if !f.match(typ) {
				t.Errorf("%q should match %q", tt.patterns, typ)
			}
		}
		for _, typ := range tt.noMatch {
			if f.match(typ) {
				t.Errorf("%q should not match %q", tt.patterns, typ)
			}
		}
	}
	for _, bad := range [][]string{{""}, {"session*"}, {"*.created"}, {"session.*.x"}, {".*"}, {"**"}, {"a.**"}} {
		if _, err := compileFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEventFilterAndWildcard(t *testing.T) {
	t.Parallel()
	sessions := newRecorder(t, nil)
	agents := newRecorder(t, nil)
	everything := newRecorder(t, nil)
	mixed := newRecorder(t, nil)
	d := start(t, []Endpoint{
		sessions.endpoint("k", "session.*"),
		agents.endpoint("k", TypeAgentState),
		everything.endpoint("k"),
		mixed.endpoint("k", TypeSessionEnded, "agent.*"),
	}, fast(nil))
	sent := []string{TypeSessionCreated, TypeAgentState, "session", TypeSessionEnded, "sessions.x", "other.thing"}
	for _, typ := range sent {
		d.Send(Event{Type: typ})
	}
	closeNow(t, d)

	types := func(rec *recorder) []string {
		var out []string
		for _, h := range rec.snapshot() {
			out = append(out, h.header.Get(HeaderEvent))
		}
		return out
	}
	for name, tc := range map[string]struct {
		rec  *recorder
		want []string
	}{
		"session.*":               {sessions, []string{TypeSessionCreated, TypeSessionEnded}},
		"agent.state":             {agents, []string{TypeAgentState}},
		"(all)":                   {everything, sent},
		"session.ended + agent.*": {mixed, []string{TypeAgentState, TypeSessionEnded}},
	} {
		if got := types(tc.rec); !slices.Equal(got, tc.want) {
			t.Errorf("%s received %v, want %v", name, got, tc.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	ok := Endpoint{URL: "https://crm.example.com/hooks", Secret: "k"}
	tests := []struct {
		name string
		eps  []Endpoint
		o    Options
		want error
	}{
		{"ftp", []Endpoint{{URL: "ftp://example.com/x", Secret: "k"}}, Options{}, ErrInvalidEndpoint},
		{"relative", []Endpoint{{URL: "/hooks", Secret: "k"}}, Options{}, ErrInvalidEndpoint},
		{"no host", []Endpoint{{URL: "https:///hooks", Secret: "k"}}, Options{}, ErrInvalidEndpoint},
		{"port only", []Endpoint{{URL: "http://:8080/hooks", Secret: "k"}}, Options{}, ErrInvalidEndpoint},
		{"unparsable", []Endpoint{{URL: "http://[::1/x", Secret: "k"}}, Options{}, ErrInvalidEndpoint},
		{"empty", []Endpoint{{URL: "", Secret: "k"}}, Options{}, ErrInvalidEndpoint},
		{"no secret", []Endpoint{{URL: "https://example.com/hooks"}}, Options{}, ErrInvalidEndpoint},
		{"bad filter", []Endpoint{{URL: "https://example.com/hooks", Secret: "k", Events: []string{"session*"}}}, Options{}, ErrInvalidEndpoint},
		{"negative attempts", []Endpoint{ok}, Options{MaxAttempts: -1}, ErrInvalidOptions},
		{"negative backoff", []Endpoint{ok}, Options{InitialBackoff: -time.Second}, ErrInvalidOptions},
		{"negative max backoff", []Endpoint{ok}, Options{MaxBackoff: -time.Second}, ErrInvalidOptions},
		{"negative timeout", []Endpoint{ok}, Options{Timeout: -time.Second}, ErrInvalidOptions},
		{"negative queue", []Endpoint{ok}, Options{QueueSize: -1}, ErrInvalidOptions},
		{"initial above max", []Endpoint{ok}, Options{InitialBackoff: time.Hour}, ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.eps, tt.o)
			if !errors.Is(err, tt.want) || d != nil {
				t.Fatalf("New = %v, %v; want %v", d, err, tt.want)
			}
		})
	}

	// Every problem is reported, and none of them shows a secret or a query.
	_, err := New([]Endpoint{
		{URL: "https://u:pw-LEAK@example.com/x?token=q-LEAK", Secret: "s-LEAK", Events: []string{"bad*"}},
		{URL: "gopher://example.com", Secret: "s-LEAK"},
	}, Options{QueueSize: -1})
	for _, want := range []error{ErrInvalidEndpoint, ErrInvalidOptions} {
		if !errors.Is(err, want) {
			t.Errorf("joined error %v does not wrap %v", err, want)
		}
	}
	if err == nil || strings.Contains(err.Error(), "LEAK") {
		t.Errorf("error leaks: %v", err)
	}
}

func TestNoEndpoints(t *testing.T) {
	t.Parallel()
	d, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(Event{Type: TypeSessionCreated})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBadEventsAreNotSent(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	m := newFakeMetrics()
	var logs syncBuffer
	o := fast(m)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d := start(t, []Endpoint{rec.endpoint("k")}, o)
	d.Send(Event{SessionID: "ses_1"})                             // no type
	d.Send(Event{Type: TypeSessionCreated, Data: make(chan int)}) // not JSON
	closeNow(t, d)
	if n := len(rec.snapshot()); n != 0 {
		t.Errorf("%d requests", n)
	}
	if c := m.total(); c != (counts{final: 1}) {
		t.Errorf("metrics %+v", c)
	}
	if got := strings.Count(logs.String(), "level=ERROR"); got != 2 {
		t.Errorf("%d errors logged:\n%s", got, logs.String())
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rec := newRecorder(t, func(n int, _ hit, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	m := newFakeMetrics()
	var logs syncBuffer
	o := fast(m)
	o.QueueSize = 4
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d := start(t, []Endpoint{rec.endpoint("k")}, o)

	d.Send(Event{Type: TypeSessionCreated})
	rec.wait(t, 1) // the worker is now stuck in the first request

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 999 {
			d.Send(Event{Type: TypeSessionCreated})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a full queue")
	}
	if c := m.total(); c.dropped != 995 {
		t.Errorf("dropped %d, want 995 (queue of 4, one in flight)", c.dropped)
	}
	close(release)
	closeNow(t, d)
	if c := m.total(); c != (counts{delivered: 5, dropped: 995}) {
		t.Errorf("metrics %+v", c)
	}
	if n := strings.Count(logs.String(), "event dropped"); n != 1 {
		t.Errorf("%d drop warnings, want 1 (rate-limited):\n%s", n, logs.String())
	}
}

func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := newRecorder(t, func(_ int, _ hit, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	})
	quick := newRecorder(t, nil)
	m := newFakeMetrics()
	d := start(t, []Endpoint{slow.endpoint("a"), quick.endpoint("b")}, fast(m))
	for range 10 {
		d.Send(Event{Type: TypeSessionAnswered})
	}
	quick.wait(t, 10) // all ten arrive while the slow endpoint holds its first
	slow.wait(t, 1)   // which may reach it after the quick ones (a busy machine)
	if n := len(slow.snapshot()); n != 1 {
		t.Errorf("slow endpoint got %d requests while blocked", n)
	}
	close(release)
	closeNow(t, d)
	if n := len(slow.snapshot()); n != 10 {
		t.Errorf("slow endpoint got %d after release, want 10", n)
	}
}

func TestLogsNeverShowSecretsOrURLs(t *testing.T) {
	t.Parallel()
	rejecting := newRecorder(t, func(_ int, _ hit, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	})
	down := newRecorder(t, nil)
	down.srv.Close()
	withSecrets := func(rec *recorder) Endpoint {
		return Endpoint{
			URL:    "http://user:pw-LEAK@" + rec.host + "/hook?token=q-LEAK",
			Secret: "s-LEAK",
		}
	}
	var logs syncBuffer
	o := fast(nil)
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eps := []Endpoint{withSecrets(rejecting), withSecrets(down)}
	d := start(t, eps, o)
	d.Send(Event{Type: TypeSessionEnded, SessionID: "ses_9"})
	closeNow(t, d)
	o.Logger.Info("endpoint as a log value", "ep", eps[0])

	out := logs.String()
	if strings.Contains(out, "LEAK") {
		t.Errorf("log leaks a secret:\n%s", out)
	}
	for _, want := range []string{
		"endpoint=" + rejecting.host, "endpoint=" + down.host, "status=403", "attempts=3",
		"event=session.ended", "reason=\"rejected by endpoint\"", "reason=\"attempts exhausted\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want one per final failure:\n%s", n, out)
	}
	printed := fmt.Sprintf("%v %+v %#v %s", eps[0], eps[0], eps[0], eps[0])
	if strings.Contains(printed, "LEAK") || !strings.Contains(printed, rejecting.host) {
		t.Errorf("printed endpoint: %s", printed)
	}
}

// The tests below check for leaked goroutines and so must not run in parallel.

func TestCloseFlushesPendingThenStops(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(n int, _ hit, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		if n%4 == 0 {
			w.WriteHeader(http.StatusBadGateway) // retries are flushed too
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	m := newFakeMetrics()
	o := fast(m)
	o.MaxAttempts = 10
	d, err := New([]Endpoint{rec.endpoint("k"), rec.endpoint("k2", TypeAgentState)}, o)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		d.Send(Event{Type: TypeSessionCreated})
	}
	rec.wait(t, 1) // one in flight, 19 queued

	closed := make(chan error, 1)
	go func() { closed <- d.Close(context.Background()) }()
	for { // until Close has stopped intake
		d.mu.RLock()
		c := d.closed
		d.mu.RUnlock()
		if c {
			break
		}
		runtime.Gosched()
	}
	d.Send(Event{Type: TypeSessionCreated}) // refused: closed
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c := m.total(); c.delivered != 20 || c.final != 0 || c.dropped != 1 {
		t.Errorf("metrics %+v", c)
	}
	checkNoLeak(t)
	if err := d.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	backingOff := newRecorder(t, func(_ int, _ hit, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // then a one-hour backoff
	})
	hanging := newRecorder(t, func(_ int, _ hit, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	m := newFakeMetrics()
	d, err := New([]Endpoint{backingOff.endpoint("a"), hanging.endpoint("b")}, Options{
		InitialBackoff: time.Hour, MaxBackoff: time.Hour, Timeout: time.Hour,
		Logger: slog.New(slog.DiscardHandler), Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(Event{Type: TypeSessionCreated})
	d.Send(Event{Type: TypeSessionEnded})
	backingOff.wait(t, 1)
	hanging.wait(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = d.Close(ctx)
	if !errors.Is(err, ErrUnflushed) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "4 events") {
		t.Errorf("Close = %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
	// Per endpoint the in-flight event failed (after a non-final 503 for the
	// one backing off) and the queued one was dropped.
	if c := m.total(); c != (counts{failed: 1, final: 2, dropped: 2}) {
		t.Errorf("metrics %+v", c)
	}
	checkNoLeak(t)
	if err := d.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConcurrentSendAndClose(t *testing.T) {
	rec := newRecorder(t, nil)
	m := newFakeMetrics()
	o := fast(m)
	o.QueueSize = 8
	d, err := New([]Endpoint{rec.endpoint("a"), rec.endpoint("b", "session.*")}, o)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				d.Send(Event{Type: TypeSessionRinging})
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			if err := d.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	if c := m.total(); c.delivered+c.dropped != 2*8*200 || c.final != 0 {
		t.Errorf("metrics %+v: every event must be delivered or dropped", c)
	}
	checkNoLeak(t)
}
