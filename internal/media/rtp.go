package media

import (
	"encoding/binary"
	"fmt"
	"time"
)

// RTP fixed header size (RFC 3550 section 5.1).
const RTPHeaderSize = 12

var (
	errRTPShort     = fmt.Errorf("%w: shorter than its header", ErrInvalidRTP)
	errRTPVersion   = fmt.Errorf("%w: version is not 2", ErrInvalidRTP)
	errRTPPadding   = fmt.Errorf("%w: bad padding length", ErrInvalidRTP)
	errRTPExtension = fmt.Errorf("%w: header extension overruns the packet", ErrInvalidRTP)
)

// RTPHeaderLen returns the length of pkt's RTP header including the CSRC
// list and the header extension (RFC 3550 sections 5.1 and 5.3.1), and the
// length of the payload that follows, excluding padding. It validates the
// version, lengths and padding so that pkt[hdr:hdr+payload] is always in
// range. It does not allocate.
func RTPHeaderLen(pkt []byte) (hdr, payload int, err error) {
	if len(pkt) < RTPHeaderSize {
		return 0, 0, errRTPShort
	}
	if pkt[0]>>6 != 2 {
		return 0, 0, errRTPVersion
	}
	hdr = RTPHeaderSize + 4*int(pkt[0]&0x0F)
	if len(pkt) < hdr {
		return 0, 0, errRTPShort
	}
	if pkt[0]&0x10 != 0 { // extension: 16-bit profile, 16-bit length in words
		if len(pkt) < hdr+4 {
			return 0, 0, errRTPExtension
		}
		hdr += 4 + 4*int(binary.BigEndian.Uint16(pkt[hdr+2:]))
		if len(pkt) < hdr {
			return 0, 0, errRTPExtension
		}
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // padding: the last byte counts the padding bytes
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || pad > end-hdr {
			return 0, 0, errRTPPadding
		}
		end -= pad
	}
	return hdr, end - hdr, nil
}

// RTPPayload returns the payload of the RTP packet pkt (without padding),
// aliasing pkt.
func RTPPayload(pkt []byte) ([]byte, error) {
	hdr, n, err := RTPHeaderLen(pkt)
	if err != nil {
		return nil, err
	}
	return pkt[hdr : hdr+n], nil
}

// Rewriter rewrites RTP packets in place for passthrough forwarding from one
// leg to another: it sets the outgoing SSRC, maps payload types and offsets
// sequence numbers and timestamps so the output is one continuous stream.
//
// The first source is forwarded with its own sequence numbers and
// timestamps (offset 0). When the source SSRC changes (a re-INVITE, a
// transfer, a new browser track), the new source is spliced in: its first
// packet gets the output sequence number after the highest sent so far and a
// timestamp one tsStep after the highest sent so far, and the RTP marker bit
// is set on it so receivers resynchronise their jitter buffers. Packets are
// then offset by the same amounts, so reordering and loss pass through
// unchanged. Late packets of a previous source after a switch are treated as
// another switch; drop them before calling Rewrite if that matters.
//
// Rewrite does not allocate. A Rewriter serves one stream and is not safe
// for concurrent use.
type Rewriter struct {
	ssrc     uint32
	tsStep   uint32
	ptMapped [128]bool
	ptMap    [128]uint8

	started  bool
	inSSRC   uint32
	seqOff   uint16
	tsOff    uint32
	highSeq  uint16 // highest output sequence number
	highTS   uint32 // output timestamp of the packet with highSeq
	switches uint64

	evStarted   bool   // Insert: an event was inserted
	evIn, evOut uint32 // Insert: the event's source and output timestamps
}

// NewRewriter returns a Rewriter that writes ssrc into every packet and, on
// a source change, advances the output timestamp by tsStep (the RTP clock
// ticks of one packet: 960 for 20 ms Opus, 160 for 20 ms G.711; 0 counts as
// 1).
func NewRewriter(ssrc uint32, tsStep uint32) *Rewriter {
	return &Rewriter{ssrc: ssrc, tsStep: max(tsStep, 1)}
}

// MapPayloadType makes Rewrite replace payload type from with to (both
// 0..127). Unmapped payload types pass unchanged.
func (r *Rewriter) MapPayloadType(from, to uint8) {
	r.ptMapped[from&0x7F] = true
	r.ptMap[from&0x7F] = to & 0x7F
}

// SourceSwitches returns how many times the source SSRC changed.
func (r *Rewriter) SourceSwitches() uint64 { return r.switches }

// Rewrite rewrites the RTP packet pkt in place. It returns an ErrInvalidRTP
// error, leaving pkt untouched, if pkt is not a valid RTP packet.
func (r *Rewriter) Rewrite(pkt []byte) error {
	if _, _, err := RTPHeaderLen(pkt); err != nil {
		return err
	}
	seq := binary.BigEndian.Uint16(pkt[2:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	marker := false
	switch {
	case !r.started:
		r.started, r.inSSRC = true, ssrc
		r.highSeq, r.highTS = seq-1, ts-r.tsStep
	case ssrc != r.inSSRC:
		r.inSSRC = ssrc
		r.seqOff = r.highSeq + 1 - seq
		r.tsOff = r.highTS + r.tsStep - ts
		r.switches++
		marker = true
	}
	outSeq, outTS := seq+r.seqOff, ts+r.tsOff
	if SeqDiff(outSeq, r.highSeq) > 0 {
		r.highSeq, r.highTS = outSeq, outTS
	}
	if pt := pkt[1] & 0x7F; r.ptMapped[pt] {
		pkt[1] = pkt[1]&0x80 | r.ptMap[pt]
	}
	if marker {
		pkt[1] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[2:], outSeq)
	binary.BigEndian.PutUint32(pkt[4:], outTS)
	binary.BigEndian.PutUint32(pkt[8:], r.ssrc)
	return nil
}

// Insert rewrites in place a packet of another kind carried in the stream —
// an RFC 4733 event among the audio: this stream's SSRC, the next sequence
// number (the source's later packets move up by one, so the sequence stays
// continuous), and the stream's current timestamp, the same for every packet
// of one event (same source timestamp). Payload type and marker pass
// unchanged.
func (r *Rewriter) Insert(pkt []byte) error {
	if _, _, err := RTPHeaderLen(pkt); err != nil {
		return err
	}
	ts := binary.BigEndian.Uint32(pkt[4:])
	if !r.evStarted || ts != r.evIn {
		r.evStarted, r.evIn, r.evOut = true, ts, r.highTS
	}
	r.highSeq++
	r.seqOff++
	binary.BigEndian.PutUint16(pkt[2:], r.highSeq)
	binary.BigEndian.PutUint32(pkt[4:], r.evOut)
	binary.BigEndian.PutUint32(pkt[8:], r.ssrc)
	return nil
}

// NTPTime is t in the 64-bit NTP format of RTCP sender reports (RFC 3550 §4).
func NTPTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	frac := uint64(t.Nanosecond()) * (1 << 32) / 1e9
	return secs<<32 | frac
}
