package media

import (
	"fmt"
	"strconv"
	"strings"
)

// Codec describes an RTP audio codec as negotiated in SDP (a=rtpmap).
//
// Name is the encoding name, compared case-insensitively ("PCMU", "PCMA",
// "opus"). ClockRate is the RTP clock rate in Hz, which for Opus is always
// 48000 (RFC 7587) whatever the encoder's internal rate. Channels is the SDP
// channel count: 1 for G.711, 2 for Opus ("opus/48000/2" is mandatory in SDP
// even for mono streams); 0 means 1.
type Codec struct {
	Name      string
	ClockRate int
	Channels  int
}

// Well-known codecs.
var (
	CodecPCMU = Codec{Name: "PCMU", ClockRate: 8000, Channels: 1}
	CodecPCMA = Codec{Name: "PCMA", ClockRate: 8000, Channels: 1}
	CodecOpus = Codec{Name: "opus", ClockRate: 48000, Channels: 2}
)

// String formats c like an SDP rtpmap value, e.g. "PCMU/8000" or "opus/48000/2".
func (c Codec) String() string {
	s := c.Name + "/" + strconv.Itoa(c.ClockRate)
	if c.Channels > 1 {
		s += "/" + strconv.Itoa(c.Channels)
	}
	return s
}

// Equal reports whether c and o are the same codec (name case-insensitive,
// same clock rate, same channel count with 0 meaning 1).
func (c Codec) Equal(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate && max(c.Channels, 1) == max(o.Channels, 1)
}

// SamplesPerFrame returns the RTP timestamp advance of a 20 ms frame in this
// codec's clock (160 for G.711, 960 for Opus).
func (c Codec) SamplesPerFrame() int { return c.ClockRate / 50 }

type codecKind uint8

const (
	kindUnknown codecKind = iota
	kindPCMU
	kindPCMA
	kindOpus
)

func (c Codec) kind() codecKind {
	switch {
	case strings.EqualFold(c.Name, "PCMU") && c.ClockRate == 8000 && c.Channels <= 1:
		return kindPCMU
	case strings.EqualFold(c.Name, "PCMA") && c.ClockRate == 8000 && c.Channels <= 1:
		return kindPCMA
	case strings.EqualFold(c.Name, "opus") && c.ClockRate == 48000 && c.Channels <= 2:
		return kindOpus
	}
	return kindUnknown
}

// Transcoding constants.
const (
	// TranscodeRate is the PCM rate of the Opus <-> G.711 path: Opus is
	// decoded and encoded natively at 8 kHz, so no resampler is needed.
	TranscodeRate = 8000
	// TranscodeOpusBitrate is the Opus bitrate used when encoding narrowband
	// speech from G.711 (bit/s).
	TranscodeOpusBitrate = 24000
	// g711Frame is 20 ms of G.711 (bytes == samples).
	g711Frame = TranscodeRate / 50
)

// Transcoder converts RTP payloads of one codec to another, one payload per
// call. Supported pairs: PCMU<->opus, PCMA<->opus and PCMU<->PCMA.
//
// Frame sizes:
//   - G.711 -> Opus needs exactly 20 ms (160 bytes) per input payload, since
//     the encoder produces one 20 ms Opus packet per call; other sizes fail
//     with ErrFrameSize (negotiate ptime 20).
//   - Opus -> G.711 accepts any Opus packet (2.5 to 120 ms, multi-frame
//     included) and outputs all decoded samples as one G.711 payload; G.711
//     has no framing, so a 40 ms Opus packet becomes a 320-byte payload. Use
//     LastOutSamples for the RTP timestamp advance.
//   - PCMU <-> PCMA converts byte for byte, any length.
//
// Opus output is mono, encoded at 8 kHz (narrowband); it is still signalled
// as opus/48000/2 and its timestamps advance by 960 per 20 ms.
//
// Transcode and Conceal do not allocate, with two gopus-only exceptions
// inside the Opus decoder (see OpusDecoder): the first packet of each new
// SILK bandwidth, and concealment of a lost Opus frame. A Transcoder holds codec state for one stream and is not
// safe for concurrent use.
type Transcoder struct {
	from, to Codec
	fk, tk   codecKind
	enc      OpusEncoder
	dec      OpusDecoder
	pcm      []int16 // decode scratch, 120 ms at 8 kHz
	zero     []int16 // 20 ms of silence for Conceal into Opus
	lastOut  int
}

// NewTranscoder returns a Transcoder from codec from to codec to. It fails
// with ErrUnsupportedCodec for codecs other than PCMU/8000, PCMA/8000 and
// opus/48000, and for identical codecs (use a Rewriter for passthrough).
func NewTranscoder(from, to Codec) (*Transcoder, error) {
	return NewTranscoderOptions(from, to, TranscodeOptions{})
}

// TranscodeOptions tune the Opus encoder of a Transcoder; zero values mean
// TranscodeOpusBitrate and the library's default complexity.
type TranscodeOptions struct {
	OpusBitrate    int
	OpusComplexity int // 1-10; lower is cheaper (5 costs about half of 9 at 8 kHz)
}

// NewTranscoderOptions is NewTranscoder with encoder options.
func NewTranscoderOptions(from, to Codec, o TranscodeOptions) (*Transcoder, error) {
	t := &Transcoder{from: from, to: to, fk: from.kind(), tk: to.kind()}
	if t.fk == kindUnknown || t.tk == kindUnknown || t.fk == t.tk {
		return nil, fmt.Errorf("%w: %v -> %v", ErrUnsupportedCodec, from, to)
	}
	if t.fk == kindOpus {
		dec, err := NewOpusDecoder(TranscodeRate)
		if err != nil {
			return nil, err
		}
		t.dec = dec
	}
	if t.tk == kindOpus {
		br := o.OpusBitrate
		if br == 0 {
			br = TranscodeOpusBitrate
		}
		enc, err := NewOpusEncoderComplexity(TranscodeRate, br, o.OpusComplexity)
		if err != nil {
			return nil, err
		}
		t.enc = enc
		t.zero = make([]int16, g711Frame)
	}
	t.pcm = make([]int16, OpusMaxFrameSamples(TranscodeRate))
	return t, nil
}

