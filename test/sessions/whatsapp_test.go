package sessions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/app"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// WhatsApp mode against the contract fake of Meta (notifytest): the Graph
// calling endpoints, signed webhooks and a Meta media peer in pion that
// behaves as Meta's relay is documented to (ICE-lite, DTLS server, Opus PT
// 111 + telephone-event PT 126). Tones are asserted by frequency both ways.

const (
	toneWhatsApp = 852.0
	waUser       = "+16505551234"
	waVerify     = "verify-me"
)

var tonesWA = []float64{toneWhatsApp, toneCustomer, toneAgent1, toneAgent2, notifytest.DefaultMetaToneHz}

// chatPlatform is the company's chat platform behind the hub: it records
// every delivery the hub forwards.
type chatPlatform struct {
	mu   sync.Mutex
	got  [][]byte
	sigs []string
	srv  *httptest.Server
}

func startChatPlatform(t *testing.T) *chatPlatform {
	cp := &chatPlatform{}
	cp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cp.mu.Lock()
		cp.got = append(cp.got, b)
		cp.sigs = append(cp.sigs, r.Header.Get("X-Hub-Signature-256"))
		cp.mu.Unlock()
	}))
	t.Cleanup(cp.srv.Close)
	return cp
}

func (cp *chatPlatform) deliveries() ([][]byte, []string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([][]byte(nil), cp.got...), append([]string(nil), cp.sigs...)
}

// waConfig adds the fake's business number to cfg: its calls come in at
// the entry point "whatsapp", served by the built-in queue.
func waConfig(cfg *config.Config, f *notifytest.WhatsAppFake, forward string) {
	cfg.WhatsApp = &config.WhatsApp{BaseURL: f.URL, Version: f.Version, AppSecret: f.AppSecret, VerifyToken: waVerify,
		Forward: config.WhatsAppForward{URL: forward},
		Numbers: []config.WhatsAppNumber{{PhoneNumberID: f.PhoneNumberID, Number: "+15550783881", AccessToken: f.AccessToken, Entry: "whatsapp"}}}
	cfg.Sessions.EntryPoints = append(cfg.Sessions.EntryPoints, config.EntryPoint{Name: "whatsapp"})
	cfg.Sessions.Routes = append([]config.Route{{Name: "whatsapp", Entry: "whatsapp", Target: "queue:default"}}, cfg.Sessions.Routes...)
}

func subscribe(t *testing.T, ctx context.Context, f *notifytest.WhatsAppFake, h *testutil.Hub) {
	t.Helper()
	if err := f.Subscribe(ctx, h.URL+"/v1/whatsapp/webhook", waVerify); err != nil {
		t.Fatalf("webhook verification: %v", err)
	}
}

