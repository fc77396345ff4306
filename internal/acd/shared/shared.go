// Package shared is the built-in ACD for several hub nodes on one
// PostgreSQL: the same rules as package acd (read its documentation; only
// the differences are here), with the queues and agents in the store so
// that queue order and the longest-idle agent are global.
//
// # How it is shared
//
// Every change is one transaction on the rows of the sessions and agents it
// touches (store.ACDTx). An offer pairs the first waiting session in the
// global service order with its queue's longest-idle ready agent, both
// locked with FOR UPDATE SKIP LOCKED, so two nodes pairing at the same
// moment take different sessions and different agents; a unique index on
// the ringing agent makes a second offer to one agent impossible even for
// a wrong program. Any node may make the pairing; the node that owns the
// session (store.ACDWaiting.Node) gets the Offer, CancelOffer, Overflow and
// Position callbacks, and the node where the agent logged in gets its
// AgentState, through PostgreSQL NOTIFY on store.ACDChannel (Note).
//
// Ring timeouts, maximum waits and wrap-ups are deadlines in the rows. Each
// node sweeps every Options.Sweep (250 ms) for the due ones, skipping rows
// another node holds, and tries to pair once more, which also catches a
// pairing a concurrent transaction left to it.
//
// Positions and estimated waits are computed by each node for its own
// sessions whenever any node says the queues changed. Counters and recent
// means (QueueStatus) are kept in the store: they survive a restart of the
// cluster, where package acd's count from the process's start.
//
// Callbacks run one at a time on a goroutine of the Engine, never inside a
// transaction: a Dispatcher may call back into it.
package shared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/store"
)

// Options configures New.
type Options struct {
	Store *store.DB // PostgreSQL
	Node  string    // this node's name, as in store.Node
	Log   *slog.Logger
	// Sweep is how often due deadlines are handled (default 250 ms).
	Sweep time.Duration
	// DefaultHandleTime is the handle time assumed for EWT before a queue
	// has history (default acd.DefaultHandleTime).
	DefaultHandleTime time.Duration
}

// opTimeout bounds one operation on the store.
const opTimeout = 5 * time.Second

// Engine distributes queued sessions to agents across nodes. Create it
// with New and stop it with Close.
type Engine struct {
	db     *store.DB
	node   string
	log    *slog.Logger
	d      acd.Dispatcher
	out    *acd.Callbacks
	defAHT time.Duration
	queues map[string]acd.QueueConfig
	qorder []string

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	kick chan struct{} // positions to compute again

	mu      sync.Mutex
	told    map[string]told      // Position last sent, per session of this node
	offered map[string]delivered // the offer last delivered, per session of this node
	pending []change             // changes the store did not take yet, in order (lasting)
	closed  bool
}

type delivered struct {
	gen int // store.ACDWaiting.OfferGen
	at  time.Time
}

// forgetOffers is how long a delivered offer is remembered (against
// delivering it twice: by its note and by lostOffers).
const forgetOffers = time.Hour

type told struct {
	pos int
	ewt time.Duration
}

