package e2e

import (
	"strings"

	"github.com/split-hub/split/internal/config"
	"testing"
	"time"
)

// Video codec variants baresip 1.0.0 is run with.
//
// VP8: the vp8 module only (account video_codecs=vp8).
//
// H264: the avcodec module only (libx264 encoder, FFmpeg decoder) and no
// video_codecs in the account. baresip 1.0 registers two H264 codecs, one per
// packetization-mode (0 and 1); an account's video_codecs=h264 keeps only the
// first one by name (mode 0), so the hub's mode-1 offer would find no match.
// With both registered, baresip answers a mode-1 offer with mode 1, offers
// both modes itself, and its h264_packetize sends FU-A/single NAL units
// (mode 1), which Chromium decodes.
type baresipVideoVariant struct {
	name        string
	modules     []string
	accountOpts string
	codec       string // expected video codec name in the browser's stats and baresip's callstat
}

var (
	baresipVP8  = baresipVideoVariant{name: "VP8", modules: []string{"g711", "vp8"}, accountOpts: ";video_codecs=vp8", codec: "VP8"}
	baresipH264 = baresipVideoVariant{name: "H264", modules: []string{"g711", "avcodec"}, codec: "H264"}
)

const baresipTone = 1000.0 // Hz, baresip's aufile tone

// Chromium (video) calls through the hub to baresip acting as the PBX's video
// phone (auto answer). Video and audio must flow and be decoded both ways; the
// page hangs up.
func TestBaresipBrowserCallsVideoPhone(t *testing.T) {
	needPeers(t, "baresip", "node", "chromium")
	// The hub picks the browser's video codec by the trunk's video_codecs
	// and offers the trunk only that one, so it is forwarded untouched.
	for _, v := range []baresipVideoVariant{baresipH264, baresipVP8} {
		t.Run(v.name, func(t *testing.T) {
			h := startHub(t, func(c *config.Config) { c.SIP.Trunks[0].VideoCodecs = []string{v.codec} })
			phone := startBaresip(t, baresipOpts{Name: "pbx", SIPPort: 15090, RTPPorts: "20000-20099", CtrlPort: 14444,
				Account: "<sip:agent@127.0.0.1:15090>;regint=0;answermode=auto;audio_codecs=pcmu,pcma" + v.accountOpts,
				Modules: v.modules, ToneHz: baresipTone})
			br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "agent", "video": true,
				"talkMs": 7000, "hangup": "local"})

			callstat := ""
			br.ready(t) // the wait below starts once the page is up, not while Chromium starts
			if _, err := phone.waitEvent("CALL_ESTABLISHED", "", 30*time.Second); err != nil {
				t.Error(err)
			} else if callstat, err = phone.command("callstat", ""); err != nil {
				t.Error(err)
			}
			res := br.wait(t, 60*time.Second)
			if _, err := phone.waitEvent("CALL_CLOSED", "", 10*time.Second); err != nil {
				t.Errorf("baresip never saw the page's hang-up: %v", err)
			}
			phone.stop() // flushes the rtp_stats block printed at call end
			checkBaresipVideoCall(t, v, res, phone, callstat)
			if res.Ended == nil || res.Ended.Code != 200 {
				t.Errorf("page ended = %+v, want local hangup 200", res.Ended)
			}
			// The page hears baresip's tone (measured while the call is up).
			if res.AudioPeakHz == nil || !near(*res.AudioPeakHz, baresipTone, 30) {
				t.Errorf("page's audio peak %v Hz, want baresip's %.0f Hz tone (%v)", res.AudioPeakHz, baresipTone, res.Raw)
			}
			// baresip auto-answers: its 180 and 200 leave microseconds
			// apart. The hub reads provisional responses in wire order, so
			// ringing is still reported, and before the answer.
			if !res.sawState("ringing") {
				t.Errorf("page never saw ringing: %v", res.States)
			}
			if i, j := stateIndex(res.States, "ringing"), stateIndex(res.States, "active"); i < 0 || j < 0 || i > j {
				t.Errorf("states out of order: %v (ringing must come before active)", res.States)
			}
		})
	}
}

