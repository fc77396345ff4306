package sipua

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
)

// rawPeer is a SIP peer written by hand on a UDP socket: it sends exactly
// the bytes a test gives it (forged, malformed, bursts) and reads what
// comes back.
type rawPeer struct {
	t    *testing.T
	c    *net.UDPConn
	port int
	to   *net.UDPAddr
}

func newRawPeer(t *testing.T, hubPort int) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, c: c, port: c.LocalAddr().(*net.UDPAddr).Port, to: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: hubPort}}
}

func (p *rawPeer) send(msg string) {
	p.t.Helper()
	if _, err := p.c.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next SIP message (skipping what does not match keep).
func (p *rawPeer) recv(within time.Duration, keep func(sip.Message) bool) (sip.Message, *net.UDPAddr) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	buf := make([]byte, 65535)
	for {
		_ = p.c.SetReadDeadline(deadline)
		n, from, err := p.c.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("nothing received within %v: %v", within, err)
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			p.t.Fatalf("unparseable message from the hub: %v\n%s", err, buf[:n])
		}
		if keep == nil || keep(m) {
			return m, from
		}
	}
}

func (p *rawPeer) response(within time.Duration, cseqMethod sip.RequestMethod) *sip.Response {
	p.t.Helper()
	m, _ := p.recv(within, func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.CSeq() != nil && r.CSeq().MethodName == cseqMethod && r.StatusCode >= 200
	})
	return m.(*sip.Response)
}

const sdpOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"

func (p *rawPeer) request(method, ruri, callID, fromTag, toTag string, cseq int, body string) string {
	to := "<" + ruri + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	from := "<sip:phone@127.0.0.1>"
	if fromTag != "" {
		from += ";tag=" + fromTag
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s%d%s;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:phone@127.0.0.1:%d>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, ruri, p.port, method, cseq, fromTag, from, to, callID, cseq, method, p.port, ct, len(body), body)
}

// One datagram without a Call-ID used to kill the hub (nil pointer in the
// INVITE path). It is answered 400, and the hub goes on answering.
func TestInviteWithoutCallIDIs400(t *testing.T) {
	b := &answerer{calls: make(chan *Call, 1)}
	testUA(t, 27301, 26300, b, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} })
	p := newRawPeer(t, 27301)
	inv := p.request("INVITE", "sip:bob@127.0.0.1:27301", "nocid", "f1", "", 1, fmt.Sprintf(sdpOffer, 40000))
	inv = strings.Replace(inv, "Call-ID: nocid\r\n", "", 1)
	p.send(inv)
	if r := p.response(5*time.Second, sip.INVITE); r.StatusCode != 400 {
		t.Fatalf("INVITE without Call-ID: %d %s, want 400", r.StatusCode, r.Reason)
	}
	p.send(p.request("OPTIONS", "sip:127.0.0.1:27301", "alive", "f2", "", 1, ""))
	if r := p.response(5*time.Second, sip.OPTIONS); r.StatusCode != 200 {
		t.Fatalf("OPTIONS after it: %d", r.StatusCode)
	}
	if len(b.calls) != 0 {
		t.Fatal("a call was created")
	}
}

// The INVITE handler itself (what sipgo would call if the guard were
// bypassed) answers 400 to a request without Call-ID instead of panicking.
func TestOnInviteWithoutCallID(t *testing.T) {
	u := testUA(t, 27302, 26350, &answerer{}, nil)
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1"})
	req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5099, Params: sip.NewParams()})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "a", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", "f1")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1"}, Params: sip.NewParams()})
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.SetSource("127.0.0.1:5099")
	tx := &recordTx{done: make(chan struct{})}
	u.safe("INVITE", u.onInvite)(req, tx)
	if len(tx.res) == 0 || tx.res[len(tx.res)-1].StatusCode != 400 {
		t.Fatalf("responses %v, want 400", tx.res)
	}
}

// recordTx is a server transaction that keeps what is answered on it.
type recordTx struct {
	res  []*sip.Response
	done chan struct{}
}