// New starts an engine for node on the store. It forgets what a previous
// run of the same node left in the store (its sessions ended with it),
// and starts the sweep.
func New(queues []acd.QueueConfig, d acd.Dispatcher, o Options) (*Engine, error) {
	cfgs, err := acd.CheckQueues(queues)
	if err != nil {
		return nil, err
	}
	switch {
	case d == nil:
		return nil, fmt.Errorf("%w: nil dispatcher", acd.ErrInvalidConfig)
	case o.Store == nil || o.Store.Engine() != store.EnginePostgres:
		return nil, fmt.Errorf("%w: %w", acd.ErrInvalidConfig, store.ErrNotShared)
	case o.Node == "":
		return nil, fmt.Errorf("%w: no node name", acd.ErrInvalidConfig)
	}
	e := &Engine{db: o.Store, node: o.Node, log: o.Log, d: d, out: acd.NewCallbacks(), defAHT: o.DefaultHandleTime,
		queues: map[string]acd.QueueConfig{}, kick: make(chan struct{}, 1), told: map[string]told{}, offered: map[string]delivered{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.defAHT <= 0 {
		e.defAHT = acd.DefaultHandleTime
	}
	for _, c := range cfgs {
		e.queues[c.Name] = c
		e.qorder = append(e.qorder, c.Name)
	}
	sweep := o.Sweep
	if sweep <= 0 {
		sweep = 250 * time.Millisecond
	}
	e.ctx, e.stop = context.WithCancel(context.Background())
	if err := e.ForgetNode(o.Node); err != nil {
		e.stop()
		return nil, err
	}
	e.wg.Add(3)
	go e.sweep(sweep)
	go e.positions()
	go e.again()
	return e, nil
}

// change is one change that must reach the store (lasting).
type change struct {
	what string
	do   func() error
}

// storeTrouble: err is the store's (unreachable, restarting), not a
// refusal by the ACD's rules.
func storeTrouble(err error) bool {
	for _, rule := range []error{acd.ErrUnknownQueue, acd.ErrUnknownAgent, acd.ErrUnknownSession, acd.ErrNotOffered,
		acd.ErrAgentNotReady, acd.ErrDuplicate, acd.ErrLoggedOut, acd.ErrNotInCall, acd.ErrAlreadyOffered, acd.ErrClosed} {
		if errors.Is(err, rule) {
			return false
		}
	}
	return err != nil
}

// lasting makes a change that must not be lost when the store is away for
// a while — a call's end, an abandoned session, a logout: without them an
// agent would stay busy, or a session queued, after the store is back. A
// change the store does not take is made again every second, in order,
// until it takes it or the engine closes; it then counts as made.
func (e *Engine) lasting(what string, do func() error) error {
	err := do()
	if !storeTrouble(err) {
		return err
	}
	e.later(what, do, err)
	return nil
}

// later queues a change the store did not take (err) for again.
func (e *Engine) later(what string, do func() error, err error) {
	e.mu.Lock()
	e.pending = append(e.pending, change{what, do})
	n := len(e.pending)
	e.mu.Unlock()
	e.log.Warn("acd: the store did not take a change; trying again every second", "change", what, "waiting", n, "err", err)
}

// again makes the pending changes again, every second, until Close.
func (e *Engine) again() {
	defer e.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			e.mu.Lock()
			if n := len(e.pending); n > 0 {
				e.log.Error("acd: stopping with changes the store never took", "lost", n, "first", e.pending[0].what)
			}
			e.mu.Unlock()
			return
		case <-t.C:
		}
		for {
			e.mu.Lock()
			if len(e.pending) == 0 {
				e.mu.Unlock()
				break
			}
			c := e.pending[0]
			e.mu.Unlock()
			if err := c.do(); storeTrouble(err) {
				break // still away: next second
			} else if err != nil {
				e.log.Info("acd: a change made late no longer applies", "change", c.what, "err", err)
			} else {
				e.log.Info("acd: the store took a change late", "change", c.what)
			}
			e.mu.Lock()
			e.pending = e.pending[1:]
			e.mu.Unlock()
		}
	}
}

// Close logs this node's agents out (their consoles are gone with it),
// stops the sweep and the callbacks. Callbacks not yet delivered are
// dropped. It is idempotent and must not be called from a callback.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	if err := e.ForgetNode(e.node); err != nil {
		e.log.Warn("acd: cannot log this node's agents out", "err", err)
	}
	e.stop()
	e.wg.Wait()
	e.out.Close()
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// note is what one node tells another (NOTIFY on store.ACDChannel).
type note struct {
	From    string           `json:"from"`
	To      string           `json:"to,omitempty"` // "" = every node
	Kind    string           `json:"k"`            // offer, cancel, overflow, state, changed
	Agent   string           `json:"a,omitempty"`
	Session string           `json:"s,omitempty"`
	Queue   string           `json:"q,omitempty"`
	Reason  string           `json:"r,omitempty"`
	Gen     int              `json:"g,omitempty"` // of an offer
	Status  *acd.AgentStatus `json:"st,omitempty"`
}

// Note handles a payload received on store.ACDChannel; "" means
// announcements may have been missed.
func (e *Engine) Note(payload string) {
	if payload == "" {
		e.poke()
		return
	}
	var n note
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		e.log.Warn("acd: unreadable note", "err", err)
		return
	}
	if n.From == e.node || (n.To != "" && n.To != e.node) {
		return
	}
	e.deliver(n)
}

// deliver runs a note's callback here.
func (e *Engine) deliver(n note) {
	switch n.Kind {
	case "changed":
		e.poke()
	case "offer":
		e.mu.Lock()
		fresh := e.offered[n.Session].gen < n.Gen
		if fresh {
			e.offered[n.Session] = delivered{n.Gen, time.Now()}
		}
		e.mu.Unlock()
		if fresh { // a note and the sweep may both bring it
			e.out.Push(func() { e.d.Offer(n.Agent, n.Session, n.Queue) })
		}
	case "cancel":
		e.out.Push(func() { e.d.CancelOffer(n.Agent, n.Session, n.Reason) })
	case "overflow":
		target := e.queues[n.Queue].Overflow
		e.out.Push(func() { e.d.Overflow(n.Session, n.Queue, target) })
	case "state":
		if n.Status != nil {
			st := *n.Status
			e.out.Push(func() { e.d.AgentState(st) })
		}
	}
}

// poke asks for positions to be computed again.
func (e *Engine) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// effects collects what a transaction must tell, sent once it committed.
type effects struct {
	notes   []note
	changed bool
}

func (f *effects) to(node, kind string, n note) {
	n.To, n.Kind = node, kind
	f.notes = append(f.notes, n)
}

