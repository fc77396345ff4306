package sipua_test

// Real-time text on SIP calls (RFC 4103 red/t140, docs/interpreter.md §6.4)
// against testutil's RFC 4103 peer, which is written from the RFCs and not
// from internal/rtt. An external test package: testutil imports the hub,
// which imports sipua.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media/rtpport"
	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/testutil"
)

// SIP ports of this file: 29100-29149 (grep before adding); RTP 47000-47999.

type textHub struct {
	ua   *sipua.UA
	pool *rtpport.Pool
}

type answerAll struct{ calls chan *sipua.Call }

func (a *answerAll) Incoming(c *sipua.Call) {
	go func() {
		if err := c.Answer(context.Background()); err == nil {
			a.calls <- c
		}
	}()
}

// startTextHub starts a UA on sipPort with trunk "b" to peerPort.
func startTextHub(t *testing.T, sipPort, peerPort, rtpBase int, text bool, h sipua.Handler) *textHub {
	t.Helper()
	cfg := config.Default()
	cfg.SIP.ListenUDP, cfg.SIP.ListenTCP = "127.0.0.1:"+strconv.Itoa(sipPort), ""
	cfg.RTP.PortMin, cfg.RTP.PortMax = rtpBase, rtpBase+40
	cfg.SIP.Trunks = []config.Trunk{{Name: "b", URI: "sip:127.0.0.1:" + strconv.Itoa(peerPort), Transport: "udp",
		Codecs: []string{"PCMU"}, InboundFrom: []string{"127.0.0.1"}, Text: text}}
	cfg.SIP.DefaultTo = "b"
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
	if h == nil {
		h = &answerAll{calls: make(chan *sipua.Call, 1)}
	}
	ua, err := sipua.New(cfg, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), pool, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ua.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return &textHub{ua: ua, pool: pool}
}

func startTextUAS(t *testing.T, port int, o testutil.UASOptions) *testutil.SIPUAS {
	t.Helper()
	o.Listen = "127.0.0.1:" + strconv.Itoa(port)
	u, err := testutil.StartUAS(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial calls "bob" on trunk b and waits for the answer and the UAS's call.
func (h *textHub) dial(t *testing.T, u *testutil.SIPUAS) (*sipua.Call, *testutil.SIPCall) {
	t.Helper()
	tr, to, err := h.ua.Resolve("bob")
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.ua.Dial(context.Background(), sipua.DialOptions{Trunk: tr, To: to, FromUser: "web"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the answer", func() bool { return c.State() == sipua.StateActive })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	uc, err := u.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, uc
}

// textSink collects OnText.
type textSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *textSink) add(text string) { s.mu.Lock(); s.b.WriteString(text); s.mu.Unlock() }
func (s *textSink) String() string  { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// textGoroutines counts goroutines running the text code of either side.
func textGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("sipua.(*textStream)")) || bytes.Contains(g, []byte("testutil.(*RFC4103Peer)")) {
			n++
		}
	}
	return n
}

func hangup(t *testing.T, c *sipua.Call) {
	t.Helper()
	c.Hangup(context.Background(), 200, "done")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("call did not end")
	}
}

