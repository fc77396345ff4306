package rtc

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/rtt"
	"github.com/split-hub/split/internal/sdp"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// textSink collects text in order, safe for pion's goroutines.
type textSink struct {
	mu sync.Mutex
	b  strings.Builder
	n  int // messages
}

func (s *textSink) add(x string) {
	s.mu.Lock()
	s.b.WriteString(x)
	s.n++
	s.mu.Unlock()
}

func (s *textSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *textSink) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.String()
		if got == want {
			return
		}
		if len(got) > len(want) || !strings.HasPrefix(want, got) || time.Now().After(deadline) {
			t.Fatalf("text received:\n got %q\nwant %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pageWithText is a pion "browser" that, like the deaf user's page (§6.2),
// creates its t140 channel before createOffer.
func pageWithText(t *testing.T) (*webrtc.PeerConnection, *webrtc.DataChannel, string) {
	t.Helper()
	pc, _ := browserPeer(t, false)
	dc, err := pc.CreateDataChannel("t140", rtt.DataChannelInit())
	if err != nil {
		t.Fatal(err)
	}
	return pc, dc, offerFrom(t, pc)
}

func opened(dc *webrtc.DataChannel) <-chan struct{} {
	c := make(chan struct{})
	var once sync.Once
	dc.OnOpen(func() { once.Do(func() { close(c) }) })
	return c
}

func waitChan(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func hasRefusal(l *Leg, kind, contains string) bool {
	for _, r := range l.Refused() {
		if r.Kind == kind && strings.Contains(r.Reason, contains) {
			return true
		}
	}
	return false
}

// A pion offer with a data channel has the m-line Chromium writes
// (m=application 9 UDP/DTLS/SCTP webrtc-datachannel, a=sctp-port), and the
// hub's answer keeps it.
func TestTextOfferAndAnswerHaveApplication(t *testing.T) {
	e := testEngine(t, 0)
	_, _, offer := pageWithText(t)
	for _, want := range []string{"m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=sctp-port:5000"} {
		if !strings.Contains(offer, want) {
			t.Fatalf("browser-style offer lacks %q:\n%s", want, offer)
		}
	}
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := sdp.Parse([]byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	if m := p.First("application"); m == nil || !strings.Contains(m.Proto, "SCTP") {
		t.Fatalf("answer has no data channel m-line:\n%s", answer)
	}
	if !l.HasText() {
		t.Fatal("HasText false on a leg whose offer had m=application")
	}
}

// A real Chromium offer (Chromium 156: an audio transceiver and
// createDataChannel("t140", {protocol: "t140", ordered: true}) before
// createOffer, as the deaf user's page does) has the same data m-line as
// the pion pages of these tests, and the hub answers it with text.
func TestTextChromiumOffer(t *testing.T) {
	e := testEngine(t, 0)
	chromium, err := os.ReadFile("testdata/chromium156_offer_t140.sdp")
	if err != nil {
		t.Fatal(err)
	}
	_, _, pionOffer := pageWithText(t)
	for _, offer := range []string{string(chromium), pionOffer} {
		p, err := sdp.Parse([]byte(offer))
		if err != nil {
			t.Fatal(err)
		}
		if m := p.First("application"); m == nil || m.Proto != "UDP/DTLS/SCTP" || !strings.Contains(offer, "a=sctp-port:5000") ||
			!strings.Contains(offer, " webrtc-datachannel\r\n") {
			t.Fatalf("data m-line differs from Chromium's:\n%s", offer)
		}
	}
	l, answer, err := e.AcceptOffer(context.Background(), string(chromium), Options{AudioPrefs: []string{"opus", "PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.HasText() || !strings.Contains(answer, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel") || !strings.Contains(answer, "a=sctp-port:5000") {
		t.Fatalf("HasText %v, answer:\n%s", l.HasText(), answer)
	}
}

// Without Options.Text nothing changes: the answer keeps the m=application
// (as before), the page's channel is closed by pion's default handler, and
// OpenText refuses.
func TestTextOffLeavesBehaviour(t *testing.T) {
	e := testEngine(t, 0)
	pc, dc, offer := pageWithText(t)
	closed := make(chan struct{})
	var once sync.Once
	dc.OnClose(func() { once.Do(func() { close(closed) }) })
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.Contains(answer, "m=application") {
		t.Fatalf("answer without Text lost the m=application (unchanged behaviour):\n%s", answer)
	}
	if l.HasText() {
		t.Fatal("HasText without Options.Text")
	}
	if _, err := l.OpenText("x/y"); !errors.Is(err, ErrNoText) {
		t.Fatalf("OpenText without Text: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitChan(t, closed, "the page's channel to be closed (text off)")
	if len(l.Refused()) != 0 || l.TextStats() != (TextStats{}) {
		t.Fatalf("text off recorded: %+v %+v", l.Refused(), l.TextStats())
	}
}

// Text on, but the browser offered no data channel: the leg has no text
// and says why.
func TestTextWithoutApplicationIsRefused(t *testing.T) {
	e := testEngine(t, 0)
	pc, _ := browserPeer(t, false)
	l, _, err := e.AcceptOffer(context.Background(), offerFrom(t, pc), Options{AudioPrefs: []string{"PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.HasText() || !hasRefusal(l, "text", "no data channel") {
		t.Fatalf("HasText %v, refused %+v", l.HasText(), l.Refused())
	}
	if _, err := l.OpenText("deaf-user/x"); !errors.Is(err, ErrNoText) {
		t.Fatalf("OpenText: %v", err)
	}
}

// The page's text reaches OnText filtered (§6.3); binary and oversized
// messages are counted, never delivered as text.
func TestTextFromPageIsFiltered(t *testing.T) {
	e := testEngine(t, 0)
	pc, dc, offer := pageWithText(t)
	open := opened(dc)
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got textSink
	l.OnText(got.add)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitChan(t, open, "the page's t140 channel to open")
	send := func(s string) {
		t.Helper()
		if err := dc.SendText(s); err != nil {
			t.Fatal(err)
		}
	}
	send("hi \x1b[31mred\x1b[0m ")
	send("ab\b")
	send("x\xffy")       // invalid UTF-8 in a string message
	send("l1\r\nl2\r")   // CR LF and CR: new lines
	send("\ncont\uFEFF") // the LF of a CR LF split over two messages; BOM dropped
	send("\x07")         // BEL kept (the page flashes)
	if err := dc.Send([]byte("binary")); err != nil {
		t.Fatal(err)
	}
	send(strings.Repeat("a", rtt.MaxSendBytes+1))
	send(" émoji 👍🏽")
	want := "hi red ab\bx\uFFFDy" + "l1\u2028l2\u2028" + "cont" + "\x07" + "\uFFFD" + " émoji 👍🏽"
	got.waitFor(t, want)
	s := l.TextStats()
	if s.Binary != 1 || s.Oversized != 1 || s.CharsIn != uint64(len([]rune(want))) || s.Refused != 0 {
		t.Fatalf("stats %+v (want binary 1, oversized 1, chars in %d)", s, len([]rune(want)))
	}
	// OnText(nil) drops; a new callback gets what follows.
	l.OnText(nil)
	send("dropped")
	waitFor(t, 5*time.Second, "the dropped text to be counted", func() bool { return l.TextStats().CharsIn == s.CharsIn+7 })
	var after textSink
	l.OnText(after.add)
	send("back")
	after.waitFor(t, "back")
}

// OpenText: the page sees a channel with the hub's label, protocol t140,
// ordered and reliable, and receives the text in order — also text sent
// before the connection was up. What the page sends on it is ignored.
func TestTextToPage(t *testing.T) {
	e := testEngine(t, 0)
	pc, dc, offer := pageWithText(t)
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true, TextCPS: 100000})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := l.OpenText("deaf-user/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Send("early "); err != nil { // queued while connecting
		t.Fatal(err)
	}
	type chanInfo struct {
		label, proto string
		ordered      bool
		reliable     bool
		negotiated   bool
	}
	infos := make(chan chanInfo, 4)
	var got textSink
	var mine atomic.Pointer[webrtc.DataChannel]
	pc.OnDataChannel(func(d *webrtc.DataChannel) {
		infos <- chanInfo{d.Label(), d.Protocol(), d.Ordered(), d.MaxRetransmits() == nil && d.MaxPacketLifeTime() == nil, d.Negotiated()}
		mine.Store(d)
		d.OnMessage(func(m webrtc.DataChannelMessage) {
			if m.IsString {
				got.add(string(m.Data))
			}
		})
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	var ci chanInfo
	select {
	case ci = <-infos:
	case <-time.After(10 * time.Second):
		t.Fatal("the page saw no hub channel")
	}
	if ci != (chanInfo{label: "deaf-user/x", proto: "t140", ordered: true, reliable: true}) {
		t.Fatalf("hub channel as the page sees it: %+v", ci)
	}
	var want strings.Builder
	want.WriteString("early ")
	for i := range 200 {
		s := strings.Repeat(string(rune('a'+i%26)), i%7+1) + "é "
		if i%50 == 0 {
			s += "\x1b[1m" // filtered on the way out too
		}
		want.WriteString(strings.ReplaceAll(s, "\x1b[1m", ""))
		if err := out.Send(s); err != nil {
			t.Fatal(err)
		}
	}
	got.waitFor(t, want.String())
	waitChan(t, opened(dc), "the page's own channel")
	// the page writes on the hub's channel: ignored
	var in textSink
	l.OnText(in.add)
	if err := mine.Load().SendText("not for the hub"); err != nil {
		t.Fatal(err)
	}
	if err := dc.SendText("mine"); err != nil {
		t.Fatal(err)
	}
	in.waitFor(t, "mine")
	if s := l.TextStats(); s.CharsOut != uint64(len([]rune(want.String()))) {
		t.Fatalf("chars out %d, want %d", s.CharsOut, len([]rune(want.String())))
	}
	select {
	case ci := <-infos:
		t.Fatalf("an unexpected channel reached the page: %+v", ci)
	default:
	}
	// Close: the page sees its channel close; Send then fails.
	closed := make(chan struct{})
	mine.Load().OnClose(func() { close(closed) })
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	waitChan(t, closed, "the page to see the hub's channel close")
	if err := out.Send("late"); !errors.Is(err, ErrTextClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}

// Only one page-opened t140 channel is taken: another protocol, an
// unordered one and a second t140 one are closed and refused, and the
// accepted one keeps working.
func TestTextRefusesOtherChannels(t *testing.T) {
	e := testEngine(t, 0)
	pc, dc, offer := pageWithText(t)
	open := opened(dc)
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got textSink
	l.OnText(got.add)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitChan(t, open, "the page's t140 channel")
	proto := "json"
	unordered := false
	var closes []<-chan struct{}
	var extra []*webrtc.DataChannel
	for _, init := range []*webrtc.DataChannelInit{
		{Protocol: &proto},
		func() *webrtc.DataChannelInit { i := rtt.DataChannelInit(); i.Ordered = &unordered; return i }(),
		rtt.DataChannelInit(),
	} {
		d, err := pc.CreateDataChannel("other", init)
		if err != nil {
			t.Fatal(err)
		}
		c := make(chan struct{})
		var once sync.Once
		d.OnClose(func() { once.Do(func() { close(c) }) })
		closes = append(closes, c)
		extra = append(extra, d)
	}
	for i, c := range closes {
		waitChan(t, c, "refused channel "+extra[i].Protocol()+" to be closed")
	}
	if s := l.TextStats(); s.Refused != 3 {
		t.Fatalf("refused %d, want 3", s.Refused)
	}
	if !hasRefusal(l, "text", "second t140") || !hasRefusal(l, "text", `"json"`) || !hasRefusal(l, "text", "ordered false") {
		t.Fatalf("refusals: %+v", l.Refused())
	}
	if err := dc.SendText("still here"); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "still here")
}

// The hub offers (a console): its offer has m=application without any
// placeholder channel; the console answers, opens its own t140 channel,
// and text goes both ways.
func TestTextHubOffers(t *testing.T) {
	e := testEngine(t, 0)
	l, offer, err := e.CreateOffer(context.Background(), Options{AudioPrefs: []string{"PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.Contains(offer, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel") {
		t.Fatalf("hub offer has no data channel m-line:\n%s", offer)
	}
	var fromConsole textSink
	l.OnText(fromConsole.add)
	console, _ := browserPeer(t, false)
	var toConsole textSink
	labels := make(chan string, 4)
	console.OnDataChannel(func(d *webrtc.DataChannel) {
		labels <- d.Label() + "|" + d.Protocol()
		d.OnMessage(func(m webrtc.DataChannelMessage) { toConsole.add(string(m.Data)) })
	})
	if err := console.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	ans, err := console.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(console)
	if err := console.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	<-g
	answer := console.LocalDescription().SDP
	if !strings.Contains(answer, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel") {
		t.Fatalf("console answer has no data channel:\n%s", answer)
	}
	// the console opens its own channel once it has answered (§6.2)
	own, err := console.CreateDataChannel("t140", rtt.DataChannelInit())
	if err != nil {
		t.Fatal(err)
	}
	ownOpen := opened(own)
	if err := l.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	if !l.HasText() {
		t.Fatalf("no text after an answer with m=application: %+v", l.Refused())
	}
	out, err := l.OpenText("interpreter/rtc_i1")
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Send("hello console"); err != nil {
		t.Fatal(err)
	}
	select {
	case lb := <-labels:
		if lb != "interpreter/rtc_i1|t140" {
			t.Fatalf("first channel the console saw: %q (a placeholder?)", lb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console saw no channel")
	}
	toConsole.waitFor(t, "hello console")
	waitChan(t, ownOpen, "the console's own channel")
	if err := own.SendText("hello hub"); err != nil {
		t.Fatal(err)
	}
	fromConsole.waitFor(t, "hello hub")
}

// An answer that rejects the data channel leaves the leg without text.
func TestTextAnswerRejectsApplication(t *testing.T) {
	e := testEngine(t, 0)
	l, offer, err := e.CreateOffer(context.Background(), Options{AudioPrefs: []string{"PCMU"}, Text: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := l.OpenText("phone/sip_p1")
	if err != nil {
		t.Fatal(err)
	}
	console, _ := browserPeer(t, false)
	if err := console.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	ans, err := console.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := console.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	// a console that does not do data channels: the m-line rejected (port 0)
	answer := strings.Replace(console.LocalDescription().SDP, "m=application 9 ", "m=application 0 ", 1)
	if err := l.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	if l.HasText() || !hasRefusal(l, "text", "answer rejected") {
		t.Fatalf("HasText %v refused %+v", l.HasText(), l.Refused())
	}
	if err := out.Send("x"); !errors.Is(err, ErrNoText) {
		t.Fatalf("Send on a rejected data channel: %v", err)
	}
}

// A source running more than MaxTextQueue characters ahead loses the rest;
// U+FFFD marks the loss once, and the queue then drains in order.
func TestTextOverflow(t *testing.T) {
	e := testEngine(t, 0)
	pc, _, offer := pageWithText(t)
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true, TextCPS: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := l.OpenText("phone/sip_p1")
	if err != nil {
		t.Fatal(err)
	}
	// not connected yet: everything queues
	if err := out.Send(strings.Repeat("a", 5000)); err != nil {
		t.Fatal(err)
	}
	if err := out.Send("bcd"); err != nil {
		t.Fatal(err)
	}
	if q := out.Queued(); q != MaxTextQueue+1 {
		t.Fatalf("queued %d, want %d (the limit plus one U+FFFD)", q, MaxTextQueue+1)
	}
	if s := l.TextStats(); s.Overflow != 1 || s.Dropped != 5000-MaxTextQueue+3 {
		t.Fatalf("stats %+v", s)
	}
	var got textSink
	pc.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) {
			if len(m.Data) > rtt.MaxSendBytes {
				t.Errorf("message of %d bytes", len(m.Data))
			}
			got.add(string(m.Data))
		})
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, strings.Repeat("a", MaxTextQueue)+"\uFFFD")
	// room again: new text is taken, and a new loss gets its own marker
	if err := out.Send("z"); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, strings.Repeat("a", MaxTextQueue)+"\uFFFDz")
}

// At the configured cps a paste is paced by the TextOut's timer: it is
// queued, not sent at once, and arrives complete and in order.
func TestTextPacing(t *testing.T) {
	e := testEngine(t, 0)
	pc, _, offer := pageWithText(t)
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true, TextCPS: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got textSink
	ch := make(chan struct{})
	pc.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) { got.add(string(m.Data)) })
		close(ch)
	})
	out, err := l.OpenText("deaf-user/rtc_d1")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitChan(t, ch, "the hub's channel")
	waitFor(t, 10*time.Second, "the channel to open on the hub side", func() bool {
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.open
	})
	paste := strings.Repeat("0123456789", 25) // 250 characters, 2.5 s at 100 cps
	if err := out.Send(paste); err != nil {
		t.Fatal(err)
	}
	if q := out.Queued(); q < 100 {
		t.Fatalf("only %d of 250 characters queued: the burst should be 100", q)
	}
	got.waitFor(t, paste)
	got.mu.Lock()
	n := got.n
	got.mu.Unlock()
	if n < 3 {
		t.Fatalf("paced text came in %d messages", n)
	}
}

func TestBucket(t *testing.T) {
	b := bucket{rate: 30, burst: 30}
	t0 := time.Unix(1000, 0)
	if n := b.take(t0, 100); n != 30 {
		t.Fatalf("first take %d, want the burst 30", n)
	}
	if n := b.take(t0, 100); n != 0 {
		t.Fatalf("empty bucket gave %d", n)
	}
	if w := b.wait(); w < 33*time.Millisecond || w > textMinInterval {
		t.Fatalf("wait %v", w)
	}
	if n := b.take(t0.Add(500*time.Millisecond), 100); n != 15 {
		t.Fatalf("after 0.5 s: %d, want 15", n)
	}
	if n := b.take(t0.Add(time.Hour), 100); n != 30 {
		t.Fatalf("after an hour: %d, want the burst 30", n)
	}
	if n := b.take(t0.Add(time.Hour+time.Second), 5); n != 5 {
		t.Fatalf("take 5: %d", n)
	}
	slow := bucket{rate: 1, burst: 1}
	slow.take(t0, 1)
	if w := slow.wait(); w != time.Second {
		t.Fatalf("1 cps wait %v", w)
	}
}

// After Close no OnText fires, Send fails, paced timers are stopped, and
// the leg's goroutines (pion's and the TextOut's) are gone.
func TestTextCloseStopsEverything(t *testing.T) {
	e := testEngine(t, 0)
	base := runtime.NumGoroutine()
	pc, dc, offer := pageWithText(t)
	open := opened(dc)
	l, answer, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"PCMU"}, Text: true, TextCPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	var closed atomic.Bool
	l.OnText(func(string) {
		if closed.Load() {
			t.Error("OnText called after Close returned")
		}
		calls.Add(1)
		time.Sleep(2 * time.Millisecond) // a slow hub: Close must wait for the call in flight
		if closed.Load() {
			t.Error("OnText still running after Close returned")
		}
	})
	pageSaw := make(chan struct{})
	pc.OnDataChannel(func(d *webrtc.DataChannel) { close(pageSaw) })
	out, err := l.OpenText("interpreter/rtc_i1")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitChan(t, open, "the page's channel")
	waitChan(t, pageSaw, "the hub's channel")
	if err := out.Send(strings.Repeat("x", 200)); err != nil { // 20 s at 10 cps: the timer is armed
		t.Fatal(err)
	}
	// the page types while the leg closes
	stop := make(chan struct{})
	typing := make(chan struct{})
	go func() {
		defer close(typing)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if dc.SendText("k") != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, 10*time.Second, "text from the page", func() bool { return calls.Load() > 5 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	if err := out.Send("late"); !errors.Is(err, ErrTextClosed) {
		t.Fatalf("Send after the leg closed: %v", err)
	}
	if _, err := l.OpenText("x/y"); !errors.Is(err, ErrTextClosed) {
		t.Fatalf("OpenText after Close: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatalf("TextOut.Close after the leg closed: %v", err)
	}
	out.mu.Lock()
	armed, queued := out.timer != nil, len(out.q)
	out.mu.Unlock()
	if armed || queued != 0 {
		t.Fatalf("after Close: pacing timer armed %v, %d characters queued", armed, queued)
	}
	close(stop)
	<-typing
	pc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, before the peers %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
