package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

func mkRTP(t testing.TB, h rtp.Header, payload []byte) []byte {
	t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseRTP(t testing.TB, b []byte) rtp.Packet {
	t.Helper()
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		t.Fatalf("pion unmarshal: %v", err)
	}
	return p
}

func TestRTPHeaderLen(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	ext := rtp.Header{Extension: true, ExtensionProfile: 0xBEDE}
	if err := ext.SetExtension(1, []byte{0xAA, 0xBB}); err != nil {
		t.Fatal(err)
	}
	cases := []rtp.Header{
		{PayloadType: 0},
		{PayloadType: 111, CSRC: []uint32{1, 2}},
		ext,
	}
	for i, h := range cases {
		b := mkRTP(t, h, payload)
		hdr, n, err := RTPHeaderLen(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		p := parseRTP(t, b)
		if n != len(payload) || !bytes.Equal(b[hdr:hdr+n], payload) || hdr != len(b)-len(p.Payload) {
			t.Fatalf("case %d: hdr %d n %d", i, hdr, n)
		}
	}
	// Padding: 3 bytes.
	b := append(mkRTP(t, rtp.Header{}, payload), 0, 0, 3)
	b[0] |= 0x20
	if pl, err := RTPPayload(b); err != nil || !bytes.Equal(pl, payload) {
		t.Fatalf("padded payload %x %v", pl, err)
	}
	bad := map[string][]byte{
		"short":      b[:11],
		"version 1":  append([]byte{0x40}, b[1:]...),
		"csrc":       append([]byte{0x8F}, b[1:15]...),
		"ext header": {0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE},
		"ext length": {0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 2, 0, 0, 0, 0},
		"pad zero":   {0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
		"pad large":  {0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3},
	}
	for name, p := range bad {
		if _, _, err := RTPHeaderLen(p); !errors.Is(err, ErrInvalidRTP) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestRewriterSourceSwitch(t *testing.T) {
	r := NewRewriter(0xCAFEBABE, 960)
	r.MapPayloadType(111, 96)
	payload := []byte("opus-ish")
	send := func(h rtp.Header) rtp.Packet {
		t.Helper()
		b := mkRTP(t, h, payload)
		if err := r.Rewrite(b); err != nil {
			t.Fatal(err)
		}
		p := parseRTP(t, b)
		if p.SSRC != 0xCAFEBABE || !bytes.Equal(p.Payload, payload) {
			t.Fatalf("rewritten %+v", p.Header)
		}
		return p
	}
	// Source A near the sequence wrap, passed through with PT mapped.
	for i := range 3 {
		p := send(rtp.Header{SSRC: 1, SequenceNumber: uint16(65534 + i), Timestamp: uint32(1000 + 960*i), PayloadType: 111})
		if p.SequenceNumber != uint16(65534+i) || p.Timestamp != uint32(1000+960*i) || p.PayloadType != 96 || p.Marker {
			t.Fatalf("A%d: %+v", i, p.Header)
		}
	}
	// Unmapped payload type (telephone-event) passes unchanged.
	if p := send(rtp.Header{SSRC: 1, SequenceNumber: 1, Timestamp: 1000 + 960*3, PayloadType: 101}); p.PayloadType != 101 || p.SequenceNumber != 1 {
		t.Fatalf("A3 %+v", p.Header)
	}
	// Source B with unrelated numbering continues the output stream.
	p := send(rtp.Header{SSRC: 2, SequenceNumber: 40000, Timestamp: 7777777, PayloadType: 111})
	if p.SequenceNumber != 2 || p.Timestamp != 1000+960*4 || !p.Marker {
		t.Fatalf("B0: %+v", p.Header)
	}
	// Reordered B packets keep their relative order and spacing.
	p = send(rtp.Header{SSRC: 2, SequenceNumber: 40002, Timestamp: 7777777 + 1920, PayloadType: 111})
	if p.SequenceNumber != 4 || p.Timestamp != 1000+960*6 || p.Marker {
		t.Fatalf("B2: %+v", p.Header)
	}
	p = send(rtp.Header{SSRC: 2, SequenceNumber: 40001, Timestamp: 7777777 + 960, PayloadType: 111, Marker: true})
	if p.SequenceNumber != 3 || p.Timestamp != 1000+960*5 || !p.Marker {
		t.Fatalf("B1: %+v", p.Header)
	}
	// Switch again: continues after the highest (seq 4), not the last.
	p = send(rtp.Header{SSRC: 3, SequenceNumber: 9, Timestamp: 5, PayloadType: 111})
	if p.SequenceNumber != 5 || p.Timestamp != 1000+960*7 || !p.Marker {
		t.Fatalf("C0: %+v", p.Header)
	}
	if r.SourceSwitches() != 2 {
		t.Fatalf("switches %d", r.SourceSwitches())
	}
	// Invalid packets are rejected untouched.
	bad := []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	orig := append([]byte(nil), bad...)
	if err := r.Rewrite(bad); !errors.Is(err, ErrInvalidRTP) || !bytes.Equal(bad, orig) {
		t.Fatalf("invalid: %v %x", err, bad)
	}
}

func TestRewriterNoAllocs(t *testing.T) {
	r := NewRewriter(1, 160)
	b := mkRTP(t, rtp.Header{SSRC: 5, SequenceNumber: 1, PayloadType: 0}, make([]byte, 160))
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.Rewrite(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xFF}, uint32(7))
	f.Add([]byte{0x92, 0xEF, 0xFF, 0xFF, 0, 0, 3, 0xC0, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 1, 2}, uint32(0xFFFFFFFF))
	f.Add([]byte{0xA0, 0x00, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 2}, uint32(0))
	f.Fuzz(func(t *testing.T, pkt []byte, ssrc uint32) {
		orig := append([]byte(nil), pkt...)
		r := NewRewriter(ssrc, 960)
		r.MapPayloadType(0, 8)
		hdr, n, herr := RTPHeaderLen(pkt)
		err := r.Rewrite(pkt)
		if (err == nil) != (herr == nil) {
			t.Fatalf("Rewrite %v vs RTPHeaderLen %v", err, herr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidRTP) || !bytes.Equal(pkt, orig) {
				t.Fatalf("error %v, packet changed", err)
			}
			return
		}
		if hdr+n > len(pkt) || pkt[0] != orig[0] || !bytes.Equal(pkt[12:], orig[12:]) {
			t.Fatal("rewrite touched more than the fixed header")
		}
		if got := uint32(pkt[8])<<24 | uint32(pkt[9])<<16 | uint32(pkt[10])<<8 | uint32(pkt[11]); got != ssrc {
			t.Fatalf("ssrc %x", got)
		}
		if !bytes.Equal(pkt[2:8], orig[2:8]) {
			t.Fatal("first source must pass seq/ts through")
		}
		// A second source continues the sequence.
		pkt2 := append([]byte(nil), orig...)
		pkt2[8] ^= 0xFF
		if err := r.Rewrite(pkt2); err != nil {
			t.Fatal(err)
		}
		if SeqDiff(uint16(pkt2[2])<<8|uint16(pkt2[3]), uint16(pkt[2])<<8|uint16(pkt[3])) != 1 || pkt2[1]&0x80 == 0 {
			t.Fatalf("switch: %x after %x", pkt2[:12], pkt[:12])
		}
	})
}

func BenchmarkRewrite(b *testing.B) {
	r := NewRewriter(1, 960)
	r.MapPayloadType(111, 96)
	pkt := mkRTP(b, rtp.Header{SSRC: 5, SequenceNumber: 1, PayloadType: 111, CSRC: []uint32{7}}, make([]byte, 80))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := r.Rewrite(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRewriterInsert: an event inserted among the audio takes the next
// sequence numbers, and the audio after it continues without a gap or a
// duplicate; every packet of one event carries the same timestamp.
func TestRewriterInsert(t *testing.T) {
	rw := NewRewriter(0xabc, 960)
	pkt := func(seq uint16, ts, ssrc uint32, pt uint8) []byte {
		b := make([]byte, 16)
		b[0], b[1] = 0x80, pt
		binary.BigEndian.PutUint16(b[2:], seq)
		binary.BigEndian.PutUint32(b[4:], ts)
		binary.BigEndian.PutUint32(b[8:], ssrc)
		return b
	}
	var seqs []uint16
	var evTS []uint32
	for i := uint16(0); i < 3; i++ {
		b := pkt(100+i, 9600+uint32(i)*960, 7, 111)
		if err := rw.Rewrite(b); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, binary.BigEndian.Uint16(b[2:]))
	}
	for i := 0; i < 3; i++ { // one event, three packets, its own clock and SSRC
		b := pkt(5000+uint16(i), 80000, 99, 126)
		if err := rw.Insert(b); err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint32(b[8:]); got != 0xabc {
			t.Fatalf("ssrc %x", got)
		}
		if b[1]&0x7f != 126 {
			t.Fatalf("payload type %d", b[1]&0x7f)
		}
		seqs = append(seqs, binary.BigEndian.Uint16(b[2:]))
		evTS = append(evTS, binary.BigEndian.Uint32(b[4:]))
	}
	for i := uint16(3); i < 5; i++ {
		b := pkt(100+i, 9600+uint32(i)*960, 7, 111)
		if err := rw.Rewrite(b); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, binary.BigEndian.Uint16(b[2:]))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v: not continuous", seqs)
		}
	}
	if evTS[0] != evTS[1] || evTS[1] != evTS[2] || evTS[0] != 9600+2*960 {
		t.Fatalf("event timestamps %v, want the stream's current one (%d) for all", evTS, 9600+2*960)
	}
	if rw.SourceSwitches() != 0 {
		t.Fatal("an inserted event counted as a source switch")
	}
}
