package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// The Copilot AI mode (docs/copilot.md), against testutil.AIFake — a
// contract fake written from the document. The customer talks 440 Hz, the
// agent 880 Hz, a phone party 1000 Hz; what an AI speaks is 1500 Hz.
const (
	cpCustomer = 440.0
	cpAgent    = 880.0
	cpPhone    = 1000.0
	cpAI       = 1500.0
)

var cpTones = []float64{cpCustomer, cpAgent, cpPhone, cpAI}

func cpConfig(t *testing.T, base int, ai *testutil.AIFake) *config.Config {
	cfg := hubConfig(t, base, t.TempDir())
	cfg.Copilot = &config.Copilot{Services: []config.CopilotService{
		{Name: "assist", URL: ai.WS("split"), Token: ai.Token, Secret: ai.Secret, MaySpeak: true, AgentAttach: true},
		{Name: "tw", URL: ai.WS("twilio"), Format: "twilio", Token: ai.Token, Secret: ai.Secret, MaySpeak: true},
	}}
	return cfg
}

// cpCall connects agent1 (880 Hz, ready) and a customer (440 Hz) who
// calls; agent1 answers. With hear, it waits until each hears the other.
func cpCall(c *cell, hear bool) (ag, cu *testutil.SessionPeer) {
	c.t.Helper()
	ag = c.agent("agent1", cpAgent, 1, true)
	cu = c.peer("entry=default", cpCustomer, 9)
	if err := cu.Start(c.ctx, "Ana", nil); err != nil {
		c.t.Fatal(err)
	}
	o := c.wait(ag, isType("offer"))
	if err := ag.Accept(c.ctx, o); err != nil {
		c.t.Fatal(err)
	}
	c.sid = o.Session
	if hear {
		waitUntil(c.t, 10*time.Second, "the call", func() bool { return ag.DominantHz(cpTones) == cpCustomer && cu.DominantHz(cpTones) == cpAgent })
	}
	return ag, cu
}

// streamOnly asserts that pcm carries own and none of the other tones.
func streamOnly(t *testing.T, what string, pcm []int16, rate int, own float64) {
	t.Helper()
	if pcm == nil {
		t.Errorf("%s: not a second of audio", what)
		return
	}
	if lv := media.ToneLevel(pcm, own, rate); lv < 0.05 {
		t.Errorf("%s: its own tone %.0f Hz at %.3f", what, own, lv)
	}
	for _, f := range cpTones {
		if f != own {
			if lv := media.ToneLevel(pcm, f, rate); lv > 0.01 {
				t.Errorf("%s: carries %.0f Hz at %.3f (another participant's voice)", what, f, lv)
			}
		}
	}
}

