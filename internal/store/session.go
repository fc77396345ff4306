package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Session is the stored record of one customer interaction. Zero times are
// stored as NULL ("not yet"); an empty Context reads back as nil.
type Session struct {
	ID              string
	Mode            string
	State           string
	EntryPoint      string
	Route           string
	Queue           string
	CustomerName    string
	CustomerContact string
	Context         map[string]string
	Cause           string
	CauseCode       int
	AgentID         string
	CreatedAt       time.Time // set to now by CreateSession when zero
	AnsweredAt      time.Time
	EndedAt         time.Time // zero while the session is active
	Node            string    // the hub node that owns the session
}

// SessionFilter selects sessions for ListSessions. Zero fields do not filter.
type SessionFilter struct {
	State  string
	Mode   string
	Active *bool     // true: not ended (EndedAt zero); false: ended
	Since  time.Time // CreatedAt at or after Since
	Limit  int       // 0 means DefaultListLimit; capped at MaxListLimit
	Before string    // cursor: only ids strictly below Before (the last id of the previous page)
}

// List limits for ListSessions.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

const sessionCols = `id, mode, state, entry_point, route, queue, customer_name, customer_contact,
	context, cause, cause_code, agent_id, created_at, answered_at, ended_at, node`

// validate checks s and returns its Context as JSON.
func (s *Session) validate(what string) (string, error) {
	if err := checkID(what, s.ID); err != nil {
		return "", err
	}
	if err := checkText(what, s.Mode, s.State, s.EntryPoint, s.Route, s.Queue,
		s.CustomerName, s.CustomerContact, s.Cause, s.AgentID, s.Node); err != nil {
		return "", err
	}
	if err := checkMap(what+" context", s.Context); err != nil {
		return "", err
	}
	ctxJSON, err := encodeMap(s.Context)
	if err != nil {
		return "", fmt.Errorf("store: %s context: %w", what, err)
	}
	return ctxJSON, nil
}

// CreateSession inserts s. It returns ErrConflict if a session with s.ID
// exists. A zero CreatedAt is set to the current time.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	ctxJSON, err := s.validate("create session")
	if err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (id) DO NOTHING`,
		s.ID, s.Mode, s.State, s.EntryPoint, s.Route, s.Queue, s.CustomerName, s.CustomerContact,
		ctxJSON, s.Cause, s.CauseCode, s.AgentID, millis(orNow(s.CreatedAt, db.now())),
		nullMillis(s.AnsweredAt), nullMillis(s.EndedAt), s.Node)
	if err != nil {
		return fmt.Errorf("store: create session %q: %w", s.ID, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return fmt.Errorf("store: create session %q: %w", s.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: create session %q: %w", s.ID, ErrConflict)
	}
	return nil
}

// UpdateSession replaces every field of the stored session s.ID with s's;
// a zero CreatedAt keeps the stored one. It returns ErrNotFound if there is
// no such session.
func (db *DB) UpdateSession(ctx context.Context, s Session) error {
	ctxJSON, err := s.validate("update session")
	if err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET
		mode = $2, state = $3, entry_point = $4, route = $5, queue = $6, customer_name = $7,
		customer_contact = $8, context = $9, cause = $10, cause_code = $11, agent_id = $12,
		created_at = COALESCE($13, created_at), answered_at = $14, ended_at = $15, node = $16
		WHERE id = $1`,
		s.ID, s.Mode, s.State, s.EntryPoint, s.Route, s.Queue, s.CustomerName, s.CustomerContact,
		ctxJSON, s.Cause, s.CauseCode, s.AgentID, nullMillis(s.CreatedAt),
		nullMillis(s.AnsweredAt), nullMillis(s.EndedAt), s.Node)
	if err != nil {
		return fmt.Errorf("store: update session %q: %w", s.ID, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return fmt.Errorf("store: update session %q: %w", s.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: update session %q: %w", s.ID, ErrNotFound)
	}
	return nil
}

// GetSession returns the session id, or ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (Session, error) {
	if err := checkID("get session", id); err != nil {
		return Session{}, err
	}
	s, err := scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("store: get session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: get session %q: %w", id, err)
	}
	return s, nil
}

