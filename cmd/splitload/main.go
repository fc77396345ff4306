// Command splitload is SPLIT's load generator: it places N browser calls
// (pion/webrtc clients speaking the signalling protocol, sending a tone)
// through a hub to a SIP UAS (its own, or an external one), C at a time, and
// reports call setup latency, packets and loss, calls ok/failed and — when
// it runs the hub itself — the hub's CPU, memory and goroutines.
//
//	splitload -hub http://127.0.0.1:8080 -token-secret S -calls 50 -concurrency 50 \
//	    -duration 20s -codec pcmu -uas 127.0.0.1:5090
//	splitload -spawn -hub-bin ./bin/split -calls 50 -duration 20s -codec pcmu
//	splitload -inprocess -cpuprofile cpu.out -calls 10 -duration 20s -codec opus
//
// Hub modes:
//
//   - default: target a running hub at -hub; its "pbx" trunk must reach the
//     UAS (-uas, started here unless -external-uas).
//   - -spawn: start the hub as a child process (-hub-bin, or built with
//     `go build ./cmd/split`) on loopback ports from -ports, with a trunk to
//     our UAS; its CPU (utime+stime from /proc/<pid>/stat), RSS (VmRSS) and
//     goroutines (go_goroutines from /metrics) are measured on their own.
//   - -inprocess: run the hub in this process (app.Run): one command, and
//     -cpuprofile can profile the hub's hot path; CPU and memory figures then
//     include the load clients, so use -spawn for the hub's own numbers.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/split-hub/split/internal/testutil"
)

type options struct {
	hub, secret, uas, to, codec, hubBin, cpuprofile string
	calls, concurrency, ports                       int
	duration, rampEvery, timeout                    time.Duration
	spawn, inprocess, externalUAS, strictCodec      bool
	hubPprof                                        bool
	browserHz, sipHz                                float64
	trunkCodec                                      string
}

func main() {
	var o options
	flag.StringVar(&o.hub, "hub", "http://127.0.0.1:8080", "hub base URL (ignored with -spawn/-inprocess)")
	flag.StringVar(&o.secret, "token-secret", testutil.HubTokenSecret, "the hub's auth.token_secret, to mint signalling tokens")
	flag.IntVar(&o.calls, "calls", 10, "total calls")
	flag.IntVar(&o.concurrency, "concurrency", 0, "calls up at once (0: all)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each call stays up once active")
	flag.DurationVar(&o.rampEvery, "ramp", 20*time.Millisecond, "pause between starting calls of the first wave")
	flag.DurationVar(&o.timeout, "setup-timeout", 15*time.Second, "per-call setup timeout")
	flag.StringVar(&o.codec, "codec", "pcmu", "browser codec: opus (Opus-only offer: transcoding) or pcmu (browser-like offer: passthrough)")
	flag.BoolVar(&o.strictCodec, "strict-codec", false, "offer only -codec even for pcmu (default: pcmu offers all browser codecs)")
	flag.StringVar(&o.uas, "uas", "127.0.0.1:5090", "UDP address of the SIP UAS started here (or the external one's, with -external-uas)")
	flag.BoolVar(&o.externalUAS, "external-uas", false, "do not start a UAS: the hub's trunk points at one already")
	flag.StringVar(&o.trunkCodec, "trunk-codec", "PCMU", "UAS / trunk codec: PCMU or PCMA")
	flag.StringVar(&o.to, "to", "1000", "number dialled")
	flag.BoolVar(&o.spawn, "spawn", false, "start the hub as a child process and measure its CPU/RSS/goroutines")
	flag.StringVar(&o.hubBin, "hub-bin", "", "hub binary for -spawn (default: go build ./cmd/split)")
	flag.BoolVar(&o.hubPprof, "hub-pprof", false, "with -spawn: serve the hub's /debug/pprof/ (Bearer testutil.HubAPIKey) for profiling it under the load")
	flag.BoolVar(&o.inprocess, "inprocess", false, "run the hub in this process")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole process (use with -inprocess)")
	flag.IntVar(&o.ports, "ports", 16000, "with -spawn/-inprocess: hub HTTP port; SIP +1, ICE +2, RTP +10…")
	flag.Float64Var(&o.browserHz, "browser-hz", 440, "tone sent by the browsers")
	flag.Float64Var(&o.sipHz, "sip-hz", 1000, "tone sent by the UAS")
	flag.Parse()
	if o.concurrency <= 0 || o.concurrency > o.calls {
		o.concurrency = o.calls
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "splitload:", err)
		os.Exit(1)
	}
}

