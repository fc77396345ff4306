package hub

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/store"
)

// recorder is the sessions' Observer: it persists each event and the
// session's record (off the session goroutines, in order, on one goroutine
// it owns), fans events out to live subscribers (server-sent events) and
// webhooks, and counts state changes.
type recorder struct {
	h    *Hub
	ch   chan recItem
	done chan struct{}
	quit chan struct{} // closed when close gives up waiting for a store that does not answer

	mu   sync.Mutex
	subs map[string]map[chan session.Event]struct{}
	// ended holds each session's session.ended until its call record is
	// built: the webhook goes out with the record (callRecord).
	ended map[string]endedEvent
}

type endedEvent struct {
	info *session.Info
	e    session.Event
}

type recItem struct {
	info    *session.Info
	e       session.Event
	barrier chan struct{} // set: no event; closed when everything queued before it is persisted
}

func newRecorder(h *Hub) *recorder {
	r := &recorder{h: h, ch: make(chan recItem, 8192), done: make(chan struct{}), quit: make(chan struct{}),
		subs: map[string]map[chan session.Event]struct{}{}, ended: map[string]endedEvent{}}
	go r.run()
	return r
}

// SessionEvent implements session.Observer (session goroutine: never blocks).
func (r *recorder) SessionEvent(info *session.Info, e session.Event) {
	if e.Type == "session.state" {
		from, _ := e.Data["from"].(string)
		to, _ := e.Data["to"].(string)
		r.h.m.SessionState(string(info.Mode), from, to)
	}
	select {
	case r.ch <- recItem{info: info, e: e}:
	default:
		r.h.log.Warn("event recorder queue full; event not persisted", "session", info.ID, "type", e.Type)
	}
	r.mu.Lock()
	for ch := range r.subs[info.ID] {
		select {
		case ch <- e:
		default: // a slow subscriber misses events; it can re-read them from the store
		}
	}
	if e.Type == "session.ended" {
		r.ended[info.ID] = endedEvent{info, e} // sent with the call record
	}
	r.mu.Unlock()
	if r.h.hooks != nil && !contentEvent(e.Type) && e.Type != "session.ended" {
		typ := e.Type
		if typ == "session.state" {
			if to, _ := e.Data["to"].(string); to != "" {
				typ = "session." + to
			}
		}
		r.h.hooks.Publish(typ, info.ID, e.At, map[string]any{"event": e, "session": info})
	}
}

func (r *recorder) run() {
	defer close(r.done)
	ctx := context.Background()
	for it := range r.ch {
		if it.barrier != nil {
			close(it.barrier)
			continue
		}
		in, e := it.info, it.e
		var err error
		if e.Type == "session.created" {
			err = r.write(ctx, func() error { return r.h.store.CreateSession(ctx, r.h.toRecord(in)) })
		}
		if err == nil {
			var data []byte
			if e.Data != nil {
				data, _ = json.Marshal(e.Data)
			}
			err = r.write(ctx, func() error {
				_, err := r.h.store.AppendEvent(ctx, store.Event{SessionID: in.ID, At: e.At, Type: e.Type, Leg: e.Leg, Data: data})
				return err
			})
			if err == nil {
				// the other nodes' event streams follow it (PostgreSQL)
				if nerr := r.h.store.NotifyEvent(ctx, in.ID); nerr != nil {
					r.h.log.Debug("cannot announce a session event to the other nodes", "session", in.ID, "err", nerr)
				}
			}
		}
		if err == nil && e.Type != "session.created" && persistsRecord(e.Type) {
			err = r.write(ctx, func() error { return r.h.store.UpdateSession(ctx, r.h.toRecord(in)) })
		}
		if err != nil {
			r.h.log.Warn("cannot persist session event", "session", in.ID, "type", e.Type, "err", err)
		}
	}
}

// takeEnded returns (and forgets) a session's session.ended event.
func (r *recorder) takeEnded(id string) (endedEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, ok := r.ended[id]
	delete(r.ended, id)
	return ev, ok
}

// persist queues an event for the store only (no fan-out): figures that
// arrive after the session's goroutine has stopped.
func (r *recorder) persist(in *session.Info, e session.Event) {
	defer func() { _ = recover() }() // the recorder closed at shutdown: nothing to keep it for
	select {
	case r.ch <- recItem{info: in, e: e}:
	default:
	}
}

// flush waits until every event queued before it is persisted (at most
// timeout): a session leaves the hub's live table only when its stored record
// says what the live one said, so a GET never sees an older record.
func (r *recorder) flush(timeout time.Duration) {
	b := make(chan struct{})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r.ch <- recItem{barrier: b}:
	case <-t.C:
		return
	}
	select {
	case <-b:
	case <-t.C:
	}
}

// contentEvent: events that carry what a party said or typed (the
// interpreter mode's text). They stay in the session's own history (API key,
// retention) and never go to webhooks (docs/interpreter.md §6.5, §10).
func contentEvent(typ string) bool { return typ == "rtt.text" }

