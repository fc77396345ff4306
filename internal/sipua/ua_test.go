package sipua

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media/rtpport"
)

// answerer is a Handler that answers every call and records what happens.
type answerer struct {
	mu     sync.Mutex
	calls  chan *Call
	states []State
	digits []rune
	reject int
}

func (a *answerer) Incoming(c *Call) {
	c.SetEvents(Events{
		OnState: func(s State, code int, reason string) { a.mu.Lock(); a.states = append(a.states, s); a.mu.Unlock() },
		OnDTMF:  func(d rune) { a.mu.Lock(); a.digits = append(a.digits, d); a.mu.Unlock() },
	})
	if a.reject != 0 {
		c.Reject(a.reject, "Busy Here")
		return
	}
	go func() {
		c.Ringing()
		if err := c.Answer(context.Background()); err == nil {
			a.calls <- c
		}
	}()
}

func (a *answerer) sawState(s State) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range a.states {
		if x == s {
			return true
		}
	}
	return false
}

func testUA(t testing.TB, sipPort, rtpBase int, h Handler, mutate func(*config.Config)) *UA {
	t.Helper()
	return testUALog(t, sipPort, rtpBase, h, mutate, nil)
}

// testUALog is testUA with its info-level log written to infoLog (nil: none).
func testUALog(t testing.TB, sipPort, rtpBase int, h Handler, mutate func(*config.Config), infoLog io.Writer) *UA {
	t.Helper()
	cfg := config.Default()
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort)).String()
	cfg.SIP.ListenUDP, cfg.SIP.ListenTCP = addr, ""
	// RTP ranges come from one counter, away from every test's SIP ports
	// (rtpBase only says the test wants media ports; 0 keeps the default)
	if rtpBase != 0 {
		rtpBase = nextRTPBase()
		cfg.RTP.PortMin, cfg.RTP.PortMax = rtpBase, rtpBase+40
	}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	pool, err := rtpport.New(netip.MustParseAddr("127.0.0.1"), cfg.RTP.PortMin, cfg.RTP.PortMax)
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = io.Discard
	if os.Getenv("SIPUA_TEST_LOG") != "" {
		w = os.Stderr
	}
	var handler slog.Handler = slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	if infoLog != nil {
		handler = slog.NewTextHandler(infoLog, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	log := slog.New(handler).With("ua", sipPort)
	u, err := New(cfg, log, pool, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

var rtpBases atomic.Int32

func nextRTPBase() int { return 40000 + 50*int(rtpBases.Add(1)) }

func trunkTo(port int, srtp string) func(*config.Config) {
	return func(c *config.Config) {
		c.SIP.Trunks = []config.Trunk{{Name: "b", URI: "sip:127.0.0.1:" + itoa(port), Transport: "udp",
			Codecs: []string{"PCMU"}, SRTP: srtp, InboundFrom: []string{"127.0.0.1"}}}
		c.SIP.DefaultTo = "b"
	}
}

func itoa(n int) string { return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)).String()[8:] }

// pump sends 20 ms PCMU frames into t until stop closes.
func pump(tr *leg.Track, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	var seq uint16
	var ts uint32
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			seq++
			ts += 160
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			for i := 12; i < len(pkt); i++ {
				pkt[i] = byte(i) // recognisable payload
			}
			_ = tr.In.WriteRTP(pkt)
		}
	}
}

type counter struct{ n, bad atomic.Int64 }

func (c *counter) WriteRTP(pkt []byte) error {
	if len(pkt) == 12+160 && pkt[12+50] == byte(12+50) {
		c.n.Add(1)
	} else if pkt[1]&0x7f == 0 {
		c.bad.Add(1)
	}
	return nil
}

