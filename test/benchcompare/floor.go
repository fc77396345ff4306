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
	epoll := fs.Bool("epoll", false, "the same sockets served by one OS thread in epoll_wait (floorepoll.go)")
	_ = fs.Parse(args)
	if *epoll {
		return floorEpoll(*calls, *base, *keyIn, *keyOut, stopped())
	}
	if *batched {
		conns, wait, err := floorBatched(*calls, *base, *keyIn, *keyOut)
		if err != nil {
			return err
		}
		fmt.Println("ready")
		<-stopped()
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
		go func() {
			defer wg.Done()
			r.relay(a, b, &r.peerA, &r.peerB, func(d, p []byte) ([]byte, error) { return dec.DecryptRTP(d, p, nil) })
		}()
		go func() {
			defer wg.Done()
			r.relay(b, a, &r.peerB, &r.peerA, func(d, p []byte) ([]byte, error) { return enc.EncryptRTP(d, p, nil) })
		}()
	}
	fmt.Println("ready")
	<-stopped()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return nil
}

// stopped is closed when the relay is told to stop (SIGTERM or SIGINT).
func stopped() <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	stop := make(chan struct{})
	go func() { <-sig; close(stop) }()
	return stop
}

type relayCall struct {
	a, b         *net.UDPConn
	mu           sync.Mutex
	peerA, peerB netip.AddrPort
}

// relay reads from in (latching its peer as *self), transforms each
// packet (SRTP decrypt or encrypt) and writes it to the other side's
// latched peer (*other) through out.
func (r *relayCall) relay(in, out *net.UDPConn, self, other *netip.AddrPort, transform func(dst, src []byte) ([]byte, error)) {
	buf, res := make([]byte, 1500), make([]byte, 1500)
	for {
		n, from, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		*self = from
		to := *other
		r.mu.Unlock()
		if !to.IsValid() {
			continue
		}
		p, err := transform(res[:0], buf[:n])
		if err != nil {
			continue
		}
		_, _ = out.WriteToUDPAddrPort(p, to)
	}
}
