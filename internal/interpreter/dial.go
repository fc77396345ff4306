package interpreter

import (
	"errors"
	"strings"

	"github.com/split-hub/split/internal/config"
)

// Refusals of the dial policy; Error() is written for people and shown as it is.
var (
	ErrNoNumber  = errors.New("a telephone number is needed")
	ErrBadNumber = errors.New("this is not a telephone number")
	ErrDenied    = errors.New("this number cannot be called through this service")
	ErrNational  = errors.New("only national numbers can be called through this service")
	ErrMaxCalls  = errors.New("this session has placed as many phone calls as it may")
	errEmergency = errors.New("emergency")
)

// EmergencyError refuses an emergency number with the configured message.
type EmergencyError struct{ Message string }

func (e *EmergencyError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrEmergency) true for every EmergencyError.
func (e *EmergencyError) Is(target error) bool { return target == errEmergency }

// ErrEmergency matches any EmergencyError with errors.Is.
var ErrEmergency = errEmergency

// DialPolicy checks a phone party's number (docs/interpreter.md §3.3).
type DialPolicy struct {
	CountryCode string // sessions.country_code (digits, no +)
	Dial        config.InterpreterDial
}

// Check returns the number to dial in E.164, or why it may not be called.
// placed is the number of phone calls the session has placed already.
func (p DialPolicy) Check(number string, placed int) (string, error) {
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r == '+':
			return r
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
			return -1
		}
		return 'x'
	}, strings.TrimSpace(number))
	switch {
	case digits == "":
		return "", ErrNoNumber
	case strings.ContainsRune(digits, 'x') || strings.LastIndexByte(digits, '+') > 0 || len(digits) > 20 || digits == "+":
		return "", ErrBadNumber
	}
	e164 := p.normalise(digits)
	forms := []string{digits, e164}
	if cc := "+" + p.CountryCode; p.CountryCode != "" && strings.HasPrefix(e164, cc) {
		forms = append(forms, strings.TrimPrefix(e164, cc)) // +34112 is 112
	}
	for _, form := range forms {
		if matchAny(p.Dial.Emergency, form) {
			msg := p.Dial.EmergencyMessage
			if msg == "" {
				msg = config.DefaultEmergencyMessage
			}
			return "", &EmergencyError{Message: msg}
		}
	}
	for _, form := range []string{digits, e164} {
		if matchAny(p.Dial.Deny, form) {
			return "", ErrDenied
		}
	}
	if len(p.Dial.Allow) > 0 {
		if !matchAny(p.Dial.Allow, e164) {
			return "", ErrDenied
		}
	} else if p.CountryCode == "" || !strings.HasPrefix(e164, "+"+p.CountryCode) {
		return "", ErrNational
	}
	if max := p.Dial.MaxCalls; max > 0 && placed >= max {
		return "", ErrMaxCalls
	}
	return e164, nil
}

func (p DialPolicy) normalise(n string) string { return E164(n, p.CountryCode) }

// E164 turns a dialled number (digits, an optional leading +) into E.164:
// +… stays, 00… is international, anything else is national (countryCode,
// digits without +). The hub normalises every number it is given this way.
func E164(n, countryCode string) string {
	switch {
	case strings.HasPrefix(n, "+"):
		return n
	case strings.HasPrefix(n, "00"):
		return "+" + n[2:]
	case countryCode != "":
		return "+" + countryCode + strings.TrimLeft(n, "0")
	}
	return "+" + n
}

// matchAny: exact, or a prefix for a pattern ending in "*".
func matchAny(patterns []string, n string) bool {
	for _, pat := range patterns {
		if pre, ok := strings.CutSuffix(pat, "*"); ok {
			if strings.HasPrefix(n, pre) {
				return true
			}
		} else if n == pat {
			return true
		}
	}
	return false
}
