package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// limitServer serves h on 127.0.0.1:0 behind l; it is stopped with the test.
func limitServer(t *testing.T, l Limits, h http.Handler) (string, *LimitListener) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if l.Log == nil {
		l.Log = slog.New(slog.DiscardHandler)
	}
	ln := l.Listener(raw, true)
	srv := l.Server(h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return raw.Addr().String(), ln
}

func testLimits() Limits {
	return Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, WriteTimeout: time.Second,
		IdleTimeout: 500 * time.Millisecond, MaxConnsPerIP: 3}
}

// dialFrom opens a TCP connection to addr from the local address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c (a read ends) within d.
func closedWithin(c net.Conn, d time.Duration) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

func hello(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }

func get(t *testing.T, src, addr string) int {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 2 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET from %s: %v", src, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestLimitListenerCap: one address holds at most MaxConnsPerIP
// connections; the next is told 429 and closed at once; another address is
// served meanwhile; a closed connection frees its place.
func TestLimitListenerCap(t *testing.T) {
	l := testLimits()
	l.ReadHeaderTimeout, l.ReadTimeout = 5*time.Second, 5*time.Second
	addr, ln := limitServer(t, l, http.HandlerFunc(hello))
	var held []net.Conn
	for range 3 {
		held = append(held, dialFrom(t, "127.0.0.1", addr))
	}
	waitFor(t, 2*time.Second, "3 connections counted", func() bool { return ln.Open(netip.MustParseAddr("127.0.0.1")) == 3 })
	extra := dialFrom(t, "127.0.0.1", addr)
	got, closed := closedWithin(extra, time.Second)
	if !closed || !strings.HasPrefix(got, "HTTP/1.1 429 ") || !strings.Contains(got, `"rate_limited"`) {
		t.Fatalf("the 4th connection: closed=%v %q, want a 429 and close", closed, got)
	}
	if code := get(t, "127.0.0.2", addr); code != 200 {
		t.Fatalf("another address: %d", code)
	}
	held[0].Close()
	waitFor(t, 2*time.Second, "the closed connection released", func() bool { return ln.Open(netip.MustParseAddr("127.0.0.1")) == 2 })
	if code := get(t, "127.0.0.1", addr); code != 200 {
		t.Fatalf("after a release: %d", code)
	}
	if ln.Refused() != 1 {
		t.Fatalf("refused %d, want 1", ln.Refused())
	}
}

// TestLimitsSlowloris: headers sent a byte at a time (the slowloris
// attack) or never finished are cut at read_header_timeout; a body that
// trickles at read_timeout; an idle keep-alive at idle_timeout.
func TestLimitsSlowloris(t *testing.T) {
	l := testLimits()
	addr, ln := limitServer(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	trickle := func(c net.Conn, s string, stop <-chan struct{}) {
		for i := 0; ; i = (i + 1) % len(s) {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	start := time.Now()
	hdr := dialFrom(t, "127.0.0.1", addr)
	_, _ = io.WriteString(hdr, "GET / HTTP/1.1\r\nHost: x\r\n")
	wg.Add(1)
	go func() { defer wg.Done(); trickle(hdr, "X-A: b\r\n", stop) }()
	body := dialFrom(t, "127.0.0.1", addr)
	_, _ = io.WriteString(body, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	wg.Add(1)
	go func() { defer wg.Done(); trickle(body, "x", stop) }()
	if _, closed := closedWithin(hdr, 3*time.Second); !closed {
		t.Fatal("a slowloris header stayed open")
	}
	if d := time.Since(start); d < l.ReadHeaderTimeout {
		t.Fatalf("closed after %s, before read_header_timeout", d)
	}
	if _, closed := closedWithin(body, 3*time.Second); !closed {
		t.Fatal("a trickling body stayed open")
	}
	keep := dialFrom(t, "127.0.0.1", addr)
	_, _ = io.WriteString(keep, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(keep)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, closed := closedWithin(keep, 3*time.Second); !closed {
		t.Fatal("an idle keep-alive stayed open")
	}
	waitFor(t, 2*time.Second, "every connection released", func() bool { return ln.Open(netip.MustParseAddr("127.0.0.1")) == 0 })
}

// TestLimitsHandedOver: a WebSocket (hijacked) that sends nothing is
// closed after idle_timeout, one that pings stays open; a stream that
// writes outlives read_timeout and idle_timeout.
func TestLimitsHandedOver(t *testing.T) {
	l := testLimits()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			_ = c.Write(r.Context(), typ, b)
		}
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		w.WriteHeader(200)
		for i := 0; i < 12; i++ {
			if _, err := fmt.Fprintf(w, "ping %d\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	addr, _ := limitServer(t, l, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	silent, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.CloseNow()
	pinger, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pinger.CloseNow()
	start := time.Now()
	silentErr := make(chan error, 1)
	go func() { _, _, err := silent.Read(ctx); silentErr <- err }()
	// the pinger talks every 150 ms for 4 idle periods
	for time.Since(start) < 4*l.IdleTimeout {
		if err := pinger.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatalf("the pinging socket was closed after %s: %v", time.Since(start), err)
		}
		if _, _, err := pinger.Read(ctx); err != nil {
			t.Fatalf("the pinging socket was closed after %s: %v", time.Since(start), err)
		}
		select {
		case <-time.After(150 * time.Millisecond):
		case err := <-silentErr:
			silentErr <- err
		}
	}
	select {
	case err := <-silentErr:
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the silent socket: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the silent socket stayed open")
	}
	// 12 writes, 200 ms apart: 2.4 s > read_timeout and idle_timeout
	res, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !strings.Contains(string(b), "ping 11") {
		t.Fatalf("the stream was cut: %v after %q", err, b)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
