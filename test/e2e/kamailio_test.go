package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/split-hub/split/internal/config"
)

// A real kamailio (registrar + authenticating proxy, no database) between the
// hub and the SIP world: the hub registers to it with digest auth, phones
// reach browser identities through it, and the hub's outbound INVITEs answer
// its 407 challenge. The config is rendered from kamailio/kamailio.cfg.tmpl.

const (
	kamAddr  = "127.0.0.1:15070"
	kamUser  = "split"
	kamPass  = "s3cret-pass"
	kamRealm = "split.test"
)

type kamailio struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	dir  string
	ctl  string
	done chan struct{}
	err  error
}

// startKamailio renders the config into t.TempDir() and runs kamailio in the
// foreground (-DD -E) until the test ends; its log goes to artifacts on failure.
func startKamailio(t *testing.T) *kamailio {
	t.Helper()
	return startKamailioCfg(t, "kamailio.cfg.tmpl", nil)
}

// startKamailioCfg renders kamailio/<file> with the common values plus extra.
func startKamailioCfg(t *testing.T, file string, extra map[string]string) *kamailio {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("kamailio", file))
	if err != nil {
		t.Fatal(err)
	}
	gwHost, gwPort, _ := net.SplitHostPort(pbxAddr)
	dir := t.TempDir()
	k := &kamailio{log: &syncBuffer{}, dir: dir, ctl: filepath.Join(dir, "kamailio_ctl"), done: make(chan struct{})}
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	f, err := os.Create(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{
		"Listen": kamAddr, "RunDir": dir, "User": kamUser, "Password": kamPass, "Realm": kamRealm,
		"Gateway": pbxAddr, "GatewayHost": gwHost, "GatewayPort": gwPort,
	}
	for k, v := range extra {
		data[k] = v
	}
	err = tmpl.Execute(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return runKamailio(t, k, cfgPath)
}

// runKamailio checks and runs the config at cfgPath (with args, e.g. -A
// defines) in the foreground until the test ends.
func runKamailio(t *testing.T, k *kamailio, cfgPath string, args ...string) *kamailio {
	t.Helper()
	dir := k.dir
	if out, err := exec.Command("kamailio", append([]string{"-c", "-f", cfgPath}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("kamailio config check failed: %v\n%s", err, out)
	}
	k.cmd = exec.Command("kamailio", append([]string{"-f", cfgPath, "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"),
		"-m", "64", "-M", "8"}, args...)...)
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	// Own process group, so the children it forks can be stopped with it.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(k.done)
		k.err = k.cmd.Wait()
	}()
	t.Cleanup(func() {
		pgid := k.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-k.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-k.done
		}
		// Reap stragglers of this group (children outliving the main process).
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		for _, l := range strings.Split(k.log.String(), "\n") {
			if strings.Contains(l, "AUTH-") || strings.Contains(l, "LOOKUP") || strings.Contains(l, "failure ") {
				t.Logf("kamailio: %s", strings.TrimSpace(l))
			}
		}
		if t.Failed() {
			a := artifacts(t)
			_ = os.WriteFile(filepath.Join(a, "kamailio.log"), []byte(k.log.String()), 0o644)
			if b, err := os.ReadFile(cfgPath); err == nil {
				_ = os.WriteFile(filepath.Join(a, "kamailio.cfg"), b, 0o644)
			}
			t.Logf("kamailio log: %s", filepath.Join(a, "kamailio.log"))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := k.rpc("core.uptime"); err == nil {
			break
		}
		select {
		case <-k.done:
			t.Fatalf("kamailio exited at start: %v\n%s", k.err, tail(k.log.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio not ready:\n%s", tail(k.log.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return k
}

// rpc runs one kamcmd command over the ctl socket.
func (k *kamailio) rpc(args ...string) (string, error) {
	out, err := exec.Command("kamcmd", append([]string{"-s", "unix:" + k.ctl}, args...)...).CombinedOutput()
	return string(out), err
}

// waitLog waits until kamailio's log contains s.
func (k *kamailio) waitLog(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(k.log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("kamailio never logged %q; log:\n%s", s, tail(k.log.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitBinding polls usrloc until contact is registered for aor and returns the dump.
func (k *kamailio) waitBinding(t *testing.T, aor, contact string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var out string
	var err error
	for time.Now().Before(deadline) {
		out, err = k.rpc("ul.lookup", "location", aor)
		if err == nil && strings.Contains(out, contact) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no binding %s for %s in kamailio within %s: %v\n%s\nkamailio log:\n%s", contact, aor, within, err, out,
		tail(k.log.String(), 3000))
	return ""
}

func waitHubLog(h *hub, s string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(h.logs.String(), s) {
		if time.Now().After(deadline) {
			h.t.Fatalf("hub never logged %q; log:\n%s", s, tail(h.logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kamTrunk is the hub's trunk "kam" toward kamailio.
func kamTrunk(password string, register bool) func(*config.Config) {
	return func(c *config.Config) {
		c.SIP.Trunks = []config.Trunk{{Name: "kam", URI: "sip:" + kamAddr, Transport: "udp", Username: kamUser,
			Password: password, Register: register, RegisterExpiry: 60 * time.Second, Codecs: []string{"PCMU", "PCMA"},
			InboundFrom: []string{"127.0.0.1"}}}
		c.SIP.DefaultTo = "kam"
	}
}

// The hub registers "split" to kamailio (401 challenge, digest with qop=auth);
// a phone (sipp) calls sip:split@kamailio, kamailio looks the binding up and
// relays the INVITE to the hub's contact; the page logged in as "split" rings,
// answers, hears the phone, and the phone's BYE (routed back through
// kamailio by Record-Route) ends the call.
func TestKamailioRegisterAndInbound(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd", "sipp", "node", "chromium")
	k := startKamailio(t)
	h := startHub(t, kamTrunk(kamPass, true))

	contact := "sip:" + kamUser + "@" + hubSIP
	binding := k.waitBinding(t, kamUser, contact, 15*time.Second)
	waitHubLog(h, "registered", 5*time.Second)
	log := k.log.String()
	if !strings.Contains(log, "AUTH-REG challenge") {
		t.Errorf("kamailio never challenged the REGISTER:\n%s", tail(log, 3000))
	}
	if !strings.Contains(log, "AUTH-REG ok user="+kamUser) || !strings.Contains(log, "expires=60") {
		t.Errorf("kamailio did not accept an authenticated REGISTER for %s with Expires 60:\n%s", kamUser, tail(log, 3000))
	}
	if !strings.Contains(binding, "Expires") {
		t.Errorf("ul.lookup output unexpected:\n%s", binding)
	}
	t.Logf("binding:\n%s", binding)

	br := startBrowser(t, map[string]any{"url": h.pageURL(kamUser), "mode": "answer", "talkMs": 12000})
	br.ready(t)
	phone := startSipp(t, kamAddr, "-sf", "kamailio/uac_call_proxy.xml", "-s", kamUser, "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(pbxMedia), "-m", "1")
	code := phone.wait(t, 30*time.Second)
	res := br.wait(t, 30*time.Second)
	if code != 0 {
		t.Fatalf("sipp phone (via kamailio) failed: exit %d", code)
	}
	if !strings.Contains(k.log.String(), "LOOKUP ok relaying to "+contact) {
		t.Errorf("kamailio did not relay the INVITE to the registered contact %s", contact)
	}
	if !strings.Contains(k.log.String(), "REQ ACK "+contact) {
		t.Errorf("the phone's ACK did not pass kamailio (Record-Route) toward %s", contact)
	}
	if !strings.Contains(k.log.String(), "REQ BYE "+contact) {
		t.Errorf("the phone's BYE did not pass kamailio (Record-Route) toward %s", contact)
	}
	// The page rang: the hub's 180 went back through kamailio to the phone.
	if !strings.Contains(k.log.String(), "REPLY 180 Ringing from "+hubSIP) {
		t.Errorf("no 180 Ringing from the hub passed kamailio")
	}
	for _, s := range []string{"active", "ended"} {
		if !res.sawState(s) {
			t.Errorf("page never saw state %q: %v", s, res.States)
		}
	}
	if res.Stats != nil {
		t.Logf("page audio: codec=%s received=%d sent=%d", res.Stats.Audio.Codec, res.Stats.Audio.PacketsReceived, res.Stats.Audio.PacketsSent)
	}
	if res.Stats == nil || res.Stats.Audio.PacketsReceived < 50 {
		t.Fatalf("page received too little audio from the phone: %+v", res.Stats)
	}
	if res.Ended == nil || res.Ended.Code != 200 {
		t.Errorf("ended = %+v, want the phone's hangup (200)", res.Ended)
	}
	h.waitMetric(`split_calls_ended_total{direction="inbound",result="success"} 1`, 5*time.Second)
}

// With a wrong password kamailio answers the digest with another 401; the
// hub logs "REGISTER failed" and no binding is created.
func TestKamailioRegisterWrongPassword(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	k := startKamailio(t)
	h := startHub(t, kamTrunk("wrong-"+kamPass, true))
	waitHubLog(h, "REGISTER failed", 15*time.Second)
	log := k.log.String()
	if n := strings.Count(log, "AUTH-REG challenge rc=-2 user="+kamUser); n < 1 {
		t.Errorf("kamailio rejected %d digests as a wrong password (rc=-2), want ≥1:\n%s", n, tail(log, 3000))
	}
	if strings.Contains(log, "AUTH-REG ok") {
		t.Errorf("kamailio accepted a REGISTER with a wrong password:\n%s", tail(log, 3000))
	}
	if out, err := k.rpc("ul.lookup", "location", kamUser); err == nil && strings.Contains(out, hubSIP) {
		t.Errorf("binding exists despite the wrong password:\n%s", out)
	}
	if strings.Contains(h.logs.String(), `msg=registered`) {
		t.Errorf("hub claims it registered with a wrong password")
	}
}

// The page calls 1000; the hub's INVITE to kamailio is challenged with 407,
// the hub retries with Proxy-Authorization, kamailio relays it (R-URI host and
// port rewritten) to sipp at 127.0.0.1:15090, which answers and echoes RTP:
// audio flows both ways and the page's hang-up reaches sipp through kamailio.
func TestKamailioOutboundDigest(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd", "sipp", "node", "chromium")
	k := startKamailio(t)
	h := startHub(t, kamTrunk(kamPass, false))
	pbx := startSipp(t, "-sf", "kamailio/uas_echo_rr.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 6000, "hangup": "local"})
	res := br.wait(t, 40*time.Second)
	code := pbx.wait(t, 15*time.Second)

	log := k.log.String()
	if !strings.Contains(log, "AUTH-INV challenge") {
		t.Errorf("kamailio never challenged the hub's INVITE with 407")
	}
	if !strings.Contains(log, "AUTH-INV ok user="+kamUser+" relaying to sip:1000@"+pbxAddr) {
		t.Errorf("kamailio did not accept the hub's Proxy-Authorization and relay to %s", pbxAddr)
	}
	if code != 0 {
		t.Fatalf("sipp (behind kamailio) failed: exit %d", code)
	}
	for _, s := range []string{"active", "ended"} {
		if !res.sawState(s) {
			t.Errorf("page never saw state %q: %v", s, res.States)
		}
	}
	st := res.Stats
	if st == nil {
		t.Fatalf("no stats from the page: %v", res.Errors)
	}
	t.Logf("page audio: codec=%s received=%d sent=%d", st.Audio.Codec, st.Audio.PacketsReceived, st.Audio.PacketsSent)
	if st.Audio.PacketsSent < 100 || st.Audio.PacketsReceived < 100 {
		t.Errorf("page RTP sent=%d received=%d, want ≥100 each way", st.Audio.PacketsSent, st.Audio.PacketsReceived)
	}
	if res.Ended == nil || res.Ended.Code != 200 {
		t.Errorf("ended = %+v, want local hangup 200", res.Ended)
	}
	if !strings.Contains(k.log.String(), "REQ ACK sip:"+pbxAddr) {
		t.Errorf("the hub's ACK did not pass kamailio (Record-Route)")
	}
	if !strings.Contains(k.log.String(), "REQ BYE sip:"+pbxAddr) {
		t.Errorf("the hub's BYE did not pass kamailio (Record-Route)")
	}
	if strings.Contains(h.logs.String(), "BYE failed") {
		t.Errorf("the hub's BYE got no final response (hub logged \"BYE failed\")")
	}
	h.waitMetric(`split_calls_ended_total{direction="outbound",result="success"} 1`, 5*time.Second)
}
