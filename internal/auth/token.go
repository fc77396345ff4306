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
	"log/slog"
	"strings"
	"time"
)

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("auth: malformed token")
	ErrSignature = errors.New("auth: bad token signature")
	ErrExpired   = errors.New("auth: token expired")
	// ErrKind: the token names no kind the hub knows, or lacks what its
	// kind needs (a customer or viewer token without a session).
	ErrKind = errors.New("auth: unknown token kind")
)

// Token kinds: the "role" claim says exactly what a token may do (the table
// "Tokens and what they reach" in docs/security.md). Join links are not
// signed tokens: they are opaque, stored capabilities (internal/hub/links.go)
// that are exchanged for a customer token.
const (
	// RoleSoftphone: the softphone socket (/v1/ws) as a SIP user
	// sip:<identity>@hub: places calls on the trunks and receives calls for
	// that user. The only kind that reaches /v1/ws. Tokens minted before
	// kinds existed carry no role and are softphone tokens.
	RoleSoftphone = "softphone"
	// RoleAgent: the session socket (/v1/sessions/ws) as the agent
	// <identity>, which must exist (sessions.agents or POST /v1/agents).
	RoleAgent = "agent"
	// RoleCustomer: the session socket as the customer of one session
	// (a redeemed join link, or the resume token of the customer's answer).
	RoleCustomer = "customer"
	// RoleViewer: the session socket as the agent view of one session
	// (the Call-Info screen-pop link of a desk phone).
	RoleViewer = "viewer"
	// RoleDeafUser: the session socket as the registered deaf user
	// <identity> (interpreter.users) with no session: the page rings when
	// a hearing caller reaches the user's number and answers into that
	// session (docs/interpreter.md §2.2).
	RoleDeafUser = "deaf_user"
	// RoleNode: a hub node vouching, on a request it relays to the node
	// that owns a session, for the address of the client it came from
	// (docs/deploy.md, "Several nodes"). <identity> is the node's name.
	// It reaches nothing: no socket, no API.
	RoleNode = "node"
)

// SessionBound reports whether tokens of role are bound to one session.
func SessionBound(role string) bool { return role == RoleCustomer || role == RoleViewer }

// checkKind is the shape each kind must have.
func checkKind(c Claims) error {
	switch c.Role {
	case RoleSoftphone, RoleAgent, RoleDeafUser, RoleNode:
		if c.Session != "" {
			return fmt.Errorf("%w: a %s token is not bound to a session", ErrKind, c.Role)
		}
	case RoleCustomer, RoleViewer:
		if c.Session == "" {
			return fmt.Errorf("%w: a %s token must name its session", ErrKind, c.Role)
		}
	default:
		return fmt.Errorf("%w %q", ErrKind, c.Role)
	}
	return nil
}

// Claims are what a token grants: an identity (the browser's SIP user, the
// agent id), a kind (Role*), the session of a session-bound kind, and an
// expiry.
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

// Mint returns a token for c with lifetime ttl; IssuedAt, ExpiresAt and ID
// are filled in. c.Role must be one of the Role* kinds, with a Session
// exactly when the kind is session-bound.
func (s *Signer) Mint(c Claims, ttl time.Duration) (string, Claims, error) {
	if c.Identity == "" {
		return "", c, errors.New("auth: identity is required")
	}
	if err := checkKind(c); err != nil {
		return "", c, err
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

// Verify checks the signature, expiry and kind of tok and returns its
// claims. A token without a role (minted before kinds existed) comes back
// as a softphone token; an unknown role is ErrKind.
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
	if c.Role == "" {
		c.Role = RoleSoftphone
	}
	if err := checkKind(c); err != nil {
		return c, err
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
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
