package e2e

import (
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

const exampleAI = "127.0.0.1:29470"

// speechWAV writes what flite says of text, then 1.5 s of silence (so that
// the recogniser ends the utterance before Chromium loops the file).
func speechWAV(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "flite.wav")
	if out, err := exec.Command("flite", "-t", text, "-o", raw).CombinedOutput(); err != nil {
		t.Fatalf("flite: %v %s", err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil || len(b) < 44 {
		t.Fatalf("flite's wav: %v", err)
	}
	rate := binary.LittleEndian.Uint32(b[24:])
	i := 12
	for i+8 <= len(b) && string(b[i:i+4]) != "data" {
		i += 8 + int(binary.LittleEndian.Uint32(b[i+4:]))
	}
	data := append(append([]byte(nil), b[i+8:]...), make([]byte, int(rate)*3)...) // + 1.5 s of 16-bit silence
	hdr := make([]byte, 44)
	copy(hdr, "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+len(data)))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], rate)
	binary.LittleEndian.PutUint32(hdr[28:], rate*2)
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(len(data)))
	out := filepath.Join(dir, "speech.wav")
	if err := os.WriteFile(out, append(hdr, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCopilotExampleInConsole: the example AI of examples/copilot, built and
// run as a user would, attached by the route. The customer's microphone in
// Chromium says a configured phrase (flite's voice, looped); the agent's
// console in Chromium shows the customer's transcript and the phrase's hint
// in its Copilot panel.
func TestCopilotExampleInConsole(t *testing.T) {
	needPeers(t, "node", "chromium", "pocketsphinx_continuous", "flite")
	bin := filepath.Join(t.TempDir(), "copilot-example")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/copilot").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/copilot: %v\n%s", err, out)
	}
	ai := exec.Command(bin, "-listen", exampleAI, "-phrases", "../../examples/copilot/phrases.yaml", "-roles", "customer")
	ai.Env = append(os.Environ(), "COPILOT_SECRET=sec_example_0123456")
	logs := &syncBuffer{}
	ai.Stdout, ai.Stderr = logs, logs
	if err := ai.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ai.Process.Kill()
		_ = ai.Wait()
		if t.Failed() {
			t.Logf("example AI's log:\n%s", tail(logs.String(), 40))
		}
	})
	eventually(t, 10*time.Second, "the example AI listening", func() bool {
		c, err := net.Dial("tcp", exampleAI)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	h := startHub(t, func(cfg *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(cfg)
		cfg.Copilot = &config.Copilot{Services: []config.CopilotService{{Name: "example", URL: "ws://" + exampleAI + "/split",
			Secret: "sec_example_0123456", Participants: []string{"customer", "agent"}}}}
		for i := range cfg.Sessions.Routes {
			cfg.Sessions.Routes[i].Copilot = []string{"example"}
		}
	})
	d := startPagesIn(t, "chromium", "E2E_FAKE_AUDIO="+speechWAV(t, "Hello. I want to cancel my contract please."))
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1&ready=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.agentState === 'ready'", 20*time.Second)
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&name=Ana&autostart=1"})
	d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)
	hint := d.waitJS("agent", `(() => { const h = document.querySelector('#copilot-hints li'); return h && !document.querySelector('#copilot').hidden && h.textContent; })()`, 60*time.Second)
	if !strings.Contains(string(hint), "Retention") || !strings.Contains(string(hint), "retention discount") {
		t.Errorf("the console's hint: %s", hint)
	}
	line := d.waitJS("agent", `(() => { for (const li of document.querySelectorAll('#copilot-transcript li[data-final="true"]')) if (/contract/.test(li.textContent)) return li.textContent; return null; })()`, 30*time.Second)
	if !strings.HasPrefix(strings.Trim(string(line), `"`), "Ana:") {
		t.Errorf("the transcript line names its speaker: %s", line)
	}
	if a := d.do(map[string]any{"cmd": "eval", "page": "agent", "js": "document.querySelector('#copilot-hints a') && document.querySelector('#copilot-hints a').href"}); !strings.Contains(string(a), "https://kb.example.com/retention") {
		t.Errorf("the hint's link: %s", a)
	}
	if errs := d.do(map[string]any{"cmd": "console", "page": "agent"}); string(errs) != "[]" {
		t.Errorf("console errors on the agent page: %s", errs)
	}
	d.do(map[string]any{"cmd": "screenshot", "page": "agent", "path": filepath.Join(artifacts(t), "copilot-console.png")})
}
