package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// splitBinary builds cmd/split once for the package.
func splitBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "split-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "split")
		if out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/split").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type procBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (p *procBuffer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.Write(b)
}

func (p *procBuffer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.String()
}

// binHub is the real binary serving on the ports of base, with its data in dir.
type binHub struct {
	cmd    *exec.Cmd
	logs   *procBuffer
	url    string
	exited chan error
}

func startBinHub(t *testing.T, base int, dir string, extraYAML ...string) *binHub {
	t.Helper()
	p := testutil.PortsFrom(base, 10)
	cfgFile := filepath.Join(dir, "split.yaml")
	// extraYAML: more keys of sessions:
	yaml := "sessions:\n  agents:\n    - {id: agent1, name: Alice, queues: [default]}\n  demo: false\n" +
		strings.Join(extraYAML, "") +
		fmt.Sprintf("sip:\n  default_trunk: pbx\n  trunks:\n    - {name: pbx, uri: \"sip:127.0.0.1:%d\", codecs: [PCMU]}\n", base+90)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &binHub{logs: &procBuffer{}, url: fmt.Sprintf("http://127.0.0.1:%d", p.HTTP), exited: make(chan error, 1)}
	b.cmd = exec.Command(splitBinary(t), "serve", "--config", cfgFile)
	b.cmd.Dir = dir
	b.cmd.Env = append(os.Environ(),
		fmt.Sprintf("SPLIT_HTTP_LISTEN=127.0.0.1:%d", p.HTTP), fmt.Sprintf("SPLIT_SIP_LISTEN_UDP=127.0.0.1:%d", p.SIP),
		"SPLIT_SIP_LISTEN_TCP=", fmt.Sprintf("SPLIT_WEBRTC_UDP_PORT=%d", p.ICE),
		fmt.Sprintf("SPLIT_RTP_PORT_MIN=%d", p.RTPMin), fmt.Sprintf("SPLIT_RTP_PORT_MAX=%d", p.RTPMax),
		"SPLIT_API_KEY="+testutil.HubAPIKey, "SPLIT_AUTH_TOKEN_SECRET="+testutil.HubTokenSecret,
		"SPLIT_DATA_DIR="+filepath.Join(dir, "data"), "SPLIT_DRAIN_TIMEOUT=60s", "SPLIT_LOG_LEVEL=info")
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.exited
		if t.Failed() {
			t.Logf("hub log:\n%s", tailStr(b.logs.String(), 4000))
		}
	})
	waitUntil(t, 20*time.Second, "the binary's /readyz", func() bool {
		res, err := http.Get(b.url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return b
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (b *binHub) ws(q string) string {
	return strings.Replace(b.url, "http", "ws", 1) + "/v1/sessions/ws?" + q
}

// queuedCustomer starts a customer's call that waits in the built-in queue
// (no agent is logged in).
func queuedCustomer(ctx context.Context, t *testing.T, b *binHub) (*testutil.SessionPeer, string) {
	t.Helper()
	cust, err := testutil.DialSession(ctx, b.ws("entry=default"), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cust.Close)
	if err := cust.Start(ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	m, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" })
	if err != nil {
		t.Fatal(err)
	}
	return cust, m.Session
}

// TestSecondSignalStopsAtOnce (issue 8 item 18): the first SIGTERM drains —
// the queued session keeps the hub up — and the second one stops the
// process at once, exit status 1, instead of waiting seconds for the
// hang-ups, the webhooks and the HTTP server.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// a webhook receiver that never answers: a drain would wait for it
	stuck := make(chan struct{})
	defer close(stuck)
	hook := &http.Server{Addr: "127.0.0.1:21080", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	})}
	go func() { _ = hook.ListenAndServe() }()
	defer hook.Close()
	b := startBinHub(t, 21000, t.TempDir(), "  webhooks:\n    - {url: \"http://127.0.0.1:21080/hook\", secret: whsec_0123456789abcdef, events: [\"session.*\"]}\n")
	queuedCustomer(ctx, t, b)
	// and a softphone call to a phone on the trunk
	pbx, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:21090", ToneHz: 440})
	if err != nil {
		t.Fatal(err)
	}
	defer pbx.Close()
	tok, _ := testutil.MintToken(testutil.HubTokenSecret, "alice")
	pc, err := testutil.DialPion(ctx, testutil.PionOptions{Hub: b.url, Token: tok, Codec: "PCMU", ToneHz: 697, Record: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Call(ctx, "1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WaitState(ctx, "active"); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the drain", func() bool { return strings.Contains(b.logs.String(), "draining") })
	select {
	case err := <-b.exited:
		t.Fatalf("the hub exited on the first signal with a session up: %v", err)
	default:
	}
	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = nil
	select {
	case err = <-b.exited:
		b.exited <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not stop the hub")
	}
	took := time.Since(start)
	t.Logf("second SIGTERM → exit in %s", took.Round(time.Millisecond))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit after the second signal: %v, want status 1", err)
	}
	if took > time.Second {
		t.Errorf("the second signal took %s to stop the hub, want at once (≤ 1 s)", took)
	}
}

// TestKilledNodeSessionsEnd (issue 8 item 17): the process is killed
// (SIGKILL) with a session created by the API (state created, a join link
// out), a customer waiting in the queue and an appointment's session. At
// the next start the node ends every session it owned with cause
// node_restart (code 503): none is live, the store says ended, and a
// session's link no longer passes a dry run. The appointment keeps its link
// (valid in its window): the next join opens a fresh session for it.
func TestKilledNodeSessionsEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	b := startBinHub(t, 21100, dir)
	a := api{t, b.url}
	code, created := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Eva"}})
	if code != 201 {
		t.Fatalf("POST /v1/sessions: %d %v", code, created)
	}
	sidCreated := created["id"].(string)
	link := linkToken(t, created["join_url"].(string))
	if code, out := join(t, a, link, map[string]any{"dry_run": true}); code != 200 {
		t.Fatalf("dry run before the kill: %d %v", code, out)
	}
	_, sidQueued := queuedCustomer(ctx, t, b)
	code, appt := a.do("POST", "/v1/appointments", map[string]any{
		"start": time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "duration": "10m", "title": "Claim",
		"customer": map[string]any{"name": "Ana"}, "channel": "copy", "agent_id": "agent1"})
	if code != 201 {
		t.Fatalf("create appointment: %d %v", code, appt)
	}
	apptLink := linkToken(t, appt["join_url"].(string))
	code, joined := join(t, a, apptLink, nil)
	if code != 200 {
		t.Fatalf("join the appointment: %d %v", code, joined)
	}
	sidAppt := joined["session"].(string)
	for _, id := range []string{sidCreated, sidQueued, sidAppt} {
		waitUntil(t, 5*time.Second, "the session's record", func() bool {
			code, s := a.do("GET", "/v1/sessions/"+id, nil)
			return code == 200 && s["state"] != "ended"
		})
	}

	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.exited
	b.exited <- nil
	b = startBinHub(t, 21100, dir)
	a = api{t, b.url}

	for _, id := range []string{sidCreated, sidQueued, sidAppt} {
		code, s := a.do("GET", "/v1/sessions/"+id, nil)
		if code != 200 || s["state"] != "ended" || s["cause"] != "node_restart" || s["cause_code"] != float64(503) || s["ended_at"] == nil {
			t.Errorf("session %s after the restart: %d state %v cause %v/%v ended_at %v, want ended by node_restart (503)",
				id, code, s["state"], s["cause_code"], s["cause"], s["ended_at"])
		}
		code, ev := a.do("GET", "/v1/sessions/"+id+"/events?format=json", nil)
		evs, _ := ev["events"].([]any)
		if code != 200 || len(evs) == 0 || evs[len(evs)-1].(map[string]any)["type"] != "session.ended" {
			t.Errorf("session %s: the history does not end with session.ended: %d %v", id, code, ev)
		}
	}
	// the node that ended them wrote their call records (docs/records.md)
	code, recs := a.do("GET", "/v1/records?limit=1000", nil)
	byID := map[string]map[string]any{}
	list, _ := recs["records"].([]any)
	for _, r := range list {
		r := r.(map[string]any)
		byID[r["session_id"].(string)] = r
	}
	for _, id := range []string{sidCreated, sidQueued, sidAppt} {
		if r := byID[id]; code != 200 || r == nil || r["cause"] != "node_restart" || r["outcome"] == "answered" {
			t.Errorf("call record of %s after the restart: %d %v", id, code, r)
		}
	}
	if r := byID[sidQueued]; r != nil && r["outcome"] != "abandoned" {
		t.Errorf("the queued session's record: outcome %v, want abandoned", r["outcome"])
	}
	if code, out := a.do("GET", "/v1/sessions?active=true", nil); code != 200 || len(out["sessions"].([]any)) != 0 {
		t.Errorf("live sessions after the restart: %d %v", code, out)
	}
	if code, out := join(t, a, link, map[string]any{"dry_run": true}); code != 410 {
		t.Errorf("the dead session's link still passes a dry run: %d %v", code, out)
	}
	// the appointment's link opens a new session
	code, again := join(t, a, apptLink, nil)
	if code != 200 || again["session"] == sidAppt || again["session"] == nil {
		t.Errorf("rejoining the appointment after the restart: %d %v (old session %s)", code, again, sidAppt)
	}
	if !strings.Contains(b.logs.String(), "previous run") {
		t.Errorf("the restart did not log the sessions it ended:\n%s", tailStr(b.logs.String(), 2000))
	}
}
