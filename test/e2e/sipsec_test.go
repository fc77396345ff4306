package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
)

// The SIP security suite (docs/security.md): what an attacker on the SIP
// side can do to a running hub — floods from sources that may and may not
// call, slowloris and idle TCP connections, the RFC 4475 torture messages,
// sipvicious scans — and what it must cost: nothing that stays behind.

// flooder sends INVITEs as fast as asked from src, and ACKs every final
// response it gets (as a real UA would), so that transactions end.
type flooder struct {
	c      *net.UDPConn
	sent   atomic.Int64
	answer sync.Map // status code → *atomic.Int64
	wg     sync.WaitGroup
}

func startFlooder(t *testing.T, src string) *flooder {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
	if err != nil {
		t.Fatal(err)
	}
	f := &flooder{c: c}
	f.wg.Add(1)
	go f.read()
	t.Cleanup(func() { c.Close(); f.wg.Wait() })
	return f
}

func (f *flooder) count(code int) int64 {
	v, ok := f.answer.Load(code)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (f *flooder) read() {
	defer f.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := f.c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		r, ok := m.(*sip.Response)
		if !ok || r.StatusCode < 200 || r.CSeq() == nil || r.CSeq().MethodName != sip.INVITE {
			continue
		}
		v, _ := f.answer.LoadOrStore(r.StatusCode, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		// ACK of a non-2xx final response: same branch, the response's To
		ack := fmt.Sprintf("ACK sip:flood@%s SIP/2.0\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			hubSIP, r.Via().Value(), r.From().Value(), r.To().Value(), r.CallID().Value(), r.CSeq().SeqNo)
		_, _ = f.c.WriteToUDP([]byte(ack), from)
	}
}

// run sends rate INVITEs per second for d, in 1 ms batches.
func (f *flooder) run(rate int, d time.Duration) {
	to, _ := net.ResolveUDPAddr("udp", hubSIP)
	me := f.c.LocalAddr().(*net.UDPAddr)
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n", me.IP, me.IP)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		if now.Sub(start) >= d {
			return
		}
		due := int64(now.Sub(start).Seconds() * float64(rate))
		for f.sent.Load() < due {
			i := f.sent.Add(1)
			inv := fmt.Sprintf("INVITE sip:flood@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKfl%d;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:flood@%s>;tag=fl%d\r\nTo: <sip:flood@%s>\r\nCall-ID: flood-%d@%s\r\nCSeq: 1 INVITE\r\n"+
				"Contact: <sip:flood@%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
				hubSIP, me, i, me.IP, i, hubSIP, i, me.IP, me, len(sdp), sdp)
			_, _ = f.c.WriteToUDP([]byte(inv), to)
		}
	}
}

type memPoint struct {
	heapMB     float64
	goroutines int
	fds        int
}

func sample() memPoint {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return memPoint{heapMB: float64(ms.HeapInuse) / (1 << 20), goroutines: runtime.NumGoroutine(), fds: len(fds)}
}

func (m memPoint) String() string {
	return fmt.Sprintf("heap %.1f MB, %d goroutines, %d fds", m.heapMB, m.goroutines, m.fds)
}

