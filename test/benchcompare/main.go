// Command benchcompare measures SPLIT's media and SIP paths side by side
// with rtpengine (userspace), Kamailio and a floor relay, on the same load,
// interleaved, and prints one table of medians and ratios (issue 12,
// docs/benchmarks.md § Side by side). Run it through scripts/bench-compare.sh,
// which builds everything and isolates it in a loopback-only network
// namespace:
//
//	scripts/bench-compare.sh                      # 3 rounds, the full table
//	go run ./test/benchcompare run -rounds 1 ...  # by hand, see -h
//
// What is measured, per target, on one machine:
//   - passthrough: N calls, 20 ms PCMU both ways; the SRTP side (SDES for
//     rtpengine and the floor, DTLS-SRTP browsers for SPLIT through
//     splitload) ⇄ plain RTP; steady-state CPU of the target's processes per
//     call-second, RSS per call, loss in the window;
//   - SIP OPTIONS at fixed rates: CPU per 1,000 messages and the share not
//     answered.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchcompare run|floor [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "floor":
		err = floor(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

type opts struct {
	split, splitload, rtpengine, kamailio   string
	rounds                                  int
	calls, rates, inviteRates, trustedRates []int
	duration, optDuration, setupDuration    time.Duration
	setupRates                              []int
	targets                                 map[string]bool
	fastPath                                bool
	profile                                 string
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// result is one measurement.
type result struct {
	msPerUnit float64 // ms CPU per call-second, or per 1,000 messages
	rssPer    float64 // KiB per call (media)
	loss      float64 // share lost / not answered
	note      string
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var o opts
	fs.StringVar(&o.split, "split", "/tmp/split", "hub binary")
	fs.StringVar(&o.splitload, "splitload", "/tmp/splitload", "splitload binary")
	fs.StringVar(&o.rtpengine, "rtpengine", "rtpengine", "rtpengine binary (Debian rtpengine-daemon)")
	fs.StringVar(&o.kamailio, "kamailio", "kamailio", "kamailio binary")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (the table shows medians)")
	calls := fs.String("calls", "20,50", "concurrent passthrough calls")
	rates := fs.String("rates", "1000,4000,16000", "OPTIONS per second")
	inviteRates := fs.String("invite-rates", "4000", "INVITEs per second from one unknown source (a toll-fraud scan: refused)")
	trustedRates := fs.String("trusted-invite-rates", "200,1000", "INVITEs per second from the trunk's address to a number nobody serves (INVITE → 480 → ACK, a server transaction each)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "steady-state window per media measurement")
	setupRates := fs.String("setup-rates", "25,100", "call set-ups per second (the light generator: signalling, ICE, DTLS, first audio, hang-up)")
	fs.DurationVar(&o.setupDuration, "setup-duration", 20*time.Second, "how long calls are started at each set-up rate")
	fs.DurationVar(&o.optDuration, "options-duration", 8*time.Second, "duration per OPTIONS measurement")
	fs.BoolVar(&o.fastPath, "fast-path", true, "the hub's webrtc.fast_path (false: what the fast path saves)")
	fs.StringVar(&o.profile, "profile", "", "write CPU and heap profiles of the hub over each SPLIT media window to this folder")
	only := fs.String("targets", "split,floor,floor-batched,floor-epoll,rtpengine,kamailio,splitload,setup", "what to measure (split: the hub under a light generator; splitload: under splitload's pion browsers; setup: call set-ups per second)")
	_ = fs.Parse(args)
	o.calls, o.rates, o.inviteRates, o.trustedRates = ints(*calls), ints(*rates), ints(*inviteRates), ints(*trustedRates)
	o.setupRates = ints(*setupRates)
	o.targets = map[string]bool{}
	for _, t := range strings.Split(*only, ",") {
		o.targets[strings.TrimSpace(t)] = true
	}

	media := map[string]map[int][]result{} // target → calls → rounds
	sip := map[string]map[int][]result{}   // target → rate → rounds
	inv := map[string]map[int][]result{}   // target → INVITE rate → rounds
	trusted := map[string]map[int][]result{}
	setups := map[int][]setupResult{}
	add := func(m map[string]map[int][]result, t string, k int, r result) {
		if m[t] == nil {
			m[t] = map[int][]result{}
		}
		m[t][k] = append(m[t][k], r)
	}
	for round := 1; round <= o.rounds; round++ {
		for _, n := range o.calls {
			for _, t := range rotate([]string{"split", "floor", "floor-batched", "floor-epoll", "rtpengine", "splitload"}, round) {
				if !o.targets[t] {
					continue
				}
				r, err := measureMedia(o, t, n)
				if err != nil {
					return fmt.Errorf("round %d, %s, %d calls: %w", round, t, n, err)
				}
				fmt.Fprintf(os.Stderr, "round %d: %-9s %3d calls: %6.2f ms/call-s, %6.0f KiB/call, loss %.3f%% %s\n", round, t, n, r.msPerUnit, r.rssPer, 100*r.loss, r.note)
				add(media, t, n, r)
			}
		}
		for _, rate := range o.rates {
			for _, t := range rotate([]string{"split", "kamailio"}, round) {
				if !o.targets[t] {
					continue
				}
				r, err := measureSIP(o, t, "OPTIONS", rate)
				if err != nil {
					return fmt.Errorf("round %d, %s, %d OPTIONS/s: %w", round, t, rate, err)
				}
				fmt.Fprintf(os.Stderr, "round %d: %-9s %5d OPTIONS/s: %6.1f ms per 1,000, unanswered %.3f%%\n", round, t, rate, r.msPerUnit, 100*r.loss)
				add(sip, t, rate, r)
			}
		}
		for _, rate := range o.inviteRates {
			for _, t := range rotate([]string{"split", "kamailio"}, round) {
				if !o.targets[t] {
					continue
				}
				r, err := measureSIP(o, t, "INVITE", rate)
				if err != nil {
					return fmt.Errorf("round %d, %s, %d INVITE/s: %w", round, t, rate, err)
				}
				fmt.Fprintf(os.Stderr, "round %d: %-9s %5d INVITE/s (refused): %6.1f ms per 1,000, unanswered %.3f%%\n", round, t, rate, r.msPerUnit, 100*r.loss)
				add(inv, t, rate, r)
			}
		}
		for _, rate := range o.trustedRates {
			for _, t := range rotate([]string{"split", "kamailio"}, round) {
				if !o.targets[t] {
					continue
				}
				r, err := measureSIP(o, t, "INVITE-trusted", rate)
				if err != nil {
					return fmt.Errorf("round %d, %s, %d trusted INVITE/s: %w", round, t, rate, err)
				}
				fmt.Fprintf(os.Stderr, "round %d: %-9s %5d INVITE/s (trunk, 480): %6.1f ms per 1,000, unanswered %.3f%%\n", round, t, rate, r.msPerUnit, 100*r.loss)
				add(trusted, t, rate, r)
			}
		}
		if o.targets["setup"] {
			for _, rate := range o.setupRates {
				r, err := measureSetup(o, rate, o.setupDuration)
				if err != nil {
					return fmt.Errorf("round %d, %d set-ups/s: %w", round, rate, err)
				}
				fmt.Fprintf(os.Stderr, "round %d: split %4d set-ups/s: %d calls, %d failed, %.2f ms CPU per call; offer→INVITE p50 %.1f p95 %.1f max %.1f ms; offer→audio p50 %.1f p95 %.1f ms\n",
					round, rate, r.calls, r.failed, r.cpuPerCall, pctl(r.toInvite, .5), pctl(r.toInvite, .95), pctl(r.toInvite, 1), pctl(r.toAudio, .5), pctl(r.toAudio, .95))
				setups[rate] = append(setups[rate], r)
			}
		}
	}
	printTable(o, media, sip, inv, trusted)
	printSetups(o, setups)
	return nil
}

// rotate changes which target goes first from round to round.
func rotate(s []string, round int) []string {
	k := round % len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func printTable(o opts, media, sip, inv, trusted map[string]map[int][]result) {
	cpu := func(r result) float64 { return r.msPerUnit }
	rss := func(r result) float64 { return r.rssPer }
	loss := func(r result) float64 { return r.loss }
	fmt.Printf("\n%d round(s), medians. Passthrough: ms CPU per call-second (KiB RSS per call, loss)\n\n", o.rounds)
	fmt.Println("| calls | SPLIT | rtpengine (userspace) | floor relay | batched floor | epoll floor | SPLIT ÷ rtpengine | SPLIT ÷ floor | SPLIT ÷ batched floor | SPLIT ÷ epoll floor | SPLIT under splitload |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range o.calls {
		s, r, f := media["split"][n], media["rtpengine"][n], media["floor"][n]
		cell := func(rs []result) string {
			if len(rs) == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f (%.0f KiB, %.2f%%)", median(rs, cpu), median(rs, rss), 100*median(rs, loss))
		}
		fb, fe := media["floor-batched"][n], media["floor-epoll"][n]
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, cell(s), cell(r), cell(f), cell(fb), cell(fe),
			ratio(s, r, cpu), ratio(s, f, cpu), ratio(s, fb, cpu), ratio(s, fe, cpu), cell(media["splitload"][n]))
	}
	fmt.Printf("\nSIP OPTIONS: ms CPU per 1,000 messages (unanswered)\n\n")
	fmt.Println("| OPTIONS/s | SPLIT | Kamailio | SPLIT ÷ Kamailio |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, rate := range o.rates {
		s, k := sip["split"][rate], sip["kamailio"][rate]
		cell := func(rs []result) string {
			if len(rs) == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f (%.2f%%)", median(rs, cpu), 100*median(rs, loss))
		}
		fmt.Printf("| %d | %s | %s | %s |\n", rate, cell(s), cell(k), ratio(s, k, cpu))
	}
	fmt.Printf("\nINVITE flood from one unknown source: ms CPU per 1,000 messages (share not answered: SPLIT drops what is over sip.limits.source_rate, as pike does; this Kamailio answers every one 403)\n\n")
	fmt.Println("| INVITE/s | SPLIT | Kamailio | SPLIT ÷ Kamailio |")
	fmt.Println("|---:|---:|---:|---:|")
	sipCell := func(rs []result) string {
		if len(rs) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f (%.1f%%)", median(rs, cpu), 100*median(rs, loss))
	}
	for _, rate := range o.inviteRates {
		s, k := inv["split"][rate], inv["kamailio"][rate]
		fmt.Printf("| %d | %s | %s | %s |\n", rate, sipCell(s), sipCell(k), ratio(s, k, cpu))
	}
	if len(o.trustedRates) == 0 {
		return
	}
	fmt.Printf("\nINVITE → final response on the trusted path (from the trunk's address, SDP offer, to a number nobody serves: 480, then the ACK): ms CPU per 1,000 INVITEs (share not answered)\n\n")
	fmt.Println("| INVITE/s | SPLIT | Kamailio (tm: t_newtran + t_reply) | SPLIT ÷ Kamailio |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, rate := range o.trustedRates {
		s, k := trusted["split"][rate], trusted["kamailio"][rate]
		fmt.Printf("| %d | %s | %s | %s |\n", rate, sipCell(s), sipCell(k), ratio(s, k, cpu))
	}
}

func printSetups(o opts, setups map[int][]setupResult) {
	if len(setups) == 0 {
		return
	}
	fmt.Printf("\nCall set-up (the light generator; hub CPU per call incl. teardown, the idle hub's own CPU subtracted; latency from the offer leaving the browser), medians of rounds\n\n")
	fmt.Println("| set-ups/s | calls (failed) | ms CPU per call | offer→INVITE p50 / p95 / max | offer→first audio p50 / p95 |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for _, rate := range o.setupRates {
		rs := setups[rate]
		if len(rs) == 0 {
			continue
		}
		med := func(f func(setupResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return pctl(v, .5)
		}
		calls, failed := 0, 0
		for _, r := range rs {
			calls, failed = calls+r.calls, failed+r.failed
		}
		fmt.Printf("| %d | %d (%d) | %.2f | %.1f / %.1f / %.1f ms | %.1f / %.1f ms |\n", rate, calls, failed,
			med(func(r setupResult) float64 { return r.cpuPerCall }),
			med(func(r setupResult) float64 { return pctl(r.toInvite, .5) }),
			med(func(r setupResult) float64 { return pctl(r.toInvite, .95) }),
			med(func(r setupResult) float64 { return pctl(r.toInvite, 1) }),
			med(func(r setupResult) float64 { return pctl(r.toAudio, .5) }),
			med(func(r setupResult) float64 { return pctl(r.toAudio, .95) }))
	}
}

func ratio(a, b []result, f func(result) float64) string {
	if len(a) == 0 || len(b) == 0 || median(b, f) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", median(a, f)/median(b, f))
}

// ---- media ----

var (
	reSteady = regexp.MustCompile(`steady state: \d+ calls for [\d.]+ s: CPU [\d.]+ s = ([\d.]+) ms per call-second`)
	reRSS    = regexp.MustCompile(`\((\d+) KiB per call\)`)
	reLost   = regexp.MustCompile(`lost \(seq gaps\) (\d+)`)
	reGor    = regexp.MustCompile(`\(([\d.]+) per call\)`)
)

func measureMedia(o opts, target string, n int) (result, error) {
	switch target {
	case "split":
		return measureSplitLight(o, n)
	case "splitload":
		// splitload spawns the hub and reads its own /proc figures
		ctx, cancel := context.WithTimeout(context.Background(), o.duration+2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, o.splitload, "-spawn", "-hub-bin", o.split, "-calls", strconv.Itoa(n),
			"-duration", o.duration.String(), "-codec", "pcmu")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return result{}, fmt.Errorf("splitload: %v\n%s", err, out)
		}
		m := reSteady.FindSubmatch(out)
		if m == nil {
			return result{}, fmt.Errorf("splitload printed no steady state:\n%s", out)
		}
		r := result{}
		r.msPerUnit, _ = strconv.ParseFloat(string(m[1]), 64)
		if m := reRSS.FindSubmatch(out); m != nil {
			r.rssPer, _ = strconv.ParseFloat(string(m[1]), 64)
		}
		var lost float64
		for _, m := range reLost.FindAllSubmatch(out, -1) {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			lost += v
		}
		r.loss = lost / (2 * 50 * o.duration.Seconds() * float64(n))
		if m := reGor.FindSubmatch(out); m != nil {
			r.note = "goroutines/call " + string(m[1])
		}
		return r, nil
	case "floor", "floor-batched", "floor-epoll":
		const base = 31000
		self, _ := os.Executable()
		cmd := exec.Command(self, "floor", "-calls", strconv.Itoa(n), "-base", strconv.Itoa(base),
			"-batched="+strconv.FormatBool(target == "floor-batched"), "-epoll="+strconv.FormatBool(target == "floor-epoll"))
		stop, err := startAndWait(cmd, "ready")
		if err != nil {
			return result{}, err
		}
		defer stop()
		return loadMedia(o, cmd.Process.Pid, n, func(c *mediaCall, i int) error {
			if target == "floor-batched" {
				return setupFloor(c, base, 0) // every call to the two shared sockets
			}
			return setupFloor(c, base, i)
		}, nil)
	case "rtpengine":
		dir, _ := os.MkdirTemp("", "rtpengine")
		defer os.RemoveAll(dir)
		cmd := exec.Command(o.rtpengine, "--config-file=none", "--foreground", "--log-stderr", "--log-level=4",
			"--interface=127.0.0.1", "--listen-ng=127.0.0.1:22222", "--port-min=40000", "--port-max=49999",
			"--table=-1", "--num-threads=2", "--pidfile="+filepath.Join(dir, "pid"))
		stop, err := startAndWait(cmd, "")
		if err != nil {
			return result{}, err
		}
		defer stop()
		g, err := waitNG("127.0.0.1:22222")
		if err != nil {
			return result{}, err
		}
		defer g.conn.Close()
		return loadMedia(o, cmd.Process.Pid, n, func(c *mediaCall, i int) error { return setupRtpengine(g, c, i) }, g)
	}
	return result{}, fmt.Errorf("unknown target %s", target)
}

func waitNG(addr string) (*ng, error) {
	g, err := dialNG(addr)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 50; i++ {
		if _, err := g.do(map[string]any{"command": "ping"}); err == nil {
			return g, nil
		}
		time.Sleep(100 * time.Millisecond) // not listening yet
	}
	g.conn.Close()
	return nil, fmt.Errorf("rtpengine does not answer ng ping on %s", addr)
}

// startAndWait starts cmd and waits for a line containing ready on its
// stdout (or nothing, when ready is ""); stop ends it with SIGTERM.
func startAndWait(cmd *exec.Cmd, ready string) (stop func(), err error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if os.Getenv("BENCH_VERBOSE") == "" {
		cmd.Stderr = nil
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	got := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if ready == "" || strings.Contains(sc.Text(), ready) {
				once.Do(func() { close(got) })
			}
		}
	}()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if ready == "" {
		return stop, nil
	}
	select {
	case <-got:
		return stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return nil, fmt.Errorf("%s: not ready", cmd.Path)
	}
}

// loadMedia sets up n calls with setup, paces them, and measures pid's CPU
// and RSS over the steady window.
func loadMedia(o opts, pid, n int, setup func(*mediaCall, int) error, g *ng) (result, error) {
	rss0 := treeRSS(pid)
	calls := make([]*mediaCall, 0, n)
	defer func() {
		for _, c := range calls {
			c.close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := newMediaCall(i)
		if err != nil {
			return result{}, err
		}
		calls = append(calls, c)
		if err := setup(c, i); err != nil {
			return result{}, err
		}
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		c.read(&wg)
	}
	stop := make(chan struct{})
	paced := make(chan struct{})
	go func() { defer close(paced); pace(calls, stop) }()
	time.Sleep(2 * time.Second) // latching and warm-up, outside the window
	snap := func() (sent, recv int64) {
		for _, c := range calls {
			sent += c.sentA.Load() + c.sentB.Load()
			recv += c.recvA.Load() + c.recvB.Load()
		}
		return
	}
	s0, r0 := snap()
	c0, t0 := treeCPU(pid), time.Now()
	time.Sleep(o.duration)
	c1, dt := treeCPU(pid), time.Since(t0).Seconds()
	s1, r1 := snap()
	rss1 := treeRSS(pid)
	close(stop)
	<-paced
	time.Sleep(100 * time.Millisecond) // in-flight packets
	var auth int64
	for _, c := range calls {
		auth += c.authFail.Load()
		c.close()
	}
	wg.Wait()
	if auth > 0 {
		return result{}, fmt.Errorf("%d SRTP packets failed authentication", auth)
	}
	r := result{msPerUnit: (c1 - c0) * 1000 / (float64(n) * dt)}
	if rss1 > rss0 {
		r.rssPer = float64(rss1-rss0) / 1024 / float64(n)
	}
	if s1 > s0 {
		r.loss = max(0, 1-float64(r1-r0)/float64(s1-s0))
	}
	_ = g
	return r, nil
}

// startSplit writes cfg to dir and starts the hub on it.
func startSplit(o opts, cfg *config.Config, dir string) (*exec.Cmd, func(), error) {
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "split.yaml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(o.split, "serve", "--config", path)
	stop, err := startAndWait(cmd, "")
	return cmd, stop, err
}

// ---- SIP ----

const kamailioCfg = `#!KAMAILIO
debug=0
log_stderror=yes
children=2
listen=udp:127.0.0.1:%d
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "tm.so"
request_route {
	if (method == "OPTIONS") {
		sl_send_reply("200", "OK");
		exit;
	}
	if (method == "ACK") {
		t_check_trans();
		exit;
	}
	if (method == "INVITE" && src_ip == 127.0.0.2) {
		t_newtran();
		t_reply("480", "Temporarily Unavailable");
		exit;
	}
	sl_send_reply("403", "Forbidden");
}
`

func measureSIP(o opts, target, method string, rate int) (result, error) {
	var pid, port int
	var listen string // the hub's HTTP, for profiles
	switch target {
	case "kamailio":
		dir, _ := os.MkdirTemp("", "kamailio")
		defer os.RemoveAll(dir)
		port = 25070
		cfg := filepath.Join(dir, "k.cfg")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(kamailioCfg, port)), 0o600); err != nil {
			return result{}, err
		}
		cmd := exec.Command(o.kamailio, "-f", cfg, "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "pid"), "-m", "64", "-M", "8")
		stop, err := startAndWait(cmd, "")
		if err != nil {
			return result{}, err
		}
		defer stop()
		pid = cmd.Process.Pid
	case "split":
		dir, _ := os.MkdirTemp("", "split-options")
		defer os.RemoveAll(dir)
		p := testutil.PortsFrom(26000, 16)
		port = p.SIP
		cfg := testutil.HubConfig(p, filepath.Join(dir, "data"), "sip:127.0.0.2:26999", []string{"PCMU"}, []string{"PCMU"})
		cfg.SIP.Limits.ProbeRate = 1e6 // one source, the load generator
		cfg.SIP.Allow = nil            // the generator (127.0.0.1) is an unknown source; the trunk is 127.0.0.2
		cfg.HTTP.Pprof = o.profile != ""
		listen = cfg.HTTP.Listen
		cmd, stop, err := startSplit(o, cfg, dir)
		if err != nil {
			return result{}, err
		}
		defer stop()
		pid = cmd.Process.Pid
	default:
		return result{}, fmt.Errorf("unknown target %s", target)
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	// ready when it answers
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		_, ok, _ := sipLoad(to, "OPTIONS", 100, 50*time.Millisecond)
		ready = ok > 0
	}
	if !ready {
		return result{}, fmt.Errorf("%s does not answer OPTIONS on %v", target, to)
	}
	c0 := treeCPU(pid)
	var prof sync.WaitGroup
	if listen != "" && o.profile != "" {
		prof.Add(1)
		go func() {
			defer prof.Done()
			profile(listen, o.optDuration, filepath.Join(o.profile, fmt.Sprintf("sip-%s-%d", method, rate)))
		}()
	}
	sent, ok, err := sipLoad(to, method, rate, o.optDuration)
	prof.Wait()
	if err != nil {
		return result{}, err
	}
	c1 := treeCPU(pid)
	r := result{msPerUnit: (c1 - c0) * 1000 / (float64(sent) / 1000)}
	if sent > 0 {
		r.loss = max(0, 1-float64(ok)/float64(sent))
	}
	return r, nil
}
