package copilot

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
)

// sink is an AI service that reads and discards, noting when each
// participant's frame arrived.
type sink struct {
	srv    *httptest.Server
	frames atomic.Int64
	mu     sync.Mutex
	seen   map[uint32]time.Time // seq of p1 → arrival
}

func newSink(tb testing.TB) *sink {
	k := &sink{seen: map[uint32]time.Time{}}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(1 << 20)
		for {
			typ, b, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary && len(b) > HeaderLen {
				k.frames.Add(1)
				if b[1] == 1 {
					k.mu.Lock()
					k.seen[binary.BigEndian.Uint32(b[4:])] = time.Now()
					k.mu.Unlock()
				}
			}
		}
	}))
	tb.Cleanup(k.srv.Close)
	return k
}

type nopEvents struct{}

func (nopEvents) Message(string, Message)        {}
func (nopEvents) Connection(string, bool, error) {}

func benchAttach(tb testing.TB, m *Manager, parts int) *Attachment {
	a, err := m.Attach("ai", SessionInfo{ID: "bench"}, nopEvents{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < parts; i++ {
		role := []string{"customer", "agent", "phone-party"}[i%3]
		a.Participant("leg"+string(rune('a'+i)), role, role, "joined")
	}
	return a
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFork: the cost of forking a call's participants to an AI
// (split format, the mixer's 8 kHz to the service's 16 kHz): "feed-ns" is
// what the media path pays per tick (the mixer goroutine: copies into the
// ring), "cpu-ms/participant-s" the process's CPU per participant-second
// of audio delivered — the writer (resampling, framing, WebSocket) and the
// in-process receiver included, so an upper bound for the hub's share.
func BenchmarkFork(b *testing.B) {
	for _, parts := range []int{2, 3} {
		b.Run(map[int]string{2: "2participants", 3: "3participants"}[parts], func(b *testing.B) {
			k := newSink(b)
			m, err := NewManager([]Service{{Name: "ai", URL: "ws" + strings.TrimPrefix(k.srv.URL, "http")}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			a := benchAttach(b, m, parts)
			defer a.Close(200, "")
			pcm := make([]int16, 160)
			var ph float64
			media.GenerateTone(pcm, 440, 8000, &ph, 0.3)
			frames := make([]mixer.TapFrame, parts)
			for i := range frames {
				frames[i] = mixer.TapFrame{ID: "leg" + string(rune('a'+i)), PCM: pcm, Active: true}
			}
			for k.frames.Load() == 0 { // connected
				a.Feed(8000, frames)
				time.Sleep(time.Millisecond)
			}
			base := k.frames.Load()
			cpu0 := cpuTime()
			b.ResetTimer()
			var feed time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				a.Feed(8000, frames)
				feed += time.Since(t0)
				if i%25 == 24 { // half a ring: let the writer keep up, as real time would
					want := base + int64(i+1)*int64(parts)
					for deadline := time.Now().Add(2 * time.Second); k.frames.Load() < want && time.Now().Before(deadline); {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			delivered := k.frames.Load() - base
			b.StopTimer()
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(feed.Nanoseconds())/float64(b.N), "feed-ns/tick")
			if delivered > 0 {
				b.ReportMetric(float64(cpu.Milliseconds())/(float64(delivered)*0.02), "cpu-ms/participant-s")
			}
			b.ReportMetric(float64(m.Stats()["ai"].Dropped.Load())/float64(b.N*parts)*100, "%dropped")
		})
	}
}

// BenchmarkForkLatency: the delay a fork adds, from the tap (Feed) to the
// frame's arrival at the service, at the real pace of a call (one tick per
// 20 ms, 250 ticks per run): p50 and p99.
func BenchmarkForkLatency(b *testing.B) {
	k := newSink(b)
	m, err := NewManager([]Service{{Name: "ai", URL: "ws" + strings.TrimPrefix(k.srv.URL, "http")}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var all []time.Duration
	for n := 0; n < b.N; n++ {
		a := benchAttach(b, m, 2)
		frames := []mixer.TapFrame{{ID: "lega", PCM: make([]int16, 160), Active: true}, {ID: "legb", PCM: make([]int16, 160), Active: true}}
		for k.frames.Load() == 0 {
			a.Feed(8000, frames)
			time.Sleep(time.Millisecond)
		}
		k.mu.Lock()
		clear(k.seen)
		k.mu.Unlock()
		sent := map[uint32]time.Time{}
		first := a.parts[0].seq
		tick := time.NewTicker(20 * time.Millisecond)
		for i := 0; i < 250; i++ {
			<-tick.C
			sent[first+uint32(i)] = time.Now()
			a.Feed(8000, frames)
		}
		tick.Stop()
		time.Sleep(100 * time.Millisecond)
		k.mu.Lock()
		for seq, at := range sent {
			if got, ok := k.seen[seq]; ok {
				all = append(all, got.Sub(at))
			}
		}
		k.mu.Unlock()
		a.Close(200, "")
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "µs-p50")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "µs-p99")
	}
}

// BenchmarkMemoryPerStream: the heap an attached AI (split format, two
// participants, connected) keeps for a session, over 100 attachments.
func BenchmarkMemoryPerStream(b *testing.B) {
	k := newSink(b)
	m, err := NewManager([]Service{{Name: "ai", URL: "ws" + strings.TrimPrefix(k.srv.URL, "http")}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for n := 0; n < b.N; n++ {
		const count = 100
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		g0 := runtime.NumGoroutine()
		var as []*Attachment
		frames := []mixer.TapFrame{{ID: "lega", PCM: make([]int16, 160), Active: true}, {ID: "legb", PCM: make([]int16, 160), Active: true}}
		for i := 0; i < count; i++ {
			as = append(as, benchAttach(b, m, 2))
		}
		for _, a := range as {
			for i := 0; i < RingFrames; i++ { // a full ring: the most it holds
				a.Feed(8000, frames)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for m.Stats()["ai"].Connected.Load() < count && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/count/1024, "KiB/stream")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/count, "goroutines/stream")
		for _, a := range as {
			a.Close(200, "")
		}
	}
}
