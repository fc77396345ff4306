//go:build linux

package shared

import (
	"fmt"
	"testing"
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// BenchmarkCallCycle is one queued call through the shared ACD on a real
// PostgreSQL (a throwaway server on a Unix socket): Enqueue, the offer
// paired under row locks and delivered, Accept, CallEnded. docs/benchmarks.md.
//
//	go test -run '^$' -bench CallCycle -benchtime 2000x ./internal/acd/shared/
func BenchmarkCallCycle(b *testing.B) {
	srv := pgtest.Start(b)
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			offers := make(chan string, 1)
			c := startClusterB(b, srv, nodes, func(i int, r *recorder) {
				if i == 0 {
					r.onOffer = func(agent, session string) { offers <- session }
				}
			})
			// the agent on the last node, the sessions on the first
			must2(b, c.nodes[nodes-1].Login("a", "A", []string{"q"}))
			must2(b, c.nodes[nodes-1].SetReady("a", true))
			b.ResetTimer()
			for i := range b.N {
				sid := fmt.Sprintf("s%d", i)
				if _, err := c.nodes[0].Enqueue(sid, "q", 0); err != nil {
					b.Fatal(err)
				}
				select {
				case got := <-offers:
					if got != sid {
						b.Fatalf("offer of %s, want %s", got, sid)
					}
				case <-time.After(10 * time.Second):
					b.Fatal("no offer within 10 s")
				}
				must2(b, c.nodes[0].Accept("a", sid))
				must2(b, c.nodes[0].CallEnded("a"))
			}
		})
	}
}

func must2(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

func startClusterB(b *testing.B, srv *pgtest.Server, n int, setup func(i int, r *recorder)) *cluster {
	return startClusterTB(b, srv, n, []acd.QueueConfig{{Name: "q"}}, setup)
}
