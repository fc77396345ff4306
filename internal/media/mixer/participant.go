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
	jitterCapacity = 32   // packets; MaxJitterFrames must stay below (capacity-4)/2
	jitterPayload  = 1500 // bytes per slot: 1 tag byte + payload
	g711MaxPayload = 960  // 120 ms, the longest packet the FIFO takes
)

// pcounters are a participant's counters; In, Ignored and Dropped are
// written by the leg's reader goroutine, the rest by the tick.
type pcounters struct {
	in, out, concealed, ignored, dropped, errors atomic.Uint64
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

	// receive side: decoded audio at the mixing rate
	dec      media.OpusDecoder
	ups      *upsampler // G.711 at rates above 8000
	g711     []int16    // decode scratch at 8 kHz
	fifo     []int16
	fifoN    int
	lastKind kind
	lastDur  int     // samples at the mixing rate of the last packet
	pcm      []int16 // this tick's frame
	active   bool    // pcm holds audio this tick

	// send side
	gen     uint64
	sendK   kind
	sendPT  uint8
	sendOK  bool
	enc     media.OpusEncoder
	dcm     *decimator // G.711 at rates above 8000
	mix     []int32    // this tick's mix (when this listener computed it)
	mix16   []int16    // the same, saturated
	pcm8    []int16    // decimated mix
	owner   *participant
	key     uint64 // bit i: speaker i active and heard, this tick
	keyed   bool   // key and owner are valid this tick
	encoded int    // payload bytes in pkt this tick (0: none)
	pkt     []byte
	seq     uint16
	ts      uint32
	marker  bool
}

func newParticipant(m *Mixer, id string, t *leg.Track) (*participant, error) {
	jb, err := media.NewJitterBuffer(media.JitterConfig{Capacity: jitterCapacity, MaxPayload: jitterPayload, TargetDelay: m.opts.JitterFrames})
	if err != nil {
		return nil, err
	}
	p := &participant{
		id:     id,
		t:      t,
		g711:   make([]int16, g711MaxPayload),
		fifo:   make([]int16, m.frame-1+m.maxChunk),
		pcm:    make([]int16, m.frame),
		mix:    make([]int32, m.frame),
		mix16:  make([]int16, m.frame),
		pcm8:   make([]int16, m.frame/m.up),
		pkt:    make([]byte, media.RTPHeaderSize+media.OpusMaxPacketSize),
		seq:    uint16(rand.Uint32()),
		ts:     rand.Uint32(),
		marker: true,
	}
	p.in = &input{t: t, jb: jb, c: &p.c, lastPT: -1, buf: make([]byte, jitterPayload+1)}
	if m.up > 1 {
		p.ups = newUpsampler(m.up, g711MaxPayload)
		p.dcm = newDecimator(m.up, m.frame)
	}
	if codecKind(t.Send()) == kindOpus { // it most likely sends Opus too
		if p.dec, err = media.NewOpusDecoder(m.rate); err != nil {
			return nil, err
		}
	}
	p.gen = t.Gen() + 1 // force refreshSend on the first tick
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
	}
}

// refreshSend follows a change of the track's send format (re-INVITE),
// creating an Opus encoder when needed. It allocates only on a change.
func (p *participant) refreshSend(m *Mixer) error {
	g := p.t.Gen()
	if g == p.gen {
		return nil
	}
	p.gen = g
	c := p.t.Send()
	k := codecKind(c)
	if k == p.sendK && c.PT == p.sendPT && p.sendOK {
		return nil
	}
	p.sendOK = false
	switch k {
	case kindPCMU, kindPCMA:
	case kindOpus:
		if p.enc == nil {
			enc, err := media.NewOpusEncoderComplexity(m.rate, m.opusBRate, m.opts.Transcode.OpusComplexity)
			if err != nil {
				p.c.errors.Add(1)
				m.log.Warn("mixer: opus encoder", "participant", p.id, "err", err)
				return err
			}
			p.enc = enc
		}
	default:
		p.c.errors.Add(1)
		m.log.Warn("mixer: participant sends an unsupported codec; not sending to it", "participant", p.id, "codec", c.Name, "clock", c.Clock)
		return media.ErrUnsupportedCodec
	}
	if p.sendK != kindNone && p.sendK != k {
		m.log.Info("mixer: participant codec changed", "participant", p.id, "from", p.sendK.String(), "to", k.String())
	}
	p.sendK, p.sendPT, p.sendOK = k, c.PT&0x7F, true
	p.marker = true
	return nil
}

