// Package bridge links the media of two legs. Audio is passed through
// untouched when both sides use the same codec (no decode, no allocation per
// packet) and transcoded otherwise (G.711 ⇄ Opus, PCMU ⇄ PCMA) in 20 ms
// frames; RFC 4733 telephone-events are carried across with their payload
// type and clock rate mapped; video is forwarded untouched and keyframe
// requests (PLI/FIR) are relayed to the sending side.
//
// Each direction is a link installed as the source track's output: it runs
// on the source leg's reader goroutine, so its state needs no lock.
package bridge

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
)

// Path is how a link moves packets.
type Path int32

// Paths.
const (
	PathNone Path = iota
	PathPassthrough
	PathTranscode
)

func (p Path) String() string {
	switch p {
	case PathPassthrough:
		return "passthrough"
	case PathTranscode:
		return "transcode"
	}
	return "none"
}

// Counters of one link, readable at any time.
type Counters struct {
	Forwarded  atomic.Uint64
	Transcoded atomic.Uint64
	DTMF       atomic.Uint64
	Dropped    atomic.Uint64
	Errors     atomic.Uint64
}

// Bridge is a bidirectional connection between two legs' tracks.
type Bridge struct {
	AtoB, BtoA *Link
	VideoAtoB  *Link
	VideoBtoA  *Link
	a, b       *leg.Track
	va, vb     *leg.Track
}

// Options tune a bridge.
type Options struct {
	Transcode media.TranscodeOptions
	// JitterFrames > 0 puts a jitter buffer of that many 20 ms frames in front
	// of the decoder for Opus sources (the browser side, where the internet's
	// jitter and reordering are): packets are played out in order at a fixed
	// delay and losses are concealed by the decoder. 0 transcodes each packet
	// on arrival and leaves de-jittering to the endpoints, as rtpengine does
	// by default: no added delay.
	JitterFrames int

	manualPlayout bool // tests drive playoutStep themselves
}

// Connect links audio tracks a and b both ways, and video tracks va and vb
// when both are non-nil.
func Connect(a, b, va, vb *leg.Track) *Bridge { return ConnectWith(Options{}, a, b, va, vb) }

// ConnectWith is Connect with options.
func ConnectWith(o Options, a, b, va, vb *leg.Track) *Bridge {
	br := &Bridge{a: a, b: b, va: va, vb: vb}
	br.AtoB = newLink(a, b)
	br.BtoA = newLink(b, a)
	for _, k := range []*Link{br.AtoB, br.BtoA} {
		k.opts, k.jitterFrames, k.manual = o.Transcode, o.JitterFrames, o.manualPlayout
	}
	a.SetOutput(br.AtoB)
	b.SetOutput(br.BtoA)
	if va != nil && vb != nil {
		br.VideoAtoB = newLink(va, vb)
		br.VideoBtoA = newLink(vb, va)
		va.SetOutput(br.VideoAtoB)
		vb.SetOutput(br.VideoBtoA)
		// A viewer asking us for a keyframe is relayed to the leg that sends the video.
		vb.OnKeyframeRequest(va.RequestKeyframe)
		va.OnKeyframeRequest(vb.RequestKeyframe)
		va.RequestKeyframe()
		vb.RequestKeyframe()
	}
	return br
}

// Close stops forwarding in both directions and waits for the playout
// goroutines of jitter-buffered links.
func (br *Bridge) Close() {
	br.a.SetOutput(nil)
	br.b.SetOutput(nil)
	br.AtoB.stopPlayout()
	br.BtoA.stopPlayout()
	if br.va != nil && br.vb != nil {
		br.va.SetOutput(nil)
		br.vb.SetOutput(nil)
		br.va.OnKeyframeRequest(nil)
		br.vb.OnKeyframeRequest(nil)
	}
}

// Link forwards one direction.
type Link struct {
	src, dst *leg.Track
	C        Counters
	path     atomic.Int32

	opts   media.TranscodeOptions
	lastPT int // -1: not configured

	// Jitter-buffered transcoding (Opus sources, Options.JitterFrames > 0):
	// the reader pushes, a playout goroutine pops every 20 ms. mu guards the
	// transcoder and output state shared by the two.
	jitterFrames int
	manual       bool
	mu           sync.Mutex
	jb           *media.JitterBuffer
	pmu          sync.Mutex // guards stop and closed (reader starts, Close stops)
	stop         chan struct{}
	closed       bool
	wg           sync.WaitGroup
	gen          uint64
	mode         mode
	tc           *media.Transcoder
	srcC         leg.Codec
	dstC         leg.Codec

	// transcoding output state
	out      []byte
	seq      uint16
	ts       uint32
	started  bool
	lastSeq  uint16
	acc      []byte // G.711 → Opus: samples waiting for a whole 20 ms frame
	accTS    uint32
	dtmfOut  []byte
	dtmfTS   uint32 // source timestamp of the event being relayed
	dtmfBase uint32
}

