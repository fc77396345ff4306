package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	MaxAttempts    int           // attempts per message, default 4
	InitialBackoff time.Duration // wait before the 2nd attempt, default 1s; doubles each time
	MaxBackoff     time.Duration // cap of the wait (and of a provider's Retry-After), default 1m
	AttemptTimeout time.Duration // bound of one Send, default 30s
	QueueSize      int           // messages waiting per channel, default 256
	Logger         *slog.Logger  // default: discard
	// OnResult is called after every attempt, and exactly once per Deliver
	// with final=true: on success, on a non-retryable error, after the last
	// attempt, or when the message could not be queued or was abandoned by
	// Close (attempt is then the number of attempts made, possibly 0). A
	// channel's worker goroutine makes its calls one at a time; for a message
	// that could not be queued, Deliver's caller makes the call. OnResult must
	// not block for long nor call Close.
	OnResult func(m Message, r Receipt, err error, attempt int, final bool)
}

// Dispatcher delivers messages in the background, one worker goroutine per
// channel (started on the channel's first message), retrying retryable
// failures with exponential backoff and jitter. Nothing is dropped silently:
// every Deliver ends in exactly one OnResult call with final=true.
type Dispatcher struct {
	senders map[Channel]Sender
	opt     Options
	log     *slog.Logger

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc

	mu     sync.Mutex
	queues map[Channel]chan job
	closed bool
	wg     sync.WaitGroup
}

type job struct {
	ctx context.Context // the caller's values, without its cancellation
	m   Message
}

// New returns a Dispatcher for senders. It starts no goroutine.
func New(senders map[Channel]Sender, o Options) (*Dispatcher, error) {
	if len(senders) == 0 {
		return nil, invalidf("dispatcher: no senders")
	}
	s := make(map[Channel]Sender, len(senders))
	for ch, snd := range senders {
		if !ch.Valid() {
			return nil, invalidf("dispatcher: unknown channel %q", string(ch))
		}
		if snd == nil {
			return nil, invalidf("dispatcher: nil sender for %s", ch)
		}
		s[ch] = snd
	}
	if o.MaxAttempts < 0 || o.InitialBackoff < 0 || o.MaxBackoff < 0 || o.AttemptTimeout < 0 || o.QueueSize < 0 {
		return nil, invalidf("dispatcher: negative option")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 4
	}
	def(&o.InitialBackoff, time.Second)
	def(&o.MaxBackoff, time.Minute)
	def(&o.AttemptTimeout, 30*time.Second)
	if o.QueueSize == 0 {
		o.QueueSize = 256
	}
	if o.MaxBackoff < o.InitialBackoff {
		return nil, invalidf("dispatcher: MaxBackoff below InitialBackoff")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{
		senders: s, opt: o, log: log.With("component", "notify"),
		ctx: ctx, cancel: cancel, queues: map[Channel]chan job{},
	}, nil
}

// Deliver queues m for its channel's worker and returns at once. ctx is used
// for its values only: the delivery outlives it (context.WithoutCancel); Close
// ends it. The outcome, including "not queued", arrives through OnResult.
func (d *Dispatcher) Deliver(ctx context.Context, m Message) {
	snd, ok := d.senders[m.Channel]
	if !ok {
		d.report(m, Receipt{Channel: m.Channel}, fmt.Errorf("%w: %q", ErrNoSender, string(m.Channel)), 0, true)
		return
	}
	if err := m.Validate(); err != nil {
		d.report(m, Receipt{Channel: m.Channel}, err, 0, true)
		return
	}
	j := job{ctx: context.WithoutCancel(ctx), m: m}
	var err error
	d.mu.Lock()
	switch {
	case d.closed:
		err = ErrClosed
	default:
		q := d.queues[m.Channel]
		if q == nil {
			q = make(chan job, d.opt.QueueSize)
			d.queues[m.Channel] = q
			d.wg.Add(1)
			go d.worker(snd, q)
		}
		select {
		case q <- j:
		default:
			err = fmt.Errorf("%w: %s (%d waiting)", ErrQueueFull, m.Channel, d.opt.QueueSize)
		}
	}
	d.mu.Unlock()
	if err != nil {
		d.report(m, Receipt{Channel: m.Channel}, err, 0, true)
	}
}

// Close stops accepting messages and waits for the queued ones to be
// delivered. When ctx ends first, in-flight sends and backoff waits are
// cancelled, the remaining messages are reported with ErrClosed, and Close
// returns ctx's error once every worker has stopped. Close is idempotent.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, q := range d.queues {
			close(q)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return ctx.Err()
	}
}

func (d *Dispatcher) worker(s Sender, q <-chan job) {
	defer d.wg.Done()
	for j := range q {
		d.deliver(s, j)
	}
}

// deliver runs the attempts for one message.
func (d *Dispatcher) deliver(s Sender, j job) {
	m := j.m
	for attempt := 1; ; attempt++ {
		if d.ctx.Err() != nil {
			d.report(m, Receipt{Channel: m.Channel}, ErrClosed, attempt-1, true)
			return
		}
		actx, cancel := context.WithTimeout(j.ctx, d.opt.AttemptTimeout)
		stop := context.AfterFunc(d.ctx, cancel)
		r, err := s.Send(actx, m)
		stop()
		cancel()
		if err == nil {
			d.report(m, r, nil, attempt, true)
			return
		}
		if d.ctx.Err() != nil {
			d.report(m, r, fmt.Errorf("%w: %w", ErrClosed, err), attempt, true)
			return
		}
		retry := Retryable(err) || errors.Is(err, context.DeadlineExceeded) // our AttemptTimeout
		if !retry || attempt >= d.opt.MaxAttempts {
			d.report(m, r, err, attempt, true)
			return
		}
		d.report(m, r, err, attempt, false)
		wait := backoff(attempt, d.opt.InitialBackoff, d.opt.MaxBackoff, rand.Float64())
		var pe *ProviderError
		if errors.As(err, &pe) && pe.RetryAfter > wait {
			wait = min(pe.RetryAfter, d.opt.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			d.report(m, Receipt{Channel: m.Channel}, fmt.Errorf("%w: gave up after attempt %d: %w", ErrClosed, attempt, err), attempt, true)
			return
		}
	}
}

// backoff is the wait after attempt n (1-based): min(max, initial·2^(n-1)),
// of which the upper half is random (jitter in [0,1)).
func backoff(n int, initial, max time.Duration, jitter float64) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	half := d / 2
	return half + time.Duration(jitter*float64(d-half))
}

func (d *Dispatcher) report(m Message, r Receipt, err error, attempt int, final bool) {
	attrs := []any{"channel", m.Channel, "ref", m.Ref, "to", MaskAddr(m.To), "attempt", attempt, "final", final}
	switch {
	case err == nil:
		d.log.Info("link delivered", append(attrs, "provider_id", r.ProviderID, "status", r.Status)...)
	case final:
		d.log.Error("link delivery failed", append(attrs, "err", err)...)
	default:
		d.log.Warn("link delivery attempt failed; retrying", append(attrs, "err", err)...)
	}
	if d.opt.OnResult != nil {
		d.opt.OnResult(m, r, err, attempt, final)
	}
}
