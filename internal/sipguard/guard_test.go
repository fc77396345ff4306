package sipguard

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestLimiter(t *testing.T) {
	l := NewLimiter(10, 20, 4)
	now := time.Unix(1000, 0)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 20 {
		if ok, _ := l.Allow(a, now); !ok {
			t.Fatalf("burst: refused message %d", i)
		}
	}
	ok, newly := l.Allow(a, now)
	if ok || !newly {
		t.Fatalf("21st message at once: ok=%v newly=%v, want refused and newly blocked", ok, newly)
	}
	if _, newly := l.Allow(a, now); newly {
		t.Error("newlyBlocked reported twice for one blocked period")
	}
	if ok, _ := l.Allow(a, now.Add(100*time.Millisecond)); !ok {
		t.Error("after 100 ms at 10/s one token is back")
	}
	// a full table: new sources share one bucket, known ones keep theirs
	for i := 2; i <= 4; i++ {
		l.Allow(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), now)
	}
	if l.Len() != 4 {
		t.Fatalf("table %d, want 4", l.Len())
	}
	for i := range 200 {
		l.Allow(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), now)
	}
	if l.Len() > 4 {
		t.Fatalf("table grew to %d with max 4", l.Len())
	}
	if ok, _ := l.Allow(netip.AddrFrom4([4]byte{192, 0, 2, 3}), now); !ok {
		t.Error("a known source lost its bucket to a flood of new ones")
	}
	// once idle long enough, sources are swept and new ones get their own bucket
	later := now.Add(10 * time.Second)
	l.Allow(netip.MustParseAddr("203.0.113.1"), later)
	if _, ok := l.m[netip.MustParseAddr("203.0.113.1")]; !ok {
		t.Error("after the table went idle, a new source did not get a bucket")
	}
}

// testPolicy refuses INVITEs from untrusted sources and passes the rest.
type testPolicy struct{}

func (testPolicy) Decide(m *Msg, _ netip.AddrPort, _ string, trusted bool) Verdict {
	if m.MethodIs("OPTIONS") {
		return Verdict{Answer: &Answer{Code: 200, Reason: "OK"}}
	}
	if m.MethodIs("INVITE") && !trusted {
		return Verdict{Answer: &Answer{Code: 403, Reason: "Forbidden"}, Reason: "forbidden"}
	}
	return Verdict{Pass: true}
}

func request(method, callID string, extra ...string) string {
	return method + " sip:x@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + callID + ";rport\r\n" +
		"From: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:x@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\nMax-Forwards: 70\r\n" +
		strings.Join(extra, "") + "Content-Length: 0\r\n\r\n"
}

// udpPair is a guarded listener and a client socket; what passes is read
// from passed.
type udpPair struct {
	g       *Guard
	pc      *PacketConn
	cli     *net.UDPConn
	passed  chan string
	refused chan string
}

func newUDPPair(t *testing.T, o Options) *udpPair {
	t.Helper()
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpPair{passed: make(chan string, 100), refused: make(chan string, 10000)}
	o.hooks = func(reason string, _ netip.AddrPort) {
		select {
		case p.refused <- reason:
		default:
		}
	}
	if o.Policy == nil {
		o.Policy = testPolicy{}
	}
	p.g = New(o)
	p.pc = p.g.PacketConn(srv)
	if p.cli, err = net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, _, err := p.pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p.passed <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		p.cli.Close()
		wg.Wait()
	})
	return p
}

func (p *udpPair) roundTrip(t *testing.T, msg string) *sip.Response {
	t.Helper()
	if _, err := p.cli.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = p.cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := p.cli.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	m, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, buf[:n])
	}
	return m.(*sip.Response)
}

