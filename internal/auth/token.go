// Package auth holds SPLIT's credentials: signed expiring tokens for browsers,
// the REST API key, and the SIP source allow-list that keeps unauthenticated
// callers away from the trunks (toll fraud).
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("auth: malformed token")
	ErrSignature = errors.New("auth: bad token signature")
	ErrExpired   = errors.New("auth: token expired")
)

// Claims are what a token grants: an identity (the browser's SIP user), a
// role, optionally one session, and an expiry.
type Claims struct {
	Identity  string `json:"sub"`
	Role      string `json:"role,omitempty"`
	Session   string `json:"ses,omitempty"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	ID        string `json:"jti"`
}

// Expires is the expiry as a time.
func (c Claims) Expires() time.Time { return time.Unix(c.ExpiresAt, 0) }

// Signer mints and verifies tokens with an HMAC-SHA256 key. A token is
// base64url(JSON claims) "." base64url(HMAC): compact, URL-safe, opaque to
// clients.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a Signer for key (at least 16 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("auth: signing key must be at least 16 bytes, got %d", len(key))
	}
	return &Signer{key: append([]byte(nil), key...), now: time.Now}, nil
}

// Mint returns a token for c with lifetime ttl; IssuedAt, ExpiresAt and ID are filled in.
func (s *Signer) Mint(c Claims, ttl time.Duration) (string, Claims, error) {
	if c.Identity == "" {
		return "", c, errors.New("auth: identity is required")
	}
	if ttl <= 0 {
		return "", c, errors.New("auth: ttl must be positive")
	}
	now := s.now()
	c.IssuedAt = now.Unix()
	c.ExpiresAt = now.Add(ttl).Unix()
	c.ID = RandomHex(8)
	body, err := json.Marshal(c)
	if err != nil {
		return "", c, err
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p)), c, nil
}

// Verify checks the signature and expiry of tok and returns its claims.
func (s *Signer) Verify(tok string) (Claims, error) {
	var c Claims
	p, sig, ok := strings.Cut(tok, ".")
	if !ok || p == "" || sig == "" || len(tok) > 4096 {
		return c, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return c, ErrMalformed
	}
	if !hmac.Equal(got, s.mac(p)) {
		return c, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return c, ErrMalformed
	}
	if err := json.Unmarshal(body, &c); err != nil || c.Identity == "" {
		return c, ErrMalformed
	}
	if s.now().Unix() >= c.ExpiresAt {
		return c, ErrExpired
	}
	return c, nil
}

func (s *Signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// KeyEqual compares an offered API key with the configured one in constant time.
func KeyEqual(offered, want string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(offered), []byte(want)) == 1
}

// RandomHex returns n random bytes as hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Secret is a string that never reaches a log.
type Secret string

// String redacts the secret.
func (Secret) String() string { return "[redacted]" }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() any { return "[redacted]" }
