package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// SDES-SRTP (RFC 4568) with a real phone: baresip with mediaenc=srtp-mand
// accepts only RTP/SAVP with a=crypto. Outbound, the trunk is configured
// srtp: sdes; inbound, baresip offers SRTP and the hub must answer it. Audio
// decodes both ways (the page hears baresip's tone; baresip receives the
// page's packets without errors).
func TestBaresipSDESSRTP(t *testing.T) {
	needPeers(t, "baresip", "node", "chromium")
	t.Run("browser calls SRTP trunk", func(t *testing.T) {
		h := startHub(t, func(c *config.Config) { c.SIP.Trunks[0].SRTP = "sdes" })
		phone := startBaresip(t, baresipOpts{Name: "srtp-pbx", SIPPort: 15090, RTPPorts: "20200-20299", CtrlPort: 14446,
			Account: "<sip:agent@127.0.0.1:15090>;regint=0;answermode=auto;audio_codecs=pcmu;mediaenc=srtp-mand",
			Modules: []string{"g711", "srtp"}, ToneHz: baresipTone})
		br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "agent", "video": false,
			"talkMs": 6000, "hangup": "local"})
		if _, err := phone.waitEvent("CALL_ESTABLISHED", "", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		res := br.wait(t, 60*time.Second)
		_, _ = phone.waitEvent("CALL_CLOSED", "", 10*time.Second)
		phone.stop()
		checkSRTPCall(t, res, phone)
	})
	t.Run("SRTP phone calls browser", func(t *testing.T) {
		h := startHub(t, nil)
		br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "answer", "talkMs": 20000})
		br.ready(t)
		phone := startBaresip(t, baresipOpts{Name: "srtp-phone", SIPPort: 15092, RTPPorts: "20300-20399", CtrlPort: 14447,
			Account: "<sip:phone@127.0.0.1:15092>;regint=0;audio_codecs=pcmu;mediaenc=srtp-mand",
			Modules: []string{"g711", "srtp"}, ToneHz: baresipTone})
		if _, err := phone.command("dial", "sip:alice@"+hubSIP); err != nil {
			t.Fatal(err)
		}
		if _, err := phone.waitEvent("CALL_ESTABLISHED", "", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second)
		if _, err := phone.command("hangup", ""); err != nil {
			t.Error(err)
		}
		_, _ = phone.waitEvent("CALL_CLOSED", "", 10*time.Second)
		res := br.wait(t, 30*time.Second)
		phone.stop()
		checkSRTPCall(t, res, phone)
	})
}

func checkSRTPCall(t *testing.T, res *browserResult, phone *baresipUA) {
	t.Helper()
	log := phone.out.String()
	if !strings.Contains(log, "RTP/SAVP") || !strings.Contains(log, "a=crypto:") {
		t.Errorf("no RTP/SAVP with a=crypto in the SIP trace")
	}
	a := phone.rtpStats("audio")
	t.Logf("baresip audio tx=%d rx=%d rx errors=%d", a.TX.Packets, a.RX.Packets, a.RX.Errors)
	if a.RX.Packets < 100 || a.RX.Errors > 0 {
		t.Errorf("baresip received %d SRTP packets (%d errors), want ≥100 authenticated", a.RX.Packets, a.RX.Errors)
	}
	if !res.sawState("active") || res.Stats == nil || res.Stats.Audio.PacketsReceived < 100 {
		t.Fatalf("page: states %v stats %+v", res.States, res.Stats)
	}
	if res.AudioPeakHz != nil && !near(*res.AudioPeakHz, baresipTone, 30) {
		t.Errorf("page hears %.0f Hz, want baresip's %.0f Hz tone decrypted", *res.AudioPeakHz, baresipTone)
	}
}
