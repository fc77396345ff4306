package e2e

import (
	"encoding/json"
	"fmt"
	"github.com/split-hub/split/internal/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// layoutAuditJS lists what is visibly broken in the page's layout as it is
// shown: a page wider than the viewport (it scrolls sideways); a visible
// control (button, input, select, textarea) narrower than a usable minimum
// (text fields 120 px, buttons 40 × 24 px), whose text does not fit, that
// sticks out of the viewport, or out of a box that contains it (a .card,
// a bordered box, or one that clips or scrolls its content); a box whose
// content scrolls sideways (a table wider than its card); two controls on
// top of each other. Open shadow roots (the widget) are searched too.
const layoutAuditJS = `() => {
	const MIN_FIELD = 120, MIN_BUTTON_W = 40, MIN_BUTTON_H = 24, SLACK = 1;
	const out = [];
	const root = document.documentElement;
	const vw = root.clientWidth;
	if (root.scrollWidth > vw + SLACK) out.push('the page is ' + root.scrollWidth + ' px wide in a ' + vw + ' px viewport (it scrolls sideways)');
	const all = [];
	const walk = (r) => { for (const el of r.querySelectorAll('*')) { all.push(el); if (el.shadowRoot) walk(el.shadowRoot); } };
	walk(document);
	const parentOf = (el) => el.parentElement || (el.getRootNode() instanceof ShadowRoot ? el.getRootNode().host : null);
	const shown = (el) => {
		for (let a = el; a; a = parentOf(a)) {
			const cs = getComputedStyle(a);
			if (cs.display === 'none' || cs.visibility === 'hidden' || cs.opacity === '0') return false;
		}
		const r = el.getBoundingClientRect();
		return r.width > 1 || r.height > 1; // visually hidden (1 × 1, clipped) is not shown
	};
	const name = (el) => {
		let s = el.tagName.toLowerCase() + (el.id ? '#' + el.id : el.classList.length ? '.' + [...el.classList].join('.') : '');
		const label = (el.getAttribute('aria-label') || (el.tagName === 'BUTTON' ? el.textContent : '') || '').trim().replace(/\s+/g, ' ');
		if (label) s += ' "' + label.slice(0, 30) + '"';
		return s;
	};
	const controls = all.filter((el) => el.matches('button, input:not([type=hidden]), select, textarea, a.btn') && shown(el));
	const px = (v) => Math.round(v);
	for (const el of controls) {
		const r = el.getBoundingClientRect();
		const kind = el.tagName === 'BUTTON' || el.matches('a.btn, input[type=button], input[type=submit]') ? 'button'
			: el.matches('input[type=checkbox], input[type=radio], input[type=range], input[type=color]') ? 'other' : 'field';
		if (kind === 'field' && r.width < MIN_FIELD) out.push(name(el) + ' is ' + px(r.width) + ' px wide (< ' + MIN_FIELD + ')');
		if (kind === 'button' && (r.width < MIN_BUTTON_W || r.height < MIN_BUTTON_H)) out.push(name(el) + ' is ' + px(r.width) + ' × ' + px(r.height) + ' px (< ' + MIN_BUTTON_W + ' × ' + MIN_BUTTON_H + ')');
		if (kind === 'button' && el.scrollWidth > el.clientWidth + SLACK) out.push(name(el) + ': its text is ' + el.scrollWidth + ' px wide in ' + el.clientWidth + ' px');
		if (r.left < -SLACK || r.right > vw + SLACK) out.push(name(el) + ' lies outside the viewport (' + px(r.left) + '…' + px(r.right) + ' of ' + vw + ' px)');
		for (let a = parentOf(el); a && a !== document.body && a !== root; a = parentOf(a)) {
			const cs = getComputedStyle(a);
			const scrollsX = cs.overflowX !== 'visible', scrollsY = cs.overflowY === 'auto' || cs.overflowY === 'scroll';
			const bordered = ['Left', 'Right'].some((s) => cs['border' + s + 'Style'] !== 'none' && parseFloat(cs['border' + s + 'Width']) > 0);
			if (!(a.classList.contains('card') || scrollsX || bordered)) continue;
			const b = a.getBoundingClientRect();
			const outX = r.left < b.left - SLACK || r.right > b.right + SLACK;
			const outY = !scrollsY && (r.top < b.top - SLACK || r.bottom > b.bottom + SLACK);
			if (outX || outY) {
				out.push(name(el) + ' sticks out of ' + name(a) + ' (' + px(r.left) + '…' + px(r.right) + ' × ' + px(r.top) + '…' + px(r.bottom) +
					' in ' + px(b.left) + '…' + px(b.right) + ' × ' + px(b.top) + '…' + px(b.bottom) + ')');
				break;
			}
		}
	}
	for (const el of all) {
		if (el.matches('input, select, textarea') || !shown(el)) continue;
		const cs = getComputedStyle(el);
		if ((cs.overflowX === 'auto' || cs.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + SLACK) {
			out.push(name(el) + ' scrolls sideways (its content is ' + el.scrollWidth + ' px wide in ' + el.clientWidth + ' px)');
		}
	}
	// A sticky or fixed bar floats over the content that scrolls under it:
	// only controls that both float, or both scroll, must not overlap.
	const floating = (el) => { for (let a = el; a; a = parentOf(a)) { const p = getComputedStyle(a).position; if (p === 'sticky' || p === 'fixed') return true; } return false; };
	for (let i = 0; i < controls.length; i++) {
		for (let j = i + 1; j < controls.length; j++) {
			const a = controls[i], b = controls[j];
			if (a.contains(b) || b.contains(a) || floating(a) !== floating(b)) continue;
			const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
			const w = Math.min(p.right, q.right) - Math.max(p.left, q.left), h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
			if (w > 2 && h > 2) out.push(name(a) + ' and ' + name(b) + ' overlap (' + px(w) + ' × ' + px(h) + ' px)');
		}
	}
	return out;
}`

// screenWidths are the widths every page is checked and photographed at:
// a phone, a tablet, a laptop.
var screenWidths = []struct{ w, h int }{{390, 844}, {768, 1024}, {1280, 800}}

// screens resizes page to each width, runs the layout and accessibility
// audits (on the page and, with frame, inside that iframe too) and saves a full-page
// screenshot as runs/screens/<name>-<width>.png. Problems are test errors
// (all of them, not the first).
func screens(t *testing.T, d *pagesDriver, page, name, frame string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("runs", "screens"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range screenWidths {
		d.do(map[string]any{"cmd": "resize", "page": page, "viewport": map[string]int{"width": s.w, "height": s.h}})
		var problems []string
		audit := func(cmd map[string]any, where string) {
			var p []string
			if err := json.Unmarshal(d.do(cmd), &p); err != nil {
				t.Errorf("%s at %d px: layout audit: %v", where, s.w, err)
			}
			problems = append(problems, p...)
		}
		for _, js := range []string{layoutAuditJS, a11yAuditJS} {
			audit(map[string]any{"cmd": "eval", "page": page, "js": js}, name)
			if frame != "" {
				audit(map[string]any{"cmd": "eval", "page": page, "frame": frame, "js": js}, name+" "+frame)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, s.w))
		d.do(map[string]any{"cmd": "screenshot", "page": page, "path": path})
		if len(problems) > 0 {
			t.Errorf("%s at %d px (%s):\n  %s", name, s.w, path, strings.Join(problems, "\n  "))
		}
	}
}

// TestPagesLayout: every page — the softphone, the customer page idle and
// in a call, the widget on a host page, the agent console logged in and in
// a call, the admin view with a live session, the lobby of an early
// appointment link, a join link's page — at 390, 768 and 1280 px: no page
// scrolls sideways, no control is squashed, cut or sticks out of its card
// (layoutAuditJS). The screenshots are in test/e2e/runs/screens/.
func TestPagesLayout(t *testing.T) {
	h := startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1", "agent2")(c)
		c.Sessions.EntryPoints[0].Origins = []string{"http://localhost:18080"} // the widget's host page
	})
	d := startPages(t)
	base := "http://" + hubHTTP

	// The softphone, signed in.
	d.do(map[string]any{"cmd": "open", "page": "phone", "url": h.pageURL("alice")})
	d.waitJS("phone", "!document.querySelector('#phone').hidden && document.querySelector('#conn').dataset.state === 'connected'", 15*time.Second)
	screens(t, d, "phone", "softphone", "")

	// The agent console, logged in (not ready), with a long e-mail typed
	// in the invite form.
	d.do(map[string]any{"cmd": "open", "page": "agent2", "url": base + "/agent.html#token=" + h.agentToken("agent2") + "&autologin=1"})
	d.waitJS("agent2", "window.splitApp && window.splitApp.agentState === 'not_ready'", 20*time.Second)
	d.do(map[string]any{"cmd": "fill", "page": "agent2", "selector": "#invite-to", "value": "ana.garcia@example.com"})
	screens(t, d, "agent2", "agent-logged-in", "")

	// The customer page, idle (device check), then in a call with agent 1.
	d.do(map[string]any{"cmd": "open", "page": "agent1", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent1", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&name=Ana"})
	d.waitJS("cust", "window.splitApp.client && window.splitApp.client.connected", 15*time.Second)
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Test camera and microphone"]`})
	d.waitJS("cust", "document.querySelector('#preview').videoWidth > 0", 15*time.Second)
	screens(t, d, "cust", "customer-idle", "")
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
	d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
	eventually(t, 20*time.Second, "video both ways", func() bool {
		return d.stats("cust").VideoIn.FramesDecoded > 30 && d.stats("agent1").VideoIn.FramesDecoded > 30
	})
	screens(t, d, "cust", "customer-call", "")
	screens(t, d, "agent1", "agent-call", "")

	// The admin view with the live session.
	d.do(map[string]any{"cmd": "open", "page": "admin", "url": base + "/admin.html#key=" + apiKey})
	d.waitJS("admin", "window.splitApp && window.splitApp.sessions && window.splitApp.sessions.length === 1", 15*time.Second)
	screens(t, d, "admin", "admin-session", "")

	// The widget on another origin's page, its panel open.
	d.do(map[string]any{"cmd": "open", "page": "site", "url": "http://localhost:18080/healthz"})
	d.do(map[string]any{"cmd": "eval", "page": "site", "js": `() => { document.documentElement.lang = 'en'; document.title = 'Shop'; document.body.innerHTML = '<h1>Shop</h1><p>Our products.</p>';
		const s = document.createElement('script'); s.src = 'http://127.0.0.1:18080/widget.js'; s.dataset.entry = 'default';
		s.dataset.label = 'Talk to us'; document.body.appendChild(s); }`})
	d.do(map[string]any{"cmd": "click", "page": "site", "selector": `role=button[name="Talk to us"]`, "timeoutMs": 15000})
	d.waitJS("site", "window.SplitWidget && window.SplitWidget.isOpen", 10*time.Second)
	d.do(map[string]any{"cmd": "waitFor", "page": "site", "frame": "iframe", "js": "window.splitApp && window.splitApp.client && window.splitApp.client.connected", "timeoutMs": 15000})
	screens(t, d, "site", "widget", "iframe")

	// A join link's page (ready to join) and an early appointment's lobby.
	code, out := apiDo(t, "POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}, "channel": "copy"})
	if code != 201 {
		t.Fatalf("POST /v1/sessions: %d %v", code, out)
	}
	d.do(map[string]any{"cmd": "open", "page": "join", "url": out["join_url"].(string)})
	d.waitJS("join", "window.splitApp.link && window.splitApp.link.state === 'ready'", 10*time.Second)
	screens(t, d, "join", "join", "")
	code, appt := apiDo(t, "POST", "/v1/appointments", map[string]any{"start": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339),
		"customer": map[string]any{"name": "Ana"}, "channel": "copy"})
	if code != 201 {
		t.Fatalf("appointment: %d %v", code, appt)
	}
	d.do(map[string]any{"cmd": "open", "page": "lobby", "url": appt["join_url"].(string)})
	d.waitJS("lobby", "window.splitApp.link && window.splitApp.link.state === 'lobby'", 10*time.Second)
	screens(t, d, "lobby", "lobby", "")
}
