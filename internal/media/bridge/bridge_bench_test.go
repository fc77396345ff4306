package bridge_test

import (
	"encoding/binary"
	"testing"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/bridge"
)

var (
	codecPCMU = leg.Codec{PT: 0, Name: "PCMU", Clock: 8000, Channels: 1}
	codecOpus = leg.Codec{PT: 111, Name: "opus", Clock: 48000, Channels: 2}
)

// sink counts what a link writes to the destination leg.
type sink struct{ packets, bytes int }

func (s *sink) WriteRTP(pkt []byte) error { s.packets++; s.bytes += len(pkt); return nil }

// link returns the A→B link of a bridge whose A side receives from and
// B side sends to the given codecs.
func link(from, to leg.Codec) (*bridge.Link, *sink) { return linkWith(bridge.Options{}, from, to) }

func linkWith(o bridge.Options, from, to leg.Codec) (*bridge.Link, *sink) {
	a := leg.NewTrack("audio", from, leg.Codec{}, &sink{})
	a.SetRecv([]leg.Codec{from})
	out := &sink{}
	b := leg.NewTrack("audio", to, leg.Codec{}, out)
	b.SetRecv([]leg.Codec{to})
	return bridge.ConnectWith(o, a, b, nil, nil).AtoB, out
}

// frames returns n 20 ms frames of a 440 Hz tone in codec c, as RTP packets.
func frames(tb testing.TB, c leg.Codec, n int) [][]byte {
	tb.Helper()
	rate := 8000
	if c.Is("opus") {
		rate = 48000
	}
	pcm := make([]int16, rate/50)
	var phase float64
	var enc media.OpusEncoder
	if c.Is("opus") {
		var err error
		if enc, err = media.NewOpusEncoder(rate, 24000); err != nil {
			tb.Fatal(err)
		}
	}
	out := make([][]byte, n)
	buf := make([]byte, media.OpusMaxPacketSize)
	for i := range out {
		media.GenerateTone(pcm, 440, rate, &phase, 0.25)
		var payload []byte
		if enc != nil {
			m, err := enc.Encode(pcm, buf)
			if err != nil {
				tb.Fatal(err)
			}
			payload = buf[:m]
		} else {
			payload = make([]byte, len(pcm))
			media.EncodeUlaw(payload, pcm)
		}
		p := make([]byte, 12+len(payload))
		p[0], p[1] = 0x80, c.PT
		binary.BigEndian.PutUint32(p[8:], 0x1234)
		copy(p[12:], payload)
		out[i] = p
	}
	return out
}

// run sends b.N packets through k, cycling over fs with increasing
// sequence numbers and timestamps.
func run(b *testing.B, k *bridge.Link, fs [][]byte, step uint32) {
	b.ReportAllocs()
	var seq uint16
	var ts uint32
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := fs[i%len(fs)]
		seq++
		ts += step
		binary.BigEndian.PutUint16(p[2:], seq)
		binary.BigEndian.PutUint32(p[4:], ts)
		if err := k.WriteRTP(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassthrough is one PCMU packet forwarded PCMU → PCMU: the
// per-packet cost of the passthrough path (must not allocate).
func BenchmarkPassthrough(b *testing.B) {
	k, out := link(codecPCMU, codecPCMU)
	run(b, k, frames(b, codecPCMU, 50), 160)
	if k.Path() != bridge.PathPassthrough || out.packets != b.N {
		b.Fatalf("path %v, %d of %d packets out", k.Path(), out.packets, b.N)
	}
}

// BenchmarkTranscodeOpusToPCMU is one 20 ms Opus packet (browser) decoded
// and encoded to PCMU (SIP).
func BenchmarkTranscodeOpusToPCMU(b *testing.B) {
	k, out := link(codecOpus, codecPCMU)
	run(b, k, frames(b, codecOpus, 50), 960)
	if k.Path() != bridge.PathTranscode || out.packets != b.N {
		b.Fatalf("path %v, %d of %d packets out", k.Path(), out.packets, b.N)
	}
}

// BenchmarkTranscodePCMUToOpus is one 20 ms PCMU packet (SIP) decoded and
// encoded to Opus (browser).
func BenchmarkTranscodePCMUToOpus(b *testing.B) {
	k, out := link(codecPCMU, codecOpus)
	run(b, k, frames(b, codecPCMU, 50), 160)
	if k.Path() != bridge.PathTranscode || out.packets != b.N {
		b.Fatalf("path %v, %d of %d packets out", k.Path(), out.packets, b.N)
	}
}

// BenchmarkTranscodePCMUToOpusComplexity5 is the same with the hub's
// default encoder complexity (media.opus_complexity: 5).
func BenchmarkTranscodePCMUToOpusComplexity5(b *testing.B) {
	k, out := linkWith(bridge.Options{Transcode: media.TranscodeOptions{OpusComplexity: 5}}, codecPCMU, codecOpus)
	run(b, k, frames(b, codecPCMU, 50), 160)
	if k.Path() != bridge.PathTranscode || out.packets != b.N {
		b.Fatalf("path %v, %d of %d packets out", k.Path(), out.packets, b.N)
	}
}

// TestPassthroughNoAlloc pins the passthrough path at zero allocations per packet.
func TestPassthroughNoAlloc(t *testing.T) {
	k, _ := link(codecPCMU, codecPCMU)
	fs := frames(t, codecPCMU, 1)
	var seq uint16
	_ = k.WriteRTP(fs[0]) // configure
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		binary.BigEndian.PutUint16(fs[0][2:], seq)
		_ = k.WriteRTP(fs[0])
	}); n != 0 {
		t.Errorf("passthrough allocates %.1f times per packet", n)
	}
}
