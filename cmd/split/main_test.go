package main

import (
	"os"
	"path/filepath"
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
