package rtt

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/rtp"
)

// Decoder defaults.
const (
	// DefaultReorderWait is how long the Decoder holds text that follows a
	// gap the redundancy cannot fill, waiting for the missing packets to
	// arrive out of order, before it declares them lost
	// (RFC 4103 §5.4 recommends waiting at most 1 s).
	DefaultReorderWait = time.Second
	// DefaultMaxHeld bounds the packets held while waiting.
	DefaultMaxHeld = 32
	// resyncAfter old-looking packets in a row mean the sender restarted
	// its sequence numbers; the Decoder follows the new ones.
	resyncAfter = 8
)

// DecoderConfig configures a Decoder. The zero value accepts the default
// payload types 98 (t140) and 100 (red).
type DecoderConfig struct {
	T140PT      uint8         // 0: DefaultT140PT
	REDPT       uint8         // 0: DefaultREDPT
	ReorderWait time.Duration // 0: DefaultReorderWait
	MaxHeld     int           // 0: DefaultMaxHeld
}

// DecoderStats counts what a Decoder saw.
type DecoderStats struct {
	Packets    uint64 // accepted packets
	Duplicates uint64 // duplicates and packets older than the text delivered
	Recovered  uint64 // lost packets whose text came from redundancy
	Lost       uint64 // lost packets not covered by redundancy
	Markers    uint64 // missing-text markers inserted
	Malformed  uint64 // packets that could not be parsed or had a foreign PT
}

type heldPacket struct {
	seq     uint16
	arrived time.Time
	primary []byte
	gens    [][]byte // gens[k-1] is the primary of seq-k; nil if not carried
	first   bool     // the packet a stream was joined at: its gens are not losses
}

// Decoder rebuilds the T.140 text stream from RFC 4103 packets (plain
// t140 or red). It delivers text in sequence order exactly once:
// duplicates and late copies are dropped; a gap of up to the redundancy
// depth is filled at once from the next packet's redundant generations
// (RFC 4103 §4, RFC 2198); a deeper gap is held for ReorderWait in case
// the packets are only reordered, then the missing-text marker U+FFFD is
// inserted where text was lost (RFC 4103 §5, T.140 Amendment 1) and what
// redundancy carried is delivered after it.
//
// The Decoder starts no goroutine: the caller pushes packets and, while
// Deadline reports one, calls Tick at that time. It is not safe for
// concurrent use.
type Decoder struct {
	cfg     DecoderConfig
	started bool
	ssrc    uint32
	next    uint16 // next sequence number to deliver
	held    map[uint16]*heldPacket
	oldRun  int
	stats   DecoderStats
	out     strings.Builder
}

// NewDecoder returns a Decoder for cfg.
func NewDecoder(cfg DecoderConfig) (*Decoder, error) {
	if cfg.T140PT == 0 {
		cfg.T140PT = DefaultT140PT
	}
	if cfg.REDPT == 0 {
		cfg.REDPT = DefaultREDPT
	}
	if cfg.ReorderWait == 0 {
		cfg.ReorderWait = DefaultReorderWait
	}
	if cfg.MaxHeld == 0 {
		cfg.MaxHeld = DefaultMaxHeld
	}
	if cfg.T140PT > 127 || cfg.REDPT > 127 || cfg.T140PT == cfg.REDPT || cfg.ReorderWait < 0 || cfg.MaxHeld < 1 {
		return nil, fmt.Errorf("%w: decoder %+v", ErrBadConfig, cfg)
	}
	return &Decoder{cfg: cfg, held: make(map[uint16]*heldPacket)}, nil
}

// Stats returns the counters so far.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Push accepts one RTP packet received at now and returns the text that
// became deliverable (possibly empty). A malformed packet, or one with a
// payload type other than t140 or red, gives an error and changes nothing;
// its text is recovered from the next packets' redundancy if possible.
func (d *Decoder) Push(p *rtp.Packet, now time.Time) (string, error) {
	if p == nil {
		return "", fmt.Errorf("rtt: nil packet")
	}
	h, err := d.parse(p, now)
	if err != nil {
		d.stats.Malformed++
		return "", err
	}
	if !d.started || p.SSRC != d.ssrc {
		d.restart(p.SSRC, h)
	}
	switch diff := int16(h.seq - d.next); {
	case d.held[h.seq] != nil:
		d.stats.Duplicates++
	case diff < 0:
		d.stats.Duplicates++
		d.oldRun++
		if d.oldRun >= resyncAfter {
			d.restart(p.SSRC, h)
			d.held[h.seq] = h
			d.stats.Packets++
		}
	default:
		d.oldRun = 0
		d.held[h.seq] = h
		d.stats.Packets++
	}
	d.drain(now, false)
	return d.take(), nil
}

