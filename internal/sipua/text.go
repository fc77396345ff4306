package sipua

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pion/rtp"
	psdp "github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media/rtpport"
	"github.com/split-hub/split/internal/rtt"
	"github.com/split-hub/split/internal/sdp"
)

// Real-time text on SIP calls (docs/interpreter.md §6.4): RFC 4103
// text/t140 with RFC 2198 red redundancy on an m=text line of its own, on
// trunks with text: true. The T.140 and red work is internal/rtt's
// (Encoder, Decoder, Sanitizer, SDP helpers); this file gives a call its
// text socket, one reader goroutine and a send timer, both stopped when the
// call ends.
//
// The text stream is not part of rtp.timeout (LastMedia is the audio's):
// an idle text stream sends nothing by design.

// Errors of SendText.
var (
	// ErrNoText: the call has no text stream (the trunk has no text: true,
	// the far end refused or omitted m=text, or the call has ended).
	ErrNoText = errors.New("sipua: no real-time text on this call")
	// ErrTextQueueFull: more than maxTextQueue bytes wait to be sent (the
	// far end's cps limit paces the queue); the text was not queued.
	ErrTextQueueFull = errors.New("sipua: real-time text queue full")
)

const (
	// maxTextPacket is the largest text RTP packet accepted; larger ones
	// are counted as malformed. Our own packets stay under 1.3 kB
	// (textMaxPrimary × 3 + headers), so under a 1500-byte MTU.
	maxTextPacket = 4096
	// textMaxPrimary bounds the new text per packet (bytes).
	textMaxPrimary = 400
	// maxTextQueue bounds the text waiting to be sent (bytes).
	maxTextQueue = 16 << 10
	// maxEarlyText bounds text received before OnText was set (bytes).
	maxEarlyText = 4096
	// textCPS is the cps we announce: what we accept (RFC 4103 §6's default).
	textCPS = 30
)

// TextStats are a call's real-time text counters.
type TextStats struct {
	PacketsIn  uint64 `json:"packets_in"`  // RTP packets received
	PacketsOut uint64 `json:"packets_out"` // RTP packets sent
	CharsIn    uint64 `json:"chars_in"`    // characters delivered to OnText (after the filter)
	CharsOut   uint64 `json:"chars_out"`   // characters sent (as new text, once each)
	Recovered  uint64 `json:"recovered"`   // lost packets whose text came from redundancy
	Lost       uint64 `json:"lost"`        // lost packets whose text was not recovered (U+FFFD inserted)
	Malformed  uint64 `json:"malformed"`   // packets refused: not RTP, oversized, bad red, foreign payload type
}

type textState int32

const (
	textOffered textState = iota // our offer is out, no answer yet
	textActive
	textOff // refused, omitted or ended: the port is back in the pool
)

// textStream is a call's m=text: its RTP socket, the Decoder on the reader
// goroutine and the Encoder ticked by a timer.
type textStream struct {
	log   *slog.Logger
	pair  *rtpport.Pair // nil in the fuzz test
	local rtt.SDPParams // what we announced (the payload types we receive)
	state atomic.Int32  // textState

	remote atomic.Pointer[netip.AddrPort]
	latch  atomic.Bool

	// SDES-SRTP (sdes.go) when the audio has it: our key (announced in
	// a=crypto), the contexts set by start before the reader runs.
	localCrypto *sdp.Crypto
	srtpIn      *srtp.Context // reader only
	srtpOut     *srtp.Context // under mu

	// reader goroutine only
	dec *rtt.Decoder
	z   rtt.Sanitizer

	mu     sync.Mutex // enc, timer, armed, closed
	enc    *rtt.Encoder
	encRED bool // the Encoder sends red (else plain t140)
	timer  *time.Timer
	armed  bool
	closed bool
	timers sync.WaitGroup // armed timer callbacks (Add under mu when arming)
	reader sync.WaitGroup

	cbMu   sync.Mutex // onText and early
	onText func(string)
	early  strings.Builder

	packetsIn, packetsOut, charsIn, charsOut atomic.Uint64
	recovered, lost, malformed, decMalformed atomic.Uint64
}

func newTextStream(log *slog.Logger, pair *rtpport.Pair, local rtt.SDPParams) (*textStream, error) {
	dec, err := rtt.NewDecoder(local.DecoderConfig())
	if err != nil {
		return nil, err
	}
	return &textStream{log: log, pair: pair, local: local, dec: dec}, nil
}

