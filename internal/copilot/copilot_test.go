package copilot

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/media"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		pcm := make([]int16, Samples(rate))
		for i := range pcm {
			pcm[i] = int16(i*97 - 12000)
		}
		f := Frame{Participant: 3, Silence: true, Seq: 70000, At: 90*time.Minute + 123456*time.Microsecond, PCM: pcm}
		b := AppendFrame(nil, f)
		if len(b) != HeaderLen+2*len(pcm) {
			t.Fatalf("%d Hz: %d bytes", rate, len(b))
		}
		// the header as docs/copilot.md §3.2 lays it out
		if b[0] != 1 || b[1] != 3 || b[2] != 0 || b[3] != 1 || b[4] != 0 || b[5] != 1 || b[6] != 0x11 || b[7] != 0x70 {
			t.Fatalf("%d Hz: header % x", rate, b[:8])
		}
		if b[HeaderLen] != byte(pcm[0]) || b[HeaderLen+1] != byte(uint16(pcm[0])>>8) {
			t.Fatal("PCM is not little-endian")
		}
		g, err := ParseFrame(b, rate)
		if err != nil {
			t.Fatal(err)
		}
		if g.Participant != 3 || !g.Silence || g.Seq != 70000 || g.At != f.At || len(g.PCM) != len(pcm) || g.PCM[5] != pcm[5] {
			t.Fatalf("%d Hz: %+v", rate, g)
		}
	}
}

