package notify_test

import (
	"bytes"
	"errors"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
)

func emailMsg() notify.Message {
	return notify.Message{
		Channel: notify.ChannelEmail, To: "María Pérez <maria@example.com>",
		Subject: "Videollamada con su gestora — mañana ✓", Text: "Hola María,\n\nsu gestora le espera.",
		Link: link + "?utm=" + strings.Repeat("x", 60), LinkLabel: "Unirse", Ref: "ses_42",
	}
}

func newSMTP(t *testing.T, cfg notify.SMTPConfig) *notify.SMTP {
	t.Helper()
	c, err := notify.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func calendarEvent() *notify.Event {
	return &notify.Event{
		UID: "ses_42@split.example", Start: time.Date(2026, 3, 14, 8, 30, 0, 0, time.UTC), Duration: 30 * time.Minute,
		Summary: "Videollamada", Description: "Su cita, con vídeo", ReminderBefore: 15 * time.Minute,
	}
}

func TestSMTPSend(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	m := emailMsg()
	r, err := newSMTP(t, fake.Config()).Send(ctxT(t), m)
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 {
		t.Fatalf("fake got %d messages", len(got))
	}
	g := got[0]
	if g.Err != nil {
		t.Fatalf("message does not parse: %v\n%s", g.Err, g.Raw)
	}
	if g.From != "noreply@split.test" || len(g.To) != 1 || g.To[0] != "maria@example.com" || g.Helo != "split.test" || g.TLS {
		t.Errorf("envelope: from %q to %q helo %q tls %v", g.From, g.To, g.Helo, g.TLS)
	}
	if g.Structure != "multipart/mixed[multipart/alternative[text/plain,text/html]]" {
		t.Errorf("structure = %s", g.Structure)
	}
	if g.Subject != m.Subject {
		t.Errorf("Subject = %q", g.Subject)
	}
	if raw := g.Header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?q?") {
		t.Errorf("raw Subject not RFC 2047 encoded: %q", raw)
	}
	from, _ := mail.ParseAddress(g.Header.Get("From"))
	to, _ := mail.ParseAddress(g.Header.Get("To"))
	if from == nil || from.Address != "noreply@split.test" || from.Name != "SPLIT" || to == nil || to.Name != "María Pérez" {
		t.Errorf("From/To headers: %q / %q", g.Header.Get("From"), g.Header.Get("To"))
	}
	if d, err := g.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date: %v %v", d, err)
	}
	if g.Header.Get("MIME-Version") != "1.0" || g.Header.Get("Message-ID") != r.ProviderID || !strings.HasSuffix(r.ProviderID, "@split.test>") {
		t.Errorf("MIME-Version %q Message-ID %q receipt %q", g.Header.Get("MIME-Version"), g.Header.Get("Message-ID"), r.ProviderID)
	}
	if g.TextCTE != "quoted-printable" || !strings.Contains(g.Text, "su gestora le espera.\n\nUnirse: "+m.Link) {
		t.Errorf("text/plain (%s):\n%s", g.TextCTE, g.Text)
	}
	if fake.LastLink() != m.Link {
		t.Errorf("LastLink = %q", fake.LastLink())
	}
	if !strings.Contains(g.HTML, `<a href="`+m.Link+`">Unirse</a>`) {
		t.Errorf("text/html:\n%s", g.HTML)
	}
	for i, l := range bytes.Split(g.Raw, []byte("\r\n")) {
		if len(l) > 78 {
			t.Errorf("line %d is %d octets: %q", i+1, len(l), l)
		}
	}
	if r.Status != notify.StatusSent || r.Channel != notify.ChannelEmail {
		t.Errorf("receipt = %+v", r)
	}
}

func TestSMTPCalendarInvite(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	m := emailMsg()
	m.Calendar = calendarEvent()
	if _, err := newSMTP(t, fake.Config()).Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	g := fake.Messages()[0]
	if g.Err != nil {
		t.Fatal(g.Err)
	}
	if g.Structure != "multipart/mixed[multipart/alternative[text/plain,text/html,text/calendar],application/ics]" {
		t.Errorf("structure = %s", g.Structure)
	}
	if g.CalendarType != "text/calendar; method=REQUEST; charset=UTF-8" || g.Method() != "REQUEST" {
		t.Errorf("calendar Content-Type = %q", g.CalendarType)
	}
	if len(g.Attachments) != 1 {
		t.Fatalf("attachments: %+v", g.Attachments)
	}
	a := g.Attachments[0]
	if a.Filename != "invite.ics" || !strings.HasPrefix(a.ContentType, "application/ics") || !bytes.Equal(a.Data, g.Calendar) {
		t.Errorf("attachment %q %q", a.Filename, a.ContentType)
	}
	cals, err := notify.ParseICS(fake.LastCalendar())
	if err != nil {
		t.Fatalf("ParseICS: %v\n%s", err, g.Calendar)
	}
	ve, _ := cals[0].Component("VEVENT")
	for name, want := range map[string]string{
		"ORGANIZER": "mailto:noreply@split.test", // defaults: From, To and Link
		"ATTENDEE":  "mailto:maria@example.com",
		"URL":       m.Link,
		"DTSTART":   "20260314T083000Z",
	} {
		if p, _ := ve.Property(name); p.Value != want {
			t.Errorf("%s = %q, want %q", name, p.Value, want)
		}
	}
	if p, _ := ve.Property("ATTENDEE"); p.Params["CN"][0] != "María Pérez" {
		t.Errorf("ATTENDEE CN = %v", p.Params["CN"])
	}

	m.Calendar = calendarEvent()
	m.Calendar.Method, m.Calendar.Sequence = notify.MethodCancel, 1
	m.Link = "" // a cancellation needs no link
	if _, err := newSMTP(t, fake.Config()).Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	g = fake.Messages()[1]
	if g.Method() != "CANCEL" || !bytes.Contains(g.Calendar, []byte("STATUS:CANCELLED")) || !bytes.Contains(g.Calendar, []byte("SEQUENCE:1")) {
		t.Errorf("cancel: %s\n%s", g.CalendarType, g.Calendar)
	}

	m.Calendar = calendarEvent()
	m.Calendar.UID = ""
	if _, err := newSMTP(t, fake.Config()).Send(ctxT(t), m); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("event without UID: %v", err)
	}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	fake := notifytest.StartSMTPWith(t, notifytest.SMTPOptions{TLS: true, Username: "split", Password: "pa55-secret"})
	if _, err := newSMTP(t, fake.Config()).Send(ctxT(t), emailMsg()); err != nil {
		t.Fatal(err)
	}
	if g := fake.Messages()[0]; !g.TLS || g.AuthUser != "split" {
		t.Errorf("TLS %v user %q", g.TLS, g.AuthUser)
	}

	cfg := fake.Config()
	cfg.Password = "wrong-pa55"
	_, err := newSMTP(t, cfg).Send(ctxT(t), emailMsg())
	pe := providerError(t, err)
	if pe.Code != "535" || pe.Retryable || !errors.Is(err, notify.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-pa55") {
		t.Errorf("bad password = %+v", pe)
	}

	cfg = fake.Config()
	cfg.TLSConfig = nil // the fake's certificate is not trusted
	_, err = newSMTP(t, cfg).Send(ctxT(t), emailMsg())
	if pe = providerError(t, err); pe.Retryable || !strings.Contains(pe.Message, "certificate") {
		t.Errorf("untrusted certificate = %+v", pe)
	}
	if len(fake.Messages()) != 1 {
		t.Errorf("fake accepted %d messages", len(fake.Messages()))
	}
}

