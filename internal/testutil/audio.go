// Package testutil has stand-ins for the two peers of a SPLIT call, for
// tests and for the splitload benchmark tool:
//
//   - PionClient plays the browser: a pion/webrtc PeerConnection signalled
//     over the hub's WebSocket protocol (docs/signalling.md) that sends a sine
//     tone (Opus or G.711) and records what it hears;
//   - SIPUAS plays the PBX or phone: a sipgo user agent that answers (or
//     places) calls with G.711 + telephone-event, sends a tone as RTP and
//     records what it hears;
//   - Hub runs a hub in-process on loopback ports.
//
// Everything binds 127.0.0.1. Received audio is decoded to PCM so a test
// can call media.DominantFrequency on it.
package testutil

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/split-hub/split/internal/media"
)

// Codec names understood by the helpers.
const (
	CodecOpus = "opus"
	CodecPCMU = "PCMU"
	CodecPCMA = "PCMA"
)

// NormCodec returns the canonical spelling of a codec name ("opus", "PCMU",
// "PCMA"), or an error for anything else.
func NormCodec(name string) (string, error) {
	switch strings.ToLower(name) {
	case "", "opus":
		return CodecOpus, nil
	case "pcmu":
		return CodecPCMU, nil
	case "pcma":
		return CodecPCMA, nil
	}
	return "", fmt.Errorf("testutil: unsupported codec %q (opus, PCMU, PCMA)", name)
}

// SampleRate is the PCM rate the helpers use for codec: 48 kHz for Opus,
// 8 kHz for G.711.
func SampleRate(codec string) int {
	if strings.EqualFold(codec, CodecOpus) {
		return 48000
	}
	return 8000
}

// DefaultAmplitude is the tone level when none is given (about -12 dBFS).
const DefaultAmplitude = 0.25

// toneLoopFrames is how many 20 ms frames the pre-encoded tone loop holds.
const toneLoopFrames = 50

type toneKey struct {
	codec     string
	freq, amp float64
}

var toneCache sync.Map // toneKey → [][]byte

// ToneFrames returns one second (50 frames of 20 ms) of a sine tone encoded
// in codec, to be sent in a loop. The frames are computed once per
// (codec, freq, amplitude) and shared: callers must not modify them. For
// Opus the loop is the second second of a continuously encoded tone, so
// the encoder is in its steady state on both sides of the loop point.
// freq 0 gives silence.
func ToneFrames(codec string, freq, amplitude float64) ([][]byte, error) {
	codec, err := NormCodec(codec)
	if err != nil {
		return nil, err
	}
	k := toneKey{codec, freq, amplitude}
	if v, ok := toneCache.Load(k); ok {
		return v.([][]byte), nil
	}
	rate := SampleRate(codec)
	pcm := make([]int16, rate/50)
	var phase float64
	frames := make([][]byte, 0, toneLoopFrames)
	switch codec {
	case CodecOpus:
		enc, err := media.NewOpusEncoder(rate, 32000)
		if err != nil {
			return nil, err
		}
		out := make([]byte, media.OpusMaxPacketSize)
		for i := 0; i < 2*toneLoopFrames; i++ {
			media.GenerateTone(pcm, freq, rate, &phase, amplitude)
			n, err := enc.Encode(pcm, out)
			if err != nil {
				return nil, fmt.Errorf("testutil: opus encode: %w", err)
			}
			if i >= toneLoopFrames {
				frames = append(frames, append([]byte(nil), out[:n]...))
			}
		}
	default:
		for i := 0; i < toneLoopFrames; i++ {
			media.GenerateTone(pcm, freq, rate, &phase, amplitude)
			b := make([]byte, len(pcm))
			if codec == CodecPCMU {
				media.EncodeUlaw(b, pcm)
			} else {
				media.EncodeAlaw(b, pcm)
			}
			frames = append(frames, b)
		}
	}
	v, _ := toneCache.LoadOrStore(k, frames)
	return v.([][]byte), nil
}

// MediaStats are one side's RTP counters.
type MediaStats struct {
	PacketsSent     uint64
	PacketsReceived uint64 // audio packets of the expected payload type
	OtherReceived   uint64 // other payload types (telephone-event, CN, …)
	Lost            int64  // expected minus received, from sequence numbers
	DecodeErrors    uint64
	SSRCs           int // distinct SSRCs of the received audio (1: one continuous stream)
}

