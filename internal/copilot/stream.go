package copilot

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/webhook"
)

// Subprotocol is the WebSocket subprotocol of the split format.
const Subprotocol = "split.copilot.v1"

const (
	writeTimeout = 2 * time.Second
	backoffMin   = time.Second
	backoffMax   = 30 * time.Second
	maxTextRate  = 50 // text frames per second from a service
	ctrlQueue    = 64
)

// stream is one WebSocket toward the service, reconnected with back-off
// until the attachment closes. Its writer drains the control queue and the
// audio ring; its reader takes the service's messages.
type stream struct {
	a    *Attachment
	ring *ring
	only *part // twilio: the participant of a socket of its own

	mu      sync.Mutex
	ctrl    [][]byte // control frames not yet sent (bounded)
	wake    chan struct{}
	stopped chan struct{} // stop(): this socket alone ends (its participant left)
	stopOne sync.Once
	tw      TwilioStream // twilio numbering; the writer's
}

func (a *Attachment) newStream(only *part) *stream {
	s := &stream{a: a, ring: newRing(RingFrames), only: only, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	s.tw = TwilioStream{StreamSID: "MZ" + randHex(16), AccountSID: "AC" + a.m.hubID, CallSID: "CA" + hexID(a.info.ID)}
	a.goOwned(s.run)
	return s
}

func hexID(id string) string {
	out := make([]byte, 0, 32)
	for i := 0; i < len(id) && len(out) < 32; i++ {
		if c := id[i]; (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			out = append(out, c)
		}
	}
	return string(out)
}

// control queues a text frame; the oldest is dropped when the queue is full
// (a reconnect replays the participants' states anyway).
func (s *stream) control(b []byte) {
	s.mu.Lock()
	if len(s.ctrl) >= ctrlQueue {
		s.ctrl = s.ctrl[1:]
	}
	s.ctrl = append(s.ctrl, b)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *stream) participant(p *part) {
	if s.a.svc.format() != "split" {
		return
	}
	s.control(participantFrame(p))
}

func participantFrame(p *part) []byte {
	return mustJSON(map[string]any{"type": "participant", "id": "p" + strconv.Itoa(int(p.idx)), "leg": p.leg, "role": p.role, "name": p.name, "state": p.state})
}

func (s *stream) stop() { s.stopOne.Do(func() { close(s.stopped) }) }

// run connects, serves and reconnects until the attachment closes.
func (s *stream) run() {
	a := s.a
	backoff := backoffMin
	// up and down are reported on transitions only: a service down for an
	// hour is one copilot.down, not one per retry
	wasUp, reconnect, down := false, false, false
	for {
		c, err := s.dial()
		if err == nil {
			a.st.Connected.Add(1)
			if !wasUp || down {
				a.ev.Connection(a.svc.Name, true, nil)
			}
			wasUp, down, backoff = true, false, backoffMin
			err = s.serve(c, reconnect)
			a.st.Connected.Add(-1)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-s.stopped:
			return
		default:
		}
		a.st.Failures.Add(1)
		if !down {
			a.log.Warn("copilot: service unreachable; the call goes on, reconnecting", "err", err, "in", backoff.String())
			a.ev.Connection(a.svc.Name, false, err)
			down = true
		} else {
			a.log.Debug("copilot: service still unreachable", "err", err, "in", backoff.String())
		}
		reconnect = true
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-a.ctx.Done():
			return
		case <-s.stopped:
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, backoffMax)
	}
}

func (s *stream) dial() (*websocket.Conn, error) {
	a := s.a
	h := http.Header{}
	if a.svc.Token != "" {
		h.Set("Authorization", "Bearer "+a.svc.Token)
	}
	h.Set("X-Split-Session", a.info.ID)
	if a.svc.Secret != "" {
		h.Set("X-Split-Signature", webhook.Sign(a.svc.Secret, []byte(a.info.ID), time.Now()))
	}
	o := &websocket.DialOptions{HTTPHeader: h}
	if a.svc.format() == "split" {
		o.Subprotocols = []string{Subprotocol}
	}
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, a.svc.URL, o)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("copilot: dial %s: %w", a.svc.Name, err)
	}
	if a.svc.format() == "split" && c.Subprotocol() != Subprotocol {
		c.Close(websocket.StatusProtocolError, "subprotocol "+Subprotocol+" required")
		return nil, fmt.Errorf("copilot: %s did not accept subprotocol %s", a.svc.Name, Subprotocol)
	}
	c.SetReadLimit(MaxTextFrame)
	return c, nil
}

