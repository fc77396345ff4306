package sdp

import (
	"net/netip"
	"strings"
	"testing"
)

const asteriskOffer = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=Asterisk\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n" +
	"m=audio 10000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n" +
	"m=video 10002 RTP/AVP 99 100\r\na=rtpmap:99 H264/90000\r\na=fmtp:99 profile-level-id=42801F;packetization-mode=0\r\n" +
	"a=rtpmap:100 H264/90000\r\na=fmtp:100 profile-level-id=42e01f;packetization-mode=1\r\n"

func TestParseAsterisk(t *testing.T) {
	s, err := Parse([]byte(asteriskOffer))
	if err != nil {
		t.Fatal(err)
	}
	a := s.First("audio")
	if a == nil || a.Port != 10000 || a.Addr != netip.MustParseAddr("10.0.0.5") || a.RTCPPort != 10001 || a.Ptime != 20 {
		t.Fatalf("audio: %+v", a)
	}
	c, dtmf, err := Answer(a, []string{"PCMU", "PCMA"})
	if err != nil || c.PT != 0 || dtmf == nil || dtmf.PT != 101 {
		t.Fatalf("answer: %+v %+v %v", c, dtmf, err)
	}
	v := s.First("video")
	vc, err := AnswerVideo(v, VideoCodecs)
	if err != nil || vc.PT != 100 {
		t.Fatalf("video should pick packetization-mode=1 (pt 100): %+v %v", vc, err)
	}
}

func TestParseQuirks(t *testing.T) {
	// LF only, static payload types without rtpmap, per-media c=, hold by sendonly, b= after a=.
	body := "v=0\no=x 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0 18\na=sendonly\nb=AS:64\nc=IN IP4 192.0.2.9\n\n"
	s, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	a := s.First("audio")
	if a == nil || a.Addr.String() != "192.0.2.9" || len(a.Codecs) != 2 || a.Codecs[1].Name != "G729" {
		t.Fatalf("%+v", a)
	}
	if !a.Hold() || a.Direction.Reverse() != RecvOnly {
		t.Fatal("sendonly must be a hold answered recvonly")
	}
	if _, _, err := Answer(a, []string{"opus"}); err != ErrNoCommon {
		t.Fatalf("want ErrNoCommon, got %v", err)
	}
	old, _ := Parse([]byte("v=0\r\no=x 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"))
	if !old.First("audio").Hold() {
		t.Fatal("c=0.0.0.0 is a hold")
	}
}

func TestParseSDES(t *testing.T) {
	body := "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n"
	s, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	a := s.First("audio")
	if !a.Secure() || len(a.Crypto) != 1 || a.Crypto[0].Key != "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz" {
		t.Fatalf("%+v", a)
	}
}

func TestBuildRoundTrip(t *testing.T) {
	body := Build(Description{SessionID: 7, Version: 1, Addr: netip.MustParseAddr("127.0.0.1"), Media: []LocalMedia{
		{Kind: "audio", Port: 20000, Codecs: []Codec{PCMU, TelEvent8k}, Direction: RecvOnly, Ptime: 20},
		{Kind: "video", Port: 20002, Codecs: []Codec{H264}, RTCPFB: true},
	}})
	if !strings.HasSuffix(string(body), "\r\n") || strings.Contains(strings.ReplaceAll(string(body), "\r\n", ""), "\n") {
		t.Fatal("must use CRLF")
	}
	s, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	a, v := s.First("audio"), s.First("video")
	if a.Port != 20000 || a.Direction != RecvOnly || len(a.Codecs) != 2 || a.Codecs[1].Fmtp != "0-16" {
		t.Fatalf("audio %+v", a)
	}
	if v.Port != 20002 || v.Proto != "RTP/AVP" || !strings.Contains(v.Codecs[0].Fmtp, "packetization-mode=1") {
		t.Fatalf("video %+v", v)
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "hello", "v=0\r\n", "v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(asteriskOffer))
	f.Add([]byte("v=0\no=x 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0 18\na=sendonly\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		for i := range s.Media {
			m := &s.Media[i]
			if m.Kind == "audio" {
				_, _, _ = Answer(m, []string{"PCMU", "PCMA", "opus"})
			}
			_ = m.Hold()
			_ = m.Active()
		}
	})
}

