package config

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
}

func TestLoadStrictRejectsUnknownKeys(t *testing.T) {
	_, err := Load(strings.NewReader("http:\n  listne: 1.2.3.4:80\n"))
	if err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("want unknown-key error naming listne, got %v", err)
	}
}

func TestLoadOverridesDefaults(t *testing.T) {
	c, err := Load(strings.NewReader(`
http:
  listen: 0.0.0.0:9000
sip:
  trunks:
    - name: pbx
      uri: sip:10.0.0.5:5070
      username: split
      password: s3cret
default_trunk_unused: false
`))
	if err == nil {
		t.Fatal("unknown top-level key must fail")
	}
	c, err = Load(strings.NewReader(`
http:
  listen: 0.0.0.0:9000
sip:
  default_trunk: pbx
  trunks:
    - name: pbx
      uri: sip:10.0.0.5:5070
drain_timeout: 5s
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "0.0.0.0:9000" || c.DrainTimeout != 5*time.Second {
		t.Fatalf("not applied: %+v", c.HTTP)
	}
	if c.SIP.ListenUDP != "127.0.0.1:5060" {
		t.Fatalf("default lost: %q", c.SIP.ListenUDP)
	}
	tr, ok := c.Trunk("pbx")
	if !ok || tr.Transport != "udp" || len(tr.Codecs) != 2 {
		t.Fatalf("trunk defaults not applied: %+v", tr)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryErrorWithKey(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	c.HTTP.Listen = "nope"
	c.SIP.Trunks = []Trunk{{Name: "a", URI: "", Transport: "smoke", Codecs: []string{"G729"}}}
	c.SIP.DefaultTo = "b"
	c.RTP.PortMin = 10
	err := c.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{"log.level", "http.listen", "sip.trunks[0].uri", "sip.trunks[0].transport",
		"sip.trunks[0].codecs[0]", "sip.default_trunk", "rtp.port_min"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	c, err := Load(strings.NewReader("sip:\n  trunks:\n    - name: pbx\n      uri: sip:pbx.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"SPLIT_API_KEY=0123456789abcdef0123",
		"SPLIT_HTTP_LISTEN=127.0.0.1:9999",
		"SPLIT_SIP_ALLOW=10.0.0.0/8, 192.0.2.1",
		"SPLIT_SIP_TRUNKS_0_PASSWORD=pw",
		"SPLIT_DRAIN_TIMEOUT=3s",
		"SPLIT_WEBRTC_VIDEO=false",
		"SPLIT_NOT_A_KEY=1",
		"HOME=/root",
	}
	if err := ApplyEnv(c, env); err != nil {
		t.Fatal(err)
	}
	if c.API.Key != "0123456789abcdef0123" || c.HTTP.Listen != "127.0.0.1:9999" || c.SIP.Trunks[0].Password != "pw" ||
		c.DrainTimeout != 3*time.Second || c.WebRTC.Video || len(c.SIP.Allow) != 2 || c.SIP.Allow[1] != "192.0.2.1" {
		t.Fatalf("env not applied: %+v", c)
	}
	if u := UnknownEnv(c, env); len(u) != 1 || u[0] != "SPLIT_NOT_A_KEY" {
		t.Fatalf("unknown env = %v", u)
	}
	if err := ApplyEnv(c, []string{"SPLIT_RTP_PORT_MIN=many"}); err == nil || !strings.Contains(err.Error(), "SPLIT_RTP_PORT_MIN") {
		t.Fatalf("want error naming the variable, got %v", err)
	}
}

func TestParseTrunkURI(t *testing.T) {
	for in, want := range map[string]TrunkURI{
		"sip:pbx.example.com":        {Host: "pbx.example.com"},
		"sip:10.0.0.1:5070":          {Host: "10.0.0.1", Port: 5070},
		"pbx:5060":                   {Host: "pbx", Port: 5060},
		"sip:queue@acd.local:5080;x": {Host: "acd.local", Port: 5080},
	} {
		got, err := ParseTrunkURI(in)
		if err != nil || got != want {
			t.Errorf("%q: got %+v %v want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "sip:", "sip:host:99999", "sip:a b"} {
		if _, err := ParseTrunkURI(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestPoolNumbers(t *testing.T) {
	got, err := PoolNumbers([]string{"+34910000198-+34910000201", "+34910000100", " 0034910000300-0034910000301 "})
	want := "+34910000198 +34910000199 +34910000200 +34910000201 +34910000100 0034910000300 0034910000301"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("PoolNumbers = %v, %v; want %s", got, err, want)
	}
	for _, bad := range [][]string{{"abc"}, {"+3491-+34912"}, {"+34910000200-+34910000100"}, {"+34910000100-34910000101"},
		{"+1000000000-+1999999999"}, {"12"}} {
		if _, err := PoolNumbers(bad); err == nil {
			t.Errorf("PoolNumbers(%q) accepted", bad)
		}
	}
}

func TestValidateHTTPLimits(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.IdleTimeout <= 25*time.Second || c.HTTP.MaxConnsPerIP < 100 {
		t.Fatalf("defaults: %+v", c.HTTP)
	}
	c.HTTP.ReadHeaderTimeout, c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout, c.HTTP.MaxConnsPerIP = 0, -1, 0, 0, 0
	err := c.Validate()
	for _, want := range []string{"http.read_header_timeout: must be positive", "http.read_timeout: must be positive",
		"http.write_timeout: must be positive", "http.idle_timeout: must be positive", "http.max_conns_per_ip: must be at least 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	c = Default()
	c.HTTP.ReadHeaderTimeout = time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "must not exceed http.read_timeout") {
		t.Errorf("header timeout above the request's: %v", err)
	}
	c = Default()
	if err := ApplyEnv(c, []string{"SPLIT_HTTP_MAX_CONNS_PER_IP=50", "SPLIT_HTTP_IDLE_TIMEOUT=90s"}); err != nil {
		t.Fatal(err)
	}
	if c.HTTP.MaxConnsPerIP != 50 || c.HTTP.IdleTimeout != 90*time.Second {
		t.Fatalf("environment: %+v", c.HTTP)
	}
}

// An AI service's token and secret never reach a log or a %v.
func TestCopilotServiceRedacted(t *testing.T) {
	s := CopilotService{Name: "assist", URL: "wss://ai.example.com/split", Token: "tok-SECRET-1", Secret: "sec-SECRET-2"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("service", "s", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), b.String()} {
		if strings.Contains(out, "SECRET") || !strings.Contains(out, "assist") {
			t.Errorf("printed: %s", out)
		}
	}
}

// The copilot section's checks: ws:// only to loopback, known formats and
// roles, routes naming services that exist (or the built-in analytics),
// SIPREC servers on tcp/tls trunks.
func TestCopilotConfigChecks(t *testing.T) {
	bad := map[string]func(c *Config){
		"ws:// off loopback":  func(c *Config) { c.Copilot.Services[0].URL = "ws://ai.example.com/split" },
		"format":              func(c *Config) { c.Copilot.Services[0].Format = "grpc" },
		"role":                func(c *Config) { c.Copilot.Services[0].Participants = []string{"boss"} },
		"reserved name":       func(c *Config) { c.Copilot.Services[0].Name = "analytics" },
		"route names nothing": func(c *Config) { c.Sessions.Routes[0].Copilot = []string{"nope"} },
		"siprec on udp":       func(c *Config) { c.SIP.SIPREC = []SIPRECServer{{Name: "r", URI: "sip:srs@" + c.SIP.Trunks[0].Name}} },
		"route names no srs":  func(c *Config) { c.Sessions.Routes[0].SIPREC = "nope" },
	}
	mk := func() *Config {
		c := Default()
		c.SIP.Trunks = []Trunk{{Name: "pbx", URI: "sip:127.0.0.1:5080", Transport: "udp"}}
		c.Copilot = &Copilot{Services: []CopilotService{{Name: "assist", URL: "wss://ai.example.com/split"}}}
		c.Sessions.Routes = []Route{{Name: "r", Target: "queue:default", Copilot: []string{"assist", "analytics"}}}
		return c
	}
	if err := mk().Validate(); err != nil {
		t.Fatalf("a good copilot section: %v", err)
	}
	for name, f := range bad {
		c := mk()
		f(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidateACME(t *testing.T) {
	c := Default()
	if c.HTTP.ACME.Enabled() || c.HTTP.TLS() {
		t.Fatal("ACME or TLS on by default")
	}
	if got := c.HTTP.BaseURL("127.0.0.1:8080"); got != "http://127.0.0.1:8080" {
		t.Errorf("plain base URL %q", got)
	}
	if err := ApplyEnv(c, []string{"SPLIT_HTTP_ACME_HOSTNAME=split.example.com", "SPLIT_HTTP_ACME_EMAIL=ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("ACME from the environment: %v", err)
	}
	if !c.HTTP.TLS() {
		t.Error("ACME does not make the listener HTTPS")
	}
	for listen, want := range map[string]string{"0.0.0.0:443": "https://split.example.com", "0.0.0.0:8443": "https://split.example.com:8443"} {
		if got := c.HTTP.BaseURL(listen); got != want {
			t.Errorf("BaseURL(%s) = %q, want %q", listen, got, want)
		}
	}
	c.HTTP.PublicURL = "https://video.example.com/"
	if got := c.HTTP.BaseURL("0.0.0.0:443"); got != "https://video.example.com" {
		t.Errorf("public_url not first: %q", got)
	}
	c.HTTP.ACME.Hostnames = []string{"agents.example.com", "split.example.com"}
	if got := c.HTTP.ACME.Names(); strings.Join(got, ",") != "split.example.com,agents.example.com" {
		t.Errorf("names %v", got)
	}

	bad := map[string]func(c *Config){
		"use either http.acme or http.tls_cert":         func(c *Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = "c.pem", "k.pem" },
		`"https://split.example.com" is not a DNS name`: func(c *Config) { c.HTTP.ACME.Hostname = "https://split.example.com" },
		`"10.0.0.1" is not a DNS name`:                  func(c *Config) { c.HTTP.ACME.Hostname = "10.0.0.1" },
		`"localhost" is not a DNS name`:                 func(c *Config) { c.HTTP.ACME.Hostname = "localhost" },
		`"split.example.com:443" is not a DNS name`:     func(c *Config) { c.HTTP.ACME.Hostname = "split.example.com:443" },
		`"-a.example.com" is not a DNS name`:            func(c *Config) { c.HTTP.ACME.Hostnames = []string{"-a.example.com"} },
		"http.acme.hostname: required":                  func(c *Config) { c.HTTP.ACME.Hostname, c.HTTP.ACME.Hostnames = "", []string{"a.example.com"} },
		"http.acme.directory_url: must be an https://":  func(c *Config) { c.HTTP.ACME.DirectoryURL = "http://ca.example.com/dir" },
		"http.acme.http_listen: must be host:port":      func(c *Config) { c.HTTP.ACME.HTTPListen = "80" },
		"http.acme.email: must be an e-mail address":    func(c *Config) { c.HTTP.ACME.Email = "ops" },
	}
	for want, f := range bad {
		c := Default()
		c.HTTP.ACME.Hostname = "split.example.com"
		f(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
}

func TestValidateClusterAddresses(t *testing.T) {
	good := map[string]func(c *Config){
		"defaults":             func(c *Config) {},
		"http address":         func(c *Config) { c.Cluster.Address = "http://10.0.0.11:8080" },
		"https address, slash": func(c *Config) { c.Cluster.Address = "https://hub1.example.com/" },
		"sip address":          func(c *Config) { c.Cluster.SIPAddress = "sip:10.0.0.11:5060" },
		"sip over tcp":         func(c *Config) { c.Cluster.SIPAddress = "sip:hub1.example.com:5060;transport=tcp" },
		"sips, no port":        func(c *Config) { c.Cluster.SIPAddress = "sips:hub1.example.com" },
	}
	for name, f := range good {
		c := Default()
		f(c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string]func(c *Config){
		"ftp":             func(c *Config) { c.Cluster.Address = "ftp://10.0.0.11" },
		"no host":         func(c *Config) { c.Cluster.Address = "http://" },
		"a path":          func(c *Config) { c.Cluster.Address = "http://10.0.0.11:8080/split" },
		"a user part":     func(c *Config) { c.Cluster.SIPAddress = "sip:hub@10.0.0.11:5060" },
		"not sip":         func(c *Config) { c.Cluster.SIPAddress = "10.0.0.11:5060" },
		"other parameter": func(c *Config) { c.Cluster.SIPAddress = "sip:10.0.0.11;lr" },
		"header injected": func(c *Config) { c.Cluster.SIPAddress = "sip:10.0.0.11>\r\nX: y" },
	}
	for name, f := range bad {
		c := Default()
		f(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "cluster.") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
