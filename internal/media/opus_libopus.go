//go:build libopus

package media

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// OpusBackend names the Opus implementation compiled in: "gopus" (pure Go,
// github.com/thesyncim/gopus) or "libopus" (cgo, build tag libopus).
const OpusBackend = "libopus"

type libopusEncoder struct {
	enc   *opus.Encoder
	frame int
}

type libopusDecoder struct {
	dec  *opus.Decoder
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
	enc, err := opus.NewEncoder(sampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("libopus encoder: %w", err)
	}
	if complexity != 0 {
		if err := enc.SetComplexity(complexity); err != nil {
			return nil, fmt.Errorf("opus complexity %d: %w", complexity, err)
		}
	}
	if bitrate != 0 {
		if err := enc.SetBitrate(bitrate); err != nil {
			return nil, fmt.Errorf("libopus bitrate: %w", err)
		}
	}
	return &libopusEncoder{enc: enc, frame: OpusFrameSamples(sampleRate)}, nil
}

func (e *libopusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != e.frame {
		return 0, ErrFrameSize
	}
	if len(out) == 0 {
		return 0, ErrShortBuffer
	}
	// hraban/opus uses cap(out) as the limit; never let it write past len.
	n, err := e.enc.Encode(pcm, out[:len(out):len(out)])
	if err != nil {
		return 0, fmt.Errorf("libopus encode: %w", err)
	}
	return n, nil
}

// NewOpusDecoder returns a mono Opus decoder producing PCM at sampleRate
// (8000, 12000, 16000, 24000 or 48000). Stereo packets are downmixed.
func NewOpusDecoder(sampleRate int) (OpusDecoder, error) {
	if err := checkOpusArgs(sampleRate, 0); err != nil {
		return nil, err
	}
	dec, err := opus.NewDecoder(sampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("libopus decoder: %w", err)
	}
	return &libopusDecoder{dec: dec, rate: sampleRate}, nil
}

func (d *libopusDecoder) Decode(pkt []byte, pcm []int16) (int, error) {
	if len(pkt) == 0 {
		return 0, ErrFrameSize
	}
	if len(pcm) == 0 {
		return 0, ErrShortBuffer
	}
	n, err := d.dec.Decode(pkt, pcm[:len(pcm):len(pcm)])
	if err != nil {
		return 0, fmt.Errorf("libopus decode: %w", err)
	}
	return n, nil
}

func (d *libopusDecoder) DecodePLC(pcm []int16) (int, error) {
	if err := opusPLCLen(d.rate, len(pcm)); err != nil {
		return 0, err
	}
	// libopus conceals exactly cap(pcm) samples.
	if err := d.dec.DecodePLC(pcm[:len(pcm):len(pcm)]); err != nil {
		return 0, fmt.Errorf("libopus plc: %w", err)
	}
	return len(pcm), nil
}
