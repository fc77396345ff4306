package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// The Deaf Interpreter mode (docs/interpreter.md). Tones assert the media
// plan the session enforces: the deaf user D sends 697 Hz, the lead
// interpreter L 1209 Hz, the phone P (testutil's SIP UA behind the trunk)
// 1477 Hz.
const (
	ivToneDeaf   = toneCustomer // 697
	ivToneInterp = toneAgent1   // 1209
	ivTonePhone  = 1477.0
	ivNumber     = "910000300" // national (country code 34)
)

var ivTones = []float64{ivToneDeaf, ivToneInterp, ivTonePhone}

func ivConfig(t *testing.T, base int) *config.Config {
	cfg := hubConfig(t, base, t.TempDir())
	withInterpreter(cfg)
	return cfg
}

// withInterpreter adds the interpreter mode to cfg: entry point "sign",
// queue interp-ase-en with interpreter int1, American Sign Language.
func withInterpreter(cfg *config.Config) {
	cfg.Sessions.CountryCode = "34"
	cfg.Sessions.EntryPoints = append(cfg.Sessions.EntryPoints, config.EntryPoint{Name: "sign", Public: true, Mode: config.ModeInterpreter})
	cfg.Sessions.Routes = append([]config.Route{{Name: "asl", Entry: "sign", SignLanguage: "ase", Target: "queue:interp-ase-en"}}, cfg.Sessions.Routes...)
	cfg.Sessions.Queues = append(cfg.Sessions.Queues, config.Queue{Name: "interp-ase-en"})
	cfg.Sessions.Agents = append(cfg.Sessions.Agents, config.Agent{ID: "int1", Name: "Ana", Queues: []string{"interp-ase-en"}})
	cfg.Interpreter = &config.Interpreter{Languages: []config.SignLanguage{{Tag: "ase", Name: "American Sign Language", Spoken: "en"}}}
}