// run runs f in a transaction, then sends its notes and, when the queues
// changed, pairs what can be paired.
func (e *Engine) run(f func(ctx context.Context, tx *store.ACDTx, fx *effects) error) error {
	if e.isClosed() {
		return acd.ErrClosed
	}
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	fx, err := e.tx(ctx, f)
	if err != nil {
		return err
	}
	e.send(ctx, fx)
	if fx.changed {
		e.dispatch(ctx)
	}
	return nil
}

func (e *Engine) tx(ctx context.Context, f func(ctx context.Context, tx *store.ACDTx, fx *effects) error) (*effects, error) {
	var fx *effects
	err := e.db.ACD(ctx, func(tx *store.ACDTx) error {
		fx = &effects{} // a retried transaction starts again
		return f(ctx, tx, fx)
	})
	return fx, err
}

// send delivers notes for this node here and the others through the store.
func (e *Engine) send(ctx context.Context, fx *effects) {
	if fx.changed {
		fx.to("", "changed", note{})
	}
	for _, n := range fx.notes {
		n.From = e.node
		if n.To == e.node || n.To == "" {
			e.deliver(n)
			if n.To == e.node {
				continue
			}
		}
		b, err := json.Marshal(n)
		if err == nil {
			err = e.db.NotifyACD(ctx, string(b))
		}
		if err != nil {
			e.log.Warn("acd: cannot tell the other nodes", "kind", n.Kind, "session", n.Session, "agent", n.Agent, "err", err)
		}
	}
}

// dispatch pairs waiting sessions with ready agents, one transaction per
// pair, until no pair is free.
func (e *Engine) dispatch(ctx context.Context) {
	for ctx.Err() == nil {
		paired := false
		fx, err := e.tx(ctx, func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
			w, a, ok, err := tx.LockNextPair(ctx)
			if err != nil || !ok {
				return err
			}
			paired = true
			return e.offer(ctx, tx, fx, w, a)
		})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("acd: cannot pair a session with an agent", "err", err)
			}
			return
		}
		if !paired {
			return
		}
		e.send(ctx, fx)
	}
}

// offer rings a (ready, locked) for w (waiting, locked).
func (e *Engine) offer(ctx context.Context, tx *store.ACDTx, fx *effects, w store.ACDWaiting, a store.ACDAgent) error {
	now := time.Now()
	w.Agent = a.ID
	w.OfferGen++
	w.RingUntil = now.Add(e.queues[w.Queue].RingTimeout)
	if err := tx.PutWaiting(ctx, w); err != nil {
		return err
	}
	a.Session = w.Session
	e.log.Debug("acd: offer", "agent", a.ID, "session", w.Session, "queue", w.Queue, "node", w.Node)
	fx.to(w.Node, "offer", note{Agent: a.ID, Session: w.Session, Queue: w.Queue, Gen: w.OfferGen})
	fx.changed = true
	return e.setState(ctx, tx, fx, a, acd.StateRinging)
}

// withdraw ends w's offer, leaving its agent's state to the caller, and
// tells w's node (reason "" tells nobody).
func (e *Engine) withdraw(ctx context.Context, tx *store.ACDTx, fx *effects, w store.ACDWaiting, a *store.ACDAgent, reason string) error {
	w.Agent, w.RingUntil = "", time.Time{}
	a.Session = ""
	if reason != "" {
		fx.to(w.Node, "cancel", note{Agent: a.ID, Session: w.Session, Reason: reason})
	}
	fx.changed = true
	return tx.PutWaiting(ctx, w)
}

// setState writes a with state st and tells a's node.
func (e *Engine) setState(ctx context.Context, tx *store.ACDTx, fx *effects, a store.ACDAgent, st acd.AgentState) error {
	a.State = st.String()
	a.Since = time.Now()
	if st == acd.StateLoggedOut {
		a.Queues = nil
	}
	if err := tx.PutAgent(ctx, a); err != nil {
		return err
	}
	e.log.Debug("acd: agent state", "agent", a.ID, "state", st)
	s := status(a)
	fx.to(a.Node, "state", note{Agent: a.ID, Status: &s})
	return nil
}

func status(a store.ACDAgent) acd.AgentStatus {
	return acd.AgentStatus{ID: a.ID, Name: a.Name, State: acd.ParseAgentState(a.State), Since: a.Since,
		Queues: slices.Clone(a.Queues), Session: a.Session, Handled: a.Handled}
}

// lookup locks a logged-in agent.
func lookup(ctx context.Context, tx *store.ACDTx, id string) (store.ACDAgent, error) {
	a, ok, err := tx.LockAgent(ctx, id)
	switch {
	case err != nil:
		return a, err
	case !ok:
		return a, fmt.Errorf("%w %q", acd.ErrUnknownAgent, id)
	case a.State == acd.StateLoggedOut.String():
		return a, fmt.Errorf("%w: %q", acd.ErrLoggedOut, id)
	}
	return a, nil
}

func is(a store.ACDAgent, st acd.AgentState) bool { return a.State == st.String() }