// hubProbe measures a hub: CPU seconds, RSS bytes and goroutines.
type hubProbe interface {
	sample() (cpu float64, rss uint64, goroutines int)
	label() string
}

func run(ctx context.Context, o options) error {
	codec, err := testutil.NormCodec(o.codec)
	if err != nil {
		return err
	}
	if o.spawn && o.inprocess {
		return errors.New("-spawn and -inprocess exclude each other")
	}
	// The UAS records INVITE arrival per call, matched by a header.
	var invMu sync.Mutex
	invites := map[string]*testutil.SIPCall{}
	var uas *testutil.SIPUAS
	if !o.externalUAS {
		uas, err = testutil.StartUAS(testutil.UASOptions{Listen: o.uas, Codec: o.trunkCodec, ToneHz: o.sipHz, Record: -1,
			OnCall: func(c *testutil.SIPCall) {
				if id := c.Header("X-Splitload-Call"); id != "" {
					invMu.Lock()
					invites[id] = c
					invMu.Unlock()
				}
			}})
		if err != nil {
			return err
		}
		defer uas.Close()
	}
	hubURL := o.hub
	var probe hubProbe
	pairs := max(2*o.concurrency, 64)
	ports := testutil.PortsFrom(o.ports, pairs)
	trunkURI := "sip:" + o.uas
	switch {
	case o.inprocess:
		dir, err := os.MkdirTemp("", "splitload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg := testutil.HubConfig(ports, dir, trunkURI, []string{o.trunkCodec}, []string{codec})
		cfg.Auth.TokenSecret = o.secret
		h, err := testutil.StartHub(ctx, cfg, nil)
		if err != nil {
			return err
		}
		defer h.Stop()
		hubURL = h.URL
		probe = selfProbe{url: hubURL}
	case o.spawn:
		p, url, err := spawnHub(ctx, o, ports, trunkURI, codec)
		if err != nil {
			return err
		}
		defer p.stop()
		hubURL = url
		probe = p
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	fmt.Printf("splitload: %d calls, %d concurrent, %s each, browser codec %s (offer: %s), trunk %s, hub %s\n",
		o.calls, o.concurrency, o.duration, codec, offerKind(o, codec), o.trunkCodec, hubURL)

	var before, peak, after sample
	if probe != nil {
		time.Sleep(500 * time.Millisecond)
		before = takeSample(probe)
	}
	res := make([]result, o.calls)
	var active atomic.Int64
	var hangingUp atomic.Bool
	var steadyA, steadyB sample
	var steadyOnce, steadyEnd sync.Once
	allUp := make(chan struct{})
	monitorDone := make(chan struct{})
	go func() { // steady state: from all calls of the first wave up to the first hangup
		defer close(monitorDone)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if active.Load() >= int64(o.concurrency) {
				steadyOnce.Do(func() {
					if probe != nil {
						steadyA = takeSample(probe)
					}
					steadyA.at = time.Now()
					close(allUp)
				})
			}
			if hangingUp.Load() || ctx.Err() != nil {
				return
			}
		}
	}()
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				res[i] = oneCall(ctx, o, codec, hubURL, i, &active, func() {
					steadyEnd.Do(func() {
						select {
						case <-allUp:
							if probe != nil {
								steadyB = takeSample(probe)
								peak = steadyB
							}
							steadyB.at = time.Now()
						default:
						}
						hangingUp.Store(true)
					})
				})
			}
		}()
	}
	for i := 0; i < o.calls; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if i < o.concurrency {
			time.Sleep(o.rampEvery)
		}
	}
	close(jobs)
	wg.Wait()
	hangingUp.Store(true)
	<-monitorDone
	elapsed := time.Since(start)
	if probe != nil {
		time.Sleep(3 * time.Second) // let the hub tear everything down
		after = takeSample(probe)
	}
	invMu.Lock()
	for i := range res {
		if c := invites[strconv.Itoa(i)]; c != nil {
			res[i].invite = c.InviteAt
			s := c.Stats()
			res[i].sip = s
		}
	}
	invMu.Unlock()
	report(o, res, elapsed, probe, before, steadyA, steadyB, peak, after)
	return nil
}

func offerKind(o options, codec string) string {
	if codec == testutil.CodecOpus || o.strictCodec {
		return codec + " only"
	}
	return "browser-like"
}

