package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func targetsConfig() *Config {
	c := Default()
	c.SIP.Trunks = []Trunk{
		{Name: "acd", URI: "sip:acd.example.com:5070", Transport: "udp"},
		{Name: "pbx", URI: "sip:10.0.0.5", Transport: "udp"},
	}
	c.Sessions.Routes = []Route{{Name: "web", Target: "queue:default"}}
	return c
}

// TestTrunkFor: a target's host part is a trunk's host (ports must agree
// when both are given) or, without a port, a trunk's name, whose host and
// port the Request-URI then takes.
func TestTrunkFor(t *testing.T) {
	c := targetsConfig()
	for _, tc := range []struct {
		host  string
		port  int
		trunk string
		to    string
	}{
		{"acd", 0, "acd", "acd.example.com:5070"},
		{"ACD", 0, "acd", "acd.example.com:5070"},
		{"acd.example.com", 0, "acd", "acd.example.com:5070"},
		{"ACD.example.com", 5070, "acd", "ACD.example.com:5070"},
		{"acd.example.com", 5071, "", ""},
		{"acd", 5070, "", ""}, // a name takes no port
		{"pbx", 0, "pbx", "10.0.0.5"},
		{"10.0.0.5", 5080, "pbx", "10.0.0.5:5080"},
		{"nowhere", 0, "", ""},
		{"", 0, "", ""},
	} {
		tr, to, ok := c.TrunkFor(tc.host, tc.port)
		got, gotTo := "", ""
		if ok {
			got, gotTo = tr.Name, hostPort(to)
		}
		if got != tc.trunk || gotTo != tc.to {
			t.Errorf("TrunkFor(%q, %d) = %q %q, want %q %q", tc.host, tc.port, got, gotTo, tc.trunk, tc.to)
		}
	}
	// A host wins over a name: a trunk named like another trunk's host.
	c.SIP.Trunks = append(c.SIP.Trunks, Trunk{Name: "10.0.0.5", URI: "sip:192.0.2.1", Transport: "udp"})
	if tr, _, ok := c.TrunkFor("10.0.0.5", 0); !ok || tr.Name != "pbx" {
		t.Errorf("host 10.0.0.5 went to %v", tr)
	}
}

// TestValidateRouteTargets: config check refuses a SIP target that no trunk
// can carry (it used to accept them; every call then failed), and says why.
func TestValidateRouteTargets(t *testing.T) {
	for _, tc := range []struct {
		target     string
		defaultTo  string
		wantErr    string
		onOverflow bool
	}{
		{target: "sip:6000@acd"},
		{target: "sips:6000@acd"},
		{target: "sip:6000@acd;user=phone"},
		{target: "6000@acd"},
		{target: "sip:6000@acd.example.com"},
		{target: "sip:6000@acd.example.com:5070"},
		{target: "sip:+34910000000@10.0.0.5:5060"},
		{target: "6000", defaultTo: "pbx"},
		{target: "sip:7000@acd", onOverflow: true},
		{target: "sip:6000@acd-typo", wantErr: `"acd-typo" is neither the name nor the host of a trunk (sip.trunks: acd (sip:acd.example.com:5070), pbx (sip:10.0.0.5))`},
		{target: "sip:6000@acd.example.com:5071", wantErr: `"acd.example.com:5071" is neither the name nor the host of a trunk`},
		{target: "sip:6000@acd:5070", wantErr: `"acd:5070" is neither the name nor the host of a trunk`},
		{target: "sip:6000@acd-typo", onOverflow: true, wantErr: "sessions.queues[0].overflow:"},
		{target: "6000", wantErr: "goes to sip.default_trunk, which is not set"},
		{target: "sip:acd"}, // the trunk itself, no user: as the dialler does
		{target: "agent:bob", wantErr: "an agent is not a target here"},
		{target: "sip:6000@acd?X-A=1", wantErr: "a target carries no URI headers"},
		{target: "sip:60[0@acd", wantErr: "bad user part"},
		{target: "sip:6000@acd:", wantErr: "bad host"},
		{target: "sip:6000@acd:99999", wantErr: "bad host"},
		{target: "sip:6000@[::1]:5060", wantErr: `"[::1]:5060" is neither the name nor the host of a trunk`},
		{target: "sip:6000@acd\r\nX: y", wantErr: "is not a SIP URI or a number"},
	} {
		c := targetsConfig()
		c.SIP.DefaultTo = tc.defaultTo
		key := "sessions.routes[0].target:"
		if tc.onOverflow {
			c.Sessions.Queues[0].Overflow = tc.target
			key = "sessions.queues[0].overflow:"
		} else {
			c.Sessions.Routes[0].Target = tc.target
		}
		err := c.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.target, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%q: accepted, want %q", tc.target, tc.wantErr)
		case tc.wantErr != "" && (!strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), key)):
			t.Errorf("%q: %v\nwant %s … %s", tc.target, err, key, tc.wantErr)
		}
	}
	c := targetsConfig()
	c.SIP.Trunks = nil
	c.Sessions.Routes[0].Target = "sip:6000@acd"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "no sip.trunks are configured") {
		t.Errorf("without trunks: %v", err)
	}
}

// TestACDDocConfig: the configuration of docs/acd.md passes config check
// (LoadFile + Validate, as `split config check` does), and the same file
// with a route to a host that is no trunk's does not.
func TestACDDocConfig(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "acd.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## SPLIT configuration")
	if !ok {
		t.Fatal("docs/acd.md has no SPLIT configuration section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	yaml, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in the SPLIT configuration section")
	}
	if !strings.Contains(yaml, "target: sip:6000@acd\n") {
		t.Fatalf("the example no longer routes to sip:6000@acd:\n%s", yaml)
	}
	check := func(text string) error {
		p := filepath.Join(t.TempDir(), "split.yaml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadFile(p, nil)
		if err != nil {
			return err
		}
		return c.Validate()
	}
	if err := check(yaml); err != nil {
		t.Fatalf("the docs' configuration fails config check: %v\n%s", err, yaml)
	}
	bad := strings.Replace(yaml, "target: sip:6000@acd\n", "target: sip:6000@acd-typo\n", 1)
	if err := check(bad); err == nil || !strings.Contains(err.Error(), "target:") || !strings.Contains(err.Error(), "acd-typo") {
		t.Fatalf("a route to an unknown host: %v", err)
	}
}