// pull fills p.pcm with this tick's 20 ms at the mixing rate: decoded or
// concealed packets from the jitter buffer, or silence (active false).
func (p *participant) pull(m *Mixer) {
	p.active, p.keyed, p.encoded = false, false, 0
	for p.fifoN < m.frame {
		payload, ok, lost := p.in.jb.Pop()
		switch {
		case ok:
			p.decode(m, payload)
		case lost:
			p.conceal(m)
		default:
			if p.fifoN == 0 {
				return // silence: nothing buffered (not started, underrun, source stopped)
			}
			// Underrun mid-frame: play what there is, padded with silence.
			copy(p.pcm, p.fifo[:p.fifoN])
			clear(p.pcm[p.fifoN:])
			p.fifoN = 0
			p.active = true
			return
		}
	}
	copy(p.pcm, p.fifo[:m.frame])
	p.fifoN = copy(p.fifo, p.fifo[m.frame:p.fifoN])
	p.active = true
}

// decode appends one tagged payload to the FIFO.
func (p *participant) decode(m *Mixer, tagged []byte) {
	if len(tagged) < 2 {
		p.c.errors.Add(1)
		return
	}
	k, payload := kind(tagged[0]), tagged[1:]
	room := p.fifo[p.fifoN:]
	switch k {
	case kindPCMU, kindPCMA:
		if k != p.lastKind && p.ups != nil {
			p.ups.reset()
		}
		n := len(payload)
		if n*m.up > len(room) {
			p.c.dropped.Add(1)
			return
		}
		dst := room
		if p.ups != nil {
			dst = p.g711
		}
		if k == kindPCMU {
			media.DecodeUlaw(dst[:n], payload)
		} else {
			media.DecodeAlaw(dst[:n], payload)
		}
		if p.ups != nil {
			n = p.ups.process(dst[:n], room)
		}
		p.fifoN += n
		p.lastDur = n
	case kindOpus:
		if p.dec == nil {
			dec, err := media.NewOpusDecoder(m.rate) // first Opus packet of a non-Opus sender
			if err != nil {
				p.c.errors.Add(1)
				return
			}
			p.dec = dec
		}
		ns, err := media.OpusPacketSamples(payload, m.rate)
		if err != nil || ns > len(room) {
			p.c.dropped.Add(1)
			return
		}
		n, err := p.dec.Decode(payload, room[:ns])
		if err != nil {
			p.c.errors.Add(1)
			return
		}
		p.fifoN += n
		p.lastDur = n
	default:
		p.c.errors.Add(1)
		return
	}
	p.lastKind = k
}

// conceal appends one lost packet's worth of audio to the FIFO: the Opus
// decoder's concealment, or silence for G.711 (fed through the upsampler so
// its history stays continuous).
func (p *participant) conceal(m *Mixer) {
	p.c.concealed.Add(1)
	n := p.lastDur
	if n <= 0 || n > m.maxChunk {
		n = m.frame
	}
	room := p.fifo[p.fifoN:]
	if p.lastKind == kindOpus && p.dec != nil {
		if got, err := p.dec.DecodePLC(room[:n]); err == nil {
			p.fifoN += got
			return
		}
		p.c.errors.Add(1)
	}
	if p.ups != nil && p.lastKind != kindOpus {
		z := p.g711[:n/m.up]
		clear(z)
		p.fifoN += p.ups.process(z, room)
		return
	}
	clear(room[:n])
	p.fifoN += n
}

// isG711 reports whether the participant is sent G.711.
func (p *participant) isG711() bool { return p.sendK == kindPCMU || p.sendK == kindPCMA }