// Login logs an agent in to queues, in state not_ready, on this node (its
// AgentState callbacks come here). See acd.ACD.Login.
func (e *Engine) Login(agentID, name string, queues []string) error {
	var qs []string
	for _, n := range queues {
		if _, ok := e.queues[n]; !ok {
			return fmt.Errorf("%w %q", acd.ErrUnknownQueue, n)
		}
		if !slices.Contains(qs, n) {
			qs = append(qs, n)
		}
	}
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, ok, err := tx.LockAgent(ctx, agentID)
		if err != nil {
			return err
		}
		if ok && !is(a, acd.StateLoggedOut) {
			return fmt.Errorf("%w: agent %q is logged in", acd.ErrDuplicate, agentID)
		}
		seq, err := tx.NextSeq(ctx)
		if err != nil {
			return err
		}
		a = store.ACDAgent{ID: agentID, Name: name, Node: e.node, Queues: qs, LoginSeq: seq, Handled: a.Handled}
		fx.changed = true
		return e.setState(ctx, tx, fx, a, acd.StateNotReady)
	})
}

// Logout logs an agent out. See acd.ACD.Logout. It lasts: a store that is
// away takes it when it is back.
func (e *Engine) Logout(agentID string) error {
	return e.lasting("logout of "+agentID, func() error { return e.logoutNow(agentID) })
}

func (e *Engine) logoutNow(agentID string) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, err := lookup(ctx, tx, agentID)
		if errors.Is(err, acd.ErrLoggedOut) {
			return nil
		}
		if err != nil {
			return err
		}
		return e.logout(ctx, tx, fx, a, "logout")
	})
}

// logout logs a out: at once, or when its call ends.
func (e *Engine) logout(ctx context.Context, tx *store.ACDTx, fx *effects, a store.ACDAgent, reason string) error {
	switch acd.ParseAgentState(a.State) {
	case acd.StateBusy:
		a.LogoutPending = true
		return tx.PutAgent(ctx, a)
	case acd.StateRinging:
		w, ok, err := tx.LockWaiting(ctx, a.Session)
		if err != nil {
			return err
		}
		if ok && w.Agent == a.ID {
			if err := e.withdraw(ctx, tx, fx, w, &a, reason); err != nil {
				return err
			}
		}
	case acd.StateWrapUp:
		if err := e.endWrapUp(ctx, tx, &a); err != nil {
			return err
		}
	}
	a.LogoutPending, a.PausePending, a.Session = false, false, ""
	fx.changed = true
	return e.setState(ctx, tx, fx, a, acd.StateLoggedOut)
}

// SetReady makes an agent ready or not_ready. See acd.ACD.SetReady.
func (e *Engine) SetReady(agentID string, ready bool) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, err := lookup(ctx, tx, agentID)
		if err != nil {
			return err
		}
		switch acd.ParseAgentState(a.State) {
		case acd.StateReady, acd.StateNotReady:
			if is(a, acd.StateReady) == ready {
				return nil
			}
		case acd.StateRinging:
			if ready {
				return nil
			}
			w, ok, err := tx.LockWaiting(ctx, a.Session)
			if err != nil {
				return err
			}
			if ok && w.Agent == a.ID {
				if err := e.withdraw(ctx, tx, fx, w, &a, "not_ready"); err != nil {
					return err
				}
			}
		case acd.StateBusy:
			a.PausePending = !ready
			return tx.PutAgent(ctx, a)
		case acd.StateWrapUp:
			if err := e.endWrapUp(ctx, tx, &a); err != nil {
				return err
			}
		}
		a.PausePending = false
		a.Session = ""
		fx.changed = true
		if ready {
			a.IdleSince = time.Now()
			return e.setState(ctx, tx, fx, a, acd.StateReady)
		}
		return e.setState(ctx, tx, fx, a, acd.StateNotReady)
	})
}

// CallEnded reports that the agent's call ended. See acd.ACD.CallEnded.
// It lasts (see Logout).
func (e *Engine) CallEnded(agentID string) error {
	return e.lasting("end of "+agentID+"'s call", func() error { return e.callEndedNow(agentID) })
}

func (e *Engine) callEndedNow(agentID string) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, err := lookup(ctx, tx, agentID)
		if err != nil {
			return err
		}
		if !is(a, acd.StateBusy) {
			return fmt.Errorf("%w: agent %q is %s", acd.ErrNotInCall, agentID, a.State)
		}
		return e.endCall(ctx, tx, fx, a)
	})
}

// endCall moves a busy agent on: wrap_up, or whatever follows it.
func (e *Engine) endCall(ctx context.Context, tx *store.ACDTx, fx *effects, a store.ACDAgent) error {
	fx.changed = true
	if w := e.queues[a.CallQueue].WrapUp; w > 0 && !a.LogoutPending {
		a.WrapUntil = time.Now().Add(w)
		return e.setState(ctx, tx, fx, a, acd.StateWrapUp)
	}
	if err := e.endWrapUp(ctx, tx, &a); err != nil {
		return err
	}
	return e.afterCall(ctx, tx, fx, a)
}

