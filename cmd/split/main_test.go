package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	typo := filepath.Join(dir, "typo.yaml")
	_ = os.WriteFile(good, []byte("sip:\n  default_trunk: pbx\n  trunks:\n    - name: pbx\n      uri: sip:127.0.0.1:5090\n"), 0o644)
	_ = os.WriteFile(bad, []byte("log:\n  level: loud\nrtp:\n  port_min: 10\n"), 0o644)
	_ = os.WriteFile(typo, []byte("htp:\n  listen: x\n"), 0o644)
	if code := run([]string{"config", "check", "--config", good}); code != 0 {
		t.Fatalf("good config: exit %d", code)
	}
	for _, f := range []string{bad, typo, filepath.Join(dir, "missing.yaml")} {
		if code := run([]string{"config", "check", "--config", f}); code != 1 {
			t.Errorf("%s: exit %d, want 1", filepath.Base(f), code)
		}
	}
	if code := run([]string{"frobnicate"}); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code := run([]string{"version"}); code != 0 {
		t.Errorf("version: exit %d", code)
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "split.yaml")
	_ = os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o644)
	var out, errb bytes.Buffer
	for i := 0; i < 2; i++ { // the second run finds nothing to do and says the same
		out.Reset()
		if code := migrateCmd([]string{"--config", cfg}, &out, &errb); code != 0 {
			t.Fatalf("migrate: exit %d: %s", code, errb.String())
		}
		m := regexp.MustCompile(`^store \(sqlite\): schema at version (\d+), (\d+) migrations applied\n$`).FindStringSubmatch(out.String())
		if m == nil || m[1] == "0" || m[2] == "0" {
			t.Fatalf("migrate said %q", out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "split.db")); err != nil {
		t.Fatalf("no database where data_dir says: %v", err)
	}
	// a store it cannot reach: a clear error, exit 1
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("sessions:\n  store: postgres://split@127.0.0.1:1/split?connect_timeout=1\n"), 0o644)
	errb.Reset()
	if code := migrateCmd([]string{"--config", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "split migrate:") {
		t.Fatalf("unreachable store: exit %d, %q", code, errb.String())
	}
}

func TestHealth(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready"))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := healthCmd([]string{"--url", srv.URL + "/readyz"}, &out, &errb); code != 0 {
		t.Fatalf("ready hub: exit %d (%s%s)", code, out.String(), errb.String())
	}
	ready = false
	if code := healthCmd([]string{"--url", srv.URL + "/readyz"}, &out, &errb); code != 1 {
		t.Fatalf("draining hub: exit %d", code)
	}
	// from the configuration: http.listen, 0.0.0.0 probed as 127.0.0.1
	dir := t.TempDir()
	cfg := filepath.Join(dir, "split.yaml")
	_ = os.WriteFile(cfg, []byte("http:\n  listen: 0.0.0.0:"+strings.TrimPrefix(srv.Listener.Addr().String(), "127.0.0.1:")+"\n"), 0o644)
	ready = true
	out.Reset()
	if code := healthCmd([]string{"--config", cfg}, &out, &errb); code != 0 || !strings.Contains(out.String(), "http://127.0.0.1:") {
		t.Fatalf("from the configuration: exit %d, %q %q", code, out.String(), errb.String())
	}
	srv.Close()
	if code := healthCmd([]string{"--url", srv.URL + "/readyz"}, &out, &errb); code != 1 {
		t.Fatalf("no hub: exit %d", code)
	}
}
