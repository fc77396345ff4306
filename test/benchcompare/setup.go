package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/testutil"
)

// setupResult is one set-up rate measurement.
type setupResult struct {
	rate              int
	calls, failed     int
	cpuPerCall        float64   // ms of hub CPU per call (set-up, first packets, teardown), the idle hub's own subtracted
	toInvite, toAudio []float64 // ms: offer sent → INVITE at the UAS; offer sent → first audio at the browser
}

// measureSetup starts calls at rate per second for d with the light
// generator (rtc.Engine browsers, testutil's UAS answering): each call
// signals, completes ICE and DTLS, waits for the UAS's audio to reach the
// browser through the hub, and hangs up. It reports the hub's CPU per call
// and the latency from the offer leaving the browser to the INVITE arriving
// at the UAS (issue 12: p95 < 20 ms at 100 set-ups/s).
func measureSetup(o opts, rate int, d time.Duration) (setupResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "split-setup")
	if err != nil {
		return setupResult{}, err
	}
	defer os.RemoveAll(dir)
	var invMu sync.Mutex
	invites := map[string]time.Time{}
	uas, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:0", Codec: "PCMU", ToneHz: 1000, Record: -1,
		OnCall: func(c *testutil.SIPCall) {
			invMu.Lock()
			invites[c.Header("X-Bench-Call")] = c.InviteAt
			invMu.Unlock()
		}})
	if err != nil {
		return setupResult{}, err
	}
	defer uas.Close()
	p := testutil.PortsFrom(27000, 2*rate+64)
	cfg := testutil.HubConfig(p, filepath.Join(dir, "data"), uas.URI(), []string{"PCMU"}, []string{"PCMU"})
	cfg.WebRTC.FastPath = o.fastPath
	cfg.HTTP.Pprof = o.profile != ""
	cmd, stop, err := startSplit(o, cfg, dir)
	if err != nil {
		return setupResult{}, err
	}
	defer stop()
	if err := waitReady("http://" + cfg.HTTP.Listen); err != nil {
		return setupResult{}, err
	}
	// browser ports, reused once a call is over
	ports := make(chan int, 1000)
	for i := 0; i < cap(ports); i++ {
		ports <- 30000 + i
	}
	res := setupResult{rate: rate}
	var mu sync.Mutex
	var wg sync.WaitGroup
	call := func(i int) {
		defer wg.Done()
		port := <-ports
		defer func() { ports <- port }()
		offerAt, audioAt, err := lightCall(ctx, cfg.HTTP.Listen, port, strconv.Itoa(i))
		mu.Lock()
		defer mu.Unlock()
		res.calls++
		if err != nil {
			res.failed++
			if res.failed <= 3 {
				fmt.Fprintf(os.Stderr, "setup: call %d: %v\n", i, err)
			}
			return
		}
		res.toAudio = append(res.toAudio, ms(audioAt.Sub(offerAt)))
		invMu.Lock()
		at, ok := invites[strconv.Itoa(i)]
		invMu.Unlock()
		if ok {
			res.toInvite = append(res.toInvite, ms(at.Sub(offerAt)))
		}
	}
	// the idle hub's own CPU (tickers, GC), subtracted below: what is left
	// is what the calls cost
	i0 := treeCPU(cmd.Process.Pid)
	time.Sleep(3 * time.Second)
	idle := (treeCPU(cmd.Process.Pid) - i0) / 3
	c0, t0 := treeCPU(cmd.Process.Pid), time.Now()
	var prof sync.WaitGroup
	if o.profile != "" {
		prof.Add(1)
		go func() {
			defer prof.Done()
			profile(cfg.HTTP.Listen, d, filepath.Join(o.profile, fmt.Sprintf("setup-%d", rate)))
		}()
	}
	every := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		wg.Add(1)
		go call(i)
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * every)))
	}
	wg.Wait()
	// the hub's teardown (BYE and its response, closing the legs) is part of a call's cost
	for i := 0; i < 100 && activeCalls("http://"+cfg.HTTP.Listen) != 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	res.cpuPerCall = (treeCPU(cmd.Process.Pid) - c0 - idle*time.Since(t0).Seconds()) * 1000 / float64(max(res.calls, 1))
	prof.Wait()
	return res, nil
}

// lightCall is one short call of the light generator from ICE port port:
// offer, answer, ICE + DTLS, the first audio packet from the UAS at the
// browser, hang-up. It returns when the offer left and when audio arrived.
func lightCall(ctx context.Context, listen string, port int, id string) (offerAt, audioAt time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tok, err := testutil.MintToken(testutil.HubTokenSecret, "setup"+id)
	if err != nil {
		return offerAt, audioAt, err
	}
	ws, _, err := websocket.Dial(ctx, "ws://"+listen+"/v1/ws?"+url.Values{"token": {tok}}.Encode(), nil)
	if err != nil {
		return offerAt, audioAt, err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	if _, err := readUntil(ctx, ws, "hello"); err != nil {
		return offerAt, audioAt, err
	}
	e, err := browserEngine(port)
	if err != nil {
		return offerAt, audioAt, err
	}
	defer e.Close()
	l, offer, err := e.CreateOffer(ctx, rtc.Options{AudioPrefs: []string{"PCMU"}})
	if err != nil {
		return offerAt, audioAt, err
	}
	defer l.Close()
	audio := make(chan time.Time, 1)
	l.Audio().SetOutput(leg.WriterFunc(func([]byte) error {
		select {
		case audio <- time.Now():
		default:
		}
		return nil
	}))
	msg, _ := json.Marshal(map[string]any{"type": "offer", "call": "c1", "to": "1000", "sdp": offer,
		"headers": map[string]string{"X-Bench-Call": id}})
	offerAt = time.Now()
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return offerAt, audioAt, err
	}
	ans, err := readUntil(ctx, ws, "answer")
	if err != nil {
		return offerAt, audioAt, err
	}
	if err := l.SetAnswer(ans.SDP); err != nil {
		return offerAt, audioAt, err
	}
	// the hub's frames (ringing, answered, …) are read by a drain until the
	// socket closes; the audio is the proof the call is up
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	select {
	case audioAt = <-audio:
	case <-ctx.Done():
		return offerAt, audioAt, errors.New("no audio from the UAS through the hub")
	}
	err = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"hangup","call":"c1"}`))
	return offerAt, audioAt, err
}

func waitReady(base string) error {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
	}
	return errors.New("hub not ready")
}

// activeCalls reads split_gateway_calls_active from the hub's /metrics (-1
// when it cannot).
func activeCalls(base string) int {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := reActive.FindSubmatch(b)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

var reActive = regexp.MustCompile(`(?m)^split_calls_active (\d+)`)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pctl(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}
