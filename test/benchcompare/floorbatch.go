package main

import (
	"net"
	"net/netip"
	"sync"

	"github.com/pion/srtp/v3"
	"golang.org/x/net/ipv4"
)

// The batched floor: one socket for every call's SRTP side (base) and one
// for every call's RTP side (base+2), read and written with
// recvmmsg/sendmmsg (up to batchSize packets per system call), calls told
// apart by SSRC (the generator's ssrcA/ssrcB numbering). What a relay
// built around shared sockets and batching costs: with packets spread over
// the 20 ms a batch is often one packet; under a burst it is many.

const batchSize = 64

type batchCall struct {
	mu           sync.Mutex
	peerA, peerB netip.AddrPort
	dec, enc     *srtp.Context
}

func floorBatched(calls, base int, keyIn, keyOut string) (closers []*net.UDPConn, wait func(), err error) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base})
	if err != nil {
		return nil, nil, err
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2})
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	for _, c := range []*net.UDPConn{a, b} {
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
	}
	cs := make([]*batchCall, calls)
	for i := range cs {
		c := &batchCall{}
		if c.dec, err = sdesContext(keyIn); err != nil {
			return nil, nil, err
		}
		if c.enc, err = sdesContext(keyOut); err != nil {
			return nil, nil, err
		}
		cs[i] = c
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); batchLoop(a, b, cs, 0x1000, true) }()
	go func() { defer wg.Done(); batchLoop(b, a, cs, 0x8000, false) }()
	return []*net.UDPConn{a, b}, wg.Wait, nil
}

// batchLoop reads a batch from in, and writes what it relays as one batch
// to out: SRTP → RTP decrypting (fromSRTP), RTP → SRTP encrypting.
func batchLoop(in, out *net.UDPConn, cs []*batchCall, ssrcBase uint32, fromSRTP bool) {
	pin, pout := ipv4.NewPacketConn(in), ipv4.NewPacketConn(out)
	rd, wr := make([]ipv4.Message, batchSize), make([]ipv4.Message, batchSize)
	for i := range rd {
		rd[i].Buffers = [][]byte{make([]byte, 1500)}
		wr[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	for {
		n, err := pin.ReadBatch(rd, 0)
		if err != nil {
			return
		}
		w := 0
		for _, m := range rd[:n] {
			p := m.Buffers[0][:m.N]
			ua, ok := m.Addr.(*net.UDPAddr)
			if len(p) < 12 || !ok {
				continue
			}
			ssrc := uint32(p[8])<<24 | uint32(p[9])<<16 | uint32(p[10])<<8 | uint32(p[11])
			k := int(ssrc - ssrcBase)
			if k < 0 || k >= len(cs) {
				continue
			}
			c := cs[k]
			c.mu.Lock()
			var to netip.AddrPort
			if fromSRTP {
				c.peerA, to = ua.AddrPort(), c.peerB
			} else {
				c.peerB, to = ua.AddrPort(), c.peerA
			}
			c.mu.Unlock()
			if !to.IsValid() {
				continue
			}
			var res []byte
			if fromSRTP {
				res, err = c.dec.DecryptRTP(wr[w].Buffers[0][:0], p, nil)
			} else {
				res, err = c.enc.EncryptRTP(wr[w].Buffers[0][:0], p, nil)
			}
			if err != nil {
				continue
			}
			wr[w].Buffers[0] = res
			wr[w].Addr = net.UDPAddrFromAddrPort(to)
			w++
		}
		for sent := 0; sent < w; {
			k, err := pout.WriteBatch(wr[sent:w], 0)
			if err != nil || k == 0 {
				break
			}
			sent += k
		}
		for i := range wr[:w] {
			wr[i].Buffers[0] = wr[i].Buffers[0][:cap(wr[i].Buffers[0])] // room for the next batch
		}
	}
}
