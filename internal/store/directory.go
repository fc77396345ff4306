package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Agent is a person who answers sessions. Empty Queues and Skills read back
// as nil.
type Agent struct {
	ID        string
	Name      string
	Queues    []string // queue names the agent serves
	Skills    []string
	CreatedAt time.Time // set on first PutAgent (now when zero); never changed by PutAgent
}

// Queue is a waiting line for sessions and its timing policy.
type Queue struct {
	Name           string
	Description    string
	RingTimeoutSec int
	MaxWaitSec     int
	WrapUpSec      int
	Overflow       string // where sessions go when MaxWaitSec passes
}

// PutAgent inserts a, or replaces the name, queues and skills of the stored
// agent a.ID.
func (db *DB) PutAgent(ctx context.Context, a Agent) error {
	if err := checkID("put agent", a.ID); err != nil {
		return err
	}
	if err := checkText("put agent", a.Name); err != nil {
		return err
	}
	if err := checkList("put agent queues", a.Queues); err != nil {
		return err
	}
	if err := checkList("put agent skills", a.Skills); err != nil {
		return err
	}
	queues, err := encodeList(a.Queues)
	if err != nil {
		return fmt.Errorf("store: put agent %q: %w", a.ID, err)
	}
	skills, err := encodeList(a.Skills)
	if err != nil {
		return fmt.Errorf("store: put agent %q: %w", a.ID, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO agents (id, name, queues, skills, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, queues = excluded.queues, skills = excluded.skills`,
		a.ID, a.Name, queues, skills, millis(orNow(a.CreatedAt, db.now())))
	if err != nil {
		return fmt.Errorf("store: put agent %q: %w", a.ID, err)
	}
	return nil
}

const agentCols = `id, name, queues, skills, created_at`

// GetAgent returns the agent id, or ErrNotFound.
func (db *DB) GetAgent(ctx context.Context, id string) (Agent, error) {
	if err := checkID("get agent", id); err != nil {
		return Agent{}, err
	}
	a, err := scanAgent(db.r.QueryRowContext(ctx, `SELECT `+agentCols+` FROM agents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, fmt.Errorf("store: get agent %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("store: get agent %q: %w", id, err)
	}
	return a, nil
}

// ListAgents returns every agent, ordered by id.
func (db *DB) ListAgents(ctx context.Context) ([]Agent, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+agentCols+` FROM agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list agents: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	return out, nil
}

// DeleteAgent removes the agent id, or returns ErrNotFound.
func (db *DB) DeleteAgent(ctx context.Context, id string) error {
	return db.deleteByKey(ctx, "agent", `DELETE FROM agents WHERE id = $1`, id)
}

func scanAgent(r scanner) (Agent, error) {
	var (
		a              Agent
		queues, skills string
		created        int64
	)
	if err := r.Scan(&a.ID, &a.Name, &queues, &skills, &created); err != nil {
		return Agent{}, err
	}
	var err error
	if a.Queues, err = decodeList(queues); err != nil {
		return Agent{}, fmt.Errorf("agent %q: bad queues column: %w", a.ID, err)
	}
	if a.Skills, err = decodeList(skills); err != nil {
		return Agent{}, fmt.Errorf("agent %q: bad skills column: %w", a.ID, err)
	}
	a.CreatedAt = fromMillis(created)
	return a, nil
}

// PutQueue inserts q, or replaces the stored queue q.Name.
func (db *DB) PutQueue(ctx context.Context, q Queue) error {
	if err := checkID("put queue", q.Name); err != nil {
		return err
	}
	if err := checkText("put queue", q.Description, q.Overflow); err != nil {
		return err
	}
	for _, c := range []struct {
		field string
		v     int
	}{{"ring timeout", q.RingTimeoutSec}, {"max wait", q.MaxWaitSec}, {"wrap-up time", q.WrapUpSec}} {
		if err := checkNonNegative("put queue "+q.Name+": "+c.field, c.v); err != nil {
			return err
		}
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO queues
		(name, description, ring_timeout_sec, max_wait_sec, wrap_up_sec, overflow)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET description = excluded.description,
			ring_timeout_sec = excluded.ring_timeout_sec, max_wait_sec = excluded.max_wait_sec,
			wrap_up_sec = excluded.wrap_up_sec, overflow = excluded.overflow`,
		q.Name, q.Description, q.RingTimeoutSec, q.MaxWaitSec, q.WrapUpSec, q.Overflow)
	if err != nil {
		return fmt.Errorf("store: put queue %q: %w", q.Name, err)
	}
	return nil
}

const queueCols = `name, description, ring_timeout_sec, max_wait_sec, wrap_up_sec, overflow`

// GetQueue returns the queue name, or ErrNotFound.
func (db *DB) GetQueue(ctx context.Context, name string) (Queue, error) {
	if err := checkID("get queue", name); err != nil {
		return Queue{}, err
	}
	q, err := scanQueue(db.r.QueryRowContext(ctx, `SELECT `+queueCols+` FROM queues WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Queue{}, fmt.Errorf("store: get queue %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Queue{}, fmt.Errorf("store: get queue %q: %w", name, err)
	}
	return q, nil
}

// ListQueues returns every queue, ordered by name.
func (db *DB) ListQueues(ctx context.Context) ([]Queue, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+queueCols+` FROM queues ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list queues: %w", err)
	}
	defer rows.Close()
	var out []Queue
	for rows.Next() {
		q, err := scanQueue(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list queues: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list queues: %w", err)
	}
	return out, nil
}

// DeleteQueue removes the queue name, or returns ErrNotFound. Agents that
// list the queue keep listing it.
func (db *DB) DeleteQueue(ctx context.Context, name string) error {
	return db.deleteByKey(ctx, "queue", `DELETE FROM queues WHERE name = $1`, name)
}

func scanQueue(r scanner) (Queue, error) {
	var q Queue
	err := r.Scan(&q.Name, &q.Description, &q.RingTimeoutSec, &q.MaxWaitSec, &q.WrapUpSec, &q.Overflow)
	return q, err
}

// deleteByKey runs a one-row DELETE and maps "no row" to ErrNotFound.
func (db *DB) deleteByKey(ctx context.Context, what, stmt, key string) error {
	if err := checkID("delete "+what, key); err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, stmt, key)
	if err != nil {
		return fmt.Errorf("store: delete %s %q: %w", what, key, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return fmt.Errorf("store: delete %s %q: %w", what, key, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete %s %q: %w", what, key, ErrNotFound)
	}
	return nil
}
