package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// WhatsApp call-permission statuses (WhatsAppPermission.Status).
const (
	WhatsAppPermissionNone      = "none"
	WhatsAppPermissionTemporary = "temporary"
	WhatsAppPermissionPermanent = "permanent"
)

// WhatsApp usage kinds counted against Meta's limits (AddWhatsAppUsage).
const (
	// WhatsAppUsagePermissionRequest: a call-permission request sent (1 per
	// 24 h and 2 per 7 days per user; reset by a connected call).
	WhatsAppUsagePermissionRequest = "permission_request"
	// WhatsAppUsageBusinessCall: a business-initiated call the user accepted
	// (100 per 24 h per user).
	WhatsAppUsageBusinessCall = "business_call"
	// WhatsAppUsageUserCall: a user-initiated call the hub answered.
	WhatsAppUsageUserCall = "user_call"
)

// WhatsAppPermission is what the hub knows of one user's permission for a
// business number to call them (see migrations/0004_whatsapp.sql).
type WhatsAppPermission struct {
	PhoneNumberID string
	User          string    // wa_id, else BSUID
	Status        string    // WhatsAppPermission{None,Temporary,Permanent}
	ExpiresAt     time.Time // temporary permissions; zero otherwise
	Source        string    // where it was learnt: user_action, automatic, meta (GET call_permissions)
	UpdatedAt     time.Time
}

// WhatsAppDeadLetter is a webhook delivery that could not be forwarded to
// the chat platform, kept byte for byte with Meta's signature so that it
// can be replayed.
type WhatsAppDeadLetter struct {
	ID          string
	ReceivedAt  time.Time
	FailedAt    time.Time
	Signature   string // X-Hub-Signature-256 as received
	ContentType string
	Body        []byte
	Attempts    int
	LastStatus  int    // last HTTP status (0: transport error or never sent)
	LastError   string // why the last attempt failed
}

func checkPair(what, pnid, user string) error {
	if err := checkID(what+" phone_number_id", pnid); err != nil {
		return err
	}
	return checkID(what+" user", user)
}

// SetWhatsAppPermission records (upserts) a user's permission.
func (db *DB) SetWhatsAppPermission(ctx context.Context, p WhatsAppPermission) error {
	if err := checkPair("set whatsapp permission", p.PhoneNumberID, p.User); err != nil {
		return err
	}
	switch p.Status {
	case WhatsAppPermissionNone, WhatsAppPermissionTemporary, WhatsAppPermissionPermanent:
	default:
		return fmt.Errorf("store: set whatsapp permission: status %q: %w", p.Status, ErrInvalid)
	}
	if err := checkText("whatsapp permission source", p.Source); err != nil {
		return err
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO whatsapp_permissions (phone_number_id, user_key, status, expires_at, source, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (phone_number_id, user_key) DO UPDATE SET status = excluded.status, expires_at = excluded.expires_at,
			source = excluded.source, updated_at = excluded.updated_at`,
		p.PhoneNumberID, p.User, p.Status, nullMillis(p.ExpiresAt), p.Source, millis(orNow(p.UpdatedAt, db.now())))
	if err != nil {
		return fmt.Errorf("store: set whatsapp permission: %w", err)
	}
	return nil
}

// WhatsAppPermission returns what is recorded for (pnid, user) (ErrNotFound).
func (db *DB) WhatsAppPermission(ctx context.Context, pnid, user string) (WhatsAppPermission, error) {
	if err := checkPair("whatsapp permission", pnid, user); err != nil {
		return WhatsAppPermission{}, err
	}
	p := WhatsAppPermission{PhoneNumberID: pnid, User: user}
	var exp sql.NullInt64
	var upd int64
	err := db.r.QueryRowContext(ctx, `SELECT status, expires_at, source, updated_at FROM whatsapp_permissions
		WHERE phone_number_id = $1 AND user_key = $2`, pnid, user).Scan(&p.Status, &exp, &p.Source, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("store: whatsapp permission: %w", ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("store: whatsapp permission: %w", err)
	}
	p.ExpiresAt, p.UpdatedAt = fromNullMillis(exp), fromMillis(upd)
	return p, nil
}

// whatsappUsageKeep is how long usage rows are kept: the longest limit
// window (7 days) and a day of margin.
const whatsappUsageKeep = 8 * 24 * time.Hour

// AddWhatsAppUsage records one use of kind (WhatsAppUsage*) for (pnid,
// user) at at, and forgets that pair's uses older than 8 days.
func (db *DB) AddWhatsAppUsage(ctx context.Context, pnid, user, kind string, at time.Time) error {
	if err := checkPair("add whatsapp usage", pnid, user); err != nil {
		return err
	}
	switch kind {
	case WhatsAppUsagePermissionRequest, WhatsAppUsageBusinessCall, WhatsAppUsageUserCall:
	default:
		return fmt.Errorf("store: add whatsapp usage: kind %q: %w", kind, ErrInvalid)
	}
	at = orNow(at, db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM whatsapp_usage WHERE phone_number_id = $1 AND user_key = $2 AND at < $3`,
			pnid, user, millis(at.Add(-whatsappUsageKeep))); err != nil {
			return fmt.Errorf("store: add whatsapp usage: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO whatsapp_usage (phone_number_id, user_key, kind, at) VALUES ($1, $2, $3, $4)`,
			pnid, user, kind, millis(at)); err != nil {
			return fmt.Errorf("store: add whatsapp usage: %w", err)
		}
		return nil
	})
}