// Tick delivers text held behind a gap once ReorderWait has passed.
func (d *Decoder) Tick(now time.Time) string {
	d.drain(now, false)
	return d.take()
}

// Deadline reports when Tick next has something to do.
func (d *Decoder) Deadline() (time.Time, bool) {
	var first time.Time
	ok := false
	for _, h := range d.held {
		if !ok || h.arrived.Before(first) {
			first, ok = h.arrived, true
		}
	}
	return first.Add(d.cfg.ReorderWait), ok
}

// restart starts following a stream at h (a first packet, a new SSRC or
// restarted sequence numbers), after delivering what the old stream still
// held. The text h's redundancy carries is delivered too: the sender's
// earlier packets were not seen here.
func (d *Decoder) restart(ssrc uint32, h *heldPacket) {
	d.drain(time.Time{}, true) // text held from the old stream is delivered, not dropped
	d.started, d.ssrc, d.oldRun = true, ssrc, 0
	h.first = true
	d.next = h.seq - uint16(len(h.gens))
	for k := len(h.gens); k > 0 && h.gens[k-1] == nil; k-- {
		d.next++
	}
}

func (d *Decoder) take() string {
	s := d.out.String()
	d.out.Reset()
	return s
}

func (d *Decoder) parse(p *rtp.Packet, now time.Time) (*heldPacket, error) {
	h := &heldPacket{seq: p.SequenceNumber, arrived: now}
	switch p.PayloadType {
	case d.cfg.T140PT:
		h.primary = append([]byte(nil), p.Payload...)
	case d.cfg.REDPT:
		red, primary, err := ParseRED(p.Payload)
		if err != nil {
			return nil, err
		}
		if primary.PT != d.cfg.T140PT {
			return nil, fmt.Errorf("rtt: red primary payload type %d, want t140 %d", primary.PT, d.cfg.T140PT)
		}
		h.primary = append([]byte(nil), primary.Data...)
		h.gens = make([][]byte, len(red))
		for j, b := range red { // oldest first: block j is generation len(red)-j
			if b.PT == d.cfg.T140PT {
				h.gens[len(red)-1-j] = append([]byte{}, b.Data...)
			}
		}
	default:
		return nil, fmt.Errorf("rtt: payload type %d is neither t140 %d nor red %d", p.PayloadType, d.cfg.T140PT, d.cfg.REDPT)
	}
	return h, nil
}

// drain delivers held packets in order while it can.
func (d *Decoder) drain(now time.Time, force bool) {
	for len(d.held) > 0 {
		if h := d.held[d.next]; h != nil {
			d.deliver(h)
			continue
		}
		// the lowest held sequence number
		var low *heldPacket
		for _, h := range d.held {
			if low == nil || int16(h.seq-low.seq) < 0 {
				low = h
			}
		}
		gap := int(uint16(low.seq - d.next))
		covered := 0
		for covered < gap && covered < len(low.gens) && low.gens[covered] != nil {
			covered++
		}
		if covered < gap { // redundancy cannot fill the gap: wait, then give up
			if !force && now.Sub(low.arrived) < d.cfg.ReorderWait && len(d.held) < d.cfg.MaxHeld {
				return
			}
			d.out.WriteRune(Missing)
			d.stats.Markers++
			d.stats.Lost += uint64(gap - covered)
		}
		for k := covered; k > 0; k-- { // oldest recovered generation first
			d.write(low.gens[k-1])
			if !low.first {
				d.stats.Recovered++
			}
		}
		d.deliver(low)
	}
}

func (d *Decoder) deliver(h *heldPacket) {
	d.write(h.primary)
	delete(d.held, h.seq)
	d.next = h.seq + 1
}

func (d *Decoder) write(b []byte) {
	for len(b) > 0 {
		r, n := decodeRune(b)
		d.out.WriteRune(r)
		b = b[n:]
	}
}
