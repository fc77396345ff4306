package rtt

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pion/rtp"
)

// RFC 4103 defaults.
const (
	// ClockRate is the RTP clock of text/t140 and red: timestamps are in
	// milliseconds (RFC 4103 §6, "t140/1000").
	ClockRate = 1000
	// DefaultT140PT and DefaultREDPT are the dynamic payload types the
	// hub offers; the answer's numbers win (see ParseSDP).
	DefaultT140PT = 98
	DefaultREDPT  = 100
	// DefaultRedundancy is the number of redundant generations
	// (RFC 4103 §4 recommends one primary plus two redundant).
	DefaultRedundancy = 2
	// DefaultInterval is the buffering/transmission interval
	// (RFC 4103 recommends 300 ms, and at most 500 ms).
	DefaultInterval = 300 * time.Millisecond
	// DefaultMaxPrimary bounds the new text per packet so that it fits a
	// red block later (MaxBlockLen); longer input goes over several packets.
	DefaultMaxPrimary = 1000
)

// EncoderConfig configures an Encoder. The zero value gives RFC 4103's
// recommended sender: red with 2 generations every 300 ms.
type EncoderConfig struct {
	T140PT uint8 // 0: DefaultT140PT
	REDPT  uint8 // 0: DefaultREDPT
	// Redundancy is the number of redundant generations; 0 means
	// DefaultRedundancy, negative means plain text/t140 (no red).
	Redundancy int
	// Interval is the transmission interval the caller ticks at; the
	// Encoder uses it only to report Interval(). 0: DefaultInterval.
	Interval time.Duration
	// KeepAlive, when positive, sends an empty packet after that long
	// without any packet, so NAT bindings and the peer's liveness
	// checks stay up (an empty T140block carries no text, RFC 4103 §4).
	KeepAlive  time.Duration
	SSRC       uint32
	FirstSeq   uint16
	FirstTS    uint32
	MaxPrimary int // 0: DefaultMaxPrimary; at most MaxBlockLen
	// CPS, when positive, is the receiver's limit in characters per second
	// (the fmtp cps of RFC 4103 §6, 30 when the peer gives none), which a
	// sender keeps averaged over 10 s: at most 10×CPS characters in any
	// 10-second window. Text over the limit waits. 0: no limit.
	CPS int
}

// cpsWindow is the averaging period of the cps limit.
const cpsWindow = 10 * time.Second

func (c EncoderConfig) withDefaults() (EncoderConfig, error) {
	if c.T140PT == 0 {
		c.T140PT = DefaultT140PT
	}
	if c.REDPT == 0 {
		c.REDPT = DefaultREDPT
	}
	if c.Redundancy == 0 {
		c.Redundancy = DefaultRedundancy
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxPrimary == 0 {
		c.MaxPrimary = DefaultMaxPrimary
	}
	switch {
	case c.T140PT > 127 || c.REDPT > 127 || (c.Redundancy > 0 && c.T140PT == c.REDPT):
		return c, fmt.Errorf("%w: payload types t140=%d red=%d", ErrBadConfig, c.T140PT, c.REDPT)
	case c.Redundancy > 8:
		return c, fmt.Errorf("%w: %d redundant generations (at most 8)", ErrBadConfig, c.Redundancy)
	case c.Interval < 0 || c.KeepAlive < 0 || c.CPS < 0:
		return c, fmt.Errorf("%w: negative interval", ErrBadConfig)
	case c.MaxPrimary < 4 || c.MaxPrimary > MaxBlockLen:
		return c, fmt.Errorf("%w: MaxPrimary %d not in [4,%d]", ErrBadConfig, c.MaxPrimary, MaxBlockLen)
	}
	return c, nil
}

type generation struct {
	ts   uint32
	data []byte
}

// Encoder turns typed text into RFC 4103 RTP packets. Text written between
// two ticks is sent together in one packet (RFC 4103 buffering); each
// packet repeats the primaries of the previous Redundancy packets as red
// blocks (RFC 4103 §4, RFC 2198); after text stops it sends packets with
// an empty primary until the last text has been sent Redundancy more times,
// then goes quiet; the first packet after a quiet interval has the RTP
// marker bit set (RFC 4103).
//
// The Encoder starts no goroutine: the caller writes text with Write and
// calls Tick every Interval. It is not safe for concurrent use.
type Encoder struct {
	cfg     EncoderConfig
	z       Sanitizer
	pending []byte

	started  bool
	start    time.Time
	seq      uint16
	hist     []generation // last Redundancy packets' primaries, oldest first
	flush    int          // empty packets still owed to carry redundancy
	idle     bool         // no packet in the last interval: next text gets M
	lastSent time.Time
	sentLog  []sentChars // text packets in the last cpsWindow, for CPS
}

type sentChars struct {
	at    time.Time
	chars int
}

// NewEncoder returns an Encoder for cfg.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Encoder{cfg: c, seq: c.FirstSeq, idle: true}
	if c.Redundancy > 0 {
		e.hist = make([]generation, 0, c.Redundancy)
	}
	return e, nil
}

