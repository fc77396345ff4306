package notify

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Component is one parsed iCalendar component (VCALENDAR, VEVENT, VALARM, …).
type Component struct {
	Name       string // upper case
	Properties []Property
	Components []Component
}

// Property is one unfolded content line: NAME;PARAM=v1,v2:value. Names are
// upper case; Value is raw (still TEXT-escaped; see Text).
type Property struct {
	Name   string
	Params map[string][]string // parameter values without their quotes
	Value  string
}

// Text returns the value with RFC 5545 TEXT escapes undone.
func (p Property) Text() string { return unescapeText(p.Value) }

// Property returns the first property called name (case-insensitive).
func (c Component) Property(name string) (Property, bool) {
	name = strings.ToUpper(name)
	for _, p := range c.Properties {
		if p.Name == name {
			return p, true
		}
	}
	return Property{}, false
}

// Component returns the first sub-component called name (case-insensitive).
func (c Component) Component(name string) (Component, bool) {
	name = strings.ToUpper(name)
	for _, s := range c.Components {
		if s.Name == name {
			return s, true
		}
	}
	return Component{}, false
}

func (c Component) count(name string) int {
	n := 0
	for _, p := range c.Properties {
		if p.Name == name {
			n++
		}
	}
	return n
}

const icsMaxDepth = 16

var (
	icsDateTime = regexp.MustCompile(`^\d{8}T\d{6}Z?$`)
	icsDate     = regexp.MustCompile(`^\d{8}$`)
)

// ParseICS is a strict validator for iCalendar objects (RFC 5545), used by
// tests to check what ICS writes. It requires CRLF line endings, physical
// lines of at most 75 octets, valid UTF-8 and content lines of the form
// NAME[;PARAM=value[,value]…]:value; it unfolds lines, checks BEGIN/END
// nesting, and checks the required properties: VERSION:2.0 and PRODID once
// in VCALENDAR, UID, DTSTAMP and DTSTART once in VEVENT (with well-formed
// date-times and not both DTEND and DURATION), ACTION and TRIGGER in VALARM.
// It returns the top-level components (VCALENDARs).
func ParseICS(data []byte) ([]Component, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: ics: not valid UTF-8", ErrInvalid)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: ics: empty", ErrInvalid)
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		return nil, fmt.Errorf("%w: ics: does not end with CRLF", ErrInvalid)
	}
	raw := strings.Split(string(data[:len(data)-2]), "\r\n")
	var lines []string
	var lineNo []int
	for i, l := range raw {
		if strings.ContainsAny(l, "\r\n") {
			return nil, fmt.Errorf("%w: ics: line %d: bare CR or LF", ErrInvalid, i+1)
		}
		if len(l) > icsLineMax {
			return nil, fmt.Errorf("%w: ics: line %d: %d octets, more than 75", ErrInvalid, i+1, len(l))
		}
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			if len(lines) == 0 {
				return nil, fmt.Errorf("%w: ics: line %d: continuation without a line to continue", ErrInvalid, i+1)
			}
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
		lineNo = append(lineNo, i+1)
	}

	var (
		top   []Component
		stack []*Component
	)
	for i, l := range lines {
		p, err := parseContentLine(l)
		if err != nil {
			return nil, fmt.Errorf("%w: ics: line %d: %v", ErrInvalid, lineNo[i], err)
		}
		switch p.Name {
		case "BEGIN":
			name := strings.ToUpper(p.Value)
			if !validName(name) || len(p.Params) > 0 {
				return nil, fmt.Errorf("%w: ics: line %d: bad BEGIN", ErrInvalid, lineNo[i])
			}
			if len(stack) == 0 && name != "VCALENDAR" {
				return nil, fmt.Errorf("%w: ics: line %d: %s outside VCALENDAR", ErrInvalid, lineNo[i], name)
			}
			if len(stack) > 0 && name == "VCALENDAR" {
				return nil, fmt.Errorf("%w: ics: line %d: nested VCALENDAR", ErrInvalid, lineNo[i])
			}
			if len(stack) >= icsMaxDepth {
				return nil, fmt.Errorf("%w: ics: line %d: nested too deep", ErrInvalid, lineNo[i])
			}
			stack = append(stack, &Component{Name: name})
		case "END":
			name := strings.ToUpper(p.Value)
			if len(stack) == 0 || stack[len(stack)-1].Name != name {
				return nil, fmt.Errorf("%w: ics: line %d: END:%s does not close the open component", ErrInvalid, lineNo[i], p.Value)
			}
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if err := checkComponent(c, len(stack)); err != nil {
				return nil, fmt.Errorf("%w: ics: %s ending on line %d: %v", ErrInvalid, c.Name, lineNo[i], err)
			}
			if len(stack) == 0 {
				top = append(top, *c)
			} else {
				parent := stack[len(stack)-1]
				parent.Components = append(parent.Components, *c)
			}
		default:
			if len(stack) == 0 {
				return nil, fmt.Errorf("%w: ics: line %d: property outside any component", ErrInvalid, lineNo[i])
			}
			c := stack[len(stack)-1]
			c.Properties = append(c.Properties, p)
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("%w: ics: %s is not closed", ErrInvalid, stack[len(stack)-1].Name)
	}
	if len(top) == 0 {
		return nil, fmt.Errorf("%w: ics: no VCALENDAR", ErrInvalid)
	}
	return top, nil
}