// settle waits until the hub is back near where it started.
func settle(t *testing.T, base memPoint, within time.Duration) memPoint {
	t.Helper()
	deadline := time.Now().Add(within)
	var now memPoint
	for {
		now = sample()
		if now.goroutines <= base.goroutines+10 && now.fds <= base.fds+5 && now.heapMB <= base.heapMB+16 {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back to where it started within %v: before %v, now %v", within, base, now)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// 5,000 INVITE/s from a source that may not call, then from a trunk that
// may: refusals are cheap (no transaction, no port), keep-alive OPTIONS from
// another source and from the flooding one are all answered throughout, and
// afterwards nothing is left (heap, goroutines, descriptors, RTP ports).
func TestSIPFlood(t *testing.T) {
	needPeers(t, "sipp")
	startHub(t, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1/32"} })
	base := sample()
	for _, tc := range []struct {
		name, src string
		refusal   string
	}{
		{"source not allowed", "127.0.0.2", `split_sip_refused_total{reason="forbidden",transport="udp"}`},
		{"trunk", "127.0.0.1", `split_sip_refused_total{reason="call_rate",transport="udp"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// probes at 10/s for the whole flood: one from elsewhere, one
			// from the flooding address itself
			other := startSipp(t, hubSIP, "-sf", "sipp/options_ping.xml", "-i", "127.0.0.3", "-p", "15097", "-r", "10", "-m", "50")
			same := startSipp(t, hubSIP, "-sf", "sipp/options_ping.xml", "-i", tc.src, "-p", "15098", "-r", "10", "-m", "50")
			f := startFlooder(t, tc.src)
			done := make(chan struct{})
			var peak memPoint
			go func() {
				defer close(done)
				f.run(5000, 5*time.Second)
			}()
			for {
				select {
				case <-done:
				case <-time.After(time.Second):
					if p := sample(); p.heapMB > peak.heapMB {
						peak = p
					}
					continue
				}
				break
			}
			if code := other.wait(t, 30*time.Second); code != 0 {
				t.Errorf("OPTIONS from another source went unanswered during the flood (sipp exit %d)", code)
			}
			if code := same.wait(t, 30*time.Second); code != 0 {
				t.Errorf("OPTIONS from the flooding source went unanswered (sipp exit %d)", code)
			}
			if n := metricValue(t, tc.refusal); n == 0 {
				t.Errorf("no %s refusals counted", tc.refusal)
			}
			limited := metricValue(t, `split_sip_refused_total{reason="rate_limited",transport="udp"}`)
			after := settle(t, base, 45*time.Second)
			t.Logf("%d INVITEs sent; answers: 403=%d 503=%d 404=%d 480=%d; rate-limited so far %.0f; before %v, peak %v, after %v",
				f.sent.Load(), f.count(403), f.count(503), f.count(404), f.count(480), limited, base, peak, after)
			if peak.heapMB > base.heapMB+64 {
				t.Errorf("heap grew from %.1f to %.1f MB during the flood", base.heapMB, peak.heapMB)
			}
			if ports := metricValue(t, "split_rtp_port_pairs_in_use"); ports != 0 {
				t.Errorf("%v RTP port pairs still in use after the flood", ports)
			}
		})
	}
}

// Slowloris and idle connections on SIP over TCP are closed after
// sip.limits.tcp_message_timeout; one address cannot hold more than
// tcp_per_source of them; descriptors return to where they were.
func TestSIPSlowlorisTCP(t *testing.T) {
	needPeers(t)
	startHub(t, func(c *config.Config) {
		c.SIP.Limits.TCPMessageTimeout = 2 * time.Second
		c.SIP.Limits.TCPPerSource = 32
	})
	base := sample()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := 0
	for src := 2; src <= 11; src++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(src))}}
		for range 40 { // 32 admitted per source, 8 over the cap
			c, err := d.Dial("tcp", hubSIP)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			_, _ = c.Write([]byte("INVITE sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1"))
		}
	}
	during := sample()
	t.Logf("400 connections from 10 addresses: before %v, during %v", base, during)
	// every one ends: refused at once over the cap, the rest at the timeout
	var wg sync.WaitGroup
	var stillOpen atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			start := time.Now()
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						stillOpen.Add(1)
					} else if time.Since(start) < time.Second {
						refused++
					}
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if n := stillOpen.Load(); n > 0 {
		t.Fatalf("%d slowloris connections still open 15 s later", n)
	}
	if got := metricValue(t, `split_sip_refused_total{reason="connection_cap",transport="tcp"}`); got != 80 {
		t.Errorf("%v connections refused by the per-source cap, want 80", got)
	}
	if got := metricValue(t, `split_sip_refused_total{reason="timeout",transport="tcp"}`); got != 320 {
		t.Errorf("%v connections timed out, want 320", got)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	after := settle(t, base, 20*time.Second)
	t.Logf("after: %v", after)
}

// The RFC 4475 torture messages against the whole hub, from a trunk: the
// malformed ones are answered as the RFC says, the others reach the hub's
// handlers and get a final answer; the hub answers throughout.
func TestSIPTortureAgainstTheHub(t *testing.T) {
	needPeers(t)
	startHub(t, nil)
	files, err := filepath.Glob("../../internal/sipguard/testdata/torture/*/*.dat")
	if err != nil || len(files) < 40 {
		t.Fatalf("torture corpus: %d files", len(files))
	}
	want := map[string]int{
		"badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "quotbal": 400, "ltgtruri": 400, "lwsruri": 400,
		"lwsstart": 400, "trws": 400, "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400,
		"mismatch02": 400, "insuf": 400, "unkscm": 416, "novelsc": 416, "multi01": 400, "mcl01": 400,
		"bext01": 420, "invut": 415, "zeromf": 200,
		// sipgo limits, answered clearly: a request without a branch (RFC 2543,
		// inv2543) and whitespace inside Via's sent-protocol (wsinv) cannot be
		// matched to a transaction
		"inv2543": 400, "wsinv": 400,
	}
	// responses and bytes that are not SIP get nothing; longreq's answer is
	// larger than a UDP datagram may be (sipgo would need TCP for it)
	silent := map[string]bool{"bcast": true, "bigcode": true, "scalarlg": true, "noreason": true, "unreason": true, "test": true, "longreq": true}
	// answers go where each message's top Via says: the source address, at
	// the Via's port (5060 when absent; none of them asks for rport)
	to, _ := net.ResolveUDPAddr("udp", hubSIP)
	socks := map[int]*net.UDPConn{}
	sockFor := func(port int) *net.UDPConn {
		if c := socks[port]; c != nil {
			return c
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		socks[port] = c
		return c
	}
	header := func(b []byte, names ...string) string {
		head, _, _ := strings.Cut(string(b), "\r\n\r\n")
		for _, l := range strings.Split(head, "\r\n")[1:] {
			k, v, ok := strings.Cut(l, ":")
			for _, n := range names {
				if ok && strings.EqualFold(strings.TrimSpace(k), n) {
					return strings.TrimSpace(v) // the first one
				}
			}
		}
		return ""
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dat")
		b, _ := os.ReadFile(f)
		// many of them share one branch; the hub would rightly take the
		// later ones for retransmissions of the first
		b = bytes.ReplaceAll(b, []byte("branch=z9hG4bKkdjuw"), []byte("branch=z9hG4bKkdjuw"+name))
		port := 5060
		if via := header(b, "via", "v"); via != "" {
			if host, p, _ := strings.Cut(strings.Fields(strings.SplitN(via, ";", 2)[0] + " x")[1], ":"); host != "" && p != "" {
				if n, err := strconv.Atoi(p); err == nil {
					port = n
				}
			}
		}
		c := sockFor(port)
		if _, err := c.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
		// the answer is the one with this message's Call-ID (late
		// retransmissions of earlier answers are skipped)
		cid := header(b, "call-id", "i")
		code := 0
		buf := make([]byte, 65535)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) || (cid != "" && !bytes.Contains(buf[:n], []byte(cid))) {
				continue
			}
			if code, _ = strconv.Atoi(string(buf[8:11])); code >= 200 {
				break
			}
		}
		if w, ok := want[name]; ok && code != w {
			t.Errorf("%s: answered %d, want %d", name, code, w)
		}
		if silent[name] != (code == 0) {
			t.Errorf("%s: answered %d (a request gets a final answer; responses and non-SIP none)", name, code)
		}
		t.Logf("%-10s → %d", name, code)
		// and the hub still answers
		probe := "OPTIONS sip:" + hubSIP + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";rport;branch=z9hG4bKp" + name +
			"\r\nFrom: <sip:p@127.0.0.1>;tag=p\r\nTo: <sip:" + hubSIP + ">\r\nCall-ID: probe-" + name + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		_, _ = c.WriteToUDP([]byte(probe), to)
		ok := false
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !ok {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("the hub stopped answering after %s", name)
			}
			ok = bytes.Contains(buf[:n], []byte("probe-"+name))
		}
	}
}

// sipvicious, the tool toll-fraud scanners use: svmap finds a SIP device,
// svwar cannot tell the extensions and agents that exist from those that do
// not (everything from a source that may not call gets the same answer),
// and the hub is still there afterwards.
func TestSIPVicious(t *testing.T) {
	needPeers(t, "svwar", "svmap")
	// the scanner is on 127.0.0.1, which this hub does not trust
	startHub(t, func(c *config.Config) {
		c.SIP.Allow = []string{"127.0.0.9/32"}
		c.SIP.Trunks[0].InboundFrom = []string{"127.0.0.9"}
	})
	host, port, _ := net.SplitHostPort(hubSIP)
	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(120 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("%s did not finish:\n%s", name, out.String())
		}
		return out.String()
	}
	out := run("svmap", "-p", port, host)
	t.Logf("svmap:\n%s", out)
	if !strings.Contains(out, host+":"+port) {
		t.Errorf("svmap did not find the hub (it answers OPTIONS):\n%s", out)
	}
	// the demo agents, the softphone identity and numbers a PBX would have
	dict := filepath.Join(t.TempDir(), "names.txt")
	if err := os.WriteFile(dict, []byte("agent1\nagent2\ndemo\nalice\n100\n1000\n6000\n*88600123456\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	found := regexp.MustCompile(`(?m)^\|\s*(\S+)\s*\|\s*(reqauth|noauth|weird)`)
	for _, method := range []string{"INVITE", "REGISTER", "OPTIONS"} {
		for _, src := range [][]string{{"-d", dict}, {"-e", "100-120,1000-1005"}} {
			out = run("svwar", append([]string{"-p", port, "-m", method, "-t", "0.05", "--force"}, append(src, host)...)...)
			t.Logf("svwar -m %s %s:\n%s", method, src[0], out)
			for _, m := range found.FindAllStringSubmatch(out, -1) {
				// svwar's own random probe (a 10-digit number) shows up when every
				// answer is the same; anything else would be a leak
				if len(m[1]) < 9 {
					t.Errorf("svwar -m %s told extension %q apart (%s)", method, m[1], m[2])
				}
			}
		}
	}
	waitHTTP(t, "/healthz", "ok", 5*time.Second)
	if n := metricValue(t, `split_sip_invites_rejected_total{reason="forbidden"}`); n == 0 {
		t.Error("svwar's INVITEs were not refused as forbidden")
	}
}
