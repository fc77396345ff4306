package sessions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// forge builds a token signed with secret carrying exactly the given claims
// (the hub's format: base64url(JSON) "." base64url(HMAC-SHA256)). It makes
// the tokens no endpoint mints any more: expired ones, role-less ones from
// before token kinds, unknown roles, a customer token bound to no session.
func forge(secret string, claims map[string]any) string {
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	claims["iat"] = time.Now().Unix()
	claims["jti"] = "0123456789abcdef"
	b, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// wsOutcome opens a WebSocket and reports "101 <hello role>" or the HTTP
// status of the refusal; an open socket is returned (the caller closes it).
func wsOutcome(ctx context.Context, u string) (string, *websocket.Conn) {
	ws, res, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		if res != nil {
			return fmt.Sprint(res.StatusCode), nil
		}
		return "error " + err.Error(), nil
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return "101 no hello", nil
	}
	var hello struct{ Type, Role string }
	_ = json.Unmarshal(b, &hello)
	if hello.Role == "" {
		hello.Role = "softphone"
	}
	return "101 " + hello.Role, ws
}

func httpOutcome(t *testing.T, method, u, bearer, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return fmt.Sprint(res.StatusCode)
}

// within polls f until it holds or d has passed.
func within(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// trunkCalls records the numbers a trunk stand-in was called for.
type trunkCalls struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *trunkCalls) add(user string) {
	c.mu.Lock()
	c.seen[user]++
	c.mu.Unlock()
}

func (c *trunkCalls) has(user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[user] > 0
}

