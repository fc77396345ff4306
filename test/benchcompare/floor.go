package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/pion/srtp/v3"
)

// floor is the floor relay: what a user-space Go relay that does the same
// work as the hub's passthrough (SRTP on one side, RTP on the other) costs
// with nothing else — one goroutine per socket, symmetric latching, SRTP
// decrypted/encrypted inline, no allocation per packet.
//
// Call i listens on base+4i (SRTP side) and base+4i+2 (RTP side).
func floor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	calls := fs.Int("calls", 20, "calls")
	base := fs.Int("base", 31000, "first port")
	keyIn := fs.String("key-in", floorKeyIn, "SDES key the SRTP side sends with (base64, 30 bytes)")
	keyOut := fs.String("key-out", floorKeyOut, "SDES key the relay sends to the SRTP side with")
	batched := fs.Bool("batched", false, "two shared sockets with recvmmsg/sendmmsg (floorbatch.go)")
	_ = fs.Parse(args)
	if *batched {
		conns, wait, err := floorBatched(*calls, *base, *keyIn, *keyOut)
		if err != nil {
			return err
		}
		fmt.Println("ready")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		for _, c := range conns {
			c.Close()
		}
		wait()
		return nil
	}
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	for i := 0; i < *calls; i++ {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: *base + 4*i})
		if err != nil {
			return err
		}
		b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: *base + 4*i + 2})
		if err != nil {
			return err
		}
		dec, err := sdesContext(*keyIn)
		if err != nil {
			return err
		}
		enc, err := sdesContext(*keyOut)
		if err != nil {
			return err
		}
		conns = append(conns, a, b)
		r := &relayCall{a: a, b: b}
		wg.Add(2)
		go func() { defer wg.Done(); r.srtpToRTP(dec) }()
		go func() { defer wg.Done(); r.rtpToSRTP(enc) }()
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return nil
}

type relayCall struct {
	a, b         *net.UDPConn
	mu           sync.Mutex
	peerA, peerB netip.AddrPort
}

func (r *relayCall) peers() (a, b netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peerA, r.peerB
}

func (r *relayCall) srtpToRTP(dec *srtp.Context) {
	in, out := make([]byte, 1500), make([]byte, 1500)
	for {
		n, from, err := r.a.ReadFromUDPAddrPort(in)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.peerA = from
		to := r.peerB
		r.mu.Unlock()
		p, err := dec.DecryptRTP(out[:0], in[:n], nil)
		if err != nil || !to.IsValid() {
			continue
		}
		_, _ = r.b.WriteToUDPAddrPort(p, to)
	}
}

func (r *relayCall) rtpToSRTP(enc *srtp.Context) {
	in, out := make([]byte, 1500), make([]byte, 1500)
	for {
		n, from, err := r.b.ReadFromUDPAddrPort(in)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.peerB = from
		to := r.peerA
		r.mu.Unlock()
		if !to.IsValid() {
			continue
		}
		p, err := enc.EncryptRTP(out[:0], in[:n], nil)
		if err != nil {
			continue
		}
		_, _ = r.a.WriteToUDPAddrPort(p, to)
	}
}
