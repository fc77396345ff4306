package e2e

// The client of TestDocsOnlyClient (docclient_test.go), written from
// docs/signalling.md and docs/sessions.md alone — not from split.js,
// session.js or the hub's code. Every step says which
// part of the documents it follows; whatever it needed that the documents
// did not say was a documentation bug, fixed there. It speaks the
// protocols with coder/websocket and a pion PeerConnection, as any
// non-browser integrator would, and checks what the documents promise
// strictly (frame order, exact fields), so a hub that drifts from them
// fails here.

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// dcFrame is one frame as the documents describe it: a JSON object with a
// string "type".
type dcFrame map[string]any

func (f dcFrame) str(k string) string { s, _ := f[k].(string); return s }
func (f dcFrame) num(k string) int    { n, _ := f[k].(float64); return int(n) }

// dcSocket is one WebSocket of either protocol ("one JSON object in one
// text frame", both documents).
type dcSocket struct {
	t      *testing.T
	ws     *websocket.Conn
	mu     sync.Mutex
	frames []dcFrame
	raw    []string
	more   chan struct{}
	done   chan struct{}
	cancel context.CancelFunc
}

// dcDial opens a socket; on a refused upgrade it returns the HTTP status and
// body ("Connect-time refusals").
func dcDial(t *testing.T, url string, header http.Header, subprotocols ...string) (*dcSocket, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: subprotocols})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		var body []byte
		if resp.Body != nil {
			body, _ = io.ReadAll(resp.Body)
		}
		return nil, resp.StatusCode, string(body)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	s := &dcSocket{t: t, ws: ws, more: make(chan struct{}, 1), done: make(chan struct{}), cancel: rcancel}
	ws.SetReadLimit(256 << 10)
	go func() {
		defer close(s.done)
		for {
			typ, b, err := ws.Read(rctx)
			if err != nil {
				return
			}
			if typ != websocket.MessageText {
				t.Errorf("a binary frame from the hub")
				continue
			}
			var f dcFrame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("a frame that is not a JSON object: %s", b)
				continue
			}
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.raw = append(s.raw, string(b))
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(s.close)
	return s, 101, ""
}

func (s *dcSocket) close() {
	s.cancel()
	_ = s.ws.Close(websocket.StatusNormalClosure, "")
	<-s.done
}

func (s *dcSocket) send(v any) {
	s.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ws.Write(ctx, websocket.MessageText, b); err != nil {
		s.t.Fatalf("send %s: %v", b, err)
	}
}

// count is the number of frames received so far (a cursor for waitFrom).
func (s *dcSocket) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

// waitFrom returns the first frame at index ≥ from that matches, and its
// index; it fails the test after within.
func (s *dcSocket) waitFrom(from int, within time.Duration, what string, match func(dcFrame) bool) (dcFrame, int) {
	s.t.Helper()
	deadline := time.After(within)
	for {
		s.mu.Lock()
		for i := from; i < len(s.frames); i++ {
			if match(s.frames[i]) {
				f := s.frames[i]
				s.mu.Unlock()
				return f, i
			}
		}
		s.mu.Unlock()
		select {
		case <-s.more:
		case <-s.done:
			s.t.Fatalf("socket closed while waiting for %s; frames: %s", what, s.dump(from))
		case <-deadline:
			s.t.Fatalf("no %s within %s; frames: %s", what, within, s.dump(from))
		}
	}
}

// between returns the frames at [from, to).
func (s *dcSocket) between(from, to int) []dcFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dcFrame(nil), s.frames[from:to]...)
}

func (s *dcSocket) dump(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.raw[from:] {
		if len(r) > 300 {
			r = r[:300] + "…"
		}
		out = append(out, r)
	}
	return strings.Join(out, "\n")
}

func typeIs(typ string) func(dcFrame) bool {
	return func(f dcFrame) bool { return f.str("type") == typ }
}

func forCall(typ, call string) func(dcFrame) bool {
	return func(f dcFrame) bool { return f.str("type") == typ && f.str("call") == call }
}

// barrier sends ping and waits for its pong: every frame the hub sent in
// answer to what came before is then in (frames are answered in order).
func (s *dcSocket) barrier() int {
	s.t.Helper()
	from := s.count()
	s.send(map[string]string{"type": "ping"})
	_, i := s.waitFrom(from, 10*time.Second, "pong", typeIs("pong"))
	return i
}

// dcPeer is one WebRTC end: a pion PeerConnection that sends a tone in
// PCMU ("SDP expectations": PCMU/8000, PT 0; max-bundle, rtcp-mux) and
// decodes what it receives.
type dcPeer struct {
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticSample
	mu     sync.Mutex
	pcm    []int16
	pkts   int
	stop   context.CancelFunc
	wg     sync.WaitGroup
	toneHz float64
}

func newDCPeer(t *testing.T, toneHz float64) *dcPeer {
	t.Helper()
	var m webrtc.MediaEngine
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1},
		PayloadType:        0,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	// The test runs in a namespace with loopback only (the harness's, not
	// the protocol's concern).
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&m), webrtc.WithSettingEngine(se))
	return &dcPeer{toneHz: toneHz, pc: func() *webrtc.PeerConnection {
		pc, err := api.NewPeerConnection(webrtc.Configuration{
			BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
		})
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}()}
}

