//go:build !libopus

package media

import (
	"fmt"

	"github.com/thesyncim/gopus"
)

// OpusBackend names the Opus implementation compiled in: "gopus" (pure Go,
// github.com/thesyncim/gopus) or "libopus" (cgo, build tag libopus).
const OpusBackend = "gopus"

type gopusEncoder struct {
	enc   *gopus.Encoder
	frame int
}

type gopusDecoder struct {
	dec  *gopus.Decoder
	rate int
}

// NewOpusEncoder returns a mono Opus encoder for 20 ms frames at sampleRate
// (8000, 12000, 16000, 24000 or 48000) using the VoIP application. bitrate is
// in bit/s; 0 lets the encoder choose.
func NewOpusEncoder(sampleRate int, bitrate int) (OpusEncoder, error) {
	return NewOpusEncoderComplexity(sampleRate, bitrate, 0)
}

// NewOpusEncoderComplexity is NewOpusEncoder with the encoder's complexity
// (1-10, lower is cheaper; 0 keeps the library default).
func NewOpusEncoderComplexity(sampleRate, bitrate, complexity int) (OpusEncoder, error) {
	if err := checkOpusArgs(sampleRate, bitrate); err != nil {
		return nil, err
	}
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
	if err != nil {
		return nil, fmt.Errorf("gopus encoder: %w", err)
	}
	if complexity != 0 {
		if err := enc.SetComplexity(complexity); err != nil {
			return nil, fmt.Errorf("opus complexity %d: %w", complexity, err)
		}
	}
	if bitrate != 0 {
		if err := enc.SetBitrate(bitrate); err != nil {
			return nil, fmt.Errorf("gopus bitrate: %w", err)
		}
	}
	if err := enc.SetSignal(gopus.SignalVoice); err != nil {
		return nil, fmt.Errorf("gopus signal: %w", err)
	}
	e := &gopusEncoder{enc: enc, frame: OpusFrameSamples(sampleRate)}
	if err := e.warmUp(); err != nil {
		return nil, err
	}
	return e, nil
}

// warmUp encodes a few frames of tone and resets the encoder: gopus sizes
// some scratch buffers lazily on the first frames, and this moves those
// allocations into the constructor so that Encode does not allocate.
func (e *gopusEncoder) warmUp() error {
	pcm := make([]int16, e.frame)
	out := make([]byte, OpusMaxPacketSize)
	var ph float64
	for range 3 {
		GenerateTone(pcm, 440, e.frame*50, &ph, 0.3)
		if _, err := e.enc.EncodeInt16(pcm, out); err != nil {
			return fmt.Errorf("gopus warm-up: %w", err)
		}
	}
	e.enc.Reset()
	return nil
}

func (e *gopusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != e.frame {
		return 0, ErrFrameSize
	}
	n, err := e.enc.EncodeInt16(pcm, out)
	if err != nil {
		return 0, fmt.Errorf("gopus encode: %w", err)
	}
	return n, nil
}

// NewOpusDecoder returns a mono Opus decoder producing PCM at sampleRate
// (8000, 12000, 16000, 24000 or 48000). Stereo packets are downmixed.
func NewOpusDecoder(sampleRate int) (OpusDecoder, error) {
	if err := checkOpusArgs(sampleRate, 0); err != nil {
		return nil, err
	}
	dec, err := gopus.NewDecoder(gopus.DecoderConfig{
		SampleRate:       sampleRate,
		Channels:         1,
		MaxPacketSamples: OpusMaxFrameSamples(sampleRate),
	})
	if err != nil {
		return nil, fmt.Errorf("gopus decoder: %w", err)
	}
	return &gopusDecoder{dec: dec, rate: sampleRate}, nil
}

func (d *gopusDecoder) Decode(pkt []byte, pcm []int16) (int, error) {
	if len(pkt) == 0 {
		return 0, ErrFrameSize
	}
	n, err := d.dec.DecodeInt16(pkt, pcm)
	if err != nil {
		return 0, fmt.Errorf("gopus decode: %w", err)
	}
	return n, nil
}

func (d *gopusDecoder) DecodePLC(pcm []int16) (int, error) {
	if err := opusPLCLen(d.rate, len(pcm)); err != nil {
		return 0, err
	}
	n, err := d.dec.DecodeInt16(nil, pcm)
	if err != nil {
		return 0, fmt.Errorf("gopus plc: %w", err)
	}
	return n, nil
}