// endWrapUp records the call's handle time and forgets the call.
func (e *Engine) endWrapUp(ctx context.Context, tx *store.ACDTx, a *store.ACDAgent) error {
	if !a.AnsweredAt.IsZero() && a.CallQueue != "" {
		if err := tx.Sample(ctx, a.CallQueue, "handle", time.Since(a.AnsweredAt)); err != nil {
			return err
		}
	}
	a.Session, a.CallQueue, a.CallPriority, a.AnsweredAt, a.WrapUntil, a.CallNode = "", "", 0, time.Time{}, time.Time{}, ""
	return nil
}

// afterCall applies what the agent asked for during the call.
func (e *Engine) afterCall(ctx context.Context, tx *store.ACDTx, fx *effects, a store.ACDAgent) error {
	fx.changed = true
	switch {
	case a.LogoutPending:
		a.LogoutPending, a.PausePending = false, false
		return e.setState(ctx, tx, fx, a, acd.StateLoggedOut)
	case a.PausePending:
		a.PausePending = false
		return e.setState(ctx, tx, fx, a, acd.StateNotReady)
	default:
		a.IdleSince = time.Now()
		return e.setState(ctx, tx, fx, a, acd.StateReady)
	}
}

// Enqueue queues a session owned by this node. See acd.ACD.Enqueue.
func (e *Engine) Enqueue(sessionID, queue string, priority int) (int, error) {
	if _, ok := e.queues[queue]; !ok {
		return 0, fmt.Errorf("%w %q", acd.ErrUnknownQueue, queue)
	}
	queued := false
	err := e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		if _, ok, err := tx.LockWaiting(ctx, sessionID); err != nil || ok {
			return errors.Join(err, known(ok, sessionID))
		}
		if _, ok, err := tx.LockInCall(ctx, sessionID); err != nil || ok {
			return errors.Join(err, known(ok, sessionID))
		}
		var err error
		queued, err = e.enqueue(ctx, tx, fx, sessionID, queue, priority, false)
		return err
	})
	if err != nil || !queued {
		return 0, err
	}
	return e.placeNow(sessionID), nil
}

func known(ok bool, id string) error {
	if !ok {
		return nil
	}
	return fmt.Errorf("%w: session %q is known", acd.ErrDuplicate, id)
}

// enqueue adds a session of this node to queue, or overflows it if nobody
// is logged in to the queue; it reports whether it queued.
func (e *Engine) enqueue(ctx context.Context, tx *store.ACDTx, fx *effects, sessionID, queue string, priority int, front bool) (bool, error) {
	q := e.queues[queue]
	fx.changed = true
	if q.Overflow != "" {
		n, err := tx.Members(ctx, queue)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, e.overflow(ctx, tx, fx, sessionID, queue, e.node)
		}
	}
	seq, err := tx.NextSeq(ctx)
	if err != nil {
		return false, err
	}
	now := time.Now()
	w := store.ACDWaiting{Session: sessionID, Queue: queue, Node: e.node, Priority: priority, Front: front, Seq: seq, EnqueuedAt: now}
	if q.MaxWait > 0 && q.Overflow != "" {
		w.MaxUntil = now.Add(q.MaxWait)
	}
	e.log.Debug("acd: enqueue", "session", sessionID, "queue", queue, "priority", priority, "front", front)
	return true, tx.PutWaiting(ctx, w)
}

// overflow counts and reports a session leaving queue for its target.
func (e *Engine) overflow(ctx context.Context, tx *store.ACDTx, fx *effects, sessionID, queue, node string) error {
	e.log.Info("acd: overflow", "session", sessionID, "queue", queue, "target", e.queues[queue].Overflow)
	fx.to(node, "overflow", note{Session: sessionID, Queue: queue})
	return tx.Count(ctx, queue, "overflowed")
}

// Remove takes an abandoned session out of its queue. See acd.ACD.Remove.
// It lasts (see Logout); false while the store is away.
func (e *Engine) Remove(sessionID string) bool {
	removed := false
	err := e.removeNow(sessionID, &removed)
	if storeTrouble(err) {
		e.later("abandon of "+sessionID, func() error {
			var r bool
			return e.removeNow(sessionID, &r)
		}, err)
		err = nil
	}
	if err != nil && !errors.Is(err, acd.ErrClosed) {
		e.log.Warn("acd: cannot remove a session", "session", sessionID, "err", err)
	}
	return removed && err == nil
}

func (e *Engine) removeNow(sessionID string, removed *bool) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		w, ok, err := tx.LockWaiting(ctx, sessionID)
		if err != nil || !ok {
			return err
		}
		if err := e.leave(ctx, tx, fx, w, "abandoned", acd.StateReady); err != nil {
			return err
		}
		*removed = true
		return tx.Count(ctx, w.Queue, "abandoned")
	})
}

