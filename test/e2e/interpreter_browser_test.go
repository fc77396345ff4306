package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// The Deaf Interpreter mode (docs/interpreter.md) in real browsers against
// the real hub: the deaf user's page (customer.html?entry=sign) in Chromium
// or Firefox ESR, the interpreter console (interpreter.html) in Chromium,
// and the hearing party a testutil SIP UA on the hub's trunk (pbxAddr), so
// that what the phone hears can be measured. Both pages send a pure tone
// instead of their fake microphone (toneHookJS), the phone plays its own.
//
// Only what the hub builds is exercised: a deaf-initiated call routed by
// sign language to the built-in queue, dial by the lead, VCO/HCO/side-talk
// enforced by the session's mixer, RTT over T.140 data channels, hang-up.
// Hand-off, team, escalate, hearing-initiated calls and RTT to SIP are not.

const (
	ivE2EToneDeaf   = 697.0  // the deaf user's page
	ivE2EToneInterp = 1209.0 // the interpreter's console
	ivE2EToneTel    = 1477.0 // the phone
	ivE2ENumber     = "910 000 300"
	ivE2ENumberE164 = "+34910000300"
	// ToneLevel of a tone in the last second the phone received: the
	// "not heard" threshold of test/sessions (< 0.01).
	ivE2EUnheard = 0.01
	// A tone the plan lets through reaches the phone at about the level it
	// was sent (0.5 of full scale, toneHookJS): waiting for most of it
	// measures a whole second of it, not the ramp.
	ivE2EFull = 0.3
)

// withInterpreter adds the mode to the e2e hub: the entry point "sign"
// (two languages so that the deaf user chooses), ASL routed to the queue
// interp-ase-en served by int1 "Ana", national numbers of +34; the phone
// is dialled through the trunk "pbx" (sip.default_trunk).
func withInterpreter(c *config.Config) {
	c.WebRTC.Video = true
	c.Sessions.Demo = false
	c.Sessions.CountryCode = "34"
	c.Sessions.EntryPoints = append(c.Sessions.EntryPoints, config.EntryPoint{Name: "sign", Public: true, Mode: config.ModeInterpreter})
	c.Sessions.Routes = append([]config.Route{{Name: "asl", Entry: "sign", SignLanguage: "ase", Target: "queue:interp-ase-en"}}, c.Sessions.Routes...)
	c.Sessions.Queues = append(c.Sessions.Queues, config.Queue{Name: "interp-ase-en"})
	c.Sessions.Agents = append(c.Sessions.Agents, config.Agent{ID: "int1", Name: "Ana", Queues: []string{"interp-ase-en"}},
		config.Agent{ID: "int2", Name: "Ben", Queues: []string{"interp-ase-en"}})
	c.Interpreter = &config.Interpreter{Languages: []config.SignLanguage{
		{Tag: "bfi", Name: "British Sign Language", Spoken: "en"},
		{Tag: "ase", Name: "American Sign Language", Spoken: "en"},
	}}
}

// toneHookJS makes a page send a pure tone instead of its microphone: the
// call's audio sender gets an oscillator's track (replaceTrack, no
// renegotiation). The track is not the page's local stream, so the deaf
// user's page cannot disable it with VCO off: what the phone hears is then
// decided by the hub's plan alone.
func toneHookJS(hz float64) string {
	return fmt.Sprintf(`async () => {
	const pc = window.splitApp.call && window.splitApp.call.pc;
	if (!pc) throw new Error('no peer connection');
	const tr = pc.getTransceivers().find((t) => t.receiver.track && t.receiver.track.kind === 'audio');
	if (!tr) throw new Error('no audio transceiver');
	const ctx = new AudioContext();
	await ctx.resume();
	const osc = ctx.createOscillator();
	osc.frequency.value = %f;
	const gain = ctx.createGain();
	gain.gain.value = 0.5;
	const dst = ctx.createMediaStreamDestination();
	osc.connect(gain).connect(dst);
	osc.start();
	await tr.sender.replaceTrack(dst.stream.getAudioTracks()[0]);
	window.splitTestTone = { ctx, osc, hz: %f };
	return ctx.state;
}`, hz, hz)
}

// videoInJS is the page's received video from getStats itself (the
// page's stats() has no frame rate): frames decoded, the browser's own
// framesPerSecond, the frame size, the codec, and Date.now().
const videoInJS = `async () => {
	const pc = window.splitApp.call.pc;
	const r = await pc.getStats();
	const codecs = new Map();
	r.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
	let v = null;
	r.forEach((s) => { if (s.type === 'inbound-rtp' && (s.kind || s.mediaType) === 'video') v = s; });
	let out = null;
	r.forEach((s) => { if (s.type === 'outbound-rtp' && (s.kind || s.mediaType) === 'video') out = s; });
	const st = window.splitApp.call.localStream;
	const cam = st && st.getVideoTracks()[0] ? st.getVideoTracks()[0].getSettings() : {};
	const sent = { camera: (cam.width || 0) + 'x' + (cam.height || 0) + '@' + Math.round(cam.frameRate || 0),
		encoded: out ? (out.frameWidth || 0) + 'x' + (out.frameHeight || 0) + '@' + Math.round(out.framesPerSecond || 0) : '', limited: out ? out.qualityLimitationReason || '' : '' };
	if (!v) return { at: Date.now(), frames: 0, sent };
	return { at: Date.now(), frames: v.framesDecoded || 0, fps: v.framesPerSecond || 0, width: v.frameWidth || 0, height: v.frameHeight || 0,
		keyFrames: v.keyFramesDecoded || 0, codec: codecs.get(v.codecId) || '', sent };
}`