// recorder decodes received audio to PCM and counts packets. push is
// called from one goroutine; the accessors may be called from any.
type recorder struct {
	lastSSRC atomic.Uint32 // the last packet's SSRC
	ssrcs    atomic.Int32  // how many times the SSRC changed (the first counts)
	codec    string
	rate     int
	pt       atomic.Int32 // expected payload type; -1: any of the codec's
	dec      media.OpusDecoder
	buf      []int16 // decode scratch

	record     bool
	maxSamples int

	mu  sync.Mutex
	pcm []int16

	packets, other, decErr atomic.Uint64
	// sequence tracking (RFC 3550 A.1, simplified), owned by push
	seqInit     bool
	baseSeq     uint32
	maxSeq      uint16
	cycles      uint32
	expectedMax atomic.Uint32 // extended highest sequence number
	base        atomic.Uint32
}

// newRecorder returns a recorder for codec keeping at most maxSeconds of
// PCM (0: do not keep PCM, only count).
func newRecorder(codec string, pt int, maxSeconds int) (*recorder, error) {
	r := &recorder{codec: codec, rate: SampleRate(codec), record: maxSeconds > 0}
	r.pt.Store(int32(pt))
	r.maxSamples = maxSeconds * r.rate
	if codec == CodecOpus && r.record {
		dec, err := media.NewOpusDecoder(r.rate)
		if err != nil {
			return nil, err
		}
		r.dec = dec
		r.buf = make([]int16, media.OpusMaxFrameSamples(r.rate))
	} else if r.record {
		r.buf = make([]int16, 1500)
	}
	return r, nil
}

func (r *recorder) setPT(pt int) { r.pt.Store(int32(pt)) }

// push handles one RTP packet.
func (r *recorder) push(pkt []byte) {
	hl, _, err := media.RTPHeaderLen(pkt)
	if err != nil {
		return
	}
	pt := int32(pkt[1] & 0x7f)
	want := r.pt.Load()
	if want >= 0 && pt != want {
		r.other.Add(1)
		return
	}
	r.packets.Add(1)
	r.trackSeq(binary.BigEndian.Uint16(pkt[2:]))
	if ssrc := binary.BigEndian.Uint32(pkt[8:]); r.lastSSRC.Swap(ssrc) != ssrc {
		r.ssrcs.Add(1)
	}
	if !r.record {
		return
	}
	payload := pkt[hl:]
	var n int
	switch r.codec {
	case CodecOpus:
		n, err = r.dec.Decode(payload, r.buf)
		if err != nil {
			r.decErr.Add(1)
			return
		}
	case CodecPCMU:
		n = media.DecodeUlaw(r.buf, payload[:min(len(payload), len(r.buf))])
	case CodecPCMA:
		n = media.DecodeAlaw(r.buf, payload[:min(len(payload), len(r.buf))])
	}
	r.mu.Lock()
	r.pcm = append(r.pcm, r.buf[:n]...)
	if over := len(r.pcm) - r.maxSamples; over > 0 {
		r.pcm = append(r.pcm[:0], r.pcm[over:]...)
	}
	r.mu.Unlock()
}

func (r *recorder) trackSeq(seq uint16) {
	if !r.seqInit {
		r.seqInit = true
		r.maxSeq = seq
		r.baseSeq = uint32(seq)
		r.base.Store(uint32(seq))
		r.expectedMax.Store(uint32(seq))
		return
	}
	d := seq - r.maxSeq
	if d == 0 || d >= 0x8000 { // duplicate or late
		return
	}
	if seq < r.maxSeq {
		r.cycles += 1 << 16
	}
	r.maxSeq = seq
	r.expectedMax.Store(r.cycles + uint32(seq))
}

// PCM returns a copy of the recorded audio.
func (r *recorder) PCM() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.pcm...)
}

// Reset drops the recorded audio (counters are kept).
func (r *recorder) Reset() {
	r.mu.Lock()
	r.pcm = r.pcm[:0]
	r.mu.Unlock()
}

func (r *recorder) fill(s *MediaStats) {
	s.PacketsReceived = r.packets.Load()
	s.OtherReceived = r.other.Load()
	s.DecodeErrors = r.decErr.Load()
	s.SSRCs = int(r.ssrcs.Load())
	if s.PacketsReceived > 0 {
		expected := int64(r.expectedMax.Load()-r.base.Load()) + 1
		s.Lost = expected - int64(s.PacketsReceived)
	}
}
