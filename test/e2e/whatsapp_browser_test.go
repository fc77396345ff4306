package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
)

// WhatsApp mode in real browsers: Meta is the contract fake of
// internal/notify/notifytest (Graph calling endpoints, signed webhooks, and
// a Meta media peer in pion that plays a tone as Opus and decodes what it
// receives); the agent console is agent.html in Chromium, the customer page
// customer.html in Firefox ESR or Chromium.

const (
	waBrowserUser    = "+16505551234"
	waBrowserVerify  = "verify-me"
	waBrowserToneHz  = 852.0  // what the WhatsApp user's side plays
	chromiumMicHz    = 400.0  // Chromium's fake microphone beeps at about 400 Hz
	firefoxMicHz     = 1000.0 // Firefox's fake microphone is a 1 kHz sine
	waBrowserToneTol = 30.0
)

// withWhatsApp adds the fake's business number to the hub: its calls come
// in at the entry point "whatsapp", routed to the built-in queue where
// agent1 serves (forwardTo adds agent1).
func withWhatsApp(f *notifytest.WhatsAppFake) func(*config.Config) {
	return func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(c)
		c.WhatsApp = &config.WhatsApp{BaseURL: f.URL, Version: f.Version, AppSecret: f.AppSecret, VerifyToken: waBrowserVerify,
			Numbers: []config.WhatsAppNumber{{PhoneNumberID: f.PhoneNumberID, Number: "+" + notifytest.FakeBusinessNumber,
				AccessToken: f.AccessToken, Entry: "whatsapp"}}}
		c.Sessions.EntryPoints = append(c.Sessions.EntryPoints, config.EntryPoint{Name: "whatsapp"})
		c.Sessions.Routes = append(c.Sessions.Routes, config.Route{Name: "whatsapp", Entry: "whatsapp", Target: "queue:default"})
	}
}

// remotePeakJS measures what a page hears: the strongest bin of its call's
// remote audio over 2 s (an AnalyserNode, as browser.mjs does for the
// softphone; the fake microphones beep, so the strongest bin over time is
// kept), and the strongest level seen within ±20 Hz of probeHz.
func remotePeakJS(probeHz float64) string {
	return fmt.Sprintf(`async () => {
	const probe = %f;
	const call = window.splitApp.call;
	const stream = call && call.remoteStream;
	if (!stream || stream.getAudioTracks().length === 0) return { why: 'no remote audio track' };
	const ctx = new AudioContext();
	await ctx.resume();
	const src = ctx.createMediaStreamSource(stream);
	const an = ctx.createAnalyser();
	an.fftSize = 8192;
	an.smoothingTimeConstant = 0;
	src.connect(an);
	const bins = new Float32Array(an.frequencyBinCount);
	let db = -Infinity, hz = 0, probeDb = -Infinity;
	for (let k = 0; k < 20; k++) {
		await new Promise((r) => setTimeout(r, 100));
		an.getFloatFrequencyData(bins);
		for (let i = 2; i < bins.length; i++) {
			const f = (i * ctx.sampleRate) / an.fftSize;
			if (bins[i] > db) { db = bins[i]; hz = f; }
			if (Math.abs(f - probe) <= 20 && bins[i] > probeDb) probeDb = bins[i];
		}
	}
	await ctx.close();
	return { hz, db: Math.max(db, -200), probeDb: Math.max(probeDb, -200) };
}`, probeHz)
}

type audioPeak struct {
	Hz      float64 `json:"hz"`
	DB      float64 `json:"db"`
	ProbeDB float64 `json:"probeDb"` // the level near the probe frequency
	Why     string  `json:"why"`
}

func (p audioPeak) String() string {
	if p.Why != "" {
		return p.Why
	}
	return fmt.Sprintf("%.0f Hz at %.0f dB", p.Hz, p.DB)
}

// remotePeak is what page hears now (audio under -80 dB counts as
// silence), with the level near probeHz.
func remotePeak(d *pagesDriver, page string, probeHz float64) audioPeak {
	d.t.Helper()
	var p audioPeak
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": remotePeakJS(probeHz)}), &p); err != nil {
		d.t.Fatal(err)
	}
	if p.Why == "" && p.DB <= -80 {
		p.Why = fmt.Sprintf("silence (%.0f dB)", p.DB)
	}
	return p
}

