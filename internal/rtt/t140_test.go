package rtt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain ascii unchanged", "hello", "hello"},
		{"utf8 kept", "häj 手話", "häj 手話"},
		{"crlf to line separator", "a\r\nb", "a\u2028b"},
		{"lone cr", "a\rb", "a\u2028b"},
		{"lone lf", "a\nb", "a\u2028b"},
		{"cr cr lf", "a\r\r\nb", "a\u2028\u2028b"},
		{"line separator kept", "a\u2028b", "a\u2028b"},
		{"backspace and bell kept", "ab\b\a", "ab\b\a"},
		{"bom dropped", "\uFEFFhi\uFEFF", "hi"},
		{"c0 dropped", "a\x00b\x01c\tdel\x7f", "abcdel"},
		{"c1 dropped", "a\u0085b\u0090c", "abc"},
		{"sgr dropped", "\x1b[31mred\x1b[0m", "red"},
		{"c1 csi dropped", "\u009b1;2mX", "X"},
		{"esc interrupt dropped", "a\x1bab", "ab"},
		{"esc at end dropped", "a\x1b", "a"},
		{"missing marker kept", "a\uFFFDb", "a\uFFFDb"},
		{"invalid utf8 replaced", "a\xffb", "a\uFFFDb"},
		{"truncated utf8 replaced", "a\xe6\x89", "a\uFFFD\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in); got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSanitizerStateAcrossUnits(t *testing.T) {
	var z Sanitizer
	got := z.Clean("a\r") + z.Clean("\nb") + z.Clean("\x1b[3") + z.Clean("1mc") + z.Clean("\x1b") + z.Clean("[0md")
	if want := "a\u2028bcd"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// an unterminated escape does not swallow more than maxEscape characters
	var y Sanitizer
	long := strings.Repeat("1", 100)
	got = y.Clean("\x1b[" + long)
	if utf8.RuneCountInString(got) < 100-maxEscape {
		t.Fatalf("unterminated escape swallowed too much: %d chars left", len(got))
	}
	z2 := Sanitizer{KeepBOM: true}
	if got := z2.Clean("\uFEFFx"); got != "\uFEFFx" {
		t.Fatalf("KeepBOM: got %q", got)
	}
}

func TestSplitUnits(t *testing.T) {
	s := strings.Repeat("aé手😀", 50)
	for _, max := range []int{1, 4, 5, 7, 100} {
		parts := SplitUnits(s, max)
		if strings.Join(parts, "") != s {
			t.Fatalf("max %d: parts do not join to the input", max)
		}
		for _, p := range parts {
			if !utf8.ValidString(p) || len(p) > maxInt(max, utf8.UTFMax) || p == "" {
				t.Fatalf("max %d: bad part %q", max, p)
			}
		}
	}
	if SplitUnits("", 10) != nil {
		t.Fatal("empty input must give no units")
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func TestTextApply(t *testing.T) {
	tests := []struct {
		name  string
		units []string
		want  string
		bells int
	}{
		{"typing", []string{"h", "e", "j"}, "hej", 0},
		{"backspace erases last", []string{"abc\bd"}, "abd", 0},
		{"backspace across units", []string{"abc", "\b\b", "X"}, "aX", 0},
		{"backspace on empty", []string{"\b\b\ba"}, "a", 0},
		{"backspace erases multibyte char", []string{"手話\b"}, "手", 0},
		{"backspace erases new line", []string{"a\u2028\bb"}, "ab", 0},
		{"crlf across units", []string{"a\r", "\nb"}, "a\nb", 0},
		{"line separator", []string{"one\u2028two"}, "one\ntwo", 0},
		{"bom ignored", []string{"\uFEFF", "hi"}, "hi", 0},
		{"bell counted not shown", []string{"a\a\ab"}, "ab", 2},
		{"sgr dropped", []string{"\x1b[1mbold"}, "bold", 0},
		{"missing marker shown", []string{"ab\uFFFDcd"}, "ab\uFFFDcd", 0},
		{"invalid utf8", []string{"a\xc3"}, "a\uFFFD", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var x Text
			x.Apply(tt.units...)
			if x.String() != tt.want || x.Bells != tt.bells {
				t.Errorf("Apply(%q) = %q bells %d, want %q bells %d", tt.units, x.String(), x.Bells, tt.want, tt.bells)
			}
			if x.Len() != utf8.RuneCountInString(tt.want) {
				t.Errorf("Len %d, want %d", x.Len(), utf8.RuneCountInString(tt.want))
			}
		})
	}
}

func TestTextLinesAndCap(t *testing.T) {
	var x Text
	x.Apply("a\r\nb\nc")
	if got := x.Lines(); len(got) != 3 || got[2] != "c" {
		t.Fatalf("Lines = %q", got)
	}
	y := Text{MaxRunes: 100}
	for i := 0; i < 1000; i++ {
		y.Apply("0123456789")
	}
	if y.Len() > 100 || !strings.HasSuffix(y.String(), "0123456789") {
		t.Fatalf("capped text: len %d, ends %q", y.Len(), y.String()[max(0, len(y.String())-10):])
	}
	y.Reset()
	if y.Len() != 0 || y.MaxRunes != 100 {
		t.Fatalf("Reset: len %d max %d", y.Len(), y.MaxRunes)
	}
}
