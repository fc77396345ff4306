package mixer_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
)

var (
	codecPCMU = leg.Codec{PT: 0, Name: "PCMU", Clock: 8000, Channels: 1}
	codecPCMA = leg.Codec{PT: 8, Name: "PCMA", Clock: 8000, Channels: 1}
	codecOpus = leg.Codec{PT: 111, Name: "opus", Clock: 48000, Channels: 2}
	codecDTMF = leg.Codec{PT: 101, Name: "telephone-event", Clock: 8000, Channels: 1}
)

const toneAmp = 0.25 // each talker's tone, as a fraction of full scale

// capture records the packets the mixer sends to one participant.
type capture struct {
	mu     sync.Mutex
	pkts   [][]byte
	notify chan struct{} // if non-nil, signalled (non-blocking) per packet
}

func (c *capture) WriteRTP(pkt []byte) error {
	c.mu.Lock()
	c.pkts = append(c.pkts, append([]byte(nil), pkt...))
	c.mu.Unlock()
	if c.notify != nil {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

func (c *capture) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pkts)
}

func (c *capture) from(i int) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pkts[i:]
}

// party is a fake leg: a track whose far end talks a pure tone in its
// codec, and whose capture records what the mixer sends it.
type party struct {
	id    string
	freq  float64
	codec leg.Codec
	track *leg.Track
	out   *capture
	enc   media.OpusEncoder
	pcm   []int16
	buf   []byte
	phase float64
	ptime int // packet duration in ms; 0 means 20
	seq   uint16
	ts    uint32
	ssrc  uint32
}

var ssrcs uint32

func newParty(tb testing.TB, id string, c leg.Codec, freq float64) *party {
	tb.Helper()
	ssrcs++
	p := &party{id: id, freq: freq, codec: c, out: &capture{}, seq: uint16(ssrcs * 1000), ssrc: 0x10000 + ssrcs, buf: make([]byte, 1500)}
	p.track = leg.NewTrack("audio", c, codecDTMF, p.out)
	p.track.SetRecv([]leg.Codec{c, codecDTMF})
	p.pcm = make([]int16, p.rate()*120/1000)
	if c.Is("opus") {
		// The talker's own encoder is not under test: the cheapest complexity.
		enc, err := media.NewOpusEncoderComplexity(48000, 32000, 1)
		if err != nil {
			tb.Fatal(err)
		}
		p.enc = enc
	}
	return p
}

func (p *party) rate() int { return int(p.codec.Clock) }

// packet returns the next ptime (default 20 ms) of the party's tone as an
// RTP packet (valid until the next call).
func (p *party) packet(tb testing.TB) []byte {
	tb.Helper()
	ms := p.ptime
	if ms == 0 {
		ms = 20
	}
	pcm := p.pcm[:p.rate()*ms/1000]
	media.GenerateTone(pcm, p.freq, p.rate(), &p.phase, toneAmp)
	b := p.buf
	b[0], b[1] = 0x80, p.codec.PT
	binary.BigEndian.PutUint16(b[2:], p.seq)
	binary.BigEndian.PutUint32(b[4:], p.ts)
	binary.BigEndian.PutUint32(b[8:], p.ssrc)
	p.seq++
	p.ts += uint32(len(pcm))
	var n int
	switch {
	case p.enc != nil:
		n = p.encodeOpus(tb, pcm, b[12:])
	case p.codec.Is("PCMA"):
		n = media.EncodeAlaw(b[12:], pcm)
	default:
		n = media.EncodeUlaw(b[12:], pcm)
	}
	return b[:12+n]
}