// setICEServers applies hello's ice_servers "unchanged" (both documents).
func (p *dcPeer) setICEServers(t *testing.T, hello dcFrame) {
	t.Helper()
	b, _ := json.Marshal(hello["ice_servers"])
	var servers []webrtc.ICEServer
	if err := json.Unmarshal(b, &servers); err != nil {
		t.Fatalf("ice_servers is not an RTCIceServer list: %s (%v)", b, err)
	}
	if err := p.pc.SetConfiguration(webrtc.Configuration{ICEServers: servers,
		BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire}); err != nil {
		t.Fatal(err)
	}
}

// start adds the sending track and the receiver; the tone starts at once.
func (p *dcPeer) start(t *testing.T) {
	t.Helper()
	var err error
	p.track, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "audio", "docclient")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.pc.AddTrack(p.track); err != nil {
		t.Fatal(err)
	}
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.PayloadType != 0 {
				continue // telephone-event, comfort noise
			}
			p.mu.Lock()
			p.pkts++
			for _, b := range pkt.Payload {
				p.pcm = append(p.pcm, ulawDecode(b))
			}
			if len(p.pcm) > 8000*4 {
				p.pcm = append([]int16(nil), p.pcm[len(p.pcm)-8000*2:]...)
			}
			p.mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			frame := make([]byte, 160)
			for i := range frame {
				v := 8000 * math.Sin(2*math.Pi*p.toneHz*float64(n)/8000)
				frame[i] = ulawEncode(int16(v))
				n++
			}
			_ = p.track.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
		}
	}()
}

func (p *dcPeer) close() {
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
	_ = p.pc.Close()
}

// gathered returns the local description once ICE gathering is complete
// ("sending it after ICE gathering has completed is simplest").
func (p *dcPeer) gathered(t *testing.T, d webrtc.SessionDescription) string {
	t.Helper()
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ICE gathering did not complete")
	}
	return p.pc.LocalDescription().SDP
}

func (p *dcPeer) offer(t *testing.T) string {
	t.Helper()
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.gathered(t, o)
}

func (p *dcPeer) answerTo(t *testing.T, offer string) string {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatalf("the hub's offer: %v", err)
	}
	a, err := p.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.gathered(t, a)
}

func (p *dcPeer) setAnswer(t *testing.T, sdp string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatalf("the hub's answer: %v", err)
	}
}

// hears waits until the last second received carries the tone hz (and is
// not silence), and returns the packets received so far.
func (p *dcPeer) hears(t *testing.T, who string, hz float64, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	var ratio float64
	var pkts int
	for time.Now().Before(deadline) {
		p.mu.Lock()
		pkts = p.pkts
		if len(p.pcm) >= 8000 {
			ratio = toneRatio(p.pcm[len(p.pcm)-8000:], 8000, hz)
		}
		p.mu.Unlock()
		if ratio > 0.6 {
			return pkts
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no %.0f Hz tone within %s (packets %d, tone ratio %.2f)", who, hz, within, pkts, ratio)
	return 0
}

// toneRatio is the share of the signal's power at hz (Goertzel): 1 for a
// pure tone, near 0 for anything else.
func toneRatio(pcm []int16, rate int, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, v := range pcm {
		x := float64(v)
		s0 := x + c*s1 - s2
		s2, s1 = s1, s0
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - c*s1*s2
	return power / (float64(len(pcm)) / 2 * energy)
}

func ulawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int(s)
	sign := 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

func ulawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0f)<<3 + 0x84) << (int(u&0x70) >> 4)
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// mintToken is POST /v1/tokens ("Authentication", signalling.md).
func mintToken(t *testing.T, body string) (int, dcFrame) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+hubHTTP+"/v1/tokens", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var f dcFrame
	if err := json.NewDecoder(res.Body).Decode(&f); err != nil {
		t.Fatalf("POST /v1/tokens %s: %v", body, err)
	}
	return res.StatusCode, f
}

func token(t *testing.T, body string) string {
	t.Helper()
	code, f := mintToken(t, body)
	if code != 201 || f.str("token") == "" {
		t.Fatalf("POST /v1/tokens %s: %d %v", body, code, f)
	}
	return f.str("token")
}

// errorBody reads {"error":{"code","message"}}.
func errorBody(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("refusal body %q is not {\"error\":{\"code\",\"message\"}}", body)
	}
	return e.Error.Code
}

// wantKeys fails unless f has exactly the keys the document lists for it
// (optional ones may be absent).
func wantKeys(t *testing.T, f dcFrame, required, optional string) {
	t.Helper()
	allowed := map[string]bool{"type": true}
	for _, k := range strings.Fields(required + " " + optional) {
		allowed[k] = true
	}
	for _, k := range strings.Fields(required) {
		if _, ok := f[k]; !ok {
			t.Errorf("%s frame without %q: %v", f.str("type"), k, f)
		}
	}
	for k := range f {
		if !allowed[k] {
			t.Errorf("%s frame has %q, which the document does not list: %v", f.str("type"), k, f)
		}
	}
}
