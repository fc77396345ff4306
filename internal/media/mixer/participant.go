package mixer

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
)

// kind is a payload format as the mixer handles it.
type kind uint8

const (
	kindNone   kind = iota // unknown payload type: dropped
	kindPCMU               // PCMU/8000
	kindPCMA               // PCMA/8000
	kindOpus               // opus/48000
	kindIgnore             // telephone-event, CN, red, rtx: not audio
)

func codecKind(c leg.Codec) kind {
	switch {
	case c.Is("PCMU") && c.Clock == 8000:
		return kindPCMU
	case c.Is("PCMA") && c.Clock == 8000:
		return kindPCMA
	case c.Is("opus") && c.Clock == 48000:
		return kindOpus
	case c.Is("telephone-event"), c.Is("CN"), c.Is("red"), c.Is("rtx"):
		return kindIgnore
	}
	return kindNone
}

func (k kind) String() string {
	return [...]string{"unknown", "PCMU", "PCMA", "opus", "ignored"}[min(int(k), 4)]
}

const (
	jitterCapacity = 32   // packets: 640 ms of 20 ms packets, room for MaxJitterFrames·2+4 (the overflow bound)
	jitterPayload  = 1500 // bytes per slot: 1 tag byte + payload
	g711MaxPayload = 960  // 120 ms, the longest packet the FIFO takes
)

// pcounters are a participant's counters; In, Ignored and Dropped are
// written by the leg's reader goroutine, the rest by the tick.
type pcounters struct {
	in, out, concealed, ignored, dropped, errors, heldBack atomic.Uint64
}

// input is installed as the participant track's output. It runs on the
// leg's reader goroutine: it checks each packet, tags its payload with the
// codec kind and pushes it into the jitter buffer. It takes no lock of the
// mixer and does not allocate.
type input struct {
	t      *leg.Track
	jb     *media.JitterBuffer
	c      *pcounters
	lastPT int // -1: not configured
	gen    uint64
	k      kind
	ssrc   uint32
	ssrcOK bool
	buf    []byte
}

// WriteRTP handles one packet from the leg. Bad packets are counted and
// dropped; it never returns an error, so the leg's reader keeps going.
func (in *input) WriteRTP(pkt []byte) error {
	hdr, n, err := media.RTPHeaderLen(pkt)
	if err != nil {
		in.c.dropped.Add(1)
		return nil
	}
	pt := int(pkt[1] & 0x7F)
	if g := in.t.Gen(); pt != in.lastPT || g != in.gen {
		in.lastPT, in.gen = pt, g
		in.k = kindNone
		if c, ok := in.t.RecvCodec(uint8(pt)); ok {
			in.k = codecKind(c)
		}
	}
	payload := pkt[hdr : hdr+n]
	switch in.k {
	case kindIgnore:
		in.c.ignored.Add(1)
		return nil
	case kindPCMU, kindPCMA:
		if n == 0 || n > g711MaxPayload {
			in.c.dropped.Add(1)
			return nil
		}
	case kindOpus:
		if _, err := media.OpusPacketSamples(payload, 48000); err != nil || n >= jitterPayload {
			in.c.dropped.Add(1)
			return nil
		}
	default:
		in.c.dropped.Add(1)
		return nil
	}
	if ssrc := binary.BigEndian.Uint32(pkt[8:]); !in.ssrcOK || ssrc != in.ssrc {
		if in.ssrcOK {
			in.jb.Reset() // a new source: its sequence numbers start elsewhere
		}
		in.ssrc, in.ssrcOK = ssrc, true
	}
	in.buf[0] = byte(in.k)
	m := copy(in.buf[1:], payload)
	switch in.jb.Push(binary.BigEndian.Uint16(pkt[2:]), binary.BigEndian.Uint32(pkt[4:]), in.buf[:1+m]) {
	case media.PushOK, media.PushReset:
		in.c.in.Add(1)
	default: // late, duplicate, too large: counted by the jitter buffer
	}
	return nil
}