// encodeOpus encodes pcm (a multiple of 20 ms at 48 kHz) as one Opus
// packet: a single frame, or a code 3 VBR packet of several 20 ms frames
// (RFC 6716 section 3.2.5).
func (p *party) encodeOpus(tb testing.TB, pcm []int16, out []byte) int {
	tb.Helper()
	const f = 960
	if len(pcm) == f {
		n, err := p.enc.Encode(pcm, out)
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	var frames [][]byte
	tmp := make([]byte, media.OpusMaxPacketSize)
	for k := 0; k < len(pcm); k += f {
		n, err := p.enc.Encode(pcm[k:k+f], tmp)
		if err != nil {
			tb.Fatal(err)
		}
		if n < 2 || tmp[0]&3 != 0 || (len(frames) > 0 && tmp[0] != frames[0][0]) {
			tb.Fatalf("opus frame %d cannot join a code 3 packet: TOC %#x, %d bytes", len(frames), tmp[0], n)
		}
		frames = append(frames, append([]byte(nil), tmp[:n]...))
	}
	b := append(out[:0], frames[0][0]|3, 0x80|byte(len(frames)))
	for _, fr := range frames[:len(frames)-1] {
		l := len(fr) - 1
		if l < 252 {
			b = append(b, byte(l))
		} else {
			first := 252 + (l-252)&3
			b = append(b, byte(first), byte((l-first)/4))
		}
	}
	for _, fr := range frames {
		b = append(b, fr[1:]...)
	}
	return len(b)
}

// send delivers the next packet to the mixer, as the leg's reader would.
func (p *party) send(tb testing.TB) {
	tb.Helper()
	if err := p.track.Deliver(p.packet(tb)); err != nil {
		tb.Fatal(err)
	}
}

func (p *party) add(tb testing.TB, m *mixer.Mixer) {
	tb.Helper()
	if err := m.Add(p.id, p.track); err != nil {
		tb.Fatal(err)
	}
}

// run delivers one packet from each party then ticks, n times.
func run(tb testing.TB, m *mixer.Mixer, n int, ps ...*party) {
	tb.Helper()
	for range n {
		for _, p := range ps {
			p.send(tb)
		}
		m.Tick()
	}
}

// decode decodes captured packets (all of one payload type) to PCM and
// returns it with its sample rate.
func decode(tb testing.TB, pkts [][]byte) ([]int16, int) {
	tb.Helper()
	if len(pkts) == 0 {
		tb.Fatal("no packets to decode")
	}
	pt := pkts[0][1] & 0x7F
	var dec media.OpusDecoder
	rate := 8000
	if pt == codecOpus.PT {
		rate = 48000
		var err error
		if dec, err = media.NewOpusDecoder(rate); err != nil {
			tb.Fatal(err)
		}
	}
	var pcm []int16
	buf := make([]int16, media.OpusMaxFrameSamples(rate))
	for i, b := range pkts {
		if b[1]&0x7F != pt {
			tb.Fatalf("packet %d: payload type %d, want %d", i, b[1]&0x7F, pt)
		}
		payload := b[12:]
		var n int
		switch pt {
		case codecOpus.PT:
			var err error
			if n, err = dec.Decode(payload, buf); err != nil {
				tb.Fatalf("packet %d: %v", i, err)
			}
		case codecPCMA.PT:
			n = media.DecodeAlaw(buf, payload)
		default:
			n = media.DecodeUlaw(buf, payload)
		}
		pcm = append(pcm, buf[:n]...)
	}
	return pcm, rate
}

// levels measures the given tones in what p was sent from packet i on.
func (p *party) levels(tb testing.TB, i int, freqs ...float64) []float64 {
	tb.Helper()
	pcm, rate := decode(tb, p.out.from(i))
	l := make([]float64, len(freqs))
	for k, f := range freqs {
		l[k] = media.ToneLevel(pcm, f, rate)
	}
	return l
}

// Thresholds: a heard tone arrives at about toneAmp; an absent one is
// codec noise, more than 30 dB below.
const (
	heardMin  = 0.6 * toneAmp
	absentMax = 0.03 * toneAmp
)

// expect checks that p, from packet i on, hears exactly the tones of
// heard among the tones of all.
func expect(tb testing.TB, p *party, i int, all []*party, heard ...*party) {
	tb.Helper()
	freqs := make([]float64, len(all))
	for k, q := range all {
		freqs[k] = q.freq
	}
	lv := p.levels(tb, i, freqs...)
	desc := ""
	for k, q := range all {
		desc += fmt.Sprintf(" %s(%.0f Hz)=%.4f", q.id, q.freq, lv[k])
	}
	tb.Logf("%s hears%s", p.id, desc)
	for k, q := range all {
		want := false
		for _, h := range heard {
			want = want || h == q
		}
		switch {
		case want && lv[k] < heardMin:
			tb.Errorf("%s should hear %s:%s", p.id, q.id, desc)
		case !want && lv[k] > absentMax:
			tb.Errorf("%s should not hear %s:%s", p.id, q.id, desc)
		}
	}
}

// newMixer returns a manually ticked mixer that logs to the test and is
// closed when the test ends. Its Opus encoders run at complexity 5, the
// hub's default (media.opus_complexity), unless o says otherwise.
func newMixer(tb testing.TB, o mixer.Options) *mixer.Mixer {
	tb.Helper()
	if o.Transcode.OpusComplexity == 0 {
		o.Transcode.OpusComplexity = 5
	}
	o.Logger = slog.New(slog.NewTextHandler(tb.Output(), nil))
	m := mixer.New(mixer.ManualTick(o))
	tb.Cleanup(m.Close)
	return m
}