type videoIn struct {
	At        int64   `json:"at"`
	Frames    int     `json:"frames"`
	FPS       float64 `json:"fps"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	KeyFrames int     `json:"keyFrames"`
	Codec     string  `json:"codec"`
	Sent      struct {
		Camera  string `json:"camera"`  // the local camera track's settings, WxH@fps
		Encoded string `json:"encoded"` // the outbound video's frame size and rate
		Limited string `json:"limited"` // its qualityLimitationReason
	} `json:"sent"`
}

func readVideoIn(t *testing.T, d *pagesDriver, page string) videoIn {
	t.Helper()
	var v videoIn
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": videoInJS}), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// measureVideo returns the received frame rate over a window of at least
// 3 s (Δ framesDecoded / Δ t) and the last sample.
func measureVideo(t *testing.T, d *pagesDriver, page string) (float64, videoIn) {
	t.Helper()
	a := readVideoIn(t, d, page)
	b := a
	eventually(t, 10*time.Second, page+": a 3 s measurement window", func() bool {
		b = readVideoIn(t, d, page)
		return b.At-a.At >= 3000
	})
	return float64(b.Frames-a.Frames) * 1000 / float64(b.At-a.At), b
}

// phoneHears is the level of hz in the last second the phone received.
func phoneHears(call *testutil.SIPCall, hz float64) float64 {
	pcm := call.Received()
	if len(pcm) < 8000 {
		return 0
	}
	return media.ToneLevel(pcm[len(pcm)-8000:], hz, 8000)
}

// ivWait polls f until it holds; on time-out the test fails with what the
// last poll said.
func ivWait(t *testing.T, within time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %s)", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func evalString(d *pagesDriver, page, js string) string {
	var s string
	_ = json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": js}), &s)
	return s
}

// keyLogJS records, in the page, Date.now() at every keydown in the RTT
// field (capture phase: before the page's own handlers).
const keyLogJS = `() => {
	window.splitTestKeys = [];
	document.querySelector('#rtt-input').addEventListener('keydown', (e) => window.splitTestKeys.push({ key: e.key, at: Date.now() }), true);
	return true;
}`

type rttEntry struct {
	At   int64  `json:"at"`
	From string `json:"from"`
	Text string `json:"text"`
}

// rttLatencies types text key by key into page's RTT field and returns,
// per character, the time from its keydown (in the typing page) to its
// arrival in the other page's log from source "from" (Date.now() in both:
// one machine's clock). It waits until the other page shows the text.
func rttLatencies(t *testing.T, typer *pagesDriver, page string, reader *pagesDriver, rpage, logJS, textJS, from, text string) []time.Duration {
	t.Helper()
	typer.do(map[string]any{"cmd": "eval", "page": page, "js": keyLogJS})
	var before []rttEntry
	_ = json.Unmarshal(reader.do(map[string]any{"cmd": "eval", "page": rpage, "js": logJS}), &before)
	for _, r := range text {
		k := string(r) // " " is the space key in Playwright and in puppeteer over BiDi
		typer.do(map[string]any{"cmd": "press", "page": page, "selector": "#rtt-input", "key": k})
	}
	ivWait(t, 10*time.Second, fmt.Sprintf("%s to show %q", rpage, text), func() (bool, string) {
		got := evalString(reader, rpage, textJS)
		return strings.HasSuffix(got, text), fmt.Sprintf("%q", got)
	})
	var keys []struct {
		Key string `json:"key"`
		At  int64  `json:"at"`
	}
	_ = json.Unmarshal(typer.do(map[string]any{"cmd": "eval", "page": page, "js": "window.splitTestKeys"}), &keys)
	var log []rttEntry
	_ = json.Unmarshal(reader.do(map[string]any{"cmd": "eval", "page": rpage, "js": logJS}), &log)
	log = log[len(before):]
	if len(keys) != len([]rune(text)) {
		t.Fatalf("%d keydowns recorded for %d characters", len(keys), len([]rune(text)))
	}
	var lat []time.Duration
	n := 0 // characters received so far
	for _, e := range log {
		if e.From != from {
			continue
		}
		for range []rune(e.Text) {
			if n < len(keys) {
				lat = append(lat, time.Duration(e.At-keys[n].At)*time.Millisecond)
			}
			n++
		}
	}
	if len(lat) != len(keys) {
		t.Fatalf("%d characters received for %d typed (log %v)", len(lat), len(keys), log)
	}
	return lat
}

func latencySummary(lat []time.Duration) (p50, max time.Duration) {
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

// ivCall is a call in progress between the two pages and the phone.
type ivCall struct {
	t              *testing.T
	h              *hub
	deaf, interp   *pagesDriver // drivers of the deaf user's page and the console (maybe the same)
	phone          *testutil.SIPUAS
	calls          chan *testutil.SIPCall
	call           *testutil.SIPCall
	sid            string
	deafBrowserTag string
}

const (
	pgDeaf   = "deaf"
	pgInterp = "interp"
)

// ivSetUp starts the hub, the phone, the console (ready) and the deaf
// user's page; then the deaf user chooses the language, types the number
// and calls with the keyboard alone; the console shows the offer card and
// accepts. It returns when both pages are in the call.
func ivSetUp(t *testing.T, deafBrowser string) *ivCall {
	t.Helper()
	c := &ivCall{t: t, calls: make(chan *testutil.SIPCall, 4), deafBrowserTag: deafBrowser}
	c.h = startHub(t, withInterpreter)
	var err error
	c.phone, err = testutil.StartUAS(testutil.UASOptions{Listen: pbxAddr, ToneHz: ivE2EToneTel, Ring: 200 * time.Millisecond,
		OnCall: func(sc *testutil.SIPCall) { c.calls <- sc }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.phone.Close() })
	c.interp = startPages(t)
	c.deaf = c.interp
	if deafBrowser != "chromium" {
		c.deaf = startPagesIn(t, deafBrowser)
	}
	base := "http://" + hubHTTP
	c.interp.do(map[string]any{"cmd": "open", "page": pgInterp, "url": base + "/interpreter.html#token=" + c.h.agentToken("int1") + "&autologin=1&ready=1",
		"viewport": map[string]int{"width": 1280, "height": 800}})
	c.interp.waitJS(pgInterp, "window.splitApp && window.splitApp.agentState === 'ready'", 30*time.Second)
	c.deaf.do(map[string]any{"cmd": "open", "page": pgDeaf, "url": base + "/customer.html?entry=sign", "viewport": map[string]int{"width": 1280, "height": 800}})
	c.deaf.waitJS(pgDeaf, "window.splitApp.deaf.on && window.splitApp.client && window.splitApp.client.connected && !document.querySelector('#call-interpreter').disabled", 30*time.Second)

	// The offer the page makes, kept for the diagnostics (observed, not changed).
	c.deaf.do(map[string]any{"cmd": "eval", "page": pgDeaf, "js": `() => { const co = RTCPeerConnection.prototype.createOffer;
		RTCPeerConnection.prototype.createOffer = async function (...a) { const o = await co.apply(this, a); window.splitTestOffer = o.sdp; return o; }; return true; }`})

	// 1. Keyboard only: the chooser lists the languages by name; the
	// first is British, the deaf user moves to American; the number;
	// Tab to "Call an interpreter", Enter.
	opts := evalString(c.deaf, pgDeaf, "[...document.querySelector('#sign-language').options].map((o) => o.textContent).join('|')")
	if opts != "British Sign Language (bfi)|American Sign Language (ase)" {
		t.Errorf("the sign language chooser offers %q", opts)
	}
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "selector": "#sign-language", "key": "ArrowDown"})
	c.deaf.waitJS(pgDeaf, "document.querySelector('#sign-language').value === 'ase'", 5*time.Second)
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "key": "Tab"})
	c.deaf.waitJS(pgDeaf, "document.activeElement && document.activeElement.id === 'deaf-to'", 5*time.Second)
	for _, r := range ivE2ENumber {
		k := string(r)
		c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "key": k})
	}
	if v := evalString(c.deaf, pgDeaf, "document.querySelector('#deaf-to').value"); v != ivE2ENumber {
		t.Fatalf("the number field holds %q after typing %q", v, ivE2ENumber)
	}
	for i := 0; i < 4 && evalString(c.deaf, pgDeaf, "document.activeElement.id") != "call-interpreter"; i++ {
		c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "key": "Tab"})
	}
	if id := evalString(c.deaf, pgDeaf, "document.activeElement.id"); id != "call-interpreter" {
		t.Fatalf("Tab from the number field does not reach \"Call an interpreter\" (focus on #%s)", id)
	}
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "key": "Enter"})
	if _, err := c.deaf.try(map[string]any{"cmd": "waitFor", "page": pgDeaf, "js": "['waiting', 'ringing', 'active'].includes(window.splitApp.state) || !!window.splitApp.error", "timeoutMs": 20000}); err != nil {
		t.Fatalf("Enter on \"Call an interpreter\" started nothing: %v; the page says %s", err,
			evalString(c.deaf, pgDeaf, "JSON.stringify({state: window.splitApp.state, status: document.querySelector('#status').textContent, error: window.splitApp.error, focus: document.activeElement.id})"))
	}
	// Firefox's offer (bundlePolicy max-bundle) has every m-line but the
	// first at port 0 with a=bundle-only (RFC 9143 §7.2): an active video
	// m-line, which the hub must take as the camera.
	if e := evalString(c.deaf, pgDeaf, "window.splitApp.error || ''"); e != "" {
		t.Fatalf("the hub refused the deaf user's start (%s): %q; the page's offer: %s", deafBrowser, e,
			evalString(c.deaf, pgDeaf, `(window.splitTestOffer || '').split('\r\n').filter((l) => /^m=|^a=bundle-only|^a=group:BUNDLE/.test(l)).join(' | ')`))
	}

	// The console's offer card: the language by name, the number.
	if _, err := c.interp.try(map[string]any{"cmd": "waitFor", "page": pgInterp, "js": "!document.querySelector('#offer').hidden", "timeoutMs": 20000}); err != nil {
		var errs []string
		_ = json.Unmarshal(c.deaf.do(map[string]any{"cmd": "console", "page": pgDeaf}), &errs)
		t.Fatalf("no offer on the console: %v; the deaf user's page says %s; its console errors: %v", err,
			evalString(c.deaf, pgDeaf, "JSON.stringify({state: window.splitApp.state, status: document.querySelector('#status').textContent, error: window.splitApp.error})"), errs)
	}
	card := evalString(c.interp, pgInterp, "document.querySelector('#offer').innerText")
	for _, want := range []string{"American Sign Language (ase)", ivE2ENumberE164, "New call"} {
		if !strings.Contains(card, want) {
			t.Errorf("the offer card does not show %q:\n%s", want, card)
		}
	}
	if ws := evalString(c.deaf, pgDeaf, "window.splitApp.state"); ws != "waiting" && ws != "ringing" {
		t.Errorf("the deaf user's page is %q while the interpreter is offered", ws)
	}
	c.interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name="Accept"]`})
	c.deaf.waitJS(pgDeaf, "window.splitApp.state === 'active' && window.splitApp.call && window.splitApp.call.live", 30*time.Second)
	c.interp.waitJS(pgInterp, "window.splitApp.agentState === 'busy' && window.splitApp.call && window.splitApp.call.live && !!window.splitApp.interp", 15*time.Second)
	c.sid = evalString(c.deaf, pgDeaf, "window.splitApp.call.session")
	if c.sid == "" {
		t.Fatal("the deaf user's page has no session id")
	}
	c.deaf.waitJS(pgDeaf, "document.querySelector('#status').textContent.includes('Interpreter Ana has joined')", 10*time.Second)
	return c
}

