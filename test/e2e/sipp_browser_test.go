package e2e

import (
	"fmt"
	"github.com/split-hub/split/internal/config"
	"math"
	"strings"
	"testing"
	"time"
)

// Chromium calls through the hub to sipp acting as the PBX (RTP echo): audio
// flows both ways (what reaches sipp comes back), DTMF pressed in the page
// reaches sipp as RFC 4733 (sipp echoes it, the hub detects the events), and
// the page's hang-up ends both legs (sipp receives BYE and exits 0).
func TestBrowserCallsSIPPassthroughDTMFAndLocalHangup(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium", "tshark")
	h := startHub(t, nil)
	pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	toPBX := startCapture(t, fmt.Sprintf("udp and dst host 127.0.0.1 and dst port %d", pbxMedia))
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 6000, "dtmf": "12#", "hangup": "local"})
	res := br.wait(t, 60*time.Second)
	if code := pbx.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("sipp (PBX) failed: exit %d", code)
	}
	atPBX := toPBX.stop()

	for _, s := range []string{"ringing", "active", "ended"} {
		if !res.sawState(s) {
			t.Errorf("browser never saw state %q: %v", s, res.States)
		}
	}
	st := res.Stats
	if st == nil {
		t.Fatalf("no stats from the page: %v", res.Errors)
	}
	if st.Audio.Codec != "PCMU" {
		t.Errorf("browser audio codec %q, want PCMU (passthrough to a PCMU PBX)", st.Audio.Codec)
	}
	if st.Audio.PacketsSent < 100 || st.Audio.PacketsReceived < 100 {
		t.Errorf("browser RTP sent=%d received=%d, want ≥100 each way", st.Audio.PacketsSent, st.Audio.PacketsReceived)
	}
	if atPBX < 100 {
		t.Errorf("tshark saw %d packets reach sipp's media port, want ≥100", atPBX)
	}
	if st.SIP == nil || st.SIP.Path != "passthrough" {
		t.Errorf("bridge path = %+v, want passthrough", st.SIP)
	}
	if res.DTMFReceived != "12#" {
		t.Errorf("DTMF round trip through sipp = %q, want %q", res.DTMFReceived, "12#")
	}
	if res.Ended == nil || res.Ended.Code != 200 {
		t.Errorf("ended = %+v, want local hangup 200", res.Ended)
	}
	// The page hears its own fake microphone back from sipp's echo.
	if res.AudioPeakHz == nil {
		t.Errorf("no audible audio measured in the page")
	}
	h.waitMetric(`split_calls_ended_total{direction="outbound",result="success"} 1`, 5*time.Second)
	assertFastPath(t)
}

// assertFastPath: the audio-only call's media took the fast path both ways
// (docs/benchmarks.md § Fast path) and no packet failed its SRTP there.
func assertFastPath(t *testing.T) {
	t.Helper()
	in, out := metricValue(t, `split_media_fast_path_packets_total{direction="in"}`), metricValue(t, `split_media_fast_path_packets_total{direction="out"}`)
	if in < 100 || out < 100 {
		t.Errorf("fast path packets: %v from the browser, %v to it; want ≥100 each", in, out)
	}
	if d := metricValue(t, `split_media_fast_path_packets_total{direction="dropped"}`); d != 0 {
		t.Errorf("%v packets failed SRTP on the fast path", d)
	}
}

// sipp (PBX) hangs up first: the browser's call must end too.
func TestBrowserCallRemoteHangup(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, nil)
	pbx := startSipp(t, "-sf", "sipp/uas_bye.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false, "talkMs": 15000})
	res := br.wait(t, 60*time.Second)
	if code := pbx.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("sipp failed: exit %d", code)
	}
	if !res.sawState("active") {
		t.Fatalf("never active: %v", res.States)
	}
	if res.Ended == nil || !strings.Contains(strings.ToLower(res.Ended.Reason), "remote") {
		t.Fatalf("ended = %+v, want a remote hangup", res.Ended)
	}
}

