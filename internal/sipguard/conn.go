package sipguard

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// PacketConn guards a UDP socket: the SIP stack reads through it and sees
// only what passes; refusals are answered on the same socket, so every
// response and every request the hub sends leaves from the listening port.
type PacketConn struct {
	*net.UDPConn
	g     *Guard
	ready chan struct{}
	once  sync.Once
	m     Msg
	out   []byte
}

// PacketConn wraps c.
func (g *Guard) PacketConn(c *net.UDPConn) *PacketConn {
	return &PacketConn{UDPConn: c, g: g, ready: make(chan struct{}), out: make([]byte, 0, 2048)}
}

// Ready is closed when the SIP stack first reads from the socket: by then it
// has registered the socket as its listener, and requests sent from this
// address reuse it rather than binding the port a second time.
func (p *PacketConn) Ready() <-chan struct{} { return p.ready }

// ReadFrom returns the next datagram that passes the guard.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	p.once.Do(func() { close(p.ready) })
	for {
		n, src, err := p.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, nil, err
		}
		if isKeepalive(b[:n]) {
			continue
		}
		pass, reply, to, _ := p.g.inspect(b[:n], src, "udp", &p.m, p.out[:0])
		if pass {
			return n, net.UDPAddrFromAddrPort(src), nil
		}
		if len(reply) > 0 {
			p.out = reply[:0]
			_, _ = p.UDPConn.WriteToUDPAddrPort(reply, to)
		}
	}
}

// Listener guards a TCP listener (and, with a TLS config, terminates TLS
// behind the guard): connection caps per source and in total, and each
// connection framed message by message with deadlines.
type Listener struct {
	net.Listener
	g         *Guard
	tls       *tls.Config
	transport string
}

// Listener wraps l; tlsConf, when set, makes it a TLS listener.
func (g *Guard) Listener(l net.Listener, tlsConf *tls.Config) *Listener {
	t := "tcp"
	if tlsConf != nil {
		t = "tls"
	}
	return &Listener{Listener: l, g: g, tls: tlsConf, transport: t}
}

// Accept returns the next admitted connection. Temporary failures (out of
// file descriptors) are waited out, as net/http does, instead of ending
// the listener.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			var ne net.Error
			if errors.As(err, &ne) && (ne.Timeout() || isTemporary(err)) {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				l.g.o.Log.Warn("SIP accept failed; retrying", "transport", l.transport, "err", err, "in", delay.String())
				time.Sleep(delay)
				continue
			}
			return nil, err
		}
		delay = 0
		src := addrPortOf(c.RemoteAddr())
		if !l.g.admit(src.Addr()) {
			l.g.refused("connection_cap", l.transport, src, "")
			_ = c.Close()
			continue
		}
		nc := c
		if l.tls != nil {
			nc = tls.Server(c, l.tls)
		}
		sc := &streamConn{Conn: nc, g: l.g, src: src, transport: l.transport, since: l.g.o.now(), partial: true,
			buf: make([]byte, 0, 4096)}
		return sc, nil
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// admit counts a new connection from src against the caps.
func (g *Guard) admit(src netip.Addr) bool {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	if g.total >= g.o.MaxConns || g.conns[src] >= g.o.MaxConnsPerSource {
		return false
	}
	g.total++
	g.conns[src]++
	return true
}

func (g *Guard) release(src netip.Addr) {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	g.total--
	if g.conns[src]--; g.conns[src] <= 0 {
		delete(g.conns, src)
	}
}

// Conns is the number of guarded connections open.
func (g *Guard) Conns() int {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	return g.total
}

// streamConn frames a TCP/TLS byte stream into SIP messages, lets through
// only whole messages that pass the guard, and closes the connection when a
// message takes too long to arrive or the connection idles.
type streamConn struct {
	net.Conn
	g         *Guard
	src       netip.AddrPort
	transport string

	buf     []byte // bytes read, not yet framed
	pending []byte // a passed message not yet read by the SIP stack
	since   time.Time
	partial bool // bytes of an unfinished message (or no message yet) since `since`
	m       Msg
	out     []byte
	err     error

	closeOnce sync.Once
}

