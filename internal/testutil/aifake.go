package testutil

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/webhook"
)

// AIFake is a contract fake of an AI service, written from docs/copilot.md
// alone: it accepts the hub's sockets on /split (subprotocol
// split.copilot.v1: JSON control frames and §3.2 binary audio) and /twilio
// (the Twilio Media Streams shape), checks the headers of §3, and keeps
// what each socket received: the text frames and each participant's (or
// track's) audio.
type AIFake struct {
	URL    string // http://127.0.0.1:port
	Token  string
	Secret string

	srv   *httptest.Server
	mu    sync.Mutex
	conns []*AIConn
	// Refuse makes the next connections fail (503) while true.
	Refuse atomic.Bool
	// Stall makes every socket stop reading (a stalled service) while true.
	Stall   atomic.Bool
	changed chan struct{}
}

// AIConn is one socket the hub opened.
type AIConn struct {
	Path    string
	Header  http.Header
	AuthErr string // what was wrong with the headers ("" : all good)

	ws     *websocket.Conn
	mu     sync.Mutex
	text   []map[string]any
	pcm    map[string][]int16 // split: by participant id (p1…); twilio: by track
	rate   int
	frames int
	closed bool
}

// StartAIFake listens on a loopback port.
func StartAIFake(token, secret string) *AIFake {
	f := &AIFake{Token: token, Secret: secret, changed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// WS is the service URL for a format ("split" or "twilio").
func (f *AIFake) WS(format string) string {
	return strings.Replace(f.URL, "http://", "ws://", 1) + "/" + format
}

// Close drops every socket and stops the server.
func (f *AIFake) Close() {
	f.mu.Lock()
	for _, c := range f.conns {
		c.ws.CloseNow()
	}
	f.mu.Unlock()
	f.srv.Close()
}

func (f *AIFake) wake() {
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// Conns returns the sockets accepted so far, in order.
func (f *AIFake) Conns() []*AIConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*AIConn(nil), f.conns...)
}

// Wait polls cond until it holds or ctx ends.
func (f *AIFake) Wait(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("AI fake: %s: %w", what, ctx.Err())
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (f *AIFake) serve(w http.ResponseWriter, r *http.Request) {
	if f.Refuse.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	c := &AIConn{Path: r.URL.Path, Header: r.Header.Clone(), pcm: map[string][]int16{}, rate: 8000}
	if f.Token != "" && r.Header.Get("Authorization") != "Bearer "+f.Token {
		c.AuthErr = "bad Authorization"
	}
	sid := r.Header.Get("X-Split-Session")
	if f.Secret != "" {
		if err := webhook.Verify(f.Secret, r.Header.Get("X-Split-Signature"), []byte(sid), time.Now(), 5*time.Minute); err != nil {
			c.AuthErr = "bad X-Split-Signature: " + err.Error()
		}
	}
	o := &websocket.AcceptOptions{}
	if r.URL.Path == "/split" {
		o.Subprotocols = []string{"split.copilot.v1"}
	}
	ws, err := websocket.Accept(w, r, o)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c.ws = ws
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	f.wake()
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		f.wake()
	}()
	ctx := r.Context()
	for {
		for f.Stall.Load() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			c.binary(b)
			continue
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		c.mu.Lock()
		c.text = append(c.text, m)
		if m["type"] == "hello" {
			if r, ok := m["rate"].(float64); ok {
				c.rate = int(r)
			}
		}
		if m["event"] == "media" {
			md, _ := m["media"].(map[string]any)
			track, _ := md["track"].(string)
			raw, _ := base64.StdEncoding.DecodeString(fmt.Sprint(md["payload"]))
			pcm := make([]int16, len(raw))
			media.DecodeUlaw(pcm, raw)
			c.pcm[track] = append(c.pcm[track], pcm...)
			c.frames++
			c.text = c.text[:len(c.text)-1] // media is kept as audio only
		}
		c.mu.Unlock()
	}
}

// binary takes one §3.2 frame: version 1, participant index, flags, seq,
// time, PCM16 LE.
func (c *AIConn) binary(b []byte) {
	if len(b) < 16 || b[0] != 1 {
		return
	}
	pcm := make([]int16, (len(b)-16)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[16+2*i:]))
	}
	c.mu.Lock()
	id := fmt.Sprintf("p%d", b[1])
	c.pcm[id] = append(c.pcm[id], pcm...)
	c.frames++
	c.mu.Unlock()
}