func persistsRecord(typ string) bool {
	return strings.HasPrefix(typ, "session.") || typ == "leg.joined"
}

func (r *recorder) close() {
	close(r.ch)
	t := time.NewTimer(recorderCloseGrace)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		r.h.log.Error("the store does not answer: session events still held are lost", "held", len(r.ch))
		close(r.quit)
		<-r.done
	}
}

// recorderCloseGrace is how long a stopping hub waits for the store to take
// the events it holds.
const recorderCloseGrace = 5 * time.Second

// write runs f until it succeeds or fails for a reason of its own: while the
// store does not answer at all (PostgreSQL restarting, unreachable), the
// write is tried again, up to every 2 s, and the events behind it wait in
// order — the store catches up once it is back. Until the recorder quits.
func (r *recorder) write(ctx context.Context, f func() error) error {
	wait, held, refused := 100*time.Millisecond, false, 0
	for {
		err := f()
		if err == nil {
			if held {
				r.h.log.Info("the store answers again: writing the session events held meanwhile", "held", len(r.ch))
			}
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		perr := r.h.store.Ping(pctx)
		cancel()
		if perr == nil {
			// the store is there and refused this write — or the write
			// took a connection that died with a restart (broken pipe,
			// 57P01) while the ping got a fresh one: only a third refusal
			// is the store's answer
			if refused++; refused >= 3 {
				return err
			}
			continue
		}
		if !held {
			r.h.log.Warn("the store does not answer: holding session events until it does", "err", err)
			held = true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.quit:
			t.Stop()
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// subscribe returns a channel of a session's live events and its cancel.
func (r *recorder) subscribe(id string) (chan session.Event, func()) {
	ch := make(chan session.Event, 256)
	r.mu.Lock()
	m := r.subs[id]
	if m == nil {
		m = map[chan session.Event]struct{}{}
		r.subs[id] = m
	}
	m[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs[id], ch)
		if len(r.subs[id]) == 0 {
			delete(r.subs, id)
		}
		r.mu.Unlock()
	}
}

// fanout hands an event read from the store (another node's session) to
// this node's subscribers of the session; a slow one misses it, as with
// local events.
func (r *recorder) fanout(id string, e session.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.subs[id] {
		select {
		case ch <- e:
		default:
		}
	}
}

// subscribed lists the sessions that have subscribers here.
func (r *recorder) subscribed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.subs))
	for id := range r.subs {
		out = append(out, id)
	}
	return out
}

func (r *recorder) hasSubs(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs[id]) > 0
}

// toRecord is the stored record of a live session of this node.
func (h *Hub) toRecord(in *session.Info) store.Session {
	rec := store.Session{Node: h.node, ID: in.ID, Mode: string(in.Mode), State: string(in.State), EntryPoint: in.Entry, Route: in.Route,
		Queue: in.Queue, CustomerName: in.Customer.Name, CustomerContact: in.Customer.Contact, Context: in.Customer.Context,
		Cause: in.Cause, CauseCode: in.CauseCode, CreatedAt: in.CreatedAt}
	if in.Agent != nil {
		rec.AgentID = in.Agent.ID
	}
	if in.AnsweredAt != nil {
		rec.AnsweredAt = *in.AnsweredAt
	}
	if in.EndedAt != nil {
		rec.EndedAt = *in.EndedAt
	}
	return rec
}

// fromRecord rebuilds a snapshot of an ended (or another node's) session.
func fromRecord(rec store.Session) *session.Info {
	in := &session.Info{ID: rec.ID, Mode: session.Mode(rec.Mode), State: session.State(rec.State), Entry: rec.EntryPoint,
		Route: rec.Route, Queue: rec.Queue, Customer: session.Customer{Name: rec.CustomerName, Contact: rec.CustomerContact, Context: rec.Context},
		CreatedAt: rec.CreatedAt, CauseCode: rec.CauseCode, Cause: rec.Cause, Legs: []session.LegInfo{}}
	if rec.AgentID != "" {
		in.Agent = &session.AgentRef{ID: rec.AgentID}
	}
	if !rec.AnsweredAt.IsZero() {
		t := rec.AnsweredAt
		in.AnsweredAt = &t
	}
	if !rec.EndedAt.IsZero() {
		t := rec.EndedAt
		in.EndedAt = &t
	}
	return in
}

// limiter is a per-key fixed-window rate limit (per minute).
type limiter struct {
	mu     sync.Mutex
	window time.Time
	counts map[string]int
}

func newLimiter() *limiter { return &limiter{counts: map[string]int{}} }

func (l *limiter) allow(key string, perMinute int) bool {
	if perMinute <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().Truncate(time.Minute)
	if !now.Equal(l.window) {
		l.window, l.counts = now, map[string]int{}
	}
	if l.counts[key] >= perMinute {
		return false
	}
	l.counts[key]++
	return true
}
