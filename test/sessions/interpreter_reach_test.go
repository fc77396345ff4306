package sessions

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// A registered deaf user (docs/interpreter.md §2.2 step 3): a hearing
// caller dials the user's number; when the interpreter accepts, the user's
// open pages ring; one answers and joins the session, the other stops
// ringing. With no page answering, the user's contact gets the link by SMS.

func deafUserToken(t *testing.T, c *cell, id string) string {
	t.Helper()
	code, out := c.a.do("POST", "/v1/tokens", map[string]any{"identity": id, "role": "deaf_user"})
	if code != 201 {
		t.Fatalf("deaf_user token for %s: %d %v", id, code, out)
	}
	return out["token"].(string)
}

// keepLog writes the hub's log next to the test's temporary files when
// it fails, and says where.
func keepLog(t *testing.T, c *cell) {
	t.Cleanup(func() {
		if t.Failed() {
			p := filepath.Join(os.TempDir(), strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-hub.log")
			_ = os.WriteFile(p, []byte(c.logs.String()), 0o644)
			t.Logf("hub log: %s", p)
		}
	})
}

// endedWith waits for c.sid's ended record and checks its cause.
func endedWith(t *testing.T, c *cell, code int, cause string) {
	t.Helper()
	var s map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, s = c.a.do("GET", "/v1/sessions/"+c.sid, nil)
		if s["state"] == "ended" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s did not end: %v", c.sid, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s["cause_code"] != float64(code) || s["cause"] != cause {
		t.Errorf("session %s ended %v %v, want %d %s", c.sid, s["cause_code"], s["cause"], code, cause)
	}
}

