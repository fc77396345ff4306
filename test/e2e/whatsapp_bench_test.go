package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// Tones of the WhatsApp user (the Meta peer) and of the ACD (the UAS): each
// side checks that it hears the other's, so a call that "flows" but carries
// its own echo, silence or noise cannot pass.
const (
	waBenchMetaTone = 852.0
	waBenchACDTone  = 1000.0
	waBenchVerify   = "bench-verify-token"
)

// BenchmarkWhatsAppCalls measures WhatsApp mode (issue 9) against the real
// binary: Meta is the contract fake (notifytest, in this process: Graph
// endpoints, signed webhooks, a pion Meta media peer per call sending Opus),
// the external ACD a SIP UAS (testutil) that answers every INVITE at once
// with PCMU. The hub routes the number's entry point to sip:acd@acd, so
// every call is transcoded (Meta's Opus ⇄ the ACD's G.711) in the hub.
//
//   - setup: 50 sequential user-initiated calls; per call the time from the
//     connect webhook (UserCalls returned: the webhook is queued to the
//     fake's delivery goroutine) to the hub's pre_accept and accept as the
//     fake received them, and to the ACD's INVITE; each call then carries
//     media both ways, the user hangs up (Meta's terminate webhook) and the
//     ACD's BYE is waited for. Also the hub's CPU per whole short call.
//   - calls=10, calls=30: that many calls started 20 ms apart and held with
//     media both ways for 20 s: hub CPU (utime+stime of the binary, /proc)
//     over the steady window per call-second, RSS and goroutines per call,
//     and the share of packets delivered each way.
//
// Each run checks its premises — every call accepted (no refused Graph
// request), media both ways with the other side's tone, no call lost in
// the window — and fails rather than report figures from broken calls.
//
//	go test -run '^$' -bench WhatsAppCalls -benchtime 1x -timeout 20m ./test/e2e/
func BenchmarkWhatsAppCalls(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the binary, the Meta fake and loopback addresses")
	}
	bin := filepath.Join(b.TempDir(), "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	b.Run("setup", func(b *testing.B) {
		for range b.N {
			benchWASetup(b, bin, 50)
		}
	})
	for _, n := range []int{10, 30} {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			for range b.N {
				benchWAConcurrent(b, bin, n, 20*time.Second)
			}
		})
	}
}