// hearsTone waits (up to within) until page hears hz as its strongest tone;
// the result has the level near probeHz too.
func hearsTone(t *testing.T, d *pagesDriver, page string, hz, probeHz float64, within time.Duration) audioPeak {
	t.Helper()
	var p audioPeak
	deadline := time.Now().Add(within)
	for {
		p = remotePeak(d, page, probeHz)
		if p.Why == "" && near(p.Hz, hz, waBrowserToneTol) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s hears %s, want %.0f Hz", page, p, hz)
		}
	}
}

// waCallToConsole starts the hub with the fake's number, agent1's console in
// Chromium (ready, auto-answer), and a user-initiated WhatsApp call that the
// console answers. It returns once both sides have media.
func waCallToConsole(t *testing.T, ctx context.Context, f *notifytest.WhatsAppFake, mutate func(*config.Config)) (*hub, *pagesDriver, *notifytest.MetaCall, string) {
	t.Helper()
	h := startHub(t, func(c *config.Config) {
		withWhatsApp(f)(c)
		if mutate != nil {
			mutate(c)
		}
	})
	if err := f.Subscribe(ctx, "http://"+hubHTTP+"/v1/whatsapp/webhook", waBrowserVerify); err != nil {
		t.Fatalf("webhook verification: %v", err)
	}
	d := startPages(t)
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": "http://" + hubHTTP + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 30*time.Second)

	call, err := f.UserCalls(ctx, waBrowserUser, "Sheena Nelson", notifytest.WithToneHz(waBrowserToneHz))
	if err != nil {
		t.Fatal(err)
	}
	d.waitJS("agent", "window.splitApp.call && window.splitApp.call.state === 'connected'", 30*time.Second)
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatalf("the hub did not accept the WhatsApp call: %v (actions %+v)", err, call.Actions())
	}
	for _, a := range call.Actions() {
		if a.ErrorCode != 0 {
			t.Errorf("Meta refused %s: %d %s", a.Action, a.ErrorCode, a.Details)
		}
	}
	sid := strings.Trim(string(d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "window.splitApp.call.session"})), `"`)
	// the console shows a WhatsApp call from the caller
	d.waitJS("agent", `document.querySelector('#ctx-mode').textContent === 'whatsapp' && document.body.textContent.includes('Sheena Nelson')`, 10*time.Second)
	if s := getSession(t, sid); s["mode"] != "whatsapp" {
		t.Fatalf("session %s: mode %v, want whatsapp", sid, s["mode"])
	}
	return h, d, call, sid
}

