package store

import (
	"context"
	"fmt"
	"time"
)

// ConsumeToken marks the token id jti as used and reports whether this call
// was the first to do so; a replay gets first == false. expires is the
// token's own expiry: the mark is kept at least until then, so a token
// replayed before it expires is always caught. Callers must reject expired
// tokens before calling, because PurgeTokens forgets marks after expiry.
func (db *DB) ConsumeToken(ctx context.Context, jti string, expires time.Time) (first bool, err error) {
	if err := checkID("consume token", jti); err != nil {
		return false, err
	}
	if expires.IsZero() {
		return false, fmt.Errorf("store: consume token: no expiry: %w", ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx,
		`INSERT INTO consumed_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`,
		jti, millis(expires))
	if err != nil {
		return false, fmt.Errorf("store: consume token: %w", err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return false, fmt.Errorf("store: consume token: %w", err)
	}
	return n == 1, nil
}

// PurgeTokens forgets the marks of tokens that expired before before and
// returns how many it removed. Run it periodically with the current time.
func (db *DB) PurgeTokens(ctx context.Context, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, fmt.Errorf("store: purge tokens: zero time: %w", ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM consumed_tokens WHERE expires_at < $1`, millis(before))
	if err != nil {
		return 0, fmt.Errorf("store: purge tokens: %w", err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return 0, fmt.Errorf("store: purge tokens: %w", err)
	}
	return n, nil
}
