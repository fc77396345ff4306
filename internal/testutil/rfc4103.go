package testutil

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	psdp "github.com/pion/sdp/v3"
)

// RFC4103Peer is a minimal real-time text endpoint written from RFC 4103
// (RTP Payload for Text Conversation) and RFC 2198 (RTP Payload for
// Redundant Audio Data) alone — not from internal/rtt — so that tests can
// catch the hub's mistakes rather than share them.
//
// Sending (RFC 4103 §4, §5): text given to Send is buffered and sent every
// 300 ms in a red packet whose primary block is the new text and whose two
// redundant blocks are the primaries of the two packets before (oldest
// first); after the last text, packets with an empty primary go out until
// every text has been sent three times, then nothing until new text; the
// first packet after an idle period has the marker bit; the timestamp is in
// milliseconds (1000 Hz); one SSRC. DropNext loses packets on purpose.
//
// Receiving: packets in sequence order are taken; duplicates and late ones
// dropped; a gap of up to two packets is filled from the next packet's
// redundant blocks; a longer one inserts U+FFFD once (RFC 4103 §5.4).
// Both red and plain t140 packets are accepted.
type RFC4103Peer struct {
	conn   *net.UDPConn
	redPT  uint8 // 0: plain t140
	t140PT uint8

	remote atomic.Pointer[netip.AddrPort]

	mu      sync.Mutex
	queue   []string // blocks waiting, one per packet
	merge   bool     // the last queued block takes more Send text
	hist    [2]gen   // primaries of the last two packets, oldest first
	owed    int      // empty packets still owed for redundancy
	idle    bool
	seq     uint16
	ssrc    uint32
	start   time.Time
	ts0     uint32
	drop    int
	sent    int // packets built (sent or dropped)
	dropped int

	rmu      sync.Mutex
	rstarted bool
	rnext    uint16
	rtext    strings.Builder
	rpackets int
	rlost    int // U+FFFD markers inserted
	rbad     int
	rssrc    uint32
	rlast    time.Time // arrival of the last packet
	rlastTS  uint32
	rlastSeq uint16
	rmarkers int
	rseen    map[uint16]uint32 // timestamps of recent packets with text, by sequence number
	rviol    []string

	stop chan struct{}
	wg   sync.WaitGroup
}

type gen struct {
	ts   uint32
	data []byte
	ok   bool
}

// RFC4103Interval is the transmission interval (RFC 4103 §5: 300 ms).
const RFC4103Interval = 300 * time.Millisecond

// NewRFC4103Peer starts a peer on conn that sends to remote with payload
// types redPT (0: plain t140, no redundancy) and t140PT. Close stops it.
func NewRFC4103Peer(conn *net.UDPConn, remote netip.AddrPort, redPT, t140PT uint8) *RFC4103Peer {
	p := &RFC4103Peer{conn: conn, redPT: redPT, t140PT: t140PT, idle: true,
		seq: uint16(rand.Uint32()), ssrc: rand.Uint32(), ts0: rand.Uint32(), start: time.Now(), stop: make(chan struct{})}
	p.remote.Store(&remote)
	p.wg.Add(2)
	go p.sender()
	go p.reader()
	return p
}

// Close stops the peer's goroutines and closes its socket.
func (p *RFC4103Peer) Close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	_ = p.conn.Close()
	p.wg.Wait()
}

// Send queues text for the next packet (text sent between two packets
// goes together, as a typist's buffer).
func (p *RFC4103Peer) Send(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.merge && len(p.queue) > 0 {
		p.queue[len(p.queue)-1] += text
		return
	}
	p.queue = append(p.queue, text)
	p.merge = true
}

// SendBlocks queues each block for a packet of its own, in order.
func (p *RFC4103Peer) SendBlocks(blocks ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, blocks...)
	p.merge = false
}