// Interval is the period at which the caller should call Tick.
func (e *Encoder) Interval() time.Duration { return e.cfg.Interval }

// PayloadType is the RTP payload type of the packets (red or t140).
func (e *Encoder) PayloadType() uint8 {
	if e.cfg.Redundancy > 0 {
		return e.cfg.REDPT
	}
	return e.cfg.T140PT
}

// Write queues T.140 text for the next packet. The text is sanitised
// (Sanitizer: CR LF → U+2028, controls other than BACKSPACE/BELL dropped).
func (e *Encoder) Write(text string) {
	e.pending = append(e.pending, e.z.Clean(text)...)
}

// Pending reports the bytes of text not yet sent as a primary.
func (e *Encoder) Pending() int { return len(e.pending) }

// Idle reports whether the Encoder has nothing to send: no pending text
// and no redundancy still owed.
func (e *Encoder) Idle() bool { return len(e.pending) == 0 && e.flush == 0 }

// Tick returns the packet to send at now, or nil if nothing is due. Call it
// every Interval; now must not go backwards.
func (e *Encoder) Tick(now time.Time) *rtp.Packet {
	if !e.started {
		e.started, e.start, e.lastSent = true, now, now
	}
	var primary []byte
	marker := false
	budget := e.budget(now)
	switch {
	case len(e.pending) > 0 && budget != 0:
		n := len(e.pending)
		if n > e.cfg.MaxPrimary {
			n = len(SplitUnits(string(e.pending[:e.cfg.MaxPrimary+1]), e.cfg.MaxPrimary)[0])
		}
		if budget > 0 { // cut after budget characters
			chars, i := 0, 0
			for i < n && chars < budget {
				_, w := utf8.DecodeRune(e.pending[i:n])
				i += w
				chars++
			}
			n = i
			e.sentLog = append(e.sentLog, sentChars{now, chars})
		}
		primary = append([]byte(nil), e.pending[:n]...)
		e.pending = append(e.pending[:0], e.pending[n:]...)
		marker = e.idle
		e.flush = max(e.cfg.Redundancy, 0)
	case e.flush > 0:
		e.flush--
	case e.cfg.KeepAlive > 0 && now.Sub(e.lastSent) >= e.cfg.KeepAlive:
		// keep-alive: empty primary, does not end the idle state
	default:
		e.idle = true
		return nil
	}
	if len(primary) > 0 {
		e.idle = false
	}
	return e.packet(now, primary, marker)
}

// budget returns how many characters may be sent at now under CPS, or -1
// when there is no limit.
func (e *Encoder) budget(now time.Time) int {
	if e.cfg.CPS <= 0 {
		return -1
	}
	drop := 0
	for drop < len(e.sentLog) && now.Sub(e.sentLog[drop].at) >= cpsWindow {
		drop++
	}
	e.sentLog = append(e.sentLog[:0], e.sentLog[drop:]...)
	left := e.cfg.CPS * int(cpsWindow/time.Second)
	for _, s := range e.sentLog {
		left -= s.chars
	}
	return max(left, 0)
}

func (e *Encoder) packet(now time.Time, primary []byte, marker bool) *rtp.Packet {
	ts := e.cfg.FirstTS + uint32(now.Sub(e.start)/time.Millisecond)
	p := &rtp.Packet{Header: rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    e.PayloadType(),
		SequenceNumber: e.seq,
		Timestamp:      ts,
		SSRC:           e.cfg.SSRC,
	}}
	e.seq++
	e.lastSent = now
	if e.cfg.Redundancy <= 0 {
		p.Payload = primary
		return p
	}
	var blocks [8]Block
	red := blocks[:e.cfg.Redundancy]
	missing := e.cfg.Redundancy - len(e.hist) // generations before the first packet: empty
	size := 4*len(red) + 1 + len(primary)
	for k := range red {
		red[k] = Block{PT: e.cfg.T140PT}
		if k < missing {
			continue
		}
		g := e.hist[k-missing]
		if off := ts - g.ts; off <= MaxTSOffset {
			red[k].TSOffset, red[k].Data = uint16(off), g.data
			size += len(g.data)
		}
		// else: too old to carry (RFC 4103 §4); an empty block keeps the positions
	}
	// offsets are checked above and primaries are at most MaxPrimary ≤ MaxBlockLen
	p.Payload = appendRED(make([]byte, 0, size), red, Block{PT: e.cfg.T140PT, Data: primary})
	if len(e.hist) == e.cfg.Redundancy {
		copy(e.hist, e.hist[1:])
		e.hist = e.hist[:len(e.hist)-1]
	}
	e.hist = append(e.hist, generation{ts: ts, data: primary})
	return p
}