// start begins sending what remote accepts to addr and receiving; with
// crypto (the far end's a=crypto) the stream is SRTP.
func (s *textStream) start(remote rtt.SDPParams, addr netip.AddrPort, crypto *sdp.Crypto) error {
	if crypto != nil {
		if s.localCrypto == nil {
			return errNoCrypto
		}
		in, err := srtpContext(*crypto)
		if err != nil {
			return err
		}
		out, err := srtpContext(*s.localCrypto)
		if err != nil {
			return err
		}
		s.srtpIn, s.srtpOut = in, out
	} else if s.localCrypto != nil {
		return errNoCrypto // we offered SRTP: plain text is refused, as for audio
	}
	cfg := remote.EncoderConfig(rand.Uint32())
	cfg.FirstSeq, cfg.FirstTS, cfg.MaxPrimary = uint16(rand.Uint32()), rand.Uint32(), textMaxPrimary
	enc, err := rtt.NewEncoder(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrNoText
	}
	s.enc, s.encRED = enc, cfg.Redundancy > 0
	s.remote.Store(&addr)
	s.state.Store(int32(textActive))
	s.reader.Add(1)
	s.mu.Unlock()
	go s.read()
	return nil
}

// setRemote follows a changed address in a re-offer (a latched source
// wins until the SDP changes, as for audio).
func (s *textStream) setRemote(addr netip.AddrPort) {
	if old := s.remote.Load(); old == nil || *old != addr {
		s.latch.Store(false)
		s.remote.Store(&addr)
	}
}

// close stops the reader and the timer, returns the port and waits: no
// callback and no packet after it returns. Safe to call more than once.
func (s *textStream) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.state.Store(int32(textOff))
	if s.armed && s.timer.Stop() {
		s.armed = false
		s.timers.Done()
	}
	s.mu.Unlock()
	if s.pair != nil {
		_ = s.pair.Close()
	}
	s.reader.Wait()
	s.timers.Wait()
}

func (s *textStream) active() bool { return s != nil && textState(s.state.Load()) == textActive }

// send queues text for the Encoder and arms the timer when it is idle.
func (s *textStream) send(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.enc == nil {
		return ErrNoText
	}
	if s.enc.Pending()+len(text) > maxTextQueue {
		return ErrTextQueueFull
	}
	s.enc.Write(text)
	if !s.armed && s.enc.Pending() > 0 {
		s.arm(0) // the first text after idle goes at once; then every 300 ms
	}
	return nil
}

// arm schedules fire after d; s.mu is held.
func (s *textStream) arm(d time.Duration) {
	s.armed = true
	s.timers.Add(1)
	s.timer = time.AfterFunc(d, s.fire)
}

// fire sends the packet due and re-arms while text or redundancy is owed.
func (s *textStream) fire() {
	defer s.timers.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	if s.closed {
		return
	}
	p := s.enc.Tick(time.Now())
	if p != nil {
		s.write(p)
	}
	if p != nil || s.enc.Pending() > 0 { // text waits for the cps budget: look again
		s.arm(s.enc.Interval())
	}
}

// write sends p to the far end; s.mu is held.
func (s *textStream) write(p *rtp.Packet) {
	to := s.remote.Load()
	if to == nil || !to.Addr().IsValid() || to.Port() == 0 || s.pair == nil {
		return
	}
	b, err := p.Marshal()
	if err != nil {
		return
	}
	if s.srtpOut != nil {
		if b, err = s.srtpOut.EncryptRTP(nil, b, nil); err != nil {
			return
		}
	}
	if _, err := s.pair.RTP.WriteToUDPAddrPort(b, *to); err != nil {
		s.log.Debug("text RTP write failed", "err", err)
		return
	}
	s.packetsOut.Add(1)
	primary := p.Payload
	if s.encRED {
		if _, pr, err := rtt.ParseRED(primary); err == nil {
			primary = pr.Data
		}
	}
	s.charsOut.Add(uint64(utf8.RuneCount(primary)))
}