// serve runs one connection: the opening frames, the reader, the writer.
func (s *stream) serve(c *websocket.Conn, reconnect bool) error {
	a := s.a
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readErr := make(chan error, 1)
	go func() { readErr <- s.read(ctx, c) }() // ends with the connection, below
	defer func() {
		c.CloseNow()
		<-readErr
	}()
	write := func(typ websocket.MessageType, b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		return c.Write(wctx, typ, b)
	}
	for _, b := range s.opening(reconnect) {
		if err := write(websocket.MessageText, b); err != nil {
			return err
		}
	}
	var sl slot
	var buf []byte
	var pcm []int16
	last := map[uint8]uint32{}
	gapReason := "queue_full"
	if reconnect {
		gapReason = "reconnect"
	}
	for {
		select {
		case <-a.ctx.Done():
			return s.goodbye(c, write)
		case <-s.stopped:
			return s.goodbye(c, write)
		case err := <-readErr:
			readErr <- err
			return err
		case <-s.wake:
		case <-s.ring.wake:
		}
		for {
			s.mu.Lock()
			ctrl := s.ctrl
			s.ctrl = nil
			s.mu.Unlock()
			for _, b := range ctrl {
				if err := write(websocket.MessageText, b); err != nil {
					return err
				}
			}
			if !s.ring.pop(&sl) {
				break
			}
			rate := a.svc.rate()
			if sl.silence {
				pcm = append(pcm[:0], silence[:rate/50]...)
			} else {
				pcm = resample(pcm, sl.pcm, sl.rate, rate)
			}
			if a.svc.format() == "twilio" {
				if err := write(websocket.MessageText, s.tw.Media(s.trackOf(sl.idx), int64(sl.tick)*20, pcm)); err != nil {
					return err
				}
				a.st.Frames.Add(1)
				continue
			}
			if l, ok := last[sl.idx]; ok && sl.seq != l+1 {
				g := mustJSON(map[string]any{"type": "gap", "participant": "p" + strconv.Itoa(int(sl.idx)), "from_seq": l + 1, "to_seq": sl.seq - 1, "reason": gapReason})
				if err := write(websocket.MessageText, g); err != nil {
					return err
				}
			}
			last[sl.idx] = sl.seq
			buf = AppendFrame(buf[:0], Frame{Participant: sl.idx, Silence: sl.silence, Seq: sl.seq, At: time.Duration(sl.tick) * FrameDuration, PCM: pcm})
			if err := write(websocket.MessageBinary, buf); err != nil {
				return err
			}
			a.st.Frames.Add(1)
			gapReason = "queue_full"
		}
	}
}

// opening is what a connection starts with: the hello (split) or
// connected + start (twilio), then the participants as they are now.
func (s *stream) opening(reconnect bool) [][]byte {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.svc.format() == "twilio" {
		params := map[string]string{"session": a.info.ID}
		tracks := []string{"inbound", "outbound"}
		if p := s.only; p != nil {
			tracks = []string{"inbound"}
			params["participant"], params["role"], params["name"] = "p"+strconv.Itoa(int(p.idx)), p.role, p.name
		} else {
			params["inbound"], params["outbound"] = "customer", "agent"
		}
		params["speak_to"] = a.SpeakTo()
		return [][]byte{s.tw.Connected(), s.tw.Start(tracks, params)}
	}
	hello := map[string]any{"type": "hello", "version": Version, "session": a.info.ID, "mode": a.info.Mode, "queue": a.info.Queue,
		"customer": a.info.Customer, "rate": a.svc.rate(), "participant": a.ID}
	out := [][]byte{nil}
	resume := map[string]uint32{}
	for _, p := range a.parts {
		if p.st == s {
			resume["p"+strconv.Itoa(int(p.idx))] = p.seq
		}
		if p.st == s || p.state != "left" {
			out = append(out, participantFrame(p))
		}
	}
	if reconnect {
		hello["resume"] = map[string]any{"seq": resume}
	}
	out[0] = mustJSON(hello)
	// the queued control frames repeat what the replay says: drop them
	s.mu.Lock()
	s.ctrl = nil
	s.mu.Unlock()
	return out
}

func (s *stream) trackOf(idx uint8) string {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if int(idx) <= len(a.parts) && idx > 0 {
		return a.parts[idx-1].track
	}
	return "inbound"
}