// tones replaces both pages' microphones with their tones.
func (c *ivCall) tones() {
	c.t.Helper()
	for _, x := range []struct {
		d    *pagesDriver
		page string
		hz   float64
	}{{c.deaf, pgDeaf, ivE2EToneDeaf}, {c.interp, pgInterp, ivE2EToneInterp}} {
		if st := string(x.d.do(map[string]any{"cmd": "eval", "page": x.page, "js": toneHookJS(x.hz)})); st != `"running"` {
			c.t.Fatalf("%s: the tone's AudioContext is %s", x.page, st)
		}
	}
}

// dial presses Dial on the console; the phone is called at the deaf
// user's number, answers, and both pages say it is connected.
func (c *ivCall) dial() {
	t := c.t
	t.Helper()
	if v := evalString(c.interp, pgInterp, "document.querySelector('#dial-to').value"); v != ivE2ENumberE164 {
		t.Errorf("the console's number field holds %q, want the deaf user's %s", v, ivE2ENumberE164)
	}
	c.interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name="Dial"]`})
	select {
	case c.call = <-c.calls:
	case <-time.After(15 * time.Second):
		t.Fatal("the phone was never called")
	}
	if to := c.call.Header("To"); !strings.Contains(to, ivE2ENumberE164) {
		t.Errorf("the phone call's To is %q, want %s", to, ivE2ENumberE164)
	}
	c.interp.waitJS(pgInterp, "document.querySelector('#phone-state').textContent.startsWith('Connected to')", 15*time.Second)
	c.deaf.waitJS(pgDeaf, "window.splitApp.deaf.interp && window.splitApp.deaf.interp.phone && window.splitApp.deaf.interp.phone.state === 'connected'", 10*time.Second)
	if line := evalString(c.deaf, pgDeaf, "document.querySelector('#phone-line').textContent"); !strings.Contains(line, "Connected to "+ivE2ENumberE164) {
		t.Errorf("the deaf user's phone line says %q", line)
	}
}

// phoneTones waits until the phone hears want (at nearly the level sent)
// and not notWant.
func (c *ivCall) phoneTones(what string, want, notWant []float64) {
	c.t.Helper()
	ivWait(c.t, 15*time.Second, what, func() (bool, string) {
		ok := true
		var s []string
		for _, hz := range want {
			l := phoneHears(c.call, hz)
			ok = ok && l > ivE2EFull
			s = append(s, fmt.Sprintf("%.0f Hz %.3f", hz, l))
		}
		for _, hz := range notWant {
			l := phoneHears(c.call, hz)
			ok = ok && l < ivE2EUnheard
			s = append(s, fmt.Sprintf("%.0f Hz %.3f", hz, l))
		}
		return ok, strings.Join(s, ", ")
	})
	var s []string
	for _, hz := range append(append([]float64{}, want...), notWant...) {
		s = append(s, fmt.Sprintf("%.0f Hz %.4f", hz, phoneHears(c.call, hz)))
	}
	c.t.Logf("%s: the phone's levels %s", what, strings.Join(s, ", "))
}

// hangUp: the deaf user presses Hang up; the phone gets a BYE, both pages
// show the end, the REST record says why.
func (c *ivCall) hangUp() {
	t := c.t
	t.Helper()
	// the hub counted the frames it forwarded to both pages (one sample per
	// 10 s of call; the figures are logged, the rate depends on the machine)
	ivWait(t, 25*time.Second, "the hub's video.quality samples of both pages", func() (bool, string) {
		q := hubVideoQuality(t, c.sid)
		n := 0
		for _, fps := range q {
			if fps > 5 {
				n++
			}
		}
		return n >= 2, fmt.Sprint(q)
	})
	t.Logf("the hub's forwarded frame rates (best 10 s sample per leg): %v", hubVideoQuality(t, c.sid))
	c.deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": `role=button[name="Hang up"]`})
	select {
	case <-c.call.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the phone call did not end")
	}
	if !c.call.ByeReceived() {
		t.Error("the phone got no BYE")
	}
	c.deaf.waitJS(pgDeaf, "window.splitApp.state === 'ended' && !document.querySelector('#ended').hidden", 15*time.Second)
	t.Logf("the deaf user's page at the end: %q / %q", evalString(c.deaf, pgDeaf, "document.querySelector('#ended-reason').textContent"),
		evalString(c.deaf, pgDeaf, "document.querySelector('#status').textContent"))
	c.interp.waitJS(pgInterp, "!!window.splitApp.ended && !(window.splitApp.call && window.splitApp.call.live) && ['wrap_up', 'ready'].includes(window.splitApp.agentState)", 15*time.Second)
	if last := evalString(c.interp, pgInterp, "document.querySelector('#last-ended').textContent"); !strings.Contains(last, "Customer hung up") {
		t.Errorf("the console says %q after the deaf user hung up", last)
	}
	var s map[string]any
	ivWait(t, 10*time.Second, "the session ended in the REST record", func() (bool, string) {
		s = getSession(t, c.sid)
		return s["state"] == "ended" && s["ended_at"] != nil, fmt.Sprint(s["state"])
	})
	if s["cause_code"] != float64(200) || s["cause"] != "Customer hung up" || s["mode"] != "interpreter" {
		t.Errorf("GET /v1/sessions/%s: mode %v, ended %v %q; want interpreter, 200 \"Customer hung up\"", c.sid, s["mode"], s["cause_code"], s["cause"])
	}
	t.Logf("session %s: %v %v %v", c.sid, s["mode"], s["cause_code"], s["cause"])
}

// hubVideoQuality reads the hub's own frame-rate samples of the session
// (video.quality events, docs/interpreter.md §7.4): the legs sampled and
// the best rate each was sent.
func hubVideoQuality(t *testing.T, sid string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+hubHTTP+"/v1/sessions/"+sid+"/events?format=json", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var evs struct {
		Events []struct {
			Type string         `json:"type"`
			Leg  string         `json:"leg"`
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	if err := json.NewDecoder(res.Body).Decode(&evs); err != nil {
		t.Fatalf("events: %v", err)
	}
	out := map[string]float64{}
	for _, e := range evs.Events {
		if e.Type == "video.quality" {
			if f, _ := e.Data["fps"].(float64); f >= out[e.Leg] {
				out[e.Leg] = f
			}
		}
	}
	return out
}

func (c *ivCall) consoleErrors() {
	c.t.Helper()
	for _, x := range []struct {
		d    *pagesDriver
		page string
	}{{c.deaf, pgDeaf}, {c.interp, pgInterp}} {
		var errs []string
		_ = json.Unmarshal(x.d.do(map[string]any{"cmd": "console", "page": x.page}), &errs)
		if len(errs) > 0 {
			c.t.Errorf("%s page console errors: %v", x.page, errs)
		}
	}
}

// rtt: the deaf user types, the console's "Deaf user" pane shows it (per
// character latency logged); the console types back.
func (c *ivCall) rtt() {
	t := c.t
	t.Helper()
	const fromDeaf, fromInterp = "hello, interpreter", "Hi Luis"
	lat := rttLatencies(t, c.deaf, pgDeaf, c.interp, pgInterp, "window.splitApp.rtt.log", "window.splitApp.rtt.text('deaf-user')", "deaf-user", fromDeaf)
	p50, max := latencySummary(lat)
	t.Logf("RTT deaf user (%s) → console: %d characters, p50 %v, max %v", c.deafBrowserTag, len(lat), p50, max)
	// the pane is the "Deaf user" log region, named for screen readers
	pane := evalString(c.interp, pgInterp, `(() => { const s = [...document.querySelectorAll('#rtt-panes section')].find((x) => /Deaf user/.test(x.querySelector('h3, h2, h4').textContent));
		const log = s && s.querySelector('[role=log]'); return log ? (log.getAttribute('aria-label') || '') + '|' + log.textContent : ''; })()`)
	if !strings.Contains(pane, "hello, interpreter") || !strings.Contains(pane, "Text from the deaf user") {
		t.Errorf("the console's Deaf user pane: %q", pane)
	}
	// Backspace erases in the other page
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "selector": "#rtt-input", "key": "Backspace"})
	c.interp.waitJS(pgInterp, "window.splitApp.rtt.text('deaf-user') === 'hello, interprete'", 5*time.Second)

	leg := evalString(c.interp, pgInterp, "window.splitApp.call.leg")
	lat = rttLatencies(t, c.interp, pgInterp, c.deaf, pgDeaf, "window.splitApp.deaf.rtt.log",
		fmt.Sprintf("window.splitApp.deaf.rtt.text('interpreter/%s') || ''", leg), "interpreter", fromInterp)
	p50, max = latencySummary(lat)
	t.Logf("RTT console → deaf user (%s): %d characters, p50 %v, max %v", c.deafBrowserTag, len(lat), p50, max)
	title := evalString(c.deaf, pgDeaf, `[...document.querySelectorAll('#rtt-panes section')].filter((s) => /^Text from the interpreter/.test(s.querySelector('[role=log]').getAttribute('aria-label'))).map((s) => s.querySelector('h3').textContent).join('|')`)
	if title != "Interpreter: Ana" {
		t.Errorf("the deaf user's pane for the interpreter is titled %q, want the interpreter's name", title)
	}
}

// requeue: the interpreter's console is lost (its page closed) mid-call.
// The deaf user's page says so and waits; the phone call stays (no BYE);
// a second interpreter's console (the same page name, so hangUp and the
// console checks follow it) gets the offer as a hand-off with the text so
// far (rtt_backlog), accepts, and the deaf user sees them.
func (c *ivCall) requeue() {
	t := c.t
	t.Helper()
	// a completed line, for the backlog
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "selector": "#rtt-input", "key": "Enter"})
	c.interp.waitJS(pgInterp, "window.splitApp.rtt.text('deaf-user').includes('\\n')", 10*time.Second)
	before := readVideoIn(t, c.deaf, pgDeaf).Frames
	// A lost console (a crash, the network gone), not a closed tab: the
	// console hangs up when its page is closed (pagehide), so the page's
	// socket and peer connection are cut without a hangup frame first.
	if ok := string(c.interp.do(map[string]any{"cmd": "eval", "page": pgInterp, "js": `() => {
		const a = window.splitApp; const cl = a.client; const ws = cl && cl.ws; const pc = a.call && a.call.pc;
		if (!ws || !pc) return false;
		cl.close = () => {}; // no hangup at pagehide
		ws.close(4000, 'test: console lost'); pc.close(); return true; }`})); ok != "true" {
		t.Fatalf("cutting the console's connections: %s", ok)
	}
	c.interp.do(map[string]any{"cmd": "close", "page": pgInterp})
	if _, err := c.deaf.try(map[string]any{"cmd": "waitFor", "page": pgDeaf, "timeoutMs": 20000,
		"js": "window.splitApp.state === 'waiting' && document.querySelector('#status').textContent.includes('Your interpreter was disconnected. Finding another interpreter')"}); err != nil {
		t.Fatalf("the deaf user's page after the console was lost: %v; it says %s; the session: %v", err,
			evalString(c.deaf, pgDeaf, "JSON.stringify({state: window.splitApp.state, status: document.querySelector('#status').textContent, interp: window.splitApp.deaf && window.splitApp.deaf.interp})"), getSession(t, c.sid))
	}
	if c.call.ByeReceived() {
		t.Error("the phone got a BYE when the interpreter's console was lost")
	}
	base := "http://" + hubHTTP
	c.interp.do(map[string]any{"cmd": "open", "page": pgInterp, "url": base + "/interpreter.html#token=" + c.h.agentToken("int2") + "&autologin=1&ready=1",
		"viewport": map[string]int{"width": 1280, "height": 800}})
	c.interp.waitJS(pgInterp, "!document.querySelector('#offer').hidden", 30*time.Second)
	if card := evalString(c.interp, pgInterp, "document.querySelector('#offer').innerText"); !strings.Contains(card, "American Sign Language (ase)") {
		t.Errorf("the requeued session's offer card:\n%s", card)
	}
	c.interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name="Accept"]`})
	c.deaf.waitJS(pgDeaf, "window.splitApp.state === 'active' && document.querySelector('#status').textContent.includes('Interpreter Ben has joined')", 30*time.Second)
	c.interp.waitJS(pgInterp, "window.splitApp.call && window.splitApp.call.live && window.splitApp.rtt.text('deaf-user').includes('hello, interprete')", 20*time.Second)
	eventually(t, 20*time.Second, "the deaf user's page to decode the new interpreter's video", func() bool {
		return readVideoIn(t, c.deaf, pgDeaf).Frames > before+30
	})
	if c.call.ByeReceived() {
		t.Error("the phone got a BYE across the requeue")
	}
	rec := getSession(t, c.sid)
	iv, _ := rec["interpreter"].(map[string]any)
	ints, _ := iv["interpreters"].([]any)
	t.Logf("after the requeue: %d interpreters in the record, state %v, the deaf user's page says %q", len(ints), rec["state"], evalString(c.deaf, pgDeaf, "document.querySelector('#status').textContent"))
	if len(ints) != 2 || rec["state"] != "active" {
		t.Errorf("the record after the requeue: state %v, interpreters %v", rec["state"], iv["interpreters"])
	}
}

