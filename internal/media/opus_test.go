package media

import (
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/thesyncim/gopus"
)

// encodeTone encodes frames 20 ms frames of a sine and returns the packets.
func encodeTone(t testing.TB, enc OpusEncoder, rate int, freq float64, frames int) [][]byte {
	t.Helper()
	var ph float64
	pcm := make([]int16, OpusFrameSamples(rate))
	var pkts [][]byte
	for range frames {
		GenerateTone(pcm, freq, rate, &ph, 0.5)
		out := make([]byte, OpusMaxPacketSize)
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if n == 0 {
			t.Fatalf("encode returned an empty packet")
		}
		pkts = append(pkts, out[:n])
	}
	return pkts
}

func rms(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(1, len(pcm))))
}

func TestOpusRoundTripTone(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		enc, err := NewOpusEncoder(rate, 24000)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := NewOpusDecoder(rate)
		if err != nil {
			t.Fatal(err)
		}
		pkts := encodeTone(t, enc, rate, 1000, 50)
		var all []int16
		buf := make([]int16, OpusMaxFrameSamples(rate))
		for _, p := range pkts {
			n, err := dec.Decode(p, buf)
			if err != nil {
				t.Fatalf("%d Hz: decode: %v", rate, err)
			}
			if n != OpusFrameSamples(rate) {
				t.Fatalf("%d Hz: decoded %d samples, want %d", rate, n, OpusFrameSamples(rate))
			}
			all = append(all, buf[:n]...)
		}
		tail := all[len(all)/2:]
		if f := DominantFrequency(tail, rate, nil); math.Abs(f-1000) > 15 {
			t.Fatalf("%s %d Hz: dominant %v Hz, want 1000", OpusBackend, rate, f)
		}
		if r := rms(tail); r < 0.5*32767/math.Sqrt2*0.5 {
			t.Fatalf("%d Hz: rms %v too low", rate, r)
		}
	}
}

func TestOpusPLC(t *testing.T) {
	enc, _ := NewOpusEncoder(8000, 0)
	dec, _ := NewOpusDecoder(8000)
	buf := make([]int16, 960)
	for _, p := range encodeTone(t, enc, 8000, 440, 10) {
		if _, err := dec.Decode(p, buf); err != nil {
			t.Fatal(err)
		}
	}
	plc := make([]int16, 160)
	n, err := dec.DecodePLC(plc)
	if err != nil || n != 160 {
		t.Fatalf("PLC n=%d err=%v", n, err)
	}
	if rms(plc) < 100 {
		t.Fatalf("PLC after a tone should continue it, rms=%v", rms(plc))
	}
	if _, err := dec.DecodePLC(make([]int16, 7)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("PLC with 7 samples: %v", err)
	}
}

func TestOpusArgs(t *testing.T) {
	if _, err := NewOpusEncoder(44100, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("44100: %v", err)
	}
	if _, err := NewOpusEncoder(8000, 100); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bitrate 100: %v", err)
	}
	if _, err := NewOpusDecoder(11025); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("11025: %v", err)
	}
	enc, _ := NewOpusEncoder(8000, 0)
	if _, err := enc.Encode(make([]int16, 159), make([]byte, 100)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("159 samples: %v", err)
	}
	dec, _ := NewOpusDecoder(8000)
	if _, err := dec.Decode(nil, make([]int16, 160)); err == nil {
		t.Fatal("empty packet decoded")
	}
	if _, err := dec.Decode([]byte{0xFF, 0xFF, 0xFF}, make([]int16, 160)); err == nil {
		t.Fatal("garbage code-3 packet decoded")
	}
}

// gopusPackets encodes a tone with gopus directly at a given frame duration
// (used to make 10 ms packets, which NewOpusEncoder does not produce).
func gopusPackets(t testing.TB, rate, frame, count int) [][]byte {
	t.Helper()
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: rate, Channels: 1, Application: gopus.ApplicationVoIP})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetFrameSize(frame); err != nil {
		t.Fatal(err)
	}
	var ph float64
	pcm := make([]int16, frame)
	var pkts [][]byte
	for range count {
		GenerateTone(pcm, 1000, rate, &ph, 0.5)
		out := make([]byte, OpusMaxPacketSize)
		n, err := enc.EncodeInt16(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, out[:n])
	}
	return pkts
}

