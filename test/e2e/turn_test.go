package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// TURN servers configured on the hub reach the browser in the signalling
// hello; a page forced to relay-only ICE (coturn on loopback) still gets its
// media through to the PBX and back.
func TestBrowserRelayOnlyThroughCoturn(t *testing.T) {
	needPeers(t, "turnserver", "sipp", "node", "chromium", "tshark")
	dir := t.TempDir()
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, []byte(strings.Join([]string{
		"listening-ip=127.0.0.1", "relay-ip=127.0.0.1", "listening-port=13478", "min-port=40000", "max-port=40100",
		"lt-cred-mech", "user=agent:turn-secret", "realm=split.test", "fingerprint", "no-tls", "no-dtls", "no-cli",
		"allow-loopback-peers", "no-multicast-peers", "log-file=stdout", "simple-log", "pidfile=" + filepath.Join(dir, "turn.pid"), "userdb=" + filepath.Join(dir, "turndb"),
	}, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	turn := exec.Command("turnserver", "-c", conf)
	var tlog syncBuffer
	turn.Stdout, turn.Stderr = &tlog, &tlog
	if err := turn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = turn.Process.Signal(syscall.SIGTERM)
		_ = turn.Wait()
		if t.Failed() {
			_ = os.WriteFile(filepath.Join(artifacts(t), "turnserver.log"), []byte(tlog.String()), 0o644)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(tlog.String(), "Total General servers"); {
		if time.Now().After(deadline) {
			t.Fatalf("coturn did not start:\n%s", tlog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	h := startHub(t, func(c *config.Config) {
		c.WebRTC.ICEServers = []config.ICEServer{{URLs: []string{"turn:127.0.0.1:13478?transport=udp"}, Username: "agent", Credential: "turn-secret"}}
	})
	pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	viaTURN := startCapture(t, "udp and port 13478")
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice") + "&relay=1", "mode": "call", "to": "1000", "video": false,
		"talkMs": 5000, "hangup": "local"})
	res := br.wait(t, 60*time.Second)
	pbx.wait(t, 20*time.Second)
	turned := viaTURN.stop()
	if !res.sawState("active") || res.Stats == nil || res.Stats.Audio.PacketsReceived < 100 || res.Stats.Audio.PacketsSent < 100 {
		t.Fatalf("relayed call: states %v stats %+v errors %v", res.States, res.Stats, res.Errors)
	}
	// Every media packet of the page went to or came from coturn's port.
	if turned < 2*100 {
		t.Errorf("only %d packets through coturn's port; media did not use the relay", turned)
	}
	t.Logf("%d packets through coturn", turned)
}