// TestTextOutbound: a call on a text trunk offers m=text (red 100 over
// t140 98, three generations, cps=30) on a port of its own; text goes both
// ways in order; a loss of one or two packets is recovered from red, a loss
// of three marks the gap with one U+FFFD; when the call ends the port goes
// back to the pool and no text goroutine is left (ours or the peer's).
func TestTextOutbound(t *testing.T) {
	u := startTextUAS(t, 29101, testutil.UASOptions{Text: true})
	h := startTextHub(t, 29100, 29101, 47000, true, nil)
	idle := testutil.IdleNow()
	baseG := textGoroutines()

	c, uc := h.dial(t, u)
	offer := string(uc.Invite.Body())
	for _, want := range []string{
		`(?m)^m=text [1-9][0-9]* RTP/AVP 100 98\r$`,
		`(?m)^a=rtpmap:100 red/1000\r$`, `(?m)^a=fmtp:100 98/98/98\r$`,
		`(?m)^a=rtpmap:98 t140/1000\r$`, `(?m)^a=fmtp:98 cps=30\r$`,
	} {
		if !regexp.MustCompile(want).MatchString(offer) {
			t.Errorf("INVITE SDP lacks %s:\n%s", want, offer)
		}
	}
	t.Logf("offer's text section:\n%s", offer[strings.Index(offer, "m=text"):])
	if !c.HasText() || !uc.HasText() {
		t.Fatalf("text negotiated: hub %v, peer %v", c.HasText(), uc.HasText())
	}
	if n := h.pool.InUse(); n != 2 {
		t.Errorf("%d port pairs in use during the call, want 2 (audio, text)", n)
	}
	var got textSink
	c.OnText(got.add)

	// hub → phone, in order, CR LF sent as the T.140 line separator
	for _, s := range []string{"Hel", "lo, ", "wörld 👋\r\n", "bye"} {
		if err := c.SendText(s); err != nil {
			t.Fatal(err)
		}
	}
	want := "Hello, wörld 👋\u2028bye"
	eventually(t, 5*time.Second, "the text at the phone", func() bool { return uc.ReceivedText() == want })

	// phone → hub
	peer := uc.Text()
	peer.Send("hi there")
	eventually(t, 5*time.Second, "the phone's text", func() bool { return got.String() == "hi there" })

	// losses on the phone's side: 1 and 2 packets recovered, 3 marked once
	for _, tc := range []struct {
		drop   int
		blocks []string
		want   string
	}{
		{1, []string{"A", "B"}, "AB"},
		{2, []string{"C", "D", "E"}, "CDE"},
		{3, []string{"F", "G", "H", "I"}, "\uFFFDGHI"},
	} {
		eventually(t, 5*time.Second, "the peer idle", peer.Idle)
		before := got.String()
		peer.DropNext(tc.drop)
		peer.SendBlocks(tc.blocks...)
		eventually(t, 5*time.Second, "text after dropping "+strconv.Itoa(tc.drop), func() bool {
			return got.String() == before+tc.want
		})
	}
	if n := strings.Count(got.String(), "\uFFFD"); n != 1 {
		t.Errorf("%d U+FFFD in %q, want 1", n, got.String())
	}
	st := c.TextStats()
	t.Logf("hub text stats: %+v", st)
	if st.Recovered != 5 || st.Lost != 1 || st.Malformed != 0 || st.CharsOut != uint64(len([]rune(want))) || st.PacketsIn == 0 || st.PacketsOut == 0 {
		t.Errorf("stats %+v: want 5 recovered, 1 lost, 0 malformed, %d chars out", st, len([]rune(want)))
	}
	if pk, marks, bad := peer.ReceiveStats(); marks != 0 || bad != 0 {
		t.Errorf("peer saw %d packets, %d losses, %d bad: want no loss", pk, marks, bad)
	}
	// a second burst after idle: marker again, same SSRC, continuous numbers
	if err := c.SendText("!"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the second burst", func() bool { return uc.ReceivedText() == want+"!" })
	viol, markers := peer.Violations()
	for _, v := range viol {
		t.Errorf("RFC 4103 peer: %s", v)
	}
	if markers != 2 {
		t.Errorf("%d packets with the marker bit, want 2 (one per burst)", markers)
	}

	hangup(t, c)
	if err := c.SendText("late"); !errors.Is(err, sipua.ErrNoText) {
		t.Errorf("SendText after the end: %v, want ErrNoText", err)
	}
	if n := h.pool.InUse(); n != 0 {
		t.Errorf("%d port pairs in use after the call, want 0 (the text port goes back)", n)
	}
	eventually(t, 5*time.Second, "the text goroutines to stop", func() bool { return textGoroutines() <= baseG })
	if left := testutil.WaitIdle(idle, 10*time.Second); left != "" {
		t.Error(left)
	}
}

// TestTextNotOffered: a trunk without text: true offers no m=text, even to a
// text-capable phone, and the call has no text.
func TestTextNotOffered(t *testing.T) {
	u := startTextUAS(t, 29111, testutil.UASOptions{Text: true})
	h := startTextHub(t, 29110, 29111, 47100, false, nil)
	c, uc := h.dial(t, u)
	if strings.Contains(string(uc.Invite.Body()), "m=text") {
		t.Errorf("INVITE offers text on a trunk without text:\n%s", uc.Invite.Body())
	}
	if c.HasText() || uc.HasText() {
		t.Error("text without an offer")
	}
	if err := c.SendText("x"); !errors.Is(err, sipua.ErrNoText) {
		t.Errorf("SendText: %v, want ErrNoText", err)
	}
	if n := h.pool.InUse(); n != 1 {
		t.Errorf("%d port pairs in use, want 1 (audio)", n)
	}
	hangup(t, c)
}

// TestTextRefusedByAnswer: a phone that answers m=text with port 0, or
// leaves it out, gets a call without text: the call is up, audio flows, the
// text port is back in the pool at once.
func TestTextRefusedByAnswer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          testutil.UASOptions
		sip, rtp   int
		answerText string
	}{
		{"port 0", testutil.UASOptions{Text: true, TextRefuse: true}, 29120, 47200, "m=text 0 "},
		{"omitted", testutil.UASOptions{}, 29122, 47300, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := startTextUAS(t, tc.sip+1, tc.o)
			h := startTextHub(t, tc.sip, tc.sip+1, tc.rtp, true, nil)
			c, uc := h.dial(t, u)
			if !strings.Contains(string(uc.Invite.Body()), "m=text ") {
				t.Fatal("no m=text offered")
			}
			if c.HasText() {
				t.Error("HasText after the answer refused text")
			}
			if err := c.SendText("x"); !errors.Is(err, sipua.ErrNoText) {
				t.Errorf("SendText: %v, want ErrNoText", err)
			}
			eventually(t, 5*time.Second, "the text port back", func() bool { return h.pool.InUse() == 1 })
			eventually(t, 5*time.Second, "audio from the phone", func() bool { return c.AudioStats().PacketsReceived > 10 })
			if c.State() != sipua.StateActive {
				t.Errorf("state %v, want active", c.State())
			}
			hangup(t, c)
			if n := h.pool.InUse(); n != 0 {
				t.Errorf("%d port pairs in use after the call", n)
			}
		})
	}
}