// ivCell starts a hub on cfg for one test and returns the test's cell;
// the hub, and whatever the test adds to c.close, stop when the test ends.
func ivCell(t *testing.T, cfg *config.Config, within time.Duration) *cell {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	logs := &lockedBuf{}
	h, err := testutil.StartHub(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &cell{t: t, ctx: ctx, h: h, a: api{t, h.URL}, logs: logs}
	t.Cleanup(func() {
		for i := len(c.close) - 1; i >= 0; i-- {
			c.close[i]()
		}
		h.Stop()
		cancel()
	})
	return c
}

// lockedBuf is a hub log kept for a test to read.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// ivBlock is a frame's interpreter object.
func ivBlock(t *testing.T, m testutil.Message) map[string]any {
	t.Helper()
	var f struct {
		Interpreter map[string]any `json:"interpreter"`
	}
	if err := json.Unmarshal(m.Raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Interpreter
}

// phoneLevel is the level of hz in the last second the phone received.
func phoneLevel(call *testutil.SIPCall, hz float64) float64 {
	pcm := call.Received()
	if len(pcm) < 8000 {
		return 0
	}
	return media.ToneLevel(pcm[len(pcm)-8000:], hz, 8000)
}

const heard, unheard = 0.05, 0.01

// ivToneInterp2 is a second interpreter's tone.
const ivToneInterp2 = 852.0

// TestInterpreterMediaPlan walks a deaf-initiated call through the
// switches and checks, by tone, who hears whom at each step.
func TestInterpreterMediaPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23000
	c := ivCell(t, ivConfig(t, base), 3*time.Minute)
	ctx := c.ctx
	calls := make(chan *testutil.SIPCall, 4)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone, Ring: 200 * time.Millisecond,
		OnCall: func(c *testutil.SIPCall) { calls <- c }})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()

	// the pool: an interpreter of the language's queue, ready
	in := c.agent("int1", ivToneInterp, 1, true)

	// the deaf user's page: hello names the languages
	d := c.peer("entry=sign", ivToneDeaf, 9)
	hello := c.wait(d, isType("hello"))
	if langs := fmt.Sprint(ivBlock(t, hello)["languages"]); !strings.Contains(langs, "ase") {
		t.Fatalf("hello.interpreter.languages = %s", langs)
	}
	if err := d.Start(ctx, "Luis", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
		t.Fatal(err)
	}
	offer := c.wait(in, isType("offer"))
	oi := ivBlock(t, offer)
	if oi["purpose"] != "interpret" || oi["sign_language"] != "ase" || oi["language"] != "en" || oi["to"] != "+34910000300" {
		t.Fatalf("offer.interpreter = %v", oi)
	}
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	c.sid = offer.Session
	act := c.state(d, "active")
	ai := ivBlock(t, act)
	if ai["deaf_user"] != "joined" || fmt.Sprint(ai["phone"]) != "map[state:none to:+34910000300]" {
		t.Errorf("session.interpreter on accept = %v", ai)
	}
	// interpretation is confidential: no AI, no monitoring supervisor (interpreter.allow_recording off)
	for _, body := range []map[string]any{{"kind": "ai", "service": "analytics"}, {"kind": "supervisor", "agent": "int1", "mode": "monitor"}} {
		if code, out := c.a.do("POST", "/v1/sessions/"+c.sid+"/participants", body); code != 403 {
			t.Errorf("%v on an interpreter session: %d %v", body, code, out)
		}
	}

	// the lead dials; the phone rings, answers, and hears the interpreter only
	c.send(in, map[string]any{"type": "dial", "session": c.sid})
	var call *testutil.SIPCall
	select {
	case call = <-calls:
	case <-ctx.Done():
		t.Fatal("the phone was never called")
	}
	if !strings.Contains(call.Header("To"), "+34910000300") {
		t.Errorf("the phone call went to %q", call.Header("To"))
	}
	c.wait(d, func(m testutil.Message) bool {
		return m.Type == "session" && m.Raw != nil && strings.Contains(string(m.Raw), `"state":"connected"`)
	})
	plan := func(what string, f func() bool) { t.Helper(); waitUntil(t, 10*time.Second, what, f) }
	plan("the phone hears the interpreter, not the deaf user (VCO off)", func() bool {
		return phoneLevel(call, ivToneInterp) > heard && phoneLevel(call, ivToneDeaf) < unheard
	})
	plan("the interpreter hears the phone only", func() bool {
		return in.ToneLevel(ivTonePhone) > heard && in.ToneLevel(ivToneDeaf) < unheard
	})
	plan("the deaf user hears nothing (HCO off)", func() bool {
		return d.ToneLevel(ivTonePhone) < unheard && d.ToneLevel(ivToneInterp) < unheard && d.AudioPackets() > 50
	})

	// VCO: the deaf user's voice to the phone (and the interpreter)
	c.send(d, map[string]any{"type": "carry_over", "vco": true})
	plan("with VCO the phone hears both", func() bool {
		return phoneLevel(call, ivToneInterp) > heard && phoneLevel(call, ivToneDeaf) > heard
	})
	plan("with VCO the interpreter hears the deaf user", func() bool { return in.ToneLevel(ivToneDeaf) > heard })

	// HCO: the phone's voice to the deaf user
	c.send(in, map[string]any{"type": "carry_over", "session": c.sid, "hco": true})
	plan("with HCO the deaf user hears the phone", func() bool {
		return d.ToneLevel(ivTonePhone) > heard && d.ToneLevel(ivToneInterp) < unheard
	})

	// side-talk: the lead to the deaf user only
	c.send(in, map[string]any{"type": "side_talk", "session": c.sid, "side_talk": true})
	plan("in side-talk the phone no longer hears the interpreter", func() bool {
		return phoneLevel(call, ivToneInterp) < unheard && phoneLevel(call, ivToneDeaf) > heard
	})
	plan("in side-talk the deaf user hears the interpreter", func() bool { return d.ToneLevel(ivToneInterp) > heard })
	m := c.wait(d, func(m testutil.Message) bool {
		return m.Type == "session" && m.Raw != nil && ivBlock(t, m)["side_talk"] == true
	})
	if ph := fmt.Sprint(ivBlock(t, m)["phone_hears"]); ph != "[deaf user]" {
		t.Errorf("phone_hears in side-talk with VCO = %s", ph)
	}

	// only the lead may talk aside; the deaf user may not dial
	c.send(d, map[string]any{"type": "dial", "to": ivNumber})
	if e := c.wait(d, isType("error")); e.ErrorCode() != "bad_request" {
		t.Errorf("a customer's dial: %s", e.ErrorCode())
	}
	// a second call while one is live is refused
	c.send(in, map[string]any{"type": "dial", "session": c.sid})
	if e := c.wait(in, isType("error")); e.ErrorCode() != "conflict" {
		t.Errorf("a second dial: %s %s", e.ErrorCode(), e.Message)
	}

	// release: the phone gets its BYE, the session goes on
	c.send(in, map[string]any{"type": "release", "session": c.sid})
	select {
	case <-call.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the released phone call did not end")
	}
	if !call.ByeReceived() {
		t.Error("the released phone got no BYE")
	}
	c.wait(d, func(m testutil.Message) bool {
		return m.Type == "session" && m.Raw != nil && strings.Contains(string(m.Raw), `"state":"ended"`) && m.State == "active"
	})

	// the interpreter hangs up: the session ends, the deaf user is told
	c.hangup(in)
	c.expect(200, "Interpreter hung up")
	c.told = append(c.told, d)
	c.check()
	// the number the deaf user called is not in the hub's log (§10)
	if out := c.logs.String(); strings.Contains(out, "910000300") || !strings.Contains(out, "INVITE sent") {
		t.Errorf("the hub's info log names the number called (or logged no INVITE):\n%s", out)
	}
}

