package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// speech returns 16 kHz PCM16 of text as flite (Debian's flite) speaks it,
// followed by a second of silence.
func speech(t *testing.T, text string) []byte {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "s.wav")
	if out, err := exec.Command("flite", "-t", text, "-o", wav).CombinedOutput(); err != nil {
		t.Fatalf("flite: %v %s", err, out)
	}
	b, err := os.ReadFile(wav)
	if err != nil || len(b) < 44 || string(b[:4]) != "RIFF" {
		t.Fatalf("flite's wav: %v", err)
	}
	rate := binary.LittleEndian.Uint32(b[24:])
	i := 12
	for i+8 <= len(b) && string(b[i:i+4]) != "data" {
		i += 8 + int(binary.LittleEndian.Uint32(b[i+4:]))
	}
	data := b[i+8:]
	if rate != 8000 && rate != 16000 {
		t.Fatalf("flite speaks at %d Hz", rate)
	}
	var out []byte
	for j := 0; j+1 < len(data); j += 2 {
		out = append(out, data[j], data[j+1])
		if rate == 8000 {
			out = append(out, data[j], data[j+1])
		}
	}
	return append(out, make([]byte, 32000)...)
}

// The example AI, driven as the hub drives it (docs/copilot.md §3): a
// customer's speech comes back as a transcript and the configured phrase
// as a hint; another participant's audio is not mixed in.
func TestExampleTranscribesAndHints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pocketsphinx; skipped with -short")
	}
	for _, b := range []string{"pocketsphinx_continuous", "flite"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s is not installed: run `make deps`", b)
		}
	}
	s := &server{log: slog.Default(), roles: map[string]bool{"customer": true}, engine: "pocketsphinx_continuous",
		model: "/usr/share/pocketsphinx/model/en-us", secret: "sec_example_0123"}
	if err := s.load("phrases.yaml"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(httpHandler(s))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/split"
	if _, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"split.copilot.v1"}}); err == nil {
		t.Fatal("a socket without the signature was accepted")
	}
	h := signedHeader(s.secret, "sess-1")
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"split.copilot.v1"}, HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "hello", "version": 1, "session": "sess-1", "rate": 16000})
	send(map[string]any{"type": "participant", "id": "p1", "role": "customer", "name": "Ana", "state": "joined"})
	send(map[string]any{"type": "participant", "id": "p2", "role": "agent", "name": "Bob", "state": "joined"})
	pcm := speech(t, "Hello. I want to cancel my contract please.")
	go func() {
		seq := uint32(0)
		for i := 0; i+640 <= len(pcm); i += 640 {
			for _, p := range []byte{1, 2} {
				f := make([]byte, 16, 656)
				f[0], f[1] = 1, p
				binary.BigEndian.PutUint32(f[4:], seq)
				if p == 1 {
					f = append(f, pcm[i:i+640]...)
				} else {
					f = append(f, make([]byte, 640)...)
				}
				if ws.Write(ctx, websocket.MessageBinary, f) != nil {
					return
				}
			}
			seq++
			time.Sleep(5 * time.Millisecond) // faster than real time, as a backlog after a reconnect would be
		}
	}()
	var transcript, hint map[string]any
	for transcript == nil || hint == nil {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("transcript %v, hint %v: %v", transcript, hint, err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		switch m["type"] {
		case "transcript":
			transcript = m
		case "hint":
			hint = m
		}
	}
	if transcript["participant"] != "p1" || !strings.Contains(transcript["text"].(string), "contract") {
		t.Errorf("transcript: %v", transcript)
	}
	if hint["title"] != "Retention" || !strings.HasPrefix(hint["url"].(string), "https://") {
		t.Errorf("hint: %v", hint)
	}
	send(map[string]any{"type": "bye", "code": 200, "reason": "Customer hung up"})
}

// signedHeader is what the hub sends (docs/copilot.md §3).
func signedHeader(secret, session string) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + session))
	h := http.Header{}
	h.Set("X-Split-Session", session)
	h.Set("X-Split-Signature", "t="+ts+",v1="+hex.EncodeToString(m.Sum(nil)))
	return h
}
