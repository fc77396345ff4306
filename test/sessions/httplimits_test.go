package sessions

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/testutil"
)

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// TestHTTPSlowlorisAndCap: 300 slowloris connections from one address
// (headers sent a byte at a time, never finished) against a hub capped at
// 250 per address: the 50 over the cap are refused at once with a 429,
// another address is served meanwhile, the 250 are closed after
// http.read_header_timeout, and the process's descriptors come back to
// where they were. A session WebSocket that sends nothing is closed after
// http.idle_timeout; one that pings stays.
func TestHTTPSlowlorisAndCap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 600 descriptors and timeouts (internal/api covers the mechanics)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := hubConfig(t, 22600, t.TempDir())
	cfg.HTTP.ReadHeaderTimeout = 2 * time.Second
	cfg.HTTP.ReadTimeout = 4 * time.Second
	cfg.HTTP.IdleTimeout = 3 * time.Second
	cfg.HTTP.MaxConnsPerIP = 250
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	http.DefaultClient.CloseIdleConnections()
	addr := cfg.HTTP.Listen
	base := openFDs(t)

	const n = 300
	conns := make([]net.Conn, 0, n)
	dialled := make([]time.Time, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for range n {
		at := time.Now()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		conns, dialled = append(conns, c), append(dialled, at)
	}
	peak := openFDs(t)
	// the attack goes on: a header byte every 100 ms on every connection
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func(attack []net.Conn) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, c := range attack {
				_, _ = c.Write([]byte("X"))
			}
		}
	}(conns)
	stopAttack := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopAttack()

	type result struct {
		reply  string
		closed time.Duration
	}
	results := make([]result, n)
	var rwg sync.WaitGroup
	for i, c := range conns {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, err := io.ReadAll(c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				results[i] = result{reply: "still open"}
				return
			}
			results[i] = result{reply: string(b), closed: time.Since(dialled[i])}
		}()
	}
	// while they hold their places, another address is served
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	res, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("another address during the attack: %v", err)
	}
	res.Body.Close()
	tr.CloseIdleConnections()
	if res.StatusCode != 200 {
		t.Fatalf("another address during the attack: %d", res.StatusCode)
	}
	rwg.Wait()
	refused, cut := 0, 0
	var lastCut time.Duration
	for i, r := range results {
		switch {
		case strings.HasPrefix(r.reply, "HTTP/1.1 429 "):
			refused++
			if r.closed > time.Second {
				t.Errorf("connection %d was refused only %s after it was opened", i, r.closed)
			}
		case r.reply == "still open":
			t.Errorf("connection %d is still open after 20 s", i)
		default:
			cut++
			lastCut = max(lastCut, dialled[i].Sub(start)+r.closed)
			if r.closed < cfg.HTTP.ReadHeaderTimeout-100*time.Millisecond {
				t.Errorf("connection %d was closed %s after it was opened, before read_header_timeout", i, r.closed)
			}
		}
	}
	if refused != n-cfg.HTTP.MaxConnsPerIP || cut != cfg.HTTP.MaxConnsPerIP {
		t.Errorf("%d refused and %d cut by the header timeout, want %d and %d", refused, cut, n-cfg.HTTP.MaxConnsPerIP, cfg.HTTP.MaxConnsPerIP)
	}
	stopAttack()
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	var now int
	waitUntil(t, 10*time.Second, "the descriptors back to their baseline", func() bool {
		now = openFDs(t)
		return now <= base
	})
	t.Logf("descriptors: %d before, %d with %d slowloris connections open, %d after; %d refused at once, %d cut within %s",
		base, peak, n, now, refused, cut, lastCut.Round(100*time.Millisecond))

	// WebSockets: silent → closed after idle_timeout; pinging → open.
	silent, _, err := websocket.Dial(ctx, wsURL(h, "entry=default"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.CloseNow()
	talker, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), 0, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	opened := time.Now()
	silentDone := make(chan time.Duration, 1)
	go func() {
		for {
			if _, _, err := silent.Read(ctx); err != nil {
				silentDone <- time.Since(opened)
				return
			}
		}
	}()
	var silentAfter time.Duration
	for time.Since(opened) < 2*cfg.HTTP.IdleTimeout || silentAfter == 0 {
		seen, i := len(talker.Frames()), 0
		if err := talker.Send(ctx, map[string]any{"type": "ping"}); err != nil {
			t.Fatalf("the pinging socket was closed after %s: %v", time.Since(opened), err)
		}
		if _, err := talker.WaitFor(ctx, func(m testutil.Message) bool { i++; return i > seen && m.Type == "pong" }); err != nil {
			t.Fatalf("the pinging socket was closed after %s: %v", time.Since(opened), err)
		}
		select {
		case silentAfter = <-silentDone:
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Fatal("the silent socket stayed open")
		}
	}
	if silentAfter < cfg.HTTP.IdleTimeout-200*time.Millisecond {
		t.Fatalf("the silent socket was closed after %s, before idle_timeout", silentAfter)
	}
	t.Logf("a silent session socket was closed after %s; a pinging one stayed %s", silentAfter.Round(100*time.Millisecond),
		time.Since(opened).Round(100*time.Millisecond))
}
