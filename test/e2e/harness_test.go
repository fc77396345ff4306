// Package e2e runs SPLIT against real peers — sipp, baresip, headless
// Chromium driven by Playwright, headless Firefox ESR driven by
// puppeteer-core over WebDriver BiDi (firefox.mjs) — inside a network
// namespace that has only loopback, so no packet can leave the machine.
// Skipped under -short.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/split-hub/split/internal/app"
	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

const (
	hubHTTP   = "127.0.0.1:18080"
	hubSIP    = "127.0.0.1:15060"
	hubICE    = 17882
	pbxAddr   = "127.0.0.1:15090" // sipp or baresip acting as the PBX / phone
	pbxMedia  = 16000
	apiKey    = "e2e-api-key-0123456789"
	tokSecret = "e2e-token-secret-0123456789"
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testutil.MainInNetns(m))
}

func needPeers(t *testing.T, bins ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real peers; skipped with -short")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s is not installed: run `make deps` (the test must not silently skip)", b)
		}
	}
}

// hub is an in-process SPLIT with a trunk "pbx" pointing at pbxAddr.
type hub struct {
	t      *testing.T
	cfg    *config.Config
	signer *auth.Signer
	logs   *syncBuffer
	drain  context.CancelFunc // the first signal: drain, then stop
	done   chan error         // app.Run's result, once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startHub(t *testing.T, mutate func(*config.Config)) *hub {
	t.Helper()
	cfg := e2eConfig(t, mutate)
	h := &hub{t: t, cfg: cfg, logs: &syncBuffer{}}
	var err error
	if h.signer, err = auth.NewSigner([]byte(tokSecret)); err != nil {
		t.Fatal(err)
	}
	return h.run()
}

