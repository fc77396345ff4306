package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

	"github.com/split-hub/split/internal/i18n"
)

// TestRTTJS runs the Node unit tests of rtt.js's pure functions
// (jstest/rtt.test.mjs: the T.140 display filter of docs/interpreter.md
// §6.3, the typewriter's diff and send buffer, channel labels, the routing
// summary). Skipped where node is not installed.
func TestRTTJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	out, err := exec.Command(node, "--test", "jstest/rtt.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/rtt.test.mjs: %v\n%s", err, out)
	}
}

// TestInterpreterPagesBrowser loads the interpreter console and the deaf-user
// layout of customer.html from this package's handler (with its
// Content-Security-Policy) in headless Chromium and drives them with a fake
// hub socket and a real WebRTC peer (jstest/pages.mjs says what is real and
// what is not): the frames each control sends, the states rendered from the
// frames of docs/interpreter.md §5, RTT both ways over data channels, and the
// project's a11y and layout audits at 1280×800 and 390×844. It needs node,
// /usr/bin/chromium and test/e2e's node_modules (make deps); skipped in -short.
func TestInterpreterPagesBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		t.Skip("chromium is not installed")
	}
	if _, err := os.Stat("../../test/e2e/node_modules/playwright-core"); err != nil {
		t.Skip("test/e2e/node_modules is not installed (make deps)")
	}
	// the pages load their texts from the hub (docs/i18n.md): this test's
	// server stands in for it, in English, as for the hub's socket
	cat, err := i18n.Load("", "")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.HandleFunc("GET /i18n/catalog.json", func(w http.ResponseWriter, r *http.Request) {
		lang := cat.Match(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"lang": lang, "languages": cat.Languages(), "messages": cat.Messages(lang)})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cmd := exec.Command(node, "jstest/pages.mjs", srv.URL)
	screens := os.Getenv("SCREENS") // where the screenshots go (default: a temporary directory)
	if screens == "" {
		screens = t.TempDir()
	}
	cmd.Env = append(os.Environ(), "SCREENS="+screens)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("jstest/pages.mjs: %v", err)
	}
}
