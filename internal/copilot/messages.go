package copilot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what an AI may send (docs/copilot.md §3.3).
const (
	MaxTextFrame = 16 << 10 // bytes of one text frame
	maxText      = 500      // hint text
	maxReason    = 200      // alert reason
	maxTitle     = 120
	maxTagValue  = 256
	maxCard      = 4 << 10
	maxID        = 64
	maxMark      = 64
	maxTranscr   = 2000
)

// ErrMessage is the class of refused AI messages; its text says why, for
// the error frame sent back.
var ErrMessage = errors.New("bad_request")

// Message is one checked message from an AI service.
type Message struct {
	Type string `json:"type"` // transcript, hint, alert, tag, speak, clear

	// transcript
	Participant string `json:"participant,omitempty"`
	Text        string `json:"text,omitempty"`
	Final       bool   `json:"final,omitempty"`
	StartMS     int64  `json:"start_ms,omitempty"`
	EndMS       int64  `json:"end_ms,omitempty"`
	Language    string `json:"language,omitempty"`
	// hint and alert
	ID       string          `json:"id,omitempty"`
	Title    string          `json:"title,omitempty"`
	URL      string          `json:"url,omitempty"`
	Card     json.RawMessage `json:"card,omitempty"`
	Severity string          `json:"severity,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	// tag
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// speak
	To   string `json:"to,omitempty"` // agent or all
	Mark string `json:"mark,omitempty"`
}

var (
	participantRE = regexp.MustCompile(`^p[0-9]{1,3}$`)
	tagKeyRE      = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)
)

// ParseMessage checks one text frame from an AI service. A refusal wraps
// ErrMessage with the reason.
func ParseMessage(b []byte) (Message, error) {
	if len(b) > MaxTextFrame {
		return Message{}, fmt.Errorf("%w: frame over %d bytes", ErrMessage, MaxTextFrame)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return Message{}, fmt.Errorf("%w: not a JSON object: %v", ErrMessage, err)
	}
	bad := func(f string, a ...any) (Message, error) {
		return Message{}, fmt.Errorf("%w: %s: %s", ErrMessage, m.Type, fmt.Sprintf(f, a...))
	}
	switch m.Type {
	case "transcript":
		if !participantRE.MatchString(m.Participant) {
			return bad("participant must be p<n>")
		}
		if !printable(m.Text, maxTranscr) {
			return bad("text must be printable, at most %d characters", maxTranscr)
		}
		if m.StartMS < 0 || m.EndMS < m.StartMS {
			return bad("start_ms and end_ms must be 0 ≤ start ≤ end")
		}
		if len(m.Language) > 35 {
			return bad("language is too long")
		}
	case "hint":
		if m.Text == "" || !printable(m.Text, maxText) || !printable(m.Title, maxTitle) {
			return bad("text (1-%d) and title (≤ %d) must be printable", maxText, maxTitle)
		}
		if m.URL != "" {
			u, err := url.Parse(m.URL)
			if err != nil || u.Scheme != "https" || u.Host == "" || len(m.URL) > 2048 {
				return bad("url must be an https URL")
			}
		}
		if len(m.Card) > maxCard || (len(m.Card) > 0 && (m.Card[0] != '{' || !json.Valid(m.Card))) {
			return bad("card must be a JSON object of at most %d bytes", maxCard)
		}
	case "alert":
		switch m.Severity {
		case "info", "warning", "critical":
		default:
			return bad("severity must be info, warning or critical")
		}
		if m.Reason == "" || !printable(m.Reason, maxReason) {
			return bad("reason must be printable, 1-%d characters", maxReason)
		}
	case "tag":
		if !tagKeyRE.MatchString(m.Key) {
			return bad("key must be 1-64 of a-z 0-9 _ . -")
		}
		if !printable(m.Value, maxTagValue) {
			return bad("value must be printable, at most %d characters", maxTagValue)
		}
	case "speak":
		if m.To != "agent" && m.To != "all" {
			return bad("to must be agent or all")
		}
		if !printable(m.Mark, maxMark) {
			return bad("mark must be printable, at most %d characters", maxMark)
		}
	case "clear":
	default:
		return Message{}, fmt.Errorf("%w: unknown type %q", ErrMessage, clip(m.Type, 32))
	}
	if !printable(m.ID, maxID) {
		return bad("id must be printable, at most %d characters", maxID)
	}
	return m, nil
}

// printable: valid UTF-8, at most n runes, no control characters but
// newlines and tabs.
func printable(s string, n int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > n {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) < 0
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}