// benchWASetup places n sequential calls and reports the set-up times.
func benchWASetup(b *testing.B, bin string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := notifytest.StartWhatsApp(b)
	acd := startBenchACD(b)
	h := startWABenchHub(b, bin, f)
	idleG := h.goroutines()
	if idleG <= 0 {
		h.fail(b, "go_goroutines not readable from /metrics")
	}
	var toPre, toAcc, toInv []time.Duration
	late := 0
	cpu0 := cpuSeconds(h.pid())
	for i := range n {
		call, err := f.UserCalls(ctx, waBenchUser(i), "Bench Caller", notifytest.WithToneHz(waBenchMetaTone))
		t0 := time.Now() // the connect webhook is on its way
		if err != nil {
			h.fail(b, "call %d: %v", i, err)
		}
		actx, acancel := context.WithTimeout(ctx, 30*time.Second)
		err = call.WaitAccepted(actx)
		acancel()
		if err != nil {
			h.fail(b, "call %d: %v (actions %+v)", i, err, call.Actions())
		}
		pre, acc, lt := checkWAActions(b, h, i, call)
		toPre, toAcc = append(toPre, pre.Sub(t0)), append(toAcc, acc.Sub(t0))
		if lt {
			late++
		}
		var ac *testutil.SIPCall
		h.waitFor(b, 10*time.Second, fmt.Sprintf("call %d at the ACD", i), func() bool {
			cs := acd.Calls()
			if len(cs) == 1 {
				ac = cs[0]
			}
			return len(cs) == 1
		})
		toInv = append(toInv, ac.InviteAt.Sub(t0))
		// media both ways before the user hangs up: an accepted call that
		// carries nothing is not a set-up
		h.waitFor(b, 10*time.Second, fmt.Sprintf("call %d: media both ways", i), func() bool {
			return call.Peer().Stats().PacketsIn >= 10 && ac.Stats().PacketsReceived >= 10
		})
		if err := call.Hangup(); err != nil {
			h.fail(b, "call %d: hang up: %v", i, err)
		}
		h.waitFor(b, 10*time.Second, fmt.Sprintf("call %d: the ACD's leg ends", i), func() bool {
			return len(acd.Calls()) == 0 && ac.ByeReceived()
		})
	}
	cpu := cpuSeconds(h.pid()) - cpu0
	left := h.settledGoroutines(idleG)
	if got := f.ActiveCalls(); got != 0 {
		h.fail(b, "%d calls still up at Meta", got)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(pct(toPre, 50)), "pre_accept_p50_ms")
	b.ReportMetric(ms(pct(toPre, 95)), "pre_accept_p95_ms")
	b.ReportMetric(ms(pct(toAcc, 50)), "accept_p50_ms")
	b.ReportMetric(ms(pct(toAcc, 95)), "accept_p95_ms")
	b.ReportMetric(ms(pct(toAcc, 100)), "accept_max_ms")
	b.ReportMetric(ms(pct(toInv, 50)), "acd_invite_p50_ms")
	b.ReportMetric(ms(pct(toInv, 95)), "acd_invite_p95_ms")
	b.ReportMetric(cpu*1000/float64(n), "hub_cpu_ms/call")
	b.ReportMetric(float64(left), "goroutines_left")
	b.ReportMetric(float64(late), "pre_accept_after_accept")
	b.Logf("%d sequential calls: webhook→pre_accept p50 %.1f p95 %.1f ms; webhook→INVITE at the ACD p50 %.1f p95 %.1f ms; webhook→accept p50 %.1f p95 %.1f max %.1f ms; hub CPU %.2f s (%.1f ms per call incl. media until both sides heard 10 packets and the teardown); goroutines idle %d, %+d after",
		n, ms(pct(toPre, 50)), ms(pct(toPre, 95)), ms(pct(toInv, 50)), ms(pct(toInv, 95)), ms(pct(toAcc, 50)), ms(pct(toAcc, 95)), ms(pct(toAcc, 100)),
		cpu, cpu*1000/float64(n), idleG, left)
}