// TestWhatsAppUserCallToAgent: a WhatsApp user calls; the hub pre-accepts
// at once, routes the call to the built-in queue, accepts (with the same
// answer) only when the agent answers, and bridges Opus (WhatsApp) to the
// console's PCMU both ways. The chat platform behind the hub receives every
// delivery byte for byte with Meta's signature. The user hangs up: the
// agent is told, the session ends "Customer hung up".
func TestWhatsAppUserCallToAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	cp := startChatPlatform(t)
	cfg := hubConfig(t, 24000, t.TempDir())
	waConfig(cfg, f, cp.srv.URL)
	cfg.Log.Level = "debug"
	var logs syncBuffer
	h, err := testutil.StartHub(ctx, cfg, app.NewLogger(cfg.Log, &logs))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	subscribe(t, ctx, f, h)
	a := api{t, h.URL}

	ag := readyAgent(ctx, t, h, false)

	call, err := f.UserCalls(ctx, waUser, "Sheena Nelson", notifytest.WithToneHz(toneWhatsApp), notifytest.WithCTAPayload("conv=123"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	// pre-accepted while the console rings; not accepted before the agent answers
	waitUntil(t, 10*time.Second, "pre_accept", func() bool { return call.HasAction("pre_accept") })
	if call.HasAction("accept") {
		t.Fatal("the hub accepted the WhatsApp call before anybody answered")
	}
	_, s := a.do("GET", "/v1/sessions/"+o.Session, nil)
	cust, _ := s["customer"].(map[string]any)
	if s["mode"] != "whatsapp" || cust["name"] != "Sheena Nelson" || cust["contact"] != waUser {
		t.Errorf("the session: %v", s)
	}
	if ctxm, _ := cust["context"].(map[string]any); ctxm["cta_payload"] != "conv=123" || ctxm["whatsapp"] != strings.TrimPrefix(waUser, "+") {
		t.Errorf("the session's customer context: %v", cust)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatal(err)
	}
	for _, act := range call.Actions() {
		if act.ErrorCode != 0 {
			t.Errorf("Meta refused %s: %d %s", act.Action, act.ErrorCode, act.Details)
		}
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatalf("the agent's voice at the WhatsApp user: %v (stats %+v)", err, call.Peer().Stats())
	}
	waitUntil(t, 10*time.Second, "the WhatsApp user's voice at the agent", func() bool { return ag.DominantHz(tonesWA) == toneWhatsApp })
	// sustained media, not a first burst: two seconds each way
	waitUntil(t, 15*time.Second, "100 packets each way", func() bool {
		st := call.Peer().Stats()
		return st.PacketsIn >= 100 && ag.AudioPackets() >= 100
	})
	st := call.Peer().Stats()
	t.Logf("Meta peer: in %d out %d packets (early %d), decode errors %d; agent heard %d packets",
		st.PacketsIn, st.PacketsOut, st.EarlyIn, st.DecodeErrors, ag.AudioPackets())
	if st.EarlyIn != 0 {
		t.Errorf("%d packets reached Meta before the accept", st.EarlyIn)
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == o.Session }); err != nil {
		t.Fatalf("the agent was not told: %v", err)
	}
	waitUntil(t, 10*time.Second, "the session's end", func() bool {
		_, s := a.do("GET", "/v1/sessions/"+o.Session, nil)
		return s["state"] == "ended"
	})
	_, s = a.do("GET", "/v1/sessions/"+o.Session, nil)
	if s["cause_code"] != float64(200) || s["cause"] != "Customer hung up" {
		t.Errorf("ended with %v %v", s["cause_code"], s["cause"])
	}
	if call.HasAction("terminate") {
		t.Error("the hub sent terminate for a call the user ended")
	}
	// every delivery reached the chat platform, byte for byte, with Meta's signature
	waitUntil(t, 10*time.Second, "the chat platform's copies", func() bool {
		got, _ := cp.deliveries()
		return len(got) >= len(f.Webhooks())
	})
	got, sigs := cp.deliveries()
	for i, b := range got {
		mac := hmac.New(sha256.New, []byte(f.AppSecret))
		mac.Write(b)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sigs[i] != want {
			t.Errorf("forwarded delivery %d: signature %q does not match its bytes", i, sigs[i])
		}
	}
	if len(got) == 0 {
		t.Error("nothing was forwarded to the chat platform")
	}
	// the admin endpoints need the API key; a forged delivery is refused and reaches nobody
	for _, path := range []string{"/v1/whatsapp/settings", "/v1/whatsapp/dead-letters"} {
		res, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the API key: %d, want 401", path, res.StatusCode)
		}
	}
	before, _ := cp.deliveries()
	forged := `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"calls","value":{"calls":[{"id":"wacid.forged","event":"connect"}]}}]}]}`
	req, _ := http.NewRequest("POST", h.URL+"/v1/whatsapp/webhook", strings.NewReader(forged))
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a forged delivery: %v %v, want 403", res, err)
	} else {
		res.Body.Close()
	}
	if after, _ := cp.deliveries(); len(after) != len(before) {
		t.Error("a forged delivery was forwarded to the chat platform")
	}
	// no WhatsApp secret in the debug log of the whole call
	if !strings.Contains(logs.String(), "WebRTC state") {
		t.Fatal("the hub's debug log is empty: nothing was checked")
	}
	for name, secret := range map[string]string{"access token": f.AccessToken, "app secret": f.AppSecret, "verify token": waVerify} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the %s is in the log", name)
		}
	}
}

// waHub starts a hub with the fake's number and an agent console (agent1,
// logged in and ready).
func waHub(t *testing.T, ctx context.Context, base int, f *notifytest.WhatsAppFake, forward string) (*testutil.Hub, *testutil.SessionPeer) {
	t.Helper()
	cfg := hubConfig(t, base, t.TempDir())
	waConfig(cfg, f, forward)
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop() })
	subscribe(t, ctx, f, h)
	ag := readyAgent(ctx, t, h, true)
	return h, ag
}

