package rtc

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/sdp"
)

func testEngine(t *testing.T, port int) *Engine {
	t.Helper()
	cfg := config.Default()
	cfg.WebRTC.UDPPort = port
	e, err := NewEngine(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// browserPeer is a plain pion PeerConnection standing in for a browser.
func browserPeer(t *testing.T, video bool) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	// Like Chromium: Opus first, then G.711.
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	if video {
		// recvonly: pion would otherwise attach a VP8 placeholder track that cannot bind to H.264.
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	return pc, tr
}

func offerFrom(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

func TestAcceptOfferPrefersConfiguredCodecAndConnects(t *testing.T) {
	e := testEngine(t, 27882)
	pc, local := browserPeer(t, true)
	offer := offerFrom(t, pc)
	leg, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU", "opus"}, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	s, err := sdp.Parse([]byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	if a := s.First("audio"); a == nil || len(a.Codecs) == 0 || !a.Codecs[0].Is("PCMU") {
		t.Fatalf("answer must put PCMU first: %+v", a)
	}
	v := s.First("video")
	if v == nil {
		t.Fatal("video refused")
	}
	for _, c := range v.Codecs {
		if !c.Is("H264") && !c.Is("rtx") {
			t.Errorf("video answer offers %s; only the forwarded codec (H264) belongs there", c.Name)
		}
	}
	if !strings.Contains(answer, "127.0.0.1 27882 typ host") {
		t.Fatalf("answer lacks the mux host candidate:\n%s", answer)
	}

	got := make(chan []byte, 100)
	var recvd atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if recvd.Add(1) == 1 {
				got <- append([]byte(nil), buf[:n]...)
			}
		}
	})
	var fromBrowser atomic.Int64
	leg.Audio().SetOutput(writerFunc(func(p []byte) error { fromBrowser.Add(1); return nil }))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("%v\n%s", err, answer)
	}
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	deadline := time.After(10 * time.Second)
	for i := 0; recvd.Load() < 10 || fromBrowser.Load() < 10; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		_ = leg.Audio().In.WriteRTP(pkt)
		_, _ = local.Write(pkt)
		select {
		case <-deadline:
			t.Fatalf("media: hub→browser %d, browser→hub %d", recvd.Load(), fromBrowser.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
	first := <-got
	if first[1]&0x7f != 0 {
		t.Errorf("hub sent payload type %d, want 0 (PCMU)", first[1]&0x7f)
	}
	if a, _ := leg.RecvCodecs(); !strings.EqualFold(a, "PCMU") {
		t.Errorf("browser codec seen by hub: %q", a)
	}
}

func TestAcceptOfferRejectsGarbageAndNoCommonCodec(t *testing.T) {
	e := testEngine(t, 27883)
	if _, _, err := e.AcceptOffer(context.Background(), "not sdp", Options{AudioPrefs: []string{"PCMU"}}); err == nil {
		t.Fatal("garbage accepted")
	}
	pc, _ := browserPeer(t, false)
	offer := offerFrom(t, pc)
	if _, _, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"G729"}}); err != ErrNoAudio {
		t.Fatalf("want ErrNoAudio, got %v", err)
	}
}

type writerFunc func([]byte) error

func (f writerFunc) WriteRTP(p []byte) error { return f(p) }

// NAT 1:1: the configured public address replaces the bound one in the
// hub's host candidates.
func TestPublicIPRewritesCandidates(t *testing.T) {
	cfg := config.Default()
	cfg.WebRTC.UDPPort = 27884
	cfg.WebRTC.PublicIPs = []string{"203.0.113.7"}
	cfg.WebRTC.ICEServers = []config.ICEServer{{URLs: []string{"turn:turn.example.com:3478"}, Username: "u", Credential: "c"}}
	e, err := NewEngine(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pc, _ := browserPeer(t, false)
	leg, answer, err := e.AcceptOffer(context.Background(), offerFrom(t, pc), Options{AudioPrefs: []string{"PCMU"}})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	if !strings.Contains(answer, "203.0.113.7 27884 typ host") || strings.Contains(answer, "127.0.0.1 27884") {
		t.Fatalf("candidates not rewritten to the public IP:\n%s", answer)
	}
	if s := e.ICEServers(); len(s) != 1 || s[0].Username != "u" || s[0].URLs[0] != "turn:turn.example.com:3478" {
		t.Fatalf("ICE servers for browsers: %+v", s)
	}
}

// ICE-TCP: with webrtc.tcp_port set, a peer that may only use TCP connects
// through the hub's passive TCP candidate.
func TestICETCP(t *testing.T) {
	cfg := config.Default()
	cfg.WebRTC.UDPPort = 27885
	cfg.WebRTC.TCPPort = 27886
	e, err := NewEngine(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	leg, answer, err := e.AcceptOffer(context.Background(), offerFrom(t, pc), Options{AudioPrefs: []string{"PCMU", "opus"}})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	if !strings.Contains(answer, "tcp") || !strings.Contains(answer, "27886") {
		t.Fatalf("no TCP candidate on 27886 in the answer:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("no ICE-TCP connection within 10 s")
	}
}
