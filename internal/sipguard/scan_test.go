package sipguard

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// RFC 4475 torture messages and what a UAS in front of a SIP stack must do
// with each before the stack sees it: 0 passes (the stack and the policy
// decide: process, 405, 420, 415 …), a code is a stateless answer, -1 is
// dropped without an answer (responses, bytes that are not SIP).
var torture = map[string]int{
	// §3.1.1 valid messages
	"valid/dblreq": 0, "valid/esc01": 0, "valid/esc02": 0, "valid/escnull": 0, "valid/intmeth": 0,
	"valid/longreq": 0, "valid/lwsdisp": 0, "valid/mpart01": 0, "valid/noreason": -0, "valid/semiuri": 0,
	"valid/transports": 0, "valid/unreason": 0,
	"valid/wsinv": 0, // §3.1.1.1: whitespace everywhere it may be, Via's slashes included
	// §3.1.2 invalid messages
	"invalid/badinv01": 400, "invalid/clerr": 400, "invalid/ncl": 400, "invalid/scalar02": 400,
	"invalid/scalarlg": -1, "invalid/quotbal": 400, "invalid/ltgtruri": 400, "invalid/lwsruri": 400,
	"invalid/lwsstart": 400, "invalid/trws": 400, "invalid/escruri": 0, "invalid/baddate": 0,
	"invalid/regbadct": 0, "invalid/badaspec": 400, "invalid/baddn": 400, "invalid/badvers": 505,
	"invalid/mismatch01": 400, "invalid/mismatch02": 400, "invalid/bigcode": -1,
	// §3.2, §3.3, §3.4: transaction and application semantics (decided further in)
	"invalid/badbranch": 0, "invalid/insuf": 400, "invalid/unkscm": 416, "invalid/novelsc": 416,
	"invalid/unksm2": 0, "invalid/bext01": 0, "invalid/invut": 0, "invalid/regaut01": 0,
	"invalid/multi01": 400, "invalid/mcl01": 400, "invalid/bcast": 0, "invalid/zeromf": 0,
	"invalid/cparam01": 0, "invalid/cparam02": 0, "invalid/regescrt": 0, "invalid/sdp01": 0,
	"invalid/inv2543": 0, "invalid/test": -1,
}

func TestScanTorture(t *testing.T) {
	files, err := filepath.Glob("testdata/torture/*/*.dat")
	if err != nil || len(files) < 40 {
		t.Fatalf("torture corpus: %d files, %v", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(f), "testdata/torture/"), ".dat")
		want, ok := torture[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		b, _ := os.ReadFile(f)
		var m Msg
		err := Scan(b, false, &m)
		got := 0
		switch e := err.(type) {
		case nil:
		case *Reject:
			got = e.Code
			if !m.Request {
				got = -1
			}
		default:
			got = -1
		}
		if got != want {
			t.Errorf("%s: got %d (%v), want %d", name, got, err, want)
		}
	}
}

func scanOK(t *testing.T, s string) *Msg {
	t.Helper()
	var m Msg
	if err := Scan([]byte(s), false, &m); err != nil {
		t.Fatalf("Scan: %v\n%s", err, s)
	}
	return &m
}

const invite = "INVITE sip:1000@hub.example SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport\r\n" +
	"v: SIP/2.0/UDP proxy.example;branch=z9hG4bK0\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: \"Alice, A.\" <sip:alice@example.com>;tag=abc\r\n" +
	"To: <sip:1000@hub.example>\r\n" +
	"Call-ID: c1@192.0.2.1\r\n" +
	"CSeq: 7 INVITE\r\n" +
	"Require: timer\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\nv=0\n"

func TestScanFields(t *testing.T) {
	m := scanOK(t, invite+"trailing junk after the body")
	if !m.MethodIs("INVITE") || string(m.CallID) != "c1@192.0.2.1" || string(m.FromTag) != "abc" || len(m.ToTag) != 0 ||
		m.CSeqNum != 7 || string(m.CSeqMethod) != "INVITE" || len(m.Vias) != 2 || string(m.Require) != "timer" || m.ContentLen != 4 {
		t.Fatalf("fields: %+v", m)
	}
	if m.Len != len(invite) {
		t.Errorf("Len %d, want %d (bytes after the body are not part of the datagram's message)", m.Len, len(invite))
	}
	host, port, rport, err := ViaSentBy(m.Vias[0])
	if string(host) != "192.0.2.1" || port != 5070 || !rport || err != nil {
		t.Errorf("top Via: %s %d %v %v", host, port, rport, err)
	}
}