// TestWhatsAppCallInChromiumConsole: a WhatsApp user calls the business
// (Meta's connect webhook with its SDP offer); the hub routes the call to
// the built-in queue, agent1's console in Chromium rings and answers by
// itself, the hub accepts at Meta, and the voice flows both ways: the
// console receives the WhatsApp user's audio and hears the user's tone
// (AnalyserNode on the console's remote stream); the Meta peer receives
// and decodes the console's Opus and hears Chromium's fake microphone —
// nothing before the accept. The user hangs up: the console is told and
// the session ends as a WhatsApp session.
func TestWhatsAppCallInChromiumConsole(t *testing.T) {
	needPeers(t, "node", "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	h, d, call, sid := waCallToConsole(t, ctx, f, nil)
	peer := call.Peer()

	var a pageStats
	eventually(t, 20*time.Second, "100 audio packets each way between the console and the WhatsApp user", func() bool {
		a = d.stats("agent")
		return a.AudioIn.PacketsReceived > 100 && peer.Stats().PacketsIn > 100
	})
	heard := hearsTone(t, d, "agent", waBrowserToneHz, waBrowserToneHz, 15*time.Second)
	if err := peer.WaitTone(ctx, chromiumMicHz, waBrowserToneTol); err != nil {
		t.Fatalf("the console's microphone at the WhatsApp user: %v", err)
	}
	st := peer.Stats()
	a = d.stats("agent")
	t.Logf("console (%s): audio in %d packets (%s), out %d; hears %s. Meta peer: in %d (decode errors %d, early %d), out %d; hears %.0f Hz",
		browserName(d), a.AudioIn.PacketsReceived, a.AudioIn.Codec, a.AudioOut.PacketsSent, heard, st.PacketsIn, st.DecodeErrors, st.EarlyIn, st.PacketsOut, peer.DominantHz())
	if st.DecodeErrors != 0 {
		t.Errorf("%d of the console's packets did not decode as Opus at the WhatsApp user", st.DecodeErrors)
	}
	if st.EarlyIn != 0 {
		t.Errorf("%d packets reached Meta before the accept", st.EarlyIn)
	}
	if st.OtherIn != 0 {
		t.Errorf("%d packets of another payload type reached Meta", st.OtherIn)
	}
	if !strings.EqualFold(a.AudioIn.Codec, "opus") {
		t.Errorf("the console receives %q, want opus", a.AudioIn.Codec)
	}

	// the WhatsApp user hangs up
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	d.waitJS("agent", "!!window.splitApp.ended", 15*time.Second)
	eventually(t, 10*time.Second, "the session's end", func() bool { return getSession(t, sid)["state"] == "ended" })
	if s := getSession(t, sid); s["cause"] != "Customer hung up" {
		t.Errorf("the session ended with %v %v, want Customer hung up", s["cause_code"], s["cause"])
	}
	if call.HasAction("terminate") {
		t.Error("the hub sent terminate for a call the user ended")
	}
	h.waitMetric(`split_sessions_ended_total{cause="normal",mode="whatsapp"} 1`, 10*time.Second)
}

// TestWhatsAppVideoLinkInBrowsers: during a WhatsApp voice call answered in
// agent1's Chromium console, the agent clicks "Escalate to video": the video
// link goes into the same WhatsApp chat (a cta_url message to the caller; an
// SMS provider is configured and stays unused). The customer opens the link
// in the other browser (Firefox ESR) — and again in Chromium — and presses
// "Video call": video flows both ways while the voice stays on WhatsApp (the
// call is not terminated, the Meta peer keeps receiving, the console still
// hears the WhatsApp user, not the browser's microphone). "Talk from this
// device" moves the voice: the hub terminates the WhatsApp call and the
// console hears the browser's microphone. The customer hangs up: the
// session ends, counted as a WhatsApp session.
func TestWhatsAppVideoLinkInBrowsers(t *testing.T) {
	for _, browser := range []string{"firefox", "chromium"} {
		t.Run("customer in "+browser, func(t *testing.T) {
			needPeers(t, "node", "chromium")
			ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
			defer cancel()
			f := notifytest.StartWhatsApp(t)
			tw := notifytest.StartTwilio(t)
			h, d, call, sid := waCallToConsole(t, ctx, f, withSMS(tw))
			peer := call.Peer()
			eventually(t, 20*time.Second, "the WhatsApp user's audio at the console", func() bool {
				return d.stats("agent").AudioIn.PacketsReceived > 50 && peer.Stats().PacketsIn > 50
			})

			cust, cp := d, "cust"
			if browser == "firefox" {
				cust = startPagesIn(t, "firefox")
			}
			waVideoByLink(t, f, tw, d, sid, cust, cp)
			var c, a pageStats
			eventually(t, 40*time.Second, "video both ways between the customer's browser and the console", func() bool {
				c, a = cust.stats(cp), d.stats("agent")
				return c.VideoIn.FramesDecoded > 30 && a.VideoIn.FramesDecoded > 30
			})
			// the voice stays on WhatsApp
			if st := call.State(); st == notifytest.CallTerminated {
				t.Fatalf("the WhatsApp call ended (%+v) when the browser joined", call.End())
			}
			before := peer.Stats().PacketsIn
			eventually(t, 10*time.Second, "the console's voice to go on reaching the WhatsApp user", func() bool { return peer.Stats().PacketsIn > before+50 })
			mic := chromiumMicHz
			if browser == "firefox" {
				mic = firefoxMicHz
			}
			// the console hears the WhatsApp user, not the browser's microphone
			agentHeard := hearsTone(t, d, "agent", waBrowserToneHz, mic, 15*time.Second)
			if agentHeard.ProbeDB > agentHeard.DB-20 {
				t.Errorf("the browser's microphone (%.0f Hz) reaches the console at %.0f dB next to the WhatsApp voice at %.0f dB, although the voice stays on WhatsApp",
					mic, agentHeard.ProbeDB, agentHeard.DB)
			}
			// and the browser does not play the agent a second time (the WhatsApp call does)
			custHeard := remotePeak(cust, cp, chromiumMicHz)
			if custHeard.Why == "" && near(custHeard.Hz, chromiumMicHz, waBrowserToneTol) {
				t.Errorf("the customer's browser plays the agent's voice (%s) while the WhatsApp call carries it", custHeard)
			}
			t.Logf("with video (%s customer): customer video in %d frames (%s, %d px), audio in %d, hears %s; console video in %d frames (%s, %d px), audio in %d, hears %s (the browser's %.0f Hz at %.0f dB); Meta peer in %d",
				browserName(cust), c.VideoIn.FramesDecoded, c.VideoIn.Codec, c.VideoIn.FrameWidth, c.AudioIn.PacketsReceived, custHeard,
				a.VideoIn.FramesDecoded, a.VideoIn.Codec, a.VideoIn.FrameWidth, a.AudioIn.PacketsReceived, agentHeard, mic, agentHeard.ProbeDB, peer.Stats().PacketsIn)
			if call.HasAction("terminate") {
				t.Fatal("the hub terminated the WhatsApp call while the voice should stay on it")
			}

			// 3. "Talk from this device": the voice moves to the browser.
			if t.Failed() {
				// without the button, ask for the move as the button would
				cust.do(map[string]any{"cmd": "eval", "page": cp, "js": "window.splitApp.client.send({ type: 'move_audio' })"})
			} else {
				cust.do(map[string]any{"cmd": "click", "page": cp, "selector": `role=button[name="Talk from this device"]`})
			}
			end, err := call.WaitTerminated(ctx)
			if err != nil {
				t.Fatalf("the WhatsApp call was not terminated after the move: %v", err)
			}
			if end.By != "business" {
				t.Errorf("the WhatsApp call ended by %q (%+v), want the hub's terminate", end.By, end)
			}
			cust.waitJS(cp, "!window.splitApp.phoneAudio && document.querySelector('#status').textContent.includes('through this device; the WhatsApp call has ended')", 15*time.Second)
			before = uint64(d.stats("agent").AudioIn.PacketsReceived)
			eventually(t, 10*time.Second, "the browser's voice at the console", func() bool {
				return uint64(d.stats("agent").AudioIn.PacketsReceived) > before+50
			})
			agentHeard = hearsTone(t, d, "agent", mic, mic, 15*time.Second)
			// and the browser now plays the agent's voice (Chromium's microphone)
			eventually(t, 10*time.Second, "the agent's voice in the customer's browser", func() bool { return cust.stats(cp).AudioIn.PacketsReceived > 50 })
			custHeard = hearsTone(t, cust, cp, chromiumMicHz, chromiumMicHz, 15*time.Second)
			st := peer.Stats()
			t.Logf("after the move: console hears %s, customer hears %s; WhatsApp call ended by %s (%s, %v); Meta peer received %d packets in all (decode errors %d, early %d)",
				agentHeard, custHeard, end.By, end.Status, end.Duration.Round(time.Millisecond), st.PacketsIn, st.DecodeErrors, st.EarlyIn)
			if st.DecodeErrors != 0 || st.EarlyIn != 0 {
				t.Errorf("Meta peer: %d decode errors, %d packets before the accept", st.DecodeErrors, st.EarlyIn)
			}
			if s := getSession(t, sid); s["state"] != "active" {
				t.Fatalf("after the move the session is %v", s["state"])
			}

			// 4. The customer hangs up: the session ends.
			cust.do(map[string]any{"cmd": "click", "page": cp, "selector": `role=button[name="Hang up"]`})
			d.waitJS("agent", "!!window.splitApp.ended", 15*time.Second)
			eventually(t, 10*time.Second, "the session's end", func() bool { return getSession(t, sid)["state"] == "ended" })
			h.waitMetric(`split_sessions_ended_total{cause="normal",mode="whatsapp"} 1`, 10*time.Second)
			var terminates int
			for _, act := range call.Actions() {
				if act.Action == "terminate" {
					terminates++
				}
			}
			if terminates != 1 {
				t.Errorf("the hub sent terminate %d times, want once", terminates)
			}
		})
	}
}

// waVideoByLink: the agent clicks "Escalate to video" in the console (page
// "agent" of d); the link goes into the WhatsApp chat as a cta_url message
// (no SMS, though tw is configured); the customer opens it in page cp of
// cust and presses "Video call"; the page joins the WhatsApp call's session
// and offers to take the voice off WhatsApp.
func waVideoByLink(t *testing.T, f *notifytest.WhatsAppFake, tw *notifytest.TwilioFake, d *pagesDriver, sid string, cust *pagesDriver, cp string) {
	t.Helper()
	// 1. The link goes into the WhatsApp chat.
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": `role=button[name="Escalate to video"]`})
	var link string
	eventually(t, 15*time.Second, "the video link in the WhatsApp chat", func() bool {
		for _, m := range f.Messages() {
			if m.InteractiveType == "cta_url" && m.WaID == strings.TrimPrefix(waBrowserUser, "+") {
				link = m.URL
			}
		}
		return link != ""
	})
	d.waitJS("agent", "window.splitApp.invited && window.splitApp.invited.channel === 'whatsapp'", 10*time.Second)
	if got := strings.Trim(string(d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "window.splitApp.invited.url"})), `"`); got != link {
		t.Errorf("the console shows the link %s, the chat got %s", got, link)
	}
	if n := len(tw.Messages()); n != 0 {
		t.Errorf("%d SMS sent for a WhatsApp caller's video link", n)
	}

	// 2. The customer opens it and joins with video.
	cust.do(map[string]any{"cmd": "open", "page": cp, "url": link, "viewport": map[string]int{"width": 390, "height": 844}})
	cust.waitJS(cp, "window.splitApp.link && window.splitApp.link.state === 'ready'", 15*time.Second)
	cust.do(map[string]any{"cmd": "click", "page": cp, "selector": `role=button[name="Video call"]`})
	cust.waitJS(cp, "window.splitApp.state === 'active'", 30*time.Second)
	// the page offers to take the voice off WhatsApp
	if _, err := cust.try(map[string]any{"cmd": "waitFor", "page": cp, "timeoutMs": 5000,
		"js": "window.splitApp.phoneAudio && !document.querySelector('#move-audio').hidden"}); err != nil {
		t.Errorf("the customer page does not offer \"Talk from this device\" while the voice is on WhatsApp (the hub's session message has no phone_audio): %v", err)
	}
	if got := strings.Trim(string(cust.do(map[string]any{"cmd": "eval", "page": cp, "js": "window.splitApp.call.session"})), `"`); got != sid {
		t.Fatalf("the link joined session %s, want the WhatsApp call's %s", got, sid)
	}
}

