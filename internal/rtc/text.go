package rtc

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/rtt"
	"github.com/split-hub/split/internal/sdp"
)

// Real-time text on a browser leg: T.140 over WebRTC data channels
// (RFC 8865; docs/interpreter.md §6.2).
//
//   - Browser → hub: the page opens ONE channel itself (DCEP, protocol
//     "t140", reliable and ordered). Its messages are decoded, filtered
//     with rtt.Sanitizer (§6.3) and handed to the OnText callback. Any other
//     channel the page opens is closed and refused (Refused, kind "text").
//   - Hub → browser: OpenText opens one channel per source on the same
//     SCTP association (no renegotiation), protocol "t140", ordered and
//     reliable, with the label the hub gives ("deaf-user/rtc_d1"). What the
//     page sends on it is ignored.
//
// The hub's offer (CreateOffer) carries m=application through pion's
// Configuration.AlwaysNegotiateDataChannels: no placeholder channel is
// created, so the page sees only the channels OpenText opens.

// Text defaults and bounds.
const (
	// DefaultTextCPS is rtt.cps's default: characters per second per
	// source toward a page (T.140's default).
	DefaultTextCPS = 30
	// MaxTextQueue bounds the characters one TextOut holds ahead of its
	// rate: beyond it the text is lost and U+FFFD marks the loss.
	MaxTextQueue = 4096
	// textMinInterval is the shortest wait between two paced sends: a
	// paste goes out a few characters per message, not one per message.
	textMinInterval = 100 * time.Millisecond
)

var (
	// ErrNoText means the leg has no text: Options.Text was off, or the
	// browser's description had no (or rejected the) m=application.
	ErrNoText = errors.New("rtc: the leg has no text channel (no data channel negotiated)")
	// ErrTextClosed is returned by Send on a closed TextOut, a channel the
	// page closed, or a closed leg.
	ErrTextClosed = errors.New("rtc: text channel closed")
)

// TextStats are a leg's real-time text figures.
type TextStats struct {
	CharsIn   uint64 `json:"chars_in"`  // characters delivered to OnText (after the filter)
	CharsOut  uint64 `json:"chars_out"` // characters sent on the hub's channels
	Refused   uint64 `json:"refused"`   // page-opened channels closed (not t140, unordered, a second one)
	Oversized uint64 `json:"oversized"` // received messages over rtt.MaxSendBytes (dropped, U+FFFD delivered)
	Binary    uint64 `json:"binary"`    // received binary messages (ignored)
	Overflow  uint64 `json:"overflow"`  // losses on the hub's channels (queue full; one U+FFFD each)
	Dropped   uint64 `json:"dropped"`   // characters lost to Overflow
}

// textState is the text part of a leg (nil when Options.Text is off).
type textState struct {
	cps int

	onText atomic.Pointer[func(string)]

	mu      sync.Mutex
	ok      bool                  // m=application negotiated (or offered and not yet answered)
	in      *webrtc.DataChannel   // the page's accepted channel
	outs    map[*TextOut]struct{} // the hub's open channels
	stopped bool                  // the leg is closing

	charsIn, charsOut, refused, oversized, binary, overflow, dropped atomic.Uint64
}

func newTextState(o Options) *textState {
	cps := o.TextCPS
	if cps <= 0 {
		cps = DefaultTextCPS
	}
	return &textState{cps: cps, outs: map[*TextOut]struct{}{}}
}

// HasText reports whether text is on for this leg: Options.Text and an
// m=application in the browser's offer (or in the hub's offer, not
// rejected by the answer).
func (l *Leg) HasText() bool {
	if l.text == nil {
		return false
	}
	l.text.mu.Lock()
	defer l.text.mu.Unlock()
	return l.text.ok && !l.text.stopped
}

// OnText sets what receives the page's text: each received message,
// decoded and filtered (§6.3: ESC sequences and other controls removed,
// BACKSPACE, BELL, U+2028 (CR/LF normalised) and U+FFFD kept; invalid
// UTF-8 becomes U+FFFD). It is called on pion's goroutine, one message at
// a time and in order: post only (never call l.Close from it). nil drops
// the text. It may be set at any time; after Close returns it is not
// called again.
func (l *Leg) OnText(f func(text string)) {
	if l.text == nil {
		return
	}
	if f == nil {
		l.text.onText.Store(nil)
		return
	}
	l.text.onText.Store(&f)
}

// TextStats returns the leg's text counters (zero without text).
func (l *Leg) TextStats() TextStats {
	t := l.text
	if t == nil {
		return TextStats{}
	}
	return TextStats{
		CharsIn: t.charsIn.Load(), CharsOut: t.charsOut.Load(), Refused: t.refused.Load(),
		Oversized: t.oversized.Load(), Binary: t.binary.Load(), Overflow: t.overflow.Load(), Dropped: t.dropped.Load(),
	}
}