func TestPacketConn(t *testing.T) {
	p := newUDPPair(t, Options{})
	if r := p.roundTrip(t, request("INVITE", "a1")); r.StatusCode != 403 {
		t.Fatalf("untrusted INVITE: %d", r.StatusCode)
	}
	if r := p.roundTrip(t, request("OPTIONS", "a2")); r.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", r.StatusCode)
	}
	if r := p.roundTrip(t, strings.Replace(request("BYE", "a3"), "CSeq: 1 BYE", "CSeq: 1 INVITE", 1)); r.StatusCode != 400 {
		t.Fatalf("CSeq mismatch: %d", r.StatusCode)
	}
	if r := p.roundTrip(t, strings.Replace(request("BYE", "a3"), "SIP/2.0\r\n", "SIP/2.1\r\n", 1)); r.StatusCode != 505 {
		t.Fatalf("SIP/2.1: %d", r.StatusCode)
	}
	// garbage and keep-alives are dropped without an answer; a valid BYE passes
	for _, junk := range []string{"\r\n\r\n", "\x00\x00\x00", "GET / HTTP/1.1\r\n\r\n", "\x16\x03\x01garbage"} {
		if _, err := p.cli.Write([]byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.cli.Write([]byte(request("BYE", "a4"))); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-p.passed:
		if !strings.HasPrefix(got, "BYE ") {
			t.Fatalf("passed %q, want the BYE (and nothing before it)", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a valid BYE did not pass")
	}
	select {
	case <-p.pc.Ready():
	default:
		t.Error("Ready not closed after the first read")
	}
}

func TestPacketConnRateLimit(t *testing.T) {
	p := newUDPPair(t, Options{UntrustedRate: 5, UntrustedBurst: 10})
	for i := range 50 {
		if _, err := p.cli.Write([]byte(request("INVITE", fmt.Sprintf("flood%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	answers := 0
	buf := make([]byte, 4096)
	for {
		_ = p.cli.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := p.cli.Read(buf); err != nil {
			break
		}
		answers++
	}
	// the burst is answered (with 403); the rest is dropped unanswered
	if answers < 10 || answers > 12 {
		t.Fatalf("%d answers to 50 INVITEs at once with burst 10", answers)
	}
	limited := 0
	for len(p.refused) > 0 {
		if <-p.refused == "rate_limited" {
			limited++
		}
	}
	if limited < 38 {
		t.Errorf("%d counted as rate_limited", limited)
	}
}

// streamPair is a guarded TCP listener whose accepted connections are read
// by a goroutine the test owns.
type streamPair struct {
	g      *Guard
	addr   string
	passed chan string
	closed chan struct{}
}

func newStreamPair(t *testing.T, o Options) *streamPair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Policy == nil {
		o.Policy = testPolicy{}
	}
	p := &streamPair{g: New(o), addr: ln.Addr().String(), passed: make(chan string, 100), closed: make(chan struct{}, 100)}
	gl := p.g.Listener(ln, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := gl.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 32768)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.passed <- string(buf[:n])
					}
					if err != nil {
						p.closed <- struct{}{}
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return p
}

func TestStreamFramingAndPing(t *testing.T) {
	p := newStreamPair(t, Options{})
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bye := request("BYE", "s1")
	// two messages in pieces, with a keep-alive ping between them
	stream := "\r\n\r\n" + bye + "\r\n" + request("BYE", "s2")
	for i := 0; i < len(stream); i += 7 {
		if _, err := c.Write([]byte(stream[i:min(i+7, len(stream))])); err != nil {
			t.Fatal(err)
		}
	}
	pong := make([]byte, 2)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, pong); err != nil || string(pong) != "\r\n" {
		t.Fatalf("CRLFCRLF ping: got %q, %v (want a CRLF pong, RFC 5626)", pong, err)
	}
	for _, id := range []string{"s1", "s2"} {
		select {
		case got := <-p.passed:
			if !strings.Contains(got, "Call-ID: "+id+"\r\n") || !strings.HasSuffix(got, "\r\n\r\n") {
				t.Fatalf("passed %q, want the whole BYE %s", got, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("BYE %s did not pass", id)
		}
	}
	// an untrusted INVITE is answered on the connection; the stack never sees it
	if _, err := c.Write([]byte(request("INVITE", "s3"))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 403") {
		t.Fatalf("untrusted INVITE over TCP: %q %v", line, err)
	}
}

func TestStreamSlowlorisAndIdle(t *testing.T) {
	p := newStreamPair(t, Options{MessageTimeout: 300 * time.Millisecond, IdleTimeout: 600 * time.Millisecond})
	// slowloris: a message trickling in, a byte at a time, never finished
	slow, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		msg := request("BYE", "slow")
		for i := 0; i < len(msg)-4; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := slow.Write([]byte{msg[i]}); err != nil {
				return
			}
		}
	}()
	waitClosed(t, slow, 5*time.Second, "slowloris")
	// silent: connects and sends nothing
	silent, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitClosed(t, silent, 5*time.Second, "silent connection")
	// idle after a message
	idle, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Write([]byte(request("BYE", "idle"))); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, idle, 5*time.Second, "idle connection")
	deadline := time.Now().Add(5 * time.Second)
	for p.g.Conns() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.g.Conns(); n != 0 {
		t.Fatalf("%d connections still counted after all were closed", n)
	}
}

// waitClosed reads c until the far end closes it.
func waitClosed(t *testing.T, c net.Conn, within time.Duration, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s still open after %v", what, within)
		}
		return
	}
}

func TestStreamConnectionCaps(t *testing.T) {
	p := newStreamPair(t, Options{MaxConnsPerSource: 3, MaxConns: 5})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// the 4th from the same source is closed at once
	extra, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	waitClosed(t, extra, 5*time.Second, "connection over the per-source cap")
	// another source still gets in (127.0.0.2 is loopback too)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", p.addr)
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer other.Close()
	if _, err := other.Write([]byte(request("BYE", "other"))); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-p.passed:
		if !strings.Contains(got, "Call-ID: other") {
			t.Fatalf("passed %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second source was locked out by the first one's connections")
	}
}

func TestStreamMalformedClosesAfterAnswer(t *testing.T) {
	p := newStreamPair(t, Options{})
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bad := strings.Replace(request("BYE", "m1"), "CSeq: 1 BYE", "CSeq: 1 INVITE", 1)
	if _, err := c.Write([]byte(bad)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, _ := io.ReadAll(c)
	if !bytes.HasPrefix(all, []byte("SIP/2.0 400 ")) {
		t.Fatalf("got %q, want a 400 and then the close", all)
	}
}
