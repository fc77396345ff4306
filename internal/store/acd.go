package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The built-in ACD's shared state (PostgreSQL only; see migration 0010 and
// package acd/shared, which holds the rules). The store only reads and
// writes rows; every change happens inside ACD's transaction.

// ACDChannel carries the shared ACD's notes between nodes (JSON; package
// acd/shared defines them).
const ACDChannel = "split_acd"

// ErrNotShared means the operation needs PostgreSQL (a shared ACD).
var ErrNotShared = errors.New("store: the shared ACD needs PostgreSQL")

// ACDAgent is an agent's row in the shared ACD.
type ACDAgent struct {
	ID, Name, Node string
	Queues         []string
	State          string
	Since          time.Time
	IdleSince      time.Time
	LoginSeq       int64
	Session        string // ringing for, or in a call (and its wrap-up) with
	CallQueue      string
	CallNode       string // the node of the call's session
	CallPriority   int
	AnsweredAt     time.Time
	WrapUntil      time.Time
	LogoutPending  bool
	PausePending   bool
	Handled        int
}

// ACDWaiting is a queued session's row in the shared ACD.
type ACDWaiting struct {
	Session, Queue, Node string
	Priority             int
	Front                bool
	Seq                  int64
	EnqueuedAt           time.Time
	Agent                string // the agent it rings; "" while waiting
	OfferGen             int
	RingUntil            time.Time
	MaxUntil             time.Time
}

// ACDFigures are a queue's counters and recent means.
type ACDFigures struct {
	Answered, Abandoned, Overflowed int
	AvgWait, AvgHandle              time.Duration
	Handles                         int // samples behind AvgHandle (≤ 20)
}

// acdSamples is how many recent waits and handle times are kept per queue.
const acdSamples = 20

// ACDTx is one transaction on the shared ACD's rows. Reads named Lock…
// take row locks held until the transaction ends.
type ACDTx struct{ tx *sql.Tx }

// ACD runs f in a transaction and commits it if f returns nil. A
// transaction that PostgreSQL aborts for a deadlock or a serialization
// failure is run again (f must then start from scratch), up to 5 times.
func (db *DB) ACD(ctx context.Context, f func(*ACDTx) error) error {
	if db.engine != EnginePostgres {
		return ErrNotShared
	}
	for attempt := 1; ; attempt++ {
		err := db.acdOnce(ctx, f)
		var pe *pgconn.PgError
		if err == nil || attempt == 5 || !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
	}
}

func (db *DB) acdOnce(ctx context.Context, f func(*ACDTx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: acd: begin: %w", err)
	}
	if err := f(&ACDTx{tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: acd: commit: %w", err)
	}
	return nil
}

const acdAgentCols = `id, name, node, queues, state, since, idle_since, login_seq, session, call_queue, call_priority,
	answered_at, wrap_until, logout_pending, pause_pending, handled, call_node`

// acdAgentRead is acdAgentCols as read: queues as a JSON array.
const acdAgentRead = `id, name, node, array_to_json(queues)::text, state, since, idle_since, login_seq, session, call_queue,
	call_priority, answered_at, wrap_until, logout_pending, pause_pending, handled, call_node`

const acdWaitingCols = `session, queue, node, priority, front, seq, enqueued_at, agent, offer_gen, ring_until, max_until`

func scanACDAgent(r scanner) (ACDAgent, error) {
	var a ACDAgent
	var since, idle, answered, wrap int64
	var queues string
	err := r.Scan(&a.ID, &a.Name, &a.Node, &queues, &a.State, &since, &idle, &a.LoginSeq, &a.Session, &a.CallQueue,
		&a.CallPriority, &answered, &wrap, &a.LogoutPending, &a.PausePending, &a.Handled, &a.CallNode)
	if err != nil {
		return a, err
	}
	a.Since, a.IdleSince, a.AnsweredAt, a.WrapUntil = zeroFromMillis(since), zeroFromMillis(idle), zeroFromMillis(answered), zeroFromMillis(wrap)
	if err := json.Unmarshal([]byte(queues), &a.Queues); err != nil {
		return a, fmt.Errorf("queues of %q: %w", a.ID, err)
	}
	return a, nil
}

func scanACDWaiting(r scanner) (ACDWaiting, error) {
	var w ACDWaiting
	var enq, ring, maxu int64
	err := r.Scan(&w.Session, &w.Queue, &w.Node, &w.Priority, &w.Front, &w.Seq, &enq, &w.Agent, &w.OfferGen, &ring, &maxu)
	w.EnqueuedAt, w.RingUntil, w.MaxUntil = zeroFromMillis(enq), zeroFromMillis(ring), zeroFromMillis(maxu)
	return w, err
}

// zeroFromMillis is the inverse of zeroMillis: 0 is the zero time.
func zeroFromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}

func zeroMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// LockAgent reads and locks agent id's row; ok is false if there is none.
func (t *ACDTx) LockAgent(ctx context.Context, id string) (a ACDAgent, ok bool, err error) {
	a, err = scanACDAgent(t.tx.QueryRowContext(ctx, `SELECT `+acdAgentRead+` FROM acd_agents WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("store: acd agent %q: %w", id, err)
	}
	return a, true, nil
}

// LockInCall reads and locks the busy agent whose call is session.
func (t *ACDTx) LockInCall(ctx context.Context, session string) (a ACDAgent, ok bool, err error) {
	a, err = scanACDAgent(t.tx.QueryRowContext(ctx, `SELECT `+acdAgentRead+` FROM acd_agents
		WHERE state = 'busy' AND session = $1 LIMIT 1 FOR UPDATE`, session))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("store: acd call %q: %w", session, err)
	}
	return a, true, nil
}

// PutAgent writes an agent's row.
func (t *ACDTx) PutAgent(ctx context.Context, a ACDAgent) error {
	if err := checkText("acd agent", a.ID, a.Name, a.Node, a.State, a.Session, a.CallQueue, a.CallNode); err != nil {
		return err
	}
	if a.Queues == nil {
		a.Queues = []string{}
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO acd_agents (`+acdAgentCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, node = excluded.node, queues = excluded.queues,
		state = excluded.state, since = excluded.since, idle_since = excluded.idle_since, login_seq = excluded.login_seq,
		session = excluded.session, call_queue = excluded.call_queue, call_priority = excluded.call_priority,
		answered_at = excluded.answered_at, wrap_until = excluded.wrap_until, logout_pending = excluded.logout_pending,
		pause_pending = excluded.pause_pending, handled = excluded.handled, call_node = excluded.call_node`,
		a.ID, a.Name, a.Node, a.Queues, a.State, zeroMillis(a.Since), zeroMillis(a.IdleSince), a.LoginSeq, a.Session,
		a.CallQueue, a.CallPriority, zeroMillis(a.AnsweredAt), zeroMillis(a.WrapUntil), a.LogoutPending, a.PausePending, a.Handled, a.CallNode)
	if err != nil {
		return fmt.Errorf("store: put acd agent %q: %w", a.ID, err)
	}
	return nil
}

// LockWaiting reads and locks a queued session's row.
func (t *ACDTx) LockWaiting(ctx context.Context, session string) (w ACDWaiting, ok bool, err error) {
	w, err = scanACDWaiting(t.tx.QueryRowContext(ctx, `SELECT `+acdWaitingCols+` FROM acd_waiting WHERE session = $1 FOR UPDATE`, session))
	if errors.Is(err, sql.ErrNoRows) {
		return w, false, nil
	}
	if err != nil {
		return w, false, fmt.Errorf("store: acd session %q: %w", session, err)
	}
	return w, true, nil
}

// PutWaiting writes a queued session's row.
func (t *ACDTx) PutWaiting(ctx context.Context, w ACDWaiting) error {
	if err := checkText("acd session", w.Session, w.Queue, w.Node, w.Agent); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO acd_waiting (`+acdWaitingCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (session) DO UPDATE SET queue = excluded.queue, node = excluded.node, priority = excluded.priority,
		front = excluded.front, seq = excluded.seq, enqueued_at = excluded.enqueued_at, agent = excluded.agent,
		offer_gen = excluded.offer_gen, ring_until = excluded.ring_until, max_until = excluded.max_until`,
		w.Session, w.Queue, w.Node, w.Priority, w.Front, w.Seq, zeroMillis(w.EnqueuedAt), w.Agent, w.OfferGen,
		zeroMillis(w.RingUntil), zeroMillis(w.MaxUntil))
	if err != nil {
		return fmt.Errorf("store: put acd session %q: %w", w.Session, err)
	}
	return nil
}

// DeleteWaiting removes a queued session's row.
func (t *ACDTx) DeleteWaiting(ctx context.Context, session string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM acd_waiting WHERE session = $1`, session); err != nil {
		return fmt.Errorf("store: delete acd session %q: %w", session, err)
	}
	return nil
}

// NextSeq returns the next number of the arrival and login order.
func (t *ACDTx) NextSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := t.tx.QueryRowContext(ctx, `SELECT nextval('acd_seq')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: acd sequence: %w", err)
	}
	return n, nil
}

// Members counts the agents logged in to queue.
func (t *ACDTx) Members(ctx context.Context, queue string) (int, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM acd_agents WHERE state <> 'logged_out' AND $1 = ANY(queues)`, queue).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: acd members of %q: %w", queue, err)
	}
	return n, nil
}

