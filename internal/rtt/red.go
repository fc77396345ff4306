package rtt

import "fmt"

// Limits of the RFC 2198 block header (§3): a 14-bit timestamp offset and
// a 10-bit block length. RFC 4103 §4 applies them to text: a generation
// older than MaxTSOffset ms, or longer than MaxBlockLen bytes, cannot be
// carried as redundancy.
const (
	MaxTSOffset = 1<<14 - 1 // ms at the 1000 Hz text clock
	MaxBlockLen = 1<<10 - 1 // bytes
)

// Block is one block of a red payload (RFC 2198 §3).
type Block struct {
	PT       uint8  // block payload type (7 bits), t140 for RFC 4103
	TSOffset uint16 // timestamp offset back from the RTP timestamp (redundant blocks)
	Data     []byte // the T140block; may be empty (RFC 4103 §4)
}

// ParseRED splits a red payload into its redundant blocks (oldest first)
// and its primary block (RFC 2198 §3). Data slices alias payload.
// A payload whose headers or lengths run past its end gives ErrShortRED.
func ParseRED(payload []byte) (redundant []Block, primary Block, err error) {
	var lensBuf [8]int
	lens := lensBuf[:0]
	i := 0
	for {
		if i >= len(payload) {
			return nil, Block{}, fmt.Errorf("%w: header at byte %d", ErrShortRED, i)
		}
		h := payload[i]
		if h&0x80 == 0 { // final header: F=0, PT only
			primary.PT = h & 0x7F
			i++
			break
		}
		if i+4 > len(payload) {
			return nil, Block{}, fmt.Errorf("%w: block header at byte %d", ErrShortRED, i)
		}
		redundant = append(redundant, Block{
			PT:       h & 0x7F,
			TSOffset: uint16(payload[i+1])<<6 | uint16(payload[i+2])>>2,
		})
		lens = append(lens, int(payload[i+2]&0x03)<<8|int(payload[i+3]))
		i += 4
	}
	for k := range redundant {
		n := lens[k]
		if i+n > len(payload) {
			return nil, Block{}, fmt.Errorf("%w: block %d needs %d bytes, %d left", ErrShortRED, k, n, len(payload)-i)
		}
		redundant[k].Data = payload[i : i+n : i+n]
		i += n
	}
	primary.Data = payload[i:len(payload):len(payload)]
	return redundant, primary, nil
}

// AppendRED appends the red payload made of redundant (oldest first) and
// primary to dst (RFC 2198 §3). Offsets above MaxTSOffset and blocks longer
// than MaxBlockLen are a caller error and give ErrBadConfig.
func AppendRED(dst []byte, redundant []Block, primary Block) ([]byte, error) {
	for _, b := range redundant {
		if b.TSOffset > MaxTSOffset || len(b.Data) > MaxBlockLen {
			return dst, fmt.Errorf("%w: red block offset %d length %d", ErrBadConfig, b.TSOffset, len(b.Data))
		}
	}
	return appendRED(dst, redundant, primary), nil
}

// appendRED is AppendRED for blocks already within the header limits.
func appendRED(dst []byte, redundant []Block, primary Block) []byte {
	for _, b := range redundant {
		n := len(b.Data) & MaxBlockLen
		dst = append(dst, 0x80|b.PT&0x7F, byte(b.TSOffset>>6), byte(b.TSOffset<<2)|byte(n>>8), byte(n))
	}
	dst = append(dst, primary.PT&0x7F)
	for _, b := range redundant {
		dst = append(dst, b.Data...)
	}
	return append(dst, primary.Data...)
}
