package notify

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// iCalendar methods (RFC 5546 §1.4) and event statuses (RFC 5545 §3.8.1.11)
// that Event supports.
const (
	MethodRequest   = "REQUEST"
	MethodCancel    = "CANCEL"
	StatusConfirmed = "CONFIRMED"
	StatusCancelled = "CANCELLED"
)

// ProdID is the PRODID of every calendar this package writes.
const ProdID = "-//SPLIT//Scheduled video calls//EN"

// Event is one scheduled video call, written as an iCalendar object
// (RFC 5545) for an iTIP REQUEST or CANCEL (RFC 5546) sent by e-mail (iMIP,
// RFC 6047). To reschedule, send the same UID with Sequence+1; to cancel,
// send Method CANCEL with Sequence+1.
type Event struct {
	UID            string // globally unique and stable across updates, e.g. "ses_…@split.example"
	Sequence       int    // 0 for the first REQUEST, +1 on each reschedule or cancel
	Method         string // MethodRequest (default) or MethodCancel
	Start          time.Time
	Duration       time.Duration
	TimeZone       string // IANA name; informational only: times are written in UTC ("Z")
	Summary        string
	Description    string // the URL is appended when missing: some clients ignore CONFERENCE and URL
	Location       string // defaults to URL
	URL            string // the join link; also written as CONFERENCE (RFC 7986 §5.11)
	Organizer      string // e-mail address, optionally "Name <addr>"
	Attendee       string // e-mail address, optionally "Name <addr>"
	AttendeeName   string // CN of the attendee; overrides a name in Attendee
	ReminderBefore time.Duration
	// LinkLabel labels the CONFERENCE link (DefaultLinkLabel when empty);
	// Reminder starts the alarm's text ("Reminder" when empty): the
	// customer's language (docs/i18n.md).
	LinkLabel string
	Reminder  string
	Status    string // StatusConfirmed (default for REQUEST) or StatusCancelled (default for CANCEL)
}

func (e Event) method() string {
	if e.Method == "" {
		return MethodRequest
	}
	return e.Method
}

func (e Event) status() string {
	switch {
	case e.Status != "":
		return e.Status
	case e.method() == MethodCancel:
		return StatusCancelled
	default:
		return StatusConfirmed
	}
}

// Validate checks what ICS cannot repair. The error wraps ErrInvalid.
func (e Event) Validate() error {
	switch {
	case strings.TrimSpace(e.UID) == "":
		return invalidf("calendar: UID is required")
	case e.Start.IsZero():
		return invalidf("calendar: Start is required")
	case e.Duration <= 0:
		return invalidf("calendar: Duration must be positive")
	case e.Sequence < 0:
		return invalidf("calendar: Sequence must not be negative")
	case e.ReminderBefore < 0:
		return invalidf("calendar: ReminderBefore must not be negative")
	}
	switch e.method() {
	case MethodRequest, MethodCancel:
	default:
		return invalidf("calendar: Method must be REQUEST or CANCEL")
	}
	switch e.status() {
	case StatusConfirmed, StatusCancelled, "TENTATIVE":
	default:
		return invalidf("calendar: Status must be CONFIRMED, TENTATIVE or CANCELLED")
	}
	if e.URL != "" {
		if err := checkLink(e.URL); err != nil {
			return invalidf("calendar: URL: %v", err)
		}
	}
	// RFC 5546 §3.2.2 and §3.2.5: REQUEST and CANCEL need an ORGANIZER and at least one ATTENDEE.
	if _, err := parseAddress(e.Organizer); err != nil {
		return invalidf("calendar: Organizer: %v", err)
	}
	if _, err := parseAddress(e.Attendee); err != nil {
		return invalidf("calendar: Attendee: %v", err)
	}
	return nil
}

