package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// The customer page and the widget in the customer's language (docs/i18n.md):
// Spanish from the link (?lang=es, a join link's lang=es), from the entry
// point's language and, through the catalog, from Accept-Language; English
// when nothing asks for another language.

// i18nHub: the built-in queue with no agent logged in (a call waits), the
// default entry point and "tienda", a public entry point whose pages are
// Spanish.
func i18nHub(t *testing.T) *hub {
	return startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(c)
		c.Sessions.EntryPoints = append(c.Sessions.EntryPoints, config.EntryPoint{Name: "tienda", Public: true, Language: "es"})
		c.Sessions.Routes = append(c.Sessions.Routes, config.Route{Name: "tienda", Entry: "tienda", Target: "queue:default"})
	})
}

// pageTextsJS: what the customer sees and hears of the page: its language,
// title, visible text, the accessible names of its controls.
const pageTextsJS = `() => {
	const visible = (el) => { const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
		return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
	const names = [];
	for (const el of document.querySelectorAll('button, video, [aria-label], label')) {
		if (!visible(el)) continue;
		names.push(el.getAttribute('aria-label') || el.textContent.trim());
	}
	return { lang: document.documentElement.lang, title: document.title, text: document.body.innerText, names };
}`

type pageTexts struct {
	Lang  string   `json:"lang"`
	Title string   `json:"title"`
	Text  string   `json:"text"`
	Names []string `json:"names"`
}

func readTexts(t *testing.T, d *pagesDriver, page string) pageTexts {
	t.Helper()
	var p pageTexts
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": pageTextsJS}), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// englishTexts must not be seen on a Spanish page (nor keys of the catalog).
var (
	englishTexts = []string{"Talk to us", "Check your camera", "Video call", "Voice call", "Your name", "Microphone", "Camera",
		"Hang up", "Ready when you are", "Connecting", "queue", "Waiting", "The call has ended", "Start a new call", "You are early",
		"This link", "Your call"}
	rawKey = regexp.MustCompile(`\b(customer|widget)\.[a-z_]+`)
)

func checkSpanish(t *testing.T, where string, p pageTexts) {
	t.Helper()
	if p.Lang != "es" {
		t.Errorf("%s: <html lang=%q>, want es", where, p.Lang)
	}
	all := p.Title + "\n" + p.Text + "\n" + strings.Join(p.Names, "\n")
	for _, en := range englishTexts {
		if strings.Contains(all, en) {
			t.Errorf("%s: English text %q on the Spanish page:\n%s", where, en, all)
		}
	}
	if k := rawKey.FindString(all); k != "" {
		t.Errorf("%s: a catalog key is shown instead of its text: %s", where, k)
	}
}

// noConsoleErrors fails on the page's console errors but the browser's own
// notes of expected HTTP answers (allowed: e.g. "425 (Too Early)", the
// lobby's check of a link that is not open yet).
func noConsoleErrors(t *testing.T, d *pagesDriver, page string, allowed ...string) {
	t.Helper()
	var errs, bad []string
	_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": page}), &errs)
next:
	for _, e := range errs {
		for _, a := range allowed {
			if strings.HasPrefix(e, "Failed to load resource") && strings.Contains(e, a) {
				continue next
			}
		}
		bad = append(bad, e)
	}
	if len(bad) > 0 {
		t.Errorf("%s page console errors: %v", page, bad)
	}
}

// spanishCall: on a Spanish customer page (open as page), a video call
// waits in the queue (no agent) with Spanish status texts, the hub's
// session has the customer's language es, and hanging up shows the Spanish
// end of the call.
func spanishCall(t *testing.T, d *pagesDriver, page string) {
	t.Helper()
	d.do(map[string]any{"cmd": "fill", "page": page, "selector": `role=textbox[name="Su nombre (opcional)"]`, "value": "Lucía"})
	d.do(map[string]any{"cmd": "click", "page": page, "selector": `role=button[name="Videollamada"]`})
	d.waitJS(page, "window.splitApp.state === 'waiting' && document.querySelector('#status').textContent.includes('en la cola')", 30*time.Second)
	checkSpanish(t, page+" waiting", readTexts(t, d, page))
	var sid string
	_ = json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": "window.splitApp.session.session"}), &sid)
	code, s := apiDo(t, "GET", "/v1/sessions/"+sid, nil)
	if code != 200 {
		t.Fatalf("session %s: %d %v", sid, code, s)
	}
	if c, _ := s["customer"].(map[string]any); c == nil || c["language"] != "es" || c["name"] != "Lucía" {
		t.Errorf("the session's customer: %v, want the language es from the page's start frame", s["customer"])
	}
	d.do(map[string]any{"cmd": "click", "page": page, "selector": `role=button[name="Colgar"]`})
	d.waitJS(page, "window.splitApp.state === 'ended' && !document.querySelector('#ended').hidden", 15*time.Second)
	p := readTexts(t, d, page)
	for _, want := range []string{"Llamada finalizada", "La llamada ha finalizado. ¡Gracias!", "200 Usted ha colgado", "Iniciar una nueva llamada"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("%s: the end of the call does not say %q:\n%s", page, want, p.Text)
		}
	}
	checkSpanish(t, page+" ended", p)
}

