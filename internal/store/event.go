package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one entry of a session's append-only log.
type Event struct {
	Seq       int64 // assigned by AppendEvent: 1, 2, 3, … per session
	SessionID string
	At        time.Time // set to now by AppendEvent when zero
	Type      string
	Leg       string          // the leg the event concerns, if any
	Data      json.RawMessage // any JSON value, or nil
}

// AppendEvent adds e to the log of session e.SessionID and returns its
// sequence number: the session's previous highest plus one, without gaps,
// also under concurrent appends. e.Seq is ignored. It returns ErrNotFound if
// the session does not exist. Events cannot be changed or removed, except
// that a retention job may redact their content (RedactEvents).
func (db *DB) AppendEvent(ctx context.Context, e Event) (int64, error) {
	if err := checkID("append event: session", e.SessionID); err != nil {
		return 0, err
	}
	if e.Type == "" {
		return 0, fmt.Errorf("store: append event to %q: empty type: %w", e.SessionID, ErrInvalid)
	}
	if err := checkText("append event", e.Type, e.Leg); err != nil {
		return 0, err
	}
	var data any // NULL
	if len(e.Data) > 0 {
		if !json.Valid(e.Data) || !utf8.Valid(e.Data) {
			return 0, fmt.Errorf("store: append event to %q: data is not valid JSON: %w", e.SessionID, ErrInvalid)
		}
		data = string(e.Data)
	}
	at := millis(orNow(e.At, db.now()))

	var seq int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The counter row serialises appenders of one session: PostgreSQL
		// row-locks it until commit, SQLite has a single writer.
		err := tx.QueryRowContext(ctx,
			`UPDATE sessions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq`,
			e.SessionID).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO session_events
			(session_id, seq, occurred_at, event_type, leg, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.SessionID, seq, at, e.Type, e.Leg, data)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: append event to %q: %w", e.SessionID, err)
	}
	return seq, nil
}

// Events returns the events of sessionID with Seq > afterSeq in Seq order,
// at most limit of them (limit <= 0: all). An unknown session has no events.
func (db *DB) Events(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]Event, error) {
	if err := checkID("events: session", sessionID); err != nil {
		return nil, err
	}
	q := `SELECT session_id, seq, occurred_at, event_type, leg, data FROM session_events
		WHERE session_id = $1 AND seq > $2 ORDER BY seq`
	args := []any{sessionID, afterSeq}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events of %q: %w", sessionID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e    Event
			at   int64
			data sql.NullString
		)
		if err := rows.Scan(&e.SessionID, &e.Seq, &at, &e.Type, &e.Leg, &data); err != nil {
			return nil, fmt.Errorf("store: events of %q: %w", sessionID, err)
		}
		e.At = fromMillis(at)
		if data.Valid {
			e.Data = json.RawMessage(data.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of %q: %w", sessionID, err)
	}
	return out, nil
}

// RedactEvents replaces the data of every event of type typ that occurred
// before before with redact(data), in batches, and returns how many it
// changed. It is the retention of content-bearing events (the interpreter
// mode's rtt.text): sequence numbers, times, types and legs stay, so a log
// keeps its shape and what is counted from it. redact must mark its output
// with "redacted":true — an event whose data already has it is not redacted
// again — and must return valid JSON.
func (db *DB) RedactEvents(ctx context.Context, typ string, before time.Time, redact func(json.RawMessage) json.RawMessage) (int, error) {
	const batch = 500
	done := 0
	for {
		rows, err := db.r.QueryContext(ctx, `SELECT session_id, seq, data FROM session_events
			WHERE event_type = $1 AND occurred_at < $2 AND (data IS NULL OR data NOT LIKE '%"redacted":true%')
			LIMIT $3`, typ, millis(before), batch)
		if err != nil {
			return done, fmt.Errorf("store: redact %s events: %w", typ, err)
		}
		type row struct {
			id   string
			seq  int64
			data sql.NullString
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.seq, &r.data); err != nil {
				rows.Close()
				return done, fmt.Errorf("store: redact %s events: %w", typ, err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return done, fmt.Errorf("store: redact %s events: %w", typ, err)
		}
		if len(page) == 0 {
			return done, nil
		}
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			for _, r := range page {
				out := redact(json.RawMessage(r.data.String))
				if !json.Valid(out) || !strings.Contains(string(out), `"redacted":true`) {
					return fmt.Errorf("the redacted data of %s/%d is not valid JSON marked \"redacted\":true: %w", r.id, r.seq, ErrInvalid)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE session_events SET data = $1 WHERE session_id = $2 AND seq = $3`,
					string(out), r.id, r.seq); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("store: redact %s events: %w", typ, err)
		}
		done += len(page)
		if len(page) < batch {
			return done, nil
		}
	}
}
