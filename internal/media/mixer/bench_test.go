package mixer_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
)

// BenchmarkTick is the CPU of one 20 ms tick with every participant
// talking (a tone) in codec c: one packet in from each (jitter buffer
// push), then pull, decode, mix-minus, encode and send for each. The Opus
// encoders run at complexity 5, the hub's default. Reported: µs per tick,
// µs per participant, and the share of one core the conference keeps busy
// (tick time / 20 ms).
func BenchmarkTick(b *testing.B) {
	for _, rate := range []int{8000, 48000} {
		for _, c := range []leg.Codec{codecPCMU, codecOpus} {
			for _, n := range []int{3, 8} {
				b.Run(fmt.Sprintf("%s/rate=%d/n=%d", c.Name, rate, n), func(b *testing.B) {
					benchTick(b, rate, c, n)
				})
			}
		}
	}
}

func benchTick(b *testing.B, rate int, c leg.Codec, n int) {
	m := mixer.New(mixer.ManualTick(mixer.Options{Rate: rate, Transcode: media.TranscodeOptions{OpusComplexity: 5}}))
	defer m.Close()
	sink := leg.WriterFunc(func([]byte) error { return nil })
	const nf = 50
	tracks := make([]*leg.Track, n)
	frames := make([][][]byte, n)
	for i := range n {
		p := newParty(b, fmt.Sprint("p", i), c, 300+float64(i)*350)
		for range nf {
			frames[i] = append(frames[i], append([]byte(nil), p.packet(b)...))
		}
		tracks[i] = leg.NewTrack("audio", c, codecDTMF, sink)
		tracks[i].SetRecv([]leg.Codec{c, codecDTMF})
		if err := m.Add(p.id, tracks[i]); err != nil {
			b.Fatal(err)
		}
	}
	step := uint32(c.Clock / 50)
	var k int
	tick := func() {
		for i, t := range tracks {
			pkt := frames[i][k%nf]
			binary.BigEndian.PutUint16(pkt[2:], uint16(k))
			binary.BigEndian.PutUint32(pkt[4:], uint32(k)*step)
			if err := t.Deliver(pkt); err != nil {
				b.Fatal(err)
			}
		}
		m.Tick()
		k++
	}
	for range 20 { // fill the jitter buffers, warm the codecs up
		tick()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tick()
	}
	b.StopTimer()
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perTick/1e3, "µs/tick")
	b.ReportMetric(perTick/1e3/float64(n), "µs/participant")
	b.ReportMetric(100*perTick/float64(mixer.Frame.Nanoseconds()), "%core")
	b.ReportMetric(0, "ns/op") // ns/op repeats µs/tick
	if in, out, _, _ := m.Stats("p0"); out == 0 || in == 0 {
		b.Fatalf("nothing mixed: in %d out %d", in, out)
	}
}
