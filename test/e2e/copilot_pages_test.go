package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// apiGet reads a hub API path with the API key.
func apiGet(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+hubHTTP+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestPagesSupervise: from the admin view, a supervisor is sent to listen
// to a live call in monitor mode; their console (Chromium) rings, joins,
// shows the listen mode, and switches to whisper and barge with a click.
func TestPagesSupervise(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1", "agent2"))
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.do(map[string]any{"cmd": "open", "page": "sup", "url": base + "/agent.html#token=" + h.agentToken("agent2") + "&autoanswer=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	d.waitJS("sup", "window.splitApp && window.splitApp.client && window.splitApp.client.connected", 20*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&name=Ana&autostart=1"})
	d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "admin", "url": base + "/admin.html#key=" + apiKey})
	sid := strings.Trim(string(d.waitJS("admin", `(() => { const o = [...document.querySelectorAll('#sup-session option')]; return o.length === 1 && o[0].value; })()`, 20*time.Second)), `"`)
	d.waitJS("admin", `[...document.querySelectorAll('#sup-agent option')].some((o) => o.value === 'agent2')`, 10*time.Second)
	d.do(map[string]any{"cmd": "eval", "page": "admin", "js": `() => { document.querySelector('#sup-agent').value = 'agent2'; document.querySelector('#sup-mode').value = 'monitor'; return true; }`})
	d.do(map[string]any{"cmd": "click", "page": "admin", "selector": "role=button[name=\"Listen\"]"})
	d.waitJS("sup", `!document.querySelector('#supervise').hidden && document.querySelector('#supervise [data-mode="monitor"]').getAttribute('aria-pressed') === 'true'`, 20*time.Second)
	eventually(t, 10*time.Second, "the supervisor in the session", func() bool {
		return strings.Contains(apiGet(t, "/v1/sessions/"+sid), `"role":"supervisor"`)
	})
	for _, mode := range []string{"whisper", "barge"} {
		d.do(map[string]any{"cmd": "click", "page": "sup", "selector": `#supervise [data-mode="` + mode + `"]`})
		eventually(t, 10*time.Second, "supervisor.mode "+mode+" in the history", func() bool {
			return strings.Contains(apiGet(t, "/v1/sessions/"+sid+"/events?format=json"), `"mode":"`+mode+`"`)
		})
		if p := d.do(map[string]any{"cmd": "eval", "page": "sup", "js": `document.querySelector('#supervise [data-mode="` + mode + `"]').getAttribute('aria-pressed')`}); string(p) != `"true"` {
			t.Errorf("%s button pressed: %s", mode, p)
		}
	}
	if hid := d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "document.querySelector('#supervise').hidden"}); string(hid) != "true" {
		t.Error("the agent (not a supervisor) sees the listen modes")
	}
	for _, p := range []string{"admin", "sup", "agent"} {
		if errs := d.do(map[string]any{"cmd": "console", "page": p}); string(errs) != "[]" {
			t.Errorf("console errors on %s: %s", p, errs)
		}
	}
}

// TestPagesCopilotPanelFirefox: the agent console's Copilot panel in
// Firefox ESR, fed by a contract-fake AI attached through the route: the
// transcript (a partial replaced by its final), a hint with its https link
// (a javascript: one is refused by the hub), an alert, and the down/up of
// the service.
func TestPagesCopilotPanelFirefox(t *testing.T) {
	ai := testutil.StartAIFake("", "")
	defer ai.Close()
	h := startHub(t, func(cfg *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(cfg)
		cfg.Copilot = &config.Copilot{Services: []config.CopilotService{{Name: "assist", URL: ai.WS("split"), AgentAttach: true}}}
		for i := range cfg.Sessions.Routes {
			cfg.Sessions.Routes[i].Copilot = []string{"assist"}
		}
	})
	d := startPagesIn(t, "firefox")
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cu, err := testutil.DialSession(ctx, sessionWS("entry=default"), 440, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	if err := cu.Start(ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	if err := ai.Wait(ctx, "the AI fed", func() bool { cs := ai.Conns(); return len(cs) == 1 && cs[0].Frames() > 25 }); err != nil {
		t.Fatal(err)
	}
	c := ai.Conns()[0]
	p := c.Participant("customer")
	for _, m := range []map[string]any{
		{"type": "transcript", "participant": p, "text": "I want to", "final": false},
		{"type": "transcript", "participant": p, "text": "I want to cancel my contract", "final": true},
		{"type": "hint", "text": "bad link", "url": "javascript:alert(1)"},
		{"type": "hint", "text": "Offer the retention discount", "title": "Retention", "url": "https://kb.example.com/retention"},
		{"type": "alert", "severity": "critical", "reason": "The customer mentions a lawyer"},
	} {
		if err := c.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got := d.waitJS("agent", `(() => {
		const t = [...document.querySelectorAll('#copilot-transcript li')].map((li) => li.dataset.final + ':' + li.textContent);
		const h = [...document.querySelectorAll('#copilot-hints li')].map((li) => li.textContent + '|' + ((li.querySelector('a') || {}).href || ''));
		const a = [...document.querySelectorAll('#copilot-alerts .alert')].map((p) => p.className + ':' + p.textContent);
		return !document.querySelector('#copilot').hidden && t.length === 1 && t[0].startsWith('true') && h.length === 1 && a.length === 1 && {t, h, a};
	})()`, 20*time.Second)
	var v struct{ T, H, A []string }
	_ = json.Unmarshal(got, &v)
	if !strings.Contains(v.T[0], "Ana:I want to cancel my contract") || !strings.Contains(v.H[0], "https://kb.example.com/retention") ||
		!strings.Contains(v.A[0], "critical") || !strings.Contains(v.A[0], "lawyer") {
		t.Errorf("the panel: %s", got)
	}
	// the service goes away and comes back: the panel says so, the call goes on
	ai.Refuse.Store(true)
	c.Kill()
	d.waitJS("agent", `/unavailable/.test(document.querySelector('#copilot-status').textContent)`, 15*time.Second)
	ai.Refuse.Store(false)
	d.waitJS("agent", `/is listening/.test(document.querySelector('#copilot-status').textContent)`, 20*time.Second)
	// detach and attach again from the panel
	if opts := string(d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "[...document.querySelectorAll('#copilot-service option')].map((o) => o.value).join(',')"})); opts != `"assist,analytics"` {
		t.Errorf("the services the console may attach: %s", opts)
	}
	before := len(ai.Conns())
	last := ai.Conns()[before-1]
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": "#copilot-detach"})
	if err := ai.Wait(ctx, "bye after Detach", func() bool { return last.Find("bye", nil) != nil && last.Closed() }); err != nil {
		t.Error(err)
	}
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": "#copilot-attach"})
	if err := ai.Wait(ctx, "a new socket after Attach", func() bool {
		cs := ai.Conns()
		return len(cs) > before && cs[len(cs)-1].Find("hello", func(m map[string]any) bool { return m["resume"] == nil }) != nil
	}); err != nil {
		t.Error(err)
	}
	if st := string(d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "window.splitApp.call && window.splitApp.call.state"})); st != `"connected"` && st != `"active"` {
		t.Errorf("the agent's call after the AI's outage: %s", st)
	}
	if errs := d.do(map[string]any{"cmd": "console", "page": "agent"}); string(errs) != "[]" {
		t.Errorf("console errors: %s", errs)
	}
}
