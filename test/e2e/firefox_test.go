package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// Firefox ESR next to Chromium: the customer page and the agent console in
// both pairings, audio and video asserted from getStats both ways, and the
// softphone in Firefox with Opus through the hub to sipp.

// pair opens an agent console (ready, auto-answer) in one driver and the
// customer page in the other (after running custJS there, if any) and
// starts a video call, which the agent answers.
func pair(t *testing.T, h *hub, cust, agent *pagesDriver, custJS string) {
	t.Helper()
	base := "http://" + hubHTTP
	agent.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	agent.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 30*time.Second)
	cust.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default"})
	if custJS != "" {
		cust.do(map[string]any{"cmd": "eval", "page": "cust", "js": custJS})
	}
	cust.do(map[string]any{"cmd": "fill", "page": "cust", "selector": `role=textbox[name="Your name (optional)"]`, "value": "Ana"})
	cust.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
	cust.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
	agent.waitJS("agent", "window.splitApp.agentState === 'busy'", 15*time.Second)
}

func browserName(d *pagesDriver) string {
	var v struct{ Name, Version string }
	_ = json.Unmarshal(d.do(map[string]any{"cmd": "browser"}), &v)
	return v.Name + " " + v.Version
}

func checkPair(t *testing.T, h *hub, cust, agent *pagesDriver) {
	t.Helper()
	pair(t, h, cust, agent, "")
	var c, a pageStats
	eventually(t, 30*time.Second, "both pages to decode each other's video and receive audio", func() bool {
		c, a = cust.stats("cust"), agent.stats("agent")
		return c.VideoIn.FramesDecoded > 30 && a.VideoIn.FramesDecoded > 30 && c.AudioIn.PacketsReceived > 50 && a.AudioIn.PacketsReceived > 50
	})
	t.Logf("customer (%s): audio in %d pkts (%s), video in %d frames decoded (%s, %d px wide); agent (%s): audio in %d pkts (%s), video in %d frames decoded (%s, %d px wide)",
		browserName(cust), c.AudioIn.PacketsReceived, c.AudioIn.Codec, c.VideoIn.FramesDecoded, c.VideoIn.Codec, c.VideoIn.FrameWidth,
		browserName(agent), a.AudioIn.PacketsReceived, a.AudioIn.Codec, a.VideoIn.FramesDecoded, a.VideoIn.Codec, a.VideoIn.FrameWidth)
	for _, s := range []pageStats{c, a} {
		if !strings.EqualFold(s.AudioIn.Codec, "opus") || !strings.EqualFold(s.VideoIn.Codec, "VP8") {
			t.Errorf("codecs %q/%q, want opus/VP8 (what both browsers have)", s.AudioIn.Codec, s.VideoIn.Codec)
		}
	}
	cust.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	agent.waitJS("agent", "window.splitApp.agentState === 'wrap_up' || window.splitApp.agentState === 'ready'", 15*time.Second)
	h.waitMetric(`split_sessions_ended_total{cause="normal",mode="forward"} 1`, 10*time.Second)
}

// TestFirefoxCustomerChromiumAgent: the customer page in Firefox (Opus 109,
// telephone-event 101, bundle-only video) reaches an agent console in
// Chromium through the built-in queue; both decode each other's video.
func TestFirefoxCustomerChromiumAgent(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
	checkPair(t, h, startPagesIn(t, "firefox"), startPages(t))
}

// TestChromiumCustomerFirefoxAgent: the same with the agent console in Firefox.
func TestChromiumCustomerFirefoxAgent(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
	checkPair(t, h, startPages(t), startPagesIn(t, "firefox"))
}

// forceH264JS makes the customer page offer H.264 as its only video codec
// (as a browser whose peer wants H.264 would), so that the hub offers the
// agent H.264 only.
const forceH264JS = `() => {
	const add = RTCPeerConnection.prototype.addTransceiver;
	RTCPeerConnection.prototype.addTransceiver = function (...a) {
		const tr = add.apply(this, a);
		if (tr.receiver.track.kind === 'video') {
			tr.setCodecPreferences(RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => /h264/i.test(c.mimeType)));
		}
		return tr;
	};
	return true;
}`

