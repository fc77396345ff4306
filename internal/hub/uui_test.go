package hub

import (
	"strings"
	"testing"

	"github.com/split-hub/split/internal/session"
)

func TestUUIRoundTrip(t *testing.T) {
	id := session.NewID()
	v, err := EncodeUUI(id)
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ := strings.Cut(v, ";")
	if len(data) != 34 || !strings.HasPrefix(data, "00") || len(v) > 128 {
		t.Fatalf("UUI %q: want 00 + 32 hex digits, at most 128 characters", v)
	}
	for _, in := range []string{v, strings.ToLower(v), data, data[2:], data + ";encoding=hex", " " + data + " ;purpose=isdn-uui"} {
		got, err := ParseUUI(in)
		if err != nil || got != id {
			t.Fatalf("ParseUUI(%q) = %q, %v; want %q", in, got, err, id)
		}
	}
	for _, in := range []string{"", "00FA080012345678", "zz", data + ";encoding=base64", "0000000000000000000000000000000000",
		strings.Repeat("0", 600), "01" + data[2:]} {
		if got, err := ParseUUI(in); err == nil {
			t.Fatalf("ParseUUI(%q) = %q, want an error", in, got)
		}
	}
	if got, ok := sessionRef(map[string]string{"user-to-user": v}); !ok || got != id {
		t.Fatalf("sessionRef by UUI = %q %v", got, ok)
	}
	if got, ok := sessionRef(map[string]string{"X-Split-Session": id, "User-to-User": "00FA08"}); !ok || got != id {
		t.Fatalf("sessionRef by header = %q %v", got, ok)
	}
	if _, ok := sessionRef(map[string]string{"User-to-User": "00FA080012345678;encoding=hex"}); ok {
		t.Fatal("an Avaya UCID was taken for a SPLIT session")
	}
}

func FuzzParseUUI(f *testing.F) {
	v, _ := EncodeUUI(session.NewID())
	for _, s := range []string{v, "00FA08001234", ";;;", "00;encoding=hex", "%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseUUI(s)
		if err != nil {
			return
		}
		// whatever parses must re-encode to something that parses the same
		v, err := EncodeUUI(id)
		if err != nil {
			t.Fatalf("parsed id %q does not re-encode: %v", id, err)
		}
		if id2, err := ParseUUI(v); err != nil || id2 != id {
			t.Fatalf("round trip %q → %q → %q %v", s, v, id2, err)
		}
	})
}
