package session

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkVideoFanout: one customer video packet routed to n viewers
// (copy, continuity rewrite, write) — the per-packet cost of the media plan.
func BenchmarkVideoFanout(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "1viewer", 3: "3viewers"}[n], func(b *testing.B) {
			s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			cust := newFakeEP(true)
			cust.video.In = nopWriter{}
			s.Call(func() { _ = s.AddLeg(&Leg{ID: "c", Role: RoleCustomer, EP: cust}) })
			for i := 0; i < n; i++ {
				ep := newFakeEP(true)
				ep.video.In = nopWriter{}
				ep.audio.In = nopWriter{}
				id := string(rune('a' + i))
				s.Call(func() { _ = s.AddLeg(&Leg{ID: id, Role: RoleAgent, Group: "g" + id, EP: ep}) })
			}
			pkt := rtpPacket(96, 1, 0, 11)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt[3] = byte(i)
				_ = cust.video.Deliver(pkt)
			}
			b.StopTimer()
			s.Call(func() { s.End(200, "") })
		})
	}
}

type nopWriter struct{}

func (nopWriter) WriteRTP([]byte) error { return nil }
