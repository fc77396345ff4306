//go:build linux

// Package soak runs a cluster of three hub nodes (the real binary) on one
// PostgreSQL under a steady load of Forward sessions for a while, and checks
// that no call fails and that the nodes' goroutines and memory stay flat.
// docs/benchmarks.md, "Soak"; scripts/soak.sh runs the long version.
package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

var (
	soakFor   = flag.Duration("soak", 2*time.Minute, "how long the load runs")
	soakCalls = flag.Int("soak.calls", 8, "sessions up at once per node")
	soakHold  = flag.Duration("soak.hold", 15*time.Second, "how long each session stays up once its media flows")

	queueCustomers = flag.Int("queue.customers", 100, "customers TestHundredQueuedAcrossNodes queues across the nodes")
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testutil.MainInNetns(m))
}

const (
	uasAddr = "127.0.0.1:29990" // the "ACD" every node's route calls
	uasHz   = 1000.0
	custHz  = 440.0
)

// node is one hub process.
type node struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   sync.Mutex
}

func (n *node) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.Write(p)
}

// sample is a node's goroutines (go_goroutines) and resident memory.
type sample struct {
	at         time.Duration
	goroutines int
	rssKiB     int
}

func (n *node) sample(t0 time.Time) (sample, error) {
	s := sample{at: time.Since(t0).Round(time.Second)}
	res, err := http.Get(n.url + "/metrics")
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			s.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			s.rssKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return s, nil
}

// TestSoak: three nodes, each with -soak.calls customers at once calling
// through its route to the SIP "ACD" (a UAS), each session held for
// -soak.hold with media asserted both ways (tone frequencies), then hung
// up and read back ended from another node's API; for -soak (2 minutes in
// CI; scripts/soak.sh runs an hour). Every session must succeed; after the
// load, every node's goroutines are back to their idle count (±10) and its
// memory during the second half did not grow past the first half's by more
// than 20 % (+16 MiB of slack).
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the soak runs three hubs for minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *soakFor+5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dsn := pgtest.Start(t).FreshDSN(t)
	uas, err := testutil.StartUAS(testutil.UASOptions{Listen: uasAddr, ToneHz: uasHz, Record: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Close()

	var nodes []*node
	for i := range 3 {
		base := 28000 + 200*i
		cfg := testutil.HubConfig(testutil.PortsFrom(base, 2*(*soakCalls)+16), filepath.Join(dir, fmt.Sprint(i)), "sip:"+uasAddr, []string{"PCMU"}, []string{"PCMU"})
		cfg.Log.Level = "warn"
		cfg.Sessions.Store = dsn
		cfg.Sessions.Demo = false
		cfg.Cluster = config.Cluster{Heartbeat: time.Second, NodeTimeout: 5 * time.Second}
		cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
		cfg.Sessions.Routes = []config.Route{{Name: "acd", Entry: "default", Target: "sip:1000@" + uasAddr}}
		// every load client comes from 127.0.0.1: lift the per-address limit
		cfg.Sessions.EntryPoints = []config.EntryPoint{{Name: "default", Public: true, RateLimit: 100000}}
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("node%d.yaml", i))
		if err := os.WriteFile(path, y, 0o600); err != nil {
			t.Fatal(err)
		}
		n := &node{name: fmt.Sprintf("node%d", i), url: "http://" + cfg.HTTP.Listen, log: &bytes.Buffer{}}
		n.cmd = exec.Command(bin, "serve", "--config", path)
		n.cmd.Stdout, n.cmd.Stderr = n, n
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = n.cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = n.cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				n.mu.Lock()
				t.Logf("%s log (last 3000 bytes):\n%s", n.name, tail(n.log.String(), 3000))
				n.mu.Unlock()
			}
		})
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		waitReady(t, n.url)
	}
	t0 := time.Now()
	idle := make([]sample, len(nodes))
	for i, n := range nodes {
		if idle[i], err = n.sample(t0); err != nil {
			t.Fatal(err)
		}
	}

	// the load
	var ok, failed atomic.Int64
	var errMu sync.Mutex
	errs := map[string]int{}
	fail := func(err error) {
		failed.Add(1)
		errMu.Lock()
		errs[err.Error()]++
		errMu.Unlock()
	}
	stopAt := time.Now().Add(*soakFor)
	var wg sync.WaitGroup
	for i, n := range nodes {
		reader := nodes[(i+1)%len(nodes)] // the record is read from another node
		for range *soakCalls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stopAt) && ctx.Err() == nil {
					if err := oneSession(ctx, n.url, reader.url); err != nil {
						fail(err)
						time.Sleep(time.Second) // a failing hub is not hammered
						continue
					}
					ok.Add(1)
				}
			}()
		}
	}
	var series [][]sample
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(max(*soakFor/12, 5*time.Second))
		defer tick.Stop()
		for time.Now().Before(stopAt) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			row := make([]sample, len(nodes))
			for i, n := range nodes {
				row[i], _ = n.sample(t0)
			}
			series = append(series, row)
		}
	}()
	wg.Wait()
	<-samplerDone

	// after the load: back to idle
	var after []sample
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = after[:0]
		settled := true
		for i, n := range nodes {
			s, err := n.sample(t0)
			if err != nil {
				t.Fatal(err)
			}
			after = append(after, s)
			settled = settled && s.goroutines <= idle[i].goroutines+10
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%8s", "t")
	for _, n := range nodes {
		fmt.Fprintf(&table, " | %s goroutines, RSS MiB", n.name)
	}
	table.WriteString("\n")
	row := func(label string, r []sample) {
		fmt.Fprintf(&table, "%8s", label)
		for _, s := range r {
			fmt.Fprintf(&table, " | %5d, %6.1f", s.goroutines, float64(s.rssKiB)/1024)
		}
		table.WriteString("\n")
	}
	row("idle", idle)
	for _, r := range series {
		row(r[0].at.String(), r)
	}
	row("after", after)
	t.Logf("soak: 3 nodes × %d sessions at once for %s (%s each): %d sessions ok, %d failed\n%s",
		*soakCalls, *soakFor, *soakHold, ok.Load(), failed.Load(), table.String())
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Errorf("%d sessions failed, %d ok: %v", failed.Load(), ok.Load(), errs)
	}
	for i, n := range nodes {
		if after[i].goroutines > idle[i].goroutines+10 {
			t.Errorf("%s: %d goroutines after the load, %d idle before it", n.name, after[i].goroutines, idle[i].goroutines)
		}
	}
	if len(series) >= 4 {
		half := len(series) / 2
		for i, n := range nodes {
			first, second := 0, 0
			for _, r := range series[:half] {
				first = max(first, r[i].rssKiB)
			}
			for _, r := range series[half:] {
				second = max(second, r[i].rssKiB)
			}
			if limit := max(first*12/10, first+16<<10); second > limit {
				t.Errorf("%s: memory grew: %d KiB at most in the first half of the load, %d KiB in the second", n.name, first, second)
			}
		}
	}
}

