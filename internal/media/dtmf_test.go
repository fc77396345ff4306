package media

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseDTMF(t *testing.T) {
	// Digit 9, end, volume 10, duration 1280 (0x0500).
	ev, err := ParseDTMF([]byte{0x09, 0x8A, 0x05, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	if ev != (DTMFEvent{Event: 9, End: true, Volume: 10, Duration: 1280}) {
		t.Fatalf("%+v", ev)
	}
	// Reserved bit set: ignored.
	if ev, _ := ParseDTMF([]byte{11, 0x40 | 7, 0, 160}); ev.End || ev.Volume != 7 || ev.Duration != 160 || ev.Event != 11 {
		t.Fatalf("%+v", ev)
	}
	if _, err := ParseDTMF([]byte{1, 2, 3}); !errors.Is(err, ErrInvalidDTMF) {
		t.Fatalf("short payload: %v", err)
	}
	b := make([]byte, 4)
	if n := (DTMFEvent{Event: 12, End: true, Volume: 0xFF, Duration: 0xABCD}).Marshal(b); n != 4 || !bytes.Equal(b, []byte{12, 0xBF, 0xAB, 0xCD}) {
		t.Fatalf("marshal %d %x", n, b)
	}
	if n := (DTMFEvent{}).Marshal(b[:3]); n != 0 {
		t.Fatal("marshal into 3 bytes")
	}
}

func TestDigitMapping(t *testing.T) {
	digits := "0123456789*#ABCD"
	for i, r := range digits {
		ev, ok := DigitToEvent(r)
		if !ok || int(ev) != i {
			t.Fatalf("DigitToEvent(%q)=%d,%v", r, ev, ok)
		}
		back, ok := EventToDigit(ev)
		if !ok || back != r {
			t.Fatalf("EventToDigit(%d)=%q", ev, back)
		}
	}
	if ev, ok := DigitToEvent('c'); !ok || ev != 14 {
		t.Fatal("lower-case c")
	}
	for _, r := range "EeX!/ " {
		if _, ok := DigitToEvent(r); ok {
			t.Fatalf("DigitToEvent(%q) accepted", r)
		}
	}
	if _, ok := EventToDigit(16); ok {
		t.Fatal("EventToDigit(16) accepted")
	}
}

func TestDTMFPackets(t *testing.T) {
	pkts, err := DTMFPackets('5', 100, 8000, 20)
	if err != nil {
		t.Fatal(err)
	}
	wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
	if len(pkts) != len(wantDur) {
		t.Fatalf("%d packets", len(pkts))
	}
	for i, p := range pkts {
		ev, err := ParseDTMF(p.Payload[:])
		if err != nil {
			t.Fatal(err)
		}
		end := i >= 4
		if ev.Event != 5 || ev.Duration != wantDur[i] || ev.End != end || p.End != end || p.Marker != (i == 0) || ev.Volume != DTMFDefaultVolume {
			t.Fatalf("packet %d: %+v %+v", i, p, ev)
		}
	}
	// 48 kHz clock, 50 ms packets.
	pkts, err = DTMFPackets('#', 120, 48000, 50)
	if err != nil || len(pkts) != 5 {
		t.Fatalf("%d packets, %v", len(pkts), err)
	}
	if ev, _ := ParseDTMF(pkts[4].Payload[:]); ev.Duration != 5760 || ev.Event != 11 {
		t.Fatalf("%+v", ev)
	}
	// Shorter than one packet: only the End packets, the first marked.
	pkts, _ = DTMFPackets('1', 10, 8000, 20)
	if len(pkts) != 3 || !pkts[0].Marker || pkts[1].Marker || !pkts[0].End {
		t.Fatalf("%+v", pkts)
	}
	for _, c := range []struct {
		d          rune
		ms, cr, pm int
	}{{'x', 100, 8000, 20}, {'1', 0, 8000, 20}, {'1', 100, 0, 20}, {'1', 100, 8000, 0}, {'1', 2000, 48000, 20}} {
		if _, err := DTMFPackets(c.d, c.ms, c.cr, c.pm); err == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
	// Append reuses dst.
	buf := make([]DTMFPacket, 0, 16)
	out, _ := AppendDTMFPackets(buf, '2', 100, 8000, 20)
	if &out[0] != &buf[:1][0] {
		t.Fatal("AppendDTMFPackets did not reuse dst")
	}
}

func TestDTMFDetector(t *testing.T) {
	var d DTMFDetector
	var got []rune
	feed := func(ts uint32, p []DTMFPacket) {
		for _, pk := range p {
			if r, ok := d.Push(ts, pk.Payload[:]); ok {
				got = append(got, r)
			}
		}
	}
	five, _ := DTMFPackets('5', 100, 8000, 20)
	nine, _ := DTMFPackets('9', 60, 8000, 20)
	feed(1000, five)
	feed(1000, five[5:]) // more retransmissions of the end
	feed(3000, five)     // same digit again, a new event
	feed(1000, five[:1]) // straggler of the first event
	feed(5000, nine[2:]) // start lost: only the End packets arrive
	if _, ok := d.Push(6000, []byte{1, 2}); ok {
		t.Fatal("malformed payload reported")
	}
	flash := []byte{16, 0x80, 0, 160} // event 16 (flash) is not a digit
	if _, ok := d.Push(7000, flash); ok {
		t.Fatal("flash reported as digit")
	}
	if string(got) != "559" {
		t.Fatalf("digits %q, want 559", string(got))
	}
	feed(uint32(1)<<31+7000, five) // far behind: a new stream, not a straggler
	if string(got) != "5595" {
		t.Fatalf("digits %q, want 5595", string(got))
	}
	d.Reset()
	got = got[:0]
	feed(0xFFFFFF00, five) // events across the timestamp wrap
	feed(0x00000100, nine)
	feed(0xFFFFFF00, five[6:])
	if string(got) != "59" {
		t.Fatalf("across wrap %q, want 59", string(got))
	}
	d.Reset()
	feed(0x00000100, nine)
	if string(got) != "599" {
		t.Fatalf("after Reset %q", string(got))
	}
}

func FuzzParseDTMF(f *testing.F) {
	f.Add([]byte{0x09, 0x8A, 0x05, 0x00})
	f.Add([]byte{0x01, 0x0A, 0x00, 0xA0, 0xFF})
	f.Add([]byte{0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseDTMF(b)
		if err != nil {
			if len(b) >= 4 {
				t.Fatalf("error on %d bytes: %v", len(b), err)
			}
			return
		}
		out := make([]byte, 4)
		if ev.Marshal(out) != 4 {
			t.Fatal("marshal")
		}
		ev2, err := ParseDTMF(out)
		if err != nil || ev2 != ev {
			t.Fatalf("round trip %+v -> %+v (%v)", ev, ev2, err)
		}
		// Only the reserved bit may differ.
		if out[0] != b[0] || out[1] != b[1]&^0x40 || out[2] != b[2] || out[3] != b[3] {
			t.Fatalf("re-marshal %x vs %x", out, b[:4])
		}
		var d DTMFDetector
		d.Push(0, b)
		if _, ok := d.Push(0, b); ok {
			t.Fatal("same packet reported twice")
		}
	})
}

func BenchmarkDTMFDetector(b *testing.B) {
	pkts, _ := DTMFPackets('7', 100, 8000, 20)
	var d DTMFDetector
	b.ReportAllocs()
	ts := uint32(0)
	for b.Loop() {
		for _, p := range pkts {
			d.Push(ts, p.Payload[:])
		}
		ts += 2000
	}
}
