package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	t0   = time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	now0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func testEvent() Event {
	return Event{
		UID:            "ses_42@split.example",
		Start:          t0,
		Duration:       30 * time.Minute,
		TimeZone:       "Europe/Madrid",
		Summary:        "Video call, about your claim; ref 7",
		Description:    "Hello María,\nyour agent will call you.\\Bring the papers.",
		URL:            "https://split.example/j/Ab3dEf_ghIJkl-mnOPqr",
		Organizer:      "SPLIT Support <support@split.example>",
		Attendee:       "maria@example.com",
		AttendeeName:   "María Pérez, Jr.",
		ReminderBefore: 15 * time.Minute,
	}
}

func mustParse(t *testing.T, ics []byte) Component {
	t.Helper()
	cals, err := ParseICS(ics)
	if err != nil {
		t.Fatalf("ParseICS: %v\n%s", err, ics)
	}
	if len(cals) != 1 {
		t.Fatalf("got %d calendars", len(cals))
	}
	return cals[0]
}

func TestEscapeText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{`a,b;c\d`, `a\,b\;c\\d`},
		{"one\ntwo\r\nthree\rfour", `one\ntwo\nthree\nfour`},
		{"tab\there", "tab\there"},
		{"bell\a nul\x00 del\x7f", "bell nul del"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{`literal \n stays`, `literal \\n stays`},
	} {
		got := escapeText(c.in)
		if got != c.want {
			t.Errorf("escapeText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := unescapeText(`a\,b\;c\\d\ne\Nf\x`); got != "a,b;c\\d\ne\nf\\x" {
		t.Errorf("unescapeText = %q", got)
	}
}

func TestICSDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute:               "PT15M",
		24 * time.Hour:                 "P1D",
		90 * time.Minute:               "PT1H30M",
		26 * time.Hour:                 "P1DT2H",
		30 * time.Second:               "PT30S",
		time.Hour + 5*time.Second:      "PT1H5S",
		49*time.Hour + 1*time.Minute:   "P2DT1H1M",
		300 * time.Millisecond:         "PT1S",
		2*24*time.Hour + 3*time.Second: "P2DT3S",
	} {
		if got := icsDuration(d); got != want {
			t.Errorf("icsDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestICSRequest(t *testing.T) {
	ev := testEvent()
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	ics := ev.ICS(now0)
	if !bytes.HasSuffix(ics, []byte("END:VCALENDAR\r\n")) || bytes.Contains(bytes.ReplaceAll(ics, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatalf("not CRLF-only:\n%q", ics)
	}
	cal := mustParse(t, ics)
	for name, want := range map[string]string{
		"VERSION": "2.0", "PRODID": "-//SPLIT//Scheduled video calls//EN", "CALSCALE": "GREGORIAN", "METHOD": "REQUEST",
	} {
		if p, _ := cal.Property(name); p.Value != want {
			t.Errorf("%s = %q, want %q", name, p.Value, want)
		}
	}
	ve, ok := cal.Component("VEVENT")
	if !ok || len(cal.Components) != 1 {
		t.Fatalf("want one VEVENT, got %+v", cal.Components)
	}
	for name, want := range map[string]string{
		"UID":      "ses_42@split.example",
		"DTSTAMP":  "20260301T120000Z",
		"DTSTART":  "20260314T083000Z", // 09:30 CET
		"DTEND":    "20260314T090000Z",
		"SEQUENCE": "0",
		"STATUS":   "CONFIRMED",
		"URL":      ev.URL,
		"LOCATION": ev.URL,
	} {
		if p, _ := ve.Property(name); p.Text() != want {
			t.Errorf("%s = %q, want %q", name, p.Text(), want)
		}
	}
	if p, _ := ve.Property("SUMMARY"); p.Value != `Video call\, about your claim\; ref 7` || p.Text() != ev.Summary {
		t.Errorf("SUMMARY = %q", p.Value)
	}
	if p, _ := ve.Property("DESCRIPTION"); p.Text() != ev.Description+"\n\n"+ev.URL {
		t.Errorf("DESCRIPTION = %q", p.Text())
	}
	org, _ := ve.Property("ORGANIZER")
	if org.Value != "mailto:support@split.example" || org.Params["CN"][0] != "SPLIT Support" {
		t.Errorf("ORGANIZER = %+v", org)
	}
	att, _ := ve.Property("ATTENDEE")
	if att.Value != "mailto:maria@example.com" || att.Params["CN"][0] != "María Pérez, Jr." ||
		att.Params["ROLE"][0] != "REQ-PARTICIPANT" || att.Params["RSVP"][0] != "TRUE" {
		t.Errorf("ATTENDEE = %+v", att)
	}
	if !bytes.Contains(ics, []byte(`ATTENDEE;CN="María Pérez, Jr.";ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:`)) {
		t.Errorf("ATTENDEE line not as expected:\n%s", ics)
	}
	conf, _ := ve.Property("CONFERENCE")
	if conf.Value != ev.URL || conf.Params["VALUE"][0] != "URI" || strings.Join(conf.Params["FEATURE"], ",") != "VIDEO,AUDIO" ||
		conf.Params["LABEL"][0] != "Join video call" {
		t.Errorf("CONFERENCE = %+v", conf)
	}
	al, ok := ve.Component("VALARM")
	if !ok {
		t.Fatal("no VALARM")
	}
	if a, _ := al.Property("ACTION"); a.Value != "DISPLAY" {
		t.Errorf("ACTION = %q", a.Value)
	}
	if tr, _ := al.Property("TRIGGER"); tr.Value != "-PT15M" {
		t.Errorf("TRIGGER = %q", tr.Value)
	}
	if d, _ := al.Property("DESCRIPTION"); d.Text() != "Reminder: "+ev.Summary {
		t.Errorf("VALARM DESCRIPTION = %q", d.Text())
	}
}

func TestICSCancelAndSequence(t *testing.T) {
	ev := testEvent()
	ev.Method, ev.Sequence = MethodCancel, 2
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	ics := ev.ICS(now0)
	cal := mustParse(t, ics)
	ve, _ := cal.Component("VEVENT")
	if m, _ := cal.Property("METHOD"); m.Value != "CANCEL" {
		t.Errorf("METHOD = %q", m.Value)
	}
	if s, _ := ve.Property("STATUS"); s.Value != "CANCELLED" {
		t.Errorf("STATUS = %q", s.Value)
	}
	if s, _ := ve.Property("SEQUENCE"); s.Value != "2" {
		t.Errorf("SEQUENCE = %q", s.Value)
	}
	if _, ok := ve.Component("VALARM"); ok {
		t.Error("a CANCEL carries no alarm")
	}
	ev.ReminderBefore = 0
	ev.Method = ""
	if bytes.Contains(ev.ICS(now0), []byte("VALARM")) {
		t.Error("VALARM without ReminderBefore")
	}
}

func TestICSFoldsLongUTF8Lines(t *testing.T) {
	ev := testEvent()
	ev.URL = ""
	// 200 characters of 1-, 2-, 3- and 4-byte UTF-8, plus characters to escape.
	ev.Description = strings.Repeat("añ€😀,", 40)
	if n := utf8.RuneCountInString(ev.Description); n != 200 {
		t.Fatalf("description has %d characters", n)
	}
	ev.Summary = strings.Repeat("ü", 100)
	ics := ev.ICS(now0)
	lines := strings.Split(strings.TrimSuffix(string(ics), "\r\n"), "\r\n")
	folded := 0
	for i, l := range lines {
		if len(l) > 75 {
			t.Errorf("line %d has %d octets: %q", i+1, len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Errorf("line %d splits a UTF-8 sequence: %q", i+1, l)
		}
		if strings.HasPrefix(l, " ") {
			folded++
		}
	}
	if folded < 5 {
		t.Errorf("only %d continuation lines:\n%s", folded, ics)
	}
	ve, _ := mustParse(t, ics).Component("VEVENT")
	if d, _ := ve.Property("DESCRIPTION"); d.Text() != ev.Description {
		t.Errorf("DESCRIPTION round trip:\n got %q\nwant %q", d.Text(), ev.Description)
	}
	if s, _ := ve.Property("SUMMARY"); s.Text() != ev.Summary {
		t.Errorf("SUMMARY round trip: %q", s.Text())
	}
}

func TestEventValidate(t *testing.T) {
	for name, mod := range map[string]func(*Event){
		"no UID":          func(e *Event) { e.UID = " " },
		"no start":        func(e *Event) { e.Start = time.Time{} },
		"no duration":     func(e *Event) { e.Duration = 0 },
		"bad method":      func(e *Event) { e.Method = "PUBLISH" },
		"bad status":      func(e *Event) { e.Status = "MAYBE" },
		"bad URL":         func(e *Event) { e.URL = "javascript:alert(1)" },
		"no organizer":    func(e *Event) { e.Organizer = "" },
		"bad attendee":    func(e *Event) { e.Attendee = "not an address" },
		"negative seq":    func(e *Event) { e.Sequence = -1 },
		"negative remind": func(e *Event) { e.ReminderBefore = -time.Minute },
	} {
		ev := testEvent()
		mod(&ev)
		if err := ev.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestParseICSRejects(t *testing.T) {
	good := string(testEvent().ICS(now0))
	for name, in := range map[string]string{
		"empty":              "",
		"LF only":            strings.ReplaceAll(good, "\r\n", "\n"),
		"no final CRLF":      strings.TrimSuffix(good, "\r\n"),
		"long line":          strings.Replace(good, "CALSCALE:GREGORIAN", "X-LONG:"+strings.Repeat("x", 80), 1),
		"unclosed":           strings.Replace(good, "END:VCALENDAR\r\n", "", 1),
		"mismatched END":     strings.Replace(good, "END:VALARM", "END:VEVENT", 1),
		"no UID":             strings.Replace(good, "UID:ses_42@split.example\r\n", "", 1),
		"no DTSTART":         strings.Replace(good, "DTSTART:20260314T083000Z\r\n", "", 1),
		"bad DTSTAMP":        strings.Replace(good, "DTSTAMP:20260301T120000Z", "DTSTAMP:yesterday", 1),
		"DTEND and DURATION": strings.Replace(good, "SEQUENCE:0", "SEQUENCE:0\r\nDURATION:PT1H", 1),
		"no VERSION":         strings.Replace(good, "VERSION:2.0\r\n", "", 1),
		"VERSION 1.0":        strings.Replace(good, "VERSION:2.0", "VERSION:1.0", 1),
		"two PRODID":         strings.Replace(good, "CALSCALE", "PRODID:x\r\nCALSCALE", 1),
		"no colon":           strings.Replace(good, "CALSCALE:GREGORIAN", "CALSCALE GREGORIAN", 1),
		"bad name":           strings.Replace(good, "CALSCALE:", "CAL_SCALE:", 1),
		"open quote":         strings.Replace(good, "LABEL=Join video call", `LABEL="Join video call`, 1),
		"DQUOTE in param":    strings.Replace(good, "ROLE=REQ-PARTICIPANT", `ROLE=REQ"PARTICIPANT`, 1),
		"control char":       strings.Replace(good, "GREGORIAN", "GREGOR\x01IAN", 1),
		"bare CR":            strings.Replace(good, "GREGORIAN", "GREGOR\rIAN", 1),
		"outside calendar":   "X-FOO:bar\r\n" + good,
		"no TRIGGER":         strings.Replace(good, "TRIGGER:-PT15M\r\n", "", 1),
		"leading fold":       " x\r\n" + good,
		"nested VCALENDAR":   strings.Replace(good, "BEGIN:VEVENT", "BEGIN:VCALENDAR", 1),
		"invalid UTF-8":      strings.Replace(good, "GREGORIAN", "GREG\xffORIAN", 1),
		"empty line":         strings.Replace(good, "CALSCALE:GREGORIAN\r\n", "CALSCALE:GREGORIAN\r\n\r\n", 1),
	} {
		if _, err := ParseICS([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ParseICS = %v, want ErrInvalid", name, err)
		}
	}
}

// TestICSPythonICalendar parses our output with an independent
// implementation, Python's icalendar module (Debian: python3-icalendar). The
// full run fails without it; -short skips it.
func TestICSPythonICalendar(t *testing.T) {
	if testing.Short() {
		t.Skip("python icalendar cross-check skipped under -short")
	}
	py := pythonWithICalendar()
	if py == "" {
		t.Fatal("python3 with the icalendar module is required for the full test run: apt-get install python3-icalendar")
	}
	const script = `
import sys, json, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
out = {"method": str(cal.get("method")), "version": str(cal.get("version")), "prodid": str(cal.get("prodid")),
       "errors": [str(e) for c in cal.walk() for e in getattr(c, "errors", [])], "events": []}
for ev in cal.walk("VEVENT"):
    att = ev.get("attendee")
    out["events"].append({
        "uid": str(ev.get("uid")), "summary": str(ev.get("summary", "")), "description": str(ev.get("description", "")),
        "start": ev.decoded("dtstart").isoformat(), "end": ev.decoded("dtend").isoformat(),
        "stamp": ev.decoded("dtstamp").isoformat(), "sequence": int(ev.get("sequence")), "status": str(ev.get("status")),
        "url": str(ev.get("url", "")), "conference": str(ev.get("conference", "")),
        "organizer": str(ev.get("organizer")), "attendee": str(att), "attendee_cn": str(att.params.get("CN")),
        "alarms": [a.decoded("trigger").total_seconds() for a in ev.walk("VALARM")],
    })
json.dump(out, sys.stdout)
`
	type pyEvent struct {
		UID, Summary, Description, Start, End, Stamp, Status, URL, Conference, Organizer, Attendee string
		AttendeeCN                                                                                 string `json:"attendee_cn"`
		Sequence                                                                                   int
		Alarms                                                                                     []float64
	}
	var got struct {
		Method, Version, Prodid string
		Errors                  []string
		Events                  []pyEvent
	}
	for _, tc := range []struct {
		name string
		ev   Event
	}{
		{"request", testEvent()},
		{"long utf8", func() Event { e := testEvent(); e.Description = strings.Repeat("añ€😀,;\\", 30); return e }()},
		{"cancel", func() Event { e := testEvent(); e.Method, e.Sequence = MethodCancel, 3; return e }()},
	} {
		ics := tc.ev.ICS(now0)
		cmd := exec.Command(py, "-c", script)
		cmd.Stdin = bytes.NewReader(ics)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("%s: icalendar rejected our ICS: %v\n%s\n%s", tc.name, err, ee.Stderr, ics)
			}
			t.Fatal(err)
		}
		got.Events, got.Errors = nil, nil
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v: %s", tc.name, err, out)
		}
		if len(got.Errors) > 0 || got.Version != "2.0" || got.Prodid != ProdID || got.Method != tc.ev.method() || len(got.Events) != 1 {
			t.Fatalf("%s: calendar = %+v", tc.name, got)
		}
		e := got.Events[0]
		want := pyEvent{
			UID: tc.ev.UID, Summary: tc.ev.Summary, Description: tc.ev.description(),
			Start: "2026-03-14T08:30:00+00:00", End: "2026-03-14T09:00:00+00:00", Stamp: "2026-03-01T12:00:00+00:00",
			Status: tc.ev.status(), URL: tc.ev.URL, Conference: tc.ev.URL,
			Organizer: "mailto:support@split.example", Attendee: "mailto:maria@example.com", AttendeeCN: "María Pérez, Jr.",
			Sequence: tc.ev.Sequence,
		}
		if tc.ev.method() == MethodRequest {
			want.Alarms = []float64{-900}
		}
		if len(e.Alarms) == 0 && len(want.Alarms) == 0 {
			e.Alarms, want.Alarms = nil, nil
		}
		gj, _ := json.Marshal(e)
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("%s: icalendar read\n got %s\nwant %s", tc.name, gj, wj)
		}
	}
}

// pythonWithICalendar finds a python3 that can import icalendar (the PATH one
// may be a pyenv build without Debian's dist-packages).
func pythonWithICalendar() string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import icalendar").Run() == nil {
			return path
		}
	}
	return ""
}