// TestWhatsAppBusinessCallWithPermission: the agent calls a WhatsApp user
// who has not allowed calls: the hub sends the permission request (and a
// "call us" button), the user accepts, the agent's console rings, the
// agent answers, the hub places the call (connect, the session as
// biz_opaque_callback_data), the user answers: voices both ways. The agent
// hangs up: the hub terminates the call at Meta.
func TestWhatsAppBusinessCallWithPermission(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	h, ag := waHub(t, ctx, 24100, f, "")
	a := api{t, h.URL}
	code, out := a.do("POST", "/v1/sessions", map[string]any{"mode": "whatsapp", "agent_id": "agent1",
		"customer": map[string]any{"name": "Ana", "contact": waUser}})
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	sid, _ := out["id"].(string)
	if wa, _ := out["whatsapp"].(map[string]any); wa["permission"] != "requested" || out["state"] != "waiting" {
		t.Fatalf("a user without permission: %v", out)
	}
	waitUntil(t, 10*time.Second, "the permission request and the call button", func() bool {
		var req, button bool
		for _, m := range f.Messages() {
			req = req || m.InteractiveType == "call_permission_request"
			button = button || m.InteractiveType == "voice_call"
		}
		return req && button
	})
	if len(f.Calls()) != 0 {
		t.Fatal("the hub called before the user allowed it")
	}
	if err := f.UserAnswersPermission(waUser, true, false); err != nil {
		t.Fatal(err)
	}
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Session != sid {
		t.Fatalf("agent1 was offered %s, want %s", o.Session, sid)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	call, err := f.WaitCall(ctx, waUser)
	if err != nil {
		t.Fatal(err)
	}
	if call.BizOpaque() != sid {
		t.Errorf("biz_opaque_callback_data %q, want the session %s", call.BizOpaque(), sid)
	}
	if err := call.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatalf("the agent's voice at the WhatsApp user: %v (%+v)", err, call.Peer().Stats())
	}
	waitUntil(t, 10*time.Second, "the WhatsApp user's voice at the agent", func() bool { return ag.DominantHz(tonesWA) == notifytest.DefaultMetaToneHz })
	_, s := a.do("GET", "/v1/sessions/"+sid, nil)
	if s["state"] != "active" || s["mode"] != "whatsapp" {
		t.Errorf("the answered call: %v", s)
	}
	if err := ag.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	end, err := call.WaitTerminated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if end.By != "business" {
		t.Errorf("the call ended by %q, want the business's terminate", end.By)
	}
	waitUntil(t, 10*time.Second, "the session's end", func() bool {
		_, s := a.do("GET", "/v1/sessions/"+sid, nil)
		return s["state"] == "ended"
	})
	if _, s := a.do("GET", "/v1/sessions/"+sid, nil); s["cause"] != "Agent hung up" {
		t.Errorf("cause %v", s["cause"])
	}
}