func TestScanRejects(t *testing.T) {
	base := strings.Replace(invite, "Content-Length: 4\r\n\r\nv=0\n", "Content-Length: 0\r\n\r\n", 1)
	cases := []struct {
		name, msg string
		code      int
	}{
		{"no Call-ID", strings.Replace(base, "Call-ID: c1@192.0.2.1\r\n", "", 1), 400},
		{"two Call-IDs", strings.Replace(base, "Call-ID: c1@192.0.2.1\r\n", "Call-ID: a\r\nCall-ID: b\r\n", 1), 400},
		{"no From", strings.Replace(base, "From: \"Alice, A.\" <sip:alice@example.com>;tag=abc\r\n", "", 1), 400},
		{"no CSeq", strings.Replace(base, "CSeq: 7 INVITE\r\n", "", 1), 400},
		{"CSeq method mismatch", strings.Replace(base, "CSeq: 7 INVITE", "CSeq: 7 BYE", 1), 400},
		{"CSeq overflow", strings.Replace(base, "CSeq: 7 INVITE", "CSeq: 2147483648 INVITE", 1), 400},
		{"version", strings.Replace(base, "SIP/2.0\r\n", "SIP/3.0\r\n", 1), 505},
		{"conflicting Content-Length", strings.Replace(base, "Content-Length: 0", "Content-Length: 0\r\nl: 5", 1), 400},
		{"negative Content-Length", strings.Replace(base, "Content-Length: 0", "Content-Length: -1", 1), 400},
		{"Content-Length beyond the datagram", strings.Replace(base, "Content-Length: 0", "Content-Length: 10", 1), 400},
		{"bare LF", strings.ReplaceAll(base, "\r\n", "\n"), 400},
		{"no Via", strings.Replace(strings.Replace(base, "Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport\r\n", "", 1), "v: SIP/2.0/UDP proxy.example;branch=z9hG4bK0\r\n", "", 1), 400},
		{"NUL in Call-ID", strings.Replace(base, "c1@192.0.2.1", "c1\x00 x", 1), 400},
		{"unsupported scheme", strings.Replace(base, "INVITE sip:1000@hub.example", "INVITE http://hub.example/", 1), 416},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m Msg
			err := Scan([]byte(c.msg), false, &m)
			r, ok := err.(*Reject)
			if !ok || r.Code != c.code {
				t.Fatalf("got %v, want %d", err, c.code)
			}
		})
	}
}

func TestScanStreamFraming(t *testing.T) {
	two := invite + invite
	var m Msg
	if err := Scan([]byte(two), true, &m); err != nil || m.Len != len(invite) {
		t.Fatalf("first of two: %v, Len %d", err, m.Len)
	}
	for i := 1; i < len(invite); i++ {
		if err := Scan([]byte(invite[:i]), true, &m); err != errIncomplete {
			t.Fatalf("prefix of %d bytes: %v, want incomplete", i, err)
		}
	}
	noCL := strings.Replace(invite, "Content-Length: 4\r\n\r\nv=0\n", "\r\n", 1)
	if r, ok := Scan([]byte(noCL), true, &m).(*Reject); !ok || r.Code != 400 {
		t.Fatalf("stream without Content-Length: %v", r)
	}
}

func TestStatelessResponse(t *testing.T) {
	m := scanOK(t, invite)
	src := netip.MustParseAddrPort("203.0.113.9:40000")
	out := AppendResponse(nil, m, Answer{Code: 403, Reason: "Forbidden", Headers: []string{"X-Why: test"}}, src, tagMaker)
	res, err := sip.ParseMessage(out)
	if err != nil {
		t.Fatalf("our response does not parse: %v\n%s", err, out)
	}
	r := res.(*sip.Response)
	via := r.Via()
	if r.StatusCode != 403 || r.CallID().Value() != "c1@192.0.2.1" || r.CSeq().SeqNo != 7 || r.CSeq().MethodName != sip.INVITE {
		t.Fatalf("response: %s", out)
	}
	if got, _ := via.Params.Get("received"); got != "203.0.113.9" {
		t.Errorf("received = %q\n%s", got, out)
	}
	if got, _ := via.Params.Get("rport"); got != "40000" {
		t.Errorf("rport = %q\n%s", got, out)
	}
	if tag, _ := r.To().Params.Get("tag"); !tagMaker.Is([]byte(tag), m) {
		t.Errorf("To tag %q is not ours", tag)
	}
	if n := len(r.GetHeaders("Via")); n != 2 {
		t.Errorf("%d Vias, want both of the request's", n)
	}
	if !bytes.Contains(out, []byte("\r\nX-Why: test\r\n")) {
		t.Errorf("extra header missing:\n%s", out)
	}
	if got := ReplyAddr(m, src); got != src {
		t.Errorf("reply to %v, want the source (rport)", got)
	}
	m2 := scanOK(t, strings.Replace(invite, ";rport", "", 1))
	if got := ReplyAddr(m2, src); got.Port() != 5070 {
		t.Errorf("reply to %v, want the Via port without rport", got)
	}
	if string(tagMaker.Append(nil, m)) != string(tagMaker.Append(nil, scanOK(t, invite))) {
		t.Error("the To tag differs between retransmissions of one request")
	}
	if tagMaker.Is(tagMaker.Append(nil, m), m2) || tagMaker.Is([]byte("sgx"), m) {
		t.Error("a tag made for one request is taken for another's")
	}
}

var tagMaker = NewToTag()