// read is the reader goroutine: packets in, and the Decoder's reorder
// deadline as the socket's read deadline (no second goroutine).
func (s *textStream) read() {
	defer s.reader.Done()
	buf := make([]byte, maxTextPacket+1)
	dec := make([]byte, maxTextPacket+1)
	for {
		if dl, ok := s.dec.Deadline(); ok {
			_ = s.pair.RTP.SetReadDeadline(dl)
		} else {
			_ = s.pair.RTP.SetReadDeadline(time.Time{})
		}
		n, from, err := s.pair.RTP.ReadFromUDPAddrPort(buf)
		switch {
		case err == nil && s.srtpIn != nil:
			if n > maxTextPacket {
				s.malformed.Add(1)
				continue
			}
			pkt, derr := s.srtpIn.DecryptRTP(dec[:0], buf[:n], nil)
			if derr != nil {
				s.malformed.Add(1) // not authentic or not SRTP
				continue
			}
			s.receive(pkt, from, time.Now())
		case err == nil:
			s.receive(buf[:n], from, time.Now())
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.deliver(s.dec.Tick(time.Now()))
			s.count()
		case errors.Is(err, net.ErrClosed):
			return
		default:
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
		}
	}
}

// receive takes one datagram: malformed or oversized ones are counted and
// dropped; the rest go through the Decoder (order, duplicates, red
// recovery, U+FFFD for lost text) and the T.140 filter to OnText.
func (s *textStream) receive(b []byte, from netip.AddrPort, now time.Time) {
	if len(b) > maxTextPacket || len(b) < 12 || b[0]>>6 != 2 {
		s.malformed.Add(1)
		return
	}
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		s.malformed.Add(1)
		return
	}
	s.packetsIn.Add(1)
	if from.IsValid() && !s.latch.Load() { // symmetric RTP, as for audio
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		s.remote.Store(&from)
		s.latch.Store(true)
	}
	text, _ := s.dec.Push(&p, now) // an error is counted in the Decoder's stats
	s.deliver(text)
	s.count()
}

func (s *textStream) count() {
	st := s.dec.Stats()
	s.recovered.Store(st.Recovered)
	s.lost.Store(st.Lost)
	s.decMalformed.Store(st.Malformed)
}

// deliver filters text (T.140 presentation rules, docs/interpreter.md §6.3)
// and hands it to OnText, or keeps it until OnText is set.
func (s *textStream) deliver(text string) {
	if text == "" {
		return
	}
	text = s.z.Clean(text)
	if text == "" {
		return
	}
	s.charsIn.Add(uint64(utf8.RuneCountInString(text)))
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	if s.onText != nil {
		s.onText(text)
		return
	}
	if s.early.Len()+len(text) <= maxEarlyText {
		s.early.WriteString(text)
	}
}

func (s *textStream) setOnText(f func(string)) {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	if f != nil && s.early.Len() > 0 {
		f(s.early.String())
		s.early.Reset()
	}
	s.onText = f
}

func (s *textStream) stats() TextStats {
	return TextStats{
		PacketsIn: s.packetsIn.Load(), PacketsOut: s.packetsOut.Load(),
		CharsIn: s.charsIn.Load(), CharsOut: s.charsOut.Load(),
		Recovered: s.recovered.Load(), Lost: s.lost.Load(),
		Malformed: s.malformed.Load() + s.decMalformed.Load(),
	}
}

// ---- the Call's API ----

// HasText reports whether the call has a negotiated real-time text stream
// (RFC 4103) with the far end.
func (c *Call) HasText() bool { return c.text.active() }

// OnText sets the function that receives the far end's real-time text:
// T.140 text in order, recovered from redundancy, with U+FFFD once where
// text was lost, filtered by the T.140 presentation rules (BACKSPACE, BELL,
// U+2028 new line and U+FFFD kept; other controls and escape sequences
// dropped). Text that arrived before OnText was set is passed at once. f
// runs on the call's text reader goroutine: it must return quickly and must
// not call OnText or end the call itself (post, don't work).
func (c *Call) OnText(f func(text string)) {
	if c.text != nil {
		c.text.setOnText(f)
	}
}

// SendText queues T.140 text for the far end. It is sent as RFC 4103
// red/t140 (plain t140 if the far end did not accept red): at once after
// an idle period, then every 300 ms while there is new text or redundancy
// owed, paced by the far end's cps. ErrNoText if the call has no text.
func (c *Call) SendText(text string) error {
	if !c.HasText() {
		return ErrNoText
	}
	return c.text.send(text)
}

// TextStats returns the text counters (zero without text).
func (c *Call) TextStats() TextStats {
	if c.text == nil {
		return TextStats{}
	}
	return c.text.stats()
}

