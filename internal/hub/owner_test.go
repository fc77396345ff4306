package hub

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/split-hub/split/internal/auth"
)

// A relayed request's client address is believed only with a node token
// signed with the cluster's secret; anything else is the peer's address.
func TestRelayedFrom(t *testing.T) {
	s, err := auth.NewSigner([]byte("cluster-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewSigner([]byte("another-secret-0123456789abcdef"))
	h := &Hub{signer: s}
	mint := func(s *auth.Signer, role, sid string) string {
		tok, _, err := s.Mint(auth.Claims{Identity: "node-b", Role: role, Session: sid}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name, proof, client, want string
	}{
		{"node token", mint(s, auth.RoleNode, ""), "203.0.113.7", "203.0.113.7"},
		{"no proof", "", "203.0.113.7", "192.0.2.1"},
		{"forged proof", mint(other, auth.RoleNode, ""), "203.0.113.7", "192.0.2.1"},
		{"an agent's token", mint(s, auth.RoleAgent, ""), "203.0.113.7", "192.0.2.1"},
		{"not an address", mint(s, auth.RoleNode, ""), "203.0.113.7, 10.0.0.1", "192.0.2.1"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/v1/sessions/ws", nil)
		r.RemoteAddr = "192.0.2.1:40000"
		if c.proof != "" {
			r.Header.Set(HeaderRelayProof, c.proof)
		}
		r.Header.Set(HeaderRelayClient, c.client)
		if got := h.clientAddr(r); got != c.want {
			t.Errorf("%s: client %q, want %q", c.name, got, c.want)
		}
	}
}