// textNegotiated records whether the description that settled the
// negotiation (the browser's offer, or its answer to ours) keeps an
// m=application; without one the leg has no text and Refused says why.
func (l *Leg) textNegotiated(p *sdp.Session, offer bool) {
	if l.text == nil {
		return
	}
	ok := false
	if p != nil {
		if m := p.First("application"); m != nil && strings.Contains(m.Proto, "SCTP") {
			ok = true
		}
	}
	var outs []*TextOut
	l.text.mu.Lock()
	l.text.ok = ok
	if !ok {
		for t := range l.text.outs {
			outs = append(outs, t)
		}
	}
	l.text.mu.Unlock()
	if ok {
		return
	}
	if offer {
		l.refuse("text", "the browser's offer has no data channel (m=application)")
	} else {
		l.refuse("text", "the browser's answer rejected the data channel (m=application)")
	}
	for _, t := range outs {
		t.fail(ErrNoText)
	}
}

// onDataChannel sees every channel the page opens (pion's goroutine; the
// channel's messages wait until it returns).
func (l *Leg) onDataChannel(dc *webrtc.DataChannel) {
	ts := l.text
	ts.mu.Lock()
	why := ""
	switch {
	case ts.stopped:
	case !rtt.IsT140Channel(dc):
		why = fmt.Sprintf("the page opened a data channel that is not reliable, ordered t140 (protocol %.32q, ordered %t): closed",
			dc.Protocol(), dc.Ordered())
	case ts.in != nil:
		why = "the page opened a second t140 channel: closed"
	default:
		ts.in = dc
	}
	accepted := ts.in == dc
	ts.mu.Unlock()
	if !accepted {
		_ = dc.Close()
		if why != "" {
			ts.refused.Add(1)
			l.refuse("text", why)
		}
		return
	}
	var z rtt.Sanitizer // the page's stream: CR and escape state carry over between messages
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		text, ok := l.receiveText(&z, m)
		if !ok {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		l.wg.Add(1)
		l.mu.Unlock()
		defer l.wg.Done()
		if f := ts.onText.Load(); f != nil {
			(*f)(text)
		}
	})
	l.log.Info("text channel from the page", "label_bytes", len(dc.Label()))
}

// receiveText turns one message of the page's channel into filtered text.
func (l *Leg) receiveText(z *rtt.Sanitizer, m webrtc.DataChannelMessage) (string, bool) {
	ts := l.text
	switch {
	case !m.IsString:
		ts.binary.Add(1)
		return "", false
	case len(m.Data) > rtt.MaxSendBytes:
		// Over the limit of §6.2: not taken, but its loss is shown.
		ts.oversized.Add(1)
		ts.charsIn.Add(1)
		return string(rtt.Missing), true
	}
	s, _ := rtt.DecodeMessage(m.Data) // invalid UTF-8: U+FFFD in place, the rest kept
	s = z.Clean(s)
	if s == "" {
		return "", false
	}
	ts.charsIn.Add(uint64(utf8.RuneCountInString(s)))
	return s, true
}

// TextOut is one hub-opened T.140 channel toward the page: one per source
// whose text reaches this page.
type TextOut struct {
	l     *Leg
	dc    *webrtc.DataChannel
	label string

	mu      sync.Mutex
	z       rtt.Sanitizer
	q       []rune // filtered text not yet sent
	lost    bool   // the last text was cut and U+FFFD queued for it
	b       bucket
	open    bool
	closed  bool
	err     error
	timer   *time.Timer
	pending sync.WaitGroup // timer and pion callbacks in flight
}

