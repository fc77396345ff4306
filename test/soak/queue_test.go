//go:build linux

package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestHundredQueuedAcrossNodes: one built-in queue for three nodes on
// PostgreSQL (in this process; ports 29000-29799). A hundred customers
// enter it, spread over the three nodes, up to 30 waiting at once; four
// agents, their consoles on nodes B and C, answer each offer (on their own
// socket, or on the session socket a remote_offer asks for), wait for the
// customer's audio and hang up. Every customer is answered exactly once
// and no agent is offered a second call while it holds one; the shared
// queue then counts 100 answered and none waiting, from every node.
//
// -queue.customers runs more of them (docs/benchmarks.md, "The shared
// built-in ACD": a few thousand make a soak of the shared queue). The
// process's goroutines must come back to the hubs' own once the load and
// the consoles are gone; with more than 100 customers the goroutines and
// the live heap are reported (SPLIT_HEAP_PROFILE=<file> writes a heap
// profile at the end).
func TestHundredQueuedAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a hundred WebRTC sessions on three hubs")
	}
	customers, waitingMax := *queueCustomers, 30
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(customers)*200*time.Millisecond)
	defer cancel()
	idle := testutil.Goroutines()
	var peak atomic.Int64
	var heapPeak atomic.Uint64
	sampleDone := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() { // the process's goroutines and heap while the queue works
		defer close(sampleDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			if g := int64(runtime.NumGoroutine()); g > peak.Load() {
				peak.Store(g)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > heapPeak.Load() {
				heapPeak.Store(ms.HeapAlloc)
			}
		}
	}()
	defer func() { close(stopSampling); <-sampleDone }()
	dsn := pgtest.Start(t).FreshDSN(t)
	dir := t.TempDir()
	agentIDs := []string{"a1", "a2", "a3", "a4"}
	var hubs []*testutil.Hub
	for i := range 3 {
		base := 29000 + 300*i
		cfg := testutil.HubConfig(testutil.PortsFrom(base, 40), filepath.Join(dir, fmt.Sprint(i)), fmt.Sprintf("sip:127.0.0.1:%d", base+290), []string{"PCMU"}, []string{"PCMU"})
		cfg.Sessions.Store = dsn
		cfg.Sessions.Demo = false
		cfg.Cluster = config.Cluster{Heartbeat: time.Second, NodeTimeout: 10 * time.Second}
		cfg.Sessions.EntryPoints = []config.EntryPoint{{Name: "default", Public: true, RateLimit: 100000}}
		for _, id := range agentIDs {
			cfg.Sessions.Agents = append(cfg.Sessions.Agents, config.Agent{ID: id, Name: strings.ToUpper(id), Queues: []string{"default"}})
		}
		h, err := testutil.StartHub(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop() })
		hubs = append(hubs, h)
	}

	var (
		mu       sync.Mutex
		answered = map[string]int{} // session → times an agent took it
		problems []string
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	hubsUp := testutil.Goroutines() // the hubs, no client yet
	var homes []*testutil.SessionPeer
	working, allDone := context.WithCancel(ctx)
	defer allDone()
	var agents sync.WaitGroup
	for i, id := range agentIDs {
		h := hubs[1+i%2]
		tok, err := token(h, id)
		if err != nil {
			t.Fatal(err)
		}
		home, err := testutil.DialSession(ctx, wsURL(h, "token="+tok), 1000, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(home.Close)
		homes = append(homes, home)
		for _, m := range []map[string]any{{"type": "login"}, {"type": "ready", "ready": true}} {
			if err := home.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		agents.Add(1)
		go func() {
			defer agents.Done()
			from := 0 // home's frames already handled
			for {
				i := 0
				m, err := home.WaitFor(working, func(m testutil.Message) bool {
					i++
					return i > from && (m.Type == "offer" || m.Type == "remote_offer") && m.Session != ""
				})
				if working.Err() != nil {
					return
				}
				if err != nil {
					problem("%s: %v", id, err)
					return
				}
				from = i
				sid := m.Session
				mu.Lock()
				answered[sid]++
				mu.Unlock()
				sock, offer := home, m
				if m.Type == "remote_offer" {
					tok, err := token(h, id)
					if err == nil {
						sock, err = testutil.DialSession(ctx, wsURL(h, "token="+tok+"&session="+sid), 1000, 1, false)
					}
					if err != nil {
						problem("%s: session socket for %s: %v", id, sid, err)
						return
					}
					if offer, err = sock.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "offer" }); err != nil {
						problem("%s: no offer on the session socket for %s: %v", id, sid, err)
						sock.Close()
						return
					}
				}
				before := sock.AudioPackets()
				err = sock.Accept(ctx, offer)
				deadline := time.Now().Add(10 * time.Second)
				for err == nil && sock.AudioPackets() < before+5 {
					if time.Now().After(deadline) {
						err = fmt.Errorf("no audio from the customer")
					}
					time.Sleep(20 * time.Millisecond)
				}
				// a second offer while this one is held?
				for _, f := range home.Frames()[from:] {
					if (f.Type == "offer" || f.Type == "remote_offer") && f.Session != sid {
						problem("%s offered %s while holding %s", id, f.Session, sid)
					}
				}
				if err == nil {
					err = sock.Send(ctx, map[string]any{"type": "hangup", "session": sid})
				}
				if sock != home {
					sock.Close()
				}
				if err != nil {
					problem("%s: %s: %v", id, sid, err)
					return
				}
			}
		}()
	}

	start := time.Now()
	slots := make(chan struct{}, waitingMax)
	var custs sync.WaitGroup
	for i := range customers {
		slots <- struct{}{}
		custs.Add(1)
		go func() {
			defer custs.Done()
			defer func() { <-slots }()
			c, err := testutil.DialSession(ctx, wsURL(hubs[i%3], "entry=default"), 440, 9, false)
			if err != nil {
				problem("customer %d: %v", i, err)
				return
			}
			defer c.Close()
			if err := c.Start(ctx, fmt.Sprintf("Customer %d", i), nil); err != nil {
				problem("customer %d: %v", i, err)
				return
			}
			if _, err := c.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" }); err != nil {
				problem("customer %d was not served: %v", i, err)
			}
		}()
	}
	custs.Wait()
	allDone()
	agents.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(problems), strings.Join(problems[:min(5, len(problems))], "; "))
	}
	if len(answered) != customers {
		t.Fatalf("%d sessions offered, want %d", len(answered), customers)
	}
	for sid, n := range answered {
		if n != 1 {
			t.Errorf("session %s offered %d times", sid, n)
		}
	}
	for _, h := range hubs {
		var q struct {
			Queues []struct {
				Name     string `json:"name"`
				Waiting  int    `json:"waiting"`
				Answered int    `json:"answered"`
			} `json:"queues"`
		}
		getJSON(t, h, "/v1/queues", &q)
		if len(q.Queues) != 1 || q.Queues[0].Answered != customers || q.Queues[0].Waiting != 0 {
			t.Errorf("queues at %s: %+v", h.URL, q.Queues)
		}
	}
	t.Logf("%d customers on 3 nodes served by %d agents on 2 nodes, each once, in %s", customers, len(agentIDs), time.Since(start).Round(100*time.Millisecond))
	// the consoles close (a test console keeps each call's connection until
	// then): what is left must be what the hubs had before any client, give
	// or take the pooled HTTP connections (a leak grows with the customers)
	for _, h := range homes {
		h.Close()
	}
	var after int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if after = testutil.Goroutines(); after <= hubsUp+30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d with the hubs up before any client, %d 15 s after the load and the consoles; the most common:\n%s", hubsUp, after, commonStacks(15))
		}
	}
	if customers > 100 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if p := os.Getenv("SPLIT_HEAP_PROFILE"); p != "" { // go tool pprof -top <file>
			if f, err := os.Create(p); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		t.Logf("goroutines: %d before the hubs, %d with them up, peak %d, %d after the load and the consoles; live heap: peak %.1f MiB, %.1f MiB after (GC)",
			idle, hubsUp, peak.Load(), after, float64(heapPeak.Load())/(1<<20), float64(ms.HeapAlloc)/(1<<20))
	}
}