// Text returns the text frames received (twilio: all but media).
func (c *AIConn) Text() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.text...)
}

// Find is the last text frame whose "type" (or "event") is typ and for
// which match (nil: any) holds.
func (c *AIConn) Find(typ string, match func(map[string]any) bool) map[string]any {
	t := c.Text()
	for i := len(t) - 1; i >= 0; i-- {
		if (t[i]["type"] == typ || t[i]["event"] == typ) && (match == nil || match(t[i])) {
			return t[i]
		}
	}
	return nil
}

// Participant is the id (p1…) of the participant frame with role.
func (c *AIConn) Participant(role string) string {
	if m := c.Find("participant", func(m map[string]any) bool { return m["role"] == role }); m != nil {
		return m["id"].(string)
	}
	return ""
}

// PCM returns the last d of a stream's audio (split: participant id;
// twilio: track) and its rate; nil if shorter.
func (c *AIConn) PCM(stream string, d time.Duration) ([]int16, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int(d.Seconds() * float64(c.rate))
	p := c.pcm[stream]
	if len(p) < n {
		return nil, c.rate
	}
	return append([]int16(nil), p[len(p)-n:]...), c.rate
}

// Frames counts the audio frames received.
func (c *AIConn) Frames() int { c.mu.Lock(); defer c.mu.Unlock(); return c.frames }

// Closed reports whether the socket has ended.
func (c *AIConn) Closed() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.closed }

// Send writes v as a JSON text frame.
func (c *AIConn) Send(ctx context.Context, v any) error {
	b, _ := json.Marshal(v)
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// SendRaw writes b as a text frame, as is.
func (c *AIConn) SendRaw(ctx context.Context, b string) error {
	return c.ws.Write(ctx, websocket.MessageText, []byte(b))
}

// Speak sends d of a tone at the socket's rate, as §3.2 frames with
// participant 0 (after a speak frame).
func (c *AIConn) Speak(ctx context.Context, hz float64, d time.Duration) error {
	c.mu.Lock()
	rate := c.rate
	c.mu.Unlock()
	n := rate / 50
	var phase float64
	pcm := make([]int16, n)
	for i := 0; i < int(d/(20*time.Millisecond)); i++ {
		media.GenerateTone(pcm, hz, rate, &phase, 0.3)
		b := make([]byte, 16, 16+2*n)
		b[0] = 1
		binary.BigEndian.PutUint32(b[4:], uint32(i))
		for _, s := range pcm {
			b = binary.LittleEndian.AppendUint16(b, uint16(s))
		}
		if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
			return err
		}
	}
	return nil
}

// Kill drops the socket without a close handshake.
func (c *AIConn) Kill() { c.ws.CloseNow() }

// SpeakTwilio sends d of a tone as Twilio-shaped media events (base64
// μ-law 8 kHz, 20 ms each).
func (c *AIConn) SpeakTwilio(ctx context.Context, hz float64, d time.Duration) error {
	var phase float64
	pcm := make([]int16, 160)
	u := make([]byte, 160)
	for i := 0; i < int(d/(20*time.Millisecond)); i++ {
		media.GenerateTone(pcm, hz, 8000, &phase, 0.3)
		media.EncodeUlaw(u, pcm)
		if err := c.Send(ctx, map[string]any{"event": "media", "media": map[string]any{"payload": base64.StdEncoding.EncodeToString(u)}}); err != nil {
			return err
		}
	}
	return nil
}
