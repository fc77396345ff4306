package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// A registered deaf user's page rings (docs/interpreter.md §2.2 step 3), in
// a real browser: the page is opened with a deaf_user token minted through
// the REST API as the docs say; a hearing caller (the testutil SIP UA)
// dials the user's number; the interpreter accepts on the console page; the
// deaf user's page rings with the Answer button focused, passes the
// accessibility audit while ringing, and Enter joins the call: both pages
// decode each other's video and the caller hears the interpreter.

const ivReachNumber = "+34910000399"

func mintDeafUserToken(t *testing.T, id string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"identity": id, "role": "deaf_user"})
	req, _ := http.NewRequest("POST", "http://"+hubHTTP+"/v1/tokens", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 201 || out.Token == "" || out.Role != "deaf_user" {
		t.Fatalf("POST /v1/tokens deaf_user: %d %+v", res.StatusCode, out)
	}
	return out.Token
}

func registeredUserBrowser(t *testing.T, browser string) {
	h := startHub(t, func(c *config.Config) {
		withInterpreter(c)
		c.SIP.Trunks[0].InboundFrom = []string{"127.0.0.1"}
		c.Interpreter.Users = []config.InterpreterUser{{ID: "u1", Name: "Luis", Number: "+34910000301", Contact: "+34600000001", SignLanguage: "ase"}}
		c.Interpreter.Dial.From = "user"
		c.Interpreter.Numbers = []config.InterpreterNumber{{Number: ivReachNumber, SignLanguage: "ase", User: "u1"}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dialled := make(chan *testutil.SIPCall, 2)
	caller, err := testutil.StartUAS(testutil.UASOptions{Listen: pbxAddr, ToneHz: ivE2EToneTel, Ring: 100 * time.Millisecond,
		OnCall: func(sc *testutil.SIPCall) {
			if sc.Inbound {
				dialled <- sc
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()

	interp := startPages(t)
	deaf := interp
	if browser != "chromium" {
		deaf = startPagesIn(t, browser)
	}
	base := "http://" + hubHTTP
	interp.do(map[string]any{"cmd": "open", "page": pgInterp, "url": base + "/interpreter.html#token=" + h.agentToken("int1") + "&autologin=1&ready=1",
		"viewport": map[string]int{"width": 1280, "height": 800}})
	interp.waitJS(pgInterp, "window.splitApp && window.splitApp.agentState === 'ready'", 30*time.Second)
	deaf.do(map[string]any{"cmd": "open", "page": pgDeaf, "url": base + "/customer.html#token=" + mintDeafUserToken(t, "u1"),
		"viewport": map[string]int{"width": 390, "height": 844}})
	deaf.waitJS(pgDeaf, "window.splitApp.registered === 'u1' && !document.querySelector('#deaf-ready').hidden && !document.querySelector('#call-interpreter').disabled", 30*time.Second)

	// The hearing caller dials the user's number.
	call := interpretedCall(ctx, t, caller, "sip:"+ivReachNumber+"@"+hubSIP, interp)

	// The page rings: visible, announced, Answer focused.
	deaf.waitJS(pgDeaf, "!document.querySelector('#ringing').hidden && document.activeElement && document.activeElement.id === 'answer'", 20*time.Second)
	if title := evalString(deaf, pgDeaf, "document.querySelector('#ringing-title').textContent"); !strings.Contains(title, "Incoming call from") {
		t.Errorf("the ringing card says %q", title)
	}
	if role := evalString(deaf, pgDeaf, "document.querySelector('#ringing').getAttribute('role')"); role != "alertdialog" {
		t.Errorf("the ringing card's role is %q", role)
	}
	var problems, p []string
	for _, js := range []string{layoutAuditJS, a11yAuditJS} {
		p = nil
		_ = json.Unmarshal(deaf.do(map[string]any{"cmd": "eval", "page": pgDeaf, "js": js}), &p)
		problems = append(problems, p...)
	}
	dir, _ := filepath.Abs(filepath.Join("runs", "screens"))
	shot := filepath.Join(dir, fmt.Sprintf("interpreter-deaf-ringing-%s.png", browser))
	deaf.do(map[string]any{"cmd": "screenshot", "page": pgDeaf, "path": shot})
	if len(problems) > 0 {
		t.Errorf("the ringing page (%s):\n  %s", shot, strings.Join(problems, "\n  "))
	}
	interp.waitJS(pgInterp, "window.splitApp.interp && window.splitApp.interp.deaf_user === 'ringing'", 10*time.Second)

	// Enter answers.
	deaf.do(map[string]any{"cmd": "press", "page": pgDeaf, "key": "Enter"})
	deaf.waitJS(pgDeaf, "window.splitApp.state === 'active' && window.splitApp.call && window.splitApp.call.live", 30*time.Second)
	eventually(t, 30*time.Second, "both pages to decode each other's video", func() bool {
		return readVideoIn(t, deaf, pgDeaf).Frames > 30 && readVideoIn(t, interp, pgInterp).Frames > 30
	})
	interp.waitJS(pgInterp, "window.splitApp.interp && window.splitApp.interp.deaf_user === 'joined'", 10*time.Second)
	if _, err := interp.try(map[string]any{"cmd": "eval", "page": pgInterp, "js": toneHookJS(ivE2EToneInterp)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the caller hears the interpreter", func() bool { return phoneHears(call, ivE2EToneInterp) > 0.05 })

	// The deaf user hangs up: the caller gets its BYE.
	deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": "#hangup"})
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the caller's call did not end")
	}
	if !call.ByeReceived() {
		t.Error("the caller got no BYE")
	}
	sid := evalString(interp, pgInterp, "(window.splitApp.call && window.splitApp.call.session) || ''")
	if sid != "" {
		eventually(t, 10*time.Second, "the ended record", func() bool {
			s := getSession(t, sid)
			return s["state"] == "ended" && s["cause"] == "Customer hung up"
		})
	}
	// The page is ready for the next call, and places one of its own: the
	// interpreter dials, and the phone sees the user's number as caller ID
	// (interpreter.dial.from: user).
	deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": "#again"})
	deaf.waitJS(pgDeaf, "!document.querySelector('#deaf-ready').hidden && window.splitApp.client && window.splitApp.client.connected && !document.querySelector('#call-interpreter').disabled", 10*time.Second)
	interp.waitJS(pgInterp, "window.splitApp.agentState === 'ready'", 20*time.Second)
	if sl := evalString(deaf, pgDeaf, "document.querySelector('#sign-language').value"); sl != "ase" {
		t.Errorf("the registered user's page preselects %q, want their usual ase", sl)
	}
	deaf.do(map[string]any{"cmd": "fill", "page": pgDeaf, "selector": "#deaf-to", "value": ivE2ENumber})
	deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": "#call-interpreter"})
	interp.waitJS(pgInterp, "!document.querySelector('#offer').hidden", 20*time.Second)
	interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": `role=button[name="Accept"]`})
	deaf.waitJS(pgDeaf, "window.splitApp.state === 'active' && window.splitApp.call && window.splitApp.call.live", 30*time.Second)
	interp.waitJS(pgInterp, "!document.querySelector('#dial').disabled", 15*time.Second)
	interp.do(map[string]any{"cmd": "click", "page": pgInterp, "selector": "#dial"})
	select {
	case out := <-dialled:
		if from := out.Header("From"); !strings.Contains(from, "sip:+34910000301@") {
			t.Errorf("the phone call's From is %q, want the user's number", from)
		}
	case <-ctx.Done():
		t.Fatal("the phone was never called")
	}
	deaf.do(map[string]any{"cmd": "click", "page": pgDeaf, "selector": "#hangup"})
	deaf.waitJS(pgDeaf, "window.splitApp.state === 'ended'", 10*time.Second)
	h.waitMetric("split_rtp_port_pairs_in_use 0", 10*time.Second)
}

func TestInterpreterRegisteredUserBrowser(t *testing.T) { registeredUserBrowser(t, "chromium") }

func TestInterpreterRegisteredUserFirefox(t *testing.T) { registeredUserBrowser(t, "firefox") }