// TestInterpreterBrowser: a whole deaf-initiated call in Chromium, the
// deaf user's page and the interpreter console in two browser contexts.
func TestInterpreterBrowser(t *testing.T) {
	c := ivSetUp(t, "chromium")

	// 2. Video both ways.
	eventually(t, 20*time.Second, "both pages to decode each other's video", func() bool {
		return readVideoIn(t, c.deaf, pgDeaf).Frames > 30 && readVideoIn(t, c.interp, pgInterp).Frames > 30
	})
	type got struct {
		page string
		fps  float64
		v    videoIn
	}
	var m []got
	for _, p := range []struct {
		d    *pagesDriver
		page string
	}{{c.deaf, pgDeaf}, {c.interp, pgInterp}} {
		fps, v := measureVideo(t, p.d, p.page)
		t.Logf("%s receives video: %.1f fps over the window (browser's framesPerSecond %.0f), %d×%d %s, %d frames, %d key frames; it sends: camera %s, encoded %s (limited by %q)",
			p.page, fps, v.FPS, v.Width, v.Height, v.Codec, v.Frames, v.KeyFrames, v.Sent.Camera, v.Sent.Encoded, v.Sent.Limited)
		m = append(m, got{p.page, fps, v})
	}
	// both pages are Chromium, which encodes and decodes H.264: the
	// session's one video codec is H.264 (§7.2)
	for _, g := range m {
		if !strings.EqualFold(g.v.Codec, "video/H264") {
			t.Errorf("%s receives %s; want H.264, which both Chromium pages can do", g.page, g.v.Codec)
		}
	}
	for i, g := range m {
		// Chromium's fake camera gives about 20 fps here, at 640×480 or
		// 640×360 from one run to the next (measured: docs/benchmarks.md),
		// so the spec's ≥ 20 fps at ≥ 640×480 (§7.1) cannot be asserted
		// with it. What is asserted: EN 301 549's 12 fps floor, a key frame,
		// and full resolution unless the page that sends this video says
		// its encoder scaled down for bandwidth or CPU (a busy CI machine:
		// the browser's choice, not the hub's).
		if g.fps < 12 || g.v.KeyFrames < 1 {
			t.Errorf("%s: video %.1f fps (%d key frames), want ≥ 12 fps and a key frame", g.page, g.fps, g.v.KeyFrames)
		}
		sender := m[1-i].v.Sent.Limited
		if (g.v.Width < 640 || g.v.Height < 360) && sender != "bandwidth" && sender != "cpu" {
			t.Errorf("%s: video %d×%d while its sender reports no limit (%q), want ≥ 640×360", g.page, g.v.Width, g.v.Height, sender)
		}
	}

	// 3. The media plan, by tone.
	c.tones()
	c.dial()
	c.phoneTones("VCO off: the phone hears the interpreter, not the deaf user", []float64{ivE2EToneInterp}, []float64{ivE2EToneDeaf})
	if on := string(c.deaf.do(map[string]any{"cmd": "eval", "page": pgDeaf, "js": "window.splitApp.deaf.micEnabled"})); on != "false" {
		t.Errorf("with VCO off the deaf user's microphone track is enabled=%s", on)
	}
	peak := remotePeak(c.deaf, pgDeaf, ivE2EToneTel)
	t.Logf("HCO off: the deaf user's page hears %s (%.0f dB near the phone's tone)", peak, peak.ProbeDB)
	if peak.Why == "" && near(peak.Hz, ivE2EToneTel, waBrowserToneTol) {
		t.Errorf("with HCO off the deaf user's page hears the phone: %s", peak)
	}

	// the toggle with the keyboard: Space on the focused button
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "selector": `role=button[name="Voice to phone (VCO)"]`, "key": " "})
	c.deaf.waitJS(pgDeaf, "document.querySelector('#vco').getAttribute('aria-pressed') === 'true' && window.splitApp.deaf.vco && window.splitApp.deaf.micEnabled === true", 10*time.Second)
	c.phoneTones("VCO on: the phone hears both", []float64{ivE2EToneInterp, ivE2EToneDeaf}, nil)
	c.interp.waitJS(pgInterp, "document.querySelector('#vco').getAttribute('aria-pressed') === 'true' && /Phone hears: [^.]*deaf user/i.test(window.splitApp.summary)", 10*time.Second)
	t.Logf("console routing line: %s", evalString(c.interp, pgInterp, "window.splitApp.summary"))

	c.interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name*="HCO"]`})
	c.deaf.waitJS(pgDeaf, "document.querySelector('#hco').getAttribute('aria-pressed') === 'true'", 10*time.Second)
	heard := hearsTone(t, c.deaf, pgDeaf, ivE2EToneTel, ivE2EToneInterp, 15*time.Second)
	t.Logf("HCO on: the deaf user's page hears %s (%.0f dB near the interpreter's tone)", heard, heard.ProbeDB)

	c.interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name="Mute to phone"]`})
	c.interp.waitJS(pgInterp, "!document.querySelector('#sidetalk-banner').hidden && document.querySelector('#sidetalk').getAttribute('aria-pressed') === 'true'", 10*time.Second)
	c.phoneTones("mute to phone: the phone no longer hears the interpreter (the deaf user's voice still)", []float64{ivE2EToneDeaf}, []float64{ivE2EToneInterp})
	ivWait(t, 15*time.Second, "in side-talk the deaf user's page hears the interpreter", func() (bool, string) {
		p := remotePeak(c.deaf, pgDeaf, ivE2EToneInterp)
		return p.Why == "" && p.ProbeDB > p.DB-20, fmt.Sprintf("%s, %.0f dB near %.0f Hz", p, p.ProbeDB, ivE2EToneInterp)
	})
	c.deaf.waitJS(pgDeaf, "document.querySelector('#status').textContent.includes('the phone cannot hear')", 10*time.Second)
	rec := getSession(t, c.sid)
	t.Logf("REST record during the call: state %v mode %v interpreter %v", rec["state"], rec["mode"], rec["interpreter"])
	if rec["state"] != "active" || rec["mode"] != "interpreter" {
		t.Errorf("GET /v1/sessions/%s during the call: state %v mode %v", c.sid, rec["state"], rec["mode"])
	}

	// 4. RTT. The text field is one step from the call controls (§9.1).
	c.deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "selector": `role=button[name="Type"]`, "key": "Enter"})
	c.deaf.waitJS(pgDeaf, "document.activeElement && document.activeElement.id === 'rtt-input'", 5*time.Second)
	c.rtt()

	// 6. The audits on both pages in the call (phone connected, side-talk on, text shown).
	screens(t, c.deaf, pgDeaf, "interpreter-deaf-call", "")
	screens(t, c.interp, pgInterp, "interpreter-console-call", "")
	deafPhoneAudit(t, c.deaf)

	// 7. The console is lost; another interpreter takes over.
	c.requeue()

	// 5. The deaf user hangs up.
	c.hangUp()
	c.consoleErrors()
}

