package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// JoinLink is the server-side record of a join token (see
// migrations/0003_join_links.sql). Hash is the token's SHA-256 (hex).
type JoinLink struct {
	Hash           string
	SessionID      string
	AppointmentID  string
	Role           string
	NotBefore      time.Time
	ExpiresAt      time.Time
	SingleUse      bool
	Uses           int
	LastUsedAt     time.Time
	RevokedAt      time.Time
	Channel        string
	Recipient      string
	DeliveryStatus string
	DeliveryID     string
	CreatedAt      time.Time
}

const linkCols = `hash, session_id, appointment_id, role, not_before, expires_at, single_use, uses, last_used_at,
	revoked_at, channel, recipient, delivery_status, delivery_id, created_at`

// ErrUsed means a single-use link was already used.
var ErrUsed = errors.New("store: link already used")

// ErrRevoked means the link was revoked.
var ErrRevoked = errors.New("store: link revoked")

// PutJoinLink stores a new link (ErrConflict if the hash exists).
func (db *DB) PutJoinLink(ctx context.Context, l JoinLink) error {
	if err := checkID("put join link", l.Hash); err != nil {
		return err
	}
	if l.ExpiresAt.IsZero() || l.Role == "" {
		return fmt.Errorf("store: put join link: expiry and role are required: %w", ErrInvalid)
	}
	single := 0
	if l.SingleUse {
		single = 1
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO join_links (`+linkCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (hash) DO NOTHING`,
		l.Hash, l.SessionID, l.AppointmentID, l.Role, millis(l.NotBefore), millis(l.ExpiresAt), single, l.Uses,
		nullMillis(l.LastUsedAt), nullMillis(l.RevokedAt), l.Channel, l.Recipient, l.DeliveryStatus, l.DeliveryID,
		millis(orNow(l.CreatedAt, time.Now())))
	if err != nil {
		return fmt.Errorf("store: put join link: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return fmt.Errorf("store: put join link: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: put join link: %w", ErrConflict)
	}
	return nil
}

func scanLink(row interface{ Scan(...any) error }) (JoinLink, error) {
	var l JoinLink
	var nb, exp, created int64
	var single, uses int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&l.Hash, &l.SessionID, &l.AppointmentID, &l.Role, &nb, &exp, &single, &uses, &used, &revoked,
		&l.Channel, &l.Recipient, &l.DeliveryStatus, &l.DeliveryID, &created); err != nil {
		return l, err
	}
	l.NotBefore, l.ExpiresAt, l.CreatedAt = fromMillis(nb), fromMillis(exp), fromMillis(created)
	l.SingleUse, l.Uses = single == 1, int(uses)
	l.LastUsedAt, l.RevokedAt = fromNullMillis(used), fromNullMillis(revoked)
	return l, nil
}

// GetJoinLink returns the link with hash (ErrNotFound).
func (db *DB) GetJoinLink(ctx context.Context, hash string) (JoinLink, error) {
	if err := checkID("get join link", hash); err != nil {
		return JoinLink{}, err
	}
	l, err := scanLink(db.r.QueryRowContext(ctx, `SELECT `+linkCols+` FROM join_links WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("store: get join link: %w", ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("store: get join link: %w", err)
	}
	return l, nil
}

// UseJoinLink counts one use of a link, atomically: a single-use link is
// used once (then ErrUsed), a revoked one never (ErrRevoked). The window
// (not before / expires) is the caller's to check, with its own clock.
func (db *DB) UseJoinLink(ctx context.Context, hash string, now time.Time) (JoinLink, error) {
	if err := checkID("use join link", hash); err != nil {
		return JoinLink{}, err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE join_links SET uses = uses + 1, last_used_at = $2
		WHERE hash = $1 AND revoked_at IS NULL AND (single_use = 0 OR uses = 0)`, hash, millis(now))
	if err != nil {
		return JoinLink{}, fmt.Errorf("store: use join link: %w", err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return JoinLink{}, fmt.Errorf("store: use join link: %w", err)
	}
	l, gerr := db.GetJoinLink(ctx, hash)
	if gerr != nil {
		return l, gerr
	}
	if n == 0 {
		if !l.RevokedAt.IsZero() {
			return l, ErrRevoked
		}
		return l, ErrUsed
	}
	return l, nil
}

// RevokeJoinLinks revokes every link of a session or appointment (id
// matches either) and returns how many it revoked.
func (db *DB) RevokeJoinLinks(ctx context.Context, id string, now time.Time) (int64, error) {
	if err := checkID("revoke join links", id); err != nil {
		return 0, err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE join_links SET revoked_at = $2
		WHERE (session_id = $1 OR appointment_id = $1) AND revoked_at IS NULL`, id, millis(now))
	if err != nil {
		return 0, fmt.Errorf("store: revoke join links: %w", err)
	}
	return rowsAffected(res)
}

// SetLinkDelivery records the delivery status of a link (by hash, or by the
// provider's id when hash is empty).
func (db *DB) SetLinkDelivery(ctx context.Context, hash, providerID, status string) error {
	var res sql.Result
	var err error
	if hash != "" {
		res, err = db.w.ExecContext(ctx, `UPDATE join_links SET delivery_status = $2, delivery_id = CASE WHEN $3 = '' THEN delivery_id ELSE $3 END WHERE hash = $1`, hash, status, providerID)
	} else {
		if err := checkID("set link delivery", providerID); err != nil {
			return err
		}
		res, err = db.w.ExecContext(ctx, `UPDATE join_links SET delivery_status = $2 WHERE delivery_id = $1`, providerID, status)
	}
	if err != nil {
		return fmt.Errorf("store: set link delivery: %w", err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return fmt.Errorf("store: set link delivery: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: set link delivery: %w", ErrNotFound)
	}
	return nil
}

// JoinLinks lists the links of a session or appointment, oldest first.
func (db *DB) JoinLinks(ctx context.Context, id string) ([]JoinLink, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+linkCols+` FROM join_links WHERE session_id = $1 OR appointment_id = $1 ORDER BY created_at`, id)
	if err != nil {
		return nil, fmt.Errorf("store: join links: %w", err)
	}
	defer rows.Close()
	var out []JoinLink
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, fmt.Errorf("store: join links: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
