package rtt

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkEncoderTick: one red packet (2 generations) carrying a few typed
// characters, per transmission interval.
func BenchmarkEncoderTick(b *testing.B) {
	e := mustEncoder(b, EncoderConfig{})
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		e.Write("abc")
		now = now.Add(DefaultInterval)
		if e.Tick(now) == nil {
			b.Fatal("no packet")
		}
	}
}

// BenchmarkDecoderPush: decoding one in-order red packet.
func BenchmarkDecoderPush(b *testing.B) {
	const n = 1024
	pkts := make([]*rtp.Packet, n)
	e := mustEncoder(b, EncoderConfig{})
	for i := range pkts {
		e.Write("abc")
		pkts[i] = e.Tick(t0.Add(time.Duration(i) * DefaultInterval))
	}
	d := mustDecoder(b, DecoderConfig{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pkts[i%n]
		if i%n == 0 && i > 0 { // a new stream each lap so packets stay in order
			p.SSRC++
			for _, q := range pkts {
				q.SSRC = p.SSRC
			}
		}
		if _, err := d.Push(p, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecoderPushLossy: every third packet lost, recovered from redundancy.
func BenchmarkDecoderPushLossy(b *testing.B) {
	const n = 1023 // a multiple of 3
	pkts := make([]*rtp.Packet, 0, n)
	e := mustEncoder(b, EncoderConfig{})
	for i := 0; i < n; i++ {
		e.Write("abc")
		if p := e.Tick(t0.Add(time.Duration(i) * DefaultInterval)); i%3 != 2 {
			pkts = append(pkts, p)
		}
	}
	d := mustDecoder(b, DecoderConfig{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pkts[i%len(pkts)]
		if i%len(pkts) == 0 && i > 0 {
			for _, q := range pkts {
				q.SSRC++
			}
		}
		if _, err := d.Push(p, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if d.Stats().Markers != 0 {
		b.Fatal("loss within redundancy produced a marker")
	}
}

func BenchmarkTextApply(b *testing.B) {
	var x Text
	b.ReportAllocs()
	for b.Loop() {
		x.Apply("hello", "\b", "o world\r\n")
		if x.Len() > 1<<16 {
			x.Reset()
		}
	}
}