// LockNextPair finds the first waiting session, in global service order
// (transfers first, then higher priority, then earlier arrival), whose
// queue has a ready agent, and that queue's longest-idle ready agent, and
// locks both. Rows another transaction holds are skipped (FOR UPDATE SKIP
// LOCKED): two nodes pairing at once take different sessions and agents.
// ok is false when no pair is free.
func (t *ACDTx) LockNextPair(ctx context.Context) (w ACDWaiting, a ACDAgent, ok bool, err error) {
	// candidates first without locks, then one locked at a time: locking
	// them all would make every other node skip all of them
	rows, err := t.tx.QueryContext(ctx, `SELECT session, queue FROM acd_waiting w
		WHERE agent = '' AND EXISTS (SELECT 1 FROM acd_agents a WHERE a.state = 'ready' AND w.queue = ANY(a.queues))
		ORDER BY front DESC, priority DESC, seq LIMIT 20`)
	if err != nil {
		return w, a, false, fmt.Errorf("store: acd next session: %w", err)
	}
	type cand struct{ session, queue string }
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.session, &c.queue); err != nil {
			rows.Close()
			return w, a, false, fmt.Errorf("store: acd next session: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return w, a, false, fmt.Errorf("store: acd next session: %w", err)
	}
	full := map[string]bool{} // queues without a free agent
	for _, c := range cands {
		if full[c.queue] {
			continue
		}
		w, err = scanACDWaiting(t.tx.QueryRowContext(ctx, `SELECT `+acdWaitingCols+` FROM acd_waiting
			WHERE session = $1 AND agent = '' FOR UPDATE SKIP LOCKED`, c.session))
		if errors.Is(err, sql.ErrNoRows) {
			continue // another node is pairing it, or it went
		}
		if err != nil {
			return w, a, false, fmt.Errorf("store: acd next session: %w", err)
		}
		a, err = scanACDAgent(t.tx.QueryRowContext(ctx, `SELECT `+acdAgentRead+` FROM acd_agents
			WHERE state = 'ready' AND $1 = ANY(queues) ORDER BY idle_since, login_seq LIMIT 1 FOR UPDATE SKIP LOCKED`, w.Queue))
		if errors.Is(err, sql.ErrNoRows) {
			full[c.queue] = true
			continue
		}
		if err != nil {
			return w, a, false, fmt.Errorf("store: acd next agent: %w", err)
		}
		return w, a, true, nil
	}
	return w, a, false, nil
}

// LockDue returns the queued sessions whose ring or maximum wait ran out
// before now, and the agents whose wrap-up did, locked (rows another
// transaction holds are skipped).
func (t *ACDTx) LockDue(ctx context.Context, now time.Time) ([]ACDWaiting, []ACDAgent, error) {
	ms := now.UnixMilli()
	rows, err := t.tx.QueryContext(ctx, `SELECT `+acdWaitingCols+` FROM acd_waiting
		WHERE (ring_until > 0 AND ring_until <= $1) OR (max_until > 0 AND max_until <= $1)
		ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED`, ms)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd due sessions: %w", err)
	}
	ws, err := collect(rows, scanACDWaiting)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd due sessions: %w", err)
	}
	rows, err = t.tx.QueryContext(ctx, `SELECT `+acdAgentRead+` FROM acd_agents
		WHERE state = 'wrap_up' AND wrap_until > 0 AND wrap_until <= $1 LIMIT 100 FOR UPDATE SKIP LOCKED`, ms)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd due wrap-ups: %w", err)
	}
	as, err := collect(rows, scanACDAgent)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd due wrap-ups: %w", err)
	}
	return ws, as, nil
}

// LockNode returns node's queued sessions and logged-in agents, and the
// agents in a call with one of its sessions, locked.
func (t *ACDTx) LockNode(ctx context.Context, node string) ([]ACDWaiting, []ACDAgent, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+acdWaitingCols+` FROM acd_waiting WHERE node = $1 ORDER BY seq FOR UPDATE`, node)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd sessions of %q: %w", node, err)
	}
	ws, err := collect(rows, scanACDWaiting)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd sessions of %q: %w", node, err)
	}
	rows, err = t.tx.QueryContext(ctx, `SELECT `+acdAgentRead+` FROM acd_agents
		WHERE (node = $1 AND state <> 'logged_out') OR (call_node = $1 AND state = 'busy') ORDER BY id FOR UPDATE`, node)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd agents of %q: %w", node, err)
	}
	as, err := collect(rows, scanACDAgent)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acd agents of %q: %w", node, err)
	}
	return ws, as, nil
}