// participant is one track in the mix. Everything but in and c is owned by
// the tick, under Mixer.mu.
type participant struct {
	id string
	t  *leg.Track
	in *input
	c  pcounters

	// membership, rebuilt under mu
	idx   int
	muted bool
	heard []int // indexes of speakers this listener hears (not muted, not itself)
	excl  []int // indexes of unmuted speakers it does not hear (itself included)

	rx receiver // what it says, at the mixing rate
	mx mixState // what it hears, this tick
	tx sender   // encoder and RTP stream toward it
}

// receiver turns a participant's jitter-buffered packets into 20 ms frames
// at the mixing rate (receive.go).
type receiver struct {
	dec      media.OpusDecoder
	ups      *upsampler // G.711 at rates above 8000
	g711     []int16    // decode scratch at 8 kHz
	fifo     []int16    // decoded samples not yet mixed
	fifoN    int
	lastKind kind
	lastDur  int     // samples at the mixing rate of the last packet
	pcm      []int16 // this tick's frame
	active   bool    // pcm holds audio this tick
}

// mixState is a listener's mix for this tick (mix.go).
type mixState struct {
	mix   []int32      // the mix, when this listener computed it
	mix16 []int16      // the same, saturated
	owner *participant // whose mix/mix16 this listener uses this tick
	key   uint64       // bit i: speaker i active and heard, this tick
	keyed bool         // key and owner are valid this tick
}

// sender encodes a listener's mix and numbers its RTP packets (mix.go).
type sender struct {
	gen     uint64 // track generation last seen
	kind    kind
	pt      uint8
	ok      bool // kind is supported: send
	enc     media.OpusEncoder
	dcm     *decimator // G.711 at rates above 8000
	pcm8    []int16    // decimated mix
	encoded int        // payload bytes in pkt this tick (0: none)
	pkt     []byte
	seq     uint16
	ts      uint32
	marker  bool
	started bool // sent a first packet (see leadingSilence)
	waited  int  // ticks held back before the first packet
}

func newParticipant(m *Mixer, id string, t *leg.Track) (*participant, error) {
	f := m.f
	jb, err := media.NewJitterBuffer(media.JitterConfig{Capacity: jitterCapacity, MaxPayload: jitterPayload, TargetDelay: m.opts.JitterFrames})
	if err != nil {
		return nil, err
	}
	p := &participant{
		id: id,
		t:  t,
		rx: receiver{
			g711: make([]int16, g711MaxPayload),
			fifo: make([]int16, f.frame-1+f.maxChunk),
			pcm:  make([]int16, f.frame),
		},
		mx: mixState{mix: make([]int32, f.frame), mix16: make([]int16, f.frame)},
		tx: sender{
			pcm8:   make([]int16, f.frame/f.up),
			pkt:    make([]byte, media.RTPHeaderSize+media.OpusMaxPacketSize),
			seq:    uint16(rand.Uint32()),
			ts:     rand.Uint32(),
			marker: true,
			gen:    t.Gen() + 1, // force refreshSend
		},
	}
	p.in = &input{t: t, jb: jb, c: &p.c, lastPT: -1, buf: make([]byte, jitterPayload+1)}
	if f.up > 1 {
		p.rx.ups = newUpsampler(f.up, g711MaxPayload)
		p.tx.dcm = newDecimator(f.up, f.frame)
	}
	if codecKind(t.Send()) == kindOpus { // it most likely sends Opus too
		if p.rx.dec, err = media.NewOpusDecoder(f.rate); err != nil {
			return nil, err
		}
	}
	if err := p.refreshSend(m); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *participant) counters() Counters {
	js := p.in.jb.Stats()
	return Counters{
		In:        p.c.in.Load(),
		Out:       p.c.out.Load(),
		Concealed: p.c.concealed.Load(),
		Ignored:   p.c.ignored.Load(),
		Dropped:   p.c.dropped.Load() + js.Late + js.Duplicate + js.Overflow + js.TooLarge,
		Errors:    p.c.errors.Load(),
		HeldBack:  p.c.heldBack.Load(),
	}
}
