package notify

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const initial, max = time.Second, time.Minute
	for _, c := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, 500 * time.Millisecond}, // half of 1s
		{1, 0.999999, time.Second - time.Microsecond},
		{2, 0, time.Second},           // half of 2s
		{3, 0.5, 3 * time.Second},     // 4s: 2s + 1s
		{7, 0, 30 * time.Second},      // 64s capped at 60s
		{40, 1, time.Minute},          // no overflow
		{1000, 0.5, 45 * time.Second}, // no overflow
	} {
		got := backoff(c.n, initial, max, c.jitter)
		if got < c.want-time.Millisecond || got > c.want+time.Millisecond {
			t.Errorf("backoff(%d, jitter %v) = %v, want %v", c.n, c.jitter, got, c.want)
		}
	}
}