// Firefox under max-bundle: the video m-line has port 0 and a=bundle-only
// inside the BUNDLE group; that is a live stream, not a rejected one.
const firefoxBundleOnly = "v=0\r\no=mozilla...THIS_IS_SDPARTA-99.0 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\n" +
	"m=audio 46590 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\n" +
	"a=rtpmap:109 opus/48000/2\r\na=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n" +
	"a=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n" +
	"m=video 0 UDP/TLS/RTP/SAVPF 120 124\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\na=mid:1\r\n" +
	"a=rtpmap:120 VP8/90000\r\na=rtpmap:124 rtx/90000\r\na=fmtp:124 apt=120\r\na=sendrecv\r\n" +
	"m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n"

func TestBundleOnlyIsActive(t *testing.T) {
	s, err := Parse([]byte(firefoxBundleOnly))
	if err != nil {
		t.Fatal(err)
	}
	v := s.First("video")
	if v == nil || !v.BundleOnly || !v.Bundled || v.Mid != "1" || !v.Active() {
		t.Fatalf("bundle-only video must be active: %+v", v)
	}
	if app := s.Media[2]; app.Active() {
		t.Error("port 0 without bundle-only (and outside the group) is rejected")
	}
	// bundle-only outside any BUNDLE group does not make a stream live
	lone := strings.Replace(firefoxBundleOnly, "a=group:BUNDLE 0 1\r\n", "", 1)
	if s, _ := Parse([]byte(lone)); s.First("video") != nil {
		t.Error("bundle-only without a BUNDLE group counts as active")
	}
	// Opus as 109 with telephone-event/8000 only: the answer keeps the
	// offer's numbers for both.
	c, dtmf, err := Answer(s.First("audio"), []string{"opus", "PCMU"})
	if err != nil || c.PT != 109 || dtmf == nil || dtmf.PT != 101 || dtmf.Clock != 8000 {
		t.Fatalf("answer %+v dtmf %+v err %v", c, dtmf, err)
	}
}

// A phone's Opus as 102 with telephone-event at its clock (96/48000) and
// at 8000 (101): the event at the codec's clock wins, with its number.
func TestAnswerTelephoneEventNumbers(t *testing.T) {
	body := "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 102 101 96 0\r\na=rtpmap:102 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=rtpmap:96 telephone-event/48000\r\na=fmtp:96 0-16\r\n"
	s, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	c, dtmf, err := Answer(s.First("audio"), []string{"opus"})
	if err != nil || c.PT != 102 || dtmf == nil || dtmf.PT != 96 {
		t.Fatalf("answer %+v dtmf %+v err %v", c, dtmf, err)
	}
	c, dtmf, err = Answer(s.First("audio"), []string{"PCMU"})
	if err != nil || c.PT != 0 || dtmf == nil || dtmf.PT != 101 {
		t.Fatalf("PCMU: answer %+v dtmf %+v err %v", c, dtmf, err)
	}
}

// A stream's language (RFC 8373) is written as hlang-send and hlang-recv; a
// refused stream (port 0) carries none.
func TestBuildLang(t *testing.T) {
	t140 := Codec{PT: 98, Name: "t140", Clock: 1000, Channels: 1}
	b := string(Build(Description{Addr: netip.MustParseAddr("127.0.0.1"), Media: []LocalMedia{
		{Kind: "text", Port: 4000, Codecs: []Codec{t140}, Lang: "en"},
		{Kind: "text", Port: 0, Codecs: []Codec{t140}, Lang: "en"},
	}}))
	if strings.Count(b, "a=hlang-send:en\r\na=hlang-recv:en\r\n") != 1 {
		t.Errorf("SDP:\n%s", b)
	}
}
