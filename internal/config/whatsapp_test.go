package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const whatsappSectionYAML = `
sip:
  trunks:
    - {name: meta, provider: whatsapp, hostname: sip.hub.example.com, number: "+13175551399", password: meta-generated}
sessions:
  entry_points:
    - {name: default, public: true}
    - {name: whatsapp}
  routes:
    - {name: wa, entry: whatsapp, days: [mon, tue, wed, thu, fri], hours: "08:00-20:00", time_zone: Europe/Madrid, target: "queue:default"}
whatsapp:
  app_secret: file-secret
  verify_token: verify-me
  forward: {url: "https://chat.example.com/meta"}
  numbers:
    - phone_number_id: "106540352242922"
      number: "+15550783881"
      access_token: file-token
      keywords: [agent, call me]
      permission_template: {name: may_we_call, language: en_US}
    - phone_number_id: "436666719526789"
      number: "+13175551399"
      access_token: second-token
      signalling: sip
      calling: true
      sip: {hostname: sip.hub.example.com, password: ""}
`

func TestWhatsAppSection(t *testing.T) {
	c, err := Load(strings.NewReader(whatsappSectionYAML))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SPLIT_WHATSAPP_APP_SECRET=env-app-secret-1", "SPLIT_WHATSAPP_NUMBERS_0_ACCESS_TOKEN=EAAG-env-1",
		"SPLIT_WHATSAPP_NUMBERS_1_SIP_PASSWORD=sip-env-pass-1", "SPLIT_WHATSAPP_MAX_EVENT_AGE=90s"}
	if err := ApplyEnv(c, env); err != nil {
		t.Fatal(err)
	}
	if u := UnknownEnv(c, env); len(u) != 0 {
		t.Errorf("unknown: %v", u)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	w, ok := c.WhatsAppService()
	if !ok {
		t.Fatal("no service")
	}
	if w.AppSecret != "env-app-secret-1" || w.Numbers[0].AccessToken != "EAAG-env-1" || w.Numbers[1].SIP.Password != "sip-env-pass-1" ||
		w.MaxEventAge != 90*time.Second {
		t.Fatalf("env not applied: %+v", c.WhatsApp)
	}
	// defaults
	n0, n1 := w.Numbers[0], w.Numbers[1]
	if w.BaseURL != DefaultWhatsAppBaseURL || w.Version != "v25.0" || w.Forward.Attempts != DefaultWhatsAppForwardTries ||
		w.Forward.Timeout != DefaultWhatsAppForwardWait || n0.Entry != "whatsapp" || n0.Signalling != "graph" ||
		n0.AcceptTimeout != DefaultWhatsAppAcceptTimeout || !n0.CallingEnabled() || !n0.CallbackPermissionEnabled() ||
		n1.SIP.Port != 5061 || n1.SIP.SRTP != "sdes" {
		t.Fatalf("defaults: %v", w)
	}
	if c.WhatsApp.Numbers[1].SIP.Port != 0 {
		t.Error("WithDefaults changed the loaded configuration")
	}
	if n, ok := w.Number("436666719526789"); !ok || n.Number != "+13175551399" {
		t.Errorf("Number: %v %v", n, ok)
	}
	// Secrets never show in fmt or slog output.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "whatsapp", w, "number", n1, "sip", *n1.SIP)
	for _, out := range []string{fmt.Sprint(w), fmt.Sprintf("%+v", c.WhatsApp), fmt.Sprintf("%#v", w), fmt.Sprintf("%v", n1), buf.String()} {
		for _, secret := range []string{"env-app-secret-1", "verify-me", "EAAG-env-1", "second-token", "sip-env-pass-1"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q in %s", secret, out)
			}
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("no redaction marker: %s", out)
		}
	}
}

func TestWhatsAppEnvNeedsSection(t *testing.T) {
	c, err := Load(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	err = ApplyEnv(c, []string{"SPLIT_WHATSAPP_APP_SECRET=x"})
	if err == nil || !strings.Contains(err.Error(), "whatsapp") {
		t.Fatalf("env without the section: %v", err)
	}
}

func TestWhatsAppLegacyNotify(t *testing.T) {
	c, err := Load(strings.NewReader(whatsappYAML)) // sessions.notify.whatsapp only
	if err != nil {
		t.Fatal(err)
	}
	if c.WhatsApp != nil {
		t.Fatal("a whatsapp: section appeared")
	}
	w, ok := c.WhatsAppService()
	if !ok || len(w.Numbers) != 1 || w.Numbers[0].PhoneNumberID != "123456789" || w.Numbers[0].AccessToken != "file-token" ||
		w.Numbers[0].CallingEnabled() || w.BaseURL != DefaultWhatsAppBaseURL {
		t.Fatalf("legacy service: %v %v", w, ok)
	}
	if _, ok := Default().WhatsAppService(); ok {
		t.Error("the defaults have a WhatsApp service")
	}
}

func TestWhatsAppValidation(t *testing.T) {
	bad := `
whatsapp:
  base_url: "ftp://x"
  version: "25"
  app_secret: same
  verify_token: same
  forward: {url: "chat.example.com", attempts: 50, timeout: -1s}
  max_event_age: -1s
  numbers:
    - {phone_number_id: "+1555", number: "15550783881", entry: nowhere, signalling: pigeon, accept_timeout: 90s, keywords: [" "], permission_template: {name: x}}
    - {phone_number_id: "1", number: "+15550783881", access_token: t, signalling: sip}
    - {phone_number_id: "1", number: "+15550783882", access_token: t, sip: {hostname: "bad host", port: 70000, srtp: zrtp}}
`
	c, err := Load(strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, key := range []string{"whatsapp.base_url", "whatsapp.version", "whatsapp.verify_token: equals app_secret",
		"whatsapp.forward.url", "whatsapp.forward.timeout", "whatsapp.forward.attempts", "whatsapp.max_event_age",
		"whatsapp.numbers[0].phone_number_id", "whatsapp.numbers[0].number", "whatsapp.numbers[0].access_token",
		"whatsapp.numbers[0].entry", "whatsapp.numbers[0].signalling", "whatsapp.numbers[0].accept_timeout",
		"whatsapp.numbers[0].keywords[0]", "whatsapp.numbers[0].permission_template", "whatsapp.numbers[1].signalling: sip needs a sip.trunks entry with provider: whatsapp",
		"whatsapp.numbers[2].phone_number_id: duplicate", "whatsapp.numbers[2].sip.hostname", "whatsapp.numbers[2].sip.port",
		"whatsapp.numbers[2].sip.srtp"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no %q in:\n%v", key, err)
		}
	}
	c, _ = Load(strings.NewReader("whatsapp: {numbers: []}\n"))
	err = c.Validate()
	for _, key := range []string{"whatsapp.app_secret: is required", "whatsapp.verify_token: is required", "whatsapp.numbers: at least one"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("no %q in %v", key, err)
		}
	}
}