// ---- negotiation ----

// textTrunk reports whether calls on t carry real-time text: RTP/AVP, or
// RTP/SAVP with an a=crypto of its own on srtp: sdes trunks.
func textTrunk(t *config.Trunk) bool {
	return t != nil && t.Text && !t.IsWhatsApp() && t.SRTP != "dtls"
}

// offerText gives an outbound call on a text trunk its m=text port. Without
// a free port the call goes on without text.
func (c *Call) offerText(lang string) {
	pair, err := c.ua.pool.Get()
	if err != nil {
		c.log.Warn("no RTP port for real-time text; calling without text")
		return
	}
	p := rtt.DefaultSDPParams()
	p.CPS = textCPS
	p.Lang = lang
	s, err := newTextStream(c.log, pair, p)
	if err == nil && c.audio.localCrypto != nil { // the trunk's srtp: sdes
		s.localCrypto, err = newLocalCrypto()
	}
	if err != nil {
		_ = pair.Close()
		return
	}
	c.text = s
}

// answerText applies the far end's answer to our m=text offer: text starts,
// or (port 0, omitted, unusable) the call has none and the port goes back.
func (c *Call) answerText(s *sdp.Session) {
	if c.text == nil || textState(c.text.state.Load()) != textOffered {
		return
	}
	m := firstText(s)
	var remote rtt.SDPParams
	err := ErrNoText
	if m != nil && m.Active() && m.Addr.IsValid() && !m.Addr.IsUnspecified() {
		var cr *sdp.Crypto
		if cr, err = textCrypto(m); err == nil {
			if remote, err = rtt.ParseSDP(textDescription(m)); err == nil {
				err = c.text.start(remote, netip.AddrPortFrom(m.Addr.Unmap(), uint16(m.Port)), cr)
			}
		}
	}
	if err != nil {
		c.log.Info("no real-time text with the far end", "reason", textRefusal(m))
		c.text.close()
		return
	}
	c.log.Info("real-time text negotiated", "red", remote.REDPT != 0, "cps", remote.CPS)
}

func textRefusal(m *sdp.Media) string {
	switch {
	case m == nil:
		return "m=text omitted"
	case !m.Active():
		return "m=text rejected (port 0)"
	}
	return "m=text unusable"
}

// acceptText answers an inbound offer's m=text: with text (red if offered,
// plain t140 otherwise) when the call came from a trunk with text: true,
// otherwise the line is rejected with port 0 and the call goes on.
func (c *Call) acceptText(offer *sdp.Session, textOK bool) {
	var m *sdp.Media
	for i := range offer.Media {
		if offer.Media[i].Kind == "text" {
			m = &offer.Media[i]
			break
		}
	}
	if m == nil {
		return
	}
	c.textOffer = m
	for _, o := range offer.Media {
		c.offerKind = append(c.offerKind, o.Kind)
	}
	if !textOK || !m.Active() || !m.Addr.IsValid() || m.Addr.IsUnspecified() {
		return
	}
	cr, err := textCrypto(m)
	if err != nil {
		return
	}
	remote, err := rtt.ParseSDP(textDescription(m))
	if err != nil {
		return
	}
	pair, err := c.ua.pool.Get()
	if err != nil {
		c.log.Warn("no RTP port for real-time text; answering without text")
		return
	}
	local := remote // the offer's payload types, red only if offered
	local.CPS = textCPS
	s, err := newTextStream(c.log, pair, local)
	if err == nil && cr != nil { // answer SRTP with our own key, the offer's tag
		if s.localCrypto, err = newLocalCrypto(); err == nil {
			s.localCrypto.Tag = cr.Tag
		}
	}
	if err == nil {
		err = s.start(remote, netip.AddrPortFrom(m.Addr.Unmap(), uint16(m.Port)), cr)
	}
	if err != nil {
		if s != nil {
			s.close()
		} else {
			_ = pair.Close()
		}
		return
	}
	c.text = s
	c.log.Info("real-time text accepted", "red", remote.REDPT != 0, "cps", remote.CPS)
}

// reofferText follows a changed text address in a re-offer.
func (c *Call) reofferText(s *sdp.Session) {
	if !c.text.active() {
		return
	}
	if m := firstText(s); m != nil && m.Active() && m.Addr.IsValid() && !m.Addr.IsUnspecified() {
		c.text.setRemote(netip.AddrPortFrom(m.Addr.Unmap(), uint16(m.Port)))
	}
}

