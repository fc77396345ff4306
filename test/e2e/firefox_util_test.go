package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// firefoxEnv prepares cmd (node running pages.mjs or browser.mjs) for
// Firefox ESR: E2E_BROWSER=firefox, the profile under the test's own
// temporary directory, and Firefox's PID written to a file. puppeteer
// starts Firefox detached, in its own process group; at clean-up that
// group is killed by PID (when node already closed it, nothing is left).
func firefoxEnv(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if _, err := os.Stat("node_modules/puppeteer-core"); err != nil {
		t.Fatal("puppeteer-core is not installed in test/e2e: run `make deps`")
	}
	if _, err := exec.LookPath("firefox-esr"); err != nil {
		t.Fatal("firefox-esr is not installed: run `make deps` (the test must not silently skip)")
	}
	dir := t.TempDir() // removed after the clean-up below has run
	pidfile := filepath.Join(dir, "firefox.pid")
	cmd.Env = append(os.Environ(), "E2E_BROWSER=firefox", "FIREFOX_PIDFILE="+pidfile, "TMPDIR="+dir)
	t.Cleanup(func() {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH: already gone
		}
	})
}
