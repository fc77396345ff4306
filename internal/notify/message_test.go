package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/notify"
)

const link = "https://split.example/j/Ab3dEf_ghIJkl-mnOPqr"

func TestMessageValidate(t *testing.T) {
	ok := []notify.Message{
		{Channel: notify.ChannelSMS, To: "+34600111222", Link: link},
		{Channel: notify.ChannelWhatsApp, To: "+14155550123", Text: "hi", Link: "http://localhost:8080/j/x"},
		{Channel: notify.ChannelEmail, To: "María <maria@example.com>", Link: link},
		{Channel: notify.ChannelEmail, To: "a@b.example", Calendar: &notify.Event{}}, // a calendar alone (e.g. a CANCEL) needs no link
		{Channel: notify.ChannelLink, Link: link},
	}
	for _, m := range ok {
		if err := m.Validate(); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
	bad := map[string]notify.Message{
		"no channel":         {To: "+34600111222", Link: link},
		"unknown channel":    {Channel: "fax", To: "+34600111222", Link: link},
		"no plus":            {Channel: notify.ChannelSMS, To: "34600111222", Link: link},
		"spaces":             {Channel: notify.ChannelSMS, To: "+34 600 111 222", Link: link},
		"too short":          {Channel: notify.ChannelSMS, To: "+123456", Link: link},
		"too long":           {Channel: notify.ChannelWhatsApp, To: "+1234567890123456", Link: link},
		"leading zero":       {Channel: notify.ChannelWhatsApp, To: "+0123456789", Link: link},
		"bad address":        {Channel: notify.ChannelEmail, To: "maria at example.com", Link: link},
		"two addresses":      {Channel: notify.ChannelEmail, To: "a@b.example, c@d.example", Link: link},
		"no link":            {Channel: notify.ChannelSMS, To: "+34600111222"},
		"ftp link":           {Channel: notify.ChannelSMS, To: "+34600111222", Link: "ftp://split.example/j/x"},
		"relative link":      {Channel: notify.ChannelLink, Link: "/j/x"},
		"link with space":    {Channel: notify.ChannelLink, Link: "https://split.example/j/a b"},
		"link with userinfo": {Channel: notify.ChannelLink, Link: "https://u:p@split.example/j/x"},
		"calendar by sms":    {Channel: notify.ChannelSMS, To: "+34600111222", Link: link, Calendar: &notify.Event{}},
		"subject injection":  {Channel: notify.ChannelEmail, To: "a@b.example", Link: link, Subject: "hi\r\nBcc: x@y.example"},
		"long ref":           {Channel: notify.ChannelLink, Link: link, Ref: strings.Repeat("r", 513)},
	}
	for name, m := range bad {
		if err := m.Validate(); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCopyLink(t *testing.T) {
	r, err := notify.CopyLink{}.Send(context.Background(), notify.Message{Link: link})
	if err != nil || r.Status != notify.StatusReady || r.Channel != notify.ChannelLink || r.At.IsZero() {
		t.Fatalf("CopyLink = %+v, %v", r, err)
	}
	if _, err := (notify.CopyLink{}).Send(context.Background(), notify.Message{Link: "nope"}); !errors.Is(err, notify.ErrInvalid) {
		t.Fatalf("bad link: %v", err)
	}
	if _, err := (notify.CopyLink{}).Send(context.Background(), notify.Message{Channel: notify.ChannelSMS, To: "+34600111222", Link: link}); !errors.Is(err, notify.ErrInvalid) {
		t.Fatalf("wrong channel: %v", err)
	}
}

func TestNormalizeTwilioStatus(t *testing.T) {
	for in, want := range map[string]string{
		"queued": "queued", "accepted": "queued", "scheduled": "queued", "sending": "queued",
		"sent": "sent", "delivered": "delivered", "read": "read", "undelivered": "failed",
		"failed": "failed", "canceled": "failed", "partially_delivered": "sent", "Receiving": "receiving",
	} {
		if got := notify.NormalizeTwilioStatus(in); got != want {
			t.Errorf("NormalizeTwilioStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

// Secrets never show in fmt or slog output of configs and clients.
func TestSecretsRedacted(t *testing.T) {
	const secret = "s3cr3t-DO-NOT-LOG"
	tw := notify.TwilioConfig{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: secret, From: "+15005550006"}
	wa := notify.WhatsAppConfig{PhoneNumberID: "106540352242922", AccessToken: secret}
	sm := notify.SMTPConfig{Addr: "127.0.0.1:25", Username: "u", Password: secret, From: "a@b.example"}
	twc, err := notify.NewTwilio(tw)
	if err != nil {
		t.Fatal(err)
	}
	wac, err := notify.NewWhatsApp(wa)
	if err != nil {
		t.Fatal(err)
	}
	smc, err := notify.NewSMTP(sm)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, v := range []any{tw, wa, sm, &tw, &wa, &sm, twc, wac, smc} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, secret) {
				t.Errorf("%s of %T leaks the secret: %s", verb, v, s)
			}
		}
		log.Info("config", "cfg", v)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("slog leaks the secret: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("slog output does not show the redaction: %s", logs.String())
	}
}

func TestConstructorsValidate(t *testing.T) {
	sid := "AC" + strings.Repeat("a", 32)
	for name, cfg := range map[string]notify.TwilioConfig{
		"no sid":       {AuthToken: "x", From: "+15005550006"},
		"bad sid":      {AccountSID: "AC123", AuthToken: "x", From: "+15005550006"},
		"no token":     {AccountSID: sid, From: "+15005550006"},
		"no sender":    {AccountSID: sid, AuthToken: "x"},
		"bad service":  {AccountSID: sid, AuthToken: "x", MessagingServiceSID: "MG1"},
		"bad callback": {AccountSID: sid, AuthToken: "x", From: "+15005550006", StatusCallback: "/relative"},
		"bad base":     {BaseURL: "ftp://x", AccountSID: sid, AuthToken: "x", From: "+15005550006"},
	} {
		if _, err := notify.NewTwilio(cfg); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("twilio %s: %v", name, err)
		}
	}
	for name, cfg := range map[string]notify.WhatsAppConfig{
		"no id":       {AccessToken: "x"},
		"bad id":      {PhoneNumberID: "+3460011", AccessToken: "x"},
		"no token":    {PhoneNumberID: "123"},
		"bad version": {PhoneNumberID: "123", AccessToken: "x", Version: "25"},
	} {
		if _, err := notify.NewWhatsApp(cfg); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("whatsapp %s: %v", name, err)
		}
	}
	for name, cfg := range map[string]notify.SMTPConfig{
		"no port":   {Addr: "mail.example", From: "a@b.example"},
		"no from":   {Addr: "mail.example:587"},
		"bad from":  {Addr: "mail.example:587", From: "nobody"},
		"password":  {Addr: "mail.example:587", From: "a@b.example", Password: "x"},
		"bad hello": {Addr: "mail.example:587", From: "a@b.example", HelloName: "a b"},
	} {
		if _, err := notify.NewSMTP(cfg); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("smtp %s: %v", name, err)
		}
	}
}