// Read returns bytes of whole messages that passed the guard.
func (c *streamConn) Read(p []byte) (int, error) {
	for {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		}
		if c.err != nil {
			return 0, c.err
		}
		if c.frame() {
			continue
		}
		if c.err != nil {
			continue
		}
		if err := c.fill(); err != nil {
			c.fail(err)
		}
	}
}

// frame consumes what c.buf holds: keep-alives, then one message. It
// reports whether it made progress.
func (c *streamConn) frame() bool {
	// RFC 5626 §3.5.1: CRLFCRLF is a ping, answered with CRLF; CRLFs
	// between messages are ignored (RFC 3261 §7.5).
	progressed := false
	for len(c.buf) >= 2 && c.buf[0] == '\r' && c.buf[1] == '\n' {
		if len(c.buf) >= 4 && c.buf[2] == '\r' && c.buf[3] == '\n' {
			c.write([]byte("\r\n"))
			c.buf = c.buf[4:]
		} else {
			c.buf = c.buf[2:]
		}
		progressed = true
	}
	if len(c.buf) == 0 || (len(c.buf) == 1 && c.buf[0] == '\r') {
		if len(c.buf) == 0 {
			c.buf = c.buf[:0:cap(c.buf)]
		}
		c.partial = false
		return progressed
	}
	if !c.partial {
		c.partial, c.since = true, c.g.o.now()
	}
	pass, reply, _, err := c.g.inspect(c.buf, c.src, c.transport, &c.m, c.out[:0])
	if err == errIncomplete {
		if len(c.buf) >= MaxMessage {
			c.fail(errors.New("sipguard: message too large"))
			return true
		}
		return progressed
	}
	if len(reply) > 0 {
		c.out = reply[:0]
		c.write(reply)
	}
	if err != nil || c.m.Len <= 0 || c.m.Len > len(c.buf) {
		// a malformed message cannot be framed reliably: answered (when it
		// could be), then the connection ends
		c.fail(io.EOF)
		return true
	}
	msg := c.buf[:c.m.Len]
	c.buf = c.buf[c.m.Len:]
	c.partial = false
	if pass {
		c.pending = msg
	}
	return true
}

// fill reads more bytes, with the deadline that applies.
func (c *streamConn) fill() error {
	now := c.g.o.now()
	deadline := now.Add(c.g.o.IdleTimeout)
	if c.partial {
		deadline = c.since.Add(c.g.o.MessageTimeout)
	}
	if !deadline.After(now) {
		return errTimeout
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return err
	}
	if len(c.buf) == cap(c.buf) {
		// compact or grow (bounded by MaxMessage, checked in frame)
		nb := make([]byte, len(c.buf), 2*cap(c.buf)+4096)
		copy(nb, c.buf)
		c.buf = nb
	}
	n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errTimeout
		}
		return err
	}
	return nil
}

var errTimeout = errors.New("sipguard: connection timed out")

// fail ends the connection: the SIP stack sees io.EOF (a clean close).
func (c *streamConn) fail(err error) {
	if err == errTimeout {
		c.g.refused("timeout", c.transport, c.src, "")
	}
	c.err = io.EOF
	_ = c.Close()
}

func (c *streamConn) write(b []byte) {
	_ = c.Conn.SetWriteDeadline(c.g.o.now().Add(c.g.o.WriteTimeout))
	_, _ = c.Conn.Write(b)
}

// Write sends with the write timeout, so a peer that stops reading cannot
// hold a writer for ever.
func (c *streamConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(c.g.o.now().Add(c.g.o.WriteTimeout))
	return c.Conn.Write(b)
}

// SetReadDeadline is the guard's: the SIP stack's own deadlines are ignored.
func (c *streamConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline applies to writes only (reads are the guard's).
func (c *streamConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// Close closes the connection once and releases its place in the caps.
func (c *streamConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.g.release(c.src.Addr())
	})
	return err
}
