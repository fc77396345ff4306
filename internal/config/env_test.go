package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const whatsappYAML = `
sessions:
  notify:
    sms: {account_sid: AC1, auth_token: "", from: "+34910000002"}
    whatsapp:
      phone_number_id: "123456789"
      access_token: file-token
      app_secret: ""
      verify_token: ""
      template: {name: video_link, language: en_US, url_base: "https://video.example.com/j/", body_params: 1}
`

func TestWhatsAppConfigAndEnv(t *testing.T) {
	c, err := Load(strings.NewReader(whatsappYAML))
	if err != nil {
		t.Fatal(err)
	}
	wa := c.Sessions.Notify.WhatsApp
	if wa == nil || wa.Template == nil || wa.Template.Name != "video_link" || wa.Template.Language != "en_US" ||
		wa.Template.URLBase != "https://video.example.com/j/" || wa.Template.BodyParams != 1 {
		t.Fatalf("loaded %v", wa)
	}
	env := []string{
		"SPLIT_SESSIONS_NOTIFY_WHATSAPP_APP_SECRET=app-secret-42",
		"SPLIT_SESSIONS_NOTIFY_WHATSAPP_VERIFY_TOKEN=verify-token-42",
		"SPLIT_SESSIONS_NOTIFY_WHATSAPP_ACCESS_TOKEN=EAAG-env-token",
		"SPLIT_SESSIONS_NOTIFY_WHATSAPP_TEMPLATE_BODY_PARAMS=2",
		"SPLIT_SESSIONS_NOTIFY_SMS_AUTH_TOKEN=twilio-env-token",
	}
	if err := ApplyEnv(c, env); err != nil {
		t.Fatal(err)
	}
	if wa.AppSecret != "app-secret-42" || wa.VerifyToken != "verify-token-42" || wa.AccessToken != "EAAG-env-token" ||
		wa.Template.BodyParams != 2 || c.Sessions.Notify.SMS.AuthToken != "twilio-env-token" {
		t.Fatalf("env not applied: %v, sms token %q", wa, c.Sessions.Notify.SMS.AuthToken)
	}
	if u := UnknownEnv(c, env); len(u) != 0 {
		t.Errorf("unknown: %v", u)
	}
	// Secrets never show in fmt or slog output.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "whatsapp", *wa, "ptr", wa)
	for _, out := range []string{fmt.Sprint(*wa), fmt.Sprintf("%+v", wa), fmt.Sprintf("%#v", *wa), fmt.Sprintf("%v", wa), buf.String()} {
		for _, secret := range []string{"app-secret-42", "verify-token-42", "EAAG-env-token"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q in %s", secret, out)
			}
		}
		if !strings.Contains(out, "redacted") || !strings.Contains(out, "123456789") {
			t.Errorf("no redaction marker or no phone number id: %s", out)
		}
	}
}

func TestEnvForAbsentSection(t *testing.T) {
	c, err := Load(strings.NewReader("sessions:\n  notify:\n    whatsapp: {phone_number_id: \"1\", access_token: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SPLIT_SESSIONS_NOTIFY_SMS_AUTH_TOKEN=t", "SPLIT_SESSIONS_NOTIFY_WHATSAPP_TEMPLATE_NAME=video_link"}
	err = ApplyEnv(c, env)
	if err == nil || !strings.Contains(err.Error(), "SPLIT_SESSIONS_NOTIFY_SMS_AUTH_TOKEN: sessions.notify.sms is not in the configuration") ||
		!strings.Contains(err.Error(), "sessions.notify.whatsapp.template is not") {
		t.Fatalf("want errors naming the absent sections, got %v", err)
	}
	if c.Sessions.Notify.SMS != nil || c.Sessions.Notify.WhatsApp.Template != nil {
		t.Fatal("the environment created a section")
	}
	if u := UnknownEnv(c, env); len(u) != 0 {
		t.Errorf("names of an absent section reported unknown: %v", u)
	}
	names := strings.Join(EnvNames(c), " ")
	for _, n := range []string{"SPLIT_SESSIONS_NOTIFY_WHATSAPP_APP_SECRET", "SPLIT_SESSIONS_NOTIFY_WHATSAPP_VERIFY_TOKEN", "SPLIT_SESSIONS_NOTIFY_SMS_AUTH_TOKEN"} {
		if !strings.Contains(names, n) {
			t.Errorf("EnvNames lacks %s", n)
		}
	}
}