// TestInterpreterAutoDial: with interpreter.dial.auto the number the deaf
// user gave is dialled as soon as the first interpreter accepts, with no
// dial frame; the interpreter and the phone then hear each other.
func TestInterpreterAutoDial(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23700
	cfg := ivConfig(t, base)
	cfg.Interpreter.Dial.Auto = true
	c := ivCell(t, cfg, time.Minute)
	calls := make(chan *testutil.SIPCall, 2)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone,
		OnCall: func(sc *testutil.SIPCall) { calls <- sc }})
	if err != nil {
		t.Fatal(err)
	}
	c.close = append(c.close, func() { _ = phone.Close() })
	in := c.agent("int1", ivToneInterp, 1, true)
	d := c.peer("entry=sign", ivToneDeaf, 9)
	if err := d.Start(c.ctx, "Luis", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
		t.Fatal(err)
	}
	c.accept(in, 0)
	call := c.next(calls)
	if !strings.Contains(call.Header("To"), "+34910000300") {
		t.Errorf("the automatic call went to %q", call.Header("To"))
	}
	c.wait(d, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"phone":{"state":"connected"`)
	})
	waitUntil(t, 10*time.Second, "the interpreter hears the phone", func() bool { return in.ToneLevel(ivTonePhone) > heard })
	waitUntil(t, 10*time.Second, "the phone hears the interpreter", func() bool { return phoneLevel(call, ivToneInterp) > heard })
	c.hangup(d)
	c.expect(200, "Customer hung up")
	c.told = append(c.told, d, in)
	c.byes = append(c.byes, call)
	c.check()
}

// TestInterpreterStartRefusals: what a deaf user's start must carry, and
// the dial policy applied before any session exists.
func TestInterpreterStartRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23100
	c := ivCell(t, ivConfig(t, base), time.Minute)
	ctx := c.ctx
	for _, tc := range []struct {
		name  string
		extra map[string]any
		code  string
		msg   string
	}{
		{"no sign language", map[string]any{"to": ivNumber}, "bad_request", "sign_language"},
		{"a language not offered", map[string]any{"sign_language": "bfi"}, "bad_request", "sign_language"},
		{"an emergency number", map[string]any{"sign_language": "ase", "to": "112"}, "forbidden", "emergency"},
		{"an emergency number, normalised", map[string]any{"sign_language": "ase", "to": "+34 112"}, "forbidden", "emergency"},
		{"an international number", map[string]any{"sign_language": "ase", "to": "+15551230000"}, "forbidden", "national"},
		{"not a number", map[string]any{"sign_language": "ase", "to": "call me"}, "bad_request", "telephone number"},
	} {
		d := c.peer("entry=sign", ivToneDeaf, 9)
		err := d.Start(ctx, "Luis", tc.extra)
		if err == nil {
			t.Errorf("%s: started", tc.name)
			continue
		}
		e := c.wait(d, isType("error"))
		if e.ErrorCode() != tc.code || !strings.Contains(strings.ToLower(e.Message), tc.msg) {
			t.Errorf("%s: %s %q, want %s about %q", tc.name, e.ErrorCode(), e.Message, tc.code, tc.msg)
		}
	}
	// nothing was created
	if code, list := c.a.do("GET", "/v1/sessions", nil); code != 200 || len(list["sessions"].([]any)) != 0 {
		t.Errorf("refused starts left sessions: %v", list)
	}
}

// TestInterpreterRTT: real-time text between the deaf user's page and the
// interpreter's console over T.140 data channels (RFC 8865), relayed by the
// hub as it is typed, filtered (§6.3), and kept line by line in the history.
func TestInterpreterRTT(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23300
	const secret = "whsec_0123456789abcdef"
	sink := &hookSink{}
	srv := httptest.NewServer(sink.handler(secret))
	defer srv.Close()
	cfg := ivConfig(t, base)
	cfg.Sessions.Agents = append(cfg.Sessions.Agents, config.Agent{ID: "int2", Name: "Ben", Queues: []string{"interp-ase-en"}})
	cfg.Sessions.Webhooks = []config.Webhook{{URL: srv.URL, Secret: secret, Events: []string{"*"}}}
	retention := 3 * time.Second
	cfg.Interpreter.RTT.Retention = &retention
	c := ivCell(t, cfg, 2*time.Minute)
	ctx := c.ctx
	in := c.agent("int1", ivToneInterp, 1, true)
	in.Text = true
	d := c.peer("entry=sign", ivToneDeaf, 9)
	d.Text = true
	if err := d.Start(ctx, "Luis", map[string]any{"sign_language": "ase"}); err != nil {
		t.Fatal(err)
	}
	offer := c.wait(in, isType("offer"))
	if !strings.Contains(offer.SDP, "m=application") {
		t.Fatal("the interpreter's offer has no data channel section")
	}
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	c.sid = offer.Session
	act := c.state(d, "active")
	var dLeg string
	for _, f := range d.Frames() {
		if f.Type == "answer" {
			dLeg = f.Leg
		}
	}
	_ = act
	waitUntil(t, 10*time.Second, "both text channels open and the hub's channels named", func() bool {
		return d.TextOpen() && in.TextOpen() &&
			fmt.Sprint(d.TextLabels()) == "[interpreter/"+offer.Leg+"]" && fmt.Sprint(in.TextLabels()) == "[deaf-user/"+dLeg+"]"
	})
	// typed by the deaf user, key by key: a typo erased, a colour escape
	// (not T.140 text) dropped, a new line
	var lat []time.Duration
	typed := ""
	for _, k := range []string{"h", "e", "l", "l", "o", "o", "\b", ",", " ", "\x1b[31m", "i", "\x1b[0m", "n", "t", "\u2028"} {
		at := time.Now()
		if err := d.TypeText(k); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k, "\x1b") {
			typed += k
		}
		want := typed
		waitUntil(t, 5*time.Second, "the interpreter sees "+fmt.Sprintf("%q", want), func() bool { return in.TextFrom("deaf-user/") == want })
		lat = append(lat, time.Since(at))
	}
	t.Logf("deaf user → interpreter, per keystroke: %v", lat)
	if err := in.TypeText("Hi Luis\u2028"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the deaf user sees the interpreter's text", func() bool { return d.TextFrom("interpreter/") == "Hi Luis\u2028" })

	// a team partner who joins now gets the text so far (rtt_backlog);
	// asked for by queue: its free interpreter (int2; int1 is in the call)
	in2 := c.agent("int2", ivToneInterp2, 2, true)
	c.send(in, map[string]any{"type": "team", "session": c.sid, "to": "queue:interp-ase-en"})
	o2 := c.wait(in2, isType("offer"))
	if err := in2.Accept(ctx, o2); err != nil {
		t.Fatal(err)
	}
	bl := c.wait(in2, isType("rtt_backlog"))
	var backlog struct {
		Session string
		Lines   []struct{ From, Name, Text string }
	}
	if err := json.Unmarshal(bl.Raw, &backlog); err != nil || backlog.Session != c.sid ||
		fmt.Sprint(backlog.Lines) != "[{deaf-user Luis hello, int} {interpreter Ana Hi Luis}]" {
		t.Errorf("the partner's rtt_backlog: %s (%v)", bl.Raw, err)
	}

	c.hangup(d)
	c.expect(200, "Customer hung up")
	c.told = append(c.told, d, in, in2)
	c.check()
	_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
	var lines []string
	for _, e := range ev["events"].([]any) {
		e := e.(map[string]any)
		if e["type"] == "rtt.text" {
			data, _ := e["data"].(map[string]any)
			lines = append(lines, fmt.Sprint(data["from"], ": ", data["text"]))
		}
	}
	if got := strings.Join(lines, " | "); got != "deaf-user: hello, int | interpreter: Hi Luis" {
		t.Errorf("rtt.text history: %q", got)
	}

	// webhooks: the lifecycle, never the text (§6.5)
	waitUntil(t, 10*time.Second, "the session's end at the webhook", func() bool { return sink.has("session.ended") })
	sink.mu.Lock()
	for i, b := range sink.bodies {
		if sink.types[i] == "rtt.text" || strings.Contains(b, "hello") || strings.Contains(b, "Hi Luis") {
			t.Errorf("a webhook carries the text: %s", b)
		}
	}
	sink.mu.Unlock()

	// retention: the text goes, the events (and the record's counts) stay
	waitUntil(t, 20*time.Second, "the text redacted after interpreter.rtt.retention", func() bool {
		_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
		var red []string
		for _, e := range ev["events"].([]any) {
			e := e.(map[string]any)
			if e["type"] == "rtt.text" {
				data, _ := e["data"].(map[string]any)
				if data["text"] != nil || data["redacted"] != true {
					return false
				}
				red = append(red, fmt.Sprint(data["from"], ":", data["chars"]))
			}
		}
		if got := strings.Join(red, " "); got != "deaf-user:10 interpreter:7" {
			t.Fatalf("redacted rtt.text events: %q", got)
		}
		return true
	})
	_, rec := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
	if iv := ivRecord(t, rec); iv != nil {
		if n, _ := iv["rtt_lines"].(map[string]any); n["deaf-user"] != float64(1) || n["interpreter"] != float64(1) {
			t.Errorf("the record's rtt_lines after the retention: %v", iv["rtt_lines"])
		}
	}
}

// TestInterpreterHearingInitiated: a hearing caller dials a number of
// interpreter.numbers; the call rings until an interpreter accepts (no 200
// before), the interpreter talks with the caller and invites the deaf user
// by link; the deaf user joins and sees the interpreter.
func TestInterpreterHearingInitiated(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23400
	cfg := ivConfig(t, base)
	cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
	cfg.Interpreter.Numbers = []config.InterpreterNumber{{Number: "+34910000399", SignLanguage: "ase"}}
	c := ivCell(t, cfg, 2*time.Minute)
	ctx := c.ctx
	u, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: tonePhone})
	if err != nil {
		t.Fatal(err)
	}
	c.close = append(c.close, func() { _ = u.Close() })
	in := c.agent("int1", ivToneInterp, 1, true)
	type res struct {
		call *testutil.SIPCall
		err  error
	}
	answered := make(chan res, 1)
	go func() {
		sc, err := u.Invite(ctx, fmt.Sprintf("sip:+34910000399@127.0.0.1:%d", base+1))
		answered <- res{sc, err}
	}()
	offer := c.wait(in, isType("offer"))
	if offer.From == "" {
		t.Error("the offer does not say who calls")
	}
	if oi := ivBlock(t, offer); oi["purpose"] != "interpret" || oi["sign_language"] != "ase" || oi["language"] != "en" {
		t.Fatalf("offer.interpreter = %v", oi)
	}
	select {
	case r := <-answered:
		t.Fatalf("the hearing caller was answered before an interpreter accepted (%v)", r.err)
	default:
	}
	c.sid = offer.Session
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	var call *testutil.SIPCall
	select {
	case r := <-answered:
		if r.err != nil {
			t.Fatal(r.err)
		}
		call = r.call
	case <-ctx.Done():
		t.Fatal("the hearing caller was never answered")
	}
	waitUntil(t, 10*time.Second, "the interpreter and the caller hear each other", func() bool {
		return in.ToneLevel(tonePhone) > heard && phoneLevel(call, ivToneInterp) > heard
	})
	m := c.wait(in, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"deaf_user":"absent"`) && strings.Contains(string(m.Raw), `"state":"connected"`)
	})
	_ = m

	// the interpreter invites the deaf user by link; the deaf user joins
	c.send(in, map[string]any{"type": "escalate", "session": c.sid, "channel": "copy"})
	inv := c.wait(in, isType("invited"))
	var invited struct{ URL string }
	_ = json.Unmarshal(inv.Raw, &invited)
	code, out := join(t, c.a, linkToken(t, invited.URL), nil)
	if code != 200 {
		t.Fatalf("join: %d %v", code, out)
	}
	d := c.peer("token="+out["ws_token"].(string), ivToneDeaf, 9)
	if hello := ivBlock(t, c.wait(d, isType("hello"))); hello == nil {
		t.Error("the deaf user's hello has no interpreter object")
	}
	if err := d.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "video between the deaf user and the interpreter", func() bool {
		return in.VideoFrom(9) > 10 && d.VideoFrom(1) > 10
	})
	waitUntil(t, 10*time.Second, "the caller hears the interpreter, not the deaf user", func() bool {
		return phoneLevel(call, ivToneInterp) > heard && phoneLevel(call, ivToneDeaf) < unheard
	})
	c.wait(in, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"deaf_user":"joined"`)
	})

	// the caller hangs up; the session goes on; the deaf user ends it
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	c.wait(d, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"phone":{"state":"ended"`) && m.State == "active"
	})
	c.hangup(d)
	c.expect(200, "Customer hung up")
	c.told = append(c.told, d, in)
	c.check()
}