func checkComponent(c *Component, depth int) error {
	once := func(names ...string) error {
		for _, n := range names {
			if k := c.count(n); k != 1 {
				return fmt.Errorf("%s appears %d times, want exactly once", n, k)
			}
		}
		return nil
	}
	switch c.Name {
	case "VCALENDAR":
		if err := once("VERSION", "PRODID"); err != nil {
			return err
		}
		if v, _ := c.Property("VERSION"); v.Value != "2.0" {
			return fmt.Errorf("VERSION is %q, want 2.0", v.Value)
		}
		if len(c.Components) == 0 {
			return fmt.Errorf("no components")
		}
	case "VEVENT":
		if depth != 1 {
			return fmt.Errorf("VEVENT must be directly inside VCALENDAR")
		}
		if err := once("UID", "DTSTAMP", "DTSTART"); err != nil {
			return err
		}
		if c.count("DTEND") > 0 && c.count("DURATION") > 0 {
			return fmt.Errorf("both DTEND and DURATION")
		}
		if p, _ := c.Property("DTSTAMP"); !icsDateTime.MatchString(p.Value) {
			return fmt.Errorf("DTSTAMP %q is not a date-time", p.Value)
		}
		for _, n := range []string{"DTSTART", "DTEND"} {
			if p, ok := c.Property(n); ok && !icsDateTime.MatchString(p.Value) && !icsDate.MatchString(p.Value) {
				return fmt.Errorf("%s %q is not a date or date-time", n, p.Value)
			}
		}
	case "VALARM":
		if depth < 2 {
			return fmt.Errorf("VALARM outside an event")
		}
		if err := once("ACTION", "TRIGGER"); err != nil {
			return err
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isCTL(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }

// parseContentLine parses NAME *(";" param) ":" value (RFC 5545 §3.1).
func parseContentLine(l string) (Property, error) {
	i := strings.IndexAny(l, ";:")
	if i <= 0 {
		return Property{}, fmt.Errorf("not NAME[;params]:value")
	}
	p := Property{Name: strings.ToUpper(l[:i])}
	if !validName(p.Name) {
		return Property{}, fmt.Errorf("bad property name %q", l[:i])
	}
	rest := l[i:]
	for rest != "" && rest[0] == ';' {
		rest = rest[1:]
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 || !validName(rest[:eq]) {
			return Property{}, fmt.Errorf("%s: bad parameter", p.Name)
		}
		pname := strings.ToUpper(rest[:eq])
		rest = rest[eq+1:]
		var vals []string
		for {
			var v string
			if rest != "" && rest[0] == '"' {
				end := strings.IndexByte(rest[1:], '"')
				if end < 0 {
					return Property{}, fmt.Errorf("%s: unterminated quoted parameter", p.Name)
				}
				v, rest = rest[1:1+end], rest[2+end:]
			} else {
				end := strings.IndexAny(rest, ";:,\"")
				if end < 0 {
					return Property{}, fmt.Errorf("%s: no ':' before the value", p.Name)
				}
				if rest[end] == '"' {
					return Property{}, fmt.Errorf("%s: DQUOTE inside a parameter value", p.Name)
				}
				v, rest = rest[:end], rest[end:]
			}
			if strings.IndexFunc(v, isCTL) >= 0 {
				return Property{}, fmt.Errorf("%s: control character in a parameter", p.Name)
			}
			vals = append(vals, v)
			if rest == "" || rest[0] != ',' {
				break
			}
			rest = rest[1:]
		}
		if p.Params == nil {
			p.Params = map[string][]string{}
		}
		p.Params[pname] = append(p.Params[pname], vals...)
	}
	if rest == "" || rest[0] != ':' {
		return Property{}, fmt.Errorf("%s: no ':' before the value", p.Name)
	}
	p.Value = rest[1:]
	if strings.IndexFunc(p.Value, isCTL) >= 0 {
		return Property{}, fmt.Errorf("%s: control character in the value", p.Name)
	}
	return p, nil
}
