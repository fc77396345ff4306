package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

func withNotify(cfg *config.Config, tw *notifytest.TwilioFake, mail *notifytest.SMTPFake) {
	if tw != nil {
		cfg.Sessions.Notify.SMS = &config.TwilioConfig{BaseURL: tw.URL, AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, From: tw.From}
	}
	if mail != nil {
		c := mail.Config()
		cfg.Sessions.Notify.Email = &config.SMTPConfig{Addr: c.Addr, From: c.From}
	}
}

// TestReverseFromConsole: the agent invites a customer from the console; the
// link goes out by SMS (Twilio's API, a contract fake); the customer opens
// it and is in a video call with the waiting agent; the SMS's delivery
// status comes back through Twilio's signed status callback.
func TestReverseFromConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tw := notifytest.StartTwilio(t)
	cfg := hubConfig(t, 19700, t.TempDir())
	withNotify(cfg, tw, nil)
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	if err := ag.Send(ctx, map[string]any{"type": "invite", "to": "+34600123456", "channel": "sms", "name": "Ana"}); err != nil {
		t.Fatal(err)
	}
	inv, err := ag.WaitFor(ctx, isType("invited"))
	if err != nil {
		t.Fatal(err)
	}
	var invited struct{ URL, Session, Delivery string }
	_ = json.Unmarshal(inv.Raw, &invited)
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	sms := msgs[0]
	if sms.To != "+34600123456" || !strings.Contains(sms.Body, invited.URL) || len(sms.Body) > 160 {
		t.Fatalf("SMS to %s (%d chars): %q; want the link %s in one segment", sms.To, len(sms.Body), sms.Body, invited.URL)
	}
	code, out := join(t, a, linkToken(t, tw.LastLink()), nil)
	if code != 200 || out["session"] != invited.Session {
		t.Fatalf("join: %d %v", code, out)
	}
	cust := startJoined(ctx, t, h, out)
	waitUntil(t, 10*time.Second, "the reverse call's media", func() bool {
		return cust.DominantHz(tones) == toneAgent1 && ag.DominantHz(tones) == toneCustomer && cust.VideoFrom(1) > 20 && ag.VideoFrom(9) > 20
	})
	if err := tw.SendStatus(ctx, sms.SID, "delivered", ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the delivery status in the session's history", func() bool {
		_, ev := a.do("GET", "/v1/sessions/"+invited.Session+"/events?format=json", nil)
		b, _ := json.Marshal(ev)
		return strings.Contains(string(b), `"status":"delivered"`) && strings.Contains(string(b), `"link.used"`)
	})
	// the link was single use
	if code, out := join(t, a, linkToken(t, tw.LastLink()), nil); code != 409 {
		t.Fatalf("second join: %d %v", code, out)
	}

	// A failing SMS is reported, not silent.
	tw.FailNext(1, 400, 21211, "The 'To' number +34000 is not a valid phone number.")
	code, res := a.do("POST", "/v1/sessions", map[string]any{"agent_id": "agent1", "customer": map[string]any{"contact": "+34600999999"}, "channel": "sms"})
	if code != 201 {
		t.Fatalf("reverse by API: %d %v", code, res)
	}
	if res["mode"] != "reverse" || res["delivery"] != "queued" {
		t.Fatalf("reverse by API: %v", res)
	}
	waitUntil(t, 5*time.Second, "the failed delivery in the history", func() bool {
		_, ev := a.do("GET", "/v1/sessions/"+res["id"].(string)+"/events?format=json", nil)
		b, _ := json.Marshal(ev)
		return strings.Contains(string(b), `"status":"failed"`) && strings.Contains(string(b), "21211")
	})
	// no provider configured for WhatsApp: a clear error
	if code, out := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"contact": "+34600999999"}, "channel": "whatsapp"}); code != 503 {
		t.Fatalf("unconfigured channel: %d %v", code, out)
	}
}

// TestAppointmentInvitation: an appointment for an e-mail address sends an
// iMIP invitation whose ICS is valid iCalendar (our parser and Python's
// icalendar) with the join link as RFC 7986 CONFERENCE; cancelling sends
// METHOD:CANCEL with a higher SEQUENCE.
func TestAppointmentInvitation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mail := notifytest.StartSMTP(t)
	cfg := hubConfig(t, 19800, t.TempDir())
	withNotify(cfg, nil, mail)
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Minute)
	code, appt := a.do("POST", "/v1/appointments", map[string]any{"start": start.Format(time.RFC3339), "duration": "45m",
		"title": "Mortgage review", "customer": map[string]any{"name": "Ana García", "contact": "ana@example.com"}, "queue": "default"})
	if code != 201 || appt["delivery"] != "email" {
		t.Fatalf("create: %d %v", code, appt)
	}
	msgs, err := mail.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ics := mail.LastCalendar()
	comps, err := notify.ParseICS(ics)
	if err != nil {
		t.Fatalf("invalid ICS: %v\n%s", err, ics)
	}
	if _, ok := comps[0].Component("VEVENT"); !ok {
		t.Fatalf("no VEVENT:\n%s", ics)
	}
	link := appt["join_url"].(string)
	unfolded := strings.ReplaceAll(string(ics), "\r\n ", "")
	if !strings.Contains(unfolded, "CONFERENCE;VALUE=URI;FEATURE=VIDEO,AUDIO;LABEL=Join video call:"+link) ||
		!strings.Contains(unfolded, "DTSTART:"+start.Format("20060102T150405Z")) || !strings.Contains(unfolded, "METHOD:REQUEST") {
		t.Fatalf("ICS lacks the conference link, start or method:\n%s", unfolded)
	}
	if !strings.Contains(msgs[0].Text, link) {
		t.Fatalf("the e-mail text lacks the link: %q", msgs[0].Text)
	}
	pythonICS(t, ics)
	if code, _ := a.do("DELETE", "/v1/appointments/"+appt["id"].(string), nil); code != 204 {
		t.Fatalf("cancel: %d", code)
	}
	if _, err := mail.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
	cancelICS := strings.ReplaceAll(string(mail.LastCalendar()), "\r\n ", "")
	if !strings.Contains(cancelICS, "METHOD:CANCEL") || !strings.Contains(cancelICS, "STATUS:CANCELLED") || !strings.Contains(cancelICS, "SEQUENCE:2") {
		t.Fatalf("cancellation ICS:\n%s", cancelICS)
	}
	pythonICS(t, mail.LastCalendar())
}