// ICS writes the event as a complete VCALENDAR with CRLF line endings, TEXT
// values escaped and lines folded at 75 octets (never inside a UTF-8
// sequence). now is the DTSTAMP. Call Validate first: ICS writes whatever it
// is given.
func (e Event) ICS(now time.Time) []byte {
	var w icsWriter
	w.line("BEGIN:VCALENDAR")
	w.line("VERSION:2.0")
	w.line("PRODID:" + ProdID)
	w.line("CALSCALE:GREGORIAN")
	w.line("METHOD:" + e.method())
	w.line("BEGIN:VEVENT")
	w.line("UID:" + escapeText(e.UID))
	w.line("DTSTAMP:" + icsTime(now))
	w.line("DTSTART:" + icsTime(e.Start))
	w.line("DTEND:" + icsTime(e.Start.Add(e.Duration)))
	w.line("SEQUENCE:" + strconv.Itoa(e.Sequence))
	w.line("STATUS:" + e.status())
	if e.Summary != "" {
		w.line("SUMMARY:" + escapeText(e.Summary))
	}
	if d := e.description(); d != "" {
		w.line("DESCRIPTION:" + escapeText(d))
	}
	if loc := e.Location; loc != "" || e.URL != "" {
		if loc == "" {
			loc = e.URL
		}
		w.line("LOCATION:" + escapeText(loc))
	}
	if e.URL != "" {
		w.line("URL:" + e.URL)
	}
	if a, err := parseAddress(e.Organizer); err == nil {
		w.line("ORGANIZER" + cnParam(a.Name) + ":mailto:" + a.Address)
	}
	if a, err := parseAddress(e.Attendee); err == nil {
		name := a.Name
		if e.AttendeeName != "" {
			name = e.AttendeeName
		}
		w.line("ATTENDEE" + cnParam(name) + ";ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:" + a.Address)
	}
	if e.URL != "" {
		label := strings.TrimPrefix(cnParam(e.LinkLabel), ";CN=")
		if label == "" {
			label = DefaultLinkLabel
		}
		w.line("CONFERENCE;VALUE=URI;FEATURE=VIDEO,AUDIO;LABEL=" + label + ":" + e.URL)
	}
	if e.ReminderBefore > 0 && e.method() != MethodCancel {
		w.line("BEGIN:VALARM")
		w.line("ACTION:DISPLAY")
		w.line("TRIGGER:-" + icsDuration(e.ReminderBefore))
		reminder := "Reminder"
		if e.Reminder != "" {
			reminder = e.Reminder
		}
		if e.Summary != "" {
			reminder += ": " + e.Summary
		}
		w.line("DESCRIPTION:" + escapeText(reminder))
		w.line("END:VALARM")
	}
	w.line("END:VEVENT")
	w.line("END:VCALENDAR")
	return w.buf.Bytes()
}

func (e Event) description() string {
	d := e.Description
	if e.URL == "" || strings.Contains(d, e.URL) {
		return d
	}
	if strings.TrimSpace(d) == "" {
		return e.URL
	}
	return strings.TrimRight(d, "\r\n ") + "\n\n" + e.URL
}

func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// icsDuration writes a positive RFC 5545 §3.3.6 duration, e.g. PT15M, P1D, P1DT2H30M.
func icsDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Second {
		d = time.Second
	}
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, d := d/time.Minute, d%time.Minute
	s := d / time.Second
	var b strings.Builder
	b.WriteByte('P')
	if days > 0 {
		b.WriteString(strconv.Itoa(int(days)) + "D")
	}
	if h > 0 || m > 0 || s > 0 {
		b.WriteByte('T')
		if h > 0 {
			b.WriteString(strconv.Itoa(int(h)) + "H")
		}
		if m > 0 {
			b.WriteString(strconv.Itoa(int(m)) + "M")
		}
		if s > 0 {
			b.WriteString(strconv.Itoa(int(s)) + "S")
		}
	}
	return b.String()
}

// cnParam returns ";CN=…" for a non-empty name, quoted when needed
// (RFC 5545 §3.2: param values with ":", ";" or "," are quoted; DQUOTE and
// control characters cannot appear at all and are dropped).
func cnParam(name string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(name, "\uFFFD") {
		if r == '"' || r < ' ' || r == 0x7f {
			continue
		}
		b.WriteRune(r)
	}
	v := strings.TrimSpace(b.String())
	if v == "" {
		return ""
	}
	if strings.ContainsAny(v, ":;,") {
		v = `"` + v + `"`
	}
	return ";CN=" + v
}

// escapeText escapes an RFC 5545 §3.3.11 TEXT value: backslash, semicolon
// and comma get a backslash; every line break becomes \n. Other control
// characters (TEXT allows only HTAB) are dropped and invalid UTF-8 becomes
// U+FFFD.
func escapeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == ';' || c == ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			b.WriteString(`\n`)
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteByte(c)
		case c < ' ' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeText reverses escapeText: \\ \; \, \n \N. A backslash before any
// other character is kept as it is.
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '\\', ';', ',':
			b.WriteByte(s[i+1])
		case 'n', 'N':
			b.WriteByte('\n')
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i+1])
		}
		i++
	}
	return b.String()
}

// icsWriter writes content lines folded at 75 octets (RFC 5545 §3.1).
type icsWriter struct{ buf bytes.Buffer }

const icsLineMax = 75

func (w *icsWriter) line(s string) {
	limit := icsLineMax
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		w.buf.WriteString(s[:cut])
		w.buf.WriteString("\r\n ")
		s = s[cut:]
		limit = icsLineMax - 1 // the leading space counts
	}
	w.buf.WriteString(s)
	w.buf.WriteString("\r\n")
}
