package sessions

import (
	"fmt"
	"os"
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
	t.Cleanup(func() {
		if t.Failed() {
			_ = os.WriteFile("/tmp/reach-hub.log", []byte(c.logs.String()), 0o644)
		}
	})
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
