package api

import (
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what one client can hold of the HTTP server: slow or idle
// connections (slowloris) and too many connections from one address.
//
// net/http's own timeouts cover a request on its way in (ReadHeaderTimeout,
// ReadTimeout) and a keep-alive between requests (IdleTimeout), but not a
// connection it has handed over: a hijacked WebSocket, or a handler that
// streams (server-sent events). The listener's connections cover those:
// whenever the HTTP server has set no deadline of its own, a read waits at
// most IdleTimeout since the last traffic either way, and a write at most
// WriteTimeout.
type Limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxConnsPerIP     int
	Log               *slog.Logger
}

// Server returns an http.Server for h with the limits' timeouts. There is
// no whole-response WriteTimeout: it would cut event streams and hijacked
// sockets; the listener bounds each write instead.
//
// The server's own messages go to Log: a failed TLS handshake (a scanner,
// a name the certificate does not cover, a client that hung up) at debug —
// the internet sends many — and anything else at warn.
func (l Limits) Server(h http.Handler) *http.Server {
	s := &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout, IdleTimeout: l.IdleTimeout,
		MaxHeaderBytes: 64 << 10}
	if l.Log != nil {
		s.ErrorLog = log.New(serverLog{l.Log}, "", 0)
	}
	return s
}

// serverLog writes net/http's log lines to a slog.Logger.
type serverLog struct{ log *slog.Logger }

func (w serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		w.log.Debug(msg)
	} else {
		w.log.Warn(msg)
	}
	return len(p), nil
}

// Listener wraps ln with the per-address cap and the idle and write
// bounds. plain says whether the connections speak HTTP directly (not
// TLS): a refused one is then told why with a 429 before it is closed.
func (l Limits) Listener(ln net.Listener, plain bool) *LimitListener {
	return &LimitListener{Listener: ln, lim: l, plain: plain, open: map[netip.Addr]int{}}
}

// LimitListener is a listener with Limits.
type LimitListener struct {
	net.Listener
	lim   Limits
	plain bool

	mu       sync.Mutex
	open     map[netip.Addr]int
	refused  atomic.Uint64
	lastWarn atomic.Int64 // unix seconds of the last "refusing" warning
}

// refusal is what a refused plain-HTTP connection reads.
var refusal = func() []byte {
	body := `{"error":{"code":"rate_limited","message":"too many connections from this address"}}` + "\n"
	return []byte(fmt.Sprintf("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"+
		"Retry-After: 10\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}()

// Accept returns the next connection within the per-address cap; the ones
// over it are refused and closed here.
func (l *LimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !l.take(ip) {
			l.refuse(c, ip)
			continue
		}
		return &limitConn{Conn: c, l: l, ip: ip}, nil
	}
}

// Refused is the number of connections refused so far.
func (l *LimitListener) Refused() uint64 { return l.refused.Load() }

// Open is the number of connections open from ip.
func (l *LimitListener) Open(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

func (l *LimitListener) take(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.lim.MaxConnsPerIP {
		return false
	}
	l.open[ip]++
	return true
}

func (l *LimitListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

func (l *LimitListener) refuse(c net.Conn, ip netip.Addr) {
	l.refused.Add(1)
	if l.plain {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(refusal)
	}
	_ = c.Close()
	now := time.Now().Unix()
	if last := l.lastWarn.Load(); now-last >= 10 && l.lastWarn.CompareAndSwap(last, now) && l.lim.Log != nil {
		l.lim.Log.Warn("http: connection cap reached for a source address; refusing its new connections",
			"addr", ip.String(), "max_conns_per_ip", l.lim.MaxConnsPerIP, "refused_total", l.refused.Load())
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// limitConn applies the idle and write bounds whenever the HTTP server has
// set no deadline itself (a zero deadline means "none" to net/http, which
// clears them when it hands a connection over). Traffic either way keeps
// a connection alive: a write also pushes the idle read deadline on.
type limitConn struct {
	net.Conn
	l    *LimitListener
	ip   netip.Addr
	once sync.Once

	mu              sync.Mutex // orders deadline changes with the reads and writes that rely on them
	readDL, writeDL time.Time  // the deadlines set from outside; zero: none
}

func (c *limitConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if c.readDL.IsZero() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.lim.IdleTimeout))
	}
	c.mu.Unlock()
	return c.Conn.Read(b)
}

func (c *limitConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	now := time.Now()
	if c.writeDL.IsZero() {
		_ = c.Conn.SetWriteDeadline(now.Add(c.l.lim.WriteTimeout))
	}
	if c.readDL.IsZero() {
		_ = c.Conn.SetReadDeadline(now.Add(c.l.lim.IdleTimeout))
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *limitConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDL, c.writeDL = t, t
	return c.Conn.SetDeadline(t)
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDL = t
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDL = t
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite half-closes a TCP connection (net/http uses it to flush a
// response before closing).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
