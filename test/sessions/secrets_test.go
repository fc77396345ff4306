package sessions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/app"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// syncBuffer is a bytes.Buffer for concurrent writers (the hub's logger).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runApp runs app.Run with its start-up output going to out, until /readyz
// answers; the returned function stops it.
func runApp(ctx context.Context, t *testing.T, cfg *config.Config, out io.Writer) func() {
	t.Helper()
	runCtx, stop := context.WithCancel(context.Background())
	killCtx, kill := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, killCtx, cfg, app.NewLogger(cfg.Log, io.Discard), out) }()
	stopAll := func() {
		stop()
		kill()
		if err := <-done; err != nil && !errors.Is(err, app.ErrKilled) {
			t.Errorf("hub: %v", err)
		}
	}
	for {
		select {
		case err := <-done:
			t.Fatalf("hub stopped at once: %v", err)
		case <-ctx.Done():
			stopAll()
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if res, err := http.Get("http://" + cfg.HTTP.Listen + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return stopAll
			}
		}
	}
}

// claimsOf decodes a token's claims without checking it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p)
	var c map[string]any
	if err != nil || json.Unmarshal(b, &c) != nil {
		t.Fatalf("token %q does not decode", tok)
	}
	return c
}

// TestStartupPrintsNoOperatorSecrets: with the demo on, the hub prints the
// API key only when it generated it; an operator's key appears nowhere in
// the start-up output (nor in the admin link), and then no token is
// printed either. A generated set-up prints tokens that live
// auth.token_ttl, not the maximum.
func TestStartupPrintsNoOperatorSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := hubConfig(t, 22300, t.TempDir())
	cfg.Sessions.Demo = true
	cfg.API.Key = "operator-key-0123456789abcdef"
	var out syncBuffer
	stop := runApp(ctx, t, cfg, &out)
	// the links are printed once the hub serves
	waitUntil(t, 10*time.Second, "the start-up output", func() bool { return strings.Contains(out.String(), "Admin view: ") })
	stop()
	printed := out.String()
	if strings.Contains(printed, cfg.API.Key) || strings.Contains(printed, "token=") || strings.Contains(printed, "key=") {
		t.Fatalf("an operator-configured hub printed a credential:\n%s", printed)
	}
	for _, want := range []string{"Admin view: ", "admin.html  (sign in with your API key)", "Agent console (agent1): ", "Customer page: "} {
		if !strings.Contains(printed, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, printed)
		}
	}

	cfg = hubConfig(t, 22300, t.TempDir())
	cfg.Sessions.Demo = true
	cfg.API.Key = ""
	var out2 syncBuffer
	stop = runApp(ctx, t, cfg, &out2)
	waitUntil(t, 10*time.Second, "the start-up output", func() bool { return strings.Contains(out2.String(), "Admin view: ") })
	stop()
	printed = out2.String()
	key := regexp.MustCompile(`API key \(generated[^)]*\): (\S+)`).FindStringSubmatch(printed)
	if key == nil || !strings.Contains(printed, "admin.html#key="+key[1]) {
		t.Fatalf("a generated key is printed once with its admin link:\n%s", printed)
	}
	toks := regexp.MustCompile(`#token=([A-Za-z0-9_.-]+)`).FindAllStringSubmatch(printed, -1)
	if len(toks) < 2 {
		t.Fatalf("the demo prints the softphone and agent links with tokens:\n%s", printed)
	}
	for _, m := range toks {
		c := claimsOf(t, m[1])
		life := time.Duration(c["exp"].(float64)-c["iat"].(float64)) * time.Second
		if life != cfg.Auth.TokenTTL {
			t.Errorf("a printed %v token lives %s, want auth.token_ttl (%s)", c["role"], life, cfg.Auth.TokenTTL)
		}
	}
}