// DropNext makes the next n packets lost: built and numbered, not sent.
func (p *RFC4103Peer) DropNext(n int) {
	p.mu.Lock()
	p.drop += n
	p.mu.Unlock()
}

// Sent reports packets built (sent or dropped) and dropped.
func (p *RFC4103Peer) Sent() (built, dropped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, p.dropped
}

// Idle reports whether nothing is queued and no redundancy is owed.
func (p *RFC4103Peer) Idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) == 0 && p.owed == 0
}

// Received returns the text received so far (raw T.140, U+FFFD where text
// was lost).
func (p *RFC4103Peer) Received() string {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.rtext.String()
}

// ReceiveStats reports packets accepted, loss markers inserted and
// packets that could not be parsed.
func (p *RFC4103Peer) ReceiveStats() (packets, lostMarks, bad int) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.rpackets, p.rlost, p.rbad
}

func (p *RFC4103Peer) sender() {
	defer p.wg.Done()
	t := time.NewTicker(RFC4103Interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if b := p.next(); b != nil {
			if to := p.remote.Load(); to != nil {
				_, _ = p.conn.WriteToUDPAddrPort(b, *to)
			}
		}
	}
}

// next builds the packet due now, or nil; a packet to be dropped is built
// (its sequence number used) and nil returned.
func (p *RFC4103Peer) next() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var primary []byte
	switch {
	case len(p.queue) > 0:
		primary = []byte(p.queue[0])
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.merge = false
		}
		p.owed = 2
	case p.owed > 0:
		p.owed--
	default:
		p.idle = true
		return nil
	}
	marker := p.idle && len(primary) > 0
	if len(primary) > 0 {
		p.idle = false
	}
	ts := p.ts0 + uint32(time.Since(p.start)/time.Millisecond)
	// RTP fixed header (RFC 3550 §5.1)
	b := make([]byte, 12, 12+16+len(primary)+len(p.hist[0].data)+len(p.hist[1].data))
	b[0] = 2 << 6
	pt := p.t140PT
	if p.redPT != 0 {
		pt = p.redPT
	}
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], p.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], p.ssrc)
	p.seq++
	if p.redPT == 0 {
		b = append(b, primary...)
	} else {
		// RFC 2198 §3: one 4-byte header per redundant block (F=1, block
		// PT, 14-bit timestamp offset, 10-bit length), oldest first, then a
		// 1-byte header (F=0, PT) for the primary; then the data in order.
		for _, g := range p.hist {
			off, n := uint32(0), 0
			if g.ok && ts-g.ts < 1<<14 && len(g.data) < 1<<10 {
				off, n = ts-g.ts, len(g.data)
			}
			b = append(b, 0x80|p.t140PT, byte(off>>6), byte(off<<2)|byte(n>>8), byte(n))
		}
		b = append(b, p.t140PT&0x7f)
		for _, g := range p.hist {
			if g.ok && ts-g.ts < 1<<14 && len(g.data) < 1<<10 {
				b = append(b, g.data...)
			}
		}
		b = append(b, primary...)
	}
	p.hist[0], p.hist[1] = p.hist[1], gen{ts: ts, data: primary, ok: true}
	p.sent++
	if p.drop > 0 {
		p.drop--
		p.dropped++
		return nil
	}
	return b
}

func (p *RFC4103Peer) reader() {
	defer p.wg.Done()
	buf := make([]byte, 8192)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.take(buf[:n])
	}
}

