package media

import "fmt"

// DTMFEvent is one RFC 4733 telephone-event payload (section 2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Event 0-9 are the digits, 10 is *, 11 is #, 12-15 are A-D. Volume is the
// power level in -dBm0 (0..63, 6 bits). Duration is in RTP clock ticks since
// the event began (the packet's timestamp is the event start).
type DTMFEvent struct {
	Event    uint8
	End      bool
	Volume   uint8
	Duration uint16
}

// DTMFPayloadSize is the size of one telephone-event payload.
const DTMFPayloadSize = 4

// DTMFDefaultVolume is the volume DTMFPackets sends (-10 dBm0).
const DTMFDefaultVolume = 10

// ParseDTMF parses a telephone-event payload. It needs at least 4 bytes and
// reads only the first 4 (any further bytes are ignored). It does not
// allocate.
func ParseDTMF(payload []byte) (DTMFEvent, error) {
	if len(payload) < DTMFPayloadSize {
		return DTMFEvent{}, fmt.Errorf("%w: payload of %d bytes", ErrInvalidDTMF, len(payload))
	}
	return DTMFEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3F,
		Duration: uint16(payload[2])<<8 | uint16(payload[3]),
	}, nil
}

// Marshal writes e into b and returns 4, or 0 if b is shorter than 4 bytes.
// Volume is truncated to 6 bits and the reserved bit is zero.
func (e DTMFEvent) Marshal(b []byte) int {
	if len(b) < DTMFPayloadSize {
		return 0
	}
	b[0] = e.Event
	b[1] = e.Volume & 0x3F
	if e.End {
		b[1] |= 0x80
	}
	b[2] = byte(e.Duration >> 8)
	b[3] = byte(e.Duration)
	return DTMFPayloadSize
}

// DigitToEvent maps a DTMF digit (0-9, *, #, A-D, a-d) to its event code.
func DigitToEvent(r rune) (uint8, bool) {
	switch {
	case r >= '0' && r <= '9':
		return uint8(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return uint8(r-'A') + 12, true
	case r >= 'a' && r <= 'd':
		return uint8(r-'a') + 12, true
	}
	return 0, false
}

// EventToDigit maps an event code 0-15 to its digit (0-9, *, #, A-D).
func EventToDigit(e uint8) (rune, bool) {
	switch {
	case e <= 9:
		return rune('0' + e), true
	case e == 10:
		return '*', true
	case e == 11:
		return '#', true
	case e <= 15:
		return rune('A' + e - 12), true
	}
	return 0, false
}

// DTMFPacket is one RTP packet of a generated DTMF event. All packets of an
// event carry the same RTP timestamp (the event start); each is sent one
// packet interval after the previous. The sender sets the RTP marker bit
// from Marker and increments the sequence number per packet, including for
// the three End retransmissions.
type DTMFPacket struct {
	Payload [DTMFPayloadSize]byte
	Marker  bool // first packet of the event
	End     bool // one of the three final packets
}

// DTMFPackets generates the RFC 4733 packet sequence for one digit lasting
// durationMs, for a telephone-event clock of clockRate Hz (8000, or 48000
// when negotiated alongside Opus) and one packet every packetMs (normally
// 20, or 50 per RFC 4733 section 2.5.1.2).
//
// The first packet has Marker set. Durations grow by one packet interval per
// packet while the tone lasts, and the event ends with three identical End
// packets carrying the total duration (section 2.5.1.4). Events longer than
// 65535 clock ticks (8.19 s at 8 kHz, 1.36 s at 48 kHz) are rejected rather
// than split into segments.
func DTMFPackets(digit rune, durationMs int, clockRate int, packetMs int) ([]DTMFPacket, error) {
	return AppendDTMFPackets(nil, digit, durationMs, clockRate, packetMs)
}

// AppendDTMFPackets is DTMFPackets appending to dst, which lets a sender
// reuse one slice for every event.
func AppendDTMFPackets(dst []DTMFPacket, digit rune, durationMs int, clockRate int, packetMs int) ([]DTMFPacket, error) {
	ev, ok := DigitToEvent(digit)
	if !ok {
		return dst, fmt.Errorf("%w: digit %q", ErrInvalidDTMF, digit)
	}
	if durationMs <= 0 || clockRate <= 0 || packetMs <= 0 {
		return dst, fmt.Errorf("%w: duration %d ms, clock %d Hz, packet %d ms", ErrInvalidArgument, durationMs, clockRate, packetMs)
	}
	total := int64(durationMs) * int64(clockRate) / 1000
	step := int64(packetMs) * int64(clockRate) / 1000
	if total > 0xFFFF || total == 0 || step == 0 {
		return dst, fmt.Errorf("%w: event of %d ticks (packet %d ticks) does not fit the 16-bit duration", ErrInvalidArgument, total, step)
	}
	first := true
	for d := step; d < total; d += step {
		var p DTMFPacket
		DTMFEvent{Event: ev, Volume: DTMFDefaultVolume, Duration: uint16(d)}.Marshal(p.Payload[:])
		p.Marker, first = first, false
		dst = append(dst, p)
	}
	for range 3 {
		p := DTMFPacket{End: true, Marker: first}
		DTMFEvent{Event: ev, End: true, Volume: DTMFDefaultVolume, Duration: uint16(total)}.Marshal(p.Payload[:])
		first = false
		dst = append(dst, p)
	}
	return dst, nil
}

// DTMFDetector turns a received telephone-event stream into digits,
// reporting each event exactly once however many packets and End
// retransmissions carry it. Events are keyed by RTP timestamp (RFC 4733
// section 2.5.2.1): a new timestamp is a new event; packets for the current
// timestamp, and stragglers up to 65535 ticks older, are ignored. The digit
// is reported on the first packet seen, so a lost start or lost end packets
// do not hide it. The zero value is ready to use; it does not allocate.
type DTMFDetector struct {
	have  bool
	ts    uint32
	event uint8
}

// Push feeds one telephone-event RTP packet (its timestamp and payload) and
// returns the digit when the packet starts a new DTMF event. Malformed
// payloads and non-DTMF events (codes above 15) return false, though the
// latter still mark their timestamp as seen.
func (d *DTMFDetector) Push(ts uint32, payload []byte) (rune, bool) {
	ev, err := ParseDTMF(payload)
	if err != nil {
		return 0, false
	}
	if d.have {
		diff := TSDiff(ts, d.ts)
		if diff == 0 && ev.Event == d.event {
			return 0, false // same event: continuation or End retransmission
		}
		if diff < 0 && diff > -0x10000 {
			return 0, false // straggler of an earlier event
		}
	}
	d.have, d.ts, d.event = true, ts, ev.Event
	return EventToDigit(ev.Event)
}

// Reset forgets the current event (call it on an SSRC change).
func (d *DTMFDetector) Reset() { *d = DTMFDetector{} }