// benchWAConcurrent holds n transcoded calls for hold and reports the
// hub's steady-state cost.
func benchWAConcurrent(b *testing.B, bin string, n int, hold time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := notifytest.StartWhatsApp(b)
	acd := startBenchACD(b)
	h := startWABenchHub(b, bin, f)
	pid := h.pid()
	idleRSS, idleG := rssMB(pid), h.goroutines()
	if idleG <= 0 || idleRSS <= 0 {
		h.fail(b, "the hub's RSS (%.1f MiB) or goroutines (%d) not readable", idleRSS, idleG)
	}

	calls := make([]*notifytest.MetaCall, n)
	starts := make([]time.Time, n)
	tick := time.NewTicker(20 * time.Millisecond)
	for i := range n {
		<-tick.C
		c, err := f.UserCalls(ctx, waBenchUser(i), "Bench Caller", notifytest.WithToneHz(waBenchMetaTone))
		starts[i] = time.Now()
		if err != nil {
			tick.Stop()
			h.fail(b, "call %d: %v", i, err)
		}
		calls[i] = c
	}
	tick.Stop()
	var toAcc []time.Duration
	late := 0
	for i, c := range calls {
		actx, acancel := context.WithTimeout(ctx, 45*time.Second)
		err := c.WaitAccepted(actx)
		acancel()
		if err != nil {
			h.fail(b, "call %d of %d: %v (actions %+v)", i, n, err, c.Actions())
		}
		_, acc, lt := checkWAActions(b, h, i, c)
		toAcc = append(toAcc, acc.Sub(starts[i]))
		if lt {
			late++
		}
	}
	// every call flowing both ways before the window opens
	h.waitFor(b, 30*time.Second, fmt.Sprintf("%d calls at the ACD with media both ways", n), func() bool {
		acs := acd.Calls()
		if len(acs) != n {
			return false
		}
		for _, ac := range acs {
			if ac.Stats().PacketsReceived < 25 {
				return false
			}
		}
		for _, c := range calls {
			if c.Peer().Stats().PacketsIn < 25 {
				return false
			}
		}
		return true
	})
	acs := acd.Calls()
	metaIn0, acdIn0 := make([]uint64, n), make([]uint64, n)
	snap := func(meta, acdIn []uint64) {
		for i, c := range calls {
			meta[i] = c.Peer().Stats().PacketsIn
		}
		for i, ac := range acs {
			acdIn[i] = ac.Stats().PacketsReceived
		}
	}
	snap(metaIn0, acdIn0)
	t0, cpu0 := time.Now(), cpuSeconds(pid)
	// the hold is the measurement itself; every second, no call may have
	// dropped (a lost call would make the per-call-second figure a lie)
	deadline := t0.Add(hold)
	peakRSS := rssMB(pid)
	for time.Now().Before(deadline) {
		time.Sleep(min(time.Second, time.Until(deadline)))
		peakRSS = max(peakRSS, rssMB(pid))
		if up := f.ActiveCalls(); up != n || len(acd.Calls()) != n {
			h.fail(b, "a call dropped during the window: %d up at Meta, %d at the ACD, want %d", up, len(acd.Calls()), n)
		}
	}
	cpu, window := cpuSeconds(pid)-cpu0, time.Since(t0)
	rss, g := rssMB(pid), h.goroutines()
	metaIn1, acdIn1 := make([]uint64, n), make([]uint64, n)
	snap(metaIn1, acdIn1)

	// premises: every call carried media both ways through the window,
	// each side hearing the other's tone (hence transcoded both ways)
	want := uint64(window.Seconds() * 50)
	var metaGot, acdGot uint64
	for i := range n {
		dm, da := metaIn1[i]-metaIn0[i], acdIn1[i]-acdIn0[i]
		metaGot, acdGot = metaGot+dm, acdGot+da
		if dm < want*8/10 || da < want*8/10 {
			h.fail(b, "call %d: %d packets to Meta, %d to the ACD in %s, want ≥ %d each", i, dm, da, window.Round(time.Millisecond), want*8/10)
		}
	}
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	for i, c := range calls {
		if err := c.Peer().WaitTone(tctx, waBenchACDTone, 30); err != nil {
			tcancel()
			h.fail(b, "call %d: the ACD's tone at the WhatsApp user: %v", i, err)
		}
	}
	tcancel()
	for i, ac := range acs {
		pcm := ac.Received()
		if len(pcm) > 8000 {
			pcm = pcm[len(pcm)-8000:]
		}
		if hz := media.DominantFrequency(pcm, 8000, []float64{waBenchMetaTone, waBenchACDTone, notifytest.DefaultMetaToneHz}); hz != waBenchMetaTone ||
			media.ToneLevel(pcm, hz, 8000) < 0.01 {
			h.fail(b, "ACD call %d hears %.0f Hz (level %.3f), want the WhatsApp user's %.0f Hz", i, hz, media.ToneLevel(pcm, hz, 8000), waBenchMetaTone)
		}
	}

	for i, c := range calls {
		if err := c.Hangup(); err != nil {
			h.fail(b, "call %d: hang up: %v", i, err)
		}
	}
	h.waitFor(b, 30*time.Second, "every ACD leg ends", func() bool { return len(acd.Calls()) == 0 })
	left := h.settledGoroutines(idleG)
	callSec := float64(n) * window.Seconds()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(cpu*1000/callSec, "hub_cpu_ms/call-s")
	b.ReportMetric(1000/(cpu*1000/callSec), "calls/core")
	b.ReportMetric((rss-idleRSS)*1024/float64(n), "rss_KiB/call")
	b.ReportMetric(float64(g-idleG)/float64(n), "goroutines/call")
	b.ReportMetric(float64(left), "goroutines_left")
	b.ReportMetric(float64(metaGot)*100/float64(want*uint64(n)), "to_meta_%")
	b.ReportMetric(float64(acdGot)*100/float64(want*uint64(n)), "to_acd_%")
	b.ReportMetric(ms(pct(toAcc, 50)), "burst_accept_p50_ms")
	b.ReportMetric(ms(pct(toAcc, 95)), "burst_accept_p95_ms")
	b.ReportMetric(float64(late), "pre_accept_after_accept")
	b.Logf("%d calls for %.1f s: hub CPU %.2f s = %.2f ms per call-second (%.1f%% of one core); RSS %.1f MiB idle, %.1f with the calls (peak %.1f): %.0f KiB per call; goroutines %d idle, %d with the calls, %+d after; packets delivered: to Meta %.1f%%, to the ACD %.1f%%; webhook→accept in the burst p50 %.1f p95 %.1f ms",
		n, window.Seconds(), cpu, cpu*1000/callSec, 100*cpu/window.Seconds(), idleRSS, rss, peakRSS, (rss-idleRSS)*1024/float64(n), idleG, g, left,
		float64(metaGot)*100/float64(want*uint64(n)), float64(acdGot)*100/float64(want*uint64(n)), ms(pct(toAcc, 50)), ms(pct(toAcc, 95)))
}