// packOpus joins single-frame packets (same TOC config) into one code-3 VBR
// packet (RFC 6716 section 3.2.5).
func packOpus(frames ...[]byte) []byte {
	toc := frames[0][0]&^0x03 | 0x03
	p := []byte{toc, 0x80 | byte(len(frames))}
	for _, f := range frames[:len(frames)-1] {
		l := len(f) - 1
		if l < 252 {
			p = append(p, byte(l))
		} else {
			p = append(p, byte(252+(l-252)%4), byte((l-252-(l-252)%4)/4))
		}
	}
	for _, f := range frames {
		p = append(p, f[1:]...)
	}
	return p
}

func TestOpusDecodeOtherDurations(t *testing.T) {
	dec, _ := NewOpusDecoder(8000)
	buf := make([]int16, OpusMaxFrameSamples(8000))
	for _, p := range gopusPackets(t, 8000, 80, 5) {
		n, err := dec.Decode(p, buf)
		if err != nil || n != 80 {
			t.Fatalf("10 ms: n=%d err=%v", n, err)
		}
	}
	enc, _ := NewOpusEncoder(8000, 0)
	pk := encodeTone(t, enc, 8000, 1000, 6)
	for _, tc := range []struct {
		pkt  []byte
		want int
	}{{packOpus(pk[0], pk[1]), 320}, {packOpus(pk[2], pk[3], pk[4]), 480}} {
		n, err := dec.Decode(tc.pkt, buf)
		if err != nil || n != tc.want {
			t.Fatalf("multi-frame: n=%d want %d err=%v", n, tc.want, err)
		}
	}
}

func TestOpusNoAllocs(t *testing.T) {
	enc, _ := NewOpusEncoder(8000, 24000)
	dec, _ := NewOpusDecoder(8000)
	pcm := benchPCM()
	out := make([]byte, OpusMaxPacketSize)
	buf := make([]int16, 960)
	var n int
	allocs := testing.AllocsPerRun(50, func() {
		n, _ = enc.Encode(pcm, out)
		if _, err := dec.Decode(out[:n], buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%s: %v allocs per frame", OpusBackend, allocs)
	}
	plc := testing.AllocsPerRun(50, func() {
		if _, err := dec.DecodePLC(buf[:160]); err != nil {
			t.Fatal(err)
		}
	})
	// gopus v0.1.1's SILK concealment allocates a few scratch slices per lost
	// frame (internal/plc.ConcealSILKWithLTP); libopus does not allocate.
	if (OpusBackend == "libopus" && plc != 0) || plc > 8 {
		t.Fatalf("%s: %v allocs per concealed frame", OpusBackend, plc)
	}
}

func BenchmarkOpusEncode8k(b *testing.B) {
	enc, _ := NewOpusEncoder(8000, 24000)
	pcm, out := benchPCM(), make([]byte, OpusMaxPacketSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Encode(pcm, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpusDecode8k(b *testing.B) {
	enc, _ := NewOpusEncoder(8000, 24000)
	dec, _ := NewOpusDecoder(8000)
	pkts := encodeTone(b, enc, 8000, 440, 50)
	buf := make([]int16, 960)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := dec.Decode(pkts[i%len(pkts)], buf); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkOpusPLC8k(b *testing.B) {
	enc, _ := NewOpusEncoder(8000, 24000)
	dec, _ := NewOpusDecoder(8000)
	buf := make([]int16, 960)
	for _, p := range encodeTone(b, enc, 8000, 440, 5) {
		if _, err := dec.Decode(p, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.DecodePLC(buf[:160]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOpusEncoderFirstFrameAndBitrate(t *testing.T) {
	// The first Encode of a fresh encoder must not allocate (no lazy set-up
	// on the media path). MemStats counts the whole process, so a goroutine
	// of the runtime or of another test can add to one measurement: take the
	// least of five fresh encoders — a lazy allocation shows in all of them.
	pcm, out := benchPCM(), make([]byte, OpusMaxPacketSize)
	var enc OpusEncoder
	least := uint64(1 << 62)
	for range 5 {
		e, err := NewOpusEncoder(8000, 24000)
		if err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		if _, err := e.Encode(pcm, out); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		least = min(least, ms.Mallocs-before)
		enc = e
	}
	if least != 0 {
		t.Fatalf("%s: the first Encode of a fresh encoder allocated %d times", OpusBackend, least)
	}
	// 24 kb/s is 60 bytes per 20 ms; allow VBR slack.
	total := 0
	pkts := encodeTone(t, enc, 8000, 440, 100)
	for _, p := range pkts {
		total += len(p)
	}
	if avg := float64(total) / float64(len(pkts)); avg < 30 || avg > 90 {
		t.Fatalf("%s: average packet %v bytes at 24 kb/s", OpusBackend, avg)
	}
}