// pythonICS validates with Python's icalendar (Debian python3-icalendar).
func pythonICS(t *testing.T, ics []byte) {
	t.Helper()
	if testing.Short() {
		return
	}
	cmd := exec.Command("/usr/bin/python3", "-c", `import sys, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
ev = [c for c in cal.walk() if c.name == "VEVENT"]
assert len(ev) == 1 and ev[0].get("UID") and ev[0].get("DTSTART"), "no proper VEVENT"
print(ev[0].get("SUMMARY"))`)
	cmd.Stdin = strings.NewReader(string(ics))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python icalendar rejects the ICS (install python3-icalendar): %v\n%s\n%s", err, out, ics)
	}
	if !strings.Contains(string(out), "Mortgage review") {
		t.Fatalf("python icalendar read SUMMARY %q", out)
	}
	_ = fmt.Sprint()
}

// TestReminderAndWhatsApp: a reminder with a fresh link goes out before an
// appointment (SMS); a link can be sent as a WhatsApp cta_url message.
func TestReminderAndWhatsApp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tw := notifytest.StartTwilio(t)
	wa := notifytest.StartWhatsApp(t)
	cfg := hubConfig(t, 19900, t.TempDir())
	withNotify(cfg, tw, nil)
	wc := wa.Config()
	cfg.Sessions.Notify.WhatsApp = &config.WhatsAppConfig{BaseURL: wc.BaseURL, Version: wc.Version, PhoneNumberID: wc.PhoneNumberID, AccessToken: wc.AccessToken}
	cfg.Sessions.Appointments.Reminder = 10 * time.Second
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	code, appt := a.do("POST", "/v1/appointments", map[string]any{"start": time.Now().Add(14 * time.Second).UTC().Format(time.RFC3339),
		"customer": map[string]any{"name": "Ana", "contact": "+34600123456"}})
	if code != 201 || appt["delivery"] != "sms" {
		t.Fatalf("appointment: %d %v", code, appt)
	}
	msgs, err := tw.Wait(ctx, 2) // the invitation, then the reminder
	if err != nil {
		t.Fatal(err)
	}
	first, second := notifytestLink(msgs[0].Body), notifytestLink(msgs[1].Body)
	if first == "" || second == "" || first == second {
		t.Fatalf("reminder link %q vs invitation link %q: want a fresh one", second, first)
	}
	waitUntil(t, 5*time.Second, "the appointment marked reminded", func() bool {
		_, got := a.do("GET", "/v1/appointments/"+appt["id"].(string), nil)
		return got["state"] == "reminded"
	})
	// WhatsApp
	_, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Bo"}})
	code, lk := a.do("POST", "/v1/sessions/"+s["id"].(string)+"/links", map[string]any{"channel": "whatsapp", "to": "+34600654321"})
	if code != 201 {
		t.Fatalf("whatsapp link: %d %v", code, lk)
	}
	if _, err := wa.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := wa.LastLink(); got != lk["url"] {
		t.Fatalf("WhatsApp cta_url %q, want %q", got, lk["url"])
	}
}

func notifytestLink(body string) string {
	i := strings.Index(body, "http")
	if i < 0 {
		return ""
	}
	return strings.Fields(body[i:])[0]
}

// TestReverseDeskPhoneRingback: an agent's desk phone (a SIP UA) dials *88
// plus a national number; the hub completes it to E.164, texts the link,
// and plays ringback to the phone until the customer joins; then phone and
// customer hear each other.
func TestReverseDeskPhoneRingback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tw := notifytest.StartTwilio(t)
	cfg := hubConfig(t, 20300, t.TempDir())
	withNotify(cfg, tw, nil)
	cfg.Sessions.CountryCode = "34"
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	desk, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:20390", ToneHz: toneAgent1})
	if err != nil {
		t.Fatal(err)
	}
	defer desk.Close()
	call, err := desk.Invite(ctx, "sip:*88600123456@"+cfg.SIP.ListenUDP)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To != "+34600123456" {
		t.Fatalf("the link went to %s, want +34600123456", msgs[0].To)
	}
	level := func(f float64) float64 {
		p := call.Received()
		if len(p) < 8000 {
			return 0
		}
		return media.ToneLevel(p[len(p)-8000:], f, 8000)
	}
	waitUntil(t, 8*time.Second, "ringback at the desk phone", func() bool { return level(425) > 0.02 })
	code, out := join(t, api{t, h.URL}, linkToken(t, tw.LastLink()), nil)
	if code != 200 {
		t.Fatalf("join: %d %v", code, out)
	}
	cust := startJoined(ctx, t, h, out)
	waitUntil(t, 10*time.Second, "phone and customer hearing each other, the ringback gone", func() bool {
		return cust.DominantHz(tones) == toneAgent1 && level(toneCustomer) > 0.02 && level(425) < 0.005
	})
}