// TestFirefoxAgentWithoutH264: the customer's video is H.264 (Chromium), the
// agent's console is Firefox, which has no H.264 here: the agent accepts,
// the call goes on with audio both ways, and the session's history says
// why there is no video (media.refused).
func TestFirefoxAgentWithoutH264(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
	cust, agent := startPages(t), startPagesIn(t, "firefox")
	pair(t, h, cust, agent, forceH264JS)
	var c, a pageStats
	eventually(t, 30*time.Second, "audio both ways", func() bool {
		c, a = cust.stats("cust"), agent.stats("agent")
		return c.AudioIn.PacketsReceived > 50 && a.AudioIn.PacketsReceived > 50
	})
	t.Logf("customer (%s): audio in %d pkts, video in %d frames; agent (%s): audio in %d pkts, video in %d frames",
		browserName(cust), c.AudioIn.PacketsReceived, c.VideoIn.FramesDecoded, browserName(agent), a.AudioIn.PacketsReceived, a.VideoIn.FramesDecoded)
	sid := strings.Trim(string(cust.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.call.session"})), `"`)
	var got struct {
		Events []struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	eventually(t, 10*time.Second, "a media.refused event in the session's history", func() bool {
		req, _ := http.NewRequest("GET", "http://"+hubHTTP+"/v1/sessions/"+sid+"/events?format=json", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		got.Events = nil
		if json.NewDecoder(res.Body).Decode(&got) != nil {
			return false
		}
		for _, e := range got.Events {
			if e.Type == "media.refused" && e.Data["kind"] == "video" && strings.Contains(fmt.Sprint(e.Data["reason"]), "H264") {
				t.Logf("session event: %s %v", e.Type, e.Data)
				return true
			}
		}
		return false
	})
}

// TestFirefoxSoftphoneOpusToSIPP: the softphone page in Firefox speaks Opus
// (Firefox numbers it 109); the hub transcodes to PCMU for sipp, which
// echoes. Audio flows both ways, the page hears its own 1 kHz fake
// microphone back, and DTMF (telephone-event 101) makes the round trip.
func TestFirefoxSoftphoneOpusToSIPP(t *testing.T) {
	needPeers(t, "sipp", "node", "firefox-esr")
	h := startHub(t, func(c *config.Config) {
		c.WebRTC.AudioCodecs = []string{"opus"}
		c.SIP.Trunks[0].Codecs = []string{"PCMU"}
	})
	pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"browser": "firefox", "url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 7000, "dtmf": "9*", "hangup": "local"})
	res := br.wait(t, 90*time.Second)
	if code := pbx.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("sipp failed: exit %d", code)
	}
	st := res.Stats
	if st == nil || st.SIP == nil {
		t.Fatalf("no stats: %v", res.Errors)
	}
	t.Logf("%s: audio %s sent %d received %d lost %d; hub↔sipp %s, hub sent sipp %d, got %d",
		res.Version, st.Audio.Codec, st.Audio.PacketsSent, st.Audio.PacketsReceived, st.Audio.PacketsLost,
		st.SIP.Path, st.SIP.SIPRTP.PacketsSent, st.SIP.SIPRTP.PacketsReceived)
	if !strings.Contains(res.Version, "irefox") {
		t.Errorf("the page ran in %q, not Firefox", res.Version)
	}
	if !strings.EqualFold(st.Audio.Codec, "opus") || st.SIP.Path != "transcode" {
		t.Fatalf("codec %q path %q, want opus via transcode", st.Audio.Codec, st.SIP.Path)
	}
	if st.Audio.PacketsSent < 100 || st.Audio.PacketsReceived < 100 || st.SIP.SIPRTP.PacketsReceived < 100 || st.SIP.SIPRTP.PacketsSent < 100 {
		t.Fatalf("too little audio: page sent %d, received %d; hub sent sipp %d, got %d", st.Audio.PacketsSent, st.Audio.PacketsReceived,
			st.SIP.SIPRTP.PacketsSent, st.SIP.SIPRTP.PacketsReceived)
	}
	// Firefox's fake microphone is a 1 kHz sine (media.navigator.audio.fake_frequency).
	if res.AudioPeakHz == nil || !near(*res.AudioPeakHz, 1000, 30) {
		t.Errorf("tone after Opus→PCMU→echo→PCMU→Opus = %v Hz, want ≈1000", res.AudioPeakHz)
	}
	if res.DTMFReceived != "9*" {
		t.Errorf("DTMF round trip = %q, want 9*", res.DTMFReceived)
	}
	if res.Ended == nil || res.Ended.Code != 200 {
		t.Errorf("ended = %+v, want local hangup 200", res.Ended)
	}
	assertFastPath(t)
}