// ListSessions returns the sessions matching f, newest first. "Newest" is
// the highest id: SPLIT session ids are time-ordered strings and compare
// bytewise on both engines. To page, pass the last id of a page as the next
// filter's Before.
func (db *DB) ListSessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("store: list sessions: negative limit %d: %w", f.Limit, ErrInvalid)
	}
	if err := checkText("list sessions filter", f.State, f.Mode, f.Before); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.State != "" {
		add("state = $%d", f.State)
	}
	if f.Mode != "" {
		add("mode = $%d", f.Mode)
	}
	if f.Active != nil {
		if *f.Active {
			conds = append(conds, "ended_at IS NULL")
		} else {
			conds = append(conds, "ended_at IS NOT NULL")
		}
	}
	if !f.Since.IsZero() {
		add("created_at >= $%d", millis(f.Since))
	}
	if f.Before != "" {
		add("id < $%d", f.Before)
	}
	q := `SELECT ` + sessionCols + ` FROM sessions`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))

	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return out, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanSession(r scanner) (Session, error) {
	var (
		s                 Session
		ctxJSON           string
		created           int64
		answered, endedAt sql.NullInt64
	)
	err := r.Scan(&s.ID, &s.Mode, &s.State, &s.EntryPoint, &s.Route, &s.Queue, &s.CustomerName,
		&s.CustomerContact, &ctxJSON, &s.Cause, &s.CauseCode, &s.AgentID, &created, &answered, &endedAt, &s.Node)
	if err != nil {
		return Session{}, err
	}
	if s.Context, err = decodeMap(ctxJSON); err != nil {
		return Session{}, fmt.Errorf("session %q: bad context column: %w", s.ID, err)
	}
	s.CreatedAt = fromMillis(created)
	s.AnsweredAt = fromNullMillis(answered)
	s.EndedAt = fromNullMillis(endedAt)
	return s, nil
}

// LiveSessionsOf returns the ids of the sessions not yet ended whose owner
// is node — and, with unowned, also those that record no owner (written by a
// version that did not record one; only a single-node store may claim
// them) — oldest first.
func (db *DB) LiveSessionsOf(ctx context.Context, node string, unowned bool) ([]string, error) {
	if err := checkText("live sessions of", node); err != nil {
		return nil, err
	}
	q := `SELECT id FROM sessions WHERE ended_at IS NULL AND (node = $1`
	if unowned {
		q += ` OR node = ''`
	}
	q += `) ORDER BY id`
	rows, err := db.r.QueryContext(ctx, q, node)
	if err != nil {
		return nil, fmt.Errorf("store: live sessions of %q: %w", node, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: live sessions of %q: %w", node, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: live sessions of %q: %w", node, err)
	}
	return out, nil
}

// EndSession marks a session that is not yet ended as ended at `at` with a
// cause (the record of a session whose process is gone: no leg of it is
// live). It reports false, and changes nothing, when the session has ended
// already; ErrNotFound when there is no such session.
func (db *DB) EndSession(ctx context.Context, id string, at time.Time, code int, cause string) (bool, error) {
	if err := checkID("end session", id); err != nil {
		return false, err
	}
	if err := checkText("end session", cause); err != nil {
		return false, err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET state = 'ended', ended_at = $2, cause = $3, cause_code = $4
		WHERE id = $1 AND ended_at IS NULL`, id, millis(at), cause, code)
	if err != nil {
		return false, fmt.Errorf("store: end session %q: %w", id, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return false, fmt.Errorf("store: end session %q: %w", id, err)
	}
	if n == 0 {
		if _, err := db.GetSession(ctx, id); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}