// Early media: the ACD's 183 with SDP and announcement audio reaches the page before the answer.
func TestBrowserHearsEarlyMedia(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, nil)
	pbx := startSipp(t, "-sf", "sipp/uas_early.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 2000, "hangup": "local", "earlyStats": true})
	res := br.wait(t, 60*time.Second)
	pbx.wait(t, 20*time.Second)
	if !res.sawState("early") {
		t.Fatalf("no early state: %v", res.States)
	}
	if res.EarlyStats == nil || res.EarlyStats.Audio.PacketsReceived < 20 {
		t.Fatalf("early media not received in the page before answer: %+v", res.EarlyStats)
	}
	// The page's codec was fixed when the hub answered it (PCMU, the trunk's
	// first choice); the ACD answered PCMA, so the hub transcodes PCMA→PCMU.
	if c := res.EarlyStats.Audio.Codec; c != "PCMU" {
		t.Errorf("early media codec in the page %q, want PCMU", c)
	}
}

// sipp as a phone calls a browser identity; Chromium answers; media both ways;
// the phone hangs up and the page's call ends.
func TestSIPCallsBrowser(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium", "tshark")
	h := startHub(t, nil)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "answer", "talkMs": 12000})
	br.ready(t)
	toPhone := startCapture(t, fmt.Sprintf("udp and dst host 127.0.0.1 and dst port %d", pbxMedia))
	phone := startSipp(t, "127.0.0.1:15060", "-sf", "sipp/uac_call.xml", "-s", "alice", "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	if code := phone.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("sipp phone failed: exit %d", code)
	}
	res := br.wait(t, 30*time.Second)
	atPhone := toPhone.stop()
	if !res.sawState("active") {
		t.Fatalf("never active: %v", res.States)
	}
	if res.Stats == nil || res.Stats.Audio.PacketsReceived < 100 {
		t.Fatalf("page received too little audio from the phone: %+v", res.Stats)
	}
	if res.Stats.Audio.Codec != "PCMA" {
		t.Errorf("codec %q, want PCMA passthrough", res.Stats.Audio.Codec)
	}
	if atPhone < 100 {
		t.Errorf("tshark saw %d packets reach the phone's media port, want ≥100", atPhone)
	}
	if res.Ended == nil || res.Ended.Code != 200 {
		t.Errorf("ended = %+v, want remote hangup", res.Ended)
	}
}

// CANCEL before answer: the page rings, then the call ends with 487.
func TestSIPCancelBeforeAnswer(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, nil)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "ring", "timeoutMs": 15000})
	br.ready(t)
	phone := startSipp(t, "127.0.0.1:15060", "-sf", "sipp/uac_cancel.xml", "-s", "alice", "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	if code := phone.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("sipp: CANCEL flow failed (want 200 to CANCEL, 487 to INVITE): exit %d", code)
	}
	res := br.wait(t, 30*time.Second)
	if res.Ended == nil || res.Ended.Code != 487 {
		t.Fatalf("page ended = %+v, want 487", res.Ended)
	}
}

// Hold and resume by re-INVITE from the phone: the hub answers sendonly with
// recvonly (never sendrecv) and sendrecv with sendrecv; the page sees held/active.
func TestSIPHoldResume(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, nil)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "answer", "talkMs": 15000})
	br.ready(t)
	phone := startSipp(t, "127.0.0.1:15060", "-sf", "sipp/uac_hold.xml", "-s", "alice", "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	if code := phone.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("sipp hold/resume failed (answers must be recvonly then sendrecv): exit %d", code)
	}
	res := br.wait(t, 30*time.Second)
	if !res.sawState("held") {
		t.Errorf("page never saw held: %v", res.States)
	}
}

// Late offer: INVITE without SDP; the hub offers in the 200 and takes the answer from the ACK.
func TestSIPLateOffer(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, nil)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "answer", "talkMs": 12000})
	br.ready(t)
	phone := startSipp(t, "127.0.0.1:15060", "-sf", "sipp/uac_late.xml", "-s", "alice", "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	if code := phone.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("sipp late offer failed: exit %d", code)
	}
	res := br.wait(t, 30*time.Second)
	if res.Stats == nil || res.Stats.Audio.PacketsReceived < 50 {
		t.Fatalf("no audio after late offer: %+v", res.Stats)
	}
}

