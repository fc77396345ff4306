package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// worker delivers one endpoint's queue in order. It is the only goroutine
// that reads queue; Close closes queue and waits for done.
type worker struct {
	d      *Dispatcher
	url    string
	host   string // host[:port], for logs and metric labels
	secret string
	filter filter
	queue  chan job
	done   chan struct{}
	log    *slog.Logger // carries endpoint=host
	drops  warnLimiter
}

func (w *worker) run() {
	defer close(w.done)
	abandoned := 0
	for j := range w.queue {
		if w.d.stop.Err() != nil {
			abandoned++
			w.d.abandoned.Add(1)
			w.d.metrics.Dropped()
			continue
		}
		w.deliver(j)
	}
	if abandoned > 0 {
		w.log.Warn("webhook: events abandoned in queue at shutdown", "dropped", abandoned)
	}
}

// outcome is what a response (or its absence) means for the event.
type outcome int

const (
	delivered outcome = iota
	retry
	permanent // 3xx, 4xx other than 408/429
	gone      // 410
	aborted   // the Dispatcher gave up (Close's ctx ended)
)

func classify(status int, err error, stopped bool) outcome {
	switch {
	case err != nil && stopped:
		return aborted
	case err != nil: // timeout, connection refused or reset, TLS, DNS
		return retry
	case status >= 200 && status <= 299:
		return delivered
	case status == http.StatusGone:
		return gone
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500 && status <= 599:
		return retry
	default:
		return permanent
	}
}

// result is one attempt: a status, or a transport error.
type result struct {
	status     int
	retryAfter string // the Retry-After header, if any
	err        error
}

func (w *worker) deliver(j job) {
	for attempt := 1; ; attempt++ {
		r := w.attempt(j)
		switch classify(r.status, r.err, w.d.stop.Err() != nil) {
		case delivered:
			w.d.metrics.Delivered(w.host, j.typ)
			w.log.Debug("webhook delivered", "event", j.typ, "delivery", j.id, "attempts", attempt, "status", r.status)
			return
		case gone:
			w.fail(j, attempt, r, "410 Gone: endpoint refuses the event")
			return
		case permanent:
			w.fail(j, attempt, r, "rejected by endpoint")
			return
		case aborted:
			w.d.abandoned.Add(1)
			w.fail(j, attempt, r, "dispatcher closed")
			return
		case retry:
		}
		if attempt >= w.d.cfg.maxAttempts {
			w.fail(j, attempt, r, "attempts exhausted")
			return
		}
		w.d.metrics.Failed(w.host, j.typ, false)
		wait := retryWait(attempt, r, w.d.clock.now(), w.d.cfg, rand.Float64())
		w.log.Debug("webhook attempt failed; retrying", "event", j.typ, "delivery", j.id,
			"attempt", attempt, "status", r.status, "err", r.err, "wait", wait)
		if err := w.d.clock.sleep(w.d.stop, wait); err != nil {
			w.d.abandoned.Add(1)
			w.fail(j, attempt, r, "dispatcher closed during backoff")
			return
		}
	}
}

// fail records a final failure: one metric and one Warn log line.
func (w *worker) fail(j job, attempts int, r result, reason string) {
	w.d.metrics.Failed(w.host, j.typ, true)
	attrs := []any{"reason", reason, "event", j.typ, "delivery", j.id, "attempts", attempts, "status", r.status}
	if r.err != nil {
		attrs = append(attrs, "err", r.err.Error())
	}
	w.log.Warn("webhook delivery failed", attrs...)
}

func (w *worker) attempt(j job) result {
	ctx, cancel := context.WithTimeout(w.d.stop, w.d.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(j.body))
	if err != nil {
		return result{err: redact(err)}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderEvent, j.typ)
	h.Set(HeaderDelivery, j.id)
	h.Set(HeaderSignature, Sign(w.secret, j.body, w.d.clock.now()))
	resp, err := w.d.client.Do(req)
	if err != nil {
		return result{err: redact(err)}
	}
	defer resp.Body.Close()
	// Read a bounded amount so the connection can be reused; the content is
	// not used (nor logged: it may echo personal data).
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain)); err != nil {
		w.log.Debug("webhook: reading response body", "err", redact(err))
	}
	return result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
}

// redact drops the *url.Error wrapper, whose message holds the full URL
// (query and all); what is left names at most the host.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryWait is the wait before the next attempt: Retry-After on 429 and 503
// when present and valid, clamped to MaxBackoff; otherwise backoff.
func retryWait(attempt int, r result, now time.Time, cfg settings, rnd float64) time.Duration {
	if (r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable) && r.retryAfter != "" {
		if d, ok := parseRetryAfter(r.retryAfter, now); ok {
			return min(d, cfg.maxBackoff)
		}
	}
	return backoff(attempt, cfg.initialBackoff, cfg.maxBackoff, rnd)
}

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 section
// 10.2.3). A date in the past means no wait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(math.MaxInt64/time.Second) {
			return math.MaxInt64, true // absurdly far: the caller clamps it
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// backoff is InitialBackoff doubled per failed attempt, capped at
// MaxBackoff, with "equal jitter": half of it fixed and half random
// (rnd in [0,1)), so concurrent retries spread out but never collapse to 0.
func backoff(attempt int, initial, maxWait time.Duration, rnd float64) time.Duration {
	d := initial
	for i := 1; i < attempt && d < maxWait; i++ {
		if d > maxWait/2 {
			d = maxWait
			break
		}
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + time.Duration(rnd*float64(d-d/2))
}

// warnLimiter allows one warning per dropWarnInterval and counts the events
// covered by it. Safe for concurrent use by Send callers.
type warnLimiter struct {
	last       atomic.Int64 // unix nanos of the last warning; 0 before the first
	suppressed atomic.Int64 // events since the last warning
}

// note counts one event and reports whether to warn now, and for how many.
func (l *warnLimiter) note(now time.Time) (int64, bool) {
	l.suppressed.Add(1)
	last, t := l.last.Load(), now.UnixNano()
	if last != 0 && t-last < int64(dropWarnInterval) {
		return 0, false
	}
	if !l.last.CompareAndSwap(last, t) {
		return 0, false
	}
	return l.suppressed.Swap(0), true
}

// dropped records an event not queued for this endpoint.
func (w *worker) dropped(j job, reason string) {
	w.d.metrics.Dropped()
	if n, ok := w.drops.note(w.d.clock.now()); ok {
		w.log.Warn("webhook: event dropped", "reason", reason, "event", j.typ, "delivery", j.id, "dropped", n)
	}
}