// From returns the source codec.
func (t *Transcoder) From() Codec { return t.from }

// To returns the destination codec.
func (t *Transcoder) To() Codec { return t.to }

// OutSamplesPerFrame returns the nominal RTP timestamp step of one 20 ms
// output payload in the destination clock: 960 for Opus, 160 for G.711.
func (t *Transcoder) OutSamplesPerFrame() int { return t.to.SamplesPerFrame() }

// LastOutSamples returns the RTP timestamp advance, in the destination
// clock, of the payload written by the last successful Transcode or Conceal.
// It differs from OutSamplesPerFrame only for Opus -> G.711 with Opus
// packets that are not 20 ms long.
func (t *Transcoder) LastOutSamples() int { return t.lastOut }

// Transcode converts the payload in (one RTP payload of the source codec)
// into out and returns the bytes written. For Opus output out should hold
// OpusMaxPacketSize bytes; for G.711 output it must hold the decoded sample
// count (160 for 20 ms, up to 960 for 120 ms Opus packets), else
// ErrShortBuffer is returned before any state changes.
func (t *Transcoder) Transcode(in []byte, out []byte) (int, error) {
	switch {
	case t.fk == kindPCMU && t.tk == kindPCMA, t.fk == kindPCMA && t.tk == kindPCMU:
		if len(out) < len(in) {
			return 0, ErrShortBuffer
		}
		var n int
		if t.fk == kindPCMU {
			n = UlawToAlaw(out, in)
		} else {
			n = AlawToUlaw(out, in)
		}
		t.lastOut = n
		return n, nil
	case t.tk == kindOpus: // G.711 -> Opus
		if len(in) != g711Frame {
			return 0, fmt.Errorf("%w: %s payload of %d bytes, want %d", ErrFrameSize, t.from.Name, len(in), g711Frame)
		}
		pcm := t.pcm[:g711Frame]
		if t.fk == kindPCMU {
			DecodeUlaw(pcm, in)
		} else {
			DecodeAlaw(pcm, in)
		}
		return t.encodeOpus(pcm, out)
	default: // Opus -> G.711
		ns, err := OpusPacketSamples(in, TranscodeRate)
		if err != nil {
			return 0, err
		}
		if len(out) < ns {
			return 0, ErrShortBuffer
		}
		n, err := t.dec.Decode(in, t.pcm)
		if err != nil {
			return 0, err
		}
		return t.encodeG711(t.pcm[:n], out), nil
	}
}

// Conceal produces one 20 ms output payload for a lost input packet (the
// jitter buffer reported lost=true). An Opus source runs the decoder's packet
// loss concealment; a G.711 source yields silence (encoded to Opus when the
// destination is Opus, so the encoder state stays continuous).
func (t *Transcoder) Conceal(out []byte) (int, error) {
	if t.tk != kindOpus && len(out) < g711Frame {
		return 0, ErrShortBuffer
	}
	switch {
	case t.fk == kindOpus:
		pcm := t.pcm[:g711Frame]
		if _, err := t.dec.DecodePLC(pcm); err != nil {
			return 0, err
		}
		return t.encodeG711(pcm, out), nil
	case t.tk == kindOpus:
		return t.encodeOpus(t.zero, out)
	case t.tk == kindPCMU:
		fill(out[:g711Frame], UlawSilence)
	default:
		fill(out[:g711Frame], AlawSilence)
	}
	t.lastOut = g711Frame
	return g711Frame, nil
}

func (t *Transcoder) encodeOpus(pcm []int16, out []byte) (int, error) {
	n, err := t.enc.Encode(pcm, out)
	if err != nil {
		return 0, err
	}
	t.lastOut = t.to.SamplesPerFrame()
	return n, nil
}

func (t *Transcoder) encodeG711(pcm []int16, out []byte) int {
	var n int
	if t.tk == kindPCMU {
		n = EncodeUlaw(out, pcm)
	} else {
		n = EncodeAlaw(out, pcm)
	}
	t.lastOut = n
	return n
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// OpusPacketSamples returns the number of samples per channel that the Opus
// packet pkt decodes to at sampleRate, from its TOC byte and frame count
// (RFC 6716 section 3.1). It fails with ErrFrameSize for empty or malformed
// packets and packets longer than 120 ms. It does not allocate.
func OpusPacketSamples(pkt []byte, sampleRate int) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("%w: empty opus packet", ErrFrameSize)
	}
	toc := pkt[0]
	cfg := int(toc >> 3)
	// Frame duration in units of 2.5 ms.
	var units int
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		units = [4]int{4, 8, 16, 24}[cfg&3]
	case cfg < 16: // Hybrid: 10, 20 ms
		units = [2]int{4, 8}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		units = [4]int{1, 2, 4, 8}[cfg&3]
	}
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(pkt) < 2 {
			return 0, fmt.Errorf("%w: opus code 3 packet without frame count", ErrFrameSize)
		}
		frames = int(pkt[1] & 0x3F)
		if frames == 0 {
			return 0, fmt.Errorf("%w: opus packet with 0 frames", ErrFrameSize)
		}
	}
	total := units * frames // 2.5 ms units
	if total > 48 {
		return 0, fmt.Errorf("%w: opus packet longer than 120 ms", ErrFrameSize)
	}
	return total * sampleRate / 400, nil
}
