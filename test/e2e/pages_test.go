package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// pagesDriver runs pages.mjs: one Chromium, one BrowserContext per named page.
type pagesDriver struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	mu     sync.Mutex
	next   int
	waits  map[int]chan pagesReply
	stderr syncBuffer
	done   chan struct{}
}

type pagesReply struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

func startPages(t *testing.T) *pagesDriver { return startPagesIn(t, "chromium") }

// startPagesIn runs pages.mjs in "chromium" or "firefox" (Firefox ESR
// through firefox.mjs: the same commands and results).
func startPagesIn(t *testing.T, browser string, env ...string) *pagesDriver {
	t.Helper()
	d := &pagesDriver{t: t, waits: map[int]chan pagesReply{}, done: make(chan struct{})}
	d.cmd = exec.Command("node", "pages.mjs")
	if len(env) > 0 {
		d.cmd.Env = append(os.Environ(), env...)
	}
	switch browser {
	case "chromium":
		needPeers(t, "node", "chromium")
	case "firefox":
		needPeers(t, "node", "firefox-esr")
		firefoxEnv(t, d.cmd)
	default:
		t.Fatalf("no browser %q", browser)
	}
	d.cmd.Stderr = &d.stderr
	var err error
	if d.in, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			var r pagesReply
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			d.mu.Lock()
			ch := d.waits[r.ID]
			delete(d.waits, r.ID)
			d.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		}
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(d.in, `{"id":0,"cmd":"quit"}`+"\n")
		_ = d.in.Close()
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
		}
		_ = d.cmd.Wait()
		if t.Failed() {
			p := filepath.Join(artifacts(t), browser+"-pages.stderr")
			_ = os.WriteFile(p, []byte(d.stderr.String()), 0o644)
		}
	})
	return d
}

// do sends one command and returns its value (the test fails on an error).
func (d *pagesDriver) do(cmd map[string]any) json.RawMessage {
	d.t.Helper()
	v, err := d.try(cmd)
	if err != nil {
		d.t.Fatalf("pages %v: %v", cmd["cmd"], err)
	}
	return v
}

func (d *pagesDriver) try(cmd map[string]any) (json.RawMessage, error) {
	d.mu.Lock()
	d.next++
	id := d.next
	ch := make(chan pagesReply, 1)
	d.waits[id] = ch
	d.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if !r.OK {
			return nil, fmt.Errorf("%s", r.Error)
		}
		return r.Value, nil
	case <-time.After(90 * time.Second):
		return nil, fmt.Errorf("no answer from pages.mjs\n%s", tail(d.stderr.String(), 2000))
	}
}

func (d *pagesDriver) waitJS(page, js string, within time.Duration) json.RawMessage {
	d.t.Helper()
	return d.do(map[string]any{"cmd": "waitFor", "page": page, "js": js, "timeoutMs": within.Milliseconds()})
}

type pageStats struct {
	AudioIn struct {
		PacketsReceived int    `json:"packetsReceived"`
		Codec           string `json:"codec"`
	} `json:"audioIn"`
	AudioOut struct {
		PacketsSent int `json:"packetsSent"`
	} `json:"audioOut"`
	VideoIn struct {
		FramesDecoded int    `json:"framesDecoded"`
		FrameWidth    int    `json:"frameWidth"`
		Codec         string `json:"codec"`
	} `json:"videoIn"`
	VideoOut struct {
		FramesEncoded int `json:"framesEncoded"`
	} `json:"videoOut"`
}

func (d *pagesDriver) stats(page string) pageStats {
	d.t.Helper()
	var s pageStats
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "stats", "page": page}), &s); err != nil {
		d.t.Fatal(err)
	}
	return s
}

