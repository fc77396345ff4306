package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/testutil"
)

// measureSplitLight drives the hub with a generator as light as the one
// rtpengine and the floor get: the "browsers" are the hub's own rtc.Engine
// (ICE, DTLS-SRTP, and the media fast path once audio flows) speaking the
// signalling protocol, the PBX is testutil's SIP UAS. splitload's pion
// PeerConnections cost about twice the hub's CPU on the same cores; this
// generator costs about what the hub does.
func measureSplitLight(o opts, n int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "split-light")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	uas, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:0", Codec: "PCMU", ToneHz: 1000, Record: -1})
	if err != nil {
		return result{}, err
	}
	defer uas.Close()
	p := testutil.PortsFrom(27000, n+16)
	cfg := testutil.HubConfig(p, filepath.Join(dir, "data"), uas.URI(), []string{"PCMU"}, []string{"PCMU"})
	cfg.WebRTC.FastPath = o.fastPath
	cfg.HTTP.Pprof = o.profile != ""
	cmd, stop, err := startSplit(o, cfg, dir)
	if err != nil {
		return result{}, err
	}
	defer stop()
	if err := waitReady("http://" + cfg.HTTP.Listen); err != nil {
		return result{}, err
	}
	rss0 := treeRSS(cmd.Process.Pid)

	// one Engine (one ICE socket) per browser: a browser's PeerConnection
	// has a port of its own, and the hub's ICE mux tells legs apart by the
	// remote address
	engine := func(i int) (*rtc.Engine, error) { return browserEngine(28000 + i) }

	type browser struct {
		ws  *websocket.Conn
		leg *rtc.Leg
		e   *rtc.Engine
	}
	var got, gaps atomic.Int64
	var browsers []*browser
	defer func() {
		for _, b := range browsers {
			_ = b.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"hangup","call":"c1"}`))
			b.ws.CloseNow()
			b.leg.Close()
			b.e.Close()
		}
	}()
	for i := 0; i < n; i++ {
		tok, err := testutil.MintToken(testutil.HubTokenSecret, "light"+strconv.Itoa(i))
		if err != nil {
			return result{}, err
		}
		ws, _, err := websocket.Dial(ctx, "ws://"+cfg.HTTP.Listen+"/v1/ws?"+url.Values{"token": {tok}}.Encode(), nil)
		if err != nil {
			return result{}, err
		}
		ws.SetReadLimit(1 << 20)
		if _, err := readUntil(ctx, ws, "hello"); err != nil {
			return result{}, err
		}
		ce, err := engine(i)
		if err != nil {
			return result{}, err
		}
		l, offer, err := ce.CreateOffer(ctx, rtc.Options{AudioPrefs: []string{"PCMU"}})
		if err != nil {
			ce.Close()
			return result{}, err
		}
		browsers = append(browsers, &browser{ws: ws, leg: l, e: ce})
		msg, _ := json.Marshal(map[string]any{"type": "offer", "call": "c1", "to": "1000", "sdp": offer})
		if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
			return result{}, err
		}
		ans, err := readUntil(ctx, ws, "answer")
		if err != nil {
			return result{}, err
		}
		if err := l.SetAnswer(ans.SDP); err != nil {
			return result{}, err
		}
		last := -1
		l.Audio().SetOutput(leg.WriterFunc(func(p []byte) error {
			got.Add(1)
			if len(p) >= 12 {
				s := int(p[2])<<8 | int(p[3])
				if d := (s - last) & 0xffff; last >= 0 && d > 1 && d < 0x8000 {
					gaps.Add(int64(d - 1))
				}
				last = s
			}
			return nil
		}))
		go func() { // drain the hub's frames until the socket closes
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	// the browsers send 20 ms PCMU
	done := make(chan struct{})
	paced := make(chan struct{})
	var sent atomic.Int64
	go func() {
		defer close(paced)
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		for i := range pkt[12:] {
			pkt[12+i] = 0xff
		}
		seqs := make([]int, len(browsers))
		spread(len(browsers), done, func(i int) {
			seq := seqs[i]
			seqs[i]++
			pkt[2], pkt[3] = byte(seq>>8), byte(seq)
			ts := uint32(seq * 160)
			pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
			if browsers[i].leg.Audio().In.WriteRTP(pkt) == nil {
				sent.Add(1)
			}
		})
	}()
	time.Sleep(3 * time.Second) // ICE, DTLS, the fast path's takeover
	atUAS := func() (r, lost, sent int64) {
		for _, c := range uas.Calls() {
			st := c.Stats()
			r += int64(st.PacketsReceived)
			lost += st.Lost
			sent += int64(st.PacketsSent)
		}
		return r, lost, sent
	}
	s0, g0, gap0 := sent.Load(), got.Load(), gaps.Load()
	u0, ul0, us0 := atUAS()
	c0, t0 := treeCPU(cmd.Process.Pid), time.Now()
	if o.profile != "" {
		profile(cfg.HTTP.Listen, o.duration, filepath.Join(o.profile, fmt.Sprintf("split-%d", n)))
	} else {
		time.Sleep(o.duration)
	}
	c1, dt := treeCPU(cmd.Process.Pid), time.Since(t0).Seconds()
	s1, g1, gap1 := sent.Load(), got.Load(), gaps.Load()
	u1, ul1, us1 := atUAS()
	rss1 := treeRSS(cmd.Process.Pid)
	close(done)
	<-paced
	r := result{msPerUnit: (c1 - c0) * 1000 / (float64(n) * dt)}
	if rss1 > rss0 {
		r.rssPer = float64(rss1-rss0) / 1024 / float64(n)
	}
	// lost: sequence gaps seen by the UAS, and toward the browsers what the
	// UAS sent and they did not get (the hub renumbers what it sends, so a
	// packet it dropped leaves no gap there); packets in flight at the
	// window's edges count at most a few per call
	toBrowsers := max(0, (us1-us0)-(g1-g0)-int64(n))
	if pk := (u1 - u0) + (us1 - us0); pk > 0 {
		r.loss = float64((ul1-ul0)+(gap1-gap0)+toBrowsers) / float64(pk)
	}
	ended := 0
	for _, c := range uas.Calls() {
		select {
		case <-c.Done():
			ended++
		default:
		}
	}
	if ended > 0 {
		return r, fmt.Errorf("%d of %d calls ended during the measurement (BYE from the hub: %v)", ended, n, byes(uas))
	}
	fs := fmt.Sprintf("calls at the UAS %d; window: browsers sent %d, UAS got %d (lost %d); UAS sent %d, browsers got %d (gaps %d)",
		len(uas.Calls()), s1-s0, u1-u0, ul1-ul0, us1-us0, g1-g0, gap1-gap0)
	r.note = fs
	return r, nil
}

func byes(uas *testutil.SIPUAS) int {
	b := 0
	for _, c := range uas.Calls() {
		if c.ByeReceived() {
			b++
		}
	}
	return b
}

// browserEngine is a light generator's browser: the hub's own rtc.Engine
// on its own ICE port, audio only.
func browserEngine(port int) (*rtc.Engine, error) {
	c := config.Default()
	c.WebRTC.UDPPort, c.WebRTC.BindIP, c.WebRTC.Video = port, "127.0.0.1", false
	return rtc.NewEngine(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// profile fetches the hub's CPU profile over d, then its heap profile, into
// prefix.cpu.pprof and prefix.heap.pprof (go tool pprof reads them).
func profile(listen string, d time.Duration, prefix string) {
	get := func(path, file string, timeout time.Duration) {
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
		res, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer res.Body.Close()
		if b, err := io.ReadAll(res.Body); err == nil && res.StatusCode == 200 {
			_ = os.MkdirAll(filepath.Dir(file), 0o755)
			_ = os.WriteFile(file, b, 0o644)
		}
	}
	get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), prefix+".cpu.pprof", d+30*time.Second)
	get("/debug/pprof/heap", prefix+".heap.pprof", 30*time.Second)
}

type frame struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

func readUntil(ctx context.Context, ws *websocket.Conn, typ string) (frame, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return frame{}, fmt.Errorf("waiting for %s: %w", typ, err)
		}
		var f frame
		if json.Unmarshal(b, &f) == nil && f.Type == typ {
			return f, nil
		}
		if f.Type == "error" {
			return frame{}, fmt.Errorf("waiting for %s: %s", typ, b)
		}
	}
}