// spanishSetup checks the device check as a Spanish customer sees it.
func spanishSetup(t *testing.T, d *pagesDriver, page string) {
	t.Helper()
	d.waitJS(page, "window.splitApp.client && window.splitApp.client.connected && document.querySelector('#status').textContent === 'Todo listo. Puede llamar cuando quiera.'", 20*time.Second)
	p := readTexts(t, d, page)
	for _, want := range []string{"Hable con nosotros", "Compruebe su cámara y su micrófono", "Videollamada", "Llamada de voz", "Su nombre (opcional)", "Nivel del micrófono"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("%s: no %q on the page:\n%s", page, want, p.Text)
		}
	}
	// (the preview starts by itself where the camera is already allowed)
	if c := evalString(d, page, "document.querySelector('#check').textContent"); c != "Probar cámara y micrófono" && c != "Volver a probar" {
		t.Errorf("%s: the device check's button says %q", page, c)
	}
	if p.Title != "Hable con nosotros" {
		t.Errorf("%s: title %q", page, p.Title)
	}
	if l := evalString(d, page, "document.querySelector('#preview').getAttribute('aria-label')"); l != "Vista previa de su cámara" {
		t.Errorf("%s: the preview's aria-label %q", page, l)
	}
	checkSpanish(t, page, p)
	if problems := a11yAudit(d, page); len(problems) > 0 {
		t.Errorf("%s accessibility: %v", page, problems)
	}
}

// TestI18nCustomerSpanishChromium: customer.html?entry=default&lang=es in
// Chromium (an English browser): Spanish throughout, the call's start frame
// says es, no console errors.
func TestI18nCustomerSpanishChromium(t *testing.T) {
	i18nHub(t)
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&lang=es", "viewport": map[string]int{"width": 390, "height": 844}})
	spanishSetup(t, d, "cust")
	spanishCall(t, d, "cust")
	noConsoleErrors(t, d, "cust")

	// es-MX asks for Spanish too (the hub has es)
	d.do(map[string]any{"cmd": "open", "page": "mx", "url": base + "/customer.html?entry=default&lang=es-MX"})
	d.waitJS("mx", "document.documentElement.lang === 'es' && document.querySelector('#video-call').textContent === 'Videollamada'", 15*time.Second)
	noConsoleErrors(t, d, "mx")
}

