package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.yaml.in/yaml/v3"

	"github.com/split-hub/split/internal/testutil/pgtest"
)

// composeFile is what TestComposeByHand reads of deploy/compose.yaml.
type composeFile struct {
	Hub      composeService            `yaml:"x-hub"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Networks    map[string]struct {
		IPv4 string `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

// composeEnvRE is a ${VAR:-default} of compose's interpolation.
var composeEnvRE = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

// TestComposeByHand runs deploy/compose.yaml's cluster without Docker, from
// the same files: the hub binary with hub1.yaml and hub2.yaml and the
// compose file's environment (its `split migrate` first), Kamailio with
// deploy/kamailio/kamailio.cfg and the compose file's arguments and
// dispatcher list, coturn with its arguments, on a throwaway PostgreSQL. Each
// container's address 172.28.0.x becomes 127.28.0.x (traffic stays on
// loopback), and each service listens on its own address, as in its own
// container. Then: both nodes ready and listed by /v1/nodes, the front's
// probes answered by both, a session created on hub1 ended through hub2,
// and a TURN allocation on coturn with the credentials the hubs hand out.
// Compose itself must accept the file: `docker compose config` (the v2
// plugin) where it is installed, else Debian's docker-compose 1.29
// (scripts/install-deps.sh installs it); neither needs a Docker daemon.
func TestComposeByHand(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd", "turnserver")
	compose := []string{"docker", "compose"}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		compose = []string{"docker-compose"}
		if _, err := exec.LookPath("docker-compose"); err != nil {
			t.Fatal("neither the docker compose plugin nor docker-compose is installed: apt-get install -y docker-compose (scripts/install-deps.sh)")
		}
	}
	args := append(compose[1:], "-f", "../../deploy/compose.yaml", "config", "-q")
	if out, err := exec.Command(compose[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(compose, " "), err, out)
	}
	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatal(err)
	}
	sub := strings.NewReplacer("172.28.0.", "127.28.0.")
	ipOf := func(name string) string {
		s, ok := cf.Services[name]
		if !ok || s.Networks["split"].IPv4 == "" {
			t.Fatalf("compose.yaml: service %s with an address on network split", name)
		}
		return sub.Replace(s.Networks["split"].IPv4)
	}
	for _, n := range []string{"hub1", "hub2", "kamailio", "coturn", "postgres", "migrate"} {
		if _, ok := cf.Services[n]; !ok {
			t.Fatalf("compose.yaml has no service %s", n)
		}
	}
	// 127.28.0.x needs no set-up: all of 127.0.0.0/8 is loopback
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dsn := pgtest.Start(t).FreshDSN(t)
	env := func(extra ...string) []string {
		e := append([]string{}, os.Environ()...)
		for k, v := range cf.Hub.Environment {
			v = composeEnvRE.ReplaceAllString(v, "$1")
			if k == "SPLIT_SESSIONS_STORE" {
				if !strings.Contains(v, "@postgres:5432/") {
					t.Fatalf("the hubs' store %q is not the postgres service", v)
				}
				v = dsn
			}
			e = append(e, k+"="+v)
		}
		return append(e, extra...)
	}
	// the schema, as the migrate service runs it
	mig := exec.Command(bin, cf.Services["migrate"].Command...)
	mig.Env = env("SPLIT_DATA_DIR=" + dir)
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("split %v: %v\n%s", cf.Services["migrate"].Command, err, out)
	}
	for _, n := range []string{"hub1", "hub2"} {
		svc := cf.Services[n]
		var cfgFile string
		for _, v := range svc.Volumes {
			if src, dst, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(dst, "/etc/split/") {
				cfgFile = src
			}
		}
		b, err := os.ReadFile(filepath.Join("../../deploy", cfgFile))
		if err != nil {
			t.Fatalf("%s's configuration %q: %v", n, cfgFile, err)
		}
		local := filepath.Join(dir, n+".yaml")
		if err := os.WriteFile(local, []byte(sub.Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{}, svc.Command...)
		for i, a := range args {
			if strings.HasPrefix(a, "/etc/split/") {
				args[i] = local
			}
		}
		ip := ipOf(n)
		data := filepath.Join(dir, n)
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		// the image's ENV listens on 0.0.0.0 in the container's own network;
		// here the nodes share one: each on its address
		cmd.Env = env("SPLIT_DATA_DIR="+data, "SPLIT_HTTP_LISTEN="+ip+":8080", "SPLIT_SIP_LISTEN_UDP="+ip+":5060",
			"SPLIT_SIP_LISTEN_TCP="+ip+":5060", "SPLIT_WEBRTC_BIND_IP="+ip, "SPLIT_RTP_BIND_IP="+ip)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				_ = os.WriteFile(filepath.Join(artifacts(t), n+".log"), []byte(logs.String()), 0o644)
			}
		})
		eventually(t, 20*time.Second, n+" ready", func() bool {
			res, err := http.Get("http://" + ip + ":8080/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == 200
		})
	}
	h1, h2 := ipOf("hub1")+":8080", ipOf("hub2")+":8080"

	// the SIP front with the compose file's arguments and dispatcher list
	ks := cf.Services["kamailio"]
	kdir := t.TempDir()
	var list string
	for _, v := range ks.Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(dst, "/etc/kamailio/dispatcher.list") {
			b, err := os.ReadFile(filepath.Join("../../deploy", src))
			if err != nil {
				t.Fatal(err)
			}
			list = filepath.Join(kdir, "dispatcher.list")
			if err := os.WriteFile(list, []byte(sub.Replace(string(b))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if list == "" {
		t.Fatal("the kamailio service mounts no dispatcher.list")
	}
	k := &kamailio{log: &syncBuffer{}, dir: kdir, ctl: filepath.Join(kdir, "kamailio_ctl"), done: make(chan struct{})}
	var kargs []string
	for _, a := range ks.Command {
		if strings.HasPrefix(a, "CTL=") {
			a = `CTL="unix:` + k.ctl + `"`
		}
		kargs = append(kargs, sub.Replace(a))
	}
	kargs = append(kargs, "-A", `DSLIST="`+list+`"`, "-A", "PROBE_INTERVAL=1")
	kcfg, _ := filepath.Abs("../../deploy/kamailio/kamailio.cfg")
	runKamailio(t, k, kcfg, kargs...)
	k.waitProbed(t, "sip:"+ipOf("hub1")+":5060", "sip:"+ipOf("hub2")+":5060")

	// the cluster: both nodes known, a session on hub1 ended through hub2
	key := composeEnvRE.ReplaceAllString(cf.Hub.Environment["SPLIT_API_KEY"], "$1")
	apiAt := func(t *testing.T, method, addr, path string, body any) (int, map[string]any) {
		t.Helper()
		return apiWithKey(t, key, method, addr, path, body)
	}
	code, nodes := apiAt(t, "GET", h1, "/v1/nodes", nil)
	if code != 200 || !strings.Contains(fmt.Sprint(nodes), "http://"+h1) || !strings.Contains(fmt.Sprint(nodes), "http://"+h2) {
		t.Fatalf("/v1/nodes: %d %v", code, nodes)
	}
	code, s := apiAt(t, "POST", h1, "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("a session on hub1: %d %v", code, s)
	}
	id := s["id"].(string)
	if code, out := apiAt(t, "DELETE", h2, "/v1/sessions/"+id, nil); code/100 != 2 {
		t.Fatalf("ended through hub2: %d %v", code, out)
	}
	eventually(t, 5*time.Second, "the session ended", func() bool {
		_, s := apiAt(t, "GET", h1, "/v1/sessions/"+id, nil)
		return s["state"] == "ended"
	})

	// coturn with the compose file's arguments, and the hubs' TURN credentials
	turnIP := ipOf("coturn")
	targs := append(append([]string{}, cf.Services["coturn"].Command...), "--listening-ip="+turnIP, "--relay-ip="+turnIP, "--log-file=stdout")
	tc := exec.Command("turnserver", targs...)
	tlog := &syncBuffer{}
	tc.Stdout, tc.Stderr = tlog, tlog
	if err := tc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Process.Kill(); _ = tc.Wait() })
	hubCfg, _ := os.ReadFile(filepath.Join(dir, "hub1.yaml"))
	user := regexp.MustCompile(`username: (\S+)`).FindSubmatch(hubCfg)
	pass := regexp.MustCompile(`credential: (\S+)`).FindSubmatch(hubCfg)
	if user == nil || pass == nil {
		t.Fatal("hub1.yaml hands out no TURN credentials")
	}
	var relay net.Addr
	eventually(t, 10*time.Second, "a TURN allocation with the hubs' credentials", func() bool {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return false
		}
		defer conn.Close()
		c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: turnIP + ":3478", STUNServerAddr: turnIP + ":3478",
			Username: string(user[1]), Password: string(pass[1]), Realm: "split.local", Conn: conn, RTO: 200 * time.Millisecond})
		if err != nil {
			return false
		}
		defer c.Close()
		if err := c.Listen(); err != nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		rc, err := c.AllocateWithContext(ctx)
		if err != nil {
			t.Logf("TURN allocation: %v", err)
			return false
		}
		relay = rc.LocalAddr()
		_ = rc.Close()
		return true
	})
	t.Logf("hub1 %s, hub2 %s, front %s, TURN relay %s", h1, h2, ipOf("kamailio"), relay)
}
