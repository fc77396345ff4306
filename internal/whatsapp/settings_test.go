package whatsapp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/config"
)

func cfgWithRoutes(routes ...config.Route) *config.Config {
	c := config.Default()
	c.Sessions.EntryPoints = append(c.Sessions.EntryPoints, config.EntryPoint{Name: "whatsapp"})
	c.Sessions.Routes = routes
	return c
}

func TestDesiredCallHours(t *testing.T) {
	n := config.WhatsAppNumber{PhoneNumberID: "1", Entry: "whatsapp"}
	weekdays := []string{"mon", "tue", "wed", "thu", "fri"}
	// office hours on weekdays, Saturday morning plus evening; other entry points' routes do not count
	got, err := Desired(cfgWithRoutes(
		config.Route{Name: "web", Entry: "default", Target: "queue:default"},
		config.Route{Name: "week", Entry: "whatsapp", Days: weekdays, Hours: "08:00-14:00", TimeZone: "Europe/Madrid"},
		config.Route{Name: "week2", Entry: "whatsapp", Days: weekdays, Hours: "13:00-20:00", TimeZone: "Europe/Madrid"},
		config.Route{Name: "sat", Days: []string{"sat"}, Hours: "22:00-02:00", TimeZone: "Europe/Madrid"},
	), n)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Calling
	if c.Status != "ENABLED" || c.CallbackPermissionStatus != "ENABLED" || c.CallHours.Status != "ENABLED" ||
		c.CallHours.TimezoneID != "Europe/Madrid" || c.SIP.Status != "DISABLED" || c.SRTPKeyExchangeProtocol != "" {
		t.Fatalf("%+v", c)
	}
	want := []DayHours{{"MONDAY", "0800", "2000"}, {"TUESDAY", "0800", "2000"}, {"WEDNESDAY", "0800", "2000"},
		{"THURSDAY", "0800", "2000"}, {"FRIDAY", "0800", "2000"}, {"SATURDAY", "0000", "0200"}, {"SATURDAY", "2200", "2359"}}
	if !reflect.DeepEqual(c.CallHours.WeeklyOperatingHours, want) {
		t.Fatalf("hours %+v", c.CallHours.WeeklyOperatingHours)
	}
	// a catch-all route: always open
	got, err = Desired(cfgWithRoutes(
		config.Route{Name: "week", Entry: "whatsapp", Days: weekdays, Hours: "08:00-14:00", TimeZone: "Europe/Madrid"},
		config.Route{Name: "rest", Target: "sip:vm@pbx"}), n)
	if err != nil || got.Calling.CallHours.Status != "DISABLED" {
		t.Fatalf("%+v %v", got.Calling.CallHours, err)
	}
	// every day all day: always open too
	got, _ = Desired(cfgWithRoutes(config.Route{Name: "x", Hours: "00:00-24:00", TimeZone: "UTC"}), n)
	if got.Calling.CallHours.Status != "DISABLED" {
		t.Fatalf("%+v", got.Calling.CallHours)
	}
	for _, tc := range []struct {
		routes []config.Route
		err    string
	}{
		{nil, "no route serves"},
		{[]config.Route{{Name: "a", Entry: "default"}}, "no route serves"},
		{[]config.Route{{Name: "a", Hours: "08:00-10:00"}}, "no time_zone"},
		{[]config.Route{{Name: "a", Hours: "08:00-10:00", TimeZone: "UTC"}, {Name: "b", Hours: "11:00-12:00", TimeZone: "Europe/Madrid"}}, "time zones"},
		{[]config.Route{{Name: "a", Hours: "08:00-09:00", TimeZone: "UTC"}, {Name: "b", Hours: "10:00-11:00", TimeZone: "UTC"},
			{Name: "c", Hours: "12:00-13:00", TimeZone: "UTC", Days: []string{"wed"}}}, "3 times on wednesday"},
	} {
		if _, err := Desired(cfgWithRoutes(tc.routes...), n); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.routes, err, tc.err)
		}
	}
}

