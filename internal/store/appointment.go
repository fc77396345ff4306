package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Appointment is a scheduled callback or meeting, optionally born from a
// session.
type Appointment struct {
	ID              string
	SessionID       string // the session that booked it, if any (not checked)
	Title           string
	Start           time.Time // required
	DurationSec     int
	TimeZone        string // IANA name the customer booked in, for display
	CustomerName    string
	CustomerContact string
	AgentID         string
	Queue           string
	Notes           string
	State           string
	CreatedAt       time.Time // set on first PutAppointment (now when zero); never changed after
	UpdatedAt       time.Time // set by every PutAppointment (now when zero)
	Language        string    // the customer's language tag ("" : the hub's default)
}

const appointmentCols = `id, session_id, title, start_at, duration_sec, time_zone, customer_name,
	customer_contact, agent_id, queue, notes, state, created_at, updated_at, language`

// PutAppointment inserts a, or replaces every field of the stored
// appointment a.ID except CreatedAt.
func (db *DB) PutAppointment(ctx context.Context, a Appointment) error {
	if err := checkID("put appointment", a.ID); err != nil {
		return err
	}
	if a.Start.IsZero() {
		return fmt.Errorf("store: put appointment %q: no start time: %w", a.ID, ErrInvalid)
	}
	if err := checkNonNegative("put appointment "+a.ID+": duration", a.DurationSec); err != nil {
		return err
	}
	if err := checkText("put appointment", a.SessionID, a.Title, a.TimeZone, a.CustomerName,
		a.CustomerContact, a.AgentID, a.Queue, a.Notes, a.State, a.Language); err != nil {
		return err
	}
	now := db.now()
	_, err := db.w.ExecContext(ctx, `INSERT INTO appointments (`+appointmentCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id, title = excluded.title,
			start_at = excluded.start_at, duration_sec = excluded.duration_sec,
			time_zone = excluded.time_zone, customer_name = excluded.customer_name,
			customer_contact = excluded.customer_contact, agent_id = excluded.agent_id,
			queue = excluded.queue, notes = excluded.notes, state = excluded.state,
			updated_at = excluded.updated_at, language = excluded.language`,
		a.ID, a.SessionID, a.Title, millis(a.Start), a.DurationSec, a.TimeZone, a.CustomerName,
		a.CustomerContact, a.AgentID, a.Queue, a.Notes, a.State,
		millis(orNow(a.CreatedAt, now)), millis(orNow(a.UpdatedAt, now)), a.Language)
	if err != nil {
		return fmt.Errorf("store: put appointment %q: %w", a.ID, err)
	}
	return nil
}

// GetAppointment returns the appointment id, or ErrNotFound.
func (db *DB) GetAppointment(ctx context.Context, id string) (Appointment, error) {
	if err := checkID("get appointment", id); err != nil {
		return Appointment{}, err
	}
	a, err := scanAppointment(db.r.QueryRowContext(ctx,
		`SELECT `+appointmentCols+` FROM appointments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Appointment{}, fmt.Errorf("store: get appointment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Appointment{}, fmt.Errorf("store: get appointment %q: %w", id, err)
	}
	return a, nil
}

// ListAppointments returns the appointments that start in [from, to),
// ordered by start time then id. A zero from or to leaves that side open.
func (db *DB) ListAppointments(ctx context.Context, from, to time.Time) ([]Appointment, error) {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return nil, fmt.Errorf("store: list appointments: end %s before start %s: %w",
			to.Format(time.RFC3339), from.Format(time.RFC3339), ErrInvalid)
	}
	var conds []string
	var args []any
	if !from.IsZero() {
		args = append(args, millis(from))
		conds = append(conds, fmt.Sprintf("start_at >= $%d", len(args)))
	}
	if !to.IsZero() {
		args = append(args, millis(to))
		conds = append(conds, fmt.Sprintf("start_at < $%d", len(args)))
	}
	q := `SELECT ` + appointmentCols + ` FROM appointments`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY start_at, id`
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list appointments: %w", err)
	}
	defer rows.Close()
	var out []Appointment
	for rows.Next() {
		a, err := scanAppointment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list appointments: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list appointments: %w", err)
	}
	return out, nil
}

// DeleteAppointment removes the appointment id, or returns ErrNotFound.
func (db *DB) DeleteAppointment(ctx context.Context, id string) error {
	return db.deleteByKey(ctx, "appointment", `DELETE FROM appointments WHERE id = $1`, id)
}

func scanAppointment(r scanner) (Appointment, error) {
	var (
		a                         Appointment
		start, created, updatedAt int64
	)
	err := r.Scan(&a.ID, &a.SessionID, &a.Title, &start, &a.DurationSec, &a.TimeZone, &a.CustomerName,
		&a.CustomerContact, &a.AgentID, &a.Queue, &a.Notes, &a.State, &created, &updatedAt, &a.Language)
	if err != nil {
		return Appointment{}, err
	}
	a.Start = fromMillis(start)
	a.CreatedAt = fromMillis(created)
	a.UpdatedAt = fromMillis(updatedAt)
	return a, nil
}