func (r *recordTx) Respond(res *sip.Response) error    { r.res = append(r.res, res); return nil }
func (r *recordTx) Acks() <-chan *sip.Request          { return nil }
func (r *recordTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (r *recordTx) Terminate()                         {}
func (r *recordTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (r *recordTx) Done() <-chan struct{}              { return r.done }
func (r *recordTx) Err() error                         { return nil }

type panicker struct{ n int }

func (p *panicker) Incoming(c *Call) {
	p.n++
	if p.n == 1 {
		var m map[string]int
		m["boom"]++ // a bug in a handler
	}
	c.Reject(486, "Busy Here")
}

// A panic in a per-message handler answers 500 and costs nothing else.
func TestHandlerPanicIs500(t *testing.T) {
	testUA(t, 27303, 26400, &panicker{}, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} })
	p := newRawPeer(t, 27303)
	p.send(p.request("INVITE", "sip:bob@127.0.0.1:27303", "panic1", "f1", "", 1, fmt.Sprintf(sdpOffer, 40002)))
	if r := p.response(5*time.Second, sip.INVITE); r.StatusCode != 500 {
		t.Fatalf("INVITE into a panicking handler: %d, want 500", r.StatusCode)
	}
	p.send(p.request("INVITE", "sip:bob@127.0.0.1:27303", "panic2", "f2", "", 1, fmt.Sprintf(sdpOffer, 40004)))
	if r := p.response(5*time.Second, sip.INVITE); r.StatusCode != 486 {
		t.Fatalf("next INVITE: %d, want the handler's 486", r.StatusCode)
	}
}

// answeredCall sets up a call from p to u's answerer and returns its
// Call-ID, the hub's To tag and the call.
func answeredCall(t *testing.T, p *rawPeer, hubPort int, b *answerer, callID, fromTag string) (string, *Call) {
	t.Helper()
	ruri := fmt.Sprintf("sip:bob@127.0.0.1:%d", hubPort)
	p.send(p.request("INVITE", ruri, callID, fromTag, "", 10, fmt.Sprintf(sdpOffer, 40010)))
	ok := p.response(5*time.Second, sip.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE: %d", ok.StatusCode)
	}
	toTag, _ := ok.To().Params.Get("tag")
	p.send(p.request("ACK", ruri, callID, fromTag, toTag, 10, ""))
	select {
	case c := <-b.calls:
		return toTag, c
	case <-time.After(5 * time.Second):
		t.Fatal("call not answered")
	}
	return "", nil
}