// take applies one received packet.
func (p *RFC4103Peer) take(b []byte) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	payload, pt, seq, err := rtpPayload(b)
	if err != nil {
		p.rbad++
		return
	}
	var gens [][]byte // redundant blocks, oldest first
	var offs []uint32
	var primary []byte
	switch {
	case pt == p.t140PT:
		primary = payload
	case p.redPT != 0 && pt == p.redPT:
		if gens, offs, primary, err = parseRed(payload, p.t140PT); err != nil {
			p.rbad++
			return
		}
	default:
		p.rbad++
		return
	}
	p.rpackets++
	p.check(b, seq, gens, offs, primary)
	if !p.rstarted {
		p.rstarted, p.rnext = true, seq
	}
	gap := int(int16(seq - p.rnext))
	if gap < 0 {
		return // duplicate or late: already delivered or given up
	}
	if gap > len(gens) {
		p.rtext.WriteRune('\uFFFD')
		p.rlost++
	}
	for k := min(gap, len(gens)); k >= 1; k-- { // the block k packets back is gens[len-k]
		p.rtext.Write(gens[len(gens)-k])
	}
	p.rtext.Write(primary)
	p.rnext = seq + 1
}

// check records what the sender does against RFC 4103: one SSRC; the
// marker bit on the first text after an idle period (no packet for more
// than two intervals, unless packets were lost) and on no other; packets at least ~300 ms apart;
// a 1000 Hz timestamp; redundant blocks whose timestamp offsets point at
// the packets that carried them as primary. rmu is held.
func (p *RFC4103Peer) check(b []byte, seq uint16, gens [][]byte, offs []uint32, primary []byte) {
	now := time.Now()
	ts := binary.BigEndian.Uint32(b[4:])
	ssrc := binary.BigEndian.Uint32(b[8:])
	marker := b[1]&0x80 != 0
	viol := func(f string, a ...any) {
		if len(p.rviol) < 32 {
			p.rviol = append(p.rviol, fmt.Sprintf("seq %d: ", seq)+fmt.Sprintf(f, a...))
		}
	}
	if marker {
		p.rmarkers++
	}
	if p.rseen == nil {
		p.rseen = map[uint16]uint32{}
	} else {
		if ssrc != p.rssrc {
			viol("SSRC changed %08x → %08x", p.rssrc, ssrc)
		}
		gap := now.Sub(p.rlast)
		idle := gap > 2*RFC4103Interval
		switch {
		case idle && len(primary) > 0 && !marker && seq == p.rlastSeq+1: // (a gap may have taken the marked packet)
			viol("text after %v idle without the marker bit", gap.Round(time.Millisecond))
		case !idle && marker:
			viol("marker bit %v after the last packet", gap.Round(time.Millisecond))
		case !idle && gap < RFC4103Interval-60*time.Millisecond:
			viol("packet %v after the last (interval 300 ms)", gap.Round(time.Millisecond))
		}
		if d := int64(int32(ts-p.rlastTS)) - gap.Milliseconds(); !idle && (d > 250 || d < -250) {
			viol("timestamp moved %d ms in %v (1000 Hz clock)", int32(ts-p.rlastTS), gap.Round(time.Millisecond))
		}
	}
	for i, g := range gens {
		k := uint16(len(gens) - i) // packets back
		if was, ok := p.rseen[seq-k]; ok && len(g) > 0 && ts-offs[i] != was {
			viol("redundant block %d back has timestamp %d, its packet had %d", k, ts-offs[i], was)
		}
	}
	p.rssrc, p.rlast, p.rlastTS, p.rlastSeq = ssrc, now, ts, seq
	if len(primary) > 0 {
		p.rseen[seq] = ts
		delete(p.rseen, seq-16)
	}
}

// Violations lists what the far end's packets did against RFC 4103/2198
// (see check), and Markers the packets with the marker bit.
func (p *RFC4103Peer) Violations() (violations []string, markers int) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return append([]string(nil), p.rviol...), p.rmarkers
}