// TestI18nCustomerJoinLinkSpanish: join links carrying lang=es. An
// appointment booked for a Spanish customer gives a link (/j/<token>?lang=es)
// whose lobby speaks Spanish, with the opening time in the customer's
// time zone; one that is open says it is ready, in Spanish; a bad link's
// error is Spanish.
func TestI18nCustomerJoinLinkSpanish(t *testing.T) {
	i18nHub(t)
	book := func(start time.Time) string {
		t.Helper()
		code, appt := apiDo(t, "POST", "/v1/appointments", map[string]any{"start": start.UTC().Format(time.RFC3339),
			"customer": map[string]any{"name": "Lucía", "language": "es"}, "channel": "copy"})
		if code != 201 {
			t.Fatalf("appointment: %d %v", code, appt)
		}
		u, _ := appt["join_url"].(string)
		if !strings.Contains(u, "lang=es") {
			t.Fatalf("a Spanish customer's appointment link %q has no lang=es", u)
		}
		return u
	}
	later := book(time.Now().Add(2 * time.Hour))
	soon := book(time.Now().Add(2 * time.Minute))
	d := startPages(t)

	d.do(map[string]any{"cmd": "open", "page": "lobby", "url": later})
	d.waitJS("lobby", "window.splitApp.link && window.splitApp.link.state === 'lobby' && window.splitApp.link.secondsLeft > 3600", 15*time.Second)
	// the opening time as the customer's browser writes it in Spanish, in its own time zone
	when := evalString(d, "lobby", `new Intl.DateTimeFormat('es', {hour: '2-digit', minute: '2-digit', timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone}).format(new Date(window.splitApp.link.notBefore))`)
	d.waitJS("lobby", fmt.Sprintf(`document.querySelector('#status').textContent.startsWith('Ha llegado antes de la hora: la llamada se abrirá ') && document.querySelector('#status').textContent.includes(%q) && document.querySelector('#status').textContent.includes('Esta página le dará acceso en ese momento.')`, when), 5*time.Second)
	if u := evalString(d, "lobby", "location.href"); !strings.Contains(u, "#join=") || !strings.Contains(u, "lang=es") {
		t.Errorf("the link opened %s (want customer.html#join=…&lang=es)", u)
	}
	if v := evalString(d, "lobby", "String(document.querySelector('#video-call').disabled)"); v != "true" {
		t.Errorf("the call button is usable in the lobby (%s)", v)
	}
	checkSpanish(t, "lobby", readTexts(t, d, "lobby"))
	t.Logf("lobby: %s", evalString(d, "lobby", "document.querySelector('#status').textContent"))
	noConsoleErrors(t, d, "lobby", "425 (Too Early)")

	d.do(map[string]any{"cmd": "open", "page": "ready", "url": soon})
	d.waitJS("ready", "window.splitApp.link && window.splitApp.link.state === 'ready' && document.querySelector('#status').textContent === 'Su llamada está lista. Pulse un botón de llamada para entrar.'", 15*time.Second)
	checkSpanish(t, "ready link", readTexts(t, d, "ready"))
	noConsoleErrors(t, d, "ready")

	// a link that is not (or no longer) valid: the hub's code, the page's Spanish words
	d.do(map[string]any{"cmd": "open", "page": "bad", "url": "http://" + hubHTTP + "/customer.html#join=not-a-real-link-token-0000000000&lang=es"})
	d.waitJS("bad", "window.splitApp.link && window.splitApp.link.state === 'error' && document.querySelector('#error').textContent.startsWith('Este enlace no es válido.')", 15*time.Second)
	checkSpanish(t, "bad link", readTexts(t, d, "bad"))
	noConsoleErrors(t, d, "bad", "404 (Not Found)")
}

// TestI18nCustomerSpanishFirefox: the Spanish page in Firefox ESR, from
// the entry point's language (no lang on the URL), and a call in Spanish.
func TestI18nCustomerSpanishFirefox(t *testing.T) {
	i18nHub(t)
	d := startPagesIn(t, "firefox")
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": "http://" + hubHTTP + "/customer.html?lang=es&entry=default"})
	spanishSetup(t, d, "cust")
	spanishCall(t, d, "cust")
	noConsoleErrors(t, d, "cust")
}