// Knowing a Call-ID is not enough to hang up or re-INVITE a call: in-dialog
// requests are matched by Call-ID and both tags (RFC 3261 §12.2.2), and
// must not go back in CSeq.
func TestDialogMatchingNeedsBothTags(t *testing.T) {
	b := &answerer{calls: make(chan *Call, 1)}
	var logs syncBuf
	testUALog(t, 27304, 26450, b, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} }, &logs)
	p := newRawPeer(t, 27304)
	ruri := "sip:bob@127.0.0.1:27304"
	toTag, c := answeredCall(t, p, 27304, b, "dlg1", "caller1")
	forged := []struct {
		name, method, from, to string
		cseq                   int
		want                   int
	}{
		{"BYE with no tags", "BYE", "", "", 11, 481},
		{"BYE with a wrong From tag", "BYE", "someone", toTag, 11, 481},
		{"BYE with a wrong To tag", "BYE", "caller1", "guess", 11, 481},
		{"re-INVITE with a wrong From tag", "INVITE", "someone", toTag, 12, 481},
		{"BYE older than the INVITE", "BYE", "caller1", toTag, 9, 500},
	}
	for _, f := range forged {
		body := ""
		if f.method == "INVITE" {
			body = fmt.Sprintf(sdpOffer, 40020)
		}
		p.send(p.request(f.method, ruri, "dlg1", f.from, f.to, f.cseq, body))
		if r := p.response(5*time.Second, sip.RequestMethod(f.method)); r.StatusCode != f.want {
			t.Errorf("%s: %d, want %d", f.name, r.StatusCode, f.want)
		}
		select {
		case <-c.Done():
			t.Fatalf("%s ended the call", f.name)
		default:
		}
	}
	p.send(p.request("BYE", ruri, "dlg1", "caller1", toTag, 13, ""))
	if r := p.response(5*time.Second, sip.BYE); r.StatusCode != 200 {
		t.Fatalf("the real BYE: %d", r.StatusCode)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the real BYE did not end the call")
	}
	// the info-level log names the Call-ID (operators correlate by it) but
	// never the tags a forged request would need with it
	out := logs.String()
	if !strings.Contains(out, "dlg1") {
		t.Errorf("the Call-ID is not in the log at all:\n%s", out)
	}
	for _, tag := range []string{toTag, "caller1"} {
		if strings.Contains(out, tag) {
			t.Errorf("dialog tag %q is in the info-level log:\n%s", tag, out)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// rawUAS answers every INVITE with 100, 180 and 200 in one burst (an
// auto-answering phone: the responses leave microseconds apart), records
// where requests came from, and answers BYE.
type rawUAS struct {
	c       *net.UDPConn
	rtp     *net.UDPConn
	mu      sync.Mutex
	sources []netip.AddrPort
	wg      sync.WaitGroup
}

func newRawUAS(t *testing.T) *rawUAS {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUAS{c: c, rtp: rtp}
	u.wg.Add(1)
	go u.run()
	t.Cleanup(func() {
		c.Close()
		rtp.Close()
		u.wg.Wait()
	})
	return u
}

func (u *rawUAS) port() int { return u.c.LocalAddr().(*net.UDPAddr).Port }

func (u *rawUAS) run() {
	defer u.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := u.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		req, ok := m.(*sip.Request)
		if !ok {
			continue
		}
		u.mu.Lock()
		u.sources = append(u.sources, from)
		u.mu.Unlock()
		reply := func(code int, reason string, body string) []byte {
			res := sip.NewResponseFromRequest(req, code, reason, nil)
			if code > 100 {
				res.To().Params.Add("tag", "uas1")
				res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: u.port()}})
			}
			if body != "" {
				res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
				res.SetBody([]byte(body))
			}
			return []byte(res.String())
		}
		switch req.Method {
		case sip.INVITE:
			var burst [][]byte
			burst = append(burst, reply(100, "Trying", ""), reply(180, "Ringing", ""),
				reply(200, "OK", fmt.Sprintf(sdpOffer, u.rtp.LocalAddr().(*net.UDPAddr).Port)))
			for _, b := range burst {
				_, _ = u.c.WriteToUDPAddrPort(b, from)
			}
		case sip.BYE:
			_, _ = u.c.WriteToUDPAddrPort(reply(200, "OK", ""), from)
		}
	}
}

// A phone that sends 180 and 200 back to back is reported ringing, then
// answered — every time, never answered-then-ringing or without ringing
// (sipgo hands each response to a goroutine of its own). And every request
// the hub sends leaves from its listening port, where a registrar or an
// Asterisk identify by address and port expects it.
func TestProvisionalOrderAndSourcePort(t *testing.T) {
	uas := newRawUAS(t)
	ua := testUA(t, 27305, 26500, &answerer{}, trunkTo(uas.port(), ""))
	tr, to, err := ua.Resolve("bob")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		var mu sync.Mutex
		var states []State
		c, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice", Events: Events{
			OnState: func(s State, _ int, _ string) { mu.Lock(); states = append(states, s); mu.Unlock() },
		}})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for c.State() != StateActive && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		c.Hangup(context.Background(), 200, "done")
		<-c.Done()
		mu.Lock()
		got := fmt.Sprint(states)
		mu.Unlock()
		if got != fmt.Sprint([]State{StateRinging, StateActive, StateEnded}) {
			t.Fatalf("call %d: states %s, want [ringing active ended]", i, got)
		}
	}
	uas.mu.Lock()
	defer uas.mu.Unlock()
	if len(uas.sources) < 60 { // INVITE, ACK and BYE of each call (ACK may be counted too)
		t.Fatalf("only %d requests reached the phone", len(uas.sources))
	}
	for _, s := range uas.sources {
		if s.Port() != 27305 {
			t.Fatalf("a request came from port %d, want the listening port 27305", s.Port())
		}
	}
}

