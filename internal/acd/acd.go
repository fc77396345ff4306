package acd

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for zero QueueConfig fields and options.
const (
	DefaultRingTimeout = 20 * time.Second
	DefaultHandleTime  = 60 * time.Second // AHT assumed before a queue has history
)

// QueueConfig configures one queue.
type QueueConfig struct {
	Name string
	// RingTimeout is how long an offered agent rings before the offer is
	// cancelled and the session offered to the next agent (default 20 s).
	RingTimeout time.Duration
	// MaxWait is how long a session may wait before it overflows; 0 means
	// no limit. It is ignored when Overflow is empty.
	MaxWait time.Duration
	// Overflow is where sessions go on overflow (e.g. a SIP URI); "" means
	// sessions keep waiting, even with no agent logged in.
	Overflow string
	// WrapUp is the after-call work time before the agent is ready again
	// (0 = ready at once). The agent may end it early with SetReady.
	WrapUp time.Duration
}

// Dispatcher is implemented by the session layer. Its methods are called in
// order, one at a time, from one goroutine owned by the ACD, never while the
// ACD's lock is held: they may call back into the ACD (but not Close). They
// should return quickly since they delay every later callback. A callback
// may be stale by the time it runs (see the package doc).
type Dispatcher interface {
	// Offer rings the agent for the session.
	Offer(agentID, sessionID, queue string)
	// CancelOffer stops the ringing. reason is one of "timeout",
	// "abandoned", "overflow", "logout", "not_ready".
	CancelOffer(agentID, sessionID, reason string)
	// Overflow routes the session to target; it has left the queue.
	Overflow(sessionID, queue, target string)
	// Position reports a session's 1-based position and estimated wait time.
	Position(sessionID, queue string, position int, estimatedWait time.Duration)
	// AgentState reports an agent's new state (for consoles and admin views).
	AgentState(a AgentStatus)
}

// QueueStatus is a snapshot of one queue.
type QueueStatus struct {
	Name        string
	Waiting     int           // sessions in the queue, including those ringing an agent
	LongestWait time.Duration // of the sessions in the queue
	LoggedIn    int           // agents logged in to the queue, any state
	Ready       int
	Busy        int           // in a call (not ringing, not in wrap-up)
	AvgWait     time.Duration // enqueue to answer, last 20 answered sessions
	AvgHandle   time.Duration // answer to end of wrap-up, last 20 calls
	Answered    int
	Abandoned   int
	Overflowed  int
	EWT         time.Duration // estimated wait for a new caller (see package doc)
}

// AgentStatus is a snapshot of one agent.
type AgentStatus struct {
	ID      string
	Name    string
	State   AgentState
	Since   time.Time // when State was entered
	Queues  []string
	Session string // session ringing or in a call (also during wrap-up); "" if none
	Handled int    // calls accepted since the agent first logged in
}

// Option configures New.
type Option func(*ACD) error

// WithClock sets the time source (default: the system clock).
func WithClock(c Clock) Option {
	return func(a *ACD) error {
		if c == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidConfig)
		}
		a.clock = c
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(a *ACD) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
		}
		a.log = l
		return nil
	}
}

// WithDefaultHandleTime sets the handle time assumed for EWT before a queue
// has any completed call (default 60 s).
func WithDefaultHandleTime(d time.Duration) Option {
	return func(a *ACD) error {
		if d <= 0 {
			return fmt.Errorf("%w: default handle time %v", ErrInvalidConfig, d)
		}
		a.defAHT = d
		return nil
	}
}

// ACD distributes queued sessions to agents. Create it with New.
type ACD struct {
	mu       sync.Mutex
	clock    Clock
	log      *slog.Logger
	d        Dispatcher
	out      *Callbacks
	defAHT   time.Duration
	queues   map[string]*queue
	qorder   []*queue // configuration order, for Queues
	agents   map[string]*agent
	sessions map[string]*session // queued sessions, ringing or not
	seq      uint64              // orders arrivals and logins
	closed   bool
}