// leave takes w out of the queue; an agent it rings is told reason and
// goes to state st.
func (e *Engine) leave(ctx context.Context, tx *store.ACDTx, fx *effects, w store.ACDWaiting, reason string, st acd.AgentState) error {
	if w.Agent != "" {
		a, ok, err := tx.LockAgent(ctx, w.Agent)
		if err != nil {
			return err
		}
		if ok && is(a, acd.StateRinging) && a.Session == w.Session {
			if err := e.withdraw(ctx, tx, fx, w, &a, reason); err != nil {
				return err
			}
			if err := e.setState(ctx, tx, fx, a, st); err != nil {
				return err
			}
		}
	}
	fx.changed = true
	return tx.DeleteWaiting(ctx, w.Session)
}

// ringing locks agentID, ringing for sessionID, and the session.
func ringing(ctx context.Context, tx *store.ACDTx, agentID, sessionID string) (store.ACDAgent, store.ACDWaiting, error) {
	var w store.ACDWaiting
	a, err := lookup(ctx, tx, agentID)
	if err != nil {
		return a, w, err
	}
	w, ok, err := tx.LockWaiting(ctx, sessionID)
	switch {
	case err != nil:
		return a, w, err
	case !ok:
		return a, w, fmt.Errorf("%w %q", acd.ErrUnknownSession, sessionID)
	case !is(a, acd.StateRinging) || a.Session != sessionID || w.Agent != agentID:
		return a, w, fmt.Errorf("%w: session %q, agent %q", acd.ErrNotOffered, sessionID, agentID)
	}
	return a, w, nil
}

// Accept records that the offered agent answered. See acd.ACD.Accept.
func (e *Engine) Accept(agentID, sessionID string) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, w, err := ringing(ctx, tx, agentID, sessionID)
		if err != nil {
			return err
		}
		if err := tx.DeleteWaiting(ctx, sessionID); err != nil {
			return err
		}
		now := time.Now()
		if err := tx.Count(ctx, w.Queue, "answered"); err != nil {
			return err
		}
		if err := tx.Sample(ctx, w.Queue, "wait", now.Sub(w.EnqueuedAt)); err != nil {
			return err
		}
		a.CallQueue, a.CallPriority, a.AnsweredAt, a.CallNode = w.Queue, w.Priority, now, w.Node
		a.Handled++
		fx.changed = true
		return e.setState(ctx, tx, fx, a, acd.StateBusy)
	})
}

// Decline records that the offered agent rejected the session. See
// acd.ACD.Decline.
func (e *Engine) Decline(agentID, sessionID string) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, w, err := ringing(ctx, tx, agentID, sessionID)
		if err != nil {
			return err
		}
		if err := e.withdraw(ctx, tx, fx, w, &a, ""); err != nil {
			return err
		}
		return e.setState(ctx, tx, fx, a, acd.StateNotReady)
	})
}

// Transfer moves an agent's call to the front of a queue. See
// acd.ACD.Transfer.
func (e *Engine) Transfer(sessionID, fromAgentID, queue string) (int, error) {
	if _, ok := e.queues[queue]; !ok {
		return 0, fmt.Errorf("%w %q", acd.ErrUnknownQueue, queue)
	}
	queued := false
	err := e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		a, err := lookup(ctx, tx, fromAgentID)
		if err != nil {
			return err
		}
		if !is(a, acd.StateBusy) || a.Session != sessionID {
			return fmt.Errorf("%w: session %q, agent %q", acd.ErrNotInCall, sessionID, fromAgentID)
		}
		prio := a.CallPriority
		if err := e.endCall(ctx, tx, fx, a); err != nil {
			return err
		}
		queued, err = e.enqueue(ctx, tx, fx, sessionID, queue, prio, true)
		return err
	})
	if err != nil || !queued {
		return 0, err
	}
	return e.placeNow(sessionID), nil
}

// OfferTo rings a named ready agent for a session. See acd.ACD.OfferTo.
func (e *Engine) OfferTo(sessionID, agentID string) error {
	return e.run(func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		w, queued, err := tx.LockWaiting(ctx, sessionID)
		if err != nil {
			return err
		}
		if queued && w.Agent != "" {
			return fmt.Errorf("%w: session %q rings agent %q", acd.ErrAlreadyOffered, sessionID, w.Agent)
		}
		from, inCall, err := tx.LockInCall(ctx, sessionID)
		if err != nil {
			return err
		}
		a, err := lookup(ctx, tx, agentID)
		if err != nil {
			return err
		}
		if !is(a, acd.StateReady) {
			return fmt.Errorf("%w: agent %q is %s", acd.ErrAgentNotReady, agentID, a.State)
		}
		if !queued {
			if !inCall {
				return fmt.Errorf("%w %q", acd.ErrUnknownSession, sessionID)
			}
			q, prio := from.CallQueue, from.CallPriority
			if err := e.endCall(ctx, tx, fx, from); err != nil {
				return err
			}
			seq, err := tx.NextSeq(ctx)
			if err != nil {
				return err
			}
			w = store.ACDWaiting{Session: sessionID, Queue: q, Node: e.node, Priority: prio, Front: true, Seq: seq, EnqueuedAt: time.Now()}
			if c := e.queues[q]; c.MaxWait > 0 && c.Overflow != "" {
				w.MaxUntil = w.EnqueuedAt.Add(c.MaxWait)
			}
		}
		return e.offer(ctx, tx, fx, w, a)
	})
}

