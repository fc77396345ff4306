package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// CallRecord is the stored call record of an ended session
// (docs/records.md). Body is the record itself (package records builds it);
// the other fields are what CallRecords filters and pages on.
type CallRecord struct {
	SessionID string
	EndedAt   time.Time
	Mode      string
	Channel   string
	Queue     string
	Outcome   string
	Agents    []string // every agent of the record, for the agent filter
	Body      json.RawMessage
}

// RecordFilter selects call records. Zero fields do not filter.
type RecordFilter struct {
	From, To time.Time // EndedAt in [From, To)
	Queue    string
	Agent    string // one of the record's Agents
	Mode     string
	Channel  string
	Outcome  string
	Limit    int // 0 means DefaultListLimit; capped at MaxListLimit
	// After pages: only records after (AfterEnded, AfterID) in the order
	// (EndedAt, SessionID) — the last record of the previous page.
	AfterEnded time.Time
	AfterID    string
}

// PutCallRecord stores r. A session has one record: a second one for the
// same session is ignored (records are built once, and two nodes may both
// build the record of a session that a lost node held).
func (db *DB) PutCallRecord(ctx context.Context, r CallRecord) error {
	if err := checkID("put call record", r.SessionID); err != nil {
		return err
	}
	if err := checkText("put call record", r.Mode, r.Channel, r.Queue, r.Outcome); err != nil {
		return err
	}
	if err := checkList("put call record agents", r.Agents); err != nil {
		return err
	}
	if r.EndedAt.IsZero() || !json.Valid(r.Body) {
		return fmt.Errorf("store: put call record %q: no end time or a body that is not JSON: %w", r.SessionID, ErrInvalid)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO call_records (session_id, ended_at, mode, channel, queue, outcome, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING`,
			r.SessionID, millis(r.EndedAt), r.Mode, r.Channel, r.Queue, r.Outcome, string(r.Body))
		if err != nil {
			return err
		}
		if n, err := rowsAffected(res); err != nil || n == 0 {
			return err // there is one already: keep it
		}
		for _, a := range r.Agents {
			if _, err := tx.ExecContext(ctx, `INSERT INTO call_record_agents (session_id, agent) VALUES ($1, $2)
				ON CONFLICT (agent, session_id) DO NOTHING`, r.SessionID, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put call record %q: %w", r.SessionID, err)
	}
	return nil
}

// CallRecords returns the records matching f, oldest first by (EndedAt,
// SessionID).
func (db *DB) CallRecords(ctx context.Context, f RecordFilter) ([]CallRecord, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("store: call records: negative limit %d: %w", f.Limit, ErrInvalid)
	}
	if err := checkText("call records filter", f.Queue, f.Agent, f.Mode, f.Channel, f.Outcome, f.AfterID); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = "+arg(v))
		}
	}
	eq("queue", f.Queue)
	eq("mode", f.Mode)
	eq("channel", f.Channel)
	eq("outcome", f.Outcome)
	if f.Agent != "" {
		conds = append(conds, "session_id IN (SELECT session_id FROM call_record_agents WHERE agent = "+arg(f.Agent)+")")
	}
	if !f.From.IsZero() {
		conds = append(conds, "ended_at >= "+arg(millis(f.From)))
	}
	if !f.To.IsZero() {
		conds = append(conds, "ended_at < "+arg(millis(f.To)))
	}
	if !f.AfterEnded.IsZero() {
		at := millis(f.AfterEnded)
		conds = append(conds, "(ended_at > "+arg(at)+" OR (ended_at = "+arg(at)+" AND session_id > "+arg(f.AfterID)+"))")
	}
	q := `SELECT session_id, ended_at, mode, channel, queue, outcome, body FROM call_records`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY ended_at, session_id LIMIT ` + arg(limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: call records: %w", err)
	}
	defer rows.Close()
	var out []CallRecord
	for rows.Next() {
		var r CallRecord
		var ended int64
		var body string
		if err := rows.Scan(&r.SessionID, &ended, &r.Mode, &r.Channel, &r.Queue, &r.Outcome, &body); err != nil {
			return nil, fmt.Errorf("store: call records: %w", err)
		}
		r.EndedAt, r.Body = fromMillis(ended), json.RawMessage(body)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: call records: %w", err)
	}
	return out, nil
}

// AllEvents returns a session's whole history, in order.
func (db *DB) AllEvents(ctx context.Context, sessionID string) ([]Event, error) {
	var out []Event
	for after := int64(0); ; {
		page, err := db.Events(ctx, sessionID, after, MaxListLimit)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < MaxListLimit {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}