// TestTextInbound: a phone's INVITE with m=text to a trunk with text: true
// is answered with text (red, the phone's payload types) and text flows
// both ways; to a trunk without text the m=text is answered with port 0
// and the call is answered all the same.
func TestTextInbound(t *testing.T) {
	for _, tc := range []struct {
		name     string
		text     bool
		sip, rtp int
	}{
		{"text trunk", true, 29130, 47400},
		{"trunk without text", false, 29140, 47500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := startTextUAS(t, tc.sip+1, testutil.UASOptions{Text: true})
			a := &answerAll{calls: make(chan *sipua.Call, 1)}
			h := startTextHub(t, tc.sip, tc.sip+1, tc.rtp, tc.text, a)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			uc, err := u.Invite(ctx, "sip:interp@127.0.0.1:"+strconv.Itoa(tc.sip))
			if err != nil {
				t.Fatal(err)
			}
			var c *sipua.Call
			select {
			case c = <-a.calls:
			case <-time.After(5 * time.Second):
				t.Fatal("not answered")
			}
			answer := string(uc.RemoteSDP())
			if !tc.text {
				if !regexp.MustCompile(`(?m)^m=text 0 RTP/AVP 100 98\r$`).MatchString(answer) || c.HasText() || uc.HasText() {
					t.Errorf("answer without text should reject m=text with port 0 (HasText %v):\n%s", c.HasText(), answer)
				}
				eventually(t, 5*time.Second, "audio from the phone", func() bool { return c.AudioStats().PacketsReceived > 10 })
				hangup(t, c)
				return
			}
			for _, want := range []string{`(?m)^m=text [1-9][0-9]* RTP/AVP 100 98\r$`, `(?m)^a=fmtp:100 98/98/98\r$`, `(?m)^a=fmtp:98 cps=30\r$`} {
				if !regexp.MustCompile(want).MatchString(answer) {
					t.Errorf("answer lacks %s:\n%s", want, answer)
				}
			}
			if !c.HasText() || !uc.HasText() {
				t.Fatalf("text: hub %v, phone %v", c.HasText(), uc.HasText())
			}
			var got textSink
			c.OnText(got.add)
			_ = uc.SendText("from the phone")
			if err := c.SendText("from the hub"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the phone's text", func() bool { return got.String() == "from the phone" })
			eventually(t, 5*time.Second, "the hub's text", func() bool { return uc.ReceivedText() == "from the hub" })
			hangup(t, c)
			if n := h.pool.InUse(); n != 0 {
				t.Errorf("%d port pairs in use after the call", n)
			}
		})
	}
}
