package rtt

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pion/rtp"
)

// FuzzDecodeRED: any payload either fails with ErrShortRED or parses into
// blocks that AppendRED writes back byte for byte; the Decoder never
// panics on it and only ever returns valid UTF-8.
func FuzzDecodeRED(f *testing.F) {
	f.Add(redExample, uint16(1))
	f.Add([]byte{98, 'h', 'i'}, uint16(0))
	f.Add([]byte{0x80 | 98, 0, 0, 1, 98, 'x'}, uint16(65535))
	f.Fuzz(func(t *testing.T, payload []byte, seq uint16) {
		red, primary, err := ParseRED(payload)
		if err == nil {
			again, err := AppendRED(nil, red, primary)
			if err != nil || !bytes.Equal(again, payload) {
				t.Fatalf("re-encoded %x, %v; want %x", again, err, payload)
			}
		}
		d, err := NewDecoder(DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for i := uint16(0); i < 3; i++ {
			p := &rtp.Packet{Header: rtp.Header{PayloadType: DefaultREDPT, SequenceNumber: seq + i*2}, Payload: payload}
			s, _ := d.Push(p, t0)
			s += d.Tick(t0.Add(DefaultReorderWait))
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 out: %q", s)
			}
		}
	})
}

// FuzzApply: the display model takes any units without panicking and shows
// only valid UTF-8 with no control characters other than "\n".
func FuzzApply(f *testing.F) {
	f.Add("hello\bX\r\nworld")
	f.Add("\x1b[31mred\x1b[0m\a\uFEFF")
	f.Add("a\xff\u2028\u009b1m")
	f.Fuzz(func(t *testing.T, s string) {
		x := Text{MaxRunes: 64}
		// apply in two pieces to cross unit boundaries
		x.Apply(s[:len(s)/2], s[len(s)/2:])
		out := x.String()
		if !utf8.ValidString(out) || x.Len() > 64 {
			t.Fatalf("bad display %q (len %d)", out, x.Len())
		}
		if strings.IndexFunc(out, func(r rune) bool {
			return r != '\n' && (r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == BOM || r == NewLine)
		}) >= 0 {
			t.Fatalf("control in display %q", out)
		}
		// Sanitize is idempotent
		if c := Sanitize(s); Sanitize(c) != c {
			t.Fatalf("Sanitize not idempotent on %q", s)
		}
	})
}
