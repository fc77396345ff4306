package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestClusterDeafUserPageOnAnotherNode (Chromium and Firefox ESR): a
// registered deaf user's page is open on node B; the hearing caller dials
// the user's number at node A, where the interpreter's console is. When the
// interpreter accepts, the page on B rings (remote_incoming: session.js
// opens its socket for the call at B, relayed to A) with Answer focused;
// Enter answers; both pages decode each other's video; the deaf user hangs
// up and the caller gets its BYE.
func TestClusterDeafUserPageOnAnotherNode(t *testing.T) {
	for _, br := range []string{"chromium", "firefox"} {
		t.Run(br, func(t *testing.T) {
			dsn := pgtest.Start(t).FreshDSN(t)
			interpreter := func(c *config.Config) {
				withInterpreter(c)
				c.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
				c.Interpreter.Users = []config.InterpreterUser{{ID: "u1", Name: "Luis", Number: "+34910000301", Contact: "+34600000001", SignLanguage: "ase"}}
				c.Interpreter.Numbers = []config.InterpreterNumber{{Number: ivReachNumber, SignLanguage: "ase", User: "u1"}}
			}
			a := startHub(t, clusterNode(dsn, 1, interpreter))
			b := startHub(t, clusterNode(dsn, 2, interpreter))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			caller, err := testutil.StartUAS(testutil.UASOptions{Listen: pbxAddr, ToneHz: ivE2EToneTel, Ring: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Close()

			interp := startPages(t)
			deaf := interp
			if br != "chromium" {
				deaf = startPagesIn(t, br)
			}
			interp.do(map[string]any{"cmd": "open", "page": pgInterp, "url": "http://" + a.cfg.HTTP.Listen + "/interpreter.html#token=" + a.agentToken("int1") + "&autologin=1&ready=1",
				"viewport": map[string]int{"width": 1280, "height": 800}})
			interp.waitJS(pgInterp, "window.splitApp && window.splitApp.agentState === 'ready'", 30*time.Second)
			code, tok := apiAt(t, "POST", b.cfg.HTTP.Listen, "/v1/tokens", map[string]any{"identity": "u1", "role": "deaf_user"})
			if code != 201 {
				t.Fatalf("deaf_user token at B: %d %v", code, tok)
			}
			deaf.do(map[string]any{"cmd": "open", "page": pgDeaf, "url": "http://" + b.cfg.HTTP.Listen + "/customer.html#token=" + tok["token"].(string),
				"viewport": map[string]int{"width": 390, "height": 844}})
			deaf.waitJS(pgDeaf, "window.splitApp.registered === 'u1' && !document.querySelector('#deaf-ready').hidden", 30*time.Second)
			eventually(t, 5*time.Second, "the page on B recorded for the other nodes", func() bool {
				where, err := db.ConsoleNodes(ctx, "deaf:u1")
				return err == nil && len(where["deaf:u1"]) == 1
			})

			call := interpretedCall(ctx, t, caller, "sip:"+ivReachNumber+"@"+a.cfg.SIP.ListenUDP, interp)
			deaf.waitJS(pgDeaf, "!document.querySelector('#ringing').hidden && document.activeElement && document.activeElement.id === 'answer'", 20*time.Second)
			deaf.waitJS(pgDeaf, "window.splitApp.client._sessionSockets.size === 1", 5*time.Second)
			deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "key": "Enter"})
			deaf.waitJS(pgDeaf, "window.splitApp.state === 'active' && window.splitApp.call && window.splitApp.call.live", 30*time.Second)
			eventually(t, 30*time.Second, "both pages to decode each other's video", func() bool {
				return readVideoIn(t, deaf, pgDeaf).Frames > 30 && readVideoIn(t, interp, pgInterp).Frames > 30
			})
			interp.waitJS(pgInterp, "window.splitApp.interp && window.splitApp.interp.deaf_user === 'joined'", 10*time.Second)
			b.waitMetric(`split_cluster_relayed_total{kind="http"} 1`, 5*time.Second) // the page's socket for the call, to A
			deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": "#hangup"})
			select {
			case <-call.Done():
			case <-ctx.Done():
				t.Fatal("the caller's call did not end")
			}
			if !call.ByeReceived() {
				t.Error("the caller got no BYE")
			}
			deaf.waitJS(pgDeaf, "window.splitApp.client._sessionSockets.size === 0", 15*time.Second)
		})
	}
}

// interpretedCall: the hearing caller dials uri; the interpreter's console
// page (pgInterp on interp) accepts the offer; it returns the answered call.
func interpretedCall(ctx context.Context, t *testing.T, caller *testutil.SIPUAS, uri string, interp *pagesDriver) *testutil.SIPCall {
	t.Helper()
	answered := make(chan *testutil.SIPCall, 1)
	go func() {
		sc, err := caller.Invite(ctx, uri)
		if err != nil {
			t.Log(err)
		}
		answered <- sc
	}()
	interp.waitJS(pgInterp, "!document.querySelector('#offer').hidden", 20*time.Second)
	interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name="Accept"]`})
	call := <-answered
	if call == nil {
		t.Fatal("the hearing caller was not answered")
	}
	return call
}