// checkWAActions checks the hub's Graph requests for an answered call:
// one pre_accept and one accept, the accept not refused; it returns when
// the fake received each, and whether Meta handled the pre_accept after
// the accept (then it refuses it: the call is already accepted; the hub
// sends both from independent goroutines). It waits up to 10 s for a
// pre_accept still on its way.
func checkWAActions(b *testing.B, h *waBenchHub, i int, c *notifytest.MetaCall) (pre, acc time.Time, late bool) {
	b.Helper()
	h.waitFor(b, 10*time.Second, fmt.Sprintf("call %d: pre_accept and accept at Meta", i), func() bool {
		n := 0
		for _, a := range c.Actions() {
			if a.Action == "pre_accept" || a.Action == "accept" {
				n++
			}
		}
		return n >= 2
	})
	var seq []string
	for _, a := range c.Actions() {
		seq = append(seq, a.Action)
		switch {
		case a.Action == "accept" && a.ErrorCode == 0:
			acc = a.At
		case a.Action == "pre_accept" && (a.ErrorCode == 0 || !acc.IsZero()):
			// refused only when it came after the accept: counted as late
			pre, late = a.At, !acc.IsZero()
		default:
			h.fail(b, "call %d: Meta refused %s: %d %s (actions %+v)", i, a.Action, a.ErrorCode, a.Details, c.Actions())
		}
	}
	if len(seq) != 2 || pre.IsZero() || acc.IsZero() {
		h.fail(b, "call %d: the hub sent %v, want one pre_accept and one accept", i, seq)
	}
	if late {
		var refusal string
		for _, a := range c.Actions() {
			if a.Action == "pre_accept" {
				refusal = fmt.Sprintf("%d %s", a.ErrorCode, a.Details)
			}
		}
		b.Logf("call %d: Meta took the accept first and refused the pre_accept (%s); received %s apart (pre_accept − accept)",
			i, refusal, pre.Sub(acc).Round(10*time.Microsecond))
	}
	return pre, acc, late
}

// waBenchUser is the i-th caller's wa_id.
func waBenchUser(i int) string { return fmt.Sprintf("1650555%04d", i) }

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100
	return s[max(k, 1)-1]
}