// TestInterpreterHandoff: the lead hands the session to another interpreter
// without dropping the phone call (docs/interpreter.md §5.1 handoff). The
// phone keeps one RTP stream (one SSRC, no BYE, no re-INVITE); during the
// overlap it hears the outgoing interpreter only; then the incoming one.
// The audio gap at the switch is measured from the phone's recording.
func TestInterpreterHandoff(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base, toneInterp2 = 23500, ivToneInterp2
	cfg := ivConfig(t, base)
	cfg.Sessions.Agents = append(cfg.Sessions.Agents, config.Agent{ID: "int2", Name: "Ben", Queues: []string{"interp-ase-en"}})
	c := ivCell(t, cfg, 2*time.Minute)
	ctx := c.ctx
	calls := make(chan *testutil.SIPCall, 2)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone,
		OnCall: func(c *testutil.SIPCall) { calls <- c }})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	in1 := c.agent("int1", ivToneInterp, 1, true)
	in2 := c.agent("int2", toneInterp2, 2, false)
	d := c.peer("entry=sign", ivToneDeaf, 9)
	if err := d.Start(ctx, "Luis", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
		t.Fatal(err)
	}
	offer := c.wait(in1, isType("offer"))
	if err := in1.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	c.sid = offer.Session
	c.state(d, "active")
	c.send(in1, map[string]any{"type": "dial", "session": c.sid})
	call := <-calls
	waitUntil(t, 10*time.Second, "the phone hears the first interpreter", func() bool { return phoneLevel(call, ivToneInterp) > heard })
	waitUntil(t, 10*time.Second, "the deaf user sees the first interpreter", func() bool { return d.VideoFrom(1) > 10 })

	// only the lead hands off; the target must be connected
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "to": "agent:nobody"})
	if e := c.wait(in1, isType("error")); e.ErrorCode() != "unavailable" {
		t.Errorf("hand-off to an unconnected interpreter: %s", e.ErrorCode())
	}
	// a queue: its longest-ready interpreter; int2 is connected but not
	// ready, int1 is in the session: nobody is free, the request waits
	// (queued) until the lead withdraws it
	errAbout := func(what string) func(testutil.Message) bool {
		return func(m testutil.Message) bool { return m.Type == "error" && strings.Contains(string(m.Raw), what) }
	}
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "to": "queue:interp-ase-en"})
	c.wait(in1, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"handoff":{"state":"queued","purpose":"handoff","to":"queue:interp-ase-en"}`)
	})
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "to": "agent:int2"})
	if e := c.wait(in1, errAbout("a handoff is pending")); e.ErrorCode() != "conflict" {
		t.Errorf("a second request while one waits: %s", e.ErrorCode())
	}
	n := len(in1.Frames())
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "cancel": true})
	i := 0
	c.wait(in1, func(m testutil.Message) bool {
		i++
		return i > n && m.Type == "session" && !strings.Contains(string(m.Raw), `"handoff":`)
	})
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "to": "queue:nope"})
	if e := c.wait(in1, errAbout(`no queue \"nope\"`)); e.ErrorCode() != "bad_request" {
		t.Errorf("hand-off to an unknown queue: %s", e.ErrorCode())
	}
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "to": "agent:int2"})
	o2 := c.wait(in2, isType("offer"))
	if oi := ivBlock(t, o2); oi["purpose"] != "handoff" || oi["sign_language"] != "ase" {
		t.Fatalf("the incoming interpreter's offer: %v", oi)
	}
	if err := in2.Accept(ctx, o2); err != nil {
		t.Fatal(err)
	}
	// the overlap: the incoming interpreter follows the call, the phone
	// and the deaf user still have the first
	waitUntil(t, 10*time.Second, "the incoming interpreter hears the phone and the lead", func() bool {
		return in2.ToneLevel(ivTonePhone) > heard && in2.ToneLevel(ivToneInterp) > heard
	})
	waitUntil(t, 10*time.Second, "the incoming interpreter sees the deaf user", func() bool { return in2.VideoFrom(9) > 10 })
	if l := phoneLevel(call, toneInterp2); l > unheard {
		t.Errorf("the phone hears the incoming interpreter during the overlap (%.3f)", l)
	}
	if l := in1.ToneLevel(toneInterp2); l < heard {
		t.Logf("the lead hears the incoming interpreter at %.3f", l)
	}
	seen1 := d.VideoFrom(2)

	// the first interpreter leaves: the second is the lead
	c.hangup(in1)
	waitUntil(t, 10*time.Second, "the phone hears the new lead only", func() bool {
		return phoneLevel(call, toneInterp2) > heard && phoneLevel(call, ivToneInterp) < unheard
	})
	waitUntil(t, 10*time.Second, "the deaf user sees the new lead", func() bool { return d.VideoFrom(2) > seen1+10 })
	m := c.wait(d, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"name":"Ben","lead":true`)
	})
	if m.State != "active" {
		t.Errorf("after the hand-off the session is %s", m.State)
	}
	select {
	case <-call.Done():
		t.Fatal("the phone call ended at the hand-off")
	default:
	}
	st := call.Stats()
	if st.SSRCs != 1 || call.ByeReceived() {
		t.Errorf("the phone saw %d RTP streams (want 1) and BYE %v", st.SSRCs, call.ByeReceived())
	}
	for ev, want := range map[string]float64{"handoff_requested": 2, "handoff_withdrawn": 1, "handoff_accepted": 1, "handoff_done": 1, "phone_dialled": 1, "phone_answered": 1} {
		if n := metric(c, `split_interpreter_events_total{event="`+ev+`"}`); n != want {
			t.Errorf("split_interpreter_events_total{event=%q} = %v, want %v", ev, n, want)
		}
	}
	t.Logf("phone stream across the hand-off: %d packets, %d lost, %d SSRC; audio gap %v", st.PacketsReceived, st.Lost, st.SSRCs, toneGap(call.Received(), ivToneInterp, toneInterp2))

	// the record while live: two interpreters, one still there and lead
	_, live := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
	if iv := ivRecord(t, live); iv != nil {
		ints, _ := iv["interpreters"].([]any)
		if len(ints) != 2 || iv["open"] != true || iv["handoffs"] != float64(1) || iv["sign_language"] != "ase" {
			t.Errorf("the live session's interpreter record: %v", iv)
		} else if second := ints[1].(map[string]any); second["agent"] != "int2" || second["left"] != nil || second["lead_seconds"].(float64) <= 0 {
			t.Errorf("the incoming interpreter in the live record: %v", second)
		}
	}

	c.hangup(in2)
	c.expect(200, "Interpreter hung up")
	c.told = append(c.told, d, in2)
	c.byes = append(c.byes, call)
	c.check()

	// the stored record: interpreter minutes per interpreter, the phone
	// call's conversation time, and no number
	_, done := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
	iv := ivRecord(t, done)
	if iv == nil {
		return
	}
	ints, _ := iv["interpreters"].([]any)
	pcs, _ := iv["phone_calls"].([]any)
	if len(ints) != 2 || len(pcs) != 1 || iv["open"] != false {
		t.Fatalf("the ended session's interpreter record: %v", iv)
	}
	var lead float64
	for _, x := range ints {
		m := x.(map[string]any)
		if m["left"] == nil || m["seconds"].(float64) <= 0 {
			t.Errorf("interpreter minutes: %v", m)
		}
		lead += m["lead_seconds"].(float64)
	}
	p := pcs[0].(map[string]any)
	if p["direction"] != "dialled" || p["answered"] == nil || p["ended"] == nil || p["seconds"].(float64) <= 0 || p["code"] != float64(200) {
		t.Errorf("the phone call in the record: %v", p)
	}
	if js, _ := json.Marshal(iv); strings.Contains(string(js), ivNumber) {
		t.Errorf("the record carries the number called: %s", js)
	}
	t.Logf("interpreter record: wait %vs, lead seconds %.2f in all, phone conversation %vs", iv["wait_seconds"], lead, p["seconds"])
}

// ivRecord is a session record's interpreter block.
func ivRecord(t *testing.T, rec map[string]any) map[string]any {
	t.Helper()
	iv, ok := rec["interpreter"].(map[string]any)
	if !ok {
		t.Errorf("the record of an interpreter session has no interpreter block: %v", rec)
	}
	return iv
}

// toneGap is the silence between the last 20 ms frame where from dominates
// and the first where to dominates, in pcm (8 kHz).
func toneGap(pcm []int16, from, to float64) time.Duration {
	last, first := -1, -1
	for i := 0; i+160 <= len(pcm); i += 160 {
		f := pcm[i : i+160]
		a, b := media.ToneLevel(f, from, 8000), media.ToneLevel(f, to, 8000)
		if a > heard && a > b {
			last = i / 160
			first = -1
		}
		if b > heard && b > a && first < 0 && last >= 0 {
			first = i / 160
		}
	}
	if last < 0 || first < 0 {
		return -1
	}
	return time.Duration(first-last-1) * 20 * time.Millisecond
}

// TestInterpreterRTTPhone: the deaf user's text reaches a text phone in RFC
// 4103 (text/t140 with red, a trunk with text: true) and the phone's text
// reaches both pages — the phone is testutil's RFC 4103 contract peer,
// written from the RFCs, not from the hub's code.
func TestInterpreterRTTPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 23600
	cfg := ivConfig(t, base)
	cfg.SIP.Trunks[0].Text = true
	c := ivCell(t, cfg, 2*time.Minute)
	ctx := c.ctx
	calls := make(chan *testutil.SIPCall, 1)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone, Text: true,
		OnCall: func(sc *testutil.SIPCall) { calls <- sc }})
	if err != nil {
		t.Fatal(err)
	}
	c.close = append(c.close, func() { _ = phone.Close() })
	in := c.agent("int1", ivToneInterp, 1, true)
	in.Text = true
	d := c.peer("entry=sign", ivToneDeaf, 9)
	d.Text = true
	if err := d.Start(ctx, "Luis", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
		t.Fatal(err)
	}
	offer := c.wait(in, isType("offer"))
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	c.sid = offer.Session
	c.state(d, "active")
	c.send(in, map[string]any{"type": "dial", "session": c.sid})
	call := <-calls
	if sdp := string(call.RemoteSDP()); !strings.Contains(sdp, "m=text") || !strings.Contains(sdp, "98/98/98") {
		t.Fatalf("the hub's INVITE offers no RFC 4103 text:\n%s", sdp)
	} else if txt := sdp[strings.Index(sdp, "m=text"):]; !strings.Contains(txt, "a=hlang-send:en\r\n") || !strings.Contains(txt, "a=hlang-recv:en\r\n") {
		t.Errorf("the m=text section does not say the text's language (RFC 8373):\n%s", txt)
	}
	waitUntil(t, 10*time.Second, "text channels from the phone on both pages", func() bool {
		return call.HasText() && d.TextOpen() && strings.Contains(fmt.Sprint(d.TextLabels()), "phone/") &&
			strings.Contains(fmt.Sprint(in.TextLabels()), "phone/")
	})
	if err := d.TypeText("can you hear me\u2028"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the phone receives the deaf user's text", func() bool {
		return strings.Contains(call.ReceivedText(), "can you hear me")
	})
	if err := call.SendText("yes, go ahead\r\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "both pages show the phone's text", func() bool {
		return strings.Contains(d.TextFrom("phone/"), "yes, go ahead") && strings.Contains(in.TextFrom("phone/"), "yes, go ahead")
	})
	c.hangup(d)
	c.expect(200, "Customer hung up")
	c.told = append(c.told, d, in)
	c.byes = append(c.byes, call)
	c.check()
	_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
	if !strings.Contains(fmt.Sprint(ev), "yes, go ahead") {
		t.Error("the phone's line is not in the history")
	}
}