// sessionEvents are the types in the session's history, in order.
func sessionEvents(t *testing.T, sid string) []string {
	t.Helper()
	_, out := apiDo(t, "GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	evs, _ := out["events"].([]any)
	var types []string
	for _, e := range evs {
		if m, ok := e.(map[string]any); ok {
			types = append(types, fmt.Sprint(m["type"]))
		}
	}
	return types
}

// TestWhatsAppCustomerClosesVideoInChromium: the customer who added video
// to a WhatsApp voice call presses "Hang up" in the browser (the voice is
// still on WhatsApp): only the video ends, as for a phone call's Remote
// Viewer and as when the tab is closed — the WhatsApp call goes on, the
// console keeps hearing the WhatsApp user. Then the WhatsApp user hangs up:
// the session ends without a terminate from the hub.
func TestWhatsAppCustomerClosesVideoInChromium(t *testing.T) {
	needPeers(t, "node", "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	tw := notifytest.StartTwilio(t)
	_, d, call, sid := waCallToConsole(t, ctx, f, withSMS(tw))
	peer := call.Peer()
	waVideoByLink(t, f, tw, d, sid, d, "cust")
	eventually(t, 40*time.Second, "video both ways between the customer's browser and the console", func() bool {
		return d.stats("cust").VideoIn.FramesDecoded > 30 && d.stats("agent").VideoIn.FramesDecoded > 30
	})

	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	var evs []string
	eventually(t, 15*time.Second, "the browser's leave to be recorded (video ended, or the session ended)", func() bool {
		evs = sessionEvents(t, sid)
		return strings.Contains(strings.Join(evs, " "), "session.video_ended") || getSession(t, sid)["state"] == "ended"
	})
	if s := getSession(t, sid); s["state"] != "active" {
		t.Fatalf("the customer's browser hung up the WhatsApp voice call: session %v (%v %v), WhatsApp call %+v; history %v",
			s["state"], s["cause_code"], s["cause"], call.End(), evs)
	}
	if call.State() == notifytest.CallTerminated {
		t.Fatalf("the WhatsApp call ended (%+v) when the browser left", call.End())
	}
	before, beforeAgent := peer.Stats().PacketsIn, d.stats("agent").AudioIn.PacketsReceived
	eventually(t, 10*time.Second, "the WhatsApp voice to go on both ways", func() bool {
		return peer.Stats().PacketsIn > before+50 && d.stats("agent").AudioIn.PacketsReceived > beforeAgent+50
	})
	heard := hearsTone(t, d, "agent", waBrowserToneHz, waBrowserToneHz, 15*time.Second)
	t.Logf("after the browser left: the console hears %s, the Meta peer received %d packets", heard, peer.Stats().PacketsIn)

	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	d.waitJS("agent", "!!window.splitApp.ended", 15*time.Second)
	eventually(t, 10*time.Second, "the session's end", func() bool { return getSession(t, sid)["state"] == "ended" })
	if s := getSession(t, sid); s["cause"] != "Customer hung up" {
		t.Errorf("the session ended with %v %v, want Customer hung up", s["cause_code"], s["cause"])
	}
	if call.HasAction("terminate") {
		t.Error("the hub sent terminate for a call the user ended")
	}
}