// TestWhatsAppVideoLink: during a WhatsApp voice call the agent sends the
// video link into the chat (cta_url); the customer opens it and the browser
// joins the same session with its camera while the voice stays on WhatsApp;
// then the customer moves the voice to the browser: the WhatsApp call is
// terminated and the agent hears the browser.
func TestWhatsAppVideoLink(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	h, ag := waHub(t, ctx, 24200, f, "")
	a := api{t, h.URL}
	call, err := f.UserCalls(ctx, waUser, "Sheena Nelson", notifytest.WithToneHz(toneWhatsApp))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	sid := o.Session
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the WhatsApp user's voice at the agent", func() bool { return ag.DominantHz(tonesWA) == toneWhatsApp })

	if err := ag.Send(ctx, map[string]any{"type": "escalate", "session": sid}); err != nil {
		t.Fatal(err)
	}
	inv, err := ag.WaitFor(ctx, isType("invited"))
	if err != nil {
		t.Fatal(err)
	}
	var link string
	waitUntil(t, 10*time.Second, "the video link in the chat", func() bool {
		for _, m := range f.Messages() {
			if m.InteractiveType == "cta_url" && m.WaID == strings.TrimPrefix(waUser, "+") {
				link = m.URL
			}
		}
		return link != ""
	})
	if !strings.Contains(string(inv.Raw), link) {
		t.Errorf("the console was told %s, the chat got %s", inv.Raw, link)
	}
	code, out := join(t, a, linkToken(t, link), nil)
	if code != 200 || out["session"] != sid {
		t.Fatalf("join: %d %v", code, out)
	}
	cu, err := testutil.DialSession(ctx, wsURL(h, "token="+out["ws_token"].(string)), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	if err := cu.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the customer's camera at the agent, the agent's at the customer", func() bool {
		return ag.VideoFrom(9) > 10 && cu.VideoFrom(1) > 10
	})
	// the voice stays on WhatsApp: the agent hears the WhatsApp user, not the browser's microphone
	if got := ag.DominantHz(tonesWA); got != toneWhatsApp {
		t.Errorf("with the browser in, the agent hears %v Hz, want the WhatsApp voice %v", got, toneWhatsApp)
	}
	if call.State() == notifytest.CallTerminated {
		t.Fatal("the WhatsApp call ended when the browser joined")
	}
	// move the voice to the browser
	if err := cu.Send(ctx, map[string]any{"type": "move_audio", "session": sid}); err != nil {
		t.Fatal(err)
	}
	end, err := call.WaitTerminated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if end.By != "business" {
		t.Errorf("the WhatsApp call ended by %q, want the hub's terminate", end.By)
	}
	waitUntil(t, 10*time.Second, "the browser's voice at the agent", func() bool { return ag.DominantHz(tonesWA) == toneCustomer })
	_, s := a.do("GET", "/v1/sessions/"+sid, nil)
	if s["state"] != "active" {
		t.Fatalf("after the move the session is %v", s["state"])
	}
	if err := cu.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == sid }); err != nil {
		t.Fatalf("the agent was not told: %v", err)
	}
}

// TestWhatsAppHoldKeepsMediaFlowing: the agent holds a WhatsApp call. The
// customer's leg leaves the audio plan, but Meta drops a call that receives
// no media (30 s): the hub keeps sending it (silence) until the call is
// resumed, and the agent's voice comes back after.
func TestWhatsAppHoldKeepsMediaFlowing(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	f.SetCallingLimits(notifytest.CallingLimits{MediaMidTimeout: 2 * time.Second})
	h, ag := waHub(t, ctx, 24300, f, "")
	a := api{t, h.URL}
	call, err := f.UserCalls(ctx, waUser, "Sheena Nelson", notifytest.WithToneHz(toneWhatsApp))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatal(err)
	}
	if err := ag.Send(ctx, map[string]any{"type": "hold", "session": o.Session, "hold": true}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the session held", func() bool {
		_, s := a.do("GET", "/v1/sessions/"+o.Session, nil)
		return s["held"] == true
	})
	// held for longer than Meta's (shortened) media timeout: packets keep coming, silent
	base := call.Peer().Stats().PacketsIn
	waitUntil(t, 15*time.Second, "200 packets to Meta while held", func() bool { return call.Peer().Stats().PacketsIn >= base+200 })
	if call.State() == notifytest.CallTerminated {
		t.Fatalf("Meta dropped the held call: %+v", call.End())
	}
	if hz := call.Peer().DominantHz(); hz > 100 {
		t.Logf("while held the WhatsApp user hears %v Hz", hz)
	}
	if err := ag.Send(ctx, map[string]any{"type": "hold", "session": o.Session, "hold": false}); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatalf("the agent's voice after the resume: %v", err)
	}
}

// TestWhatsAppAcceptTimeoutRingback: nobody answers within the number's
// accept_timeout: the hub accepts the call before Meta's window closes and
// the caller hears ringback (425 Hz) while queued; the agent who logs in
// later gets the call, and the caller hears the agent.
func TestWhatsAppAcceptTimeoutRingback(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	cfg := hubConfig(t, 24400, t.TempDir())
	waConfig(cfg, f, "")
	cfg.WhatsApp.Numbers[0].AcceptTimeout = time.Second
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	subscribe(t, ctx, f, h)
	call, err := f.UserCalls(ctx, waUser, "Sheena Nelson", notifytest.WithToneHz(toneWhatsApp))
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, 425, 15); err != nil {
		t.Fatalf("no ringback while queued: %v (%+v)", err, call.Peer().Stats())
	}
	ag := readyAgent(ctx, t, h, false)
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatalf("the agent's voice after the queue: %v", err)
	}
	waitUntil(t, 10*time.Second, "the caller's voice at the agent", func() bool { return ag.DominantHz(tonesWA) == toneWhatsApp })
	n := 0
	for _, a := range call.Actions() {
		if a.Action == "accept" && a.ErrorCode == 0 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d accepts, want one (at the timeout, not again when the agent answered)", n)
	}
}