type result struct {
	ok                    bool
	err                   string
	offer, answer, active time.Time
	invite                time.Time
	talk                  time.Duration
	browser, sip          testutil.MediaStats
}

func oneCall(ctx context.Context, o options, codec, hubURL string, i int, active *atomic.Int64, beforeHangup func()) (r result) {
	tok, err := testutil.MintToken(o.secret, "load"+strconv.Itoa(i%100))
	if err != nil {
		r.err = err.Error()
		return
	}
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	pc, err := testutil.DialPion(sctx, testutil.PionOptions{Hub: hubURL, Token: tok, Codec: codec, ToneHz: o.browserHz, Record: -1,
		CallID: "c" + strconv.Itoa(i), Headers: map[string]string{"X-Splitload-Call": strconv.Itoa(i)},
		BrowserCodecs: codec != testutil.CodecOpus && !o.strictCodec})
	if err != nil {
		r.err = "signalling: " + err.Error()
		return
	}
	defer pc.Close()
	if err := pc.Call(sctx, o.to); err != nil {
		r.err = err.Error()
		return
	}
	r.offer, r.answer = pc.Timing()
	m, err := pc.WaitState(sctx, "active")
	if err != nil {
		r.err = err.Error()
		return
	}
	r.active = m.At
	active.Add(1)
	t0 := time.Now()
	select {
	case <-time.After(o.duration):
	case <-ctx.Done():
	}
	beforeHangup()
	r.talk = time.Since(t0)
	r.browser = pc.Stats()
	active.Add(-1)
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	_ = pc.Hangup(hctx)
	if _, err := pc.WaitState(hctx, "ended"); err != nil && !errors.Is(err, testutil.ErrEnded) {
		r.err = "hangup: " + err.Error()
		return
	}
	r.ok = r.browser.PacketsReceived > 0
	if !r.ok {
		r.err = "no media received"
	}
	return
}

type sample struct {
	cpu        float64
	rss        uint64
	goroutines int
	at         time.Time
}

func takeSample(p hubProbe) sample {
	c, r, g := p.sample()
	return sample{cpu: c, rss: r, goroutines: g, at: time.Now()}
}

