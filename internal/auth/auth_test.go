package auth

import (
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
	tok, c, err := s.Mint(Claims{Identity: "alice", Role: "agent"}, time.Minute)
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
	tok, _, _ := s.Mint(Claims{Identity: "alice"}, time.Hour)
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
	tok, _, _ := s.Mint(Claims{Identity: "alice"}, time.Hour)
	f.Add(tok)
	f.Add("e30.AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Verify(in)
		if err == nil && c.Identity == "" {
			t.Fatal("accepted a token without identity")
		}
	})
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
}