// TestInterpreterFirefox: the deaf user's page in Firefox ESR (VP8 only,
// no H.264 here), the console in Chromium: the keyboard-only call, one
// tone check of the plan, RTT both ways, the hang-up.
func TestInterpreterFirefox(t *testing.T) {
	c := ivSetUp(t, "firefox")
	eventually(t, 30*time.Second, "both pages to decode each other's video", func() bool {
		return readVideoIn(t, c.deaf, pgDeaf).Frames > 30 && readVideoIn(t, c.interp, pgInterp).Frames > 30
	})
	v := readVideoIn(t, c.deaf, pgDeaf)
	t.Logf("Firefox receives %s %d×%d; %s", v.Codec, v.Width, v.Height, browserName(c.deaf))
	// the console (Chromium) does H.264; the session's one codec is H.264
	// only if the deaf user's browser offers it too (§7.2)
	ff := evalString(c.deaf, pgDeaf, "RTCRtpSender.getCapabilities('video').codecs.some((x) => /h264/i.test(x.mimeType)) && RTCRtpReceiver.getCapabilities('video').codecs.some((x) => /h264/i.test(x.mimeType)) ? 'H264' : 'VP8'")
	if !strings.EqualFold(strings.TrimPrefix(v.Codec, "video/"), ff) {
		t.Errorf("Firefox (%s capable) receives %s", ff, v.Codec)
	}
	c.tones()
	c.dial()
	c.phoneTones("VCO off: the phone hears the interpreter, not the deaf user (Firefox)", []float64{ivE2EToneInterp}, []float64{ivE2EToneDeaf})
	c.deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": `role=button[name="Voice to phone (VCO)"]`})
	c.deaf.waitJS(pgDeaf, "document.querySelector('#vco').getAttribute('aria-pressed') === 'true'", 10*time.Second)
	c.phoneTones("VCO on: the phone hears both (Firefox)", []float64{ivE2EToneInterp, ivE2EToneDeaf}, nil)
	c.rtt()
	c.requeue()
	c.hangUp()
	c.consoleErrors()
}

