package sipguard

import (
	"net/netip"
	"testing"

	"github.com/emiago/sipgo/sip"
)

type benchPolicy struct{ trusted bool }

func (p benchPolicy) Decide(m *Msg, _ netip.AddrPort, _ string, trusted bool) Verdict {
	switch {
	case m.MethodIs("OPTIONS"):
		return Verdict{Answer: &Answer{Code: 200, Reason: "OK", Headers: []string{"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"}}}
	case !trusted:
		return Verdict{Answer: &Answer{Code: 403, Reason: "Forbidden"}, Reason: "forbidden"}
	}
	return Verdict{Pass: true}
}

// What one message costs the guard, by outcome (go test -bench . ./internal/sipguard/).
func BenchmarkGuard(b *testing.B) {
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	cases := []struct {
		name    string
		msg     string
		trusted bool
		rate    float64
	}{
		{"options_answered", request("OPTIONS", "b1"), false, 1e12},
		{"invite_forbidden_403", invite, false, 1e12},
		{"invite_rate_limited_drop", invite, false, 1e-9},
		{"invite_passed_parse_checked", invite, true, 1e12},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			g := New(Options{Policy: benchPolicy{}, Trusted: func(netip.Addr) bool { return c.trusted },
				UntrustedRate: c.rate, UntrustedBurst: 1, TrustedRate: c.rate, ProbeRate: c.rate})
			var m Msg
			out := make([]byte, 0, 2048)
			msg := []byte(c.msg)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				_, reply, _, _ := g.inspect(msg, src, "udp", &m, out[:0])
				if len(reply) > 0 {
					out = reply[:0]
				}
			}
		})
	}
}

// BenchmarkSipgoParse is the SIP stack's own parse of the same INVITE, for scale.
func BenchmarkSipgoParse(b *testing.B) {
	p := sip.NewParser()
	msg := []byte(invite)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ParseSIP(msg); err != nil {
			b.Fatal(err)
		}
	}
}
