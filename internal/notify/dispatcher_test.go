package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
)

type result struct {
	m       notify.Message
	r       notify.Receipt
	err     error
	attempt int
	final   bool
}

// results collects OnResult calls.
type results struct {
	ch chan result
}

func newResults() *results { return &results{ch: make(chan result, 64)} }

func (rs *results) on(m notify.Message, r notify.Receipt, err error, attempt int, final bool) {
	rs.ch <- result{m, r, err, attempt, final}
}

func (rs *results) next(t *testing.T) result {
	t.Helper()
	select {
	case r := <-rs.ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no OnResult within 5s")
		return result{}
	}
}

// untilFinal returns every result up to and including the final one for ref.
func (rs *results) untilFinal(t *testing.T, ref string) []result {
	t.Helper()
	var out []result
	for {
		r := rs.next(t)
		if r.m.Ref != ref {
			continue
		}
		out = append(out, r)
		if r.final {
			return out
		}
	}
}

func fastOptions(rs *results) notify.Options {
	return notify.Options{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, OnResult: rs.on}
}

func newDispatcher(t *testing.T, senders map[notify.Channel]notify.Sender, o notify.Options) *notify.Dispatcher {
	t.Helper()
	d, err := notify.New(senders, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkNoWorkers(t)
	})
	return d
}

// checkNoWorkers fails if a Dispatcher worker goroutine is still running
// a second after Close returned. (Close returns once every worker has
// called wg.Done; the goroutine itself may take a moment more to exit.)
func checkNoWorkers(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(time.Second)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("notify.(*Dispatcher).worker")) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("Dispatcher worker goroutine leaked:\n%s", buf[:n])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDispatcherRetriesRateLimitThenSucceeds(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	fake.FailNext(2, 429, 20429, "Too Many Requests")
	rs := newResults()
	d := newDispatcher(t, map[notify.Channel]notify.Sender{notify.ChannelSMS: newTwilio(t, fake.Config())}, fastOptions(rs))
	d.Deliver(ctxT(t), smsMsg())
	got := rs.untilFinal(t, "ses_42")
	if len(got) != 3 {
		t.Fatalf("got %d results: %+v", len(got), got)
	}
	for i, r := range got[:2] {
		if r.final || r.attempt != i+1 || !errors.Is(r.err, notify.ErrRateLimited) || !notify.Retryable(r.err) {
			t.Errorf("attempt %d: %+v", i+1, r)
		}
	}
	last := got[2]
	if !last.final || last.attempt != 3 || last.err != nil || last.r.ProviderID != fake.Messages()[0].SID {
		t.Errorf("final: %+v", last)
	}
}

func TestDispatcherDoesNotRetryPermanentErrors(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	wa := notifytest.StartWhatsApp(t)
	wa.CloseWindow("+16505551234")
	rs := newResults()
	d := newDispatcher(t, map[notify.Channel]notify.Sender{
		notify.ChannelSMS:      newTwilio(t, fake.Config()),
		notify.ChannelWhatsApp: newWhatsApp(t, wa.Config()),
	}, fastOptions(rs))
	m := smsMsg()
	m.To, m.Ref = "+15005550001", "bad-number"
	d.Deliver(ctxT(t), m)
	got := rs.untilFinal(t, "bad-number")
	if len(got) != 1 || got[0].attempt != 1 || notify.Retryable(got[0].err) || providerError(t, got[0].err).Code != "21211" {
		t.Errorf("21211: %+v", got)
	}
	w := waMsg()
	w.Ref = "window"
	d.Deliver(ctxT(t), w)
	got = rs.untilFinal(t, "window")
	if len(got) != 1 || !errors.Is(got[0].err, notify.ErrOutsideWindow) {
		t.Errorf("131047: %+v", got)
	}
	if fake.Requests() != 1 || wa.Requests() != 1 {
		t.Errorf("requests: twilio %d whatsapp %d", fake.Requests(), wa.Requests())
	}
}