// oneSession is one customer's call at hub's default entry point: the
// session goes to the ACD over SIP, its media is asserted both ways, it is
// held, hung up, and read back ended from reader (another node).
func oneSession(ctx context.Context, hub, reader string) error {
	ctx, cancel := context.WithTimeout(ctx, *soakHold+30*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(hub, "http") + "/v1/sessions/ws?entry=default"
	p, err := testutil.DialSession(ctx, ws, custHz, 9, false)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer p.Close()
	if err := p.Start(ctx, "Soak", nil); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	m, err := p.WaitFor(ctx, func(m testutil.Message) bool {
		return m.Type == "session" && m.State == "active" || m.Type == "ended"
	})
	if err != nil || m.Type == "ended" {
		return fmt.Errorf("not answered: %v %s", err, m.Raw)
	}
	sid := m.Session
	for !(p.DominantHz([]float64{uasHz, custHz}) == uasHz && p.AudioPackets() > 25) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no audio from the ACD (%d packets)", p.AudioPackets())
		case <-time.After(100 * time.Millisecond):
		}
	}
	before := p.AudioPackets()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*soakHold):
	}
	if got := p.AudioPackets() - before; got < uint64(soakHold.Milliseconds()/20*8/10) {
		return fmt.Errorf("audio stalled: %d packets in %s", got, *soakHold)
	}
	if err := p.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		return fmt.Errorf("hangup: %w", err)
	}
	if _, err := p.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" }); err != nil {
		return fmt.Errorf("no ended frame: %w", err)
	}
	for {
		st, err := sessionState(ctx, reader, sid)
		if err == nil && st == "ended" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the record read from another node: %q %v", st, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sessionState(ctx context.Context, base, sid string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/sessions/"+sid, nil)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var s struct{ State string }
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return "", err
	}
	return s.State, nil
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready", url)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