// RFC 4733 events the hub generates follow the audio stream's timeline on
// the same SSRC (they used to carry random timestamps: the far end then
// measured 28 s of jitter).
func TestDTMFFollowsTheAudioTimeline(t *testing.T) {
	uas := newRawUAS(t)
	ua := testUA(t, 27306, 26550, &answerer{}, trunkTo(uas.port(), ""))
	tr, to, _ := ua.Resolve("bob")
	c, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(context.Background(), 200, "done")
	deadline := time.Now().Add(5 * time.Second)
	for c.State() != StateActive && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if c.Audio().SendDTMF().PT != 101 {
		t.Fatalf("telephone-event not negotiated: %+v", c.Audio().SendDTMF())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go pump(c.Audio(), stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	type pkt struct {
		pt   uint8
		ssrc uint32
		ts   uint32
		at   time.Time
	}
	got := make(chan pkt, 1000)
	go func() {
		buf := make([]byte, 1500)
		for {
			_ = uas.rtp.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := uas.rtp.Read(buf)
			if err != nil {
				close(got)
				return
			}
			if n >= 12 {
				got <- pkt{buf[1] & 0x7f, binary.BigEndian.Uint32(buf[8:]), binary.BigEndian.Uint32(buf[4:]), time.Now()}
			}
		}
	}()
	// audio first, then a digit
	var audio []pkt
	for p := range got {
		if p.pt == 0 {
			audio = append(audio, p)
		}
		if len(audio) >= 10 {
			break
		}
	}
	if err := c.SendDTMF(context.Background(), "5"); err != nil {
		t.Fatal(err)
	}
	var event *pkt
	for p := range got {
		if p.pt == 0 {
			audio = append(audio, p)
		}
		if p.pt == 101 && event == nil {
			p := p
			event = &p
			break
		}
	}
	if event == nil {
		t.Fatal("no telephone-event packet")
	}
	last := audio[len(audio)-1]
	if event.ssrc != last.ssrc {
		t.Errorf("event SSRC %08x, audio %08x: one stream", event.ssrc, last.ssrc)
	}
	// where the audio clock says the event should be (8 kHz)
	want := last.ts + uint32(event.at.Sub(last.at).Seconds()*8000)
	if d := int32(event.ts - want); d < -800 || d > 800 { // 100 ms
		t.Fatalf("event timestamp %d is %d ticks (%.0f ms) off the audio timeline", event.ts, d, float64(d)/8)
	}
}

type redirector struct{ to sip.Uri }

func (r redirector) Incoming(c *Call) { c.Redirect(r.to) }

// Redirect answers 302 with one Contact: the called user at the given
// address, its transport parameter kept (a cluster node sending an INVITE
// to the session's owner); the caller's ACK ends the transaction.
func TestRedirect(t *testing.T) {
	to := sip.Uri{Scheme: "sip", Host: "10.0.0.2", Port: 5070, UriParams: sip.NewParams()}
	to.UriParams.Add("transport", "tcp")
	testUA(t, 27307, 26500, redirector{to: to}, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} })
	p := newRawPeer(t, 27307)
	p.send(p.request("INVITE", "sip:agent1@127.0.0.1:27307", "redir1", "f1", "", 1, fmt.Sprintf(sdpOffer, 40020)))
	r := p.response(5*time.Second, sip.INVITE)
	if r.StatusCode != 302 {
		t.Fatalf("INVITE: %d, want 302", r.StatusCode)
	}
	ct := r.Contact()
	if ct == nil || ct.Address.User != "agent1" || ct.Address.Host != "10.0.0.2" || ct.Address.Port != 5070 {
		t.Fatalf("Contact %v", ct)
	}
	if tr, _ := ct.Address.UriParams.Get("transport"); tr != "tcp" {
		t.Fatalf("Contact %v lost its transport", ct)
	}
}
