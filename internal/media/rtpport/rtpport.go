// Package rtpport hands out UDP port pairs for SIP-side RTP: an even port for
// RTP and the next odd one for RTCP (RFC 3550 §11), from a configured range,
// reusing released ports last so late packets of an old call do not reach a
// new one.
package rtpport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// inUseAll counts the pairs handed out by every pool of the process.
var inUseAll atomic.Int64

// InUseAll is the number of pairs handed out and not yet closed, over every
// pool of this process: a leak check for tests that run a hub in process
// (after the calls end it is back where it was).
func InUseAll() int { return int(inUseAll.Load()) }

// ErrExhausted means no pair in the range could be bound.
var ErrExhausted = errors.New("rtpport: no free port pair")

// Pair is a bound RTP/RTCP socket pair.
type Pair struct {
	RTP, RTCP *net.UDPConn
	Port      int
	pool      *Pool
	once      sync.Once
}

// Close closes both sockets and returns the pair to the pool.
func (p *Pair) Close() error {
	var err error
	p.once.Do(func() {
		err = errors.Join(p.RTP.Close(), p.RTCP.Close())
		p.pool.release(p.Port)
	})
	return err
}

// Pool allocates pairs from [min, max] on one IP.
type Pool struct {
	ip    netip.Addr
	size  int
	mu    sync.Mutex
	free  []int // FIFO of even ports
	inUse map[int]bool
}

// New returns a pool over the even ports of [min, max].
func New(ip netip.Addr, min, max int) (*Pool, error) {
	if min%2 == 1 {
		min++
	}
	if max-min < 1 {
		return nil, fmt.Errorf("rtpport: range %d-%d too small", min, max)
	}
	p := &Pool{ip: ip, inUse: map[int]bool{}}
	for port := min; port+1 <= max; port += 2 {
		p.free = append(p.free, port)
	}
	p.size = len(p.free)
	return p, nil
}

// Get binds a free pair. Ports taken by other programs are skipped.
func (p *Pool) Get() (*Pair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tries := len(p.free); tries > 0; tries-- {
		port := p.free[0]
		p.free = p.free[1:]
		rtp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err != nil {
			p.free = append(p.free, port)
			continue
		}
		rtcp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port+1))))
		if err != nil {
			rtp.Close()
			p.free = append(p.free, port)
			continue
		}
		_ = rtp.SetReadBuffer(1 << 20)
		p.inUse[port] = true
		inUseAll.Add(1)
		return &Pair{RTP: rtp, RTCP: rtcp, Port: port, pool: p}, nil
	}
	return nil, ErrExhausted
}

// Size is the number of pairs in the range.
func (p *Pool) Size() int { return p.size }

// InUse is the number of pairs handed out.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}

func (p *Pool) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[port] {
		inUseAll.Add(-1)
		delete(p.inUse, port)
		p.free = append(p.free, port)
	}
}