// New validates the queues and returns an ACD that reports to d. It starts
// no goroutine; the callback goroutine starts with the first callback.
func New(queues []QueueConfig, d Dispatcher, opts ...Option) (*ACD, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil dispatcher", ErrInvalidConfig)
	}
	a := &ACD{
		clock:    systemClock{},
		log:      slog.New(slog.DiscardHandler),
		d:        d,
		out:      NewCallbacks(),
		defAHT:   DefaultHandleTime,
		queues:   make(map[string]*queue, len(queues)),
		agents:   make(map[string]*agent),
		sessions: make(map[string]*session),
	}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	cfgs, err := CheckQueues(queues)
	if err != nil {
		return nil, err
	}
	for _, c := range cfgs {
		q := &queue{cfg: c}
		a.queues[c.Name] = q
		a.qorder = append(a.qorder, q)
	}
	return a, nil
}

// CheckQueues validates queue configurations and returns them with the
// defaults filled in (a zero RingTimeout becomes DefaultRingTimeout).
func CheckQueues(queues []QueueConfig) ([]QueueConfig, error) {
	var errs []string
	seen := map[string]bool{}
	out := make([]QueueConfig, 0, len(queues))
	for i, c := range queues {
		switch {
		case strings.TrimSpace(c.Name) == "":
			errs = append(errs, fmt.Sprintf("queue %d: empty name", i))
		case seen[c.Name]:
			errs = append(errs, fmt.Sprintf("queue %q: duplicate name", c.Name))
		case c.RingTimeout < 0 || c.MaxWait < 0 || c.WrapUp < 0:
			errs = append(errs, fmt.Sprintf("queue %q: negative duration", c.Name))
		default:
			seen[c.Name] = true
			if c.RingTimeout == 0 {
				c.RingTimeout = DefaultRingTimeout
			}
			out = append(out, c)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(errs, "; "))
	}
	return out, nil
}

// Close stops all timers and the callback goroutine. Callbacks not yet
// delivered are dropped and none is made after Close returns. Every other
// method then returns ErrClosed (or false / empty). Close is idempotent and
// must not be called from a Dispatcher callback.
func (a *ACD) Close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		for _, s := range a.sessions {
			stopTimer(&s.ringTimer)
			stopTimer(&s.maxTimer)
		}
		for _, ag := range a.agents {
			stopTimer(&ag.wrapTimer)
		}
	}
	a.mu.Unlock()
	a.out.Close()
}

// Queues returns a snapshot of every queue, in configuration order.
func (a *ACD) Queues() []QueueStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	out := make([]QueueStatus, 0, len(a.qorder))
	for _, q := range a.qorder {
		st := QueueStatus{
			Name:       q.cfg.Name,
			Waiting:    len(q.waiting),
			LoggedIn:   len(q.members),
			AvgWait:    q.waits.mean(),
			AvgHandle:  q.handles.mean(),
			Answered:   q.answered,
			Abandoned:  q.abandoned,
			Overflowed: q.overflowed,
			EWT:        a.newCallerEWT(q),
		}
		if len(q.waiting) > 0 {
			oldest := q.waiting[0].enqueued
			for _, s := range q.waiting[1:] {
				if s.enqueued.Before(oldest) {
					oldest = s.enqueued
				}
			}
			st.LongestWait = now.Sub(oldest)
		}
		for _, ag := range q.members {
			switch ag.state {
			case StateReady:
				st.Ready++
			case StateBusy:
				st.Busy++
			}
		}
		out = append(out, st)
	}
	return out
}

// Agents returns a snapshot of every agent that ever logged in, by ID.
func (a *ACD) Agents() []AgentStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AgentStatus, 0, len(a.agents))
	for _, ag := range a.agents {
		out = append(out, ag.status())
	}
	slices.SortFunc(out, func(x, y AgentStatus) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Position returns a queued session's queue, 1-based position and EWT; ok is
// false if the session is not queued (unknown, answered or gone).
func (a *ACD) Position(sessionID string) (queue string, position int, ewt time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[sessionID]
	if s == nil {
		return "", 0, 0, false
	}
	pos, ewt := a.place(s)
	return s.q.cfg.Name, pos, ewt, true
}

// emit queues a Dispatcher call; a.mu must be held.
func (a *ACD) emit(f func(d Dispatcher)) {
	d := a.d
	a.out.Push(func() { f(d) })
}