func runCall(t *testing.T, srtp string, basePort int) {
	b := &answerer{calls: make(chan *Call, 1)}
	ub := testUA(t, basePort+1, basePort+100, b, func(c *config.Config) {
		c.SIP.Allow = []string{"127.0.0.1"}
		if srtp != "" {
			trunkTo(basePort, srtp)(c)
		}
	})
	_ = ub
	ua := testUA(t, basePort, basePort+200, &answerer{calls: make(chan *Call, 1)}, trunkTo(basePort+1, srtp))
	tr, to, err := ua.Resolve("bob")
	if err != nil {
		t.Fatal(err)
	}
	var states []State
	var mu sync.Mutex
	ca, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice", Events: Events{
		OnState: func(s State, code int, reason string) { mu.Lock(); states = append(states, s); mu.Unlock() },
	}})
	if err != nil {
		t.Fatal(err)
	}
	var cb *Call
	select {
	case cb = <-b.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("callee never answered")
	}
	var recvA, recvB counter
	ca.Audio().SetOutput(&recvA)
	cb.Audio().SetOutput(&recvB)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go pump(ca.Audio(), stop, &wg)
	go pump(cb.Audio(), stop, &wg)
	time.Sleep(600 * time.Millisecond)
	if err := ca.SendDTMF(context.Background(), "5#"); err != nil {
		t.Fatal(err)
	}
	if err := ca.SetHold(context.Background(), true); err != nil {
		t.Fatalf("hold: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if !b.sawState(StateHeld) {
		t.Error("callee did not see the hold")
	}
	if err := ca.SetHold(context.Background(), false); err != nil {
		t.Fatalf("resume: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if recvA.n.Load() < 20 || recvB.n.Load() < 20 {
		t.Fatalf("RTP both ways: caller got %d, callee got %d (undecodable: %d/%d)", recvA.n.Load(), recvB.n.Load(), recvA.bad.Load(), recvB.bad.Load())
	}
	b.mu.Lock()
	digits := string(b.digits)
	b.mu.Unlock()
	if digits != "5#" {
		t.Errorf("RFC 4733 digits at callee = %q, want 5#", digits)
	}
	// RTCP: a sender report from the caller reaches the callee (also through SRTCP).
	ca.audio.sendReport()
	cb.audio.sendReport()
	deadline := time.Now().Add(2 * time.Second)
	for (cb.audio.stats.RTCPReceived.Load() == 0 || ca.audio.stats.RTCPReceived.Load() == 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if cb.audio.stats.RTCPReceived.Load() == 0 || ca.audio.stats.RTCPReceived.Load() == 0 {
		t.Errorf("RTCP SR/RR not received: callee %d, caller %d", cb.audio.stats.RTCPReceived.Load(), ca.audio.stats.RTCPReceived.Load())
	}
	// SIP INFO DTMF (for PBXs without telephone-event) is accepted too.
	if err := ca.sendInfoDTMF(context.Background(), '7'); err != nil {
		t.Errorf("INFO: %v", err)
	}
	b.mu.Lock()
	digits = string(b.digits)
	b.mu.Unlock()
	if digits != "5#7" {
		t.Errorf("digits after INFO = %q, want 5#7", digits)
	}
	if srtp == "sdes" && ca.audio.srtpIn.Load() == nil {
		t.Error("SRTP not keyed")
	}
	ca.Hangup(context.Background(), 200, "bye")
	select {
	case <-cb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("BYE did not end the callee's call")
	}
	if code, _ := cb.End(); code != 200 {
		t.Errorf("callee end code %d", code)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(states) == 0 || states[len(states)-1] != StateEnded {
		t.Errorf("caller states %v", states)
	}
}

func TestCallMediaDTMFHoldBye(t *testing.T) { runCall(t, "", 25100) }

func TestCallSDESSRTP(t *testing.T) { runCall(t, "sdes", 25300) }

func TestInviteFromUnlistedSourceIs403(t *testing.T) {
	b := &answerer{calls: make(chan *Call, 1)}
	testUA(t, 25501, 25600, b, func(c *config.Config) { c.SIP.Allow = []string{"10.0.0.0/8"} })
	ua := testUA(t, 25500, 25700, &answerer{}, trunkTo(25501, ""))
	tr, to, _ := ua.Resolve("bob")
	c, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no final response")
	}
	if code, _ := c.End(); code != 403 {
		t.Fatalf("end code %d, want 403", code)
	}
	if len(b.calls) != 0 || b.sawState(StateRinging) {
		t.Fatal("a forbidden call reached the handler")
	}
}

func TestRejectAndCancel(t *testing.T) {
	b := &answerer{calls: make(chan *Call, 1), reject: 486}
	testUA(t, 25801, 25900, b, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} })
	ua := testUA(t, 25800, 25950, &answerer{}, trunkTo(25801, ""))
	tr, to, _ := ua.Resolve("bob")
	c, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if code, _ := c.End(); code != 486 {
		t.Fatalf("end code %d, want 486", code)
	}
}

func TestResolveOnlyTrunks(t *testing.T) {
	ua := testUA(t, 26000, 26100, &answerer{}, trunkTo(26001, ""))
	if _, to, err := ua.Resolve("1000"); err != nil || to.Host != "127.0.0.1" || to.User != "1000" {
		t.Fatalf("bare number via default trunk: %v %v", to, err)
	}
	if _, _, err := ua.Resolve("sip:1000@127.0.0.1:26001"); err != nil {
		t.Fatalf("URI on the trunk: %v", err)
	}
	for _, bad := range []string{"sip:1000@evil.example.com", "sip:1000@127.0.0.1:5099", "", "a b", "<sip:x>"} {
		if _, _, err := ua.Resolve(bad); err == nil {
			t.Errorf("%q resolved; only configured trunks may be dialled", bad)
		}
	}
}

func TestParseInfoDTMF(t *testing.T) {
	for in, want := range map[string]rune{"5": '5', "10": '*', "11": '#', "a": 'A'} {
		if got, ok := dtmfRune(in); !ok || got != want {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
	if _, ok := dtmfRune("x"); ok {
		t.Error("x accepted")
	}
}