func TestSMTPRequiresStartTLS(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	cfg := fake.Config()
	cfg.StartTLS = true
	_, err := newSMTP(t, cfg).Send(ctxT(t), emailMsg())
	if pe := providerError(t, err); pe.Retryable || !strings.Contains(pe.Message, "STARTTLS") {
		t.Errorf("no STARTTLS = %+v", pe)
	}
	// net/smtp allows AUTH PLAIN without TLS only to localhost (it refuses
	// other hosts with "unencrypted connection"); localhost works.
	fake2 := notifytest.StartSMTPWith(t, notifytest.SMTPOptions{Username: "u", Password: "p"})
	cfg = fake2.Config()
	_, port, _ := net.SplitHostPort(cfg.Addr)
	cfg.Addr = net.JoinHostPort("localhost", port) // localhost: allowed without TLS
	if _, err := newSMTP(t, cfg).Send(ctxT(t), emailMsg()); err != nil {
		t.Errorf("AUTH PLAIN to localhost: %v", err)
	}
}

func TestSMTPReplyCodes(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	s := newSMTP(t, fake.Config())
	fake.FailNext(1, "RCPT", 550, "5.1.1 User unknown")
	_, err := s.Send(ctxT(t), emailMsg())
	if pe := providerError(t, err); pe.Code != "550" || pe.Retryable || !strings.Contains(pe.Message, "RCPT TO") {
		t.Errorf("550 = %+v", pe)
	}
	fake.FailNext(1, "DATA", 451, "4.3.0 Try again later")
	_, err = s.Send(ctxT(t), emailMsg())
	if pe := providerError(t, err); pe.Code != "451" || !pe.Retryable {
		t.Errorf("451 = %+v", pe)
	}
	fake.FailNext(1, "MAIL", 421, "4.7.0 Too many connections")
	_, err = s.Send(ctxT(t), emailMsg())
	if pe := providerError(t, err); pe.Code != "421" || !pe.Retryable {
		t.Errorf("421 = %+v", pe)
	}
	if len(fake.Messages()) != 0 {
		t.Errorf("fake accepted %d", len(fake.Messages()))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fake.Config()
	cfg.Addr = addr
	_, err = newSMTP(t, cfg).Send(ctxT(t), emailMsg())
	if pe := providerError(t, err); !pe.Retryable {
		t.Errorf("connection refused = %+v", pe)
	}
}

func TestSMTPValidation(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	s := newSMTP(t, fake.Config())
	for name, mod := range map[string]func(*notify.Message){
		"bad address": func(m *notify.Message) { m.To = "maria@" },
		"no link":     func(m *notify.Message) { m.Link = "" },
		"header inj":  func(m *notify.Message) { m.Subject = "x\nBcc: all@example.com" },
	} {
		m := emailMsg()
		mod(&m)
		if _, err := s.Send(ctxT(t), m); !errors.Is(err, notify.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSMTPLongSubject(t *testing.T) {
	fake := notifytest.StartSMTP(t)
	s := newSMTP(t, fake.Config())
	for _, subj := range []string{
		strings.Repeat("Cita por vídeo — ñandú ✓ 😀 ", 8),
		"Plain ASCII subject that is fine",
		"ASCII that looks like =?UTF-8?q?an_encoded_word?=",
	} {
		m := emailMsg()
		m.Subject = subj
		if _, err := s.Send(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
		msgs := fake.Messages()
		g := msgs[len(msgs)-1]
		if g.Err != nil || g.Subject != subj {
			t.Errorf("Subject round trip: %q (%v)", g.Subject, g.Err)
		}
		for i, l := range bytes.Split(g.Raw, []byte("\r\n")) {
			if len(l) > 78 {
				t.Errorf("line %d is %d octets: %q", i+1, len(l), l)
			}
		}
	}
}