// TestI18nCustomerLanguageChoice: without lang, an English browser gets
// the English page; an entry point whose language is Spanish gets the
// Spanish page in the same browser; the catalog follows Accept-Language
// (the driver's browsers are English: the header is checked with Go).
func TestI18nCustomerLanguageChoice(t *testing.T) {
	i18nHub(t)
	base := "http://" + hubHTTP
	catalog := func(query, acceptLanguage string) (string, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/i18n/catalog.json"+query, nil)
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("catalog%s: %d %s", query, res.StatusCode, b)
		}
		var c struct {
			Lang      string            `json:"lang"`
			Languages []string          `json:"languages"`
			Messages  map[string]string `json:"messages"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if strings.Join(c.Languages, ",") != "en,es" {
			t.Errorf("languages %v", c.Languages)
		}
		return c.Lang, c.Messages
	}
	for _, tc := range []struct{ query, accept, want, video string }{
		{"?entry=default", "es-ES,es;q=0.9,en;q=0.5", "es", "Videollamada"},
		{"?entry=default", "es-MX", "es", "Videollamada"},
		{"?entry=default", "en-US,en;q=0.9", "en", "Video call"},
		{"?entry=default", "de-DE,de;q=0.9", "en", "Video call"}, // no German: the default
		{"?entry=default", "", "en", "Video call"},
		{"?entry=tienda", "en-US,en;q=0.9", "es", "Videollamada"},    // the entry point's language comes before the browser's
		{"?entry=tienda&lang=en", "es-ES", "en", "Video call"},       // the link's before the entry point's
		{"?entry=default&lang=es-AR", "en-US", "es", "Videollamada"}, // a regional variant takes its language
	} {
		lang, msgs := catalog(tc.query, tc.accept)
		if lang != tc.want || msgs["customer.setup.video_call"] != tc.video || msgs["widget.label"] == "" {
			t.Errorf("catalog%s with Accept-Language %q: %s, %q (want %s, %q)", tc.query, tc.accept, lang, msgs["customer.setup.video_call"], tc.want, tc.video)
		}
	}

	d := startPages(t)
	// an English browser, no lang: English, as before
	d.do(map[string]any{"cmd": "open", "page": "en", "url": base + "/customer.html?entry=default"})
	if l := evalString(d, "en", "navigator.language"); !strings.HasPrefix(l, "en") {
		t.Fatalf("the test browser's language is %q, want English", l)
	}
	d.waitJS("en", "window.splitApp.client && window.splitApp.client.connected && document.querySelector('#status').textContent === 'Ready when you are.'", 20*time.Second)
	p := readTexts(t, d, "en")
	if p.Lang != "en" || p.Title != "Talk to us" {
		t.Errorf("English page: lang %q, title %q", p.Lang, p.Title)
	}
	for _, want := range []string{"Check your camera and microphone", "Video call", "Voice call", "Your name (optional)"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("English page: no %q:\n%s", want, p.Text)
		}
	}
	if k := rawKey.FindString(p.Text); k != "" {
		t.Errorf("English page shows the key %s", k)
	}
	noConsoleErrors(t, d, "en")

	// the same browser on the Spanish entry point: Spanish
	d.do(map[string]any{"cmd": "open", "page": "tienda", "url": base + "/customer.html?entry=tienda"})
	spanishSetup(t, d, "tienda")
	noConsoleErrors(t, d, "tienda")

	// a browser in Spanish (Accept-Language: es-ES) on the default entry
	// point, no lang anywhere: Spanish
	d.do(map[string]any{"cmd": "open", "page": "es", "url": base + "/customer.html?entry=default", "locale": "es-ES"})
	if l := evalString(d, "es", "navigator.language"); l != "es-ES" {
		t.Fatalf("the Spanish browser's language is %q", l)
	}
	spanishSetup(t, d, "es")
	noConsoleErrors(t, d, "es")
}

// TestI18nWidgetSpanish: the widget with data-lang="es": its button, its
// panel and the customer page in its frame are Spanish (the page's URL
// carries lang=es). The site here is on the hub's origin.
func TestI18nWidgetSpanish(t *testing.T) {
	i18nHub(t)
	d := startPages(t)
	d.do(map[string]any{"cmd": "open", "page": "site", "url": "http://" + hubHTTP + "/healthz", "viewport": map[string]int{"width": 1024, "height": 800}})
	d.do(map[string]any{"cmd": "eval", "page": "site", "js": `() => { document.documentElement.lang = 'es'; document.title = 'Tienda'; document.body.innerHTML = '<h1>Tienda</h1>';
		const s = document.createElement('script'); s.src = '/widget.js'; s.dataset.entry = 'default'; s.dataset.lang = 'es';
		document.body.appendChild(s); }`})
	d.do(map[string]any{"cmd": "click", "page": "site", "selector": `role=button[name="Hable con nosotros"]`, "timeoutMs": 15000})
	src := evalString(d, "site", "document.querySelector('[data-split-widget]').shadowRoot.querySelector('iframe').src")
	if !strings.Contains(src, "lang=es") {
		t.Errorf("the widget's frame %s has no lang=es", src)
	}
	if l := evalString(d, "site", "document.querySelector('[data-split-widget]').shadowRoot.querySelector('.close').getAttribute('aria-label')"); l != "Cerrar" {
		t.Errorf("the close button's label %q", l)
	}
	d.do(map[string]any{"cmd": "waitFor", "page": "site", "frame": "iframe", "js": "document.documentElement.lang === 'es' && document.querySelector('#video-call').textContent === 'Videollamada'", "timeoutMs": 15000})
	noConsoleErrors(t, d, "site")
}

// TestI18nPagesDefaults: the English texts the HTML keeps (the page's
// texts when no catalog loads) are the English catalog's, the widget's
// English ones too, and every Spanish text is a translation (not English
// left in place).
func TestI18nPagesDefaults(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	load := func(lang string) map[string]string {
		var m map[string]string
		if err := json.Unmarshal([]byte(read("../../internal/i18n/locales/"+lang+"/pages.json")), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en, es := load("en"), load("es")
	html := read("../../internal/web/static/customer.html")
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	n := 0
	for _, m := range regexp.MustCompile(`data-i18n="([^"]+)"[^>]*>([^<]*)<`).FindAllStringSubmatch(html, -1) {
		n++
		if want, ok := en[m[1]]; !ok || norm(m[2]) != want {
			t.Errorf("customer.html: %s says %q, the English catalog %q", m[1], m[2], want)
		}
	}
	attrRE := regexp.MustCompile(`<[^>]*data-i18n-attr="([^"]+)"[^>]*>`)
	for _, m := range attrRE.FindAllStringSubmatch(html, -1) {
		for _, pair := range strings.Split(m[1], ";") {
			attr, key, _ := strings.Cut(pair, ":")
			v := regexp.MustCompile(`\s` + regexp.QuoteMeta(attr) + `="([^"]*)"`).FindStringSubmatch(m[0])
			n++
			if v == nil || v[1] != en[key] {
				t.Errorf("customer.html: %s=%v for %s, the English catalog %q", attr, v, key, en[key])
			}
		}
	}
	if n < 150 {
		t.Errorf("only %d texts found in customer.html", n)
	}
	widget := read("../../internal/web/static/widget.js")
	for _, m := range regexp.MustCompile(`'(widget\.[a-z_]+)': '([^']*)'`).FindAllStringSubmatch(widget, -1) {
		if en[m[1]] != m[2] {
			t.Errorf("widget.js: %s is %q in English, the catalog %q", m[1], m[2], en[m[1]])
		}
	}
	same := map[string]bool{"customer.lobby.hours_minutes": true, "customer.lobby.minutes_seconds": true, "customer.lobby.seconds": true}
	for k, v := range en {
		if es[k] == "" {
			t.Errorf("es: no %s", k)
		} else if es[k] == v && !same[k] {
			t.Errorf("es: %s is the English %q", k, v)
		}
	}
	for k := range es {
		if _, ok := en[k]; !ok {
			t.Errorf("es: %s is not in English", k)
		}
	}
	t.Logf("%d keys in each language; %d texts in customer.html", len(en), n)
}

