package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTripAndExpiry(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	tok, c, err := s.Mint(Claims{Identity: "alice", Role: RoleAgent}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil || got.Identity != "alice" || got.Role != "agent" || got.ExpiresAt != c.ExpiresAt {
		t.Fatalf("verify: %+v %v", got, err)
	}
	now = now.Add(time.Minute)
	if _, err := s.Verify(tok); err != ErrExpired {
		t.Fatalf("want ErrExpired, got %v", err)
	}
}

func TestTokenTamperAndOtherKey(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"))
	o, _ := NewSigner([]byte("another-key-of-20-bytes"))
	tok, _, _ := s.Mint(Claims{Identity: "alice", Role: RoleSoftphone}, time.Hour)
	if _, err := o.Verify(tok); err != ErrSignature {
		t.Fatalf("other key: want ErrSignature, got %v", err)
	}
	p, sig, _ := strings.Cut(tok, ".")
	forged := p[:len(p)-2] + "xx." + sig
	if _, err := s.Verify(forged); err == nil {
		t.Fatal("tampered token accepted")
	}
	for _, bad := range []string{"", ".", "abc", "a.b.c", "!!!.###"} {
		if _, err := s.Verify(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"))
	for _, c := range []Claims{{Identity: "alice", Role: RoleSoftphone}, {Identity: "agent1", Role: RoleAgent},
		{Identity: "customer", Role: RoleCustomer, Session: "s1"}, {Identity: "viewer", Role: RoleViewer, Session: "s1"}} {
		tok, _, _ := s.Mint(c, time.Hour)
		f.Add(tok)
	}
	f.Add("e30.AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Verify(in)
		if err == nil && c.Identity == "" {
			t.Fatal("accepted a token without identity")
		}
		if err == nil && checkKind(c) != nil {
			t.Fatalf("accepted a token of no known kind: %+v", c)
		}
	})
}

// signRaw signs arbitrary claims the way Mint does, bypassing its checks:
// tokens minted by older versions, or by a buggy caller.
func signRaw(s *Signer, claims string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(claims))
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

// TestTokenKinds: every token names its kind; Mint refuses a token that
// does not, or whose session binding does not fit the kind; Verify reads a
// role-less token (minted before kinds) as a softphone token and refuses
// unknown kinds and unbound customer/viewer tokens.
func TestTokenKinds(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"))
	for _, c := range []Claims{
		{Identity: "alice", Role: RoleSoftphone},
		{Identity: "agent1", Role: RoleAgent},
		{Identity: "customer", Role: RoleCustomer, Session: "s1"},
		{Identity: "viewer", Role: RoleViewer, Session: "s1"},
	} {
		tok, _, err := s.Mint(c, time.Hour)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got, err := s.Verify(tok)
		if err != nil || got.Role != c.Role || got.Session != c.Session || got.Identity != c.Identity {
			t.Fatalf("%+v: verified as %+v, %v", c, got, err)
		}
	}
	for _, c := range []Claims{
		{Identity: "alice"},
		{Identity: "alice", Role: "supervisor"},
		{Identity: "alice", Role: RoleSoftphone, Session: "s1"},
		{Identity: "agent1", Role: RoleAgent, Session: "s1"},
		{Identity: "customer", Role: RoleCustomer},
		{Identity: "viewer", Role: RoleViewer},
	} {
		if _, _, err := s.Mint(c, time.Hour); err == nil {
			t.Errorf("minted %+v", c)
		}
	}
	exp := time.Now().Add(time.Hour).Unix()
	legacy := signRaw(s, fmt.Sprintf(`{"sub":"bob","iat":1,"exp":%d,"jti":"x"}`, exp))
	if c, err := s.Verify(legacy); err != nil || c.Role != RoleSoftphone {
		t.Fatalf("role-less token: %+v %v, want a softphone token", c, err)
	}
	for _, claims := range []string{
		`{"sub":"eve","role":"supervisor","exp":%d}`,
		`{"sub":"eve","role":"customer","exp":%d}`,
		`{"sub":"eve","role":"viewer","ses":"","exp":%d}`,
		`{"sub":"eve","role":"agent","ses":"s1","exp":%d}`,
	} {
		if c, err := s.Verify(signRaw(s, fmt.Sprintf(claims, exp))); !errors.Is(err, ErrKind) {
			t.Errorf("%s: %+v %v, want ErrKind", claims, c, err)
		}
	}
}

func TestACL(t *testing.T) {
	var a ACL
	a.Add("pbx", netip.MustParsePrefix("10.0.0.0/8"))
	a.Add("allow", netip.MustParsePrefix("127.0.0.1/32"))
	if n, ok := a.Match(netip.MustParseAddr("10.1.2.3")); !ok || n != "pbx" {
		t.Fatal("10.1.2.3 should be pbx")
	}
	if _, ok := a.Match(netip.MustParseAddr("::ffff:127.0.0.1")); !ok {
		t.Fatal("v4-mapped loopback should match")
	}
	if _, ok := a.Match(netip.MustParseAddr("192.0.2.1")); ok {
		t.Fatal("192.0.2.1 must be refused")
	}
	if (Secret("pw")).String() != "[redacted]" {
		t.Fatal("secret leaks")
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "password", Secret("hunter2"))
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "password", Secret("hunter2"))
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("secret reaches the log: %s", buf.String())
	}
}