// TestPagesEmbeddedDefault: the embedded default, in Chromium: the customer
// page → the built-in queue → agent 1's console answers; both decode video;
// agent 1 transfers to agent 2; the customer's video now comes from agent 2
// on the same connection.
func TestPagesEmbeddedDefault(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1", "agent2"))
	// the built-in queue is the route
	_ = h
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent1", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent1", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "agent2", "url": base + "/agent.html#token=" + h.agentToken("agent2") + "&autologin=1"})
	d.waitJS("agent2", "window.splitApp && window.splitApp.agentState === 'not_ready'", 20*time.Second)

	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default", "viewport": map[string]int{"width": 390, "height": 844}})
	d.do(map[string]any{"cmd": "fill", "page": "cust", "selector": `role=textbox[name="Your name (optional)"]`, "value": "Ana"})
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
	d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
	d.waitJS("agent1", "window.splitApp.agentState === 'busy'", 10*time.Second)
	var custFrames, agentFrames int
	eventually(t, 20*time.Second, "both pages to decode each other's video", func() bool {
		c, a := d.stats("cust"), d.stats("agent1")
		custFrames, agentFrames = c.VideoIn.FramesDecoded, a.VideoIn.FramesDecoded
		return custFrames > 30 && agentFrames > 30 && c.AudioIn.PacketsReceived > 50 && a.AudioIn.PacketsReceived > 50
	})
	// In the call, every control on both pages is usable with a screen reader.
	for _, p := range []string{"cust", "agent1"} {
		if problems := a11yAudit(d, p); len(problems) > 0 {
			t.Errorf("%s page accessibility: %v", p, problems)
		}
	}
	name := string(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.agentName"}))
	if !strings.Contains(name, "Agent1") {
		t.Errorf("the customer page shows agent %s, want Agent1's name", name)
	}

	// The admin view lists the live session, its queue and the busy agent.
	d.do(map[string]any{"cmd": "open", "page": "admin", "url": base + "/admin.html#key=" + apiKey})
	d.waitJS("admin", "window.splitApp && window.splitApp.sessions && window.splitApp.sessions.length === 1", 15*time.Second)
	d.waitJS("admin", `document.querySelector('#sessions').textContent.includes('Ana') && document.querySelector('#agents').textContent.includes('busy')`, 10*time.Second)
	if problems := a11yAudit(d, "admin"); len(problems) > 0 {
		t.Errorf("admin page accessibility: %v", problems)
	}
	d.do(map[string]any{"cmd": "close", "page": "admin"})

	// Transfer to agent 2.
	d.do(map[string]any{"cmd": "eval", "page": "agent2", "js": "window.splitApp.setReady(true)"})
	d.waitJS("agent2", "window.splitApp.agentState === 'ready'", 10*time.Second)
	d.do(map[string]any{"cmd": "fill", "page": "agent1", "selector": "#transfer-to", "value": "agent:agent2"})
	d.do(map[string]any{"cmd": "click", "page": "agent1", "selector": `role=button[name="Transfer"]`})
	// agent 2 has no autoanswer: it accepts from the offer card
	d.do(map[string]any{"cmd": "click", "page": "agent2", "selector": `role=button[name="Accept"]`, "timeoutMs": 20000})
	d.waitJS("agent2", "window.splitApp.agentState === 'busy'", 15*time.Second)
	d.waitJS("agent1", "window.splitApp.agentState === 'wrap_up' || window.splitApp.agentState === 'ready' || !!window.splitApp.ended", 15*time.Second)
	d.waitJS("cust", "window.splitApp.agentName === 'Agent2'", 10*time.Second)
	before := d.stats("cust").VideoIn.FramesDecoded
	eventually(t, 20*time.Second, "the customer to decode agent 2's video and agent 2 the customer's", func() bool {
		c, a := d.stats("cust"), d.stats("agent2")
		return c.VideoIn.FramesDecoded > before+30 && a.VideoIn.FramesDecoded > 30 && a.AudioIn.PacketsReceived > 50
	})
	// the customer never reconnected: one peer connection, still the first
	if st := string(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.state"})); st != `"active"` {
		t.Fatalf("customer state %s", st)
	}
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	d.waitJS("agent2", "window.splitApp.agentState === 'wrap_up' || window.splitApp.agentState === 'ready'", 15*time.Second)
	for _, p := range []string{"cust", "agent1", "agent2"} {
		var errs []string
		_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": p}), &errs)
		if len(errs) > 0 {
			t.Errorf("%s page console errors: %v", p, errs)
		}
	}
	h.waitMetric(`split_sessions_ended_total{cause="normal",mode="forward"} 1`, 5*time.Second)
}