// i18nModuleJS loads i18n.js twice (fresh module instances) in a page of the
// hub's origin: once with the catalog unreachable (fetch fails), once with
// the hub's Spanish catalog, on the same HTML.
const i18nModuleJS = `async () => {
	document.body.innerHTML = '<h1 data-i18n="customer.title">Talk to us</h1>' +
		'<video id="v" aria-label="Your camera" data-i18n-attr="aria-label:customer.your_camera"></video>' +
		'<template><span data-i18n="customer.queue.position">You are number {position} in the queue</span></template>';
	const warns = [];
	const warn = console.warn;
	console.warn = (...a) => { warns.push(a.join(' ')); };
	const realFetch = window.fetch;
	const out = {};
	try {
		window.fetch = () => Promise.reject(new TypeError('offline'));
		const off = await import('/i18n.js?offline');
		out.offLang = await off.loadI18n({ lang: 'es' });
		off.applyI18n();
		out.offTitle = document.querySelector('h1').textContent;
		out.offLabel = document.querySelector('#v').getAttribute('aria-label');
		out.offQueue = off.t('customer.queue.position', { position: 3 });
		out.offHtmlLang = document.documentElement.lang;
		window.fetch = realFetch;
		const on = await import('/i18n.js?online');
		out.onLang = await on.loadI18n({ lang: 'es', entry: 'default' });
		on.applyI18n();
		out.onTitle = document.querySelector('h1').textContent;
		out.onLabel = document.querySelector('#v').getAttribute('aria-label');
		out.onQueue = on.t('customer.queue.position', { position: 3 });
		out.onHtmlLang = document.documentElement.lang;
		out.missing = [on.t('customer.no_such_text'), on.t('customer.no_such_text')];
		out.unknownVar = on.t('customer.queue.position');
		const at = new Date(Date.UTC(2027, 2, 1, 9, 0));
		out.date = on.formatDateTime(at, { dateStyle: 'full', timeStyle: 'short', timeZone: 'Europe/Madrid' });
		out.current = on.currentLang();
	} finally {
		window.fetch = realFetch;
		console.warn = warn;
	}
	out.warns = warns;
	return out;
}`

