package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// The staff pages in the staff's language (docs/i18n.md): the agent
// console, the interpreter console, the admin view and the wallboard in
// Spanish from ?lang=es (or #lang=es), their catalog keys agent.*,
// interpreter.*, admin.* and wallboard.*; English without it. Only the
// texts change: ids, data-state and window.splitApp keep their values.

// consoleTextsJS: what the page shows and says: its language, title,
// visible text, the accessible names, titles and placeholders of its
// visible controls.
const consoleTextsJS = `() => {
	const visible = (el) => { const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
		return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
	const names = [];
	for (const el of document.querySelectorAll('button, a, input, select, video, label, [aria-label], [title]')) {
		if (!visible(el)) continue;
		for (const a of ['aria-label', 'title', 'placeholder']) if (el.getAttribute(a)) names.push(el.getAttribute(a));
		if (el.matches('button, a, label')) names.push(el.textContent.trim());
	}
	return { lang: document.documentElement.lang, title: document.title, text: document.body.innerText, names };
}`

type consoleTexts struct {
	Lang  string   `json:"lang"`
	Title string   `json:"title"`
	Text  string   `json:"text"`
	Names []string `json:"names"`
}

func (c consoleTexts) all() string {
	return c.Title + "\n" + c.Text + "\n" + strings.Join(c.Names, "\n")
}

func consoleTextsOf(t *testing.T, d *pagesDriver, page string) consoleTexts {
	t.Helper()
	var c consoleTexts
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": consoleTextsJS}), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// staffEnglish: English texts of the staff pages (whole words) that a
// Spanish page must not show.
var staffEnglish = regexp.MustCompile(`\b(Sign in|Log in|Log out|Ready|Not ready|Disconnect(ed)?|Call a customer by video|Send link|Hang up|Mute|Hold|` +
	`Transfer|Session|Customer|Queues?|Incoming|Accept|Decline|Skip to content|No call|Your camera|Escalate to video|State|Waiting|` +
	`Active sessions|Agents|Refresh now|Pause updates|Sign out|Listen|Longest wait|Service level|Answered|Abandoned|Average|` +
	`All queues|Last hour|Full screen|updated|Updated|Deaf user|Phone|Keyboard shortcuts|Make lead|End call|Call record|Ringing|Busy)\b`)

// staffKey: a catalog key shown instead of its text.
var staffKey = regexp.MustCompile(`\b(agent|interpreter|admin|wallboard)\.[a-z_]+(\.[a-z0-9_]+)*\b`)

func checkStaffSpanish(t *testing.T, where string, c consoleTexts) {
	t.Helper()
	if c.Lang != "es" {
		t.Errorf("%s: <html lang=%q>, want es", where, c.Lang)
	}
	all := c.all()
	if m := staffEnglish.FindAllString(all, -1); len(m) > 0 {
		t.Errorf("%s: English on the Spanish page: %q\n%s", where, m, all)
	}
	if k := staffKey.FindString(all); k != "" {
		t.Errorf("%s: a catalog key is shown instead of its text: %s\n%s", where, k, all)
	}
}

// staffConsoleErrors fails on the page's console errors (a missing favicon
// aside).
func staffConsoleErrors(t *testing.T, d *pagesDriver, page string) {
	t.Helper()
	var errs, bad []string
	_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": page}), &errs)
	for _, e := range errs {
		if !strings.Contains(e, "favicon") {
			bad = append(bad, e)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s page console errors: %v", page, bad)
	}
}

// i18nScreen saves a screenshot of page as runs/screens/i18n-<name>.png.
func i18nScreen(t *testing.T, d *pagesDriver, page, name string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("runs", "screens"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(dir, 0o755)
	d.do(map[string]any{"cmd": "screenshot", "page": page, "path": filepath.Join(dir, "i18n-"+name+".png")})
}

// evalText: a JavaScript expression's value as a string.
func evalText(t *testing.T, d *pagesDriver, page, js string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": js}), &s); err != nil {
		t.Fatalf("%s: %s: %v", page, js, err)
	}
	return s
}

func i18nConsoleHub(t *testing.T) *hub {
	return startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1", "agent2")(c)
		c.Sessions.Agents = append(c.Sessions.Agents, config.Agent{ID: "int1", Name: "Ana", Queues: []string{"default"}})
	})
}