// TestWhatsAppChatKeywordBecomesACall: the customer writes "call me" in the
// chat (a configured keyword). With the user's call permission on record,
// the hub opens a session served by the number's entry point: the queue's
// agent is rung, answers, and the hub calls the user on WhatsApp. Texts the
// customer sends during the call land in the session's history.
func TestWhatsAppChatKeywordBecomesACall(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	f.GrantCallPermission(waUser, false)
	cfg := hubConfig(t, 24500, t.TempDir())
	waConfig(cfg, f, "")
	cfg.WhatsApp.Numbers[0].Keywords = []string{"call me"}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	subscribe(t, ctx, f, h)
	a := api{t, h.URL}
	ag := readyAgent(ctx, t, h, false)
	if _, err := f.UserSends(notifytest.InboundMessage{From: waUser, ProfileName: "Sheena Nelson", Text: "Call me please"}); err != nil {
		t.Fatal(err)
	}
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	_, s := a.do("GET", "/v1/sessions/"+o.Session, nil)
	if cust, _ := s["customer"].(map[string]any); s["mode"] != "whatsapp" || cust["name"] != "Sheena Nelson" {
		t.Errorf("the escalated chat's session: %v", s)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	call, err := f.WaitCall(ctx, waUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatalf("the agent's voice at the WhatsApp user: %v", err)
	}
	if _, err := f.UserSends(notifytest.InboundMessage{From: waUser, Text: "my order is 12853"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the chat message in the session's history", func() bool {
		_, ev := a.do("GET", "/v1/sessions/"+o.Session+"/events?format=json", nil)
		evs, _ := ev["events"].([]any)
		for _, e := range evs {
			if m, _ := e.(map[string]any); m["type"] == "whatsapp.message" && strings.Contains(fmt.Sprint(m["data"]), "12853") {
				return true
			}
		}
		return false
	})
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == o.Session }); err != nil {
		t.Fatal(err)
	}
}

// TestWhatsAppCallFromConsole: the agent's console calls a WhatsApp user
// (invite, channel whatsapp-call) who allowed calls: the console is told
// (invited, delivery = the permission) and offered the call's leg at once;
// on answer the hub places the call, and the user hears the agent.
func TestWhatsAppCallFromConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := notifytest.StartWhatsApp(t)
	f.GrantCallPermission(waUser, true)
	_, ag := waHub(t, ctx, 24600, f, "")
	if err := ag.Send(ctx, map[string]any{"type": "invite", "to": waUser, "channel": "whatsapp-call", "name": "Ana"}); err != nil {
		t.Fatal(err)
	}
	inv, err := ag.WaitFor(ctx, isType("invited"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(inv.Raw), `"channel":"whatsapp-call"`) || !strings.Contains(string(inv.Raw), `"delivery":"permanent"`) {
		t.Fatalf("invited: %s", inv.Raw)
	}
	o, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Session != inv.Session {
		t.Fatalf("offered %s, invited %s", o.Session, inv.Session)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	call, err := f.WaitCall(ctx, waUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, toneAgent1, 30); err != nil {
		t.Fatalf("the agent's voice at the WhatsApp user: %v", err)
	}
	// a number that is not a WhatsApp user's is refused with a clear error
	if err := ag.Send(ctx, map[string]any{"type": "invite", "to": "not a number", "channel": "whatsapp-call"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool {
		return m.Type == "error" && strings.Contains(string(m.Raw), "WhatsApp user's number")
	}); err != nil {
		t.Fatal(err)
	}
}

// readyAgent connects agent1's console (tone toneAgent1, video tag 1),
// logged in and ready; it closes when the test ends.
func readyAgent(ctx context.Context, t *testing.T, h *testutil.Hub, video bool) *testutil.SessionPeer {
	t.Helper()
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, video)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ag.Close)
	for _, m := range []map[string]any{{"type": "login"}, {"type": "ready", "ready": true}} {
		if err := ag.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
		t.Fatal(err)
	}
	return ag
}
