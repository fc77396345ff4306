package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSIPFlood measures the real binary under the flood of issue 8:
// 5,000 INVITE/s for 20 s, from an address that may not call and then from
// a trunk that may. It reports RSS before, at the peak and 10 s after, and
// the hub's CPU per message — against the CPU of answering OPTIONS at the
// same rate, which is what a refusal must cost less than.
//
//	go test -run '^$' -bench SIPFlood -benchtime 1x -timeout 20m ./test/e2e/
func BenchmarkSIPFlood(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the binary and loopback addresses")
	}
	bin := filepath.Join(b.TempDir(), "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for range b.N {
		dir := b.TempDir()
		cfg := filepath.Join(dir, "split.yaml")
		if err := os.WriteFile(cfg, []byte("sip:\n  allow: [127.0.0.1/32]\n  default_trunk: pbx\n  trunks:\n    - name: pbx\n      uri: sip:"+pbxAddr+"\n      inbound_from: [127.0.0.1]\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--config", cfg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SPLIT_HTTP_LISTEN="+hubHTTP, "SPLIT_SIP_LISTEN_UDP="+hubSIP, "SPLIT_SIP_LISTEN_TCP="+hubSIP,
			"SPLIT_API_KEY="+apiKey, "SPLIT_AUTH_TOKEN_SECRET="+tokSecret, fmt.Sprintf("SPLIT_WEBRTC_UDP_PORT=%d", hubICE),
			"SPLIT_RTP_PORT_MIN=30000", "SPLIT_RTP_PORT_MAX=30200", "SPLIT_LOG_LEVEL=info", "SPLIT_SESSIONS_DEMO=false",
			"SPLIT_SIP_LIMITS_PROBE_RATE=100000")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		deadline := time.Now().Add(15 * time.Second)
		for {
			res, err := http.Get("http://" + hubHTTP + "/healthz")
			if err == nil {
				res.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				stop()
				b.Fatal("hub did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
		pid := cmd.Process.Pid
		idle := rssMB(pid)
		for _, c := range []struct {
			name, src, method string
		}{
			{"options_answered", "127.0.0.3", "OPTIONS"},
			{"invite_untrusted", "127.0.0.2", "INVITE"},
			{"invite_trunk", "127.0.0.1", "INVITE"},
		} {
			before, cpu0 := rssMB(pid), cpuSeconds(pid)
			f := startBenchFlooder(b, c.src)
			var peak float64
			var mu sync.Mutex
			done := make(chan struct{})
			go func() {
				t := time.NewTicker(500 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-done:
						return
					case <-t.C:
						mu.Lock()
						peak = max(peak, rssMB(pid))
						mu.Unlock()
					}
				}
			}()
			f.flood(c.method, 5000, 20*time.Second)
			close(done)
			cpu := cpuSeconds(pid) - cpu0
			time.Sleep(10 * time.Second) // "10 s after" is the measurement itself
			after := rssMB(pid)
			f.close()
			mu.Lock()
			b.ReportMetric(before, c.name+"_rss_before_MB")
			b.ReportMetric(peak, c.name+"_rss_peak_MB")
			b.ReportMetric(after, c.name+"_rss_10s_after_MB")
			b.ReportMetric(cpu*1e6/float64(f.sent), c.name+"_cpu_us/msg")
			b.ReportMetric(float64(f.answers())/float64(f.sent)*100, c.name+"_answered_%")
			mu.Unlock()
		}
		b.ReportMetric(idle, "idle_rss_MB")
		stop()
	}
}

type benchFlooder struct {
	c    *net.UDPConn
	sent int
	mu   sync.Mutex
	got  int
	wg   sync.WaitGroup
}

func startBenchFlooder(b *testing.B, src string) *benchFlooder {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetReadBuffer(8 << 20)
	f := &benchFlooder{c: c}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.got++
			f.mu.Unlock()
			// ACK final answers to INVITEs, as a UA would
			if msg := string(buf[:n]); strings.Contains(msg, " INVITE\r\n") && !strings.HasPrefix(msg, "SIP/2.0 1") {
				_, _ = c.WriteToUDP([]byte(ackFor(msg)), from)
			}
		}
	}()
	return f
}

func (f *benchFlooder) answers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

func (f *benchFlooder) close() { f.c.Close(); f.wg.Wait() }

func (f *benchFlooder) flood(method string, rate int, d time.Duration) {
	to, _ := net.ResolveUDPAddr("udp", hubSIP)
	me := f.c.LocalAddr().(*net.UDPAddr)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		if now.Sub(start) >= d {
			return
		}
		for due := int(now.Sub(start).Seconds() * float64(rate)); f.sent < due; {
			f.sent++
			msg := fmt.Sprintf("%s sip:flood@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKb%d;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:flood@%s>;tag=b%d\r\nTo: <sip:flood@%s>\r\nCall-ID: bench-%d@%s\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n",
				method, hubSIP, me, f.sent, me.IP, f.sent, hubSIP, f.sent, me.IP, method)
			_, _ = f.c.WriteToUDP([]byte(msg), to)
		}
	}
}

// ackFor builds the ACK of a non-2xx final response (RFC 3261 §17.1.1.3).
func ackFor(res string) string {
	h := func(name string) string {
		for _, l := range strings.Split(res, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	cseq, _, _ := strings.Cut(h("CSeq"), " ")
	return "ACK sip:flood@" + hubSIP + " SIP/2.0\r\nVia: " + h("Via") + "\r\nFrom: " + h("From") + "\r\nTo: " + h("To") +
		"\r\nCall-ID: " + h("Call-ID") + "\r\nCSeq: " + cseq + " ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

func rssMB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func cpuSeconds(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // clock ticks (USER_HZ = 100)
}
