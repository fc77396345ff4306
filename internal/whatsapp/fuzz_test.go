package whatsapp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to the webhook decoder: it must never
// panic, and what it returns must keep its promises (ids present, statuses
// upper case, durations not negative). The committed corpus holds Meta's
// documented payloads (testdata/payloads).
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "payloads", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Decode(body)
		if err != nil {
			return
		}
		for _, c := range d.Connects {
			if c.CallID == "" {
				t.Fatalf("connect without id: %+v", c)
			}
		}
		for _, s := range d.CallStatuses {
			if s.CallID == "" || s.Status != strings.ToUpper(s.Status) {
				t.Fatalf("bad call status: %+v", s)
			}
		}
		for _, te := range d.Terminates {
			if te.CallID == "" || te.Status != strings.ToUpper(te.Status) || te.Duration < 0 {
				t.Fatalf("bad terminate: %+v", te)
			}
		}
		for _, m := range d.Messages {
			if m.MessageID == "" {
				t.Fatalf("message without id: %+v", m)
			}
		}
		for _, p := range d.PermissionReplies {
			if p.MessageID == "" || (!p.Accepted && !p.Expires.IsZero()) {
				t.Fatalf("bad permission reply: %+v", p)
			}
		}
	})
}
