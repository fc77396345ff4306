package e2e

// A client written from docs/signalling.md and docs/sessions.md alone —
// not from split.js, session.js or the hub's code. Every step says which
// part of the documents it follows; whatever it needed that the documents
// did not say was a documentation bug, fixed there. It speaks the
// protocols with coder/websocket and a pion PeerConnection, as any
// non-browser integrator would, and checks what the documents promise
// strictly (frame order, exact fields), so a hub that drifts from them
// fails here.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/split-hub/split/internal/config"
)

// --- the client -----------------------------------------------------------

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

// --- the test ---------------------------------------------------------------

// TestDocsOnlyClient runs the client above against the hub: a softphone
// call to sipp (an echoing PBX) with audio and DTMF both ways, a customer
// session at the public entry point answered by an agent client with audio
// both ways, and the documented refusals on the way: tokens of the wrong
// kind on either socket, a bad token request, another site's Origin, an
// offer to a tel: URI (error then ended, nothing else: no trying), a call
// id already in use (error, and the live call goes on), an unknown frame
// type, an unknown entry point, a second start while the session is live.
func TestDocsOnlyClient(t *testing.T) {
	needPeers(t, "sipp")
	startHub(t, func(c *config.Config) {
		c.Sessions.Demo = false
		c.Sessions.Agents = []config.Agent{{ID: "agent1", Name: "Alice", Queues: []string{"default"}}}
		c.WebRTC.ICEServers = nil // none: hello's ice_servers must still be an array
	})
	wsURL := "ws://" + hubHTTP

	softphone := token(t, `{"identity": "alice", "ttl": "10m"}`)
	agent := token(t, `{"identity": "agent1", "role": "agent"}`)

	t.Run("refusals", func(t *testing.T) {
		// signalling.md, Authentication: a bad identity is a 400.
		if code, f := mintToken(t, `{"identity": "not a SIP user"}`); code != 400 {
			t.Errorf("POST /v1/tokens with a bad identity: %d %v, want 400", code, f)
		}
		// signalling.md, Connect-time refusals.
		for _, c := range []struct {
			url    string
			header http.Header
			status int
			code   string // "" for a plain-text body
		}{
			{wsURL + "/v1/ws", nil, 401, "unauthorized"},
			{wsURL + "/v1/ws?token=" + agent, nil, 403, "forbidden"},
			{wsURL + "/v1/ws?token=" + softphone, http.Header{"Origin": {"https://shop.example"}}, 403, ""},
			// sessions.md, Transport and authentication.
			{wsURL + "/v1/sessions/ws?token=" + softphone, nil, 403, "forbidden"},
			{wsURL + "/v1/sessions/ws?entry=nowhere", nil, 404, "not_found"},
			{wsURL + "/v1/sessions/ws?token=x.y", nil, 401, "unauthorized"},
		} {
			s, status, body := dcDial(t, c.url, c.header)
			if s != nil {
				t.Errorf("%s: the upgrade was accepted, want %d", c.url, c.status)
				s.close()
				continue
			}
			if status != c.status {
				t.Errorf("%s: %d %s, want %d", c.url, status, body, c.status)
				continue
			}
			if c.code != "" {
				if got := errorBody(t, body); got != c.code {
					t.Errorf("%s: code %q, want %q", c.url, got, c.code)
				}
			}
		}
	})

	t.Run("softphone", func(t *testing.T) {
		pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
			"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
		waitUDPListener(t, 15090, 10*time.Second)

		// Transport, the sub-protocol form of the token.
		s, status, body := dcDial(t, wsURL+"/v1/ws", nil, "split.v1", "token."+softphone)
		if s == nil {
			t.Fatalf("connect: %d %s", status, body)
		}
		if p := s.ws.Subprotocol(); p != "split.v1" {
			t.Errorf("sub-protocol %q, want split.v1", p)
		}
		// hello: first, nothing before it.
		hello, i := s.waitFrom(0, 10*time.Second, "hello", func(dcFrame) bool { return true })
		if i != 0 || hello.str("type") != "hello" {
			t.Fatalf("first frame %v, want hello", hello)
		}
		wantKeys(t, hello, "identity sip_uri ice_servers server", "")
		if hello.str("identity") != "alice" || !strings.HasPrefix(hello.str("sip_uri"), "sip:alice@") {
			t.Errorf("hello: %v", hello)
		}
		if _, ok := hello["ice_servers"].([]any); !ok {
			t.Errorf("hello.ice_servers is %v, want an array (may be empty)", hello["ice_servers"])
		}

		// Errors on an open socket: unknown type, malformed JSON.
		from := s.count()
		s.send(map[string]string{"type": "frobnicate"})
		f, _ := s.waitFrom(from, 10*time.Second, "error", typeIs("error"))
		if f.str("code") != "bad_request" || f.str("message") == "" {
			t.Errorf("unknown type: %v", f)
		}

		// A refused offer (error, "to is a tel: URI"): exactly error, then
		// ended 400, and no trying or answer.
		p0 := newDCPeer(t, 440)
		defer p0.close()
		p0.start(t)
		offer := p0.offer(t)
		from = s.count()
		s.send(map[string]any{"type": "offer", "call": "c-tel", "to": "tel:+34600123456", "sdp": offer})
		_, end := s.waitFrom(from, 10*time.Second, "the refused call's end", func(f dcFrame) bool {
			return forCall("state", "c-tel")(f) && f.str("state") == "ended"
		})
		var got []string
		for _, f := range s.between(from, end+1) {
			if f.str("call") == "c-tel" {
				got = append(got, f.str("type")+" "+f.str("state")+f.str("code")+fmt.Sprint(f.num("code")))
			}
		}
		if want := []string{"error bad_request0", "state ended400"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("a refused offer got %q, want %q", got, want)
		}

		// Outgoing call: offer → answer → trying → (ringing) → active.
		p := newDCPeer(t, 440)
		defer p.close()
		p.setICEServers(t, hello)
		p.start(t)
		offer = p.offer(t)
		from = s.count()
		s.send(map[string]any{"type": "offer", "call": "c-1", "to": "1000", "sdp": offer, "headers": map[string]string{"X-Account": "42"}})
		ans, ia := s.waitFrom(from, 15*time.Second, "answer", forCall("answer", "c-1"))
		wantKeys(t, ans, "call sdp", "")
		p.setAnswer(t, ans.str("sdp"))
		active, iact := s.waitFrom(from, 30*time.Second, "active", func(f dcFrame) bool {
			return f.str("type") == "state" && f.str("call") == "c-1" && (f.str("state") == "active" || f.str("state") == "ended")
		})
		if active.str("state") != "active" || active.num("code") != 200 {
			t.Fatalf("call: %v", active)
		}
		// Call states: trying comes after the answer, states only move forward.
		order := map[string]int{"trying": 0, "ringing": 1, "early": 2, "active": 3}
		last, sawTrying := -1, false
		for k, f := range s.between(from, iact+1) {
			if f.str("call") != "c-1" || f.str("type") != "state" {
				continue
			}
			wantKeys(t, f, "call state", "code reason")
			o, ok := order[f.str("state")]
			if !ok || o <= last {
				t.Errorf("state %q after %d: states move forward only", f.str("state"), last)
			}
			last = o
			if f.str("state") == "trying" {
				sawTrying = true
				if from+k < ia {
					t.Errorf("trying before the answer")
				}
			}
		}
		if !sawTrying {
			t.Errorf("no trying before active")
		}

		// A call id already in use: error, and the live call goes on (no ended).
		from = s.count()
		s.send(map[string]any{"type": "offer", "call": "c-1", "to": "1000", "sdp": offer})
		end = s.barrier()
		var dup []string
		for _, f := range s.between(from, end) {
			if f.str("call") == "c-1" {
				dup = append(dup, f.str("type")+" "+f.str("code")+f.str("state"))
			}
		}
		if len(dup) != 1 || dup[0] != "error bad_request" {
			t.Errorf("an offer with the id of a live call got %q, want one bad_request error", dup)
		}

		// Media both ways: our tone comes back through the hub and sipp's echo.
		t.Logf("echo heard after %d packets", p.hears(t, "softphone (echo)", 440, 20*time.Second))
		// stats, every 2 s while answered.
		st, _ := s.waitFrom(iact, 10*time.Second, "stats", forCall("stats", "c-1"))
		wantKeys(t, st, "call audio_codec sip_audio_codec path sip_rtp", "video_codec")
		if rtp, _ := st["sip_rtp"].(map[string]any); rtp == nil || rtp["packets_received"] == nil {
			t.Errorf("stats: %v", st)
		}
		// DTMF to the SIP side; sipp echoes the events, which come back as dtmf.
		from = s.count()
		s.send(map[string]any{"type": "dtmf", "call": "c-1", "digits": "12#"})
		var digits []string
		for _, want := range []string{"1", "2", "#"} {
			f, i := s.waitFrom(from, 15*time.Second, "dtmf "+want, forCall("dtmf", "c-1"))
			digits = append(digits, f.str("digit"))
			from = i + 1
		}
		if strings.Join(digits, "") != "12#" {
			t.Errorf("dtmf back: %q, want 12#", digits)
		}

		// Hangup: ended 200 "Local hangup" — the call's first and only
		// ended (the refused duplicate did not end it); sipp sees the BYE.
		s.send(map[string]any{"type": "hangup", "call": "c-1"})
		ended, _ := s.waitFrom(0, 10*time.Second, "ended", func(f dcFrame) bool {
			return forCall("state", "c-1")(f) && f.str("state") == "ended"
		})
		if ended.num("code") != 200 || ended.str("reason") != "Local hangup" {
			t.Errorf("ended: %v", ended)
		}
		if code := pbx.wait(t, 20*time.Second); code != 0 {
			t.Errorf("sipp exit %d", code)
		}
		// Frames naming a call that is over: not_found.
		from = s.count()
		s.send(map[string]any{"type": "hold", "call": "c-1"})
		if f, _ := s.waitFrom(from, 10*time.Second, "error", typeIs("error")); f.str("code") != "not_found" || f.str("call") != "c-1" {
			t.Errorf("hold of an ended call: %v", f)
		}
	})

	t.Run("session", func(t *testing.T) {
		// The agent's console: hello with the agent's state, login, ready.
		ag, status, body := dcDial(t, wsURL+"/v1/sessions/ws?token="+agent, nil)
		if ag == nil {
			t.Fatalf("agent connect: %d %s", status, body)
		}
		hello, _ := ag.waitFrom(0, 10*time.Second, "hello", typeIs("hello"))
		wantKeys(t, hello, "role identity ice_servers server agent queues", "session")
		if hello.str("role") != "agent" || hello.str("identity") != "agent1" {
			t.Errorf("agent hello: %v", hello)
		}
		if _, ok := hello["ice_servers"].([]any); !ok {
			t.Errorf("hello.ice_servers is %v, want an array", hello["ice_servers"])
		}
		if a, _ := hello["agent"].(map[string]any); a == nil || a["state"] != "logged_out" {
			t.Errorf("agent hello before login: agent %v, want state logged_out", hello["agent"])
		}
		from := ag.count()
		ag.send(map[string]string{"type": "login"})
		if f, _ := ag.waitFrom(from, 10*time.Second, "agent not_ready", typeIs("agent")); f.str("state") != "not_ready" {
			t.Errorf("after login: %v", f)
		}
		from = ag.count()
		ag.send(map[string]any{"type": "ready", "ready": true})
		if f, _ := ag.waitFrom(from, 10*time.Second, "agent ready", typeIs("agent")); f.str("state") != "ready" {
			t.Errorf("after ready: %v", f)
		}

		// The customer at the public entry point.
		cu, status, body := dcDial(t, wsURL+"/v1/sessions/ws?entry=default", nil)
		if cu == nil {
			t.Fatalf("customer connect: %d %s", status, body)
		}
		chello, _ := cu.waitFrom(0, 10*time.Second, "hello", typeIs("hello"))
		wantKeys(t, chello, "role identity ice_servers server", "session")
		cust := newDCPeer(t, 697)
		defer cust.close()
		cust.setICEServers(t, chello)
		cust.start(t)
		cu.send(map[string]any{"type": "start", "sdp": cust.offer(t), "name": "Ana", "context": map[string]string{"order": "A-1042"}, "language": "es"})
		ans, _ := cu.waitFrom(0, 15*time.Second, "answer", typeIs("answer"))
		wantKeys(t, ans, "leg session sdp resume", "")
		cust.setAnswer(t, ans.str("sdp"))
		sid := ans.str("session")

		// The agent is offered the session and accepts it.
		offer, _ := ag.waitFrom(from, 30*time.Second, "offer", typeIs("offer"))
		wantKeys(t, offer, "leg session sdp customer video", "queue from ring_timeout")
		if offer.str("session") != sid {
			t.Errorf("offer for session %q, want %q", offer.str("session"), sid)
		}
		if c, _ := offer["customer"].(map[string]any); c == nil || c["name"] != "Ana" {
			t.Errorf("offer.customer: %v", offer["customer"])
		}
		agp := newDCPeer(t, 1209)
		defer agp.close()
		agp.setICEServers(t, hello)
		agp.start(t)
		from = ag.count()
		ag.send(map[string]any{"type": "accept", "leg": offer.str("leg"), "sdp": agp.answerTo(t, offer.str("sdp"))})
		if f, _ := ag.waitFrom(from, 10*time.Second, "agent busy", typeIs("agent")); f.str("state") != "busy" {
			t.Errorf("after accept: %v", f)
		}
		sf, _ := ag.waitFrom(from, 10*time.Second, "session active", func(f dcFrame) bool {
			return f.str("type") == "session" && f.str("state") == "active"
		})
		if c, _ := sf["customer"].(map[string]any); sf.str("session") != sid || c == nil || c["name"] != "Ana" {
			t.Errorf("agent's session frame: %v", sf)
		}
		cs, _ := cu.waitFrom(0, 10*time.Second, "session active", func(f dcFrame) bool {
			return f.str("type") == "session" && f.str("state") == "active"
		})
		if a, _ := cs["agent"].(map[string]any); a == nil || a["name"] != "Alice" {
			t.Errorf("customer's session frame: %v", cs)
		}

		// Media both ways.
		n1 := agp.hears(t, "agent", 697, 20*time.Second)
		n2 := cust.hears(t, "customer", 1209, 20*time.Second)
		t.Logf("tones heard: agent after %d packets, customer after %d", n1, n2)

		// A second start while the session is live: conflict.
		from = cu.count()
		cu.send(map[string]any{"type": "start", "sdp": ans.str("sdp")})
		if f, _ := cu.waitFrom(from, 10*time.Second, "error", typeIs("error")); f.str("code") != "conflict" {
			t.Errorf("a second start: %v, want conflict", f)
		}
		// A frame of another role: bad_request.
		from = cu.count()
		cu.send(map[string]string{"type": "login"})
		if f, _ := cu.waitFrom(from, 10*time.Second, "error", typeIs("error")); f.str("code") != "bad_request" {
			t.Errorf("a customer's login: %v, want bad_request", f)
		}

		// The customer hangs up: the session ends for both.
		from = cu.count()
		afrom := ag.count()
		cu.send(map[string]string{"type": "hangup"})
		ce, _ := cu.waitFrom(from, 10*time.Second, "ended", typeIs("ended"))
		wantKeys(t, ce, "session leg code reason", "")
		if ce.num("code") != 200 || ce.str("reason") != "Customer hung up" {
			t.Errorf("customer's ended: %v", ce)
		}
		ae, _ := ag.waitFrom(afrom, 10*time.Second, "ended", typeIs("ended"))
		if ae.str("leg") != offer.str("leg") || ae.str("session") != sid {
			t.Errorf("agent's ended: %v (leg %s)", ae, offer.str("leg"))
		}
	})
}

// waitUDPListener waits until something is bound to UDP port on this
// network namespace (sipp is ready for its INVITE).
func waitUDPListener(t *testing.T, port int, within time.Duration) {
	t.Helper()
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/net/udp")
		if err == nil && bytes.Contains(b, []byte(want)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on UDP %d", port)
}
