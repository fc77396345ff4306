package media

import (
	"errors"
	"math"
	"testing"
)

func mustTranscoder(t testing.TB, from, to Codec) *Transcoder {
	t.Helper()
	tc, err := NewTranscoder(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func g711Encode(c Codec, dst []byte, pcm []int16) {
	if c.Name == "PCMU" {
		EncodeUlaw(dst, pcm)
	} else {
		EncodeAlaw(dst, pcm)
	}
}

func g711Decode(c Codec, dst []int16, b []byte) int {
	if c.Name == "PCMU" {
		return DecodeUlaw(dst, b)
	}
	return DecodeAlaw(dst, b)
}

func TestCodec(t *testing.T) {
	if CodecOpus.String() != "opus/48000/2" || CodecPCMU.String() != "PCMU/8000" {
		t.Fatal(CodecOpus.String(), CodecPCMU.String())
	}
	if !CodecPCMU.Equal(Codec{Name: "pcmu", ClockRate: 8000}) || CodecPCMU.Equal(CodecPCMA) {
		t.Fatal("Equal")
	}
	if CodecOpus.SamplesPerFrame() != 960 || CodecPCMA.SamplesPerFrame() != 160 {
		t.Fatal("SamplesPerFrame")
	}
	for _, c := range [][2]Codec{
		{CodecPCMU, CodecPCMU}, {CodecOpus, CodecOpus},
		{{Name: "G722", ClockRate: 8000}, CodecPCMU}, {CodecPCMU, {Name: "opus", ClockRate: 8000}},
	} {
		if _, err := NewTranscoder(c[0], c[1]); !errors.Is(err, ErrUnsupportedCodec) {
			t.Fatalf("%v -> %v: %v", c[0], c[1], err)
		}
	}
}

// TestTranscodeToneRoundTrip sends 440 Hz and 1000 Hz tones over every
// supported path and detects the frequency on the far side:
// G.711 -> Opus (decoded at 8 kHz and, like a browser, at 48 kHz) and
// Opus (encoded at 48 kHz, like a browser, or 8 kHz) -> G.711.
func TestTranscodeToneRoundTrip(t *testing.T) {
	const frames = 50 // 1 s
	for _, g := range []Codec{CodecPCMU, CodecPCMA} {
		for _, freq := range []float64{440, 1000} {
			// SIP side -> browser side.
			toOpus := mustTranscoder(t, g, CodecOpus)
			back := mustTranscoder(t, CodecOpus, g)
			browser, err := NewOpusDecoder(48000)
			if err != nil {
				t.Fatal(err)
			}
			var ph float64
			pcm := make([]int16, 160)
			in := make([]byte, 160)
			pkt := make([]byte, OpusMaxPacketSize)
			out := make([]byte, 960)
			dec48 := make([]int16, OpusMaxFrameSamples(48000))
			var got8, got48 []int16
			for range frames {
				GenerateTone(pcm, freq, 8000, &ph, 0.5)
				g711Encode(g, in, pcm)
				n, err := toOpus.Transcode(in, pkt)
				if err != nil || n == 0 {
					t.Fatalf("to opus: n=%d %v", n, err)
				}
				if toOpus.LastOutSamples() != 960 || toOpus.OutSamplesPerFrame() != 960 {
					t.Fatal("opus timestamp step")
				}
				m, err := browser.Decode(pkt[:n], dec48)
				if err != nil || m != 960 {
					t.Fatalf("browser decode: %d %v", m, err)
				}
				got48 = append(got48, dec48[:m]...)
				k, err := back.Transcode(pkt[:n], out)
				if err != nil || k != 160 || back.LastOutSamples() != 160 {
					t.Fatalf("back to %s: %d %v", g.Name, k, err)
				}
				dec := make([]int16, k)
				g711Decode(g, dec, out[:k])
				got8 = append(got8, dec...)
			}
			if f := DominantFrequency(got8[len(got8)/2:], 8000, nil); math.Abs(f-freq) > 15 {
				t.Fatalf("%s->opus->%s (%s): %v Hz detected as %v", g.Name, g.Name, OpusBackend, freq, f)
			}
			if f := DominantFrequency(got48[len(got48)/2:], 48000, nil); math.Abs(f-freq) > 15 {
				t.Fatalf("%s->opus->48k (%s): %v Hz detected as %v", g.Name, OpusBackend, freq, f)
			}
			if l := ToneLevel(got8[len(got8)/2:], freq, 8000); l < 0.25 {
				t.Fatalf("level after round trip %v", l)
			}

			// Browser side (48 kHz Opus) -> SIP side.
			enc48, err := NewOpusEncoder(48000, 32000)
			if err != nil {
				t.Fatal(err)
			}
			fromBrowser := mustTranscoder(t, CodecOpus, g)
			pcm48 := make([]int16, 960)
			ph = 0
			var sip []int16
			for range frames {
				GenerateTone(pcm48, freq, 48000, &ph, 0.5)
				n, err := enc48.Encode(pcm48, pkt)
				if err != nil {
					t.Fatal(err)
				}
				k, err := fromBrowser.Transcode(pkt[:n], out)
				if err != nil || k != 160 {
					t.Fatalf("from browser: %d %v", k, err)
				}
				dec := make([]int16, k)
				g711Decode(g, dec, out[:k])
				sip = append(sip, dec...)
			}
			if f := DominantFrequency(sip[len(sip)/2:], 8000, nil); math.Abs(f-freq) > 15 {
				t.Fatalf("browser opus->%s (%s): %v Hz detected as %v", g.Name, OpusBackend, freq, f)
			}
		}
	}
}

func TestTranscodeG711Cross(t *testing.T) {
	u2a := mustTranscoder(t, CodecPCMU, CodecPCMA)
	a2u := mustTranscoder(t, CodecPCMA, CodecPCMU)
	pcm := make([]int16, 240) // 30 ms: G.711 <-> G.711 has no frame size
	GenerateTone(pcm, 1000, 8000, nil, 0.5)
	u := make([]byte, 240)
	EncodeUlaw(u, pcm)
	a := make([]byte, 240)
	if n, err := u2a.Transcode(u, a); err != nil || n != 240 || u2a.LastOutSamples() != 240 {
		t.Fatalf("u2a %d %v", n, err)
	}
	u2 := make([]byte, 240)
	if n, err := a2u.Transcode(a, u2); err != nil || n != 240 {
		t.Fatalf("a2u %d %v", n, err)
	}
	dec := make([]int16, 240)
	DecodeUlaw(dec, u2)
	if f := DominantFrequency(dec, 8000, nil); math.Abs(f-1000) > 2 {
		t.Fatalf("detected %v", f)
	}
	if _, err := u2a.Transcode(u, a[:10]); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("short out: %v", err)
	}
}

func TestTranscodeFrameSizes(t *testing.T) {
	// G.711 -> Opus requires 20 ms.
	toOpus := mustTranscoder(t, CodecPCMU, CodecOpus)
	if _, err := toOpus.Transcode(make([]byte, 80), make([]byte, 1500)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("10 ms G.711: %v", err)
	}
	// Opus packets of 10, 40 and 60 ms become G.711 payloads of the same
	// duration.
	fromOpus := mustTranscoder(t, CodecOpus, CodecPCMA)
	out := make([]byte, 960)
	for _, p := range gopusPackets(t, 8000, 80, 3) {
		n, err := fromOpus.Transcode(p, out)
		if err != nil || n != 80 || fromOpus.LastOutSamples() != 80 {
			t.Fatalf("10 ms: %d %v", n, err)
		}
	}
	enc, _ := NewOpusEncoder(8000, 0)
	pk := encodeTone(t, enc, 8000, 440, 5)
	for _, c := range []struct {
		pkt  []byte
		want int
	}{{packOpus(pk[0], pk[1]), 320}, {packOpus(pk[2], pk[3], pk[4]), 480}} {
		n, err := fromOpus.Transcode(c.pkt, out)
		if err != nil || n != c.want || fromOpus.LastOutSamples() != c.want {
			t.Fatalf("multi-frame: %d want %d: %v", n, c.want, err)
		}
		if ns, _ := OpusPacketSamples(c.pkt, 48000); ns != c.want*6 {
			t.Fatalf("OpusPacketSamples %d", ns)
		}
	}
	// Output too small for a 60 ms packet: rejected before decoding.
	if _, err := fromOpus.Transcode(packOpus(pk[2], pk[3], pk[4]), out[:160]); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("short: %v", err)
	}
	for _, bad := range [][]byte{nil, {0x03}, {0x03, 0x00}, {0x03, 0x31}} { // empty, no count, 0 frames, 49 frames
		if _, err := OpusPacketSamples(bad, 8000); !errors.Is(err, ErrFrameSize) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
	if n, _ := OpusPacketSamples([]byte{0xF8}, 48000); n != 960 { // CELT FB 20 ms
		t.Fatalf("CELT 20 ms: %d", n)
	}
	if n, _ := OpusPacketSamples([]byte{0x80}, 48000); n != 120 { // CELT 2.5 ms
		t.Fatalf("CELT 2.5 ms: %d", n)
	}
}

func TestTranscodeConceal(t *testing.T) {
	// Opus source: PLC continues the tone for a lost frame.
	fromOpus := mustTranscoder(t, CodecOpus, CodecPCMU)
	enc, _ := NewOpusEncoder(8000, 0)
	out := make([]byte, 960)
	for _, p := range encodeTone(t, enc, 8000, 440, 10) {
		if _, err := fromOpus.Transcode(p, out); err != nil {
			t.Fatal(err)
		}
	}
	n, err := fromOpus.Conceal(out)
	if err != nil || n != 160 {
		t.Fatalf("conceal %d %v", n, err)
	}
	pcm := make([]int16, 160)
	DecodeUlaw(pcm, out[:n])
	if rms(pcm) < 100 {
		t.Fatalf("PLC rms %v", rms(pcm))
	}
	// G.711 source: silence.
	for _, c := range []struct {
		to   Codec
		want byte
	}{{CodecPCMA, AlawSilence}, {CodecPCMU, UlawSilence}} {
		from := CodecPCMU
		if c.to.Name == "PCMU" {
			from = CodecPCMA
		}
		tc := mustTranscoder(t, from, c.to)
		n, err := tc.Conceal(out)
		if err != nil || n != 160 {
			t.Fatal(n, err)
		}
		for _, b := range out[:n] {
			if b != c.want {
				t.Fatalf("%v conceal byte %#x", c.to, b)
			}
		}
	}
	toOpus := mustTranscoder(t, CodecPCMU, CodecOpus)
	if n, err := toOpus.Conceal(out); err != nil || n == 0 || toOpus.LastOutSamples() != 960 {
		t.Fatalf("conceal to opus %d %v", n, err)
	}
	if _, err := fromOpus.Conceal(out[:100]); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("short conceal %v", err)
	}
}