// textMedia is our m=text line, if the call has one: the stream's port and
// formats, or port 0 for an m=text refused (RFC 3264 §6: the answer, and
// later offers, keep every m-line of the offer).
func (c *Call) textMedia() (sdp.LocalMedia, bool) {
	if s := c.text; s != nil && textState(s.state.Load()) != textOff {
		return sdp.LocalMedia{Kind: "text", Port: s.pair.Port, Codecs: textCodecs(s.local), Direction: sdp.SendRecv, Crypto: s.localCrypto, Lang: s.local.Lang}, true
	}
	if c.text != nil {
		proto := "RTP/AVP"
		if c.text.localCrypto != nil {
			proto = "RTP/SAVP"
		}
		return sdp.LocalMedia{Kind: "text", Port: 0, Codecs: textCodecs(c.text.local), Proto: proto}, true
	}
	if m := c.textOffer; m != nil {
		return sdp.LocalMedia{Kind: "text", Port: 0, Codecs: m.Codecs, Proto: m.Proto}, true
	}
	return sdp.LocalMedia{}, false
}

// textCodecs writes p's formats (rtt's SDP helper) as our SDP builder's
// codecs: red first, with its fmtp "98/98/98", then t140 with cps.
func textCodecs(p rtt.SDPParams) []sdp.Codec {
	md := p.MediaDescription(0)
	byPT := map[string]*sdp.Codec{}
	var out []*sdp.Codec
	for _, f := range md.MediaName.Formats {
		n, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		cd := &sdp.Codec{PT: uint8(n), Channels: 1}
		byPT[f] = cd
		out = append(out, cd)
	}
	for _, a := range md.Attributes {
		pt, rest, _ := strings.Cut(a.Value, " ")
		cd := byPT[pt]
		if cd == nil {
			continue
		}
		switch a.Key {
		case "rtpmap":
			name, clock, _ := strings.Cut(rest, "/")
			cd.Name = name
			if v, err := strconv.ParseUint(clock, 10, 32); err == nil {
				cd.Clock = uint32(v)
			}
		case "fmtp":
			cd.Fmtp = rest
		}
	}
	codecs := make([]sdp.Codec, len(out))
	for i, cd := range out {
		codecs[i] = *cd
	}
	return codecs
}

// textDescription turns a parsed m=text line back into the pion form
// rtt.ParseSDP reads.
func textDescription(m *sdp.Media) *psdp.MediaDescription {
	md := &psdp.MediaDescription{MediaName: psdp.MediaName{
		Media: m.Kind, Port: psdp.RangedPort{Value: m.Port}, Protos: strings.Split(m.Proto, "/"),
	}}
	for _, cd := range m.Codecs {
		pt := strconv.Itoa(int(cd.PT))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, psdp.NewAttribute("rtpmap", pt+" "+cd.Name+"/"+strconv.Itoa(int(cd.Clock))))
		if cd.Fmtp != "" {
			md.Attributes = append(md.Attributes, psdp.NewAttribute("fmtp", pt+" "+cd.Fmtp))
		}
	}
	return md
}

// sortLikeOffer puts our m-lines in the order of the offer's kinds
// (RFC 3264 §6: an answer keeps the offer's m-line order), e.g. an offer
// with m=text before m=video.
func sortLikeOffer(ms []sdp.LocalMedia, kinds []string) {
	if len(kinds) == 0 {
		return
	}
	rank := func(kind string) int {
		if i := slices.Index(kinds, kind); i >= 0 {
			return i
		}
		return len(kinds)
	}
	slices.SortStableFunc(ms, func(a, b sdp.LocalMedia) int { return rank(a.Kind) - rank(b.Kind) })
}

// textCrypto is the far end's key for an RTP/SAVP m=text (nil for RTP/AVP).
func textCrypto(m *sdp.Media) (*sdp.Crypto, error) {
	if !m.Secure() {
		return nil, nil
	}
	cr, ok := pickCrypto(m.Crypto)
	if !ok {
		return nil, errNoCrypto
	}
	return &cr, nil
}

func firstText(s *sdp.Session) *sdp.Media {
	for i := range s.Media {
		if s.Media[i].Kind == "text" {
			return &s.Media[i]
		}
	}
	return nil
}
