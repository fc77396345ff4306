package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/store"
)

// Forward retry timing: 1 s, 2 s, 4 s … at most 1 min between attempts; a
// Retry-After is honoured up to 5 min.
const (
	forwardBackoff    = time.Second
	forwardBackoffMax = time.Minute
	maxRetryAfter     = 5 * time.Minute
)

// forwarder passes every verified delivery on to the chat platform, byte
// for byte with Meta's signature, retrying with exponential backoff; a
// delivery that runs out of attempts (or is pending at Close) becomes a
// dead-letter record in the store.
type forwarder struct {
	s        *Service
	url      string
	attempts int
	client   *http.Client
	q        chan delivery
	backoff  time.Duration // first wait; tests shorten it

	stopping chan struct{} // closed by close: no more waits between attempts
	ctx      context.Context
	cancel   context.CancelFunc // aborts in-flight requests (Close, after closeGrace)
	grace    time.Duration
}

func newForwarder(s *Service, cfg config.WhatsAppForward) *forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	return &forwarder{s: s, url: cfg.URL, attempts: cfg.Attempts, client: &http.Client{Timeout: cfg.Timeout},
		q: make(chan delivery, queueSize), backoff: forwardBackoff, stopping: make(chan struct{}),
		ctx: ctx, cancel: cancel, grace: closeGrace}
}

func (f *forwarder) start(wg *sync.WaitGroup) {
	for range forwardWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range f.q {
				f.forward(d)
			}
		}()
	}
}

// close stops the queue (the caller holds the service's lock): pending
// deliveries get one attempt each, without waits between attempts, until
// the service cancels f.ctx.
func (f *forwarder) close() {
	close(f.q)
	close(f.stopping)
}

// forward delivers d, retrying, or records it as a dead letter.
func (f *forwarder) forward(d delivery) {
	var status int
	var why string
	attempt := 0
	for attempt < f.attempts {
		if attempt > 0 {
			f.s.c.forwardRetries.Add(1)
		}
		attempt++
		if f.ctx.Err() != nil {
			why = "the hub stopped before the delivery could be forwarded"
			break
		}
		var ra time.Duration
		var permanent bool
		status, ra, permanent, why = f.post(d)
		if why == "" {
			f.s.c.forwarded.Add(1)
			return
		}
		if permanent || attempt >= f.attempts {
			break
		}
		wait := f.backoff << (attempt - 1)
		if wait > forwardBackoffMax || wait <= 0 {
			wait = forwardBackoffMax
		}
		if ra > wait {
			wait = min(ra, maxRetryAfter)
		}
		f.s.log.Debug("WhatsApp forward failed, retrying", "delivery", d.id, "attempt", attempt, "status", status, "err", why, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-f.stopping:
			t.Stop()
			why += "; the hub stopped before the next attempt"
			f.deadLetter(d, attempt, status, why)
			return
		}
	}
	f.deadLetter(d, attempt, status, why)
}

// post makes one attempt; why is "" on success.
func (f *forwarder) post(d delivery) (status int, wait time.Duration, permanent bool, why string) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodPost, f.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, 0, true, err.Error()
	}
	ct := d.contentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set(notify.WhatsAppSignatureHeader, d.signature)
	req.Header.Set("User-Agent", "split-whatsapp-forward/1")
	req.Header.Set("X-Split-Delivery", d.id)
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			err = ue.Err
		}
		return 0, 0, false, "transport: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, 0, false, ""
	}
	why = fmt.Sprintf("the chat platform answered HTTP %d", resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 ||
		resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooEarly:
		return resp.StatusCode, notify.RetryAfter(resp.Header, time.Now()), false, why
	default:
		return resp.StatusCode, 0, true, why
	}
}

// deadLetter records d as not forwarded (or logs it without a store).
func (f *forwarder) deadLetter(d delivery, attempts, status int, why string) {
	f.s.c.deadLetters.Add(1)
	f.s.log.Error("WhatsApp delivery not forwarded to the chat platform: dead letter", "delivery", d.id,
		"attempts", attempts, "status", status, "err", why)
	if f.s.st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := f.s.st.AddWhatsAppDeadLetter(ctx, store.WhatsAppDeadLetter{ID: d.id, ReceivedAt: d.received,
		FailedAt: f.s.now(), Signature: d.signature, ContentType: d.contentType, Body: d.body,
		Attempts: attempts, LastStatus: status, LastError: why})
	if err != nil {
		f.s.log.Error("WhatsApp dead letter could not be stored: the delivery is lost for the chat platform",
			"delivery", d.id, "err", err)
	}
}
