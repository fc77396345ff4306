package rtt

import "strings"

// DefaultMaxRunes bounds a Text when MaxRunes is zero: about a long
// conversation, not an unbounded buffer.
const DefaultMaxRunes = 1 << 20

// Text is the display model of one direction of a T.140 conversation: it
// applies received units the way a T.140 terminal shows them (T.140 §5),
// for the consoles and the session history.
//   - BACKSPACE erases the last character shown, including a new line
//     (T.140 §5.3); on an empty display it does nothing.
//   - CR LF, CR, LF and U+2028 start a new line.
//   - BOM is ignored; BELL is counted in Bells, not shown.
//   - U+FFFD (missing text, lost in transit) is shown as is.
//   - Other controls and escape sequences are dropped (see Sanitizer).
//
// When the text grows past MaxRunes the oldest characters are discarded.
// The zero value is ready to use. A Text is not safe for concurrent use.
type Text struct {
	// MaxRunes caps the characters kept; 0 means DefaultMaxRunes.
	MaxRunes int
	// Bells counts BELL characters received.
	Bells int

	z     Sanitizer
	runes []rune
}

// Apply applies T.140 units, in order, to the display.
func (t *Text) Apply(units ...string) {
	max := t.MaxRunes
	if max <= 0 {
		max = DefaultMaxRunes
	}
	for _, u := range units {
		for _, r := range t.z.Clean(u) {
			switch r {
			case Backspace:
				if n := len(t.runes); n > 0 {
					t.runes = t.runes[:n-1]
				}
			case Bell:
				t.Bells++
			case NewLine:
				t.runes = append(t.runes, '\n')
			default:
				t.runes = append(t.runes, r)
			}
		}
		if over := len(t.runes) - max; over > 0 {
			// discard the oldest quarter at once so trimming stays amortised
			drop := over + max/4
			if drop > len(t.runes) {
				drop = len(t.runes)
			}
			t.runes = append(t.runes[:0], t.runes[drop:]...)
		}
	}
}

// String returns the text shown, lines separated by "\n".
func (t *Text) String() string { return string(t.runes) }

// Lines returns the text shown split into lines.
func (t *Text) Lines() []string { return strings.Split(string(t.runes), "\n") }

// Len returns the number of characters shown.
func (t *Text) Len() int { return len(t.runes) }

// Reset clears the display and the counters.
func (t *Text) Reset() { *t = Text{MaxRunes: t.MaxRunes} }
