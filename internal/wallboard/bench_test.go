package wallboard

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/split-hub/split/internal/records"
)

// BenchmarkFigures: the wallboard's figures over a busy day — 20,000 call
// records in 10 queues and 24 hours of live samples — as each stream
// computes them every 2 s (docs/benchmarks.md § Wallboard).
func BenchmarkFigures(b *testing.B) {
	var qs []Queue
	for i := 0; i < 10; i++ {
		qs = append(qs, Queue{Name: fmt.Sprintf("q%d", i), Threshold: 20 * time.Second, Target: 80})
	}
	board := New(qs)
	outcomes := []string{records.Answered, records.Answered, records.Answered, records.Abandoned, records.Overflowed}
	for i := 0; i < 20000; i++ {
		r := rec(fmt.Sprintf("s%d", i), fmt.Sprintf("q%d", i%10), "web_video", outcomes[i%len(outcomes)],
			float64(i)*4.3, float64(i%60), 180, 20*time.Second)
		board.Add(r, now)
	}
	live := Live{}
	for i := 0; i < 10; i++ {
		live.Queues = append(live.Queues, LiveQueue{Name: fmt.Sprintf("q%d", i), Waiting: i, LongestWait: time.Duration(i) * time.Second})
	}
	for t := now.Add(-Day); t.Before(now); t = t.Add(sampleEvery) {
		board.Sample(t, live)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		f := board.Figures(now, live)
		if i == 0 {
			js, _ := json.Marshal(f)
			size = len(js)
		}
	}
	b.ReportMetric(float64(size), "json-bytes")
}