// baresip (a video phone on 127.0.0.1:15092) dials a browser identity via the
// hub; Chromium answers with video. Video and audio must be decoded both
// ways; baresip hangs up and the page's call ends.
func TestBaresipCallsBrowserVideo(t *testing.T) {
	needPeers(t, "baresip", "node", "chromium")
	for _, v := range []baresipVideoVariant{baresipVP8, baresipH264} {
		t.Run(v.name, func(t *testing.T) {
			h := startHub(t, nil)
			// video=1 ticks the page's video toggle: its Answer button then answers with the camera.
			br := startBrowser(t, map[string]any{"url": h.pageURL("alice") + "&video=1", "mode": "answer", "talkMs": 20000})
			br.ready(t)
			phone := startBaresip(t, baresipOpts{Name: "phone", SIPPort: 15092, RTPPorts: "20100-20199", CtrlPort: 14445,
				Account: "<sip:phone@127.0.0.1:15092>;regint=0;audio_codecs=pcmu,pcma" + v.accountOpts,
				Modules: v.modules, ToneHz: baresipTone})
			if _, err := phone.command("dial", "sip:alice@"+hubSIP); err != nil {
				t.Fatal(err)
			}
			callstat := ""
			if _, err := phone.waitEvent("CALL_ESTABLISHED", "", 30*time.Second); err != nil {
				t.Error(err)
			} else {
				if callstat, err = phone.command("callstat", ""); err != nil {
					t.Error(err)
				}
				// Talk for 4 s, longer (up to 10 s) until baresip has decoded
				// the page's video, then 2 s more for the page's stats.
				t0 := time.Now()
				for w, _ := phone.decodedVideo(); w == 0 && time.Since(t0) < 10*time.Second; w, _ = phone.decodedVideo() {
					time.Sleep(200 * time.Millisecond)
				}
				time.Sleep(max(4*time.Second-time.Since(t0), 2*time.Second))
			}
			if _, err := phone.command("hangup", ""); err != nil {
				t.Error(err)
			}
			if _, err := phone.waitEvent("CALL_CLOSED", "", 10*time.Second); err != nil {
				t.Error(err)
			}
			res := br.wait(t, 30*time.Second)
			phone.stop()
			checkBaresipVideoCall(t, v, res, phone, callstat)
			if res.Ended == nil {
				t.Errorf("page's call never ended after baresip's hang-up: states %v", res.States)
			} else if !strings.Contains(strings.ToLower(res.Ended.Reason), "remote") {
				t.Errorf("page ended = %+v, want a remote hangup", res.Ended)
			}
		})
	}
}

// checkBaresipVideoCall asserts media both ways from the page's stats and
// baresip's own view (callstat, rtp_stats at call end, decoder log).
func checkBaresipVideoCall(t *testing.T, v baresipVideoVariant, res *browserResult, phone *baresipUA, callstat string) {
	t.Helper()
	vfmt := negotiatedVideo(callstat)
	aRTP, vRTP := phone.rtpStats("audio"), phone.rtpStats("video")
	w, hgt := phone.decodedVideo()
	t.Logf("baresip: video format %q; audio tx=%d rx=%d lost=%d; video tx=%d rx=%d lost=%d; decoded %dx%d",
		vfmt, aRTP.TX.Packets, aRTP.RX.Packets, aRTP.RX.Lost, vRTP.TX.Packets, vRTP.RX.Packets, vRTP.RX.Lost, w, hgt)

	if !res.sawState("active") {
		t.Fatalf("page never active: %v (errors %v)", res.States, res.Errors)
	}
	st := res.Stats
	if st == nil {
		t.Fatalf("no stats from the page: %v", res.Errors)
	}
	t.Logf("page: audio %s sent=%d recv=%d; video %s recv=%d encoded=%d decoded=%d width=%d",
		st.Audio.Codec, st.Audio.PacketsSent, st.Audio.PacketsReceived,
		st.Video.Codec, st.Video.PacketsReceived, st.Video.FramesEncoded, st.Video.FramesDecoded, st.Video.FrameWidth)

	// baresip → hub → page
	if !strings.EqualFold(st.Video.Codec, v.codec) {
		t.Errorf("page video codec %q, want %s", st.Video.Codec, v.codec)
	}
	if st.Video.FramesDecoded <= 0 {
		t.Errorf("page decoded no video from baresip (packets received %d)", st.Video.PacketsReceived)
	}
	if st.Audio.PacketsReceived < 50 {
		t.Errorf("page received %d audio packets from baresip, want ≥50", st.Audio.PacketsReceived)
	}
	// page → hub → baresip
	if st.Video.FramesEncoded <= 0 {
		t.Errorf("page encoded no video")
	}
	if !strings.Contains(strings.ToUpper(vfmt), v.codec+"/90000") {
		t.Errorf("baresip negotiated video %q, want %s", vfmt, v.codec)
	}
	if v.codec == "H264" && !strings.Contains(vfmt, "packetization-mode=1") {
		t.Errorf("baresip negotiated %q, want H264 packetization-mode=1", vfmt)
	}
	if !vRTP.Found || !aRTP.Found {
		t.Errorf("baresip printed no rtp_stats at call end (audio %v, video %v)", aRTP.Found, vRTP.Found)
	} else {
		if vRTP.RX.Packets <= 0 {
			t.Errorf("baresip received no video RTP from the page")
		}
		if vRTP.TX.Packets <= 0 {
			t.Errorf("baresip sent no video RTP")
		}
		if aRTP.RX.Packets < 50 {
			t.Errorf("baresip received %d audio packets from the page, want ≥50", aRTP.RX.Packets)
		}
		// Both sides send 20 ms PCMU: about as many packets in as out. Twice
		// as many means the hub merged two browser audio streams into one
		// (a starved baresip sends less under load: 1.5x was seen once).
		if aRTP.TX.Packets > 0 && aRTP.RX.Packets > aRTP.TX.Packets*19/10 {
			t.Errorf("baresip received %d audio packets but sent %d: more than one audio stream reaches the phone", aRTP.RX.Packets, aRTP.TX.Packets)
		}
	}
	if w == 0 || hgt == 0 {
		t.Errorf("baresip decoded no video picture from the page")
	}
}

func stateIndex(states []struct {
	State  string `json:"state"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}, s string) int {
	for i, x := range states {
		if x.State == s {
			return i
		}
	}
	return -1
}
