package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const waTrunkYAML = `
sip:
  listen_tls: 127.0.0.1:5061
  tls_cert: c.pem
  tls_key: k.pem
  trunks:
    - name: meta
      provider: whatsapp
      hostname: sip.example.com
      number: "+17015558857"
      password: meta-Secret-1
      inbound_from: [31.13.64.0/18, 57.144.0.0/14]
`

// A provider: whatsapp trunk gets Meta's defaults and validates.
func TestWhatsAppTrunkDefaults(t *testing.T) {
	c, err := Load(strings.NewReader(waTrunkYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := c.SIP.Trunks[0]
	if tr.URI != "sip:wa.meta.vc:5061" || tr.Transport != "tls" || tr.SRTP != "sdes" || len(tr.Codecs) != 1 || tr.Codecs[0] != "opus" {
		t.Errorf("defaults: %+v", tr)
	}
	if tr.DigestUser() != "17015558857" || !tr.ChallengesInbound() || !tr.IsWhatsApp() {
		t.Errorf("digest user %q, challenge %v", tr.DigestUser(), tr.ChallengesInbound())
	}
	off := false
	tr.ChallengeInbound = &off
	if tr.ChallengesInbound() {
		t.Error("challenge_inbound: false ignored")
	}
}

// Every rule of Meta's contract that a config can break is named.
func TestWhatsAppTrunkValidation(t *testing.T) {
	c, err := Load(strings.NewReader(waTrunkYAML))
	if err != nil {
		t.Fatal(err)
	}
	tr := &c.SIP.Trunks[0]
	tr.Hostname, tr.Number, tr.Password, tr.Transport, tr.SRTP = "", "17015558857", "", "udp", "none"
	tr.Register, tr.Video, tr.Codecs = true, true, []string{"PCMU"}
	c.SIP.Trunks = append(c.SIP.Trunks, Trunk{Name: "pbx", URI: "sip:pbx", Transport: "udp", Number: "+1"},
		Trunk{Name: "x", URI: "sip:x", Transport: "udp", Provider: "teams"})
	err = c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"[0].hostname", "[0].number", "[0].password", "[0].transport", "[0].srtp", "[0].register",
		"[0].video", "[0].codecs", "[1].provider", "[2].provider"} {
		if !strings.Contains(err.Error(), "sip.trunks"+key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
}

// The trunk password never shows in %v, %+v, %#v or slog.
func TestTrunkRedactsPassword(t *testing.T) {
	tr := Trunk{Name: "meta", Provider: "whatsapp", Password: "meta-Secret-1"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("trunk", "t", tr)
	for _, s := range []string{fmt.Sprintf("%v", tr), fmt.Sprintf("%+v", tr), fmt.Sprintf("%#v", tr), fmt.Sprint(&tr), buf.String()} {
		if strings.Contains(s, "meta-Secret-1") {
			t.Errorf("password leaked: %s", s)
		}
		if !strings.Contains(s, "meta") {
			t.Errorf("trunk unreadable: %s", s)
		}
	}
}