// TestNoSecretsInLogs runs the hub at debug level through a softphone call
// on a trunk with a password, a customer brought in by an SMS join link
// to a session routed to the trunk (with its Call-Info agent-view link),
// an agent console, webhooks and a dropped customer's resume, then looks
// for every secret and token of the run in the log.
func TestNoSecretsInLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const base = 22400
	var invites []string
	var mu sync.Mutex
	uas, err := testutil.StartUAS(testutil.UASOptions{Listen: fmt.Sprintf("127.0.0.1:%d", base+90), Record: -1, ToneHz: toneAgent1,
		OnCall: func(c *testutil.SIPCall) {
			mu.Lock()
			invites = append(invites, c.Invite.String())
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Close()
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hooks.Close()
	tw := notifytest.StartTwilio(t)

	cfg := hubConfig(t, base, t.TempDir())
	cfg.Log.Level = "debug"
	cfg.SIP.Trunks[0].Username = "split"
	cfg.SIP.Trunks[0].Password = "trunk-password-Zq8v1"
	cfg.Sessions.Webhooks = []config.Webhook{{URL: hooks.URL, Secret: "whsec_webhook-secret-4kd9", Events: []string{"*"}}}
	withNotify(cfg, tw, nil)
	ai := testutil.StartAIFake("copilot-token-Hq27s", "copilot-secret-Wm49x")
	defer ai.Close()
	cfg.Copilot = &config.Copilot{Services: []config.CopilotService{{Name: "assist", URL: ai.WS("split"), Token: ai.Token, Secret: ai.Secret}}}
	var logs syncBuffer
	h, err := testutil.StartHub(ctx, cfg, app.NewLogger(cfg.Log, &logs))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = h.Stop() }) }
	defer stop()
	a := api{t, h.URL}
	secrets := map[string]string{
		"API key":           cfg.API.Key,
		"token secret":      cfg.Auth.TokenSecret,
		"trunk password":    cfg.SIP.Trunks[0].Password,
		"webhook secret":    cfg.Sessions.Webhooks[0].Secret,
		"Twilio auth token": tw.AuthToken,
		"agent token":       agentToken(t, h, "agent1"),
		"AI service token":  ai.Token,
		"AI service secret": ai.Secret,
	}

	// A softphone call out through the trunk.
	_, minted := a.do("POST", "/v1/tokens", map[string]any{"identity": "alice"})
	sp, _ := minted["token"].(string)
	secrets["softphone token"] = sp
	pc, err := testutil.DialPion(ctx, testutil.PionOptions{Hub: h.URL, Token: sp, Codec: "PCMU", Record: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Call(ctx, "1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WaitState(ctx, "active"); err != nil {
		t.Fatal(err)
	}
	_ = pc.Hangup(ctx)
	pc.Close()

	// An agent invites a customer by SMS; the customer opens the link.
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	if err := ag.Send(ctx, map[string]any{"type": "invite", "to": "+34600123456", "channel": "sms", "name": "Ana"}); err != nil {
		t.Fatal(err)
	}
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	link := linkToken(t, tw.LastLink())
	secrets["SMS join link"] = link
	res, err := http.Get(h.URL + "/j/" + link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if code, out := join(t, a, link, map[string]any{"dry_run": true}); code != 200 {
		t.Fatalf("dry run: %d %v", code, out)
	}
	code, out := join(t, a, link, nil)
	if code != 200 {
		t.Fatalf("join: %d %v", code, out)
	}
	secrets["link socket token"], _ = out["ws_token"].(string)
	cust := startJoined(ctx, t, h, out)
	ans, err := cust.WaitFor(ctx, isType("answer"))
	if err != nil {
		t.Fatal(err)
	}
	var resume struct{ Resume string }
	_ = json.Unmarshal(ans.Raw, &resume)
	secrets["resume token"] = resume.Resume
	waitUntil(t, 10*time.Second, "the reverse call's media", func() bool { return cust.DominantHz(tones) == toneAgent1 })
	// an AI attached with its bearer token and signing secret
	if code, out := a.do("POST", "/v1/sessions/"+offer.Session+"/participants", map[string]any{"kind": "ai", "service": "assist"}); code != 202 {
		t.Fatalf("attach: %d %v", code, out)
	}
	if err := ai.Wait(ctx, "the AI's socket", func() bool { cs := ai.Conns(); return len(cs) == 1 && cs[0].AuthErr == "" && cs[0].Frames() > 5 }); err != nil {
		t.Fatal(err)
	}
	cust.Close() // dropped: the session waits for the customer
	back, err := testutil.DialSession(ctx, wsURL(h, "token="+resume.Resume), toneCustomer, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	_ = back.Send(ctx, map[string]any{"type": "hangup"})
	back.Close()

	// A session routed to the trunk (an external ACD): its INVITE carries
	// the Call-Info agent-view link with a viewer token.
	code, out = a.do("POST", "/v1/sessions", map[string]any{"target": "6000"})
	if code != 201 {
		t.Fatalf("session for the trunk: %d %v", code, out)
	}
	acdLink := linkToken(t, out["join_url"].(string))
	secrets["API join link"] = acdLink
	if code, out = join(t, a, acdLink, nil); code != 200 {
		t.Fatalf("join: %d %v", code, out)
	}
	secrets["ACD link socket token"], _ = out["ws_token"].(string)
	c2 := startJoined(ctx, t, h, out)
	var viewer string
	waitUntil(t, 15*time.Second, "the INVITE with Call-Info", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, inv := range invites {
			if m := regexp.MustCompile(`view=([A-Za-z0-9_.%-]+)`).FindStringSubmatch(inv); m != nil {
				viewer = strings.ReplaceAll(m[1], "%2E", ".")
				return true
			}
		}
		return false
	})
	secrets["viewer token"] = viewer
	_ = c2.Send(ctx, map[string]any{"type": "hangup"})
	c2.Close()
	stop() // the log is complete

	log := logs.String()
	if !strings.Contains(log, "level=DEBUG") {
		t.Fatalf("the hub logged nothing at debug level:\n%.2000s", log)
	}
	for what, s := range secrets {
		if s == "" {
			t.Errorf("the run produced no %s", what)
			continue
		}
		probe := s
		if len(probe) > 24 {
			probe = probe[len(probe)-24:] // a token's signature
		}
		if i := strings.Index(log, probe); i >= 0 {
			from := strings.LastIndex(log[:i], "\n") + 1
			to := i + strings.Index(log[i:], "\n")
			t.Errorf("the log holds the %s: %s", what, log[from:to])
		}
	}
	t.Logf("%d bytes of debug log checked for %d secrets", len(log), len(secrets))
}
