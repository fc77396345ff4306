package main

import (
	"fmt"
	"net/netip"
	"runtime"

	"github.com/pion/srtp/v3"
	"golang.org/x/sys/unix"
)

// The epoll floor: the floor relay's sockets (two per call) and work, but
// served the way rtpengine serves them — by one OS thread that waits in
// epoll_wait on every socket and reads each ready socket until it is empty,
// with no goroutine woken per packet. What a Go relay costs once the Go
// scheduler is off the per-packet path.

type epollSide struct {
	fd, other int // this socket, the call's other socket
	self      *netip.AddrPort
	peer      *netip.AddrPort // where the other side's packets go
	srtp      *srtp.Context
	decrypt   bool
}

type epollCall struct{ peerA, peerB netip.AddrPort }

// floorEpoll runs the relay until stop is closed; it returns once the
// sockets are closed.
func floorEpoll(calls, base int, keyIn, keyOut string, stop <-chan struct{}) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return err
	}
	sides := map[int]*epollSide{}
	defer func() {
		for fd := range sides {
			unix.Close(fd)
		}
		unix.Close(wake)
		unix.Close(ep)
	}()
	listen := func(port int) (int, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
	for i := 0; i < calls; i++ {
		a, err := listen(base + 4*i)
		if err != nil {
			return err
		}
		b, err := listen(base + 4*i + 2)
		if err != nil {
			return err
		}
		dec, err := sdesContext(keyIn)
		if err != nil {
			return err
		}
		enc, err := sdesContext(keyOut)
		if err != nil {
			return err
		}
		c := &epollCall{}
		sides[a] = &epollSide{fd: a, other: b, self: &c.peerA, peer: &c.peerB, srtp: dec, decrypt: true}
		sides[b] = &epollSide{fd: b, other: a, self: &c.peerB, peer: &c.peerA, srtp: enc}
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		return err
	}
	go func() {
		<-stop
		_, _ = unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}()
	fmt.Println("ready")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]unix.EpollEvent, 128)
	buf, res := make([]byte, 1500), make([]byte, 1500)
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == wake {
				return nil
			}
			s := sides[int(ev.Fd)]
			for { // until the socket is empty
				m, from, err := unix.Recvfrom(s.fd, buf, 0)
				if err != nil {
					break // EAGAIN
				}
				sa, ok := from.(*unix.SockaddrInet4)
				if !ok {
					continue
				}
				*s.self = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
				to := *s.peer
				if !to.IsValid() {
					continue
				}
				var p []byte
				if s.decrypt {
					p, err = s.srtp.DecryptRTP(res[:0], buf[:m], nil)
				} else {
					p, err = s.srtp.EncryptRTP(res[:0], buf[:m], nil)
				}
				if err != nil {
					continue
				}
				_ = unix.Sendto(s.other, p, 0, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()})
			}
		}
	}
}
