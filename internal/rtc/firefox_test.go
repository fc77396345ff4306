package rtc

import (
	"context"
	"encoding/binary"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/sdp"
)

// Firefox's payload type numbers (Firefox 153 ESR, testdata/firefox153_offer.sdp).
var (
	ffOpus = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "maxplaybackrate=48000;stereo=1;useinbandfec=1"}, PayloadType: 109}
	ffTE   = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-15"}, PayloadType: 101}
	ffVP8  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, SDPFmtpLine: "max-fs=12288;max-fr=60", RTCPFeedback: videoFB}, PayloadType: 120}
)

// ptOf returns the payload type that an SDP's rtpmap gives codec name in
// its first m-line of kind.
func ptOf(t *testing.T, body, kind, name string) int {
	t.Helper()
	s, err := sdp.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Media {
		if m.Kind != kind {
			continue
		}
		if c, ok := m.Find(name, 0); ok {
			return int(c.PT)
		}
		return -1
	}
	return -1
}

// TestAnswerKeepsFirefoxNumbersAndBundleOnlyVideo: Firefox's real offer
// (Opus 109, telephone-event 101, video m-line "port 0 + a=bundle-only"
// under max-bundle) is answered with Firefox's numbers and with active video.
func TestAnswerKeepsFirefoxNumbersAndBundleOnlyVideo(t *testing.T) {
	offer, err := os.ReadFile("testdata/firefox153_offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	e := testEngine(t, 27887)
	l, answer, err := e.AcceptOffer(context.Background(), string(offer), Options{AudioPrefs: []string{"opus", "PCMU"}, Video: true, VideoCodecs: []string{"H264", "VP8"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := sdp.Parse([]byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	a := s.First("audio")
	if a == nil || len(a.Codecs) == 0 || a.Codecs[0].PT != 109 || !a.Codecs[0].Is("opus") {
		t.Fatalf("audio answer must put Firefox's Opus 109 first:\n%s", answer)
	}
	if pt := ptOf(t, answer, "audio", "telephone-event"); pt != 101 {
		t.Errorf("telephone-event answered as %d, Firefox offered 101:\n%s", pt, answer)
	}
	for _, c := range a.Codecs {
		if oc, ok := map[string]uint8{"opus": 109, "PCMU": 0, "PCMA": 8, "telephone-event": 101}[c.Name]; !ok || oc != c.PT {
			t.Errorf("answer has %s as %d; the offer's number is %d", c.Name, c.PT, oc)
		}
	}
	v := s.First("video")
	if v == nil {
		t.Fatalf("video answered rejected:\n%s", answer)
	}
	if v.Direction != sdp.SendRecv || len(v.Codecs) != 1 || v.Codecs[0].PT != 120 || !v.Codecs[0].Is("VP8") {
		t.Fatalf("video must be answered sendrecv with Firefox's VP8 120, got %s %+v", v.Direction, v.Codecs)
	}
	if l.Video() == nil || l.Audio().Send().PT != 109 || l.Video().Send().PT != 120 {
		t.Fatalf("leg send formats: audio %+v video %v", l.Audio().Send(), l.Video())
	}
	if r := l.Refused(); len(r) != 0 {
		t.Errorf("nothing was refused, Refused says %+v", r)
	}
}

// firefoxLikePeer is a pion PeerConnection with Firefox's payload type
// numbers (Opus 109, telephone-event 101, VP8 120), sending audio and video.
func firefoxLikePeer(t *testing.T, video bool) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, *webrtc.TrackLocalStaticRTP) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{ffOpus, ffTE} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.RegisterCodec(ffVP8, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	at, err := webrtc.NewTrackLocalStaticRTP(ffOpus.RTPCodecCapability, "a", "ff")
	if err != nil {
		t.Fatal(err)
	}
	vt, err := webrtc.NewTrackLocalStaticRTP(ffVP8.RTPCodecCapability, "v", "ff")
	if err != nil {
		t.Fatal(err)
	}
	tracks := []webrtc.TrackLocal{at}
	if video {
		tracks = append(tracks, vt)
	}
	for _, tr := range tracks {
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	return pc, at, vt
}

// bundleOnly rewrites every m-line after the first as Firefox writes them
// under max-bundle: port 0 and a=bundle-only.
func bundleOnly(offer string) string {
	lines := strings.Split(offer, "\r\n")
	n := 0
	mline := regexp.MustCompile(`^m=(\w+) \d+ `)
	for i, l := range lines {
		if mline.MatchString(l) {
			n++
			if n > 1 {
				lines[i] = mline.ReplaceAllString(l, "m=$1 0 ")
				lines[i] += "\r\na=bundle-only"
			}
		}
	}
	return strings.Join(lines, "\r\n")
}

// TestFirefoxNumberedPeerGetsMediaBothWays: a peer that only knows Opus as
// 109 and VP8 as 120, with its video m-line bundle-only, receives the hub's
// audio and video under its own numbers, and the hub receives its audio
// and video.
func TestFirefoxNumberedPeerGetsMediaBothWays(t *testing.T) {
	e := testEngine(t, 27888)
	pc, at, vt := firefoxLikePeer(t, true)
	offer := bundleOnly(offerFrom(t, pc))
	if !strings.Contains(offer, "m=video 0 ") || !strings.Contains(offer, "a=bundle-only") {
		t.Fatalf("test set-up: the offer is not bundle-only:\n%s", offer)
	}
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"opus"}, Video: true, VideoCodecs: []string{"VP8"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var audioIn, videoIn, badPT atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			switch pt := buf[1] & 0x7f; {
			case tr.Kind() == webrtc.RTPCodecTypeAudio && pt == 109:
				audioIn.Add(1)
			case tr.Kind() == webrtc.RTPCodecTypeVideo && pt == 120:
				videoIn.Add(1)
			default:
				badPT.Add(1)
			}
		}
	})
	var hubAudio, hubVideo atomic.Int64
	l.Audio().SetOutput(writerFunc(func(p []byte) error { hubAudio.Add(1); return nil }))
	if l.Video() == nil {
		t.Fatalf("the hub dropped the bundle-only video:\n%s", answer)
	}
	l.Video().SetOutput(writerFunc(func(p []byte) error { hubVideo.Add(1); return nil }))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("%v\n%s", err, answer)
	}
	apkt := make([]byte, 12+40)
	apkt[0] = 0x80
	vpkt := make([]byte, 12+1+40)
	vpkt[0], vpkt[12] = 0x80, 0x10 // VP8 payload descriptor: start of partition
	deadline := time.After(15 * time.Second)
	for i := 0; audioIn.Load() < 10 || videoIn.Load() < 10 || hubAudio.Load() < 10 || hubVideo.Load() < 10; i++ {
		for _, p := range [][]byte{apkt, vpkt} {
			binary.BigEndian.PutUint16(p[2:], uint16(i))
			binary.BigEndian.PutUint32(p[4:], uint32(i*960))
		}
		vpkt[1] = 0x80 // marker: one packet per frame
		_ = l.Audio().In.WriteRTP(apkt)
		_ = l.Video().In.WriteRTP(vpkt)
		_, _ = at.Write(apkt)
		_, _ = vt.Write(vpkt)
		select {
		case <-deadline:
			t.Fatalf("media after 15 s: peer got audio %d video %d (other PTs %d); hub got audio %d video %d\n%s",
				audioIn.Load(), videoIn.Load(), badPT.Load(), hubAudio.Load(), hubVideo.Load(), answer)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if badPT.Load() != 0 {
		t.Errorf("%d packets reached the peer under payload types it never offered", badPT.Load())
	}
	if a, v := l.RecvCodecs(); !strings.EqualFold(a, "opus") || !strings.EqualFold(v, "VP8") {
		t.Errorf("hub saw %q/%q from the peer", a, v)
	}
}

// TestAnswerWithoutOfferedVideoCodecGoesOnWithAudio: Firefox (no H.264)
// answers the hub's H.264-only offer with the video m-line rejected; the
// answer is accepted, the leg is audio-only, and Refused says why.
func TestAnswerWithoutOfferedVideoCodecGoesOnWithAudio(t *testing.T) {
	answer, err := os.ReadFile("testdata/firefox153_answer_to_h264_offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	e := testEngine(t, 27889)
	l, _, err := e.CreateOffer(context.Background(), Options{AudioPrefs: []string{"opus", "PCMU"}, Video: true, VideoCodecs: []string{"H264"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Video() == nil {
		t.Fatal("test set-up: the offer has no video")
	}
	if err := l.SetAnswer(string(answer)); err != nil {
		t.Fatalf("the answer without H.264 was refused: %v", err)
	}
	if l.Video() != nil {
		t.Error("the leg still has video the browser refused")
	}
	r := l.Refused()
	if len(r) != 1 || r[0].Kind != "video" || !strings.Contains(r[0].Reason, "H264") {
		t.Fatalf("Refused = %+v, want the video without H264", r)
	}
	if a, _ := l.SendCodecs(); !strings.EqualFold(a, "opus") {
		t.Errorf("audio toward the browser: %q", a)
	}
}

// TestAnswerWithoutOfferedVideoCodecCarriesAudio: a real peer without
// H.264 answers an H.264-only offer; audio flows both ways.
func TestAnswerWithoutOfferedVideoCodecCarriesAudio(t *testing.T) {
	e := testEngine(t, 27890)
	l, offer, err := e.CreateOffer(context.Background(), Options{AudioPrefs: []string{"opus"}, Video: true, VideoCodecs: []string{"H264"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pc, at, _ := firefoxLikePeer(t, false)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := l.SetAnswer(pc.LocalDescription().SDP); err != nil {
		t.Fatalf("%v\n%s", err, pc.LocalDescription().SDP)
	}
	if l.Video() != nil || len(l.Refused()) != 1 {
		t.Fatalf("video %v, refused %+v", l.Video(), l.Refused())
	}
	var peerAudio, hubAudio atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				peerAudio.Add(1)
			}
		}
	})
	l.Audio().SetOutput(writerFunc(func(p []byte) error { hubAudio.Add(1); return nil }))
	pkt := make([]byte, 12+40)
	pkt[0] = 0x80
	deadline := time.After(15 * time.Second)
	for i := 0; peerAudio.Load() < 10 || hubAudio.Load() < 10; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*960))
		_ = l.Audio().In.WriteRTP(pkt)
		_, _ = at.Write(pkt)
		select {
		case <-deadline:
			t.Fatalf("audio after 15 s: peer got %d, hub got %d", peerAudio.Load(), hubAudio.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
