package rtt

import (
	"strings"
	"unicode/utf8"
)

// T.140 control code elements the package acts on (ITU-T T.140 §5 and
// Amendment 1; RFC 4103 §3 and RFC 8865 carry them unchanged).
const (
	// BOM (ZERO WIDTH NO-BREAK SPACE) may start a T.140 stream and is
	// used as a keep-alive; it has no effect on the display.
	BOM = '\uFEFF'
	// Backspace erases the last character shown (T.140 §5.3, "erasure").
	Backspace = '\u0008'
	// NewLine is the T.140 line separator U+2028. CR LF, a lone CR and a
	// lone LF are normalised to it.
	NewLine = '\u2028'
	// Bell is the T.140 alert; Text counts it instead of showing it.
	Bell = '\u0007'
	// Missing is the missing-text marker (T.140 Amendment 1, used by
	// RFC 4103 §5 and RFC 8865 when text was lost in transit).
	Missing = '\uFFFD'
	// Interrupt (ESC 0x61, T.140 §5.9) is dropped like other ESC sequences.
	esc = '\u001B'
	csi = '\u009B' // C1 CONTROL SEQUENCE INTRODUCER
)

// maxEscape bounds how many characters an unterminated escape sequence may
// swallow, so a stray ESC cannot hide the rest of a conversation.
const maxEscape = 32

// Sanitizer cleans a stream of T.140 units for display or retransmission:
//   - invalid UTF-8 becomes U+FFFD (nothing is silently dropped);
//   - CR LF, CR and LF become NewLine (T.140 §5.2), also when CR and LF
//     arrive in different units;
//   - BACKSPACE, BELL, NewLine and BOM are kept (BOM only if KeepBOM);
//   - ESC sequences (SGR "graphic rendition" CSI … m, INT, …) and every
//     other C0/C1 control (U+0000–U+001F, U+007F, U+0080–U+009F) are
//     dropped: consoles and the history show plain text.
//
// The zero value is ready to use. A Sanitizer is not safe for concurrent use.
type Sanitizer struct {
	// KeepBOM keeps U+FEFF in the output (a relay that forwards the
	// stream as is); by default it is dropped.
	KeepBOM bool

	prevCR bool
	escN   int  // >0: inside an escape sequence, count of chars consumed
	inCSI  bool // the escape is a control sequence (ESC [ or CSI)
}

// Sanitize is the stateless form of Sanitizer.Clean for one complete unit.
func Sanitize(s string) string {
	var z Sanitizer
	return z.Clean(s)
}

// Clean returns s with the rules of Sanitizer applied, carrying CR and
// escape-sequence state over to the next call.
func (z *Sanitizer) Clean(s string) string {
	if z.cleanFast(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		s = s[n:]
		if z.escN > 0 {
			if z.skipEscape(r) {
				continue
			}
		}
		if r == '\n' && z.prevCR {
			z.prevCR = false
			continue
		}
		z.prevCR = false
		switch {
		case r == '\r':
			z.prevCR = true
			b.WriteRune(NewLine)
		case r == '\n':
			b.WriteRune(NewLine)
		case r == Backspace, r == Bell, r == NewLine:
			b.WriteRune(r)
		case r == BOM:
			if z.KeepBOM {
				b.WriteRune(r)
			}
		case r == esc:
			z.escN, z.inCSI = 1, false
		case r == csi:
			z.escN, z.inCSI = 1, true
		case r < 0x20 || (r >= 0x7F && r <= 0x9F):
			// other C0/C1 control: dropped
		default:
			// includes utf8.RuneError from invalid bytes, written as U+FFFD
			b.WriteRune(r)
		}
	}
	return b.String()
}

// skipEscape consumes r as part of an escape sequence and reports whether it
// was consumed (false: the sequence ended before r; process r normally).
func (z *Sanitizer) skipEscape(r rune) bool {
	z.escN++
	if z.escN > maxEscape {
		z.escN, z.inCSI = 0, false
		return false
	}
	if !z.inCSI {
		if z.escN == 2 && r == '[' {
			z.inCSI = true
			return true
		}
		// ESC Fe / Fs / Fp: one following character in 0x20–0x7E
		z.escN = 0
		return r >= 0x20 && r <= 0x7E
	}
	switch {
	case r >= 0x20 && r <= 0x3F: // parameter and intermediate bytes
		return true
	case r >= 0x40 && r <= 0x7E: // final byte
		z.escN, z.inCSI = 0, false
		return true
	default: // malformed: end the sequence, keep r
		z.escN, z.inCSI = 0, false
		return false
	}
}

// cleanFast reports whether s needs no change (printable ASCII or valid
// UTF-8 without controls) and no state is pending.
func (z *Sanitizer) cleanFast(s string) bool {
	if z.escN > 0 || z.prevCR {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7F || c >= 0x80 {
			return false
		}
	}
	return true
}

// SplitUnits splits s into pieces of at most max bytes without cutting a
// UTF-8 sequence (T.140 requires whole characters in every unit,
// RFC 4103 §3, RFC 8865). A max below utf8.UTFMax is raised to it.
func SplitUnits(s string, max int) []string {
	if max < utf8.UTFMax {
		max = utf8.UTFMax
	}
	var out []string
	for len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = max
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// decodeRune decodes one rune; invalid bytes give U+FFFD.
func decodeRune(b []byte) (rune, int) {
	if b[0] < utf8.RuneSelf {
		return rune(b[0]), 1
	}
	return utf8.DecodeRune(b)
}