// ForgetNode takes a node's sessions out of the queues, logs its agents
// out and ends the calls other nodes' agents had with its sessions: the
// node stopped, or was lost (its consoles and calls went with it).
func (e *Engine) ForgetNode(node string) error {
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	fx, err := e.tx(ctx, func(ctx context.Context, tx *store.ACDTx, fx *effects) error {
		ws, as, err := tx.LockNode(ctx, node)
		if err != nil {
			return err
		}
		for _, w := range ws {
			if err := e.leave(ctx, tx, fx, w, "", acd.StateReady); err != nil {
				return err
			}
		}
		for _, a := range as {
			if a.Node != node { // an agent elsewhere in a call with one of the node's sessions: the call is over
				if err := e.endCall(ctx, tx, fx, a); err != nil {
					return err
				}
				continue
			}
			if is(a, acd.StateBusy) {
				a.LogoutPending = true // its call is over too
				if err := e.endWrapUp(ctx, tx, &a); err != nil {
					return err
				}
				if err := e.afterCall(ctx, tx, fx, a); err != nil {
					return err
				}
				continue
			}
			if err := e.logout(ctx, tx, fx, a, "logout"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("acd: forget node %q: %w", node, err)
	}
	e.send(ctx, fx)
	if fx.changed {
		e.dispatch(ctx)
	}
	return nil
}

// sweep handles due deadlines and pairs what can be paired, every d.
func (e *Engine) sweep(d time.Duration) {
	defer e.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
		fx, err := e.tx(ctx, e.due)
		if err == nil {
			e.send(ctx, fx)
			e.dispatch(ctx)
			e.lostOffers(ctx)
		} else if ctx.Err() == nil {
			e.log.Warn("acd: cannot handle due deadlines", "err", err)
		}
		cancel()
	}
}

// lostOffers delivers the offers for this node's sessions whose note was
// lost (NOTIFY is not delivered to a node that was not listening, e.g.
// while its connection to the store was being opened again).
func (e *Engine) lostOffers(ctx context.Context) {
	ws, err := e.db.ACDRinging(ctx, e.node)
	if err != nil {
		return
	}
	for _, w := range ws {
		e.mu.Lock()
		lost := e.offered[w.Session].gen < w.OfferGen
		e.mu.Unlock()
		if lost {
			e.log.Info("acd: an offer's note did not arrive; delivering it from the store", "agent", w.Agent, "session", w.Session)
			e.deliver(note{Kind: "offer", Agent: w.Agent, Session: w.Session, Queue: w.Queue, Gen: w.OfferGen})
		}
	}
}

// due ends the rings, waits and wrap-ups whose time ran out.
func (e *Engine) due(ctx context.Context, tx *store.ACDTx, fx *effects) error {
	now := time.Now()
	ws, as, err := tx.LockDue(ctx, now)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if !w.MaxUntil.IsZero() && !w.MaxUntil.After(now) {
			if err := e.leave(ctx, tx, fx, w, "overflow", acd.StateReady); err != nil {
				return err
			}
			if err := e.overflow(ctx, tx, fx, w.Session, w.Queue, w.Node); err != nil {
				return err
			}
			continue
		}
		a, ok, err := tx.LockAgent(ctx, w.Agent)
		if err != nil {
			return err
		}
		mine := ok && is(a, acd.StateRinging) && a.Session == w.Session
		if err := e.withdraw(ctx, tx, fx, w, &a, "timeout"); err != nil {
			return err
		}
		if mine {
			e.log.Info("acd: ring timeout", "agent", a.ID, "session", w.Session, "queue", w.Queue)
			if err := e.setState(ctx, tx, fx, a, acd.StateNotReady); err != nil {
				return err
			}
		}
	}
	for _, a := range as {
		if err := e.endWrapUp(ctx, tx, &a); err != nil {
			return err
		}
		if err := e.afterCall(ctx, tx, fx, a); err != nil {
			return err
		}
	}
	return nil
}

// Agents returns every agent that ever logged in, by ID, on any node.
func (e *Engine) Agents() []acd.AgentStatus {
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	as, err := e.db.ACDAgents(ctx)
	if err != nil {
		e.log.Warn("acd: cannot read the agents", "err", err)
		return nil
	}
	out := make([]acd.AgentStatus, 0, len(as))
	for _, a := range as {
		out = append(out, status(a))
	}
	slices.SortFunc(out, func(x, y acd.AgentStatus) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// snapshot is the queues' state as read from the store.
type snapshot struct {
	waiting []store.ACDWaiting // in service order
	agents  []store.ACDAgent
	figures map[string]store.ACDFigures
}

func (e *Engine) read(ctx context.Context) (snapshot, error) {
	var s snapshot
	var err error
	if s.waiting, err = e.db.ACDWaitingAll(ctx); err != nil {
		return s, err
	}
	if s.agents, err = e.db.ACDAgents(ctx); err != nil {
		return s, err
	}
	s.figures, err = e.db.ACDFigures(ctx)
	return s, err
}

// members counts the logged-in agents of q and the ready ones.
func (s snapshot) members(q string) (n, ready, busy int) {
	for _, a := range s.agents {
		if is(a, acd.StateLoggedOut) || !slices.Contains(a.Queues, q) {
			continue
		}
		n++
		switch acd.ParseAgentState(a.State) {
		case acd.StateReady:
			ready++
		case acd.StateBusy:
			busy++
		}
	}
	return n, ready, busy
}

// ewt is k × AHT / N as in package acd.
func (e *Engine) ewt(s snapshot, q string, k int) time.Duration {
	if k <= 0 {
		return 0
	}
	aht := e.defAHT
	if f := s.figures[q]; f.Handles > 0 {
		aht = f.AvgHandle
	}
	n, _, _ := s.members(q)
	return (time.Duration(k) * aht / time.Duration(max(n, 1))).Round(time.Second)
}

// places returns the position and EWT of every queued session.
func (e *Engine) places(s snapshot) map[string]told {
	out := make(map[string]told, len(s.waiting))
	k := map[string]int{}
	pos := map[string]int{}
	for _, w := range s.waiting {
		pos[w.Queue]++
		if k[w.Queue] == 0 {
			k[w.Queue] = 1
		}
		out[w.Session] = told{pos: pos[w.Queue], ewt: e.ewt(s, w.Queue, k[w.Queue])}
		if w.Agent == "" {
			k[w.Queue]++
		}
	}
	return out
}

// Position returns a queued session's queue, position and EWT.
func (e *Engine) Position(sessionID string) (queue string, position int, ewt time.Duration, ok bool) {
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	s, err := e.read(ctx)
	if err != nil {
		return "", 0, 0, false
	}
	for _, w := range s.waiting {
		if w.Session == sessionID {
			p := e.places(s)[sessionID]
			return w.Queue, p.pos, p.ewt, true
		}
	}
	return "", 0, 0, false
}

// placeNow is a session's position now (0 if not queued).
func (e *Engine) placeNow(sessionID string) int {
	_, pos, _, _ := e.Position(sessionID)
	return pos
}

// positions sends Position for this node's sessions whose place changed,
// each time the queues changed.
func (e *Engine) positions() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.kick:
		}
		ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
		s, err := e.read(ctx)
		cancel()
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Warn("acd: cannot read the queues", "err", err)
			}
			continue
		}
		places := e.places(s)
		e.mu.Lock()
		for id := range e.told {
			if _, ok := places[id]; !ok {
				delete(e.told, id)
			}
		}
		for id, d := range e.offered {
			if time.Since(d.at) > forgetOffers {
				delete(e.offered, id)
			}
		}
		for _, w := range s.waiting {
			if w.Node != e.node {
				continue
			}
			p, last := places[w.Session], e.told[w.Session]
			if p.pos == last.pos && !notable(last.ewt, p.ewt) {
				continue
			}
			e.told[w.Session] = p
			id, q := w.Session, w.Queue
			e.out.Push(func() { e.d.Position(id, q, p.pos, p.ewt) })
		}
		e.mu.Unlock()
	}
}