// a11yAuditJS lists what a screen-reader or keyboard user would miss on
// the page as it is shown: the document's language and title, a heading,
// visible controls (buttons, links, inputs, selects, video) without an
// accessible name, and controls taken out of the keyboard order.
const a11yAuditJS = `() => {
	const out = [];
	if (!document.documentElement.lang) out.push('no lang on <html>');
	if (!document.title.trim()) out.push('no <title>');
	if (!document.querySelector('h1, h2, [role=heading]')) out.push('no heading');
	const visible = (el) => { const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
		return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
	const nameOf = (el) => {
		if (el.getAttribute('aria-label')) return el.getAttribute('aria-label');
		const by = el.getAttribute('aria-labelledby');
		if (by) return by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || '').join(' ');
		if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(' ');
		if (el.tagName === 'INPUT' && ['button', 'submit'].includes(el.type)) return el.value;
		if (!['INPUT', 'SELECT', 'TEXTAREA', 'VIDEO'].includes(el.tagName)) return el.textContent || el.getAttribute('title') || '';
		return el.getAttribute('title') || '';
	};
	for (const el of document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, video, [role=button]')) {
		if (!visible(el)) continue;
		const what = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
		if (!nameOf(el).trim()) out.push(what + ' has no accessible name');
		if (el.tagName !== 'VIDEO' && el.tabIndex < 0 && !el.disabled) out.push(what + ' is out of the keyboard order');
	}
	return out;
}`

func a11yAudit(d *pagesDriver, page string) []string {
	var problems []string
	if err := json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": page, "js": a11yAuditJS}), &problems); err != nil {
		return []string{"audit: " + err.Error()}
	}
	return problems
}