// TestI18nModule: i18n.js in Chromium. Without a catalog the HTML's English
// stays and t() gives the English of the page's texts; with the catalog the
// texts, attributes and <html lang> are Spanish, placeholders are filled, a
// missing key shows itself (one warning), dates are written in Spanish.
func TestI18nModule(t *testing.T) {
	i18nHub(t)
	d := startPages(t)
	d.do(map[string]any{"cmd": "open", "page": "m", "url": "http://" + hubHTTP + "/healthz"})
	var out struct {
		OffLang, OffTitle, OffLabel, OffQueue, OffHTMLLang string
		OnLang, OnTitle, OnLabel, OnQueue, OnHTMLLang      string
		Missing                                            []string
		UnknownVar, Date, Current                          string
		Warns                                              []string
	}
	b := d.do(map[string]any{"cmd": "eval", "page": "m", "js": i18nModuleJS})
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	t.Logf("%s", b)
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	check("offline lang", out.OffLang, "en")
	check("offline <html lang>", out.OffHTMLLang, "en")
	check("offline title", out.OffTitle, "Talk to us")
	check("offline aria-label", out.OffLabel, "Your camera")
	check("offline t() (the template's English)", out.OffQueue, "You are number 3 in the queue")
	check("lang", out.OnLang, "es")
	check("currentLang", out.Current, "es")
	check("<html lang>", out.OnHTMLLang, "es")
	check("title", out.OnTitle, "Hable con nosotros")
	check("aria-label", out.OnLabel, "Su cámara")
	check("t() with a placeholder", out.OnQueue, "Es el número 3 en la cola")
	check("t() without its variable", out.UnknownVar, "Es el número {position} en la cola")
	check("a missing key", strings.Join(out.Missing, "|"), "customer.no_such_text|customer.no_such_text")
	n := 0
	for _, w := range out.Warns {
		if strings.Contains(w, "customer.no_such_text") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings for the missing key, want 1: %v", n, out.Warns)
	}
	if !strings.Contains(out.Date, "lunes") || !strings.Contains(out.Date, "marzo") || !strings.Contains(out.Date, "10:00") {
		t.Errorf("a Spanish date in Madrid: %q", out.Date)
	}
}