func wsURL(h *testutil.Hub, q string) string {
	return strings.Replace(h.URL, "http", "ws", 1) + "/v1/sessions/ws?" + q
}

func token(h *testutil.Hub, agent string) (string, error) {
	b, _ := json.Marshal(map[string]any{"identity": agent, "role": "agent"})
	req, _ := http.NewRequest("POST", h.URL+"/v1/tokens", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 201 {
		return "", fmt.Errorf("token for %s: %d %v", agent, res.StatusCode, err)
	}
	return out.Token, nil
}

func getJSON(t *testing.T, h *testutil.Hub, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// commonStacks lists the n most common goroutine stacks (their functions),
// with their counts, to tell what leaked.
func commonStacks(n int) string {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	count := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		var fns []string
		for _, line := range strings.Split(g, "\n")[1:] {
			if line != "" && !strings.HasPrefix(line, "\t") {
				fns = append(fns, line[:strings.LastIndexByte(line+"(", '(')])
			}
		}
		if len(fns) > 6 {
			fns = fns[:6]
		}
		count[strings.Join(fns, " < ")]++
	}
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range count {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	var b strings.Builder
	for i := 0; i < n && i < len(all); i++ {
		fmt.Fprintf(&b, "%6d  %s\n", all[i].v, all[i].k)
	}
	return b.String()
}
