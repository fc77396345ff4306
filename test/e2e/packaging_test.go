package e2e

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The systemd unit in deploy/ passes `systemd-analyze verify` (unknown keys,
// bad values and a missing binary are errors here), and the command lines
// it runs are ones the binary accepts.
func TestSystemdUnit(t *testing.T) {
	needPeers(t, "systemd-analyze")
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("../../deploy/split.service")
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "split.service")
	if err := os.WriteFile(local, bytes.ReplaceAll(unit, []byte("/usr/local/bin/split"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", local).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// ExecStartPre / ExecStart with %d (the credentials folder) holding a configuration
	creds := filepath.Join(dir, "creds")
	_ = os.MkdirAll(creds, 0o700)
	if err := os.WriteFile(filepath.Join(creds, "split.yaml"), []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pre, start []string
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		line := strings.ReplaceAll(sc.Text(), "%d", creds)
		if v, ok := strings.CutPrefix(line, "ExecStartPre="); ok {
			pre = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			start = strings.Fields(v)
		}
	}
	if len(pre) < 2 || len(start) < 2 || start[1] != "serve" {
		t.Fatalf("unit's commands: pre %v, start %v", pre, start)
	}
	if out, err := exec.Command(bin, pre[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("ExecStartPre %v: %v\n%s", pre, err, out)
	}
	if !strings.Contains(strings.Join(start, " "), "--config "+creds+"/split.yaml") {
		t.Fatalf("ExecStart does not read the credential: %v", start)
	}
}

// The container image's build command makes a static binary, and the
// image's environment and health check work: the binary started with the
// Dockerfile's ENV answers the HEALTHCHECK's command, and stops on its
// STOPSIGNAL. (The image itself is built where a Docker daemon runs: not
// in this namespace.)
func TestContainerImageParts(t *testing.T) {
	needPeers(t)
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(df), "\\\n", " ")
	// the build stage's go build, as written
	build := regexp.MustCompile(`RUN (CGO_ENABLED=0 go build [^&]*)`).FindStringSubmatch(text)
	if build == nil {
		t.Fatal("no CGO_ENABLED=0 go build in the Dockerfile")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	ld := regexp.MustCompile(`-ldflags "([^"]*)"`).FindStringSubmatch(build[1])
	if ld == nil || !strings.Contains(build[1], "-trimpath") || !strings.Contains(build[1], "./cmd/split") {
		t.Fatalf("the Dockerfile's build: %s", build[1])
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", strings.ReplaceAll(ld[1], "${VERSION}", "test"), "-o", bin, "../../cmd/split")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the image's binary is dynamically linked: distroless/static has no libc")
		}
	}
	f.Close()
	if out, _ := exec.Command(bin, "version").Output(); !strings.Contains(string(out), "split test") {
		t.Errorf("version from -ldflags: %q", out)
	}

	// ENV lines
	var env []string
	for _, m := range regexp.MustCompile(`(SPLIT_[A-Z_]+)=(\S+)`).FindAllStringSubmatch(text, -1) {
		v := m[2]
		if m[1] == "SPLIT_DATA_DIR" {
			v = filepath.Join(dir, "data")
		}
		env = append(env, m[1]+"="+v)
	}
	if len(env) < 5 {
		t.Fatalf("ENV: %v", env)
	}
	hc := regexp.MustCompile(`HEALTHCHECK [^\n]*CMD \["/usr/local/bin/split", "([a-z]+)"\]`).FindStringSubmatch(string(df))
	if hc == nil {
		t.Fatal("no HEALTHCHECK running the binary")
	}
	hub := exec.Command(bin, "serve")
	hub.Dir = dir
	hub.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	hub.Stdout, hub.Stderr = logs, logs
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hub.Wait() }()
	defer func() {
		_ = hub.Process.Kill()
		<-done
	}()
	probe := func() (int, string) {
		c := exec.Command(bin, hc[1])
		c.Env = append(os.Environ(), env...)
		out, err := c.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := probe()
		if code == 0 {
			if !strings.Contains(out, "http://127.0.0.1:8080/readyz 200") {
				t.Errorf("health probe said %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEALTHCHECK never passed: %s\n%s", out, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "http=0.0.0.0:8080") && !strings.Contains(l, "http=[::]:8080") {
		t.Errorf("the image's hub does not listen on every interface:\n%s", logs.String())
	}
	_ = hub.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit on SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit on SIGTERM")
	}
}