// rtpPayload parses an RTP packet (RFC 3550 §5.1: CSRCs, extension, padding).
func rtpPayload(b []byte) (payload []byte, pt uint8, seq uint16, err error) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, 0, 0, errors.New("not RTP")
	}
	hl := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < hl+4 {
			return nil, 0, 0, errors.New("short extension")
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(b[hl+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if hl > end {
		return nil, 0, 0, errors.New("short packet")
	}
	return b[hl:end], b[1] & 0x7f, binary.BigEndian.Uint16(b[2:]), nil
}

// parseRed splits a red payload (RFC 2198 §3) whose blocks must all be
// t140PT (RFC 4103 §4): the redundant blocks oldest first with their
// timestamp offsets, and the primary.
func parseRed(b []byte, t140PT uint8) (gens [][]byte, offs []uint32, primary []byte, err error) {
	var lens []int
	i := 0
	for {
		if i >= len(b) {
			return nil, nil, nil, errors.New("red: no primary header")
		}
		if b[i]&0x7f != t140PT {
			return nil, nil, nil, errors.New("red: block is not t140")
		}
		if b[i]&0x80 == 0 {
			i++
			break
		}
		if i+4 > len(b) {
			return nil, nil, nil, errors.New("red: short header")
		}
		offs = append(offs, uint32(b[i+1])<<6|uint32(b[i+2])>>2)
		lens = append(lens, int(b[i+2]&0x03)<<8|int(b[i+3]))
		i += 4
	}
	for _, n := range lens {
		if i+n > len(b) {
			return nil, nil, nil, errors.New("red: block past the end")
		}
		gens = append(gens, b[i:i+n])
		i += n
	}
	return gens, offs, b[i:], nil
}

// rfc4103SDP is an m=text section for port: red redPT over t140PT with two
// redundant generations (redPT 0: plain t140), cps=30.
func rfc4103SDP(port int, redPT, t140PT uint8) string {
	if port == 0 {
		if redPT == 0 {
			return fmt.Sprintf("m=text 0 RTP/AVP %d\r\n", t140PT)
		}
		return fmt.Sprintf("m=text 0 RTP/AVP %d %d\r\n", redPT, t140PT)
	}
	var b strings.Builder
	if redPT == 0 {
		fmt.Fprintf(&b, "m=text %d RTP/AVP %d\r\n", port, t140PT)
	} else {
		fmt.Fprintf(&b, "m=text %d RTP/AVP %d %d\r\n", port, redPT, t140PT)
		fmt.Fprintf(&b, "a=rtpmap:%d red/1000\r\na=fmtp:%d %d/%d/%d\r\n", redPT, redPT, t140PT, t140PT, t140PT)
	}
	fmt.Fprintf(&b, "a=rtpmap:%d t140/1000\r\na=fmtp:%d cps=30\r\na=sendrecv\r\n", t140PT, t140PT)
	return b.String()
}

// textOffer reads the first m=text of an SDP body: its address, port
// (0: refused) and payload types (red 0 when red is not offered).
func textOffer(body []byte) (addr netip.AddrPort, redPT, t140PT uint8, found bool) {
	var s psdp.SessionDescription
	if s.UnmarshalString(string(body)) != nil {
		return addr, 0, 0, false
	}
	var ip netip.Addr
	if s.ConnectionInformation != nil && s.ConnectionInformation.Address != nil {
		ip, _ = netip.ParseAddr(s.ConnectionInformation.Address.Address)
	}
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "text" {
			continue
		}
		if m.ConnectionInformation != nil && m.ConnectionInformation.Address != nil {
			ip, _ = netip.ParseAddr(m.ConnectionInformation.Address.Address)
		}
		names := map[string]string{}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" {
				if pt, v, ok := strings.Cut(a.Value, " "); ok {
					names[pt] = strings.ToLower(strings.TrimSpace(v))
				}
			}
		}
		for _, f := range m.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue
			}
			switch names[f] {
			case "t140/1000":
				if t140PT == 0 {
					t140PT = uint8(n)
				}
			case "red/1000":
				if redPT == 0 {
					redPT = uint8(n)
				}
			}
		}
		return netip.AddrPortFrom(ip, uint16(m.MediaName.Port.Value)), redPT, t140PT, t140PT != 0
	}
	return addr, 0, 0, false
}