// TestI18nConsoleChromium: in Chromium, the agent console in Spanish
// (?lang=es) through a ringing offer withdrawn by the customer, the
// interpreter console, the admin view and the wallboard in Spanish; the
// same pages without lang in English; the catalog in Spanish from
// Accept-Language.
func TestI18nConsoleChromium(t *testing.T) {
	h := i18nConsoleHub(t)
	d := startPages(t)
	base := "http://" + hubHTTP

	// The browser's language: the catalog follows Accept-Language.
	req, _ := http.NewRequest("GET", base+"/i18n/catalog.json", nil)
	req.Header.Set("Accept-Language", "es-MX,es;q=0.9,en;q=0.5")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var cat struct {
		Lang     string            `json:"lang"`
		Messages map[string]string `json:"messages"`
	}
	err = json.NewDecoder(res.Body).Decode(&cat)
	res.Body.Close()
	if err != nil || cat.Lang != "es" || cat.Messages["agent.state.ready"] != "Listo" || cat.Messages["wallboard.tile.waiting"] != "En espera ahora" {
		t.Errorf("catalog for Accept-Language es-MX: lang %q, agent.state.ready %q, wallboard.tile.waiting %q (%v)",
			cat.Lang, cat.Messages["agent.state.ready"], cat.Messages["wallboard.tile.waiting"], err)
	}

	// The agent console in Spanish: logged in, not ready.
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html?lang=es#token=" + h.agentToken("agent1") + "&autologin=1"})
	d.waitJS("agent", `window.splitApp && window.splitApp.agentState === 'not_ready' && document.documentElement.lang === 'es' &&
		document.querySelector('#agent-state').textContent === 'No disponible'`, 20*time.Second)
	if got := evalText(t, d, "agent", `[document.title, document.querySelector('#agent-state').dataset.state, document.querySelector('#state-text').textContent,
		document.querySelector('#status').textContent, document.querySelector('#btn-ready').textContent].join('|')`); got !=
		"Consola de agente SPLIT|not_ready|No disponible|No disponible: no recibirá llamadas.|Listo" {
		t.Errorf("the Spanish console: %s", got)
	}
	checkStaffSpanish(t, "agent console (not ready)", consoleTextsOf(t, d, "agent"))
	if problems := a11yAudit(d, "agent"); len(problems) > 0 {
		t.Errorf("Spanish agent console accessibility: %v", problems)
	}
	// Its buttons by their Spanish names; the state stays the machine value.
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": `role=button[name="Listo"]`})
	d.waitJS("agent", `window.splitApp.agentState === 'ready' && document.querySelector('#agent-state').dataset.state === 'ready' &&
		document.querySelector('#status').textContent === 'Listo: esperando llamadas.'`, 10*time.Second)

	// A customer calls: the offer card in Spanish; the customer hangs up.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cust, err := testutil.DialSession(ctx, sessionWS("entry=default"), 697, 31, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Close()
	if err := cust.Start(ctx, "Lucía", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.try(map[string]any{"cmd": "waitFor", "page": "agent", "timeoutMs": 20000, "js": `window.splitApp.offer && !document.querySelector('#offer').hidden &&
		/^Sonando(…|: quedan \d+ s para contestar)$/.test(document.querySelector('#offer-countdown').textContent) &&
		document.querySelector('#status').textContent.startsWith('Videollamada entrante de Lucía')`}); err != nil {
		t.Fatalf("the offer in Spanish: %v; the page shows %s", err, evalText(t, d, "agent", `JSON.stringify({offer: window.splitApp.offer,
			countdown: document.querySelector('#offer-countdown').textContent, status: document.querySelector('#status').textContent})`))
	}
	if got := evalText(t, d, "agent", `[document.querySelector('#offer-title').textContent, document.querySelector('#accept').textContent,
		document.querySelector('#decline').textContent, document.querySelector('#ctx-state').textContent, document.querySelector('#placeholder-text').textContent].join('|')`); got !=
		"Videollamada entrante|Aceptar|Rechazar|sonando|Llamada entrante…" {
		t.Errorf("the Spanish offer card: %s", got)
	}
	checkStaffSpanish(t, "agent console (offer)", consoleTextsOf(t, d, "agent"))
	i18nScreen(t, d, "agent", "agent-es-offer")

	// The admin view in Spanish, with the ringing session and the agents.
	d.do(map[string]any{"cmd": "open", "page": "admin", "url": base + "/admin.html?lang=es#key=" + apiKey})
	d.waitJS("admin", `window.splitApp && window.splitApp.sessions.length === 1 && window.splitApp.agents.length >= 3 &&
		document.documentElement.lang === 'es' && document.querySelector('#sessions').textContent.includes('Lucía') &&
		document.querySelector('#agents tbody').textContent.includes('sonando')`, 15*time.Second)
	if got := evalText(t, d, "admin", `[document.title, document.querySelector('#sessions-caption').textContent.trim().split(' ')[0],
		document.querySelector('#agents thead').textContent.replace(/\s+/g, ' ').trim(), document.querySelector('#sessions tbody .actions button').textContent,
		document.querySelector('#sessions tbody .actions button').getAttribute('aria-label').split(' ')[0],
		[...document.querySelectorAll('#agents tbody td.state')].map((c) => c.dataset.state + '=' + c.textContent).sort().join(',')].join('|')`); got !=
		"SPLIT administración|Sesiones|Agente Nombre Estado Sesión Colas|Finalizar|Finalizar|logged_out=fuera de las colas,logged_out=fuera de las colas,ringing=sonando" {
		t.Errorf("the Spanish admin view: %s", got)
	}
	checkStaffSpanish(t, "admin view", consoleTextsOf(t, d, "admin"))
	i18nScreen(t, d, "admin", "admin-es")
	if problems := a11yAudit(d, "admin"); len(problems) > 0 {
		t.Errorf("Spanish admin view accessibility: %v", problems)
	}

	_ = cust.Send(ctx, map[string]any{"type": "hangup"})
	if _, err := d.try(map[string]any{"cmd": "waitFor", "page": "agent", "timeoutMs": 20000, "js": `!window.splitApp.offer && document.querySelector('#offer').hidden &&
		document.querySelector('#status').textContent === 'Listo: esperando llamadas.' &&
		/^Llamada retirada: (el cliente colgó|la llamada finalizó)$/.test(document.querySelector('#last-ended').textContent)`}); err != nil {
		t.Fatalf("the withdrawn offer in Spanish: %v; the page shows %s", err, evalText(t, d, "agent", `JSON.stringify({offer: !!window.splitApp.offer,
			ended: window.splitApp.ended, status: document.querySelector('#status').textContent, last: document.querySelector('#last-ended').textContent})`))
	}
	checkStaffSpanish(t, "agent console (withdrawn)", consoleTextsOf(t, d, "agent"))

	// The wallboard in Spanish: the abandoned call, the agent ready.
	d.do(map[string]any{"cmd": "open", "page": "wb", "url": base + "/wallboard.html?lang=es#key=" + apiKey, "viewport": map[string]int{"width": 1600, "height": 1000}})
	d.waitJS("wb", `window.splitWallboard.figures && window.splitWallboard.figures.overall.hour.abandoned === 1 && document.documentElement.lang === 'es' &&
		document.querySelectorAll('.wb-plot canvas').length === 3 && document.querySelector('#t-abandoned').textContent === '1'`, 20*time.Second)
	if got := evalText(t, d, "wb", `[document.title, document.querySelector('[data-k="waiting"] .wb-label').textContent, document.querySelector('#t-abandon-pct').textContent,
		document.querySelector('#t-agents [data-state="ready"]').textContent, document.querySelector('#wb-queue').options[0].textContent,
		document.querySelector('#updated').textContent.split(' ').slice(0, 3).join(' '), document.querySelector('#p-calls .u-legend').textContent.includes('abandonadas')].join('|')`); got !=
		"Panel de indicadores SPLIT|En espera ahora|100 % de las ofrecidas|Listos 1|Todas las colas|actualizado a las|true" {
		t.Errorf("the Spanish wallboard: %s", got)
	}
	checkStaffSpanish(t, "wallboard", consoleTextsOf(t, d, "wb"))
	i18nScreen(t, d, "wb", "wallboard-es")
	if problems := a11yAudit(d, "wb"); len(problems) > 0 {
		t.Errorf("Spanish wallboard accessibility: %v", problems)
	}

	// The interpreter console in Spanish (#lang= in the fragment).
	d.do(map[string]any{"cmd": "open", "page": "interp", "url": base + "/interpreter.html#token=" + h.agentToken("int1") + "&autologin=1&lang=es"})
	d.waitJS("interp", `window.splitApp && window.splitApp.agentState === 'not_ready' && document.documentElement.lang === 'es' &&
		!document.querySelector('#console').hidden && document.querySelectorAll('#rtt-panes section').length === 3`, 20*time.Second)
	if got := evalText(t, d, "interp", `[document.title, document.querySelector('#agent-state').textContent, document.querySelector('#vco').textContent,
		document.querySelector('#sidetalk').textContent, document.querySelector('#routing').textContent,
		[...document.querySelectorAll('#rtt-panes section h3')].map((h) => h.textContent).join(',')].join('|')`); got !=
		"Consola de intérprete SPLIT|No disponible|VCO desactivado|Silenciar para el teléfono|Sin llamada.|Usuario sordo,Teléfono,Usted" {
		t.Errorf("the Spanish interpreter console: %s", got)
	}
	checkStaffSpanish(t, "interpreter console", consoleTextsOf(t, d, "interp"))
	i18nScreen(t, d, "interp", "interpreter-es")

	for _, p := range []string{"agent", "admin", "wb", "interp"} {
		staffConsoleErrors(t, d, p)
	}

	// Without lang: English, as before.
	d.do(map[string]any{"cmd": "open", "page": "agent2", "url": base + "/agent.html#token=" + h.agentToken("agent2") + "&autologin=1"})
	d.waitJS("agent2", `window.splitApp && window.splitApp.agentState === 'not_ready' && document.querySelector('#agent-state').textContent === 'Not ready'`, 20*time.Second)
	if got := evalText(t, d, "agent2", `[document.documentElement.lang, document.title, document.querySelector('#status').textContent,
		document.querySelector('#btn-ready').textContent, document.querySelector('#invite').textContent].join('|')`); got !=
		"en|SPLIT agent console|Not ready: you will not receive calls.|Ready|Send link" {
		t.Errorf("the English console: %s", got)
	}
	d.do(map[string]any{"cmd": "open", "page": "admin", "url": base + "/admin.html#key=" + apiKey})
	d.waitJS("admin", `window.splitApp && window.splitApp.agents.length >= 3 && window.splitApp.updatedAt &&
		document.querySelector('#agents tbody').textContent.includes('not ready')`, 15*time.Second)
	if got := evalText(t, d, "admin", `[document.documentElement.lang, document.title, document.querySelector('#sessions-caption').textContent.trim().split(' ').slice(0, 2).join(' '),
		document.querySelector('#updated').textContent.split(' ')[0], document.querySelector('#refresh').textContent].join('|')`); got !=
		"en|SPLIT admin|Active sessions|Updated|Refresh now" {
		t.Errorf("the English admin view: %s", got)
	}
	d.do(map[string]any{"cmd": "open", "page": "wb", "url": base + "/wallboard.html#key=" + apiKey})
	d.waitJS("wb", `window.splitWallboard.figures && document.querySelector('#t-abandoned').textContent === '1'`, 20*time.Second)
	if got := evalText(t, d, "wb", `[document.documentElement.lang, document.title, document.querySelector('[data-k="waiting"] .wb-label').textContent,
		document.querySelector('#t-abandon-pct').textContent, document.querySelector('#t-agents [data-state="not_ready"]').textContent].join('|')`); got !=
		"en|SPLIT wallboard|Waiting now|100 % of offered|Not ready 2" {
		t.Errorf("the English wallboard: %s", got)
	}
	for _, p := range []string{"agent2", "admin", "wb"} {
		staffConsoleErrors(t, d, p)
	}
}

// TestI18nConsoleFirefox: the agent console in Spanish in Firefox ESR
// (?lang=es, and #lang=es), and in English without lang.
func TestI18nConsoleFirefox(t *testing.T) {
	h := i18nConsoleHub(t)
	d := startPagesIn(t, "firefox")
	base := "http://" + hubHTTP

	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html?lang=es#token=" + h.agentToken("agent1") + "&autologin=1&ready=1"})
	d.waitJS("agent", `window.splitApp && window.splitApp.agentState === 'ready' && document.documentElement.lang === 'es' &&
		document.querySelector('#status').textContent === 'Listo: esperando llamadas.'`, 30*time.Second)
	if got := evalText(t, d, "agent", `[document.title, document.querySelector('#agent-state').textContent, document.querySelector('#btn-notready').textContent,
		document.querySelector('#hangup').textContent, document.querySelector('#remote-video').getAttribute('aria-label'),
		document.querySelector('#invite-to').placeholder, document.querySelector('#state-since').textContent.startsWith('desde las ')].join('|')`); got !=
		"Consola de agente SPLIT|Listo|No disponible|Colgar|Vídeo del cliente|+34600123456 o nombre@example.com|true" {
		t.Errorf("the Spanish console in Firefox: %s", got)
	}
	checkStaffSpanish(t, "agent console (Firefox)", consoleTextsOf(t, d, "agent"))
	i18nScreen(t, d, "agent", "agent-es-firefox")
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": "#btn-notready"})
	d.waitJS("agent", `window.splitApp.agentState === 'not_ready' && document.querySelector('#agent-state').textContent === 'No disponible'`, 10*time.Second)

	// #lang=es in the fragment does the same.
	d.do(map[string]any{"cmd": "open", "page": "agent2", "url": base + "/agent.html#token=" + h.agentToken("agent2") + "&autologin=1&lang=es"})
	d.waitJS("agent2", `window.splitApp && window.splitApp.agentState === 'not_ready' && document.documentElement.lang === 'es' &&
		document.querySelector('#btn-login').hidden && document.querySelector('#btn-logout').textContent === 'Salir de las colas'`, 30*time.Second)

	// Without lang: English.
	d.do(map[string]any{"cmd": "open", "page": "en", "url": base + "/agent.html#token=" + h.agentToken("int1") + "&autologin=1"})
	d.waitJS("en", `window.splitApp && window.splitApp.agentState === 'not_ready' && document.querySelector('#agent-state').textContent === 'Not ready'`, 30*time.Second)
	if got := evalText(t, d, "en", `[document.documentElement.lang, document.title, document.querySelector('#status').textContent].join('|')`); got !=
		"en|SPLIT agent console|Not ready: you will not receive calls." {
		t.Errorf("the English console in Firefox: %s", got)
	}
	for _, p := range []string{"agent", "agent2", "en"} {
		staffConsoleErrors(t, d, p)
	}
}
