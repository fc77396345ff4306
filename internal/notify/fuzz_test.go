package notify

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseICS: ParseICS never panics, and what it accepts is a well-formed
// tree (corpus in testdata/fuzz/FuzzParseICS).
func FuzzParseICS(f *testing.F) {
	f.Add(testEvent().ICS(now0))
	ev := testEvent()
	ev.Method, ev.Description = MethodCancel, strings.Repeat("añ€😀,", 40)
	f.Add(ev.ICS(now0))
	f.Fuzz(func(t *testing.T, data []byte) {
		cals, err := ParseICS(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(cals) == 0 {
			t.Fatal("accepted input without a calendar")
		}
		var check func(c Component, depth int)
		check = func(c Component, depth int) {
			if depth > icsMaxDepth || !validName(c.Name) {
				t.Fatalf("bad component %q at depth %d", c.Name, depth)
			}
			for _, p := range c.Properties {
				if !validName(p.Name) || strings.IndexFunc(p.Value, isCTL) >= 0 {
					t.Fatalf("bad property %+v", p)
				}
			}
			for _, s := range c.Components {
				check(s, depth+1)
			}
		}
		for _, c := range cals {
			if c.Name != "VCALENDAR" {
				t.Fatalf("top-level %s", c.Name)
			}
			if v, _ := c.Property("VERSION"); v.Value != "2.0" {
				t.Fatal("accepted a calendar without VERSION:2.0")
			}
			check(c, 1)
		}
	})
}

// normalText is what a TEXT value can carry: valid UTF-8, LF line breaks,
// no control characters but HTAB.
func normalText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		if r != '\n' && isCTL(r) {
			return -1
		}
		return r
	}, s)
}

// FuzzEscapeText: escaping round-trips, leaves no line break or control
// character, and survives folding inside a whole ICS parsed by ParseICS
// (corpus in testdata/fuzz/FuzzEscapeText).
func FuzzEscapeText(f *testing.F) {
	for _, s := range []string{"", "plain", `a,b;c\d`, "x\r\ny\nz\r", "ñ€😀", "\\n", "tab\tctl\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeText(s)
		if !utf8.ValidString(e) || strings.IndexFunc(e, isCTL) >= 0 {
			t.Fatalf("escapeText(%q) = %q has a control character or bad UTF-8", s, e)
		}
		want := normalText(s)
		if got := unescapeText(e); got != want {
			t.Fatalf("round trip of %q: got %q, want %q", s, got, want)
		}
		ev := testEvent()
		ev.URL, ev.Summary, ev.Description = "", s, s
		cal, err := ParseICS(ev.ICS(now0))
		if err != nil {
			t.Fatalf("ICS with %q does not parse: %v", s, err)
		}
		ve, _ := cal[0].Component("VEVENT")
		if want == "" {
			return
		}
		if p, _ := ve.Property("DESCRIPTION"); p.Text() != want {
			t.Fatalf("DESCRIPTION of %q read back as %q", s, p.Text())
		}
	})
}