// notable is package acd's rule: at least 10 s and 25 % of a change.
func notable(old, cur time.Duration) bool {
	diff := cur - old
	if diff < 0 {
		diff = -diff
	}
	return diff >= 10*time.Second && diff >= old/4
}

// Queues returns a snapshot of every queue, in configuration order.
func (e *Engine) Queues() []acd.QueueStatus {
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	s, err := e.read(ctx)
	if err != nil {
		e.log.Warn("acd: cannot read the queues", "err", err)
		return nil
	}
	now := time.Now()
	out := make([]acd.QueueStatus, 0, len(e.qorder))
	for _, name := range e.qorder {
		f := s.figures[name]
		n, ready, busy := s.members(name)
		st := acd.QueueStatus{Name: name, LoggedIn: n, Ready: ready, Busy: busy, AvgWait: f.AvgWait, AvgHandle: f.AvgHandle,
			Answered: f.Answered, Abandoned: f.Abandoned, Overflowed: f.Overflowed}
		k := 1
		for _, w := range s.waiting {
			if w.Queue != name {
				continue
			}
			st.Waiting++
			if w.Agent == "" {
				k++
			}
			if d := now.Sub(w.EnqueuedAt); d > st.LongestWait {
				st.LongestWait = d
			}
		}
		if ready == 0 {
			st.EWT = e.ewt(s, name, k)
		}
		out = append(out, st)
	}
	return out
}
