package whatsapp

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/store"
)

var now0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func countPath(g *fakeGraph, suffix string) int {
	n := 0
	for _, r := range g.requests() {
		if strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func TestPermissionFromStoreThenMeta(t *testing.T) {
	g := newFakeGraph(t)
	st := memStore(t)
	s := testService(t, testConfig(g.srv.URL, ""), st, &recorder{}, now0, nil)
	ctx := t.Context()
	const user = "14085551234"

	// a grant from a webhook: no need to ask Meta
	if err := st.SetWhatsAppPermission(ctx, store.WhatsAppPermission{PhoneNumberID: pnBiz, User: user,
		Status: store.WhatsAppPermissionTemporary, ExpiresAt: now0.Add(time.Hour), Source: "user_action", UpdatedAt: now0}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Permission(ctx, pnBiz, "+"+user)
	if err != nil || !p.CanCall || p.Status != "temporary" || p.Source != "store" || p.Reason != "" || countPath(g, "/call_permissions") != 0 {
		t.Fatalf("%+v %v (%d GETs)", p, err, countPath(g, "/call_permissions"))
	}

	// expired: Meta is asked, and what it says is recorded
	if err := st.SetWhatsAppPermission(ctx, store.WhatsAppPermission{PhoneNumberID: pnBiz, User: user,
		Status: store.WhatsAppPermissionTemporary, ExpiresAt: now0.Add(-time.Second), Source: "user_action", UpdatedAt: now0.Add(-7 * day)}); err != nil {
		t.Fatal(err)
	}
	g.setReply(func(c graphCall) (int, map[string]string, string) {
		return 200, nil, `{"messaging_product":"whatsapp","permission":{"status":"permanent"},"actions":[` +
			`{"action_name":"start_call","can_perform_action":true,"limits":[{"time_period":"PT24H","max_allowed":100,"current_usage":3}]}]}`
	})
	p, err = s.Permission(ctx, pnBiz, user)
	if err != nil || !p.CanCall || p.Status != "permanent" || p.Source != "meta" {
		t.Fatalf("%+v %v", p, err)
	}
	reqs := g.requests()
	if last := reqs[len(reqs)-1]; last.Method != "GET" || last.Query != "user_wa_id="+user || last.Path != "/v25.0/"+pnBiz+"/call_permissions" {
		t.Fatalf("GET %+v", last)
	}
	if rec, _ := st.WhatsAppPermission(ctx, pnBiz, user); rec.Status != "permanent" || rec.Source != "meta" {
		t.Fatalf("not recorded: %+v", rec)
	}
}

func TestPermissionRefusalsExplain(t *testing.T) {
	g := newFakeGraph(t)
	st := memStore(t)
	s := testService(t, testConfig(g.srv.URL, ""), st, &recorder{}, now0, nil)
	ctx := t.Context()
	const user = "US.13491208655302741918"
	next := now0.Add(5 * time.Hour).Truncate(time.Second)
	g.setReply(func(c graphCall) (int, map[string]string, string) {
		return 200, nil, `{"messaging_product":"whatsapp","permission":{"status":"no_permission"},"actions":[` +
			`{"action_name":"send_call_permission_request","can_perform_action":false,"limits":[` +
			`{"time_period":"PT24H","max_allowed":1,"current_usage":1,"limit_expiration_time":` + itoa(next.Unix()) + `}]}]}`
	})
	p, err := s.Permission(ctx, pnBiz, user)
	if err != nil || p.CanCall || p.CanRequest || !p.NextRequestAt.Equal(next) || !strings.Contains(p.Reason, "no call permission") ||
		!strings.Contains(p.Reason, next.Format(time.RFC3339)) {
		t.Fatalf("%+v %v", p, err)
	}
	if last := g.requests()[0]; last.Query != "recipient=US.13491208655302741918" {
		t.Fatalf("BSUID query %q", last.Query)
	}
	// Meta unreachable: the store's view, with the error
	g.setReply(func(graphCall) (int, map[string]string, string) { return 503, nil, "" })
	p, err = s.Permission(ctx, pnBiz, user)
	if err == nil || p.CanCall || !strings.Contains(p.Reason, "could not be asked") {
		t.Fatalf("%+v %v", p, err)
	}
	// 100 connected business calls in 24 h: no call until the oldest is a day old
	const u2 = "12185552828"
	if err := st.SetWhatsAppPermission(ctx, store.WhatsAppPermission{PhoneNumberID: pnBiz, User: u2,
		Status: store.WhatsAppPermissionPermanent, Source: "meta", UpdatedAt: now0}); err != nil {
		t.Fatal(err)
	}
	first := now0.Add(-20 * time.Hour)
	for i := 0; i < BusinessCallsPer24h; i++ {
		if err := st.AddWhatsAppUsage(ctx, pnBiz, u2, store.WhatsAppUsageBusinessCall, first.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	p, err = s.Permission(ctx, pnBiz, u2)
	if err != nil || p.CanCall || !p.NextCallAt.Equal(first.Add(day)) || !strings.Contains(p.Reason, "100 connected") {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := s.Permission(ctx, pnMsgs, u2); !errors.Is(err, ErrCallingOff) {
		t.Fatalf("messages-only number: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRequestPermissionLimitsAndTemplate(t *testing.T) {
	g := newFakeGraph(t)
	st := memStore(t)
	clock := now0
	s := testService(t, testConfig(g.srv.URL, ""), st, &recorder{}, now0, func(s *Service) { s.now = func() time.Time { return clock } })
	ctx := t.Context()
	const user = "14085551234"
	if err := s.RequestPermission(ctx, pnUser, user, "May we call you about order ON-12853?"); err != nil {
		t.Fatal(err)
	}
	m := g.requests()[0]
	in, _ := m.Body["interactive"].(map[string]any)
	if m.Path != "/v25.0/"+pnUser+"/messages" || m.Body["to"] != user || m.Body["type"] != "interactive" || in["type"] != "call_permission_request" ||
		in["action"].(map[string]any)["name"] != "call_permission_request" || in["body"].(map[string]any)["text"] != "May we call you about order ON-12853?" {
		t.Fatalf("%+v", m.Body)
	}
	// a second one within 24 h is refused here, before Meta refuses it
	clock = now0.Add(time.Hour)
	err := s.RequestPermission(ctx, pnUser, user, "")
	if !errors.Is(err, ErrPermissionRequestLimit) || !strings.Contains(err.Error(), "1 per 24 h, next at "+now0.Add(day).Format(time.RFC3339)) {
		t.Fatalf("%v", err)
	}
	p, _ := s.Permission(ctx, pnUser, user)
	if p.CanRequest || !strings.Contains(p.Reason, "permission request limit: 1 per 24 h") {
		t.Fatalf("%+v", p)
	}
	// a day later the second is allowed; then the weekly limit holds
	clock = now0.Add(25 * time.Hour)
	if err := s.RequestPermission(ctx, pnUser, user, ""); err != nil {
		t.Fatal(err)
	}
	clock = now0.Add(50 * time.Hour)
	if err := s.RequestPermission(ctx, pnUser, user, ""); !errors.Is(err, ErrPermissionRequestLimit) || !strings.Contains(err.Error(), "2 per 7 days") {
		t.Fatalf("%v", err)
	}
	// a connected call resets the counts
	if err := st.AddWhatsAppUsage(ctx, pnUser, user, store.WhatsAppUsageUserCall, now0.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// outside the 24 h window: the configured template instead
	g.setReply(func(c graphCall) (int, map[string]string, string) {
		if c.Body["type"] == "interactive" {
			return 400, nil, `{"error":{"message":"(#131047) Re-engagement message","code":131047,"error_data":{"details":"more than 24 hours"}}}`
		}
		return 200, nil, ""
	})
	if err := s.RequestPermission(ctx, pnUser, user, "hi"); err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	tpl, _ := reqs[len(reqs)-1].Body["template"].(map[string]any)
	if reqs[len(reqs)-1].Body["type"] != "template" || tpl["name"] != "may_we_call" || tpl["language"].(map[string]any)["code"] != "en_US" {
		t.Fatalf("%+v", reqs[len(reqs)-1].Body)
	}
	if n := countPath(g, "/messages"); n != 4 {
		t.Fatalf("%d messages sent", n)
	}
	// no template configured: the refusal says how to fix it
	err = s.RequestPermission(ctx, pnBiz, user, "hi")
	if !errors.Is(err, ErrOutsideWindow) || !strings.Contains(err.Error(), "permission_template") {
		t.Fatalf("%v", err)
	}
}

func TestSendCallButton(t *testing.T) {
	g := newFakeGraph(t)
	s := testService(t, testConfig(g.srv.URL, ""), nil, &recorder{}, now0, nil)
	ctx := t.Context()
	if err := s.SendCallButton(ctx, pnSIP, "+14085551234", "Tap to talk to an agent now.", "ses_9"); err != nil {
		t.Fatal(err)
	}
	b := g.requests()[0].Body
	in := b["interactive"].(map[string]any)
	act := in["action"].(map[string]any)
	if b["to"] != "14085551234" || in["type"] != "voice_call" || act["name"] != "voice_call" ||
		act["parameters"].(map[string]any)["payload"] != "ses_9" || in["body"].(map[string]any)["text"] != "Tap to talk to an agent now." {
		t.Fatalf("%+v", b)
	}
	if err := s.SendCallButton(ctx, pnUser, "14085551234", " ", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty body: %v", err)
	}
	if err := s.SendCallButton(ctx, pnUser, "14085551234", "x", strings.Repeat("p", 513)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long payload: %v", err)
	}
}
