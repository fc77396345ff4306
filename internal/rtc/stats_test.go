package rtc

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestRecvStats(t *testing.T) {
	r := &recvStats{clock: 8000}
	t0 := time.Unix(0, 0)
	pkt := make([]byte, 12)
	send := func(seq uint16, ts uint32, at time.Duration) {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		r.add(pkt, t0.Add(at))
	}
	// 10 packets across the 16-bit wrap, every third one lost, perfectly paced
	seq, ts := uint16(65530), uint32(1000)
	for i := 0; i < 12; i++ {
		if i%3 != 2 {
			send(seq, ts, time.Duration(i)*20*time.Millisecond)
		}
		seq++
		ts += 160
	}
	if got := r.lost(); got != 3 {
		t.Fatalf("lost %d, want 3 (12 sent across the wrap, 4 missing but the last is not yet known)", got)
	}
	if r.jitter > 1 {
		t.Fatalf("jitter %.2f ticks for a perfectly paced stream", r.jitter)
	}
	// late packets: jitter grows
	send(seq, ts, 12*20*time.Millisecond+15*time.Millisecond)
	seq++
	ts += 160
	send(seq, ts, 13*20*time.Millisecond)
	if r.jitter < 5 {
		t.Fatalf("jitter %.2f ticks after a 15 ms late packet", r.jitter)
	}
}