func TestDispatcherGivesUp(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	fake.FailNext(5, "RCPT", 451, "4.3.0 Try again later")
	rs := newResults()
	d := newDispatcher(t, map[notify.Channel]notify.Sender{notify.ChannelEmail: newSMTP(t, fake.Config())}, fastOptions(rs))
	d.Deliver(ctxT(t), emailMsg())
	got := rs.untilFinal(t, "ses_42")
	if len(got) != 3 {
		t.Fatalf("want 3 attempts, got %+v", got)
	}
	for i, r := range got {
		if r.attempt != i+1 || r.final != (i == 2) || providerError(t, r.err).Code != "451" {
			t.Errorf("attempt %d: %+v", i+1, r)
		}
	}
	if len(fake.Messages()) != 0 {
		t.Error("message accepted after a give-up")
	}
}

func TestDispatcherRejectsWithoutQueueing(t *testing.T) {
	rs := newResults()
	d := newDispatcher(t, map[notify.Channel]notify.Sender{notify.ChannelLink: notify.CopyLink{}}, fastOptions(rs))
	d.Deliver(ctxT(t), notify.Message{Channel: notify.ChannelSMS, To: "+34600111222", Link: link, Ref: "nosender"})
	if r := rs.next(t); !r.final || r.attempt != 0 || !errors.Is(r.err, notify.ErrNoSender) {
		t.Errorf("no sender: %+v", r)
	}
	d.Deliver(ctxT(t), notify.Message{Channel: notify.ChannelLink, Link: "javascript:x", Ref: "invalid"})
	if r := rs.next(t); !r.final || r.attempt != 0 || !errors.Is(r.err, notify.ErrInvalid) {
		t.Errorf("invalid: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller's ctx ending (e.g. the HTTP request) does not stop the delivery
	d.Deliver(ctx, notify.Message{Channel: notify.ChannelLink, Link: link, Ref: "copy"})
	if r := rs.next(t); !r.final || r.err != nil || r.r.Status != notify.StatusReady || r.attempt != 1 {
		t.Errorf("copy: %+v", r)
	}
}

// blockingSender blocks every Send until release is closed or ctx ends.
type blockingSender struct {
	started chan string
	release chan struct{}
}

func (b *blockingSender) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	b.started <- m.Ref
	select {
	case <-b.release:
		return notify.Receipt{Channel: m.Channel, Status: notify.StatusSent, ProviderID: "id-" + m.Ref}, nil
	case <-ctx.Done():
		return notify.Receipt{Channel: m.Channel}, ctx.Err()
	}
}

func TestDispatcherQueueFull(t *testing.T) {
	b := &blockingSender{started: make(chan string, 8), release: make(chan struct{})}
	rs := newResults()
	o := fastOptions(rs)
	o.QueueSize = 1
	d := newDispatcher(t, map[notify.Channel]notify.Sender{notify.ChannelLink: b}, o)
	msg := func(ref string) notify.Message {
		return notify.Message{Channel: notify.ChannelLink, Link: link, Ref: ref}
	}
	d.Deliver(ctxT(t), msg("1"))
	<-b.started // the worker holds 1
	d.Deliver(ctxT(t), msg("2"))
	d.Deliver(ctxT(t), msg("3"))
	if r := rs.next(t); r.m.Ref != "3" || !r.final || r.attempt != 0 || !errors.Is(r.err, notify.ErrQueueFull) {
		t.Errorf("queue full: %+v", r)
	}
	close(b.release)
	for _, ref := range []string{"1", "2"} {
		if r := rs.next(t); r.m.Ref != ref || r.err != nil || !r.final {
			t.Errorf("%s: %+v", ref, r)
		}
	}
}

func TestDispatcherCloseDrains(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	rs := newResults()
	d, err := notify.New(map[notify.Channel]notify.Sender{
		notify.ChannelSMS: newTwilio(t, fake.Config()), notify.ChannelLink: notify.CopyLink{},
	}, fastOptions(rs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		m := smsMsg()
		m.Ref = string(rune('a' + i))
		d.Deliver(ctxT(t), m)
	}
	d.Deliver(ctxT(t), notify.Message{Channel: notify.ChannelLink, Link: link, Ref: "copy"})
	if err := d.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	checkNoWorkers(t)
	if n := len(fake.Messages()); n != 5 {
		t.Errorf("Close delivered %d of 5", n)
	}
	for range 6 {
		if r := rs.next(t); r.err != nil || !r.final {
			t.Errorf("%+v", r)
		}
	}
	d.Deliver(ctxT(t), smsMsg())
	if r := rs.next(t); !errors.Is(r.err, notify.ErrClosed) || !r.final {
		t.Errorf("after Close: %+v", r)
	}
	if err := d.Close(ctxT(t)); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDispatcherCloseCancelsAndStopsWorkers(t *testing.T) {
	b := &blockingSender{started: make(chan string, 8), release: make(chan struct{})}
	rs := newResults()
	d, err := notify.New(map[notify.Channel]notify.Sender{notify.ChannelLink: b, notify.ChannelSMS: b}, fastOptions(rs))
	if err != nil {
		t.Fatal(err)
	}
	d.Deliver(ctxT(t), notify.Message{Channel: notify.ChannelLink, Link: link, Ref: "in-flight"})
	d.Deliver(ctxT(t), notify.Message{Channel: notify.ChannelLink, Link: link, Ref: "queued"})
	d.Deliver(ctxT(t), notify.Message{Channel: notify.ChannelSMS, To: "+34600111222", Link: link, Ref: "sms"})
	<-b.started
	<-b.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	checkNoWorkers(t) // Close returned only after every worker stopped
	seen := map[string]result{}
	for range 3 {
		r := rs.next(t)
		seen[r.m.Ref] = r
	}
	for ref, r := range seen {
		if !r.final || !errors.Is(r.err, notify.ErrClosed) {
			t.Errorf("%s: %+v", ref, r)
		}
	}
	if len(seen) != 3 || seen["queued"].attempt != 0 || seen["in-flight"].attempt != 1 {
		t.Errorf("results: %+v", seen)
	}
}

func TestDispatcherLogsNoSecrets(t *testing.T) {
	fake := notifytest.StartTwilio(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rs := newResults()
	o := fastOptions(rs)
	o.Logger = log
	cfg := fake.Config()
	cfg.AuthToken = "tok-" + strings.Repeat("9", 28)
	d := newDispatcher(t, map[notify.Channel]notify.Sender{notify.ChannelSMS: newTwilio(t, cfg)}, o)
	d.Deliver(ctxT(t), smsMsg())
	if r := rs.untilFinal(t, "ses_42"); !errors.Is(r[len(r)-1].err, notify.ErrUnauthorized) {
		t.Fatalf("%+v", r)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, cfg.AuthToken) || strings.Contains(out, "+34600111222") {
		t.Errorf("log leaks a secret or the full number:\n%s", out)
	}
	if !strings.Contains(out, `"ref":"ses_42"`) || !strings.Contains(out, "20003") {
		t.Errorf("log lacks context:\n%s", out)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestNewRejectsBadOptions(t *testing.T) {
	ok := map[notify.Channel]notify.Sender{notify.ChannelLink: notify.CopyLink{}}
	for name, c := range map[string]struct {
		s map[notify.Channel]notify.Sender
		o notify.Options
	}{
		"no senders":      {nil, notify.Options{}},
		"nil sender":      {map[notify.Channel]notify.Sender{notify.ChannelSMS: nil}, notify.Options{}},
		"unknown channel": {map[notify.Channel]notify.Sender{"fax": notify.CopyLink{}}, notify.Options{}},
		"negative":        {ok, notify.Options{MaxAttempts: -1}},
		"max < initial":   {ok, notify.Options{InitialBackoff: time.Minute, MaxBackoff: time.Second}},
	} {
		if _, err := notify.New(c.s, c.o); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
