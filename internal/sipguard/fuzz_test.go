package sipguard

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func seedCorpus(f *testing.F) {
	files, _ := filepath.Glob("testdata/torture/*/*.dat")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b, false)
	}
	f.Add([]byte(invite), false)
	f.Add([]byte(invite+invite), true)
}

// FuzzScan: no input panics the scanner; what it accepts is framed inside
// the input and carries what a transaction needs.
func FuzzScan(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte, stream bool) {
		var m Msg
		err := Scan(b, stream, &m)
		if err != nil {
			return
		}
		if m.Len > len(b) || m.Len < m.HeaderLen || len(m.Vias) == 0 || len(m.CallID) == 0 || len(m.CSeq) == 0 || len(m.From) == 0 || len(m.To) == 0 {
			t.Fatalf("accepted with inconsistent fields: Len %d of %d, %+v", m.Len, len(b), m)
		}
	})
}

type passAll struct{}

func (passAll) Decide(*Msg, netip.AddrPort, string, bool) Verdict { return Verdict{Pass: true} }

// FuzzGuard: whatever the guard lets through, the SIP stack parses (nothing
// that passes is dropped in silence, and no parser panic is reachable); a
// well-formed request refused with an answer gets a parseable one (an
// answer echoes the request's headers, so a malformed one gets its garbage back).
func FuzzGuard(f *testing.F) {
	seedCorpus(f)
	g := New(Options{Policy: passAll{}, UntrustedRate: 1e9})
	src := netip.MustParseAddrPort("192.0.2.7:5062")
	f.Fuzz(func(t *testing.T, b []byte, stream bool) {
		tr := "udp"
		if stream {
			tr = "tcp"
		}
		var m Msg
		pass, reply, _, err := g.inspect(b, src, tr, &m, nil)
		if pass {
			whole := b
			if stream {
				whole = b[:m.Len]
			}
			if _, perr := sip.ParseMessage(whole); perr != nil {
				t.Fatalf("passed, but the SIP stack cannot parse it: %v", perr)
			}
		}
		var m2 Msg
		if req, rerr := sip.ParseMessage(b); len(reply) > 0 && rerr == nil && wellFormed(req) && Scan(b, stream, &m2) == nil {
			if _, perr := sip.ParseMessage(reply); perr != nil {
				t.Fatalf("answer does not parse: %v\n%q (err %v)", perr, reply, err)
			}
		}
	})
}

// wellFormed: the request has the headers a response copies.
func wellFormed(msg sip.Message) bool {
	r, ok := msg.(*sip.Request)
	return ok && r.CallID() != nil && r.From() != nil && r.To() != nil && r.CSeq() != nil && r.Via() != nil
}
