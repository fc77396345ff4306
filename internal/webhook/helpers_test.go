package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMetrics counts what the Dispatcher reports.
type fakeMetrics struct {
	mu        sync.Mutex
	delivered map[string]int // by endpoint host
	failed    map[string]int // non-final, by endpoint host
	final     map[string]int // final, by endpoint host
	dropped   int
}

func newFakeMetrics() *fakeMetrics {
	return &fakeMetrics{delivered: map[string]int{}, failed: map[string]int{}, final: map[string]int{}}
}

func (m *fakeMetrics) Delivered(ep, _ string) { m.mu.Lock(); m.delivered[ep]++; m.mu.Unlock() }
func (m *fakeMetrics) Failed(ep, _ string, final bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if final {
		m.final[ep]++
	} else {
		m.failed[ep]++
	}
}
func (m *fakeMetrics) Dropped() { m.mu.Lock(); m.dropped++; m.mu.Unlock() }

type counts struct{ delivered, failed, final, dropped int }

// total sums the counters over all endpoints.
func (m *fakeMetrics) total() counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c counts
	for _, n := range m.delivered {
		c.delivered += n
	}
	for _, n := range m.failed {
		c.failed += n
	}
	for _, n := range m.final {
		c.final += n
	}
	c.dropped = m.dropped
	return c
}

var _ Metrics = (*fakeMetrics)(nil)

// hit is one request received by a recorder.
type hit struct {
	header http.Header
	body   []byte
	path   string
	method string
}

// recorder is an httptest server that records requests and answers with
// respond(n, h, w, r), n being the 1-based request number and h the request
// as recorded.
type recorder struct {
	srv     *httptest.Server
	host    string
	respond func(n int, h hit, w http.ResponseWriter, r *http.Request)
	mu      sync.Mutex
	hits    []hit
	arrived chan struct{} // one value per request, before respond runs
}

func newRecorder(t *testing.T, respond func(n int, h hit, w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{respond: respond, arrived: make(chan struct{}, 10000)}
	rec.srv = httptest.NewServer(http.HandlerFunc(rec.serve))
	rec.host = strings.TrimPrefix(rec.srv.URL, "http://")
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	h := hit{header: r.Header.Clone(), body: body, path: r.URL.Path, method: r.Method}
	rec.hits = append(rec.hits, h)
	n := len(rec.hits)
	rec.mu.Unlock()
	rec.arrived <- struct{}{}
	if rec.respond == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rec.respond(n, h, w, r)
}

func (rec *recorder) snapshot() []hit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]hit(nil), rec.hits...)
}

// wait blocks until n more requests have arrived.
func (rec *recorder) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for range n {
		select {
		case <-rec.arrived:
		case <-timeout:
			t.Fatalf("timed out waiting for requests at %s (got %d)", rec.host, len(rec.snapshot()))
		}
	}
}

func (rec *recorder) endpoint(secret string, events ...string) Endpoint {
	return Endpoint{URL: rec.srv.URL + "/hook", Secret: secret, Events: events}
}

// fast returns options whose waits are milliseconds.
func fast(m Metrics) Options {
	return Options{
		MaxAttempts:    3,
		InitialBackoff: time.Millisecond,
		MaxBackoff:     4 * time.Millisecond,
		Timeout:        2 * time.Second,
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        m,
	}
}

// start builds a Dispatcher that is closed when the test ends.
func start(t *testing.T, eps []Endpoint, o Options) *Dispatcher {
	t.Helper()
	return startWith(t, eps, o, systemClock())
}

func startWith(t *testing.T, eps []Endpoint, o Options, c clock) *Dispatcher {
	t.Helper()
	d, err := newDispatcher(eps, o, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func closeNow(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkNoLeak fails if a delivery worker or an HTTP client connection
// goroutine is still alive shortly after Close. Goroutines take a moment to
// unwind after their done channel closes, hence the bounded poll. Tests
// calling it must not be parallel.
func checkNoLeak(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "webhook.(*worker).run") || strings.Contains(g, "net/http.(*persistConn)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
