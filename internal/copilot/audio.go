package copilot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Version is the binary audio frame's version byte (docs/copilot.md §3.2).
const Version = 1

// HeaderLen is the size of a binary audio frame's header.
const HeaderLen = 16

// FrameDuration is the audio carried by one frame.
const FrameDuration = 20 * time.Millisecond

// Frame is one participant's 20 ms of audio.
type Frame struct {
	Participant uint8         // the index of p<index> (0: the AI's own speech, AI → hub)
	Silence     bool          // inserted by the hub (held, muted, a gap)
	Seq         uint32        // this participant's frame counter, from 0
	At          time.Duration // capture time since the session's hello, µs resolution
	PCM         []int16       // 160 samples at 8 kHz, 320 at 16 kHz
}

// Samples is the number of samples of one frame at rate (0: a rate this
// format does not carry).
func Samples(rate int) int {
	switch rate {
	case 8000:
		return 160
	case 16000:
		return 320
	}
	return 0
}

// ErrFrame is the class of malformed binary frames.
var ErrFrame = errors.New("copilot: bad audio frame")

// AppendFrame appends f's wire form to b.
func AppendFrame(b []byte, f Frame) []byte {
	var h [HeaderLen]byte
	h[0] = Version
	h[1] = f.Participant
	if f.Silence {
		binary.BigEndian.PutUint16(h[2:4], 1)
	}
	binary.BigEndian.PutUint32(h[4:8], f.Seq)
	binary.BigEndian.PutUint64(h[8:16], uint64(f.At/time.Microsecond))
	b = append(b, h[:]...)
	for _, s := range f.PCM {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// ParseFrame reads a binary frame carrying audio at rate. The PCM slice is
// newly allocated: b may be reused.
func ParseFrame(b []byte, rate int) (Frame, error) {
	n := Samples(rate)
	if n == 0 {
		return Frame{}, fmt.Errorf("%w: rate %d (8000 or 16000)", ErrFrame, rate)
	}
	if len(b) != HeaderLen+2*n {
		return Frame{}, fmt.Errorf("%w: %d bytes, want %d at %d Hz", ErrFrame, len(b), HeaderLen+2*n, rate)
	}
	if b[0] != Version {
		return Frame{}, fmt.Errorf("%w: version %d", ErrFrame, b[0])
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	if flags&^1 != 0 {
		return Frame{}, fmt.Errorf("%w: unknown flags %#x", ErrFrame, flags)
	}
	us := binary.BigEndian.Uint64(b[8:16])
	if us > uint64(1<<62)/uint64(time.Microsecond) {
		return Frame{}, fmt.Errorf("%w: time out of range", ErrFrame)
	}
	f := Frame{Participant: b[1], Silence: flags&1 != 0, Seq: binary.BigEndian.Uint32(b[4:8]),
		At: time.Duration(us) * time.Microsecond, PCM: make([]int16, n)}
	for i := range f.PCM {
		f.PCM[i] = int16(binary.LittleEndian.Uint16(b[HeaderLen+2*i:]))
	}
	return f, nil
}