// An INVITE from an address that is neither a trunk nor allow-listed gets 403
// and reaches nobody (toll-fraud guard).
func TestSIPForbiddenSource(t *testing.T) {
	needPeers(t, "sipp")
	h := startHub(t, nil)
	phone := startSipp(t, "127.0.0.1:15060", "-sf", "sipp/uac_forbidden.xml", "-s", "alice", "-i", "127.0.0.2", "-p", "15090",
		"-mi", "127.0.0.2", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	if code := phone.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("want 403: exit %d", code)
	}
	h.waitMetric(`split_sip_invites_rejected_total{reason="forbidden"} 1`, 5*time.Second)
	if strings.Contains(h.logs.String(), "INVITE received") {
		t.Fatal("a forbidden INVITE was routed")
	}
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// The browser speaks Opus, the PBX only PCMU: the hub transcodes both ways.
// The page's fake microphone tone comes back through sipp's echo
// (Opus→PCMU→echo→PCMU→Opus) at the same frequency.
func TestBrowserOpusTranscodedToPCMU(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	for _, jitter := range []int{0, 3} {
		t.Run(fmt.Sprintf("jitter_buffer=%d", jitter), func(t *testing.T) { opusToPCMU(t, jitter) })
	}
}

func opusToPCMU(t *testing.T, jitter int) {
	h := startHub(t, func(c *config.Config) {
		c.WebRTC.AudioCodecs = []string{"opus"}
		c.SIP.Trunks[0].Codecs = []string{"PCMU"}
		c.Media.JitterBuffer = jitter
	})
	pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 7000, "dtmf": "9*", "hangup": "local"})
	res := br.wait(t, 60*time.Second)
	if code := pbx.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("sipp failed: exit %d", code)
	}
	st := res.Stats
	if st == nil || st.SIP == nil {
		t.Fatalf("no stats: %v", res.Errors)
	}
	if !strings.EqualFold(st.Audio.Codec, "opus") || st.SIP.Path != "transcode" {
		t.Fatalf("codec %q path %q, want opus via transcode", st.Audio.Codec, st.SIP.Path)
	}
	if st.Audio.PacketsReceived < 100 || st.SIP.SIPRTP.PacketsReceived < 100 {
		t.Fatalf("too little audio: page received %d, hub got %d from sipp", st.Audio.PacketsReceived, st.SIP.SIPRTP.PacketsReceived)
	}
	// Chromium's fake microphone beeps at about 400 Hz; passthrough measures 398 Hz.
	if res.AudioPeakHz == nil || !near(*res.AudioPeakHz, 400, 30) {
		t.Errorf("tone after Opus→PCMU→Opus = %v Hz, want ≈400", res.AudioPeakHz)
	}
	if res.DTMFReceived != "9*" {
		t.Errorf("DTMF through the transcoded call = %q", res.DTMFReceived)
	}
}

// The customer closes the tab mid-call (no hangup message; the WebSocket and
// the PeerConnection just vanish): the hub hangs up the SIP side with BYE.
func TestBrowserVanishesHubSendsBye(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, nil)
	pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 3000, "hangup": "close"})
	res := br.wait(t, 60*time.Second)
	if !res.sawState("active") {
		t.Fatalf("never active: %v", res.States)
	}
	// uas_echo.xml ends only after receiving BYE and answering it.
	if code := pbx.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("PBX did not get a BYE after the browser vanished: sipp exit %d", code)
	}
	h.waitMetric("split_calls_active 0", 5*time.Second)
}

// The phone vanishes mid-call (killed: no BYE, no more RTP): after
// rtp.timeout the hub hangs up and the page sees 408 Media timeout.
func TestPhoneVanishesMediaTimeout(t *testing.T) {
	needPeers(t, "sipp", "node", "chromium")
	h := startHub(t, func(c *config.Config) { c.RTP.Timeout = 3 * time.Second })
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "answer", "talkMs": 25000})
	br.ready(t)
	phone := startSipp(t, "127.0.0.1:15060", "-sf", "sipp/uac_call.xml", "-s", "alice", "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	h.waitMetric("split_calls_active 1", 20*time.Second)
	// the phone vanishes once the call is up: after its ACK (the SIP leg
	// goes active then), not merely after the INVITE (on a busy machine the
	// page may take seconds to answer, and a phone killed before its ACK is
	// another case: the 200 is retransmitted until timer H)
	eventually(t, 30*time.Second, "the SIP leg active (ACK received)", func() bool {
		return strings.Contains(h.logs.String(), "dir=inbound state=active")
	})
	_ = phone.cmd.Process.Kill()
	res := br.wait(t, 40*time.Second)
	if res.Ended == nil || res.Ended.Code != 408 {
		t.Fatalf("page ended = %+v, want 408 Media timeout", res.Ended)
	}
}
