// Package leg defines what every endpoint of a session has in common — a SIP
// dialog, a WebRTC PeerConnection, later a WhatsApp call or an AI stream —
// without any transport code: its media tracks and its end.
//
// Media crosses a leg as raw RTP packets ([]byte). A leg's reader goroutine
// hands each received packet to the Writer installed with SetOutput (by the
// bridge); the bridge writes into another leg's Track.In. Nothing on that
// path allocates or takes a lock.
package leg

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Kind is the transport of a leg.
type Kind string

// Leg kinds.
const (
	KindWebRTC Kind = "webrtc"
	KindSIP    Kind = "sip"
	// KindWhatsApp is a WhatsApp Business call (WebRTC media with Meta's relay).
	KindWhatsApp Kind = "whatsapp-call"
	// KindAI is a Copilot AI service: no transport of its own (docs/copilot.md §1).
	KindAI Kind = "ai"
)

// Writer takes one RTP packet. It must not keep pkt after returning.
type Writer interface {
	WriteRTP(pkt []byte) error
}

// WriterFunc adapts a function to Writer.
type WriterFunc func(pkt []byte) error

// WriteRTP calls f.
func (f WriterFunc) WriteRTP(pkt []byte) error { return f(pkt) }

// Codec is an RTP payload format as negotiated on one leg.
type Codec struct {
	PT       uint8
	Name     string
	Clock    uint32
	Channels int
	Fmtp     string
}

// Is reports whether c is called name, case-insensitively.
func (c Codec) Is(name string) bool { return strings.EqualFold(c.Name, name) }

// Same reports whether a and b are the same format (name and clock).
func Same(a, b Codec) bool { return a.Is(b.Name) && a.Clock == b.Clock }

type writerBox struct{ w Writer }

// Track is one negotiated media stream (audio or video) of a leg.
type Track struct {
	Kind string // "audio" or "video"

	// In sends a packet to the far end of this leg. The packet's payload must
	// be in Send's format; the leg sets its own SSRC and payload type.
	In Writer
	// InDTMF sends an RFC 4733 packet (payload type is set by the leg); nil if
	// the far end did not negotiate telephone-event.
	InDTMF Writer

	mu       sync.RWMutex
	send     Codec
	sendDTMF Codec
	recv     map[uint8]Codec
	recvDTMF [2]atomic.Uint64 // bit pt set: pt is one of the far end's telephone-event formats

	gen        atomic.Uint64 // bumped when formats change, so links reconfigure
	out        atomic.Pointer[writerBox]
	onKeyframe atomic.Pointer[func()]
	keyframe   func() // ask the far end of this leg for a keyframe
}

// NewTrack returns a track of kind that sends send (and sendDTMF when its PT is non-zero).
func NewTrack(kind string, send, sendDTMF Codec, in Writer) *Track {
	return &Track{Kind: kind, send: send, sendDTMF: sendDTMF, In: in, recv: map[uint8]Codec{}}
}

// Send is the format this leg sends to its far end.
func (t *Track) Send() Codec { t.mu.RLock(); defer t.mu.RUnlock(); return t.send }

// SendDTMF is the telephone-event format toward the far end (PT 0: none).
func (t *Track) SendDTMF() Codec { t.mu.RLock(); defer t.mu.RUnlock(); return t.sendDTMF }

// SetSend changes the format toward the far end (after a re-INVITE).
func (t *Track) SetSend(c, dtmf Codec) {
	t.mu.Lock()
	t.send, t.sendDTMF = c, dtmf
	t.mu.Unlock()
	t.gen.Add(1)
}

// Gen changes whenever the send or receive formats change.
func (t *Track) Gen() uint64 { return t.gen.Load() }

// SetRecv declares the formats the far end may send, by payload type.
func (t *Track) SetRecv(codecs []Codec) {
	m := make(map[uint8]Codec, len(codecs))
	var dtmf [2]uint64
	for _, c := range codecs {
		m[c.PT] = c
		if c.Is("telephone-event") {
			dtmf[c.PT>>6&1] |= 1 << (c.PT & 63)
		}
	}
	t.mu.Lock()
	t.recv = m
	t.recvDTMF[0].Store(dtmf[0])
	t.recvDTMF[1].Store(dtmf[1])
	t.mu.Unlock()
	t.gen.Add(1)
}

// RecvCodec returns the format of payload type pt as sent by the far end.
func (t *Track) RecvCodec(pt uint8) (Codec, bool) {
	t.mu.RLock()
	c, ok := t.recv[pt]
	t.mu.RUnlock()
	return c, ok
}

// IsRecvDTMF reports whether pt is one of the far end's telephone-event
// payload types (RFC 4733), without a lock or a map look-up: the check
// every received packet takes.
func (t *Track) IsRecvDTMF(pt uint8) bool { return t.recvDTMF[pt>>6&1].Load()&(1<<(pt&63)) != 0 }

// SetOutput installs where received packets go (nil: dropped).
func (t *Track) SetOutput(w Writer) {
	if w == nil {
		t.out.Store(nil)
		return
	}
	t.out.Store(&writerBox{w})
}

// Deliver is called by the leg's reader with each received packet.
func (t *Track) Deliver(pkt []byte) error {
	if b := t.out.Load(); b != nil {
		return b.w.WriteRTP(pkt)
	}
	return nil
}

// SetKeyframeRequester installs how to ask this leg's far end for a keyframe.
func (t *Track) SetKeyframeRequester(f func()) { t.keyframe = f }

// RequestKeyframe asks the far end of this leg for a keyframe (PLI).
func (t *Track) RequestKeyframe() {
	if t.keyframe != nil {
		t.keyframe()
	}
}

// OnKeyframeRequest installs what to do when this leg's far end asks us for a
// keyframe (the bridge relays it to the source leg).
func (t *Track) OnKeyframeRequest(f func()) {
	if f == nil {
		t.onKeyframe.Store(nil)
		return
	}
	t.onKeyframe.Store(&f)
}

// KeyframeRequested is called by the leg when its far end sent PLI/FIR.
func (t *Track) KeyframeRequested() {
	if f := t.onKeyframe.Load(); f != nil {
		(*f)()
	}
}