// OpenText opens a hub → page channel with protocol t140 (ordered,
// reliable) and the given label, on the leg's SCTP association: no
// renegotiation. It may be called before the connection is up (the
// channel opens with the association; Send queues until then).
func (l *Leg) OpenText(label string) (*TextOut, error) {
	ts := l.text
	if ts == nil {
		return nil, ErrNoText
	}
	if label == "" || len(label) > 1024 || !utf8.ValidString(label) {
		return nil, fmt.Errorf("rtc: text channel label must be 1–1024 bytes of UTF-8")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stopped {
		return nil, ErrTextClosed
	}
	if !ts.ok {
		return nil, ErrNoText
	}
	dc, err := l.pc.CreateDataChannel(label, rtt.DataChannelInit())
	if err != nil {
		return nil, fmt.Errorf("rtc: text channel: %w", err)
	}
	t := &TextOut{l: l, dc: dc, label: label, b: bucket{rate: float64(ts.cps), burst: float64(ts.cps)}}
	dc.OnOpen(func() {
		if !t.enter() {
			return
		}
		defer t.pending.Done()
		t.mu.Lock()
		t.open = true
		t.drain()
		t.mu.Unlock()
	})
	dc.OnClose(func() { t.fail(ErrTextClosed) })
	ts.outs[t] = struct{}{}
	return t, nil
}

// Label is the channel's label.
func (t *TextOut) Label() string { return t.label }

// Send queues text for the page and sends what the rate allows now; the
// rest follows at the leg's TextCPS (paced by a timer the TextOut owns).
// The text is filtered like received text (§6.3). Beyond MaxTextQueue
// queued characters the rest is dropped and U+FFFD marks the loss once
// (TextStats.Overflow). Before the channel is open the text waits in the
// same queue.
func (t *TextOut) Send(text string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTextClosed
	}
	if t.err != nil {
		return t.err
	}
	rs := []rune(t.z.Clean(text))
	if len(rs) == 0 {
		return nil
	}
	room := max(MaxTextQueue-len(t.q), 0)
	if len(rs) <= room {
		t.q = append(t.q, rs...)
		t.lost = false
	} else {
		if room > 0 {
			t.q = append(t.q, rs[:room]...)
			t.lost = false
		}
		if !t.lost {
			t.q = append(t.q, rtt.Missing)
			t.lost = true
			t.l.text.overflow.Add(1)
			t.l.log.Info("text queue overflow", "channel", t.label)
		}
		t.l.text.dropped.Add(uint64(len(rs) - room))
	}
	t.drain()
	return t.err
}

// Queued is the number of characters waiting for the rate or the channel.
func (t *TextOut) Queued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.q)
}

// drain sends what the bucket allows and arms the timer for the rest (t.mu held).
func (t *TextOut) drain() {
	if !t.open || t.closed || t.err != nil || len(t.q) == 0 {
		return
	}
	now := time.Now()
	if n := t.b.take(now, len(t.q)); n > 0 {
		s := string(t.q[:n])
		for _, m := range rtt.Messages(s) {
			if err := t.dc.SendText(m); err != nil {
				t.err, t.q = fmt.Errorf("%w: %v", ErrTextClosed, err), nil
				return
			}
		}
		t.l.text.charsOut.Add(uint64(n))
		t.q = t.q[n:]
		if len(t.q) == 0 {
			t.q = nil
		}
	}
	if len(t.q) > 0 && t.timer == nil {
		t.pending.Add(1)
		t.timer = time.AfterFunc(t.b.wait(), t.tick)
	}
}

func (t *TextOut) tick() {
	defer t.pending.Done()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timer = nil
	t.drain()
}

// enter admits a pion callback unless the TextOut is closed; the caller
// calls t.pending.Done when it is finished.
func (t *TextOut) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.pending.Add(1)
	return true
}

// fail ends sending (the page closed the channel, the answer rejected
// data): Send returns err, the queue is dropped.
func (t *TextOut) fail(err error) {
	if !t.enter() {
		return
	}
	defer t.pending.Done()
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.q, t.open = nil, false
	if t.timer != nil && t.timer.Stop() {
		t.pending.Done()
	}
	t.timer = nil
	t.mu.Unlock()
}

// stop marks the TextOut closed and stops its timer; it reports whether
// it was open.
func (t *TextOut) stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.closed = true
	t.q = nil
	if t.timer != nil && t.timer.Stop() {
		t.pending.Done()
	}
	t.timer = nil
	return true
}

// Close closes the channel (the page keeps the text shown) and waits for
// the TextOut's timer and callbacks. Queued text is dropped.
func (t *TextOut) Close() error {
	if !t.stop() {
		return nil
	}
	err := t.dc.Close()
	t.pending.Wait()
	ts := t.l.text
	ts.mu.Lock()
	delete(ts.outs, t)
	ts.mu.Unlock()
	return err
}

// stopText is Close's first step: no new text channel, every TextOut
// stopped (no more sends or timers). The PeerConnection closes the
// channels themselves.
func (l *Leg) stopText() []*TextOut {
	ts := l.text
	if ts == nil {
		return nil
	}
	ts.mu.Lock()
	ts.stopped = true
	outs := make([]*TextOut, 0, len(ts.outs))
	for t := range ts.outs {
		outs = append(outs, t)
	}
	clear(ts.outs)
	ts.mu.Unlock()
	for _, t := range outs {
		t.stop()
	}
	return outs
}

// bucket is a token bucket of characters: rate per second, up to burst
// characters at once.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take returns how many of want characters may go now.
func (b *bucket) take(now time.Time, want int) int {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
	}
	b.last = now
	n := min(want, int(b.tokens))
	b.tokens -= float64(n)
	return n
}

// wait is how long until the next character may go (at least
// textMinInterval, so paced text goes a few characters per message).
func (b *bucket) wait() time.Duration {
	d := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	return max(d, textMinInterval)
}
