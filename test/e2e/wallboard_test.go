package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// TestWallboard drives four WebRTC customers (pion peers) through the
// built-in queue — three answered, one abandoned while nobody is ready — and
// reads the wallboard page in Chromium and Firefox ESR at 1920×1080: the
// figures it shows match what the test did (3 answered, 1 abandoned, service
// level 75 % at 20 s, the waiting customer counted while they wait), the
// plots are drawn, the page keeps its Content-Security-Policy, passes the
// accessibility audit, and its screenshots are in runs/screens/wallboard-*.png.
func TestWallboard(t *testing.T) {
	h := startHub(t, func(c *config.Config) {
		c.Sessions.Queues = []config.Queue{{Name: "default", RingTimeout: 20 * time.Second, ServiceLevel: 20 * time.Second, ServiceLevelTarget: 80}}
		c.Sessions.Agents = []config.Agent{{ID: "agent1", Name: "Alice", Queues: []string{"default"}}}
		c.WebRTC.Video = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := func(q string) string { return "ws://" + hubHTTP + "/v1/sessions/ws?" + q }
	ag, err := testutil.DialSession(ctx, ws("token="+h.agentToken("agent1")), 1209, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	// after waits for a frame of p's that came after its first n
	after := func(p *testutil.SessionPeer, n int, match func(testutil.Message) bool) (testutil.Message, error) {
		i := 0
		return p.WaitFor(ctx, func(m testutil.Message) bool { i++; return i > n && match(m) })
	}
	agentState := func(n int, want string) {
		t.Helper()
		if _, err := after(ag, n, func(m testutil.Message) bool { return m.Type == "agent" && m.State == want }); err != nil {
			t.Fatalf("agent %s: %v", want, err)
		}
	}
	_ = ag.Send(ctx, map[string]any{"type": "login"})
	_ = ag.Send(ctx, map[string]any{"type": "ready", "ready": true})
	agentState(0, "ready")

	for i := 0; i < 3; i++ {
		n := len(ag.Frames()) // the offer may come before Start returns
		c, err := testutil.DialSession(ctx, ws("entry=default"), 697, byte(10+i), true)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, fmt.Sprintf("Customer %d", i+1), nil); err != nil {
			t.Fatal(err)
		}
		o, err := after(ag, n, func(m testutil.Message) bool { return m.Type == "offer" })
		if err != nil {
			t.Fatal(err)
		}
		if err := ag.Accept(ctx, o); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "audio both ways", func() bool {
			return c.DominantHz([]float64{697, 1209}) == 1209 && ag.DominantHz([]float64{697, 1209}) == 697
		})
		n = len(ag.Frames())
		_ = c.Send(ctx, map[string]any{"type": "hangup"})
		if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == o.Session }); err != nil {
			t.Fatal(err)
		}
		c.Close()
		agentState(n, "ready")
	}

	// nobody ready: the fourth customer waits, and gives up
	n := len(ag.Frames())
	_ = ag.Send(ctx, map[string]any{"type": "ready", "ready": false})
	agentState(n, "not_ready")
	c4, err := testutil.DialSession(ctx, ws("entry=default"), 697, 20, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if err := c4.Start(ctx, "Customer 4", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c4.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" }); err != nil {
		t.Fatal(err)
	}

	dir, err := filepath.Abs(filepath.Join("runs", "screens"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(dir, 0o755)
	type board struct{ d *pagesDriver }
	boards := map[string]board{}
	for _, browser := range []string{"chromium", "firefox"} {
		d := startPagesIn(t, browser)
		boards[browser] = board{d}
		d.do(map[string]any{"cmd": "open", "page": "wb", "url": "http://" + hubHTTP + "/wallboard.html#key=" + apiKey,
			"viewport": map[string]int{"width": 1920, "height": 1080}})
		// the waiting customer is on the board while they wait
		d.waitJS("wb", `window.splitWallboard.figures && window.splitWallboard.figures.overall.waiting === 1 &&
			document.querySelector('#t-waiting').textContent === '1'`, 20*time.Second)
	}
	_ = c4.Send(ctx, map[string]any{"type": "hangup"})

	for browser, b := range boards {
		d := b.d
		d.waitJS("wb", `window.splitWallboard.figures && window.splitWallboard.figures.overall.hour.abandoned === 1 &&
			document.querySelector('#t-abandoned').textContent === '1'`, 20*time.Second)
		var shown map[string]string
		raw := d.do(map[string]any{"cmd": "eval", "page": "wb", "js": `(() => {
			const t = (s) => document.querySelector(s).textContent.trim();
			const row = document.querySelector('#wb-queues tbody tr');
			return {sl: t('#t-sl'), answered: t('#t-answered'), abandoned: t('#t-abandoned'), abandonPct: t('#t-abandon-pct'),
				waiting: t('#t-waiting'), slSub: t('#t-sl-sub'), ok: document.querySelector('.wb-sl').dataset.ok || '',
				agents: t('#t-agents'), queueRow: row ? row.textContent : '', channels: t('#wb-channels tbody'),
				plots: String(document.querySelectorAll('.wb-plot canvas').length),
				bars: String(window.splitWallboard.figures.hour.queues[''].answered.reduce((a, b) => a + b, 0))};
		})()`})
		if err := json.Unmarshal(raw, &shown); err != nil {
			t.Fatalf("%s: %v %s", browser, err, raw)
		}
		want := map[string]string{"sl": "75 %", "answered": "3", "abandoned": "1", "abandonPct": "25 % of offered", "waiting": "0",
			"ok": "false", "plots": "3", "bars": "3"}
		for k, v := range want {
			if shown[k] != v {
				t.Errorf("%s: wallboard %s shows %q, want %q (all: %v)", browser, k, shown[k], v, shown)
			}
		}
		if !strings.Contains(shown["slSub"], "below target (80 % in 20 s)") || !strings.Contains(shown["agents"], "Not ready 1") ||
			!strings.HasPrefix(shown["queueRow"], "default") || !strings.Contains(shown["queueRow"], "75 %") ||
			!strings.Contains(shown["channels"], "web video") {
			t.Errorf("%s: wallboard text: %v", browser, shown)
		}
		if problems := a11yAudit(d, "wb"); len(problems) > 0 {
			t.Errorf("%s: wallboard accessibility: %v", browser, problems)
		}
		var errs []string
		_ = json.Unmarshal(d.do(map[string]any{"cmd": "console", "page": "wb"}), &errs)
		for _, e := range errs {
			if !strings.Contains(e, "favicon") {
				t.Errorf("%s: console error on the wallboard: %s", browser, e)
			}
		}
		d.do(map[string]any{"cmd": "screenshot", "page": "wb", "path": filepath.Join(dir, "wallboard-"+browser+"-1920.png")})
		// the last 24 hours say the same; the TV layout keeps the figures
		d.do(map[string]any{"cmd": "click", "page": "wb", "selector": `[data-window="day"]`})
		d.waitJS("wb", `window.splitWallboard.window === 'day' && document.querySelector('#t-sl').textContent === '75 %'`, 5*time.Second)
		d.do(map[string]any{"cmd": "eval", "page": "wb", "js": `document.body.classList.add('tv')`})
		// a TV shows the whole board without scrolling
		fits := string(d.waitJS("wb", `document.documentElement.scrollHeight <= window.innerHeight + 1 ? 'fits' : null`, 5*time.Second))
		if fits != `"fits"` {
			t.Errorf("%s: the TV layout does not fit 1920x1080: %s", browser, fits)
		}
		d.do(map[string]any{"cmd": "screenshot", "page": "wb", "path": filepath.Join(dir, "wallboard-"+browser+"-tv-1920.png")})
	}

	// a wrong key: the page says so and shows nothing
	d := boards["chromium"].d
	d.do(map[string]any{"cmd": "open", "page": "bad", "url": "http://" + hubHTTP + "/wallboard.html#key=wrong-key"})
	d.waitJS("bad", `window.splitWallboard.error === 'wrong API key' && document.querySelector('#board').hidden`, 10*time.Second)
}
