package media

import "fmt"

// OpusEncoder encodes mono 16-bit PCM into Opus packets (RFC 6716).
//
// Encode takes exactly one 20 ms frame at the configured sample rate
// (sampleRate/50 samples, e.g. 160 at 8 kHz) and writes one packet to out,
// returning its length. out should hold at least OpusMaxPacketSize bytes.
// Encode does not allocate (NewOpusEncoder warms the gopus backend up so its
// lazily sized scratch buffers exist before the first real frame). An
// encoder is not safe for concurrent use.
type OpusEncoder interface {
	Encode(pcm []int16, out []byte) (int, error)
}

// OpusDecoder decodes Opus packets into mono 16-bit PCM at the configured
// sample rate.
//
// Decode decodes one packet of any legal duration (2.5 to 120 ms, including
// multi-frame packets) into pcm and returns the samples written (per
// channel; the decoder is mono). pcm must be large enough for the packet;
// OpusMaxFrameSamples(rate) always is.
//
// DecodePLC conceals one lost packet: it fills all of pcm (len(pcm) must be
// a multiple of 2.5 ms, normally the 20 ms frame) from the decoder's history
// and returns len(pcm).
//
// Allocation: with libopus neither method allocates. With gopus v0.1.1,
// Decode allocates only the first time it meets a new SILK bandwidth (a
// one-off resampler set-up inside gopus, bounded per decoder), and
// DecodePLC allocates a few small scratch slices per concealed SILK frame
// (also inside gopus), which only happens on packet loss. A decoder is not
// safe for concurrent use.
type OpusDecoder interface {
	Decode(pkt []byte, pcm []int16) (int, error)
	DecodePLC(pcm []int16) (int, error)
}

// OpusMaxPacketSize is an output buffer size that fits any encoded packet
// produced by NewOpusEncoder (a 20 ms frame is at most 1275 bytes).
const OpusMaxPacketSize = 1500

// OpusFrameSamples returns the samples in one 20 ms frame at sampleRate.
func OpusFrameSamples(sampleRate int) int { return sampleRate / 50 }

// OpusMaxFrameSamples returns the samples in the longest Opus packet
// (120 ms) at sampleRate: a decode buffer of this size never fails.
func OpusMaxFrameSamples(sampleRate int) int { return sampleRate * 120 / 1000 }

// validOpusRate reports whether Opus supports sampleRate as an API rate.
func validOpusRate(sampleRate int) bool {
	switch sampleRate {
	case 8000, 12000, 16000, 24000, 48000:
		return true
	}
	return false
}

func checkOpusArgs(sampleRate, bitrate int) error {
	if !validOpusRate(sampleRate) {
		return fmt.Errorf("%w: opus sample rate %d (want 8000, 12000, 16000, 24000 or 48000)", ErrInvalidArgument, sampleRate)
	}
	if bitrate != 0 && (bitrate < 6000 || bitrate > 510000) {
		return fmt.Errorf("%w: opus bitrate %d (want 0 for auto or 6000..510000)", ErrInvalidArgument, bitrate)
	}
	return nil
}

// opusPLCLen validates a PLC buffer length (a positive multiple of 2.5 ms).
func opusPLCLen(sampleRate, n int) error {
	q := sampleRate / 400
	if n <= 0 || n%q != 0 || n > OpusMaxFrameSamples(sampleRate) {
		return fmt.Errorf("%w: opus PLC length %d at %d Hz", ErrFrameSize, n, sampleRate)
	}
	return nil
}