// Count adds one to a queue's counter: "answered", "abandoned" or "overflowed".
func (t *ACDTx) Count(ctx context.Context, queue, counter string) error {
	switch counter {
	case "answered", "abandoned", "overflowed":
	default:
		return fmt.Errorf("store: acd counter %q: %w", counter, ErrInvalid)
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO acd_counts (queue, `+counter+`) VALUES ($1, 1)
		ON CONFLICT (queue) DO UPDATE SET `+counter+` = acd_counts.`+counter+` + 1`, queue)
	if err != nil {
		return fmt.Errorf("store: acd count %s of %q: %w", counter, queue, err)
	}
	return nil
}

// Sample records a wait ("wait") or handle time ("handle") of a queue and
// forgets all but the last 20 of its kind.
func (t *ACDTx) Sample(ctx context.Context, queue, kind string, d time.Duration) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO acd_samples (queue, kind, ms) VALUES ($1, $2, $3)`, queue, kind, d.Milliseconds()); err != nil {
		return fmt.Errorf("store: acd sample of %q: %w", queue, err)
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM acd_samples WHERE queue = $1 AND kind = $2 AND id <=
		(SELECT id FROM acd_samples WHERE queue = $1 AND kind = $2 ORDER BY id DESC OFFSET $3 LIMIT 1)`, queue, kind, acdSamples)
	if err != nil {
		return fmt.Errorf("store: acd sample of %q: %w", queue, err)
	}
	return nil
}

// ACDAgents lists every agent that ever logged in, by id.
func (db *DB) ACDAgents(ctx context.Context) ([]ACDAgent, error) {
	if db.engine != EnginePostgres {
		return nil, ErrNotShared
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+acdAgentRead+` FROM acd_agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: acd agents: %w", err)
	}
	return collect(rows, scanACDAgent)
}

// ACDWaitingAll lists the queued sessions in global service order.
func (db *DB) ACDWaitingAll(ctx context.Context) ([]ACDWaiting, error) {
	if db.engine != EnginePostgres {
		return nil, ErrNotShared
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+acdWaitingCols+` FROM acd_waiting ORDER BY front DESC, priority DESC, seq`)
	if err != nil {
		return nil, fmt.Errorf("store: acd sessions: %w", err)
	}
	return collect(rows, scanACDWaiting)
}

// ACDRinging lists node's queued sessions that ring an agent.
func (db *DB) ACDRinging(ctx context.Context, node string) ([]ACDWaiting, error) {
	if db.engine != EnginePostgres {
		return nil, ErrNotShared
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+acdWaitingCols+` FROM acd_waiting WHERE node = $1 AND agent <> ''`, node)
	if err != nil {
		return nil, fmt.Errorf("store: acd ringing of %q: %w", node, err)
	}
	return collect(rows, scanACDWaiting)
}

// ACDFigures returns every queue's counters and recent means, by name.
func (db *DB) ACDFigures(ctx context.Context) (map[string]ACDFigures, error) {
	if db.engine != EnginePostgres {
		return nil, ErrNotShared
	}
	out := map[string]ACDFigures{}
	rows, err := db.r.QueryContext(ctx, `SELECT queue, answered, abandoned, overflowed FROM acd_counts`)
	if err != nil {
		return nil, fmt.Errorf("store: acd counts: %w", err)
	}
	for rows.Next() {
		var q string
		var f ACDFigures
		if err := rows.Scan(&q, &f.Answered, &f.Abandoned, &f.Overflowed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: acd counts: %w", err)
		}
		out[q] = f
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: acd counts: %w", err)
	}
	rows, err = db.r.QueryContext(ctx, `SELECT queue, kind, avg(ms)::BIGINT, count(*) FROM
		(SELECT queue, kind, ms, row_number() OVER (PARTITION BY queue, kind ORDER BY id DESC) AS n FROM acd_samples) s
		WHERE n <= $1 GROUP BY queue, kind`, acdSamples)
	if err != nil {
		return nil, fmt.Errorf("store: acd samples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var q, kind string
		var ms int64
		var n int
		if err := rows.Scan(&q, &kind, &ms, &n); err != nil {
			return nil, fmt.Errorf("store: acd samples: %w", err)
		}
		f := out[q]
		if kind == "wait" {
			f.AvgWait = time.Duration(ms) * time.Millisecond
		} else {
			f.AvgHandle, f.Handles = time.Duration(ms)*time.Millisecond, n
		}
		out[q] = f
	}
	return out, rows.Err()
}

// NotifyACD sends payload (at most 7,000 bytes) to every node listening on
// ACDChannel.
func (db *DB) NotifyACD(ctx context.Context, payload string) error {
	if db.engine != EnginePostgres {
		return ErrNotShared
	}
	if len(payload) > 7000 {
		return fmt.Errorf("store: notify acd: payload of %d bytes", len(payload))
	}
	if _, err := db.w.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ACDChannel, payload); err != nil {
		return fmt.Errorf("store: notify acd: %w", err)
	}
	return nil
}

func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