// goodbye sends the last frame and closes the socket normally.
func (s *stream) goodbye(c *websocket.Conn, write func(websocket.MessageType, []byte) error) error {
	a := s.a
	a.mu.Lock()
	bye := a.bye
	a.mu.Unlock()
	var b []byte
	if a.svc.format() == "twilio" {
		b = s.tw.Stop()
	} else {
		code, _ := strconv.Atoi(bye[0])
		b = mustJSON(map[string]any{"type": "bye", "code": code, "reason": bye[1]})
	}
	_ = write(websocket.MessageText, b)
	_ = c.Close(websocket.StatusNormalClosure, "session over")
	return nil
}

// silence is a frame of silence at the highest rate a service takes.
var silence [320]int16

// errAbuse closes a socket that floods the hub.
var errAbuse = errors.New("copilot: more than 50 text frames a second")

// read takes the service's frames until the connection ends.
func (s *stream) read(ctx context.Context, c *websocket.Conn) error {
	a := s.a
	window, count := time.Now(), 0
	speaking := false
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if typ == websocket.MessageBinary {
			if a.svc.format() != "split" || !speaking || a.spk == nil {
				s.control(errorFrame("binary frames only after a speak, from a service that may speak"))
				continue
			}
			f, err := ParseFrame(b, a.svc.rate())
			if err != nil || f.Participant != 0 {
				s.control(errorFrame("bad speak frame: participant 0, the service's rate"))
				continue
			}
			a.spk.push(f.PCM, a.svc.rate())
			continue
		}
		twilio := a.svc.format() == "twilio"
		if twilio && s.readTwilio(b) == "media" {
			continue // audio, bounded by the speaker's queue: a service may send it faster than real time
		}
		if now := time.Now(); now.Sub(window) > time.Second {
			window, count = now, 0
		}
		if count++; count > maxTextRate {
			a.st.Failures.Add(1)
			c.Close(websocket.StatusPolicyViolation, "over 50 text frames a second")
			return errAbuse
		}
		if twilio {
			continue
		}
		m, err := ParseMessage(b)
		if err != nil {
			s.control(errorFrame(err.Error()))
			continue
		}
		switch m.Type {
		case "speak":
			if a.spk == nil {
				s.control(errorFrame("this service may not speak (may_speak: false)"))
				continue
			}
			speaking = true
			a.speakTo.Store(m.To)
			if m.Mark != "" {
				a.spk.mark(m.Mark, s)
			}
		case "clear":
			if a.spk != nil {
				a.spk.clear()
			}
		}
		a.ev.Message(a.svc.Name, m)
	}
}

// readTwilio takes one Twilio-shaped message: media (μ-law to speak),
// mark, clear, or a split object wrapped as {"event":"split","split":{…}};
// it returns the event.
func (s *stream) readTwilio(b []byte) string {
	a := s.a
	var m struct {
		Event string `json:"event"`
		Media struct {
			Payload string `json:"payload"`
		} `json:"media"`
		Mark struct {
			Name string `json:"name"`
		} `json:"mark"`
		Split json.RawMessage `json:"split"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		s.control(errorFrame("not a JSON object"))
		return ""
	}
	switch m.Event {
	case "media":
		raw, err := base64.StdEncoding.DecodeString(m.Media.Payload)
		if err != nil || len(raw) == 0 || len(raw) > 8000 || a.spk == nil {
			s.control(errorFrame("media: base64 μ-law 8 kHz, from a service that may speak"))
			return "media"
		}
		pcm := make([]int16, len(raw))
		media.DecodeUlaw(pcm, raw)
		a.spk.push(pcm, 8000)
	case "mark":
		if a.spk != nil && printable(m.Mark.Name, maxMark) {
			a.spk.mark(m.Mark.Name, s)
		}
	case "clear":
		if a.spk != nil {
			a.spk.clear()
		}
	case "split":
		msg, err := ParseMessage(m.Split)
		if err != nil || msg.Type == "speak" {
			s.control(errorFrame(fmt.Sprint("split: ", err)))
			return m.Event
		}
		a.ev.Message(a.svc.Name, msg)
	default:
		s.control(errorFrame("unknown event " + strconv.Quote(m.Event)))
	}
	return m.Event
}

// markPlayed tells the service that its mark has been played out.
func (s *stream) markPlayed(name string) {
	if s.a.svc.format() == "twilio" {
		s.control(s.tw.Mark(name))
		return
	}
	s.control(mustJSON(map[string]any{"type": "mark", "name": name}))
}

func errorFrame(msg string) []byte {
	return mustJSON(map[string]any{"type": "error", "code": "bad_request", "message": msg})
}