func TestDesiredSIPAndOff(t *testing.T) {
	off := false
	n := config.WhatsAppNumber{PhoneNumberID: "1", Signalling: "sip", CallbackPermission: &off,
		SIP: &config.WhatsAppSIP{Hostname: "sip.hub.example.com", SRTP: "sdes", Password: "secret-pw"}}
	got, err := Desired(cfgWithRoutes(config.Route{Name: "all"}), n)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Calling
	if c.CallbackPermissionStatus != "DISABLED" || c.SIP.Status != "ENABLED" || len(c.SIP.Servers) != 1 ||
		!reflect.DeepEqual(c.SIP.Servers[0], SIPServer{Hostname: "sip.hub.example.com", Port: 5061}) || c.SRTPKeyExchangeProtocol != "SDES" {
		t.Fatalf("%+v %+v", c, c.SIP)
	}
	raw, _ := json.Marshal(got)
	if strings.Contains(string(raw), "secret-pw") {
		t.Fatal("the SIP password is sent to Meta's settings")
	}
	n = config.WhatsAppNumber{PhoneNumberID: "1", Calling: &off}
	if got, _ := Desired(cfgWithRoutes(config.Route{Name: "all"}), n); got.Calling.Status != "DISABLED" {
		t.Fatalf("%+v", got.Calling)
	}
}

func TestDiff(t *testing.T) {
	want, err := Desired(cfgWithRoutes(config.Route{Name: "w", Days: []string{"mon"}, Hours: "09:00-17:00", TimeZone: "UTC"}),
		config.WhatsAppNumber{PhoneNumberID: "1", Signalling: "sip", SIP: &config.WhatsAppSIP{Hostname: "sip.hub.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(Settings{}, want); len(d) != 7 {
		t.Fatalf("from nothing: %q", d)
	}
	// Meta's GET answer shape with what was pushed, SRTP default left out
	var have Settings
	if err := json.Unmarshal([]byte(`{"calling":{"status":"ENABLED","call_icon_visibility":"DEFAULT","callback_permission_status":"ENABLED",
		"call_hours":{"status":"ENABLED","timezone_id":"UTC","weekly_operating_hours":[{"day_of_week":"MONDAY","open_time":"0900","close_time":"1700"}]},
		"sip":{"status":"ENABLED","servers":[{"app_id":"123456789","hostname":"SIP.hub.example.com","sip_user_password":"META_PW"}]},
		"restrictions":{"restrictions_list":[{"type":"RESTRICTED_BUSINESS_INITIATED_CALLING","reason":"x","expiration":1754072386}]}}}`), &have); err != nil {
		t.Fatal(err)
	}
	if d := Diff(have, want); d != nil {
		t.Fatalf("equal settings differ: %q", d)
	}
	have.Calling.CallHours.WeeklyOperatingHours[0].CloseTime = "1800"
	have.Calling.Status = "DISABLED"
	d := Diff(have, want)
	if len(d) != 2 || d[0] != "calling.status: DISABLED → ENABLED" || !strings.Contains(d[1], "MON 0900-1800 → MON 0900-1700") {
		t.Fatalf("%q", d)
	}
	red := have.Redacted()
	if red.Calling.SIP.Servers[0].SIPUserPassword != "[redacted]" || have.Calling.SIP.Servers[0].SIPUserPassword != "META_PW" {
		t.Fatal("Redacted")
	}
	if s := have.Calling.SIP.Servers[0].String(); strings.Contains(s, "META_PW") {
		t.Fatal(s)
	}
}

func TestSettingsGetPost(t *testing.T) {
	g := newFakeGraph(t)
	g.setReply(func(c graphCall) (int, map[string]string, string) {
		if c.Method == "GET" {
			return 200, nil, `{"calling":{"status":"ENABLED","sip":{"status":"ENABLED","servers":[{"hostname":"h.example.com","sip_user_password":"pw"}]}}}`
		}
		return 200, nil, `{"success":true}`
	})
	c, err := NewClient(testConfig(g.srv.URL, ""), testConfig("", "").Numbers[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSettings(t.Context(), true)
	if err != nil || s.Calling.SIP.Servers[0].SIPUserPassword != "pw" {
		t.Fatalf("%+v %v", s, err)
	}
	s.Calling.Restrictions = &Restrictions{}
	if err := c.PostSettings(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	if reqs[0].Query != "include_sip_credentials=true" || reqs[1].Method != "POST" || reqs[1].Path != "/v25.0/"+pnUser+"/settings" {
		t.Fatalf("%+v", reqs)
	}
	if _, ok := reqs[1].Body["calling"].(map[string]any)["restrictions"]; ok {
		t.Fatal("restrictions were posted")
	}
}