type mode int

const (
	modeDrop mode = iota
	modePass
	modeTranscode
	modeDTMF
)

func newLink(src, dst *leg.Track) *Link {
	return &Link{src: src, dst: dst, lastPT: -1, out: make([]byte, 1500), dtmfOut: make([]byte, 16)}
}

// Path reports what the link currently does with media packets.
func (k *Link) Path() Path { return Path(k.path.Load()) }

// WriteRTP handles one packet from the source leg.
func (k *Link) WriteRTP(pkt []byte) error {
	if len(pkt) < 12 {
		k.C.Dropped.Add(1)
		return nil
	}
	pt := int(pkt[1] & 0x7f)
	if g := k.src.Gen() + k.dst.Gen(); pt != k.lastPT || g != k.gen {
		k.gen = g
		k.configure(uint8(pt))
	}
	switch k.mode {
	case modePass:
		k.C.Forwarded.Add(1)
		return k.dst.In.WriteRTP(pkt)
	case modeTranscode:
		return k.transcode(pkt)
	case modeDTMF:
		return k.relayDTMF(pkt)
	}
	k.C.Dropped.Add(1)
	return nil
}

func (k *Link) configure(pt uint8) {
	k.lastPT = int(pt)
	src, ok := k.src.RecvCodec(pt)
	if !ok {
		k.mode = modeDrop
		return
	}
	k.srcC = src
	if src.Is("telephone-event") {
		k.mode = modeDrop
		if k.dst.InDTMF != nil && k.dst.SendDTMF().PT != 0 {
			k.mode = modeDTMF
		}
		return
	}
	if src.Is("CN") || src.Is("red") || src.Is("rtx") {
		k.mode = modeDrop
		return
	}
	dst := k.dst.Send()
	k.dstC = dst
	if leg.Same(src, dst) || k.src.Kind == "video" {
		k.mode = modePass
		k.path.Store(int32(PathPassthrough))
		return
	}
	tc, err := media.NewTranscoderOptions(mediaCodec(src), mediaCodec(dst), capOpus(k.opts, dst))
	if err != nil {
		k.mode = modeDrop
		k.path.Store(int32(PathNone))
		k.C.Errors.Add(1)
		return
	}
	k.mu.Lock()
	k.tc = tc
	k.acc = k.acc[:0]
	k.jb = nil
	if k.jitterFrames > 0 && src.Is("opus") {
		jb, err := media.NewJitterBuffer(media.JitterConfig{TargetDelay: k.jitterFrames})
		if err == nil {
			k.jb = jb
		}
	}
	k.mu.Unlock()
	if k.jb != nil && !k.manual {
		k.startPlayout()
	}
	k.mode = modeTranscode
	k.path.Store(int32(PathTranscode))
}

func mediaCodec(c leg.Codec) media.Codec {
	return media.Codec{Name: c.Name, ClockRate: int(c.Clock), Channels: c.Channels}
}

var errShort = errors.New("bridge: short RTP packet")

func (k *Link) transcode(pkt []byte) error {
	hl, _, err := media.RTPHeaderLen(pkt)
	if err != nil {
		k.C.Errors.Add(1)
		return errShort
	}
	payload := pkt[hl:]
	seq := binary.BigEndian.Uint16(pkt[2:])
	if k.jb != nil { // played out by playoutStep
		k.jb.Push(seq, binary.BigEndian.Uint32(pkt[4:]), payload)
		return nil
	}
	if k.started {
		if d := int16(seq - k.lastSeq); d <= 0 {
			k.C.Dropped.Add(1) // late or duplicate: the decoder state has moved on
			return nil
		} else if d > 1 && d < 10 && k.srcC.Is("opus") {
			for i := 1; i < int(d); i++ { // conceal the gap so the decoder stays in step
				if n, err := k.tc.Conceal(k.out[12:]); err == nil {
					k.emit(pkt[1]&0x80 != 0, k.out[:12+n])
				}
			}
		}
	}
	k.lastSeq = seq
	k.started = true
	// G.711 → Opus needs exact 20 ms frames; phones often send 30 ms (240 bytes).
	if k.tc.To().Name == "opus" && len(payload) != 160 {
		k.acc = append(k.acc, payload...)
		for len(k.acc) >= 160 {
			n, err := k.tc.Transcode(k.acc[:160], k.out[12:])
			k.acc = append(k.acc[:0], k.acc[160:]...)
			if err != nil {
				k.C.Errors.Add(1)
				continue
			}
			k.emit(false, k.out[:12+n])
		}
		return nil
	}
	n, err := k.tc.Transcode(payload, k.out[12:])
	if err != nil {
		k.C.Errors.Add(1)
		return nil
	}
	return k.emit(pkt[1]&0x80 != 0, k.out[:12+n])
}