// WhatsAppUsage lists the times of kind's uses for (pnid, user) at or after
// since, oldest first (at most 1000).
func (db *DB) WhatsAppUsage(ctx context.Context, pnid, user, kind string, since time.Time) ([]time.Time, error) {
	if err := checkPair("whatsapp usage", pnid, user); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT at FROM whatsapp_usage WHERE phone_number_id = $1 AND user_key = $2 AND kind = $3 AND at >= $4
		ORDER BY at LIMIT 1000`, pnid, user, kind, millis(since))
	if err != nil {
		return nil, fmt.Errorf("store: whatsapp usage: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("store: whatsapp usage: %w", err)
		}
		out = append(out, fromMillis(at))
	}
	return out, rows.Err()
}

// MaxWhatsAppDeadLetter bounds a dead letter's body (a webhook delivery).
const MaxWhatsAppDeadLetter = 8 << 20

// AddWhatsAppDeadLetter records a delivery that could not be forwarded
// (ErrConflict if the id exists).
func (db *DB) AddWhatsAppDeadLetter(ctx context.Context, d WhatsAppDeadLetter) error {
	if err := checkID("add whatsapp dead letter", d.ID); err != nil {
		return err
	}
	if len(d.Body) > MaxWhatsAppDeadLetter {
		return fmt.Errorf("store: add whatsapp dead letter: body larger than %d bytes: %w", MaxWhatsAppDeadLetter, ErrInvalid)
	}
	// Signature and content type come from the request: keep them storable.
	sig, ct := sanitizeText(d.Signature), sanitizeText(d.ContentType)
	lastErr := sanitizeText(d.LastError)
	body, b64 := string(d.Body), 0
	if !utf8.Valid(d.Body) || strings.IndexByte(body, 0) >= 0 {
		body, b64 = base64.StdEncoding.EncodeToString(d.Body), 1
	}
	now := db.now()
	res, err := db.w.ExecContext(ctx, `INSERT INTO whatsapp_dead_letters (id, received_at, failed_at, signature, content_type, body,
		body_base64, attempts, last_status, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
		d.ID, millis(orNow(d.ReceivedAt, now)), millis(orNow(d.FailedAt, now)), sig, ct, body, b64, d.Attempts, d.LastStatus, lastErr)
	if err != nil {
		return fmt.Errorf("store: add whatsapp dead letter: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return fmt.Errorf("store: add whatsapp dead letter: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: add whatsapp dead letter: %w", ErrConflict)
	}
	return nil
}

// sanitizeText makes s storable on both engines (valid UTF-8, no NUL).
func sanitizeText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

const deadLetterCols = `id, received_at, failed_at, signature, content_type, body, body_base64, attempts, last_status, last_error`

func scanDeadLetter(row interface{ Scan(...any) error }) (WhatsAppDeadLetter, error) {
	var d WhatsAppDeadLetter
	var recv, failed, b64, attempts, status int64
	var body string
	if err := row.Scan(&d.ID, &recv, &failed, &d.Signature, &d.ContentType, &body, &b64, &attempts, &status, &d.LastError); err != nil {
		return d, err
	}
	d.ReceivedAt, d.FailedAt, d.Attempts, d.LastStatus = fromMillis(recv), fromMillis(failed), int(attempts), int(status)
	d.Body = []byte(body)
	if b64 == 1 {
		raw, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return d, fmt.Errorf("dead letter %s: bad base64 body: %w", d.ID, err)
		}
		d.Body = raw
	}
	return d, nil
}

// WhatsAppDeadLetters lists dead letters, newest first; limit ≤ 0 means 100.
func (db *DB) WhatsAppDeadLetters(ctx context.Context, limit int) ([]WhatsAppDeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+deadLetterCols+` FROM whatsapp_dead_letters ORDER BY failed_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: whatsapp dead letters: %w", err)
	}
	defer rows.Close()
	var out []WhatsAppDeadLetter
	for rows.Next() {
		d, err := scanDeadLetter(rows)
		if err != nil {
			return nil, fmt.Errorf("store: whatsapp dead letters: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// WhatsAppDeadLetter returns one dead letter (ErrNotFound).
func (db *DB) WhatsAppDeadLetter(ctx context.Context, id string) (WhatsAppDeadLetter, error) {
	if err := checkID("whatsapp dead letter", id); err != nil {
		return WhatsAppDeadLetter{}, err
	}
	d, err := scanDeadLetter(db.r.QueryRowContext(ctx, `SELECT `+deadLetterCols+` FROM whatsapp_dead_letters WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("store: whatsapp dead letter: %w", ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("store: whatsapp dead letter: %w", err)
	}
	return d, nil
}

// DeleteWhatsAppDeadLetter removes a dead letter (after a replay; ErrNotFound).
func (db *DB) DeleteWhatsAppDeadLetter(ctx context.Context, id string) error {
	if err := checkID("delete whatsapp dead letter", id); err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM whatsapp_dead_letters WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete whatsapp dead letter: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return fmt.Errorf("store: delete whatsapp dead letter: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: delete whatsapp dead letter: %w", ErrNotFound)
	}
	return nil
}
