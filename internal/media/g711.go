package media

import "math/bits"

// G.711 (ITU-T G.711, RFC 3551 PCMU/PCMA) companding with lookup tables.
//
// The encoders are exact: µ-law output depends only on the top 14 bits of a
// sample and A-law output on the top 12 bits, so a 16 KiB and a 4 KiB table
// cover every int16 input. Results are bit-identical to the ITU-T G.191
// reference implementation (and to github.com/zaf/g711, which the tests
// check for all 65536 inputs). The tables are filled once at package init.

// Silence bytes: the code words that decode to (near) zero.
const (
	// UlawSilence is the µ-law code for 0 (0xFF).
	UlawSilence byte = 0xFF
	// AlawSilence is the A-law code for +8, the closest to 0 (0xD5).
	AlawSilence byte = 0xD5
)

var (
	ulawEncTab  [1 << 14]uint8 // index: uint16(sample) >> 2
	alawEncTab  [1 << 12]uint8 // index: uint16(sample) >> 4
	ulawDecTab  [256]int16
	alawDecTab  [256]int16
	ulawToAlawT [256]uint8 // decode µ-law, encode A-law
	alawToUlawT [256]uint8 // decode A-law, encode µ-law
)

func init() {
	for i := range ulawEncTab {
		ulawEncTab[i] = ulawEncodeRef(int16(uint16(i << 2)))
	}
	for i := range alawEncTab {
		alawEncTab[i] = alawEncodeRef(int16(uint16(i << 4)))
	}
	for i := range 256 {
		ulawDecTab[i] = ulawDecodeRef(uint8(i))
		alawDecTab[i] = alawDecodeRef(uint8(i))
	}
	for i := range 256 {
		ulawToAlawT[i] = EncodeAlawSample(ulawDecTab[i])
		alawToUlawT[i] = EncodeUlawSample(alawDecTab[i])
	}
}

// ulawEncodeRef is the G.191 µ-law encoder (bias 33 on the 14-bit magnitude,
// clipped to 0x1FFF), used only to fill the table.
func ulawEncodeRef(s int16) uint8 {
	sign := ((^s) >> 8) & 0x80 // 0x80 for s >= 0
	if sign == 0 {
		s = ^s
	}
	s = (s >> 2) + 33
	if s > 0x1FFF {
		s = 0x1FFF
	}
	seg := int16(16 - bits.LeadingZeros16(uint16(s>>5)))
	low := 0x0F - ((s >> seg) & 0x0F)
	return uint8(sign | ((8 - seg) << 4) | low)
}

// alawEncodeRef is the G.191 A-law encoder, used only to fill the table.
func alawEncodeRef(s int16) uint8 {
	sign := ((^s) >> 8) & 0x80
	if sign == 0 {
		s = ^s
	}
	c := s >> 4
	if c > 15 {
		seg := int16(12 - bits.LeadingZeros16(uint16(c)))
		c >>= seg - 1
		c -= 16
		c += seg << 4
	}
	return uint8((sign | c) ^ 0x55)
}

func ulawDecodeRef(u uint8) int16 {
	u = ^u
	t := (int32(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

func alawDecodeRef(a uint8) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// EncodeUlawSample encodes one 16-bit linear sample to µ-law.
func EncodeUlawSample(s int16) byte { return ulawEncTab[uint16(s)>>2] }

// DecodeUlawSample decodes one µ-law byte to a 16-bit linear sample.
func DecodeUlawSample(b byte) int16 { return ulawDecTab[b] }

// EncodeAlawSample encodes one 16-bit linear sample to A-law.
func EncodeAlawSample(s int16) byte { return alawEncTab[uint16(s)>>4] }

// DecodeAlawSample decodes one A-law byte to a 16-bit linear sample.
func DecodeAlawSample(b byte) int16 { return alawDecTab[b] }

// EncodeUlaw encodes linear samples from src into µ-law bytes in dst and
// returns the number written, min(len(dst), len(src)). It does not allocate.
func EncodeUlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = ulawEncTab[uint16(s)>>2]
	}
	return n
}

// DecodeUlaw decodes µ-law bytes from src into linear samples in dst and
// returns the number written, min(len(dst), len(src)). It does not allocate.
func DecodeUlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawDecTab[b]
	}
	return n
}

// EncodeAlaw encodes linear samples from src into A-law bytes in dst and
// returns the number written, min(len(dst), len(src)). It does not allocate.
func EncodeAlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = alawEncTab[uint16(s)>>4]
	}
	return n
}

// DecodeAlaw decodes A-law bytes from src into linear samples in dst and
// returns the number written, min(len(dst), len(src)). It does not allocate.
func DecodeAlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawDecTab[b]
	}
	return n
}

// UlawToAlaw converts µ-law bytes to A-law (decode, then encode) and returns
// min(len(dst), len(src)). dst and src may be the same slice.
func UlawToAlaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawToAlawT[b]
	}
	return n
}

// AlawToUlaw converts A-law bytes to µ-law (decode, then encode) and returns
// min(len(dst), len(src)). dst and src may be the same slice.
func AlawToUlaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawToUlawT[b]
	}
	return n
}
