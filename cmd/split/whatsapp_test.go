package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestWhatsAppSettings runs "split whatsapp settings" against a stand-in
// for Meta's settings endpoint that keeps what is POSTed (research §4.3).
func TestWhatsAppSettings(t *testing.T) {
	var mu sync.Mutex
	current := []byte(`{"calling":{"status":"DISABLED","sip":{"status":"ENABLED","servers":[{"hostname":"old.example.com","sip_user_password":"META_SECRET_PW"}]}}}`)
	var posts int
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/v25.0/106540352242922/settings" || r.Header.Get("Authorization") != "Bearer tok-1" {
			http.Error(w, `{"error":{"code":100,"message":"bad path or token"}}`, 400)
			return
		}
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			var v map[string]any
			if json.Unmarshal(b, &v) != nil {
				http.Error(w, `{"error":{"code":100,"message":"bad json"}}`, 400)
				return
			}
			current, posts = b, posts+1
			_, _ = io.WriteString(w, `{"success":true}`)
			return
		}
		_, _ = w.Write(current)
	}))
	defer meta.Close()
	cfg := `
sessions:
  entry_points: [{name: default, public: true}, {name: whatsapp}]
  routes:
    - {name: wa, entry: whatsapp, days: [mon, tue, wed, thu, fri], hours: "09:00-18:00", time_zone: Europe/Madrid, target: "queue:default"}
whatsapp:
  base_url: ` + meta.URL + `
  app_secret: s3cret-app
  verify_token: verify-1
  numbers:
    - {phone_number_id: "106540352242922", number: "+15550783881", access_token: tok-1}
`
	path := filepath.Join(t.TempDir(), "split.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := whatsappCmd([]string{"settings", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	o := out.String()
	for _, want := range []string{"calling.status: DISABLED → ENABLED", "calling.sip.status: ENABLED → DISABLED",
		"calling.call_hours.weekly_operating_hours: (none) → MON 0900-1800", "--push"} {
		if !strings.Contains(o, want) {
			t.Errorf("no %q in:\n%s", want, o)
		}
	}
	if strings.Contains(o, "META_SECRET_PW") || posts != 0 {
		t.Fatalf("password shown or settings posted without --push:\n%s", o)
	}
	// asked for explicitly, the generated SIP password is printed (the operator copies it into the trunk)
	out.Reset()
	if code := whatsappCmd([]string{"settings", "--config", path, "--sip-password"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "SIP password for old.example.com: META_SECRET_PW") {
		t.Fatalf("--sip-password: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := whatsappCmd([]string{"settings", "--config", path, "--push"}, &out, &errOut); code != 0 {
		t.Fatalf("push: exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	if posts != 1 || !strings.Contains(out.String(), "pushed: Meta now has") || !strings.Contains(string(current), `"timezone_id":"Europe/Madrid"`) {
		t.Fatalf("posts %d, Meta has %s\n%s", posts, current, out.String())
	}
	out.Reset()
	if code := whatsappCmd([]string{"settings", "--config", path}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no difference") {
		t.Fatalf("after push: %d\n%s", code, out.String())
	}
	if code := whatsappCmd([]string{"settings", "--config", path, "--number", "42"}, &out, &errOut); code != 1 {
		t.Errorf("unknown number: exit %d", code)
	}
	if code := run([]string{"whatsapp"}); code != 2 {
		t.Errorf("no subcommand: exit %d", code)
	}
}