func (c *trunkCalls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for u := range c.seen {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// TestTokenTable walks the authorisation table of docs/security.md ("Tokens
// and what they reach"): every kind of credential against every socket and
// endpoint, while a session is live and after it has ended, and every
// session-protocol frame against every role. Dialling is asserted at the
// trunk: a SIP stand-in records the number of every INVITE it receives,
// and only the cells marked "dials" may reach it.
func TestTokenTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const base = 22100
	calls := &trunkCalls{seen: map[string]int{}}
	uas, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), Record: -1,
		OnCall: func(c *testutil.SIPCall) { calls.add(c.Invite.Recipient.User) }})
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Close()
	cfg := hubConfig(t, base, t.TempDir())
	// a registered deaf user (docs/interpreter.md §2.2): their token kind
	cfg.Interpreter = &config.Interpreter{Languages: []config.SignLanguage{{Tag: "ase", Name: "ASL", Spoken: "en"}},
		Users: []config.InterpreterUser{{ID: "u1", Name: "Luis"}}}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	secret := cfg.Auth.TokenSecret
	wsBase := strings.Replace(h.URL, "http", "ws", 1)

	// A live session: a customer at the public entry point, answered by agent1.
	ag1 := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, h, ag1)
	sid := offer.Session
	ans, err := cust.WaitFor(ctx, isType("answer"))
	if err != nil {
		t.Fatal(err)
	}
	var resume struct{ Resume string }
	_ = json.Unmarshal(ans.Raw, &resume)
	if resume.Resume == "" {
		t.Fatal("the customer's answer carries no resume token")
	}
	link := func() string {
		code, out := a.do("POST", "/v1/sessions/"+sid+"/links", map[string]any{})
		u, _ := out["url"].(string)
		if code != 201 || u == "" {
			t.Fatalf("link: %d %v", code, out)
		}
		return u[strings.LastIndex(u, "/")+1:]
	}
	code, joined := a.do("POST", "/v1/join", map[string]any{"token": link(), "role": "customer"})
	joinWS, _ := joined["ws_token"].(string)
	if code != 200 || joinWS == "" {
		t.Fatalf("join: %d %v", code, joined)
	}
	mint := func(body map[string]any) string {
		code, out := a.do("POST", "/v1/tokens", body)
		tok, _ := out["token"].(string)
		if code != 201 || tok == "" {
			t.Fatalf("POST /v1/tokens %v: %d %v", body, code, out)
		}
		return tok
	}
	if code, out := a.do("POST", "/v1/agents", map[string]any{"id": "agent3", "name": "Carol", "queues": []string{"default"}}); code != 201 {
		t.Fatalf("agent3: %d %v", code, out)
	}
	deleted := mint(map[string]any{"identity": "agent2", "role": "agent"})
	ag2, err := testutil.DialSession(ctx, wsURL(h, "token="+deleted), toneAgent2, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ag2.Close()
	if code, out := a.do("DELETE", "/v1/agents/agent2", nil); code != 204 {
		t.Fatalf("delete agent2: %d %v", code, out)
	}
	// Long-lived socket, agent deleted while connected: the hub closes it.
	if !within(10*time.Second, func() bool { return ag2.Send(ctx, map[string]any{"type": "ping"}) != nil }) {
		t.Error("the deleted agent's socket is still open")
	}

	viewerTok := forge(secret, map[string]any{"sub": "viewer", "role": "viewer", "ses": sid}) // as in Call-Info
	type cred struct{ name, tok string }
	creds := []cred{
		{"API key", testutil.HubAPIKey},
		{"softphone", mint(map[string]any{"identity": "alice"})},
		{"softphone, role-less (minted before token kinds)", forge(secret, map[string]any{"sub": "bob"})},
		{"agent", mint(map[string]any{"identity": "agent1", "role": "agent"})},
		{"agent, unknown", forge(secret, map[string]any{"sub": "mallory", "role": "agent"})},
		{"agent, deleted", deleted},
		{"customer (resume)", resume.Resume},
		{"customer (join link)", joinWS},
		{"viewer", viewerTok},
		{"deaf_user", mint(map[string]any{"identity": "u1", "role": "deaf_user"})},
		{"deaf_user, unregistered", forge(secret, map[string]any{"sub": "nobody", "role": "deaf_user"})},
		{"customer, no session", forge(secret, map[string]any{"sub": "customer", "role": "customer"})},
		{"unknown role", forge(secret, map[string]any{"sub": "eve", "role": "supervisor"})},
		{"expired softphone", forge(secret, map[string]any{"sub": "alice", "role": "softphone", "exp": time.Now().Add(-time.Minute).Unix()})},
		{"other secret", forge("another-secret-of-enough-length", map[string]any{"sub": "alice", "role": "softphone"})},
		{"join link", link()},
		{"none", ""},
	}
	// Columns: softphone socket (and whether a call from it reaches the
	// trunk), session socket, REST, POST /v1/tokens, a REST dial, POST /v1/join.
	cols := []string{"/v1/ws", "dial", "/v1/sessions/ws", "GET /v1/sessions", "POST /v1/tokens", "POST participants", "POST /v1/join"}
	refused := map[string]string{"/v1/ws": "401", "dial": "-", "/v1/sessions/ws": "401", "GET /v1/sessions": "401",
		"POST /v1/tokens": "401", "POST participants": "401", "POST /v1/join": "404"}
	row := func(over map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range refused {
			out[k] = v
		}
		for k, v := range over {
			out[k] = v
		}
		return out
	}
	live := map[string]map[string]string{
		"API key":   row(map[string]string{"GET /v1/sessions": "200", "POST /v1/tokens": "201", "POST participants": "202"}),
		"softphone": row(map[string]string{"/v1/ws": "101 softphone", "dial": "dials", "/v1/sessions/ws": "403"}),
		"softphone, role-less (minted before token kinds)": row(map[string]string{"/v1/ws": "101 softphone", "dial": "dials", "/v1/sessions/ws": "403"}),
		"agent":                row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "101 agent"}),
		"agent, unknown":       row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "403"}),
		"agent, deleted":       row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "403"}),
		"customer (resume)":    row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "101 customer"}),
		"customer (join link)": row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "101 customer"}),
		"viewer":               row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "101 viewer"}),
		// a registered deaf user's page: the session socket as a customer
		// with no session, nothing else
		"deaf_user":               row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "101 customer"}),
		"deaf_user, unregistered": row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "403"}),
		"customer, no session":    row(nil),
		"unknown role":            row(nil),
		"expired softphone":       row(nil),
		"other secret":            row(nil),
		"join link":               row(map[string]string{"POST /v1/join": "200"}),
		"none":                    row(map[string]string{"/v1/sessions/ws": "404"}),
	}
	number := 7000
	expectDial := map[string]string{} // number → the cell that dialled it
	var unexpected []string           // numbers that must never reach the trunk
	check := func(phase string, cr cred, want map[string]string) {
		got := map[string]string{}
		// the softphone socket; if it opens, try to call out through it
		out, ws := wsOutcome(ctx, wsBase+"/v1/ws?token="+url.QueryEscape(cr.tok))
		got["/v1/ws"], got["dial"] = out, "-"
		if ws != nil {
			ws.CloseNow()
			number++
			n := fmt.Sprint(number)
			pc, err := testutil.DialPion(ctx, testutil.PionOptions{Hub: h.URL, Token: cr.tok, Codec: "PCMU", Record: -1, CallID: "c" + n})
			if err == nil {
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				if err := pc.Call(cctx, n); err == nil {
					got["dial"] = "dials"
				} else {
					got["dial"] = "call failed"
				}
				ccancel()
				pc.Close()
			}
			if want["dial"] == "dials" {
				expectDial[n] = phase + " " + cr.name
			} else {
				unexpected = append(unexpected, n)
			}
		}
		out, ws = wsOutcome(ctx, wsBase+"/v1/sessions/ws?token="+url.QueryEscape(cr.tok))
		if ws != nil {
			ws.CloseNow()
		}
		got["/v1/sessions/ws"] = out
		got["GET /v1/sessions"] = httpOutcome(t, "GET", h.URL+"/v1/sessions", cr.tok, "")
		got["POST /v1/tokens"] = httpOutcome(t, "POST", h.URL+"/v1/tokens", cr.tok, `{"identity":"zed"}`)
		number++
		n := fmt.Sprint(number)
		got["POST participants"] = httpOutcome(t, "POST", h.URL+"/v1/sessions/"+sid+"/participants", cr.tok, `{"to":"`+n+`"}`)
		if want["POST participants"] == "202" {
			expectDial[n] = phase + " " + cr.name + " (participants)"
		} else {
			unexpected = append(unexpected, n)
		}
		got["POST /v1/join"] = httpOutcome(t, "POST", h.URL+"/v1/join", "", `{"dry_run":true,"token":"`+cr.tok+`"}`)
		for _, c := range cols {
			if w := want[c]; got[c] != w {
				t.Errorf("%s: %-50s × %-18s = %q, want %q", phase, cr.name, c, got[c], w)
			}
		}
	}
	for _, cr := range creds {
		check("live", cr, live[cr.name])
	}

	// Every session-protocol frame against every role. A frame is refused
	// for a role when the hub answers "… is not a <role> message"; allowed
	// frames are sent with arguments that make them fail harmlessly.
	viewer, err := testutil.DialSession(ctx, wsURL(h, "token="+url.QueryEscape(viewerTok)), 0, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	custTok, err := testutil.DialSession(ctx, wsURL(h, "token="+url.QueryEscape(joinWS)), 0, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	defer custTok.Close()
	custEntry, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), 0, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	defer custEntry.Close()
	ag3, err := testutil.DialSession(ctx, wsURL(h, "token="+mint(map[string]any{"identity": "agent3", "role": "agent"})), 0, 6, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ag3.Close()
	roles := []struct {
		name, role string
		p          *testutil.SessionPeer
	}{{"customer (entry)", "customer", custEntry}, {"customer (token)", "customer", custTok}, {"agent", "agent", ag3}, {"viewer", "viewer", viewer}}
	frames := []struct {
		frame   map[string]any
		allowed string // roles, by name prefix
	}{
		{map[string]any{"type": "start"}, "customer"},
		{map[string]any{"type": "view"}, "viewer"},
		{map[string]any{"type": "login", "queues": []string{"no-such-queue"}}, "agent"},
		{map[string]any{"type": "ready"}, "agent"},
		{map[string]any{"type": "logout"}, "agent"},
		{map[string]any{"type": "accept", "leg": "nope"}, "agent"},
		{map[string]any{"type": "decline", "leg": "nope"}, "agent"},
		{map[string]any{"type": "hold", "session": "nope", "hold": true}, "agent"},
		{map[string]any{"type": "transfer", "session": "nope", "to": "6999"}, "agent"},
		{map[string]any{"type": "invite", "to": "x", "channel": "nope"}, "agent"},
		{map[string]any{"type": "escalate", "session": "nope"}, "agent"},
		{map[string]any{"type": "mute", "mute": false}, "agent customer"},
		{map[string]any{"type": "move_audio"}, "customer"},
		{map[string]any{"type": "dtmf", "digits": "1"}, "agent customer"},
		// Deaf Interpreter mode: a phone number reaches the trunk only from
		// the lead interpreter of an interpreter session (the others are
		// refused by the session, test/sessions/interpreter_test.go)
		{map[string]any{"type": "dial", "session": "nope", "to": "6996"}, "agent"},
		{map[string]any{"type": "release", "session": "nope"}, "agent customer"},
		{map[string]any{"type": "carry_over", "session": "nope", "vco": true}, "agent customer"},
		{map[string]any{"type": "side_talk", "session": "nope", "side_talk": true}, "agent"},
		{map[string]any{"type": "handoff", "session": "nope", "to": "agent:x"}, "agent"},
		{map[string]any{"type": "team", "session": "nope", "to": "agent:x"}, "agent"},
		{map[string]any{"type": "lead", "session": "nope", "leg": "x"}, "agent"},
		{map[string]any{"type": "restart"}, "agent customer viewer"},
		{map[string]any{"type": "candidate"}, "agent customer viewer"},
		{map[string]any{"type": "hangup", "session": "nope"}, "agent customer viewer"},
		{map[string]any{"type": "call", "to": "6998"}, ""},
		{map[string]any{"type": "offer", "to": "6997", "sdp": "v=0"}, ""},
	}
	for _, r := range roles {
		for _, f := range frames {
			n := len(r.p.Frames())
			if err := r.p.Send(ctx, f.frame); err != nil {
				t.Fatal(err)
			}
			if err := r.p.Send(ctx, map[string]any{"type": "ping"}); err != nil {
				t.Fatal(err)
			}
			i := 0
			if _, err := r.p.WaitFor(ctx, func(m testutil.Message) bool { i++; return i > n && m.Type == "pong" }); err != nil {
				t.Fatalf("%s %v: %v", r.name, f.frame, err)
			}
			refusedByRole := false
			for _, m := range r.p.Frames()[n:] {
				if m.Type == "error" && strings.Contains(string(m.Raw), "is not a "+r.role+" message") {
					refusedByRole = true
				}
			}
			want := strings.Contains(f.allowed, r.role)
			if refusedByRole == want {
				t.Errorf("frame %v from %s: allowed=%v, want %v", f.frame["type"], r.name, !refusedByRole, want)
			}
		}
	}

	// A registered deaf user's page is a customer that may also answer and
	// decline the calls rung there: nothing else, and nobody else's.
	deafPage, err := testutil.DialSession(ctx, wsURL(h, "token="+mint(map[string]any{"identity": "u1", "role": "deaf_user"})), 0, 7, false)
	if err != nil {
		t.Fatal(err)
	}
	defer deafPage.Close()
	for _, f := range []struct {
		frame map[string]any
		code  string
	}{
		{map[string]any{"type": "decline", "session": sid}, "conflict"},              // a session it was not rung for
		{map[string]any{"type": "start", "sdp": "v=0", "session": sid}, "forbidden"}, // not its call: another mode's session
		{map[string]any{"type": "login"}, "bad_request"},
		{map[string]any{"type": "dial", "session": sid, "to": "6995"}, "bad_request"},
	} {
		n := len(deafPage.Frames())
		if err := deafPage.Send(ctx, f.frame); err != nil {
			t.Fatal(err)
		}
		i := 0
		e, err := deafPage.WaitFor(ctx, func(m testutil.Message) bool { i++; return i > n && m.Type == "error" })
		if err != nil || e.ErrorCode() != f.code {
			t.Errorf("deaf user's page %v: %s (%v), want %s", f.frame["type"], e.Raw, err, f.code)
		}
	}

	// The agent in the session dials a trunk number by transfer (allowed),
	// then the session ends.
	number++
	n := fmt.Sprint(number)
	expectDial[n] = "agent transfer"
	if err := ag1.Send(ctx, map[string]any{"type": "transfer", "session": sid, "to": n}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the agent's transfer to reach the trunk", func() bool { return calls.has(n) })
	if code, out := a.do("DELETE", "/v1/sessions/"+sid, nil); code != 204 {
		t.Fatalf("end: %d %v", code, out)
	}
	// Long-lived sockets bound to the session are closed once it has ended.
	for _, p := range []*testutil.SessionPeer{viewer, custTok} {
		if !within(15*time.Second, func() bool { return p.Send(ctx, map[string]any{"type": "ping"}) != nil }) {
			t.Errorf("a socket bound to the ended session is still open")
		}
	}

	// After the end: session-bound tokens reach nothing.
	ended := map[string]map[string]string{
		"customer (resume)":    row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "404"}),
		"customer (join link)": row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "404"}),
		"viewer":               row(map[string]string{"/v1/ws": "403", "/v1/sessions/ws": "404"}),
	}
	for _, cr := range creds {
		if w, ok := ended[cr.name]; ok {
			check("ended", cr, w)
		}
	}

	// Barrier: a softphone call placed last reaches the trunk; a call any
	// refused cell had managed to place would have arrived before it.
	number++
	n = fmt.Sprint(number)
	expectDial[n] = "barrier"
	pc, err := testutil.DialPion(ctx, testutil.PionOptions{Hub: h.URL, Token: creds[1].tok, Codec: "PCMU", Record: -1, CallID: "barrier"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Call(ctx, n); err != nil {
		t.Fatal(err)
	}
	for num, who := range expectDial {
		waitUntil(t, 15*time.Second, "the trunk to be called for "+who, func() bool { return calls.has(num) })
	}
	for _, num := range unexpected {
		if calls.has(num) {
			t.Errorf("the trunk was called for %s, dialled by a refused cell", num)
		}
	}
	t.Logf("trunk saw %v", calls.list())
}