func TestTranscodeNoAllocs(t *testing.T) {
	pcm := benchPCM()
	u := make([]byte, 160)
	EncodeUlaw(u, pcm)
	toOpus := mustTranscoder(t, CodecPCMU, CodecOpus)
	fromOpus := mustTranscoder(t, CodecOpus, CodecPCMU)
	u2a := mustTranscoder(t, CodecPCMU, CodecPCMA)
	pkt := make([]byte, OpusMaxPacketSize)
	out := make([]byte, 960)
	allocs := testing.AllocsPerRun(50, func() {
		n, err := toOpus.Transcode(u, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fromOpus.Transcode(pkt[:n], out); err != nil {
			t.Fatal(err)
		}
		if _, err := u2a.Transcode(u, out); err != nil {
			t.Fatal(err)
		}
		if _, err := toOpus.Conceal(pkt); err != nil {
			t.Fatal(err)
		}
		if _, err := u2a.Conceal(out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%s: %v allocs per frame", OpusBackend, allocs)
	}
}

func BenchmarkTranscodePCMUToOpus(b *testing.B) {
	u := make([]byte, 160)
	EncodeUlaw(u, benchPCM())
	tc := mustTranscoder(b, CodecPCMU, CodecOpus)
	out := make([]byte, OpusMaxPacketSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tc.Transcode(u, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranscodeOpusToPCMU(b *testing.B) {
	enc, _ := NewOpusEncoder(8000, 24000)
	pkts := encodeTone(b, enc, 8000, 440, 50)
	tc := mustTranscoder(b, CodecOpus, CodecPCMU)
	out := make([]byte, 960)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tc.Transcode(pkts[i%len(pkts)], out); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkTranscodePCMUToPCMA(b *testing.B) {
	u := make([]byte, 160)
	EncodeUlaw(u, benchPCM())
	tc := mustTranscoder(b, CodecPCMU, CodecPCMA)
	out := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tc.Transcode(u, out); err != nil {
			b.Fatal(err)
		}
	}
}
