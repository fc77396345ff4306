//go:build linux

package sessions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestInterpreterRegisteredUserAcrossNodes: a registered deaf user's page
// is open on node B; a hearing caller dials the user's number at node A,
// where the interpreter's console is (ports 29900-30599). When the
// interpreter accepts, B's page gets remote_incoming, opens its socket for
// the call (relayed to A), rings there and answers: video both ways
// between the page and the interpreter. The next call the page declines
// the same way, and the interpreter sees it. With the page closed, no node
// has one: the next call sends the user the join link at once.
func TestInterpreterRegisteredUserAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tw := notifytest.StartTwilio(t)
	const phoneAddr = "127.0.0.1:30590"
	dsn := pgtest.Start(t).FreshDSN(t)
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageOpen := func() bool { // as the nodes record it
		where, err := db.ConsoleNodes(ctx, "deaf:u1")
		return err == nil && len(where["deaf:u1"]) > 0
	}
	hubs := startNodes(ctx, t, dsn, 5*time.Second, func(cfg *config.Config) {
		withInterpreter(cfg)
		cfg.Interpreter.Users = []config.InterpreterUser{{ID: "u1", Name: "Luis", Number: "+34910000301", Contact: "+34600000001"}}
		cfg.Interpreter.Numbers = []config.InterpreterNumber{{Number: "+34910000399", SignLanguage: "ase", User: "u1"}}
		cfg.Interpreter.Reach.RingTimeout = 10 * time.Second
		cfg.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
		withNotify(cfg, tw, nil)
	}, 29900, 30200)
	a, b := hubs[0], hubs[1]
	var u *testutil.SIPUAS
	u, err = testutil.StartUAS(testutil.UASOptions{Listen: phoneAddr, ToneHz: ivTonePhone, Ring: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	code, out := (api{t, b.URL}).do("POST", "/v1/tokens", map[string]any{"identity": "u1", "role": "deaf_user"})
	if code != 201 {
		t.Fatalf("deaf_user token: %d %v", code, out)
	}
	tok := out["token"].(string)
	page, err := testutil.DialSession(ctx, wsURL(b, "token="+tok), ivToneDeaf, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	in := connectAgent(ctx, t, a, "int1", ivToneInterp, 1, true)
	if _, err := in.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	call := func() (*testutil.SIPCall, string) {
		t.Helper()
		answered := make(chan *testutil.SIPCall, 1)
		go func() {
			sc, err := u.Invite(ctx, "sip:+34910000399@"+a.Cfg.SIP.ListenUDP)
			if err != nil {
				t.Log(err)
			}
			answered <- sc
		}()
		offer, err := in.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "offer" && !seen[m.Session] })
		if err != nil {
			t.Fatal(err)
		}
		seen[offer.Session] = true
		if err := in.Accept(ctx, offer); err != nil {
			t.Fatal(err)
		}
		phone := <-answered
		if phone == nil {
			t.Fatal("the hearing caller was not answered")
		}
		return phone, offer.Session
	}
	ringsAcross := func(sid string) *testutil.SessionPeer {
		t.Helper()
		if _, err := page.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "remote_incoming" && m.Session == sid }); err != nil {
			t.Fatalf("the page on B was not told: %v", err)
		}
		sock, err := testutil.DialSession(ctx, wsURL(b, "token="+tok+"&session="+sid), ivToneDeaf, 8, true)
		if err != nil {
			t.Fatal(err)
		}
		inc, err := sock.WaitFor(ctx, isType("incoming"))
		if err != nil || inc.Session != sid || !strings.Contains(string(inc.Raw), `"sign_language":"ase"`) {
			t.Fatalf("incoming on the call's socket: %v %s", err, inc.Raw)
		}
		return sock
	}
	// 1. The page on B answers a call that rings on A.
	waitUntil(t, 5*time.Second, "the page on B recorded for the other nodes", pageOpen)
	phone, sid := call()
	sock := ringsAcross(sid)
	if err := sock.Start(ctx, "", map[string]any{"session": sid}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "video between the page on B and the interpreter on A", func() bool {
		return in.VideoFrom(8) > 10 && sock.VideoFrom(1) > 10
	})
	if err := phone.Hangup(ctx); err != nil { // the page and the interpreter stay
		t.Fatal(err)
	}
	if err := sock.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	if _, err := sock.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
	sock.Close()

	// 2. It declines the next one: the interpreter sees it, no link is sent.
	phone, sid = call()
	sock = ringsAcross(sid)
	if err := sock.Send(ctx, map[string]any{"type": "decline", "session": sid}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.WaitFor(ctx, func(m testutil.Message) bool {
		return m.Type == "session" && m.Session == sid && strings.Contains(string(m.Raw), `"deaf_user":"declined"`)
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(tw.Messages()); n != 0 {
		t.Errorf("%d SMS sent while the page declined", n)
	}
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	sock.Close()

	// An attacker with the user's token: a socket for someone else's
	// session (a customer waiting at A) is closed at once, without a frame
	// about that session, and the session goes on.
	other, err := testutil.DialSession(ctx, wsURL(a, "entry=default"), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Start(ctx, "Eve", nil); err != nil {
		t.Fatal(err)
	}
	w, err := other.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" })
	if err != nil {
		t.Fatal(err)
	}
	// (closed before or after its hello)
	if spy, err := testutil.DialSession(ctx, wsURL(b, "token="+tok+"&session="+w.Session), ivToneDeaf, 7, false); err == nil {
		defer spy.Close()
		if m, err := spy.WaitFor(ctx, func(m testutil.Message) bool { return m.Type != "hello" }); err == nil {
			t.Fatalf("a deaf user's socket for another session got %s", m.Raw)
		}
	} else if !strings.Contains(err.Error(), "closed") {
		t.Fatal(err)
	}
	if _, v := (api{t, a.URL}).do("GET", "/v1/sessions/"+w.Session, nil); v["state"] != "waiting" {
		t.Fatalf("the other session is %v", v["state"])
	}
	other.Close()

	// 3. No page on any node: the link goes out as the interpreter accepts.
	page.Close()
	waitUntil(t, 5*time.Second, "the page's closing recorded", func() bool { return !pageOpen() })
	phone, sid = call()
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To != "+34600000001" || !strings.Contains(msgs[0].Body, "/j/") {
		t.Fatalf("SMS to %s: %q", msgs[0].To, msgs[0].Body)
	}
	if _, err := in.WaitFor(ctx, func(m testutil.Message) bool {
		return m.Type == "session" && m.Session == sid && strings.Contains(string(m.Raw), `"deaf_user":"invited"`)
	}); err != nil {
		t.Fatal(err)
	}
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
}