func report(o options, res []result, elapsed time.Duration, probe hubProbe, before, a, b, peak, after sample) {
	var ok, failed int
	var setupAns, setupAct, setupInv []float64
	var talk float64
	var bs, ss testutil.MediaStats
	errs := map[string]int{}
	for _, r := range res {
		if !r.ok {
			failed++
			errs[r.err]++
			continue
		}
		ok++
		setupAns = append(setupAns, ms(r.answer.Sub(r.offer)))
		setupAct = append(setupAct, ms(r.active.Sub(r.offer)))
		if !r.invite.IsZero() {
			setupInv = append(setupInv, ms(r.invite.Sub(r.offer)))
		}
		talk += r.talk.Seconds()
		bs.PacketsSent += r.browser.PacketsSent
		bs.PacketsReceived += r.browser.PacketsReceived
		bs.Lost += r.browser.Lost
		ss.PacketsSent += r.sip.PacketsSent
		ss.PacketsReceived += r.sip.PacketsReceived
		ss.Lost += r.sip.Lost
	}
	fmt.Printf("calls: %d ok, %d failed in %.1f s (%.0f call-seconds of media)\n", ok, failed, elapsed.Seconds(), talk)
	for e, n := range errs {
		fmt.Printf("  failed %dx: %s\n", n, e)
	}
	fmt.Printf("setup offer→INVITE at UAS: %s\n", pct(setupInv))
	fmt.Printf("setup offer→answer:        %s\n", pct(setupAns))
	fmt.Printf("setup offer→active:        %s\n", pct(setupAct))
	fmt.Printf("browser→SIP packets: browsers sent %d, UAS received %d, lost (seq gaps) %d\n", bs.PacketsSent, ss.PacketsReceived, ss.Lost)
	fmt.Printf("SIP→browser packets: UAS sent %d, browsers received %d, lost (seq gaps) %d\n", ss.PacketsSent, bs.PacketsReceived, bs.Lost)
	if probe == nil {
		return
	}
	fmt.Printf("hub (%s):\n", probe.label())
	if !a.at.IsZero() && !b.at.IsZero() && b.at.After(a.at) {
		callSec := float64(o.concurrency) * b.at.Sub(a.at).Seconds()
		cpu := b.cpu - a.cpu
		perCallSec := cpu * 1000 / callSec
		fmt.Printf("  steady state: %d calls for %.1f s: CPU %.2f s = %.3f ms per call-second (%.1f%% of one core); ~%.0f calls per core\n",
			o.concurrency, b.at.Sub(a.at).Seconds(), cpu, perCallSec, 100*cpu/b.at.Sub(a.at).Seconds(), 1000/perCallSec)
	}
	if talk > 0 {
		fmt.Printf("  whole run incl. setup/teardown: CPU %.2f s = %.3f ms per call-second\n", after.cpu-before.cpu, (after.cpu-before.cpu)*1000/talk)
	}
	if peak.rss > 0 {
		fmt.Printf("  RSS: %.1f MiB idle, %.1f MiB with %d calls (%.0f KiB per call), %.1f MiB after\n",
			mib(before.rss), mib(peak.rss), o.concurrency, float64(int64(peak.rss)-int64(before.rss))/1024/float64(o.concurrency), mib(after.rss))
	}
	fmt.Printf("  goroutines: %d idle, %d with %d calls (%.1f per call), %d after\n",
		before.goroutines, peak.goroutines, o.concurrency, float64(peak.goroutines-before.goroutines)/float64(o.concurrency), after.goroutines)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mib(b uint64) float64       { return float64(b) / (1 << 20) }

func pct(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	slices.Sort(v)
	p := func(q float64) float64 { return v[min(len(v)-1, int(math.Ceil(q*float64(len(v))))-1)] }
	return fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, max %.1f ms (n=%d)", p(0.5), p(0.95), v[len(v)-1], len(v))
}

// goroutinesFromMetrics reads go_goroutines from the hub's /metrics.
func goroutinesFromMetrics(url string) int {
	cl := &http.Client{Timeout: 2 * time.Second}
	res, err := cl.Get(url + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}

// selfProbe measures this process (in-process hub plus the load clients).
type selfProbe struct{ url string }

func (p selfProbe) label() string { return "in-process: CPU and RSS include the load clients" }

func (p selfProbe) sample() (float64, uint64, int) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	return cpu, procRSS(os.Getpid()), runtime.NumGoroutine()
}

// childHub is a hub started as a child process.
type childHub struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func (h *childHub) label() string {
	return fmt.Sprintf("child process pid %d: /proc utime+stime, VmRSS, go_goroutines", h.cmd.Process.Pid)
}

func (h *childHub) sample() (float64, uint64, int) {
	return procCPU(h.cmd.Process.Pid), procRSS(h.cmd.Process.Pid), goroutinesFromMetrics(h.url)
}

func (h *childHub) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

func spawnHub(ctx context.Context, o options, ports testutil.HubPorts, trunkURI, codec string) (*childHub, string, error) {
	dir, err := os.MkdirTemp("", "splitload")
	if err != nil {
		return nil, "", err
	}
	bin := o.hubBin
	if bin == "" {
		bin = filepath.Join(dir, "split")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/split")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, "", fmt.Errorf("building the hub (run from the repository root, or pass -hub-bin): %w", err)
		}
	}
	cfg := testutil.HubConfig(ports, filepath.Join(dir, "data"), trunkURI, []string{o.trunkCodec}, []string{codec})
	cfg.Auth.TokenSecret = o.secret
	cfg.DrainTimeout = 5 * time.Second
	cfg.HTTP.Pprof = o.hubPprof
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	cfgPath := filepath.Join(dir, "split.yaml")
	if err := os.WriteFile(cfgPath, y, 0o600); err != nil {
		return nil, "", err
	}
	logf, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	h := &childHub{cmd: cmd, url: "http://" + cfg.HTTP.Listen, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait(); logf.Close() }()
	cl := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; {
		select {
		case err := <-h.done:
			b, _ := os.ReadFile(logf.Name())
			return nil, "", fmt.Errorf("hub exited: %v\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if res, err := cl.Get(h.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				fmt.Printf("hub: pid %d, config %s, log %s\n", cmd.Process.Pid, cfgPath, logf.Name())
				return h, h.url, nil
			}
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, "", errors.New("hub not ready after 15 s")
		}
	}
}

// procCPU is utime+stime of pid in seconds.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:]) // f[0] is field 3 (state)
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

const clockTicks = 100 // USER_HZ on Linux

// procRSS is VmRSS of pid in bytes.
func procRSS(pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
