package rtc

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/rtt"
)

// FuzzTextMessage feeds arbitrary data-channel messages from a page, split
// in two, through the leg's receive path: never a panic, and what reaches
// OnText is valid UTF-8 without ESC sequences or controls other than
// BACKSPACE and BELL (§6.3).
func FuzzTextMessage(f *testing.F) {
	for _, s := range []string{"hi", "\x1b[31mred\x1b[0m", "ab\b", "x\xffy", "l1\r\nl2", "\r", "\x1b[", "\u2028\uFEFF\x07", "\xc3"} {
		f.Add([]byte(s), true, 1)
	}
	f.Add([]byte(strings.Repeat("a", rtt.MaxSendBytes+1)), true, 0)
	f.Add([]byte{0, 1, 2}, false, 1)
	f.Fuzz(func(t *testing.T, data []byte, isString bool, cut int) {
		l := &Leg{text: newTextState(Options{Text: true}), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		var z rtt.Sanitizer
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		var out strings.Builder
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			s, ok := l.receiveText(&z, webrtc.DataChannelMessage{IsString: isString, Data: part})
			if ok {
				out.WriteString(s)
			} else if s != "" {
				t.Fatalf("refused message returned text %q", s)
			}
		}
		got := out.String()
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 delivered: %q", got)
		}
		for _, r := range got {
			if (r < 0x20 && r != rtt.Backspace && r != rtt.Bell) || (r >= 0x7f && r <= 0x9f) || r == rtt.BOM {
				t.Fatalf("control %U delivered in %q", r, got)
			}
		}
		if !isString && got != "" {
			t.Fatalf("binary message delivered %q", got)
		}
		if st := l.TextStats(); st.CharsIn != uint64(utf8.RuneCountInString(got)) {
			t.Fatalf("chars in %d for %q", st.CharsIn, got)
		}
	})
}