// e2eConfig is the tests' hub configuration (trunk "pbx" at pbxAddr, the
// fixed ports below) changed by mutate, validated.
func e2eConfig(t *testing.T, mutate func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Listen = hubHTTP
	cfg.SIP.ListenUDP = hubSIP
	cfg.SIP.ListenTCP = hubSIP
	cfg.SIP.Allow = []string{"127.0.0.1/32"}
	cfg.SIP.Trunks = []config.Trunk{{Name: "pbx", URI: "sip:" + pbxAddr, Transport: "udp", Codecs: []string{"PCMU", "PCMA"}, Video: true,
		InboundFrom: []string{"127.0.0.1"}}}
	cfg.SIP.DefaultTo = "pbx"
	cfg.WebRTC.UDPPort = hubICE
	cfg.RTP.PortMin, cfg.RTP.PortMax = 30000, 30200
	cfg.DataDir = t.TempDir()
	cfg.API.Key = apiKey
	cfg.Auth.TokenSecret = tokSecret
	cfg.Log.Level = "debug"
	cfg.DrainTimeout = 2 * time.Second
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run starts the in-process hub and waits until it is ready.
func (h *hub) run() *hub {
	t, cfg := h.t, h.cfg
	t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h.drain, h.done = cancel, done
	go func() { done <- app.Run(ctx, context.Background(), cfg, log, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err, ok := <-done:
			if ok && err != nil {
				t.Errorf("hub stopped with error: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("hub did not stop within 15 s")
		}
		if t.Failed() {
			p := filepath.Join(artifacts(t), "hub-"+strings.ReplaceAll(cfg.HTTP.Listen, ":", "_")+".log")
			_ = os.WriteFile(p, []byte(h.logs.String()), 0o644)
			t.Logf("hub log: %s", p)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + cfg.HTTP.Listen + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("hub failed to start: %v\n%s", err, h.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h
}

// pageURL is the softphone page logged in as identity.
func (h *hub) pageURL(identity string) string {
	tok, _, err := h.signer.Mint(auth.Claims{Identity: identity, Role: auth.RoleSoftphone}, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return "http://" + hubHTTP + "/#token=" + tok
}

// waitMetric polls /metrics until line appears.
func (h *hub) waitMetric(line string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + h.cfg.HTTP.Listen + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(b), line) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("metric %q not seen within %s", line, within)
}

func artifacts(t *testing.T) string {
	dir := filepath.Join("runs", strings.ReplaceAll(t.Name(), "/", "_"))
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

// browserResult is what browser.mjs prints.
type browserResult struct {
	States []struct {
		State  string `json:"state"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"states"`
	Ended *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"ended"`
	Errors       []string       `json:"errors"`
	Version      string         `json:"browserVersion"`
	DTMFReceived string         `json:"dtmfReceived"`
	AudioPeakHz  *float64       `json:"audioPeakHz"`
	EarlyStats   *browserStats  `json:"earlyStats"`
	Stats        *browserStats  `json:"stats"`
	Raw          map[string]any `json:"-"`
}

type browserStats struct {
	Audio struct {
		Codec           string  `json:"codec"`
		PacketsReceived int     `json:"packetsReceived"`
		PacketsSent     int     `json:"packetsSent"`
		PacketsLost     int     `json:"packetsLost"`
		Jitter          float64 `json:"jitter"`
	} `json:"audio"`
	Video struct {
		Codec           string `json:"codec"`
		PacketsReceived int    `json:"packetsReceived"`
		FramesDecoded   int    `json:"framesDecoded"`
		FramesEncoded   int    `json:"framesEncoded"`
		FrameWidth      int    `json:"frameWidth"`
	} `json:"video"`
	SIP *struct {
		Path   string `json:"path"`
		SIPRTP struct {
			PacketsSent     int `json:"packets_sent"`
			PacketsReceived int `json:"packets_received"`
		} `json:"sip_rtp"`
	} `json:"sip"`
}

func (r *browserResult) sawState(s string) bool {
	for _, x := range r.States {
		if x.State == s {
			return true
		}
	}
	return false
}

// browser runs browser.mjs with opts; it returns when the script ends.
type browser struct {
	done chan struct{}
	res  browserResult
	err  error
	out  syncBuffer
}

// ready waits until the driver has loaded the page, connected and hooked its recorders.
func (br *browser) ready(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a loaded 2-core machine starts Chromium in 30 s and more
	for !strings.Contains(br.out.String(), "READY") {
		select {
		case <-br.done:
			t.Fatalf("browser ended before it was ready: %v\n%s", br.err, br.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser not ready:\n%s", br.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startBrowser runs browser.mjs in Chromium, or in Firefox ESR with
// opts["browser"] = "firefox".
func startBrowser(t *testing.T, opts map[string]any) *browser {
	t.Helper()
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		t.Fatal("playwright-core is not installed in test/e2e: run `make deps`")
	}
	opts["screenshot"], _ = filepath.Abs(filepath.Join(artifacts(t), "page.png"))
	b, _ := json.Marshal(opts)
	br := &browser{done: make(chan struct{})}
	cmd := exec.Command("node", "browser.mjs", string(b))
	cmd.Stdout = &br.out
	cmd.Stderr = &br.out
	if opts["browser"] == "firefox" {
		firefoxEnv(t, cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(br.done)
		br.err = cmd.Wait()
		sc := bufio.NewScanner(strings.NewReader(br.out.String()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
				if err := json.Unmarshal([]byte(line), &br.res); err != nil {
					br.err = err
				}
				return
			}
		}
		if br.err == nil {
			br.err = errors.New("browser.mjs printed no RESULT")
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-br.done
	})
	return br
}

func (br *browser) wait(t *testing.T, within time.Duration) *browserResult {
	t.Helper()
	select {
	case <-br.done:
	case <-time.After(within):
		t.Fatalf("browser did not finish within %s:\n%s", within, br.out.String())
	}
	if br.err != nil {
		t.Fatalf("browser: %v\n%s", br.err, br.out.String())
	}
	peak := -1.0
	if br.res.AudioPeakHz != nil {
		peak = *br.res.AudioPeakHz
	}
	if t.Failed() || len(br.res.States) == 0 {
		t.Logf("browser output:\n%s", tail(br.out.String(), 4000))
	}
	t.Logf("browser: states=%v dtmf=%q peak=%.0f Hz errors=%v", br.res.States, br.res.DTMFReceived, peak, br.res.Errors)
	return &br.res
}

// sipp runs one sipp process; Wait returns its exit code (0: every call succeeded).
type sipp struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func startSipp(t *testing.T, args ...string) *sipp {
	t.Helper()
	base := []string{"-nostdin", "-trace_err", "-trace_msg", "-bind_local"}
	s := &sipp{done: make(chan struct{})}
	dir := artifacts(t)
	s.cmd = exec.Command("sipp", append(base, args...)...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	for i, a := range s.cmd.Args {
		if strings.HasSuffix(a, ".xml") && !filepath.IsAbs(a) {
			abs, _ := filepath.Abs(a)
			s.cmd.Args[i] = abs
		}
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		s.err = s.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	})
	return s
}

func (s *sipp) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("sipp did not finish within %s", within)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		code = ee.ExitCode()
	} else if s.err != nil {
		t.Fatalf("sipp: %v", s.err)
	}
	if code != 0 {
		t.Logf("sipp exit %d; output:\n%s", code, tail(s.out.String(), 3000))
	}
	return code
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// capture counts UDP packets matching a BPF filter on lo, seen by tshark —
// an observer independent of both the hub and the peer.
type capture struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

func startCapture(t *testing.T, filter string) *capture {
	t.Helper()
	c := &capture{done: make(chan struct{})}
	c.cmd = exec.Command("tshark", "-i", "lo", "-n", "-l", "-f", filter, "-T", "fields", "-e", "frame.number")
	c.cmd.Stdout = &c.out
	var stderr bytes.Buffer
	c.cmd.Stderr = &stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		_ = c.cmd.Wait()
	}()
	// tshark prints "Capturing on 'Loopback: lo'" once it listens.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "Capturing on") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *capture) stop() int {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return strings.Count(c.out.String(), "\n")
}

// exited reports whether sipp has already ended.
func (s *sipp) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop drains and stops the hub (its first signal) and waits until it has.
func (h *hub) stop() {
	h.t.Helper()
	h.drain()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("hub stopped with error: %v", err)
		}
		h.done <- nil // for the cleanup's wait
	case <-time.After(15 * time.Second):
		h.t.Fatal("hub did not stop within 15 s")
	}
}