// startBenchACD is the external ACD: it answers every INVITE at once with
// PCMU and plays its tone.
func startBenchACD(b *testing.B) *testutil.SIPUAS {
	b.Helper()
	u, err := testutil.StartUAS(testutil.UASOptions{Listen: pbxAddr, Codec: "PCMU", ToneHz: waBenchACDTone, Record: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = u.Close() })
	return u
}

// waBenchHub is the split binary serving the fake's business number.
type waBenchHub struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func (h *waBenchHub) pid() int { return h.cmd.Process.Pid }

// startWABenchHub runs bin with the fake's number, its entry point routed
// to the ACD, and subscribes the fake's webhooks to it.
func startWABenchHub(b *testing.B, bin string, f *notifytest.WhatsAppFake) *waBenchHub {
	b.Helper()
	dir := b.TempDir()
	cfg := fmt.Sprintf(`log: {level: info}
http: {listen: %q}
api: {key: %q}
auth: {token_secret: %q}
data_dir: %q
sip:
  listen_udp: %q
  listen_tcp: %q
  trunks:
    - {name: acd, uri: "sip:%s", transport: udp, codecs: [PCMU], inbound_from: [127.0.0.1]}
rtp: {port_min: 30000, port_max: 30200}
webrtc: {udp_port: %d}
sessions:
  demo: false
  entry_points: [{name: whatsapp}]
  routes: [{name: whatsapp, entry: whatsapp, target: "sip:acd@acd"}]
whatsapp:
  base_url: %q
  version: %q
  app_secret: %q
  verify_token: %q
  numbers:
    - {phone_number_id: %q, number: "+15550783881", access_token: %q, entry: whatsapp}
`, hubHTTP, apiKey, tokSecret, dir, hubSIP, hubSIP, pbxAddr, hubICE, f.URL, f.Version, f.AppSecret, waBenchVerify, f.PhoneNumberID, f.AccessToken)
	path := filepath.Join(dir, "split.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		b.Fatal(err)
	}
	h := &waBenchHub{log: logf.Name(), done: make(chan error, 1)}
	h.cmd = exec.Command(bin, "serve", "--config", path)
	h.cmd.Dir = dir
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		logf.Close()
		b.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait(); logf.Close() }()
	b.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		<-h.done
	})
	h.waitFor(b, 15*time.Second, "the hub ready", func() bool {
		select {
		case err := <-h.done:
			h.done <- err
			h.fail(b, "the hub exited: %v", err)
		default:
		}
		res, err := http.Get("http://" + hubHTTP + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Subscribe(ctx, "http://"+hubHTTP+"/v1/whatsapp/webhook", waBenchVerify); err != nil {
		h.fail(b, "webhook verification: %v", err)
	}
	return h
}

// fail stops the benchmark with the tail of the hub's log.
func (h *waBenchHub) fail(b *testing.B, format string, a ...any) {
	b.Helper()
	log, _ := os.ReadFile(h.log)
	b.Fatalf("%s\nhub log (tail):\n%s", fmt.Sprintf(format, a...), tail(string(log), 4000))
}

// waitFor polls cond every 20 ms until it holds, or fails after within.
func (h *waBenchHub) waitFor(b *testing.B, within time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			h.fail(b, "%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines waits up to 15 s for the hub's goroutines to come back
// within 5 of idle (HTTP keep-alive connections to the Graph API and from
// the webhook sender may stay) and returns how many more than idle remain.
func (h *waBenchHub) settledGoroutines(idle int) int {
	deadline := time.Now().Add(15 * time.Second)
	for {
		g := h.goroutines()
		if g <= idle+5 || time.Now().After(deadline) {
			return g - idle
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goroutines is go_goroutines from the hub's /metrics (-1 if unreadable).
func (h *waBenchHub) goroutines() int {
	cl := &http.Client{Timeout: 2 * time.Second}
	res, err := cl.Get("http://" + hubHTTP + "/metrics")
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