// touchTargetsJS lists the deaf user's visible call controls smaller than
// 44 × 44 CSS px (docs/interpreter.md §9.1, WCAG 2.5.5).
const touchTargetsJS = `() => [...document.querySelectorAll('#incall .controls button')].filter((b) => {
	const r = b.getBoundingClientRect(); return r.width > 1 && r.height > 1 && getComputedStyle(b).visibility !== 'hidden';
}).filter((b) => { const r = b.getBoundingClientRect(); return r.width < 44 || r.height < 44; })
	.map((b) => b.textContent.trim() + ' ' + Math.round(b.getBoundingClientRect().width) + '×' + Math.round(b.getBoundingClientRect().height))`

// deafPhoneAudit: the deaf user's page in the call on a phone in portrait
// (360 × 740 and 390 × 844, §9.1): the layout and accessibility audits,
// touch targets of the call controls, and the interpreter's video above
// the text. Screenshots in runs/screens/.
func deafPhoneAudit(t *testing.T, d *pagesDriver) {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("runs", "screens"))
	for _, s := range []struct{ w, h int }{{360, 740}, {390, 844}} {
		d.do(map[string]any{"cmd": "resize", "page": pgDeaf, "viewport": map[string]int{"width": s.w, "height": s.h}})
		var problems, p []string
		for _, js := range []string{layoutAuditJS, a11yAuditJS, touchTargetsJS} {
			p = nil
			_ = json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": pgDeaf, "js": js}), &p)
			problems = append(problems, p...)
		}
		if above := string(d.do(map[string]any{"cmd": "eval", "page": pgDeaf, "js": "document.querySelector('#remote-video').getBoundingClientRect().bottom <= document.querySelector('#captions').getBoundingClientRect().top"})); above != "true" {
			problems = append(problems, "the interpreter's video is not above the text")
		}
		path := filepath.Join(dir, fmt.Sprintf("interpreter-deaf-call-portrait-%d.png", s.w))
		d.do(map[string]any{"cmd": "screenshot", "page": pgDeaf, "path": path})
		if len(problems) > 0 {
			t.Errorf("the deaf user's page at %d × %d (%s):\n  %s", s.w, s.h, path, strings.Join(problems, "\n  "))
		}
	}
}