func TestParseFrameRefuses(t *testing.T) {
	good := AppendFrame(nil, Frame{Participant: 1, PCM: make([]int16, 160)})
	for name, c := range map[string]struct {
		b    []byte
		rate int
	}{
		"short":      {good[:40], 8000},
		"wrong rate": {good, 16000},
		"bad rate":   {good, 44100},
		"version":    {append([]byte{2}, good[1:]...), 8000},
		"flags":      {append(append([]byte{}, good[:2]...), append([]byte{0x80, 0}, good[4:]...)...), 8000},
		"empty":      {nil, 8000},
	} {
		if _, err := ParseFrame(c.b, c.rate); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseMessage(t *testing.T) {
	ok := []string{
		`{"type":"transcript","participant":"p1","text":"hello there","final":true,"start_ms":0,"end_ms":900,"language":"en"}`,
		`{"type":"hint","text":"Offer the upgrade","title":"Upsell","url":"https://kb.example.com/a","card":{"k":1},"id":"h1"}`,
		`{"type":"alert","severity":"critical","reason":"The customer mentions a lawyer"}`,
		`{"type":"tag","key":"intent.billing","value":"refund"}`,
		`{"type":"speak","to":"agent","mark":"m1"}`,
		`{"type":"clear"}`,
	}
	for _, s := range ok {
		if _, err := ParseMessage([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"type":"transcript","participant":"customer","text":"x"}`:        "participant",
		`{"type":"transcript","participant":"p1","text":"a\u0007b"}`:       "printable",
		`{"type":"transcript","participant":"p1","start_ms":5,"end_ms":1}`: "start_ms",
		`{"type":"hint","text":""}`:                                        "text",
		`{"type":"hint","text":"x","url":"javascript:alert(1)"}`:           "https",
		`{"type":"hint","text":"x","url":"http://kb.example.com"}`:         "https",
		`{"type":"hint","text":"x","card":[1,2]}`:                          "card",
		`{"type":"alert","severity":"fatal","reason":"x"}`:                 "severity",
		`{"type":"alert","severity":"info"}`:                               "reason",
		`{"type":"tag","key":"Bad Key","value":"x"}`:                       "key",
		`{"type":"speak","to":"customer"}`:                                 "to",
		`{"type":"hangup"}`:                                                "unknown type",
		`[1]`:                                                              "JSON object",
		`{"type":"clear","id":"` + strings.Repeat("x", 65) + `"}`:          "id",
		`{"type":"hint","text":"` + strings.Repeat("y", 17<<10) + `"}`:     "over",
	}
	for s, want := range bad {
		_, err := ParseMessage([]byte(s))
		if !errors.Is(err, ErrMessage) || !strings.Contains(err.Error(), want) {
			t.Errorf("%.80s: %v, want an error about %q", s, err, want)
		}
	}
}

func TestTwilioShape(t *testing.T) {
	st := &TwilioStream{StreamSID: "MZ0123", AccountSID: "AC0123", CallSID: "CA0123"}
	var c map[string]any
	_ = json.Unmarshal(st.Connected(), &c)
	if c["event"] != "connected" || c["protocol"] != "Call" || c["version"] != "1.0.0" {
		t.Fatalf("connected: %v", c)
	}
	var s struct {
		Event, SequenceNumber, StreamSid string
		Start                            struct {
			Tracks           []string
			CustomParameters map[string]string
			MediaFormat      struct {
				Encoding   string
				SampleRate int
				Channels   int
			}
		}
	}
	_ = json.Unmarshal(st.Start([]string{"inbound", "outbound"}, map[string]string{"session": "s1", "inbound": "customer"}), &s)
	if s.Event != "start" || s.SequenceNumber != "1" || s.StreamSid != "MZ0123" || len(s.Start.Tracks) != 2 ||
		s.Start.MediaFormat.Encoding != "audio/x-mulaw" || s.Start.MediaFormat.SampleRate != 8000 || s.Start.CustomParameters["inbound"] != "customer" {
		t.Fatalf("start: %+v", s)
	}
	pcm := make([]int16, 160)
	var phase float64
	media.GenerateTone(pcm, 440, 8000, &phase, 0.5)
	var m struct {
		Event, SequenceNumber string
		Media                 struct{ Track, Chunk, Timestamp, Payload string }
	}
	_ = json.Unmarshal(st.Media("inbound", 20, pcm), &m)
	raw, err := base64.StdEncoding.DecodeString(m.Media.Payload)
	if err != nil || len(raw) != 160 || m.Event != "media" || m.SequenceNumber != "2" || m.Media.Chunk != "1" || m.Media.Timestamp != "20" {
		t.Fatalf("media: %+v (%v)", m, err)
	}
	back := make([]int16, 160)
	media.DecodeUlaw(back, raw)
	if lv := media.ToneLevel(back, 440, 8000); lv < 0.3 {
		t.Errorf("the μ-law payload decodes to a 440 Hz level of %.2f", lv)
	}
	var stop map[string]any
	_ = json.Unmarshal(st.Stop(), &stop)
	if stop["event"] != "stop" || stop["sequenceNumber"] != "3" {
		t.Fatalf("stop: %v", stop)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Frame{Participant: 1, Seq: 9, PCM: make([]int16, 160)}), 8000)
	f.Add(AppendFrame(nil, Frame{Participant: 2, Silence: true, PCM: make([]int16, 320)}), 16000)
	f.Fuzz(func(t *testing.T, b []byte, rate int) {
		fr, err := ParseFrame(b, rate)
		if err != nil {
			return
		}
		// what parses re-encodes to the same bytes
		if got := AppendFrame(nil, fr); string(got) != string(b) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{`{"type":"hint","text":"x","url":"https://a.b/c"}`, `{"type":"transcript","participant":"p2","text":"hi"}`,
		`{"type":"tag","key":"a","value":"b"}`, `{"type":"alert","severity":"info","reason":"r"}`, `{"type":"speak","to":"all"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMessage) {
				t.Fatalf("error outside ErrMessage: %v", err)
			}
			return
		}
		for _, s := range []string{m.Text, m.Title, m.Reason, m.Value, m.Mark, m.ID} {
			if !printable(s, maxTranscr) {
				t.Fatalf("accepted a non-printable field %q", s)
			}
		}
	})
}

// A service that floods the hub: over 50 text frames in a second close its
// socket (1008) and count a failure; a Twilio service's media burst (audio
// faster than real time) does not, and is queued to be spoken.
func TestServiceFlood(t *testing.T) {
	for _, c := range []struct {
		format string
		frame  string
		closed bool
	}{
		{"split", `{"type":"tag","key":"k","value":"v"}`, true},
		{"twilio", `{"event":"media","media":{"payload":"` + base64.StdEncoding.EncodeToString(make([]byte, 160)) + `"}}`, false},
	} {
		t.Run(c.format, func(t *testing.T) {
			closedWith := make(chan websocket.StatusCode, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
				if err != nil {
					return
				}
				defer ws.CloseNow()
				for i := 0; i < 200; i++ {
					if ws.Write(r.Context(), websocket.MessageText, []byte(c.frame)) != nil {
						break
					}
				}
				for {
					if _, _, err := ws.Read(r.Context()); err != nil {
						closedWith <- websocket.CloseStatus(err)
						return
					}
				}
			}))
			defer srv.Close()
			m, err := NewManager([]Service{{Name: "ai", URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Format: c.format, MaySpeak: true}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a, err := m.Attach("ai", SessionInfo{ID: "s"}, nopEvents{})
			if err != nil {
				t.Fatal(err)
			}
			a.Participant("c", "customer", "Ana", "joined")
			if c.closed {
				select {
				case code := <-closedWith:
					if code != websocket.StatusPolicyViolation {
						t.Errorf("closed with %d", code)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a flood of 200 text frames did not close the socket")
				}
				if m.Stats()["ai"].Failures.Load() == 0 {
					t.Error("the flood did not count as a failure")
				}
			} else {
				queued := func() int { a.spk.mu.Lock(); defer a.spk.mu.Unlock(); return len(a.spk.q) + int(a.spk.played.Load()) }
				for deadline := time.Now().Add(10 * time.Second); queued() < 200 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				if n := queued(); n < 200 {
					t.Errorf("%d of 200 media frames queued to be spoken", n)
				}
				select {
				case code := <-closedWith:
					t.Errorf("a media burst closed the socket (%d)", code)
				default:
				}
			}
			a.Close(200, "")
		})
	}
}