func TestInterpreterRegisteredUser(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 24900
	tw := notifytest.StartTwilio(t)
	cfg := ivConfig(t, base)
	withNotify(cfg, tw, nil)
	cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
	cfg.Interpreter.Users = []config.InterpreterUser{{ID: "u1", Name: "Luis", Number: "+34910000301", Contact: "+34600000001"}}
	cfg.Interpreter.Numbers = []config.InterpreterNumber{{Number: "+34910000399", SignLanguage: "ase", User: "u1"}}
	cfg.Interpreter.Reach.RingTimeout = 3 * time.Second
	cfg.Interpreter.Dial.From = "user" // the user's own calls show their number
	c := ivCell(t, cfg, 40*time.Second)
	ctx := c.ctx
	keepLog(t, c)
	dialled := make(chan *testutil.SIPCall, 4)
	u, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone, Ring: 100 * time.Millisecond,
		OnCall: func(sc *testutil.SIPCall) {
			if sc.Inbound {
				dialled <- sc // (OnCall sees the calls it places too)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	c.close = append(c.close, func() { _ = u.Close() })

	// Tokens: only for registered users; a deaf_user token reaches no
	// other session.
	if code, out := c.a.do("POST", "/v1/tokens", map[string]any{"identity": "nobody", "role": "deaf_user"}); code != 400 {
		t.Errorf("a deaf_user token for an unregistered user: %d %v", code, out)
	}
	tok := deafUserToken(t, c, "u1")
	page1 := c.peer("token="+tok, ivToneDeaf, 9)
	page2 := c.peer("token="+tok, ivToneDeaf, 8)
	if hello := c.wait(page1, isType("hello")); ivBlock(t, hello) == nil || !strings.Contains(string(hello.Raw), `"identity":"u1"`) {
		t.Fatalf("the deaf user's hello: %s", hello.Raw)
	}
	in := c.agent("int1", ivToneInterp, 1, true)

	seen := map[string]bool{}
	call := func() (chan *testutil.SIPCall, testutil.Message) {
		answered := make(chan *testutil.SIPCall, 1)
		go func() {
			sc, err := u.Invite(ctx, fmt.Sprintf("sip:+34910000399@127.0.0.1:%d", base+1))
			if err != nil {
				t.Log(err)
			}
			answered <- sc
		}()
		offer := c.wait(in, func(m testutil.Message) bool { return m.Type == "offer" && !seen[m.Session] })
		c.sid = offer.Session
		seen[c.sid] = true
		return answered, offer
	}

	// 1. Both pages ring when the interpreter accepts; page 2 answers.
	answered, offer := call()
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	phone := <-answered
	if phone == nil {
		t.Fatal("the hearing caller was not answered")
	}
	inc1 := c.wait(page1, isType("incoming"))
	inc2 := c.wait(page2, isType("incoming"))
	if inc1.Session != c.sid || inc2.Session != c.sid || !strings.Contains(string(inc1.Raw), `"sign_language":"ase"`) ||
		!strings.Contains(string(inc1.Raw), `"from":"`) {
		t.Fatalf("incoming: %s / %s", inc1.Raw, inc2.Raw)
	}
	c.wait(in, func(m testutil.Message) bool {
		return m.Type == "session" && strings.Contains(string(m.Raw), `"deaf_user":"ringing"`)
	})
	// a page may not answer another session, nor start one of its own
	c.send(page1, map[string]any{"type": "start", "sdp": "v=0", "session": "00000000-0000-0000-0000-000000000000"})
	if e := c.wait(page1, isType("error")); e.ErrorCode() != "not_found" {
		t.Errorf("start of an unknown session: %s", e.Raw)
	}
	if err := page2.Start(ctx, "", map[string]any{"session": c.sid}); err != nil {
		t.Fatal(err)
	}
	if m := c.wait(page1, isType("cancel")); !strings.Contains(string(m.Raw), `"reason":"answered_elsewhere"`) {
		t.Errorf("page 1 was told %s", m.Raw)
	}
	waitUntil(t, 10*time.Second, "video between the deaf user and the interpreter", func() bool {
		return in.VideoFrom(8) > 10 && page2.VideoFrom(1) > 10
	})
	waitUntil(t, 10*time.Second, "the caller hears the interpreter, not the deaf user", func() bool {
		return phoneLevel(phone, ivToneInterp) > heard && phoneLevel(phone, ivToneDeaf) < unheard
	})
	// page 1, rung too late, cannot take the call now
	c.send(page1, map[string]any{"type": "decline", "session": c.sid})
	if e := c.wait(page1, func(m testutil.Message) bool { return m.Type == "error" && m.Session == c.sid }); e.ErrorCode() != "conflict" {
		t.Errorf("decline after the call was answered elsewhere: %s", e.Raw)
	}
	if n := len(tw.Messages()); n != 0 {
		t.Errorf("%d SMS sent while a page answered", n)
	}
	c.hangup(page2)
	endedWith(t, c, 200, "Customer hung up")

	// 2. Nobody answers: both pages stop ringing after ring_timeout and the
	// link goes to the user's contact by SMS. Page 2 is on the previous
	// (ended) call: it is rung again.
	answered, offer = call()
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	phone = <-answered
	c.wait(page1, func(m testutil.Message) bool { return m.Type == "incoming" && m.Session == c.sid })
	c.wait(page2, func(m testutil.Message) bool { return m.Type == "incoming" && m.Session == c.sid })
	if m := c.wait(page1, func(m testutil.Message) bool { return m.Type == "cancel" && m.Session == c.sid }); !strings.Contains(string(m.Raw), `"reason":"timeout"`) {
		t.Errorf("page 1 was told %s", m.Raw)
	}
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To != "+34600000001" || !strings.Contains(msgs[0].Body, "/j/") {
		t.Fatalf("SMS to %s: %q", msgs[0].To, msgs[0].Body)
	}
	c.wait(in, func(m testutil.Message) bool {
		return m.Type == "session" && m.Session == c.sid && strings.Contains(string(m.Raw), `"deaf_user":"invited"`)
	})
	// the caller hangs up: the session ends, nobody is left ringing
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	endedWith(t, c, 200, "Caller hung up")

	// 3. A page declines: every page stops ringing, no link is sent, the
	// interpreter sees it.
	answered, offer = call()
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	phone = <-answered
	c.wait(page1, func(m testutil.Message) bool { return m.Type == "incoming" && m.Session == c.sid })
	c.send(page1, map[string]any{"type": "decline", "session": c.sid})
	if m := c.wait(page2, func(m testutil.Message) bool { return m.Type == "cancel" && m.Session == c.sid }); !strings.Contains(string(m.Raw), `"reason":"declined"`) {
		t.Errorf("page 2 was told %s", m.Raw)
	}
	c.wait(in, func(m testutil.Message) bool {
		return m.Type == "session" && m.Session == c.sid && strings.Contains(string(m.Raw), `"deaf_user":"declined"`)
	})
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	endedWith(t, c, 200, "Caller hung up")
	if n := len(tw.Messages()); n != 1 {
		t.Errorf("%d SMS in all, want the one of the unanswered call", n)
	}

	// 4. The user's page places a call of its own (deaf-initiated): the
	// session is theirs, and with dial.from: user the phone sees their
	// number as caller ID.
	if err := page1.Start(ctx, "", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
		t.Fatal(err)
	}
	offer = c.wait(in, func(m testutil.Message) bool { return m.Type == "offer" && !seen[m.Session] })
	c.sid = offer.Session
	seen[c.sid] = true
	if err := in.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	c.send(in, map[string]any{"type": "dial", "session": c.sid})
	var out *testutil.SIPCall
	select {
	case out = <-dialled:
	case <-ctx.Done():
		t.Fatal("the phone was never called")
	}
	if from := out.Header("From"); !strings.Contains(from, "sip:+34910000301@") {
		t.Errorf("the phone call's From is %q, want the user's number", from)
	}
	_, rec := c.a.do("GET", "/v1/sessions/"+c.sid, nil)
	if cu, _ := rec["customer"].(map[string]any); cu["name"] != "Luis" {
		t.Errorf("the session's customer: %v", rec["customer"])
	}
	c.hangup(page1)
	endedWith(t, c, 200, "Customer hung up")
}

// TestInterpreterHandoffQueue: a hand-off to queue:<name> waits while
// nobody of the queue is free, is offered to the first who becomes ready,
// moves down the queue on a decline, and its incoming interpreter takes
// over at the end of handoff.overlap_max with the phone call kept. A second
// request nobody takes is withdrawn after handoff.timeout.
func TestInterpreterHandoffQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 25100
	cfg := ivConfig(t, base)
	cfg.Sessions.Agents = append(cfg.Sessions.Agents,
		config.Agent{ID: "int2", Name: "Ben", Queues: []string{"interp-ase-en"}},
		config.Agent{ID: "int3", Name: "Cai", Queues: []string{"interp-ase-en"}})
	cfg.Interpreter.Handoff = config.InterpreterHandoff{Timeout: 4 * time.Second, OverlapMax: 2 * time.Second}
	c := ivCell(t, cfg, 40*time.Second)
	keepLog(t, c)
	ctx := c.ctx
	calls := make(chan *testutil.SIPCall, 2)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone,
		OnCall: func(sc *testutil.SIPCall) {
			if sc.Inbound {
				calls <- sc
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	in1 := c.agent("int1", ivToneInterp, 1, true)
	in2 := c.agent("int2", ivToneInterp2, 2, false)
	in3 := c.agent("int3", 1336, 3, false)
	d := c.peer("entry=sign", ivToneDeaf, 9)
	if err := d.Start(ctx, "Luis", map[string]any{"sign_language": "ase", "to": ivNumber}); err != nil {
		t.Fatal(err)
	}
	offer := c.wait(in1, isType("offer"))
	c.sid = offer.Session
	if err := in1.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	c.send(in1, map[string]any{"type": "dial", "session": c.sid})
	call := <-calls
	waitUntil(t, 10*time.Second, "the phone hears the first interpreter", func() bool { return phoneLevel(call, ivToneInterp) > heard })
	handoff := func(state string) func(testutil.Message) bool {
		return func(m testutil.Message) bool {
			return m.Type == "session" && strings.Contains(string(m.Raw), `"handoff":{"state":"`+state+`"`)
		}
	}

	// nobody free: queued
	c.send(in1, map[string]any{"type": "handoff", "session": c.sid, "to": "queue:interp-ase-en"})
	c.wait(in1, handoff("queued"))
	// int2 becomes ready: offered, declines; int3 becomes ready: offered
	c.send(in2, map[string]any{"type": "login"})
	c.send(in2, map[string]any{"type": "ready", "ready": true})
	o2 := c.wait(in2, isType("offer"))
	if oi := ivBlock(t, o2); oi["purpose"] != "handoff" {
		t.Fatalf("int2's offer: %v", oi)
	}
	c.send(in3, map[string]any{"type": "login"})
	c.send(in3, map[string]any{"type": "ready", "ready": true})
	c.send(in2, map[string]any{"type": "decline", "leg": o2.Leg})
	o3 := c.wait(in3, isType("offer"))
	if oi := ivBlock(t, o3); oi["purpose"] != "handoff" {
		t.Fatalf("int3's offer: %v", oi)
	}
	if err := in3.Accept(ctx, o3); err != nil {
		t.Fatal(err)
	}
	c.wait(in1, handoff("overlap"))
	// overlap_max: the outgoing interpreter is ended, the incoming leads
	if m := c.wait(in1, isType("ended")); !strings.Contains(string(m.Raw), "Handed off") {
		t.Errorf("the outgoing interpreter was told %s", m.Raw)
	}
	waitUntil(t, 10*time.Second, "the phone hears the new lead only", func() bool {
		return phoneLevel(call, 1336) > heard && phoneLevel(call, ivToneInterp) < unheard
	})
	if call.ByeReceived() {
		t.Fatal("the phone got a BYE at the hand-off")
	}

	// a request nobody takes is withdrawn after handoff.timeout (int2 is
	// not ready after its decline; int1, ready again, steps away)
	c.send(in1, map[string]any{"type": "ready", "ready": false})
	waitUntil(t, 10*time.Second, "int1 not ready", func() bool {
		fs := in1.Frames()
		for i := len(fs) - 1; i >= 0; i-- {
			if fs[i].Type == "agent" {
				return fs[i].State == "not_ready"
			}
		}
		return false
	})
	c.send(in3, map[string]any{"type": "handoff", "session": c.sid, "to": "queue:interp-ase-en"})
	c.wait(in3, handoff("queued"))
	n := len(in3.Frames())
	i := 0
	c.wait(in3, func(m testutil.Message) bool {
		i++
		return i > n && m.Type == "session" && !strings.Contains(string(m.Raw), `"handoff":`)
	})
	if v := metric(c, `split_interpreter_events_total{event="handoff_timeout"}`); v != 1 {
		t.Errorf("handoff_timeout = %v, want 1", v)
	}
	c.hangup(d)
	endedWith(t, c, 200, "Customer hung up")
}

// TestInterpreterAnswerAtOnce: with answer_inbound: at_once a hearing
// caller is answered on arrival, waits in silence, and is connected to the
// interpreter who accepts; hanging up while waiting abandons the session.
func TestInterpreterAnswerAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 25200
	cfg := ivConfig(t, base)
	cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
	cfg.Interpreter.Numbers = []config.InterpreterNumber{{Number: "+34910000399", SignLanguage: "ase"}}
	cfg.Interpreter.AnswerInbound = "at_once"
	c := ivCell(t, cfg, time.Minute)
	keepLog(t, c)
	u, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), ToneHz: ivTonePhone})
	if err != nil {
		t.Fatal(err)
	}
	c.close = append(c.close, func() { _ = u.Close() })
	to := fmt.Sprintf("sip:+34910000399@127.0.0.1:%d", base+1)

	// nobody is ready: the caller is answered all the same, then hangs up
	call, err := u.Invite(c.ctx, to)
	if err != nil {
		t.Fatalf("the caller was not answered at once: %v", err)
	}
	_, list := c.a.do("GET", "/v1/sessions?active=true", nil)
	ss, _ := list["sessions"].([]any)
	if len(ss) != 1 {
		t.Fatalf("live sessions: %v", list)
	}
	c.sid = ss[0].(map[string]any)["id"].(string)
	if err := call.Hangup(c.ctx); err != nil {
		t.Fatal(err)
	}
	endedWith(t, c, 487, "Caller abandoned")

	// an interpreter accepts: they hear the caller who was already answered
	in := c.agent("int1", ivToneInterp, 1, true)
	call, err = u.Invite(c.ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	offer := c.wait(in, isType("offer"))
	c.sid = offer.Session
	if offer.From == "" {
		t.Error("the offer does not say who calls")
	}
	if err := in.Accept(c.ctx, offer); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the interpreter and the caller hear each other", func() bool {
		return in.ToneLevel(ivTonePhone) > heard && phoneLevel(call, ivToneInterp) > heard
	})
	if err := call.Hangup(c.ctx); err != nil {
		t.Fatal(err)
	}
	endedWith(t, c, 200, "Caller hung up")
}
