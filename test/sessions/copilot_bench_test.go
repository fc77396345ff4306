package sessions

import (
	"context"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// BenchmarkCopilotStallTiming measures what an AI that stalls costs a call
// (docs/copilot.md §5): the customer's received audio over a window with
// the AI reading, then over the same window with the AI stalled (it reads
// nothing: the hub's socket writes block, its ring overflows). Reported
// per phase: inter-arrival p50, p99 and max (µs) and sequence gaps. One run
// takes two windows (COPILOT_STALL_S seconds each, default 30).
func BenchmarkCopilotStallTiming(b *testing.B) {
	window := 30 * time.Second
	if v, err := strconv.Atoi(os.Getenv("COPILOT_STALL_S")); err == nil && v > 0 {
		window = time.Duration(v) * time.Second
	}
	for n := 0; n < b.N; n++ {
		func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*window+time.Minute)
			defer cancel()
			ai := testutil.StartAIFake("", "")
			defer ai.Close()
			cfg := testutil.HubConfig(testutil.PortsFrom(26500, 20), b.TempDir(), "sip:127.0.0.1:26590", []string{"PCMU"}, []string{"PCMU", "opus"})
			cfg.Sessions.Agents = []config.Agent{{ID: "agent1", Name: "Alice", Queues: []string{"default"}}}
			cfg.Sessions.Demo = false
			cfg.Copilot = &config.Copilot{Services: []config.CopilotService{{Name: "assist", URL: ai.WS("split")}}}
			for i := range cfg.Sessions.Routes {
				cfg.Sessions.Routes[i].Copilot = []string{"assist"}
			}
			h, err := testutil.StartHub(ctx, cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Stop()
			s, err := auth.NewSigner([]byte(cfg.Auth.TokenSecret))
			if err != nil {
				b.Fatal(err)
			}
			tok, _, err := s.Mint(auth.Claims{Identity: "agent1", Role: "agent"}, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			ag, err := testutil.DialSession(ctx, wsURL(h, "token="+tok), cpAgent, 1, false)
			if err != nil {
				b.Fatal(err)
			}
			defer ag.Close()
			_ = ag.Send(ctx, map[string]any{"type": "login"})
			_ = ag.Send(ctx, map[string]any{"type": "ready", "ready": true})
			if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
				b.Fatal(err)
			}
			cu, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), cpCustomer, 9, false)
			if err != nil {
				b.Fatal(err)
			}
			defer cu.Close()
			if err := cu.Start(ctx, "Ana", nil); err != nil {
				b.Fatal(err)
			}
			o, err := ag.WaitFor(ctx, isType("offer"))
			if err != nil {
				b.Fatal(err)
			}
			if err := ag.Accept(ctx, o); err != nil {
				b.Fatal(err)
			}
			if err := ai.Wait(ctx, "the AI fed", func() bool { cs := ai.Conns(); return len(cs) == 1 && cs[0].Frames() > 100 }); err != nil {
				b.Fatal(err)
			}
			from := time.Now()
			time.Sleep(window)
			mid := time.Now()
			ai.Stall.Store(true)
			time.Sleep(window)
			to := time.Now()
			ai.Stall.Store(false)
			log := cu.AudioLog()
			for _, ph := range []struct {
				name     string
				from, to time.Time
			}{{"reading", from, mid}, {"stalled", mid, to}} {
				var gaps []time.Duration
				seqGaps := 0
				var prev *testutil.AudioFrame
				for i := range log {
					f := &log[i]
					if f.At.Before(ph.from) || f.At.After(ph.to) {
						continue
					}
					if prev != nil {
						gaps = append(gaps, f.At.Sub(prev.At))
						if f.Seq != prev.Seq+1 {
							seqGaps++
						}
					}
					prev = f
				}
				if len(gaps) == 0 {
					b.Fatalf("%s: no audio", ph.name)
				}
				sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
				b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds()), ph.name+"-p50-µs")
				b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds()), ph.name+"-p99-µs")
				b.ReportMetric(float64(gaps[len(gaps)-1].Microseconds()), ph.name+"-max-µs")
				b.ReportMetric(float64(seqGaps), ph.name+"-seqgaps")
			}
			b.ReportMetric(float64(ai.Conns()[0].Frames()), "frames-received")
		}()
	}
}
