package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Limits on what a browser may send.
const (
	maxCallID  = 64
	maxSDP     = 64 << 10
	maxTo      = 256
	maxDigits  = 32
	maxHeaders = 8
	maxHdrVal  = 256
)

// parseMessage decodes and validates one signalling message. On error the
// returned message still carries the call id when it could be read, so the
// error reply can name the call.
func parseMessage(b []byte) (inMsg, error) {
	var m inMsg
	if err := json.Unmarshal(b, &m); err != nil {
		var partial struct {
			Call string `json:"call"`
		}
		_ = json.Unmarshal(b, &partial)
		m = inMsg{Call: clip(partial.Call)}
		return m, fmt.Errorf("malformed JSON: %v", err)
	}
	m.Call = clip(m.Call)
	if len(m.Call) > maxCallID {
		return m, errors.New("call id must be at most 64 characters")
	}
	switch m.Type {
	case "ping":
		return m, nil
	case "offer":
		switch {
		case m.Call == "":
			return m, errors.New("missing call")
		case m.SDP == "" || len(m.SDP) > maxSDP:
			return m, errors.New("sdp must be 1-65536 bytes")
		case m.To == "" || len(m.To) > maxTo:
			return m, errors.New("to must be 1-256 characters")
		case len(m.Headers) > maxHeaders:
			return m, fmt.Errorf("at most %d headers", maxHeaders)
		}
		if scheme := uriScheme(m.To); scheme != "" && scheme != "sip" && scheme != "sips" {
			return m, fmt.Errorf("to: %s: URIs are not dialled; send a sip: URI or the number itself", scheme)
		}
		for k, v := range m.Headers {
			if !validHeaderName(k) || len(v) > maxHdrVal || strings.ContainsAny(v, "\r\n\x00") {
				return m, fmt.Errorf("header %s not allowed (only X-* extension headers, not X-Split-*, value ≤256 characters, one line)", strconvQuote(k))
			}
		}
	case "answer":
		if m.SDP == "" || len(m.SDP) > maxSDP {
			return m, errors.New("sdp must be 1-65536 bytes")
		}
	case "dtmf":
		if m.Digits == "" || len(m.Digits) > maxDigits || strings.Trim(m.Digits, "0123456789*#ABCDabcd") != "" {
			return m, errors.New("digits must be 1-32 of 0-9 * # A-D")
		}
	case "reject", "candidate", "hold", "resume", "hangup":
	case "":
		return m, errors.New("missing type")
	default:
		return m, fmt.Errorf("unknown message type %s", strconvQuote(m.Type))
	}
	if m.Call == "" {
		return m, errors.New("missing call")
	}
	return m, nil
}

func clip(s string) string {
	if len(s) > 128 {
		return s[:128]
	}
	return s
}

// uriScheme is the scheme of an absolute URI ("tel" of "tel:+34600123456"),
// lower-cased, or "" when to is a number, a user or user@host[:port] (a
// colon after the "@" is a port, not a scheme).
func uriScheme(to string) string {
	i := strings.IndexByte(to, ':')
	if i <= 0 || strings.Contains(to[:i], "@") {
		return ""
	}
	for j, r := range to[:i] {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return ""
		}
	}
	return strings.ToLower(to[:i])
}