// TestPagesWidget: the embeddable widget on another origin's page opens the
// customer page in an iframe, which reaches the queue.
// The widget's site is listed in the entry point's origins (the page's
// CSP frame-ancestors); the same site cannot frame the agent console or the
// admin view, and no page breaks its Content-Security-Policy.
func TestPagesWidget(t *testing.T) {
	h := startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(c)
		c.Sessions.EntryPoints[0].Origins = []string{"http://localhost:18080"}
	})
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent1", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent1", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	// a page of another origin (localhost ≠ 127.0.0.1) embeds the snippet
	d.do(map[string]any{"cmd": "open", "page": "site", "url": "http://localhost:18080/healthz", "viewport": map[string]int{"width": 360, "height": 740}})
	d.do(map[string]any{"cmd": "eval", "page": "site", "js": `() => { document.body.innerHTML = '<h1>Shop</h1>';
		const s = document.createElement('script'); s.src = 'http://127.0.0.1:18080/widget.js'; s.dataset.entry = 'default';
		s.dataset.label = 'Talk to us'; document.body.appendChild(s); }`})
	d.do(map[string]any{"cmd": "click", "page": "site", "selector": `role=button[name="Talk to us"]`, "timeoutMs": 15000})
	d.do(map[string]any{"cmd": "click", "page": "site", "frame": "iframe", "selector": `role=button[name="Video call"]`, "timeoutMs": 20000})
	d.waitJS("agent1", "window.splitApp.agentState === 'busy'", 20*time.Second)
	eventually(t, 20*time.Second, "video decoded in the widget and at the agent", func() bool {
		var c pageStats
		v, err := d.try(map[string]any{"cmd": "stats", "page": "site", "frame": "iframe"})
		if err != nil || json.Unmarshal(v, &c) != nil {
			return false
		}
		return c.VideoIn.FramesDecoded > 20 && d.stats("agent1").VideoIn.FramesDecoded > 20
	})
	// Hang up in the widget and call again from the same panel.
	d.do(map[string]any{"cmd": "click", "page": "site", "frame": "iframe", "selector": `role=button[name="Hang up"]`})
	d.waitJS("agent1", "window.splitApp.agentState === 'ready'", 15*time.Second)
	d.do(map[string]any{"cmd": "click", "page": "site", "frame": "iframe", "selector": `role=button[name="Start a new call"]`})
	d.do(map[string]any{"cmd": "click", "page": "site", "frame": "iframe", "selector": `role=button[name="Video call"]`})
	d.waitJS("agent1", "window.splitApp.agentState === 'busy'", 20*time.Second)
	d.waitJS("site", "window.SplitWidget.state === 'active'", 10*time.Second)
	eventually(t, 20*time.Second, "the second call's video in the widget and at the agent", func() bool {
		var c pageStats
		v, err := d.try(map[string]any{"cmd": "stats", "page": "site", "frame": "iframe"})
		if err != nil || json.Unmarshal(v, &c) != nil {
			return false
		}
		return c.VideoIn.FramesDecoded > 20 && c.AudioIn.PacketsReceived > 50 && d.stats("agent1").VideoIn.FramesDecoded > 20
	})
	// the console and the admin view refuse to be framed by the site
	d.do(map[string]any{"cmd": "eval", "page": "site", "js": `() => { for (const p of ['agent.html', 'admin.html']) {
		const f = document.createElement('iframe'); f.src = 'http://127.0.0.1:18080/' + p; document.body.appendChild(f); } }`})
	var errs []string
	eventually(t, 10*time.Second, "the browser to refuse framing the console and the admin view", func() bool {
		var more []string
		_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": "site"}), &more)
		errs = append(errs, more...)
		n := 0
		for _, e := range errs {
			if strings.Contains(e, "Framing 'http://127.0.0.1:18080/'") && strings.Contains(e, "frame-ancestors 'none'") && strings.Contains(e, "blocked") {
				n++
			}
		}
		return n == 2
	})
	for _, p := range []string{"site", "agent1"} {
		var more []string
		_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": p}), &more)
		if p == "site" {
			more = append(more, errs...)
		}
		for _, e := range more {
			if strings.Contains(e, "Content Security Policy") && !strings.HasPrefix(e, "Framing ") {
				t.Errorf("%s page: CSP violation: %s", p, e)
			}
		}
	}
}

// TestPagesCustomerResume: the customer page restarts ICE mid-call (a
// network change) and the call goes on on the same connection; then its
// connection to the hub drops and the page comes back with its resume
// token, the agent keeps the call, and video flows again.
func TestPagesCustomerResume(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&name=Ana&autostart=1"})
	d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
	eventually(t, 20*time.Second, "the call's video", func() bool { return d.stats("cust").VideoIn.FramesDecoded > 30 })

	// A network change the page notices first: ICE restarts on the same
	// connection (new credentials both ways); no new session, no resume.
	ufrag := func() string {
		return string(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "(window.splitApp.call.pc.remoteDescription.sdp.match(/a=ice-ufrag:(\\S+)/) || [])[1]"}))
	}
	before, custFrames, agentFrames := ufrag(), d.stats("cust").VideoIn.FramesDecoded, d.stats("agent").VideoIn.FramesDecoded
	d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.restartIce(); true"})
	d.waitJS("cust", "window.splitApp.restarts === 1 && window.splitApp.state === 'active' && window.splitApp.call.pc.connectionState === 'connected'", 20*time.Second)
	if after := ufrag(); after == before || len(after) < 4 {
		t.Fatalf("the hub's ICE credentials after the restart: %s, before: %s", after, before)
	}
	eventually(t, 20*time.Second, "video both ways after the ICE restart", func() bool {
		return d.stats("cust").VideoIn.FramesDecoded > custFrames+30 && d.stats("agent").VideoIn.FramesDecoded > agentFrames+30
	})
	if r := string(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.resumed"})); r != "0" {
		t.Fatalf("the ICE restart went through a resume (%s)", r)
	}

	// The connection to the hub drops: the page resumes with its token.
	d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.dropConnection()"})
	d.waitJS("cust", "window.splitApp.resumed === 1 && window.splitApp.state === 'active'", 20*time.Second)
	eventually(t, 20*time.Second, "video again after the resume", func() bool {
		return d.stats("cust").VideoIn.FramesDecoded > 30 && d.stats("agent").VideoIn.FramesDecoded > 60
	})
	if st := string(d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "window.splitApp.agentState"})); st != `"busy"` {
		t.Fatalf("the agent's state after the customer's drop: %s", st)
	}
}

