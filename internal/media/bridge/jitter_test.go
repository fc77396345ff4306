package bridge_test

import (
	"encoding/binary"
	"testing"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media/bridge"
)

// tsSink records the RTP timestamps of what a link emits.
type tsSink struct{ ts []uint32 }

func (s *tsSink) WriteRTP(pkt []byte) error {
	s.ts = append(s.ts, binary.BigEndian.Uint32(pkt[4:]))
	return nil
}

// Browser Opus arriving reordered (3 after 4) and with a loss (6): with the
// jitter buffer every 20 ms slot is played in order — 3 decoded in place, 6
// concealed — and the PCMU side gets an unbroken 160-sample timestamp run.
// Without it the gap is concealed on arrival and the late packet dropped.
func TestJitterBufferReordersAndConceals(t *testing.T) {
	order := []uint16{1, 2, 4, 3, 5, 7, 8, 9, 10, 11, 12}
	fs := frames(t, codecOpus, len(order))
	for _, jitter := range []int{0, 3} {
		a := leg.NewTrack("audio", codecOpus, leg.Codec{}, &sink{})
		a.SetRecv([]leg.Codec{codecOpus})
		out := &tsSink{}
		b := leg.NewTrack("audio", codecPCMU, leg.Codec{}, out)
		br := bridge.ConnectWith(bridge.ManualPlayout(bridge.Options{JitterFrames: jitter}), a, b, nil, nil)
		for i, seq := range order {
			p := fs[i]
			binary.BigEndian.PutUint16(p[2:], seq)
			binary.BigEndian.PutUint32(p[4:], uint32(seq)*960)
			if err := a.Deliver(p); err != nil {
				t.Fatal(err)
			}
			if jitter > 0 {
				br.AtoB.PlayoutStep() // one tick per arriving packet …
			}
		}
		if jitter > 0 {
			for i := 0; i < jitter+2; i++ { // … and drain the delay
				br.AtoB.PlayoutStep()
			}
		}
		br.Close()
		switch jitter {
		case 0:
			// Packet 3 arrives after 4: the gap was concealed and 3 itself is dropped.
			if len(out.ts) != 12 || br.AtoB.C.Dropped.Load() != 1 {
				t.Errorf("no jitter buffer: %d frames out, %d dropped; want 12 and 1 (late packet 3)", len(out.ts), br.AtoB.C.Dropped.Load())
			}
		default:
			if len(out.ts) != 12 || br.AtoB.C.Dropped.Load() != 0 {
				t.Fatalf("jitter buffer: %d frames out, want 12 (1..12, 6 concealed): %v", len(out.ts), out.ts)
			}
			for i := 1; i < len(out.ts); i++ {
				if out.ts[i]-out.ts[i-1] != 160 {
					t.Fatalf("timestamps not a 20 ms run: %v", out.ts)
				}
			}
		}
	}
}