// TestCopilotSeparation: two AIs attached through the API, one per wire
// format; each receives every participant's own audio separately — never
// the mix — while the call's audio is unchanged (everyone hears the
// others). Then the split AI's transcript, hint, alert and tag reach the
// console, the history and the context; a malformed message gets an error
// and the socket stays; whisper is heard by the agent only, an
// announcement by everyone; detach and the end say bye/stop.
func TestCopilotSeparation(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 26000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ai := testutil.StartAIFake("tok_0123456789", "sec_0123456789abcdef")
	defer ai.Close()
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: cpPhone, Record: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	h, err := testutil.StartHub(ctx, cpConfig(t, base, ai), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	ag := connectAgent(ctx, t, h, "agent1", cpAgent, 1, true)
	cust, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), cpCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Close()
	if err := cust.Start(ctx, "Ana", map[string]any{"language": "es"}); err != nil {
		t.Fatal(err)
	}
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	sid := offer.Session
	waitUntil(t, 10*time.Second, "the answered call", func() bool { return ag.DominantHz(cpTones) == cpCustomer && cust.DominantHz(cpTones) == cpAgent })

	// attach both; add the phone party
	var ids []string
	for _, svc := range []string{"assist", "tw"} {
		code, out := a.do("POST", "/v1/sessions/"+sid+"/participants", map[string]any{"kind": "ai", "service": svc})
		if code != 202 || !strings.HasPrefix(fmt.Sprint(out["participant"]), "ai_") {
			t.Fatalf("attach %s: %d %v", svc, code, out)
		}
		ids = append(ids, out["participant"].(string))
	}
	if code, out := a.do("POST", "/v1/sessions/"+sid+"/participants", map[string]any{"kind": "ai", "service": "assist"}); code != 409 {
		t.Errorf("attaching a service twice: %d %v", code, out)
	}
	if code, out := a.do("POST", "/v1/sessions/"+sid+"/participants", map[string]any{"kind": "ai", "service": "nope"}); code != 404 {
		t.Errorf("an unknown service: %d %v", code, out)
	}
	if code, out := a.do("POST", "/v1/sessions/"+sid+"/participants", map[string]any{"to": "1000"}); code != 202 {
		t.Fatalf("add the phone: %d %v", code, out)
	}
	call, err := phone.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(path string, only string) *testutil.AIConn {
		for _, c := range ai.Conns() {
			if c.Path != path {
				continue
			}
			st := c.Find("start", nil)
			if path == "/split" || (only == "" && st != nil && !strings.Contains(fmt.Sprint(st), "participant:")) ||
				(only != "" && st != nil && strings.Contains(fmt.Sprint(st), "role:"+only)) {
				return c
			}
		}
		return nil
	}
	// a socket is listed as soon as it is accepted, before its first frame is read
	if err := ai.Wait(ctx, "three sockets (split, twilio, twilio for the phone) and split's hello", func() bool {
		sp := conn("/split", "")
		return sp != nil && sp.Find("hello", nil) != nil && conn("/twilio", "") != nil && conn("/twilio", "phone-party") != nil
	}); err != nil {
		t.Fatal(err)
	}
	sp, tw, twPhone := conn("/split", ""), conn("/twilio", ""), conn("/twilio", "phone-party")
	for _, c := range []*testutil.AIConn{sp, tw, twPhone} {
		if c.AuthErr != "" || c.Header.Get("X-Split-Session") != sid {
			t.Errorf("%s: headers %q, session %q", c.Path, c.AuthErr, c.Header.Get("X-Split-Session"))
		}
	}
	hello := sp.Find("hello", nil)
	if hello == nil || hello["session"] != sid || hello["rate"] != float64(16000) || hello["version"] != float64(1) {
		t.Fatalf("hello: %v", hello)
	}
	if c, _ := hello["customer"].(map[string]any); c["name"] != "Ana" {
		t.Errorf("hello's customer: %v", hello["customer"])
	}
	if err := ai.Wait(ctx, "participants and two seconds of everyone's audio", func() bool {
		ok := true
		for _, role := range []string{"customer", "agent", "phone-party"} {
			p := sp.Participant(role)
			pcm, _ := sp.PCM(p, 2*time.Second)
			ok = ok && p != "" && pcm != nil
		}
		a1, _ := tw.PCM("inbound", 2*time.Second)
		a2, _ := tw.PCM("outbound", 2*time.Second)
		a3, _ := twPhone.PCM("inbound", 2*time.Second)
		return ok && a1 != nil && a2 != nil && a3 != nil
	}); err != nil {
		t.Fatal(err)
	}
	// separation, in both formats (the last second, once the phone's audio is steady)
	waitUntil(t, 5*time.Second, "the phone heard in the call", func() bool { return ag.ToneLevel(cpPhone) > 0.02 })
	for role, hz := range map[string]float64{"customer": cpCustomer, "agent": cpAgent, "phone-party": cpPhone} {
		pcm, rate := sp.PCM(sp.Participant(role), time.Second)
		streamOnly(t, "split "+role, pcm, rate, hz)
	}
	for name, s := range map[string]struct {
		c     *testutil.AIConn
		track string
		hz    float64
	}{"twilio inbound (customer)": {tw, "inbound", cpCustomer}, "twilio outbound (agent)": {tw, "outbound", cpAgent}, "twilio phone socket": {twPhone, "inbound", cpPhone}} {
		pcm, rate := s.c.PCM(s.track, time.Second)
		streamOnly(t, name, pcm, rate, s.hz)
	}
	if st := tw.Find("start", nil); st != nil {
		b, _ := json.Marshal(st)
		if !strings.Contains(string(b), `"mediaFormat":{"channels":1,"encoding":"audio/x-mulaw","sampleRate":8000}`) || !strings.Contains(string(b), `"tracks":["inbound","outbound"]`) {
			t.Errorf("twilio start: %s", b)
		}
	}
	t.Logf("frames split %d tw %d phone %d; split customer=%s agent=%s phone=%s", sp.Frames(), tw.Frames(), twPhone.Frames(), sp.Participant("customer"), sp.Participant("agent"), sp.Participant("phone-party"))
	// the call itself: everybody hears the two others
	if cust.ToneLevel(cpAgent) < 0.02 || cust.ToneLevel(cpPhone) < 0.02 || ag.ToneLevel(cpCustomer) < 0.02 {
		t.Errorf("the call's mix with AIs attached: customer hears agent %.3f phone %.3f; agent hears customer %.3f",
			cust.ToneLevel(cpAgent), cust.ToneLevel(cpPhone), ag.ToneLevel(cpCustomer))
	}

	// the AI talks back
	custP := sp.Participant("customer")
	for _, m := range []any{
		map[string]any{"type": "transcript", "participant": custP, "text": "quiero cancelar", "final": false},
		map[string]any{"type": "transcript", "participant": custP, "text": "quiero cancelar mi contrato", "final": true, "start_ms": 100, "end_ms": 1900, "language": "es"},
		map[string]any{"type": "hint", "text": "Offer the retention discount", "title": "Retention", "url": "https://kb.example.com/retain", "id": "h1"},
		map[string]any{"type": "alert", "severity": "warning", "reason": "Cancellation intent", "id": "a1"},
		map[string]any{"type": "tag", "key": "intent", "value": "cancel"},
	} {
		if err := sp.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.SendRaw(ctx, `{"type":"hint","text":"x","url":"javascript:alert(1)"}`); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"transcript", "hint", "alert", "tag"} {
		ev := ev
		if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool {
			return m.Type == "copilot" && strings.Contains(string(m.Raw), `"event":"`+ev+`"`) && strings.Contains(string(m.Raw), `"service":"assist"`)
		}); err != nil {
			t.Errorf("the console's copilot %s: %v", ev, err)
		}
	}
	if err := ai.Wait(ctx, "an error frame for the bad hint", func() bool {
		return sp.Find("error", func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["message"]), "https") }) != nil
	}); err != nil {
		t.Error(err)
	}
	waitUntil(t, 5*time.Second, "the history and the context", func() bool {
		_, ev := a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
		b, _ := json.Marshal(ev)
		_, s := a.do("GET", "/v1/sessions/"+sid, nil)
		sb, _ := json.Marshal(s)
		return strings.Contains(string(b), `"copilot.transcript"`) && strings.Contains(string(b), "quiero cancelar mi contrato") &&
			!strings.Contains(string(b), `"text":"quiero cancelar"`) && strings.Contains(string(b), `"copilot.alert"`) &&
			strings.Contains(string(b), `"copilot.hint"`) && strings.Contains(string(sb), `"ai.assist.intent":"cancel"`)
	})
	if sp.Closed() {
		t.Fatal("a malformed message closed the socket")
	}

	// whisper: the agent hears the AI, the customer and the phone do not
	if err := sp.Send(ctx, map[string]any{"type": "speak", "to": "agent"}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sp.Speak(ctx, cpAI, 4*time.Second) }()
	waitUntil(t, 5*time.Second, "the agent hears the whisper", func() bool { return ag.ToneLevel(cpAI) > 0.05 })
	if lv := cust.ToneLevel(cpAI); lv > 0.01 {
		t.Errorf("the customer hears the whisper: %.3f", lv)
	}
	if pcm := call.Received(); len(pcm) > 8000 && media.ToneLevel(pcm[len(pcm)-8000:], cpAI, 8000) > 0.01 {
		t.Errorf("the phone hears the whisper")
	}
	// the split stream of a participant does not carry the AI's voice either
	pcm, rate := sp.PCM(sp.Participant("agent"), time.Second)
	if lv := media.ToneLevel(pcm, cpAI, rate); lv > 0.01 {
		t.Errorf("the agent's stream carries the AI's voice: %.3f", lv)
	}
	t.Logf("whisper: agent %.3f customer %.3f", ag.ToneLevel(cpAI), cust.ToneLevel(cpAI))
	// announcement: everyone
	if err := sp.Send(ctx, map[string]any{"type": "clear"}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Send(ctx, map[string]any{"type": "speak", "to": "all", "mark": "start"}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sp.Speak(ctx, cpAI, 4*time.Second) }()
	waitUntil(t, 5*time.Second, "the announcement heard by all", func() bool {
		p := call.Received()
		return cust.ToneLevel(cpAI) > 0.05 && ag.ToneLevel(cpAI) > 0.05 && len(p) > 8000 && media.ToneLevel(p[len(p)-8000:], cpAI, 8000) > 0.05
	})
	if err := ai.Wait(ctx, "the mark echoed", func() bool { return sp.Find("mark", nil) != nil }); err != nil {
		t.Error(err)
	}

	// the Twilio-shaped AI speaks back (media events): heard by the agent only (speak_to: agent)
	if err := sp.Send(ctx, map[string]any{"type": "clear"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the announcement over", func() bool { return cust.ToneLevel(cpAI) < 0.01 && ag.ToneLevel(cpAI) < 0.01 })
	go func() { _ = tw.SpeakTwilio(ctx, cpAI, 3*time.Second) }()
	waitUntil(t, 5*time.Second, "the agent hears the Twilio AI", func() bool { return ag.ToneLevel(cpAI) > 0.05 })
	if lv := cust.ToneLevel(cpAI); lv > 0.01 {
		t.Errorf("the customer hears the Twilio AI's whisper: %.3f", lv)
	}

	// detach the twilio AI: its sockets stop; the end says bye
	if code, _ := a.do("DELETE", "/v1/sessions/"+sid+"/participants/"+ids[1], nil); code != 204 {
		t.Errorf("detach: %d", code)
	}
	if err := ai.Wait(ctx, "twilio stop and close", func() bool {
		return tw.Find("stop", nil) != nil && tw.Closed() && twPhone.Closed()
	}); err != nil {
		t.Error(err)
	}
	if code, out := a.do("DELETE", "/v1/sessions/"+sid, nil); code >= 300 {
		t.Fatalf("end: %d %v", code, out)
	}
	if err := ai.Wait(ctx, "bye and close", func() bool { return sp.Find("bye", nil) != nil && sp.Closed() }); err != nil {
		t.Error(err)
	}
	select {
	case <-call.Done():
	case <-time.After(10 * time.Second):
		t.Error("the phone's call did not end")
	}
}

// audioGaps checks the frames a peer received between from and to: no
// missing sequence number, no inter-arrival over 500 ms, and tone hz in
// every frame. It returns the number of frames checked and a complaint.
// (500 ms: a media path held up by the AI would stop for the write deadline,
// 2 s, or the whole stall; a loaded CI machine's scheduling alone has shown
// 150 ms. The timing itself is measured by BenchmarkCopilotStallTiming.)
func audioGaps(log []testutil.AudioFrame, from, to time.Time, hz float64) (int, string) {
	n := 0
	var prev *testutil.AudioFrame
	for i := range log {
		f := &log[i]
		if f.At.Before(from) || f.At.After(to) {
			continue
		}
		n++
		if prev != nil {
			if f.Seq != prev.Seq+1 {
				return n, fmt.Sprintf("sequence %d after %d", f.Seq, prev.Seq)
			}
			if d := f.At.Sub(prev.At); d > 500*time.Millisecond {
				return n, fmt.Sprintf("%v between two packets", d)
			}
		}
		if lv := media.ToneLevel(f.PCM, hz, 8000); lv < 0.05 {
			return n, fmt.Sprintf("a frame without the tone (%.3f)", lv)
		}
		prev = f
	}
	return n, ""
}

// TestCopilotNeverBlocks: an AI attached by the route stalls (stops
// reading), is killed, and is refused for a while: the call's audio has no
// gap and no lost packet on either side through all of it; the session
// records copilot.down and copilot.up, the metrics count the failure and
// the socket comes back with hello.resume.
func TestCopilotNeverBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 26100
	ai := testutil.StartAIFake("", "")
	defer ai.Close()
	cfg := cpConfig(t, base, ai)
	for i := range cfg.Sessions.Routes {
		cfg.Sessions.Routes[i].Copilot = []string{"assist"}
	}
	c := ivCell(t, cfg, 2*time.Minute)
	ag, cu := cpCall(c, true)
	if err := ai.Wait(c.ctx, "the route's AI attached and fed", func() bool {
		cs := ai.Conns()
		return len(cs) == 1 && cs[0].Frames() > 50
	}); err != nil {
		t.Fatal(err)
	}
	first := ai.Conns()[0]

	// stall 6 s, then kill the socket and refuse reconnects for 3 s
	from := time.Now()
	ai.Stall.Store(true)
	time.Sleep(6 * time.Second) // the stall itself is what is measured
	first.Kill()
	ai.Refuse.Store(true)
	ai.Stall.Store(false)
	waitUntil(t, 10*time.Second, "copilot.down in the history", func() bool {
		_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
		b, _ := json.Marshal(ev)
		return strings.Contains(string(b), `"copilot.down"`)
	})
	waitUntil(t, 15*time.Second, "a refused reconnect", func() bool {
		return metric(c, `split_copilot_failures_total{service="assist"}`) >= 2
	})
	ai.Refuse.Store(false)
	if err := ai.Wait(c.ctx, "a new socket with hello.resume", func() bool {
		cs := ai.Conns()
		return len(cs) >= 2 && cs[len(cs)-1].Find("hello", func(m map[string]any) bool { return m["resume"] != nil }) != nil &&
			cs[len(cs)-1].Frames() > 25
	}); err != nil {
		t.Fatal(err)
	}
	to := time.Now()
	for _, p := range []struct {
		name string
		peer *testutil.SessionPeer
		hz   float64
	}{{"customer", cu, cpAgent}, {"agent", ag, cpCustomer}} {
		n, bad := audioGaps(p.peer.AudioLog(), from, to, p.hz)
		if bad != "" || n < int(to.Sub(from)/(20*time.Millisecond))*9/10 {
			t.Errorf("the %s's audio while the AI stalled, died and was refused: %d frames in %v; %s", p.name, n, to.Sub(from).Round(time.Millisecond), bad)
		}
	}
	_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
	b, _ := json.Marshal(ev)
	if !strings.Contains(string(b), `"copilot.up"`) || !strings.Contains(string(b), `"copilot.attached"`) {
		t.Errorf("history lacks copilot.attached/up: %.2000s", b)
	}
	if n := strings.Count(string(b), `"copilot.down"`); n != 1 {
		t.Errorf("%d copilot.down events for one outage (a kill, then refused retries)", n)
	}
	t.Logf("frames dropped while stalled: %v", metric(c, `split_copilot_dropped_frames_total{service="assist"}`))
	if n := metric(c, `split_copilot_connected{service="assist"}`); n != 1 {
		t.Errorf("split_copilot_connected %v after the reconnect", n)
	}
	c.hangup(cu)
	if err := ai.Wait(c.ctx, "bye", func() bool { cs := ai.Conns(); return cs[len(cs)-1].Find("bye", nil) != nil }); err != nil {
		t.Error(err)
	}
}

// TestEndsCopilot: every way a call with an AI attached ends — a party
// hangs up or drops, the AI was detached, is down, or stalls at the end —
// leaves no leg, goroutine or port behind, and a reachable AI is told bye.
func TestEndsCopilot(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ai := testutil.StartAIFake("", "")
	defer ai.Close()
	answered := func(c *cell) (*testutil.SessionPeer, *testutil.SessionPeer, *testutil.AIConn) {
		n := len(ai.Conns())
		ag := c.agent("agent1", toneAgent1, 1, true)
		cu := c.customer()
		c.accept(ag, toneCustomer)
		c.told = append(c.told, cu, ag)
		var conn *testutil.AIConn
		if err := ai.Wait(c.ctx, "the route's AI fed", func() bool {
			cs := ai.Conns()
			if len(cs) > n {
				conn = cs[n]
			}
			return conn != nil && conn.Frames() > 25
		}); err != nil {
			c.t.Fatal(err)
		}
		return cu, ag, conn
	}
	byeSaid := func(c *cell, conn *testutil.AIConn) {
		c.t.Helper()
		if err := ai.Wait(c.ctx, "bye and close", func() bool { return conn.Find("bye", nil) != nil && conn.Closed() }); err != nil {
			c.t.Error(err)
		}
	}
	cells := map[string]cellFunc{
		"customer hangs up": func(c *cell) {
			cu, _, conn := answered(c)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.check()
			byeSaid(c, conn)
		},
		"agent drops": func(c *cell) {
			_, ag, conn := answered(c)
			ag.Close()
			c.told = c.told[:1]
			c.expect(200, "Agent hung up")
			c.check()
			byeSaid(c, conn)
		},
		"AI detached, then the agent hangs up": func(c *cell) {
			_, ag, conn := answered(c)
			_, s := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
			ai := ""
			for _, l := range s["legs"].([]any) {
				if l.(map[string]any)["role"] == "ai" {
					ai = l.(map[string]any)["id"].(string)
				}
			}
			if code, _ := c.a.do("DELETE", "/v1/sessions/"+c.sid+"/participants/"+ai, nil); code != 204 {
				c.t.Fatalf("detach %q: %d", ai, code)
			}
			byeSaid(c, conn)
			c.hangup(ag)
			c.expect(200, "Agent hung up")
		},
		"AI down at the end": func(c *cell) {
			cu, _, conn := answered(c)
			ai.Refuse.Store(true)
			defer ai.Refuse.Store(false)
			conn.Kill()
			waitUntil(c.t, 10*time.Second, "copilot.down", func() bool {
				_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
				b, _ := json.Marshal(ev)
				return strings.Contains(string(b), `"copilot.down"`)
			})
			c.hangup(cu)
			c.expect(200, "Customer hung up")
		},
		"AI stalled at the end": func(c *cell) {
			cu, _, _ := answered(c)
			ai.Stall.Store(true)
			defer ai.Stall.Store(false)
			c.hangup(cu)
			c.expect(200, "Customer hung up")
			c.check() // the session ends at once; the AI's socket closes within its write deadline
		},
	}
	runCells(t, 26200, func(cfg *config.Config) {
		cfg.Copilot = &config.Copilot{Services: []config.CopilotService{{Name: "assist", URL: ai.WS("split")}}}
		for i := range cfg.Sessions.Routes {
			cfg.Sessions.Routes[i].Copilot = []string{"assist"}
		}
	}, cells, []string{"customer hangs up", "agent drops", "AI detached, then the agent hangs up", "AI down at the end", "AI stalled at the end"})
}

// TestSupervisorModes: a supervisor joins through the API in monitor mode
// and changes it from the console; tones on every party say who hears whom:
// monitor — the supervisor hears both, nobody hears the supervisor;
// whisper — the agent hears the supervisor, the customer does not; barge —
// everybody hears everybody.
func TestSupervisorModes(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 26300
	const cpSup = cpPhone
	c := ivCell(t, hubConfig(t, base, t.TempDir()), 2*time.Minute)
	sup := c.agent("agent2", cpSup, 2, false)
	ag, cu := cpCall(c, true)
	if code, out := c.a.do("POST", "/v1/sessions/"+c.sid+"/participants", map[string]any{"kind": "supervisor", "agent": "agent2", "mode": "spy"}); code != 400 {
		t.Errorf("a bad mode: %d %v", code, out)
	}
	if code, out := c.a.do("POST", "/v1/sessions/"+c.sid+"/participants", map[string]any{"kind": "supervisor", "agent": "agent2", "mode": "monitor"}); code != 202 {
		t.Fatalf("supervisor: %d %v", code, out)
	}
	so := c.wait(sup, isType("offer"))
	if err := sup.Accept(c.ctx, so); err != nil {
		t.Fatal(err)
	}
	const on, off = 0.03, 0.008
	levels := func() string {
		return fmt.Sprintf("customer hears agent %.3f sup %.3f; agent hears customer %.3f sup %.3f; sup hears customer %.3f agent %.3f",
			cu.ToneLevel(cpAgent), cu.ToneLevel(cpSup), ag.ToneLevel(cpCustomer), ag.ToneLevel(cpSup), sup.ToneLevel(cpCustomer), sup.ToneLevel(cpAgent))
	}
	check := func(mode string, custHearsSup, agentHearsSup bool) {
		t.Helper()
		ok := func() bool {
			hears := func(p *testutil.SessionPeer, hz float64, want bool) bool {
				if want {
					return p.ToneLevel(hz) > on
				}
				return p.ToneLevel(hz) < off
			}
			return hears(sup, cpCustomer, true) && hears(sup, cpAgent, true) && hears(cu, cpAgent, true) && hears(ag, cpCustomer, true) &&
				hears(cu, cpSup, custHearsSup) && hears(ag, cpSup, agentHearsSup)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Errorf("%s: %s", mode, levels())
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		// and it stays so for a second of audio more
		n := cu.AudioPackets()
		waitUntil(t, 5*time.Second, "a second more of audio", func() bool { return cu.AudioPackets() > n+50 })
		if !ok() {
			t.Errorf("%s, a second later: %s", mode, levels())
		}
	}
	check("monitor", false, false)
	c.send(sup, map[string]any{"type": "supervise", "session": c.sid, "mode": "whisper"})
	check("whisper", false, true)
	c.send(ag, map[string]any{"type": "supervise", "session": c.sid, "mode": "barge"})
	if m := c.wait(ag, isType("error")); m.ErrorCode() != "forbidden" {
		t.Errorf("an agent who is not the supervisor: %s", m.Raw)
	}
	c.send(sup, map[string]any{"type": "supervise", "session": c.sid, "mode": "barge"})
	check("barge", true, true)
	if code, out := c.a.do("POST", "/v1/sessions/"+c.sid+"/participants", map[string]any{"kind": "supervisor", "agent": "agent2", "mode": "monitor"}); code != 202 {
		t.Fatalf("back to monitor through the API: %d %v", code, out)
	}
	check("monitor again", false, false)
}

// TestCopilotAnalytics: the built-in analytics attached by the route: two
// parties talking at once (two continuous tones) raise the overtalk alert
// in the agent's console and the history, and the speech is counted by
// role in the metrics.
func TestCopilotAnalytics(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	cfg := hubConfig(t, 26400, t.TempDir())
	cfg.Copilot = &config.Copilot{Analytics: config.CopilotAnalytics{Overtalk: time.Second}}
	for i := range cfg.Sessions.Routes {
		cfg.Sessions.Routes[i].Copilot = []string{"analytics"}
	}
	c := ivCell(t, cfg, time.Minute)
	ag, cu := cpCall(c, false)
	m := c.wait(ag, func(m testutil.Message) bool {
		return m.Type == "copilot" && strings.Contains(string(m.Raw), `"service":"analytics"`) && strings.Contains(string(m.Raw), `"id":"overtalk"`)
	})
	if !strings.Contains(string(m.Raw), `"severity":"info"`) {
		t.Errorf("overtalk alert: %s", m.Raw)
	}
	waitUntil(t, 5*time.Second, "the alert in the history", func() bool {
		_, ev := c.a.do("GET", "/v1/sessions/"+c.sid+"/events?format=json", nil)
		b, _ := json.Marshal(ev)
		return strings.Contains(string(b), `"copilot.alert"`) && strings.Contains(string(b), `"overtalk"`)
	})
	if s := metric(c, `split_copilot_talk_seconds_total{role="customer"}`); s < 1 {
		t.Errorf("customer talk seconds %v", s)
	}
	if n := metric(c, `split_copilot_alerts_total{severity="info"}`); n < 1 {
		t.Errorf("info alerts %v", n)
	}
	// the call's audio is the usual one
	if ag.DominantHz(cpTones) != cpCustomer || cu.DominantHz(cpTones) != cpAgent {
		t.Errorf("the call's audio with the analytics attached")
	}
}

// TestSupervisorModesExternalACD: the same modes on a session routed to an
// external ACD over SIP — the ACD's leg is the agent side: a whisper is
// heard there (the ACD passes it to its agent) and not by the customer;
// monitor is heard by neither; barge by both. The ACD plays 1477 Hz.
func TestSupervisorModesExternalACD(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 26600
	acdAddr := fmt.Sprintf("127.0.0.1:%d", base+90)
	cfg := hubConfig(t, base, t.TempDir())
	cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
	cfg.Sessions.Routes = []config.Route{{Name: "acd", Entry: "default", Target: "sip:support@" + acdAddr}}
	c := ivCell(t, cfg, 2*time.Minute)
	calls := make(chan *testutil.SIPCall, 2)
	u, err := testutil.StartUAS(testutil.UASOptions{Listen: acdAddr, ToneHz: tonePhone, OnCall: func(sc *testutil.SIPCall) { calls <- sc }})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	sup := c.agent("agent2", cpPhone, 2, false)
	cu := c.peer("entry=default", cpCustomer, 9)
	if err := cu.Start(c.ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	q := c.next(calls)
	c.state(cu, "active")
	waitUntil(t, 10*time.Second, "the customer and the ACD", func() bool {
		return cu.ToneLevel(tonePhone) > 0.05 && phoneLevel(q, cpCustomer) > 0.05
	})
	if code, out := c.a.do("POST", "/v1/sessions/"+c.sid+"/participants", map[string]any{"kind": "supervisor", "agent": "agent2", "mode": "monitor"}); code != 202 {
		t.Fatalf("supervisor: %d %v", code, out)
	}
	if err := sup.Accept(c.ctx, c.wait(sup, isType("offer"))); err != nil {
		t.Fatal(err)
	}
	check := func(mode string, custHears, acdHears bool) {
		t.Helper()
		ok := func() bool {
			is := func(lv float64, want bool) bool {
				if want {
					return lv > 0.03
				}
				return lv < 0.008
			}
			return sup.ToneLevel(cpCustomer) > 0.03 && sup.ToneLevel(tonePhone) > 0.03 &&
				is(cu.ToneLevel(cpPhone), custHears) && is(phoneLevel(q, cpPhone), acdHears)
		}
		waitUntil(t, 10*time.Second, mode+fmt.Sprintf(" (customer hears the supervisor %v, the ACD %v)", custHears, acdHears), ok)
		n := cu.AudioPackets()
		waitUntil(t, 5*time.Second, "a second more of audio", func() bool { return cu.AudioPackets() > n+50 })
		if !ok() {
			t.Errorf("%s, a second later: customer hears sup %.3f, ACD hears sup %.3f", mode, cu.ToneLevel(cpPhone), phoneLevel(q, cpPhone))
		}
	}
	check("monitor", false, false)
	c.send(sup, map[string]any{"type": "supervise", "session": c.sid, "mode": "whisper"})
	check("whisper", false, true)
	c.send(sup, map[string]any{"type": "supervise", "session": c.sid, "mode": "barge"})
	check("barge", true, true)
}