// TestPagesCustomerCallsAgain: the customer page makes a second and a third
// call without a reload. The customer hangs up the first call, the agent
// hangs up the second; after each end "Start a new call" and "Video call"
// reach the agent again, and media flows both ways each time (on a new
// peer connection, counted from zero).
func TestPagesCustomerCallsAgain(t *testing.T) {
	h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&name=Ana"})
	d.waitJS("cust", "window.splitApp.client && window.splitApp.client.connected", 15*time.Second)

	sessions := map[string]bool{}
	call := func(n int) {
		t.Helper()
		d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
		d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
		d.waitJS("agent", "window.splitApp.agentState === 'busy' && window.splitApp.call && window.splitApp.call.live", 15*time.Second)
		eventually(t, 20*time.Second, fmt.Sprintf("call %d: video and audio both ways", n), func() bool {
			c, a := d.stats("cust"), d.stats("agent")
			return c.VideoIn.FramesDecoded > 30 && a.VideoIn.FramesDecoded > 30 && c.AudioIn.PacketsReceived > 50 && a.AudioIn.PacketsReceived > 50
		})
		var sid string
		_ = json.Unmarshal(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.call.session"}), &sid)
		if sid == "" || sessions[sid] {
			t.Fatalf("call %d: session %q (want a new one; had %v)", n, sid, sessions)
		}
		sessions[sid] = true
	}
	again := func(n int) {
		t.Helper()
		d.waitJS("cust", "window.splitApp.state === 'ended' && !document.querySelector('#ended').hidden", 15*time.Second)
		d.waitJS("agent", "window.splitApp.agentState === 'ready' && !(window.splitApp.call && window.splitApp.call.live)", 15*time.Second)
		d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Start a new call"]`})
		d.waitJS("cust", "window.splitApp.state === 'idle' && window.splitApp.client.connected && !document.querySelector('#setup').hidden", 15*time.Second)
		call(n)
	}

	call(1)
	// 1. The customer hangs up.
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	again(2)
	// The connection drops mid-call: the page comes back with its resume
	// token (it hung up the first call, not this one), so its socket is now
	// bound to this session; the next call must not reuse it.
	agentFrames := d.stats("agent").VideoIn.FramesDecoded
	d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "window.splitApp.dropConnection()"})
	d.waitJS("cust", "window.splitApp.resumed === 1 && window.splitApp.state === 'active'", 20*time.Second)
	eventually(t, 20*time.Second, "call 2: video again after the resume", func() bool {
		return d.stats("cust").VideoIn.FramesDecoded > 30 && d.stats("agent").VideoIn.FramesDecoded > agentFrames+30
	})
	// 2. The agent hangs up.
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": `role=button[name="Hang up"]`})
	d.waitJS("cust", "window.splitApp.state === 'ended'", 15*time.Second)
	if txt := string(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent"})); txt != `""` {
		t.Errorf("the page shows an error after the agent hung up: %s", txt)
	}
	again(3)
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	h.waitMetric(`split_sessions_ended_total{cause="normal",mode="forward"} 3`, 10*time.Second)
	for _, p := range []string{"cust", "agent"} {
		var errs []string
		_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": p}), &errs)
		if len(errs) > 0 {
			t.Errorf("%s page console errors: %v", p, errs)
		}
	}
}