// emit sends a transcoded frame with the link's own sequence and timestamp.
func (k *Link) emit(marker bool, b []byte) error {
	b[0] = 0x80
	b[1] = k.dstC.PT & 0x7f
	if marker {
		b[1] |= 0x80
	}
	k.seq++
	binary.BigEndian.PutUint16(b[2:], k.seq)
	binary.BigEndian.PutUint32(b[4:], k.ts)
	binary.BigEndian.PutUint32(b[8:], 0)
	k.ts += uint32(k.tc.LastOutSamples())
	k.C.Transcoded.Add(1)
	return k.dst.In.WriteRTP(b)
}

// relayDTMF carries an RFC 4733 event across, rescaling its duration when
// the two sides' telephone-event clocks differ (8 kHz vs 48 kHz).
func (k *Link) relayDTMF(pkt []byte) error {
	hl, _, err := media.RTPHeaderLen(pkt)
	if err != nil || len(pkt) < hl+4 {
		k.C.Dropped.Add(1)
		return nil
	}
	dst := k.dst.SendDTMF()
	b := k.dtmfOut[:16]
	copy(b, pkt[:12])
	b[0] = 0x80
	copy(b[12:], pkt[hl:hl+4])
	if k.srcC.Clock != dst.Clock && k.srcC.Clock != 0 {
		d := uint32(binary.BigEndian.Uint16(b[14:]))
		d = d * dst.Clock / k.srcC.Clock
		binary.BigEndian.PutUint16(b[14:], uint16(min(d, 0xffff)))
		ts := binary.BigEndian.Uint32(pkt[4:])
		binary.BigEndian.PutUint32(b[4:], uint32(uint64(ts)*uint64(dst.Clock)/uint64(k.srcC.Clock)))
	}
	k.C.DTMF.Add(1)
	return k.dst.InDTMF.WriteRTP(b)
}

func (k *Link) startPlayout() {
	k.pmu.Lock()
	defer k.pmu.Unlock()
	if k.stop != nil || k.closed {
		return
	}
	stop := make(chan struct{})
	k.stop = stop
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop: // not k.stop: stopPlayout sets that to nil, and <-nil never returns
				return
			case <-t.C:
				k.playoutStep()
			}
		}
	}()
}

func (k *Link) stopPlayout() {
	k.pmu.Lock()
	k.closed = true
	stop := k.stop
	k.stop = nil
	k.pmu.Unlock()
	if stop != nil {
		close(stop)
	}
	k.wg.Wait()
}

// playoutStep plays one 20 ms frame out of the jitter buffer: the next
// packet in sequence order, the decoder's concealment for a lost one, or
// nothing while the buffer fills.
func (k *Link) playoutStep() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.jb == nil || k.tc == nil {
		return
	}
	payload, ok, lost := k.jb.Pop()
	var n int
	var err error
	switch {
	case ok:
		n, err = k.tc.Transcode(payload, k.out[12:])
	case lost:
		n, err = k.tc.Conceal(k.out[12:])
	default:
		return
	}
	if err != nil {
		k.C.Errors.Add(1)
		return
	}
	_ = k.emit(false, k.out[:12+n])
}

// capOpus lowers the Opus encoder's bitrate to the receiver's
// maxaveragebitrate (RFC 7587 §6.1), when it declared one below it:
// WhatsApp's relay asks for 20 kbit/s.
func capOpus(o media.TranscodeOptions, dst leg.Codec) media.TranscodeOptions {
	if !dst.Is("opus") {
		return o
	}
	for _, kv := range strings.Split(dst.Fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if !strings.EqualFold(k, "maxaveragebitrate") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 6000 || n > 510000 {
			return o
		}
		br := o.OpusBitrate
		if br == 0 {
			br = media.TranscodeOpusBitrate
		}
		if n < br {
			o.OpusBitrate = n
		}
	}
	return o
}
