package notifytest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/media"
)

// Meta's media parameters (research whatsapp.md §5.8, the sample offer of
// §6.3).
const (
	// MetaOpusFmtp is the fmtp line of Opus (PT 111) in Meta's SDP.
	MetaOpusFmtp = "maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1"
	// MetaCNAME is the cname of the Meta peer's single SSRC.
	MetaCNAME = "WhatsAppAudioStream1"
	// DefaultMetaToneHz is the tone a Meta peer plays when MetaPeerOptions
	// gives none.
	DefaultMetaToneHz = 440
)

// MetaPeerOptions configure a MetaPeer. The zero value is usable.
type MetaPeerOptions struct {
	// ToneHz is the sine tone the peer sends as Opus once audio starts
	// (0: DefaultMetaToneHz; negative: silence, still sent as Opus).
	ToneHz float64
	// Amplitude of the tone as a fraction of full scale (0: 0.25).
	Amplitude float64
	// Record is how much received audio (decoded, 48 kHz mono) is kept for
	// DominantHz and Received (0: 10 s).
	Record time.Duration
	// MediaStartTimeout and MediaMidTimeout are Meta's media liveness
	// rules: once StartAudio was called, no inbound media (RTP or RTCP) for
	// MediaStartTimeout before the first packet, or for MediaMidTimeout
	// after it, calls OnMediaTimeout once (0: 20 s and 30 s; negative:
	// never).
	MediaStartTimeout, MediaMidTimeout time.Duration
	// OnMediaTimeout is called (from the peer's goroutine) when a liveness
	// rule fires; firstPacket tells which one (false: nothing ever came).
	OnMediaTimeout func(firstPacket bool)

	// business makes a test-only peer that behaves like the hub must (ICE
	// full and controlling, DTLS client, sends without waiting).
	business bool
}

// MetaPeerStats are a MetaPeer's counters.
type MetaPeerStats struct {
	PacketsIn    uint64 // audio (Opus) RTP packets received
	PacketsOut   uint64 // audio RTP packets sent
	DTMFIn       uint64 // telephone-event packets received
	DTMFOut      uint64 // telephone-event packets sent
	RTCPIn       uint64 // RTCP packets received
	DecodeErrors uint64 // Opus packets that did not decode
	OtherIn      uint64 // RTP packets of another payload type
	// EarlyIn counts RTP packets received before StartAudio (a business
	// that sends media before accept: WhatsApp starts the caller's timer
	// and clips what was said).
	EarlyIn uint64
	Digits  string    // DTMF digits received, in order (each event once)
	FirstIn time.Time // first inbound RTP packet (zero: none)
	LastIn  time.Time // last inbound RTP or RTCP packet (zero: none)
}

// MetaPeer is the stand-in for Meta's media relay on a WhatsApp call
// (research whatsapp.md §5.8): a pion PeerConnection that is ICE-lite
// (hence always ICE controlled), DTLS server (a=setup:actpass in its
// offers, passive in its answers), with one audio m-line — Opus 48 kHz on
// PT 111 with Meta's fmtp and telephone-event/8000 on PT 126 — one SSRC
// whose cname is WhatsAppAudioStream1, host candidates on 127.0.0.1 only,
// CRLF SDP with a=ice-lite, a=ptime:20 and a=maxptime:20.
//
// After StartAudio it plays a sine tone as 20 ms Opus frames, but only once
// the other side's first RTP packet arrived (Meta expects the business to
// send first). It decodes what it receives, detects RFC 4733 digits, sends
// digits with SendDTMF, and enforces the media liveness timeouts. Methods
// are safe for concurrent use; Close stops everything it started.
type MetaPeer struct {
	opts MetaPeerOptions
	pc   *webrtc.PeerConnection
	out  *rawAudioTrack
	tone [][]byte

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connected   chan struct{}
	audioOn     chan struct{} // closed by StartAudio
	audioOnce   sync.Once
	firstIn     chan struct{} // closed on the first inbound RTP packet
	firstInOnce sync.Once
	dtmfReq     chan dtmfRequest

	mu      sync.Mutex
	closed  bool
	sdp     string // our SDP as sent
	remote  string // the SDP applied
	pcm     []int16
	digits  strings.Builder
	firstAt time.Time

	lastIn                                                          atomic.Int64 // unix nanos
	packetsIn, packetsOut, dtmfIn, dtmfOut, rtcpIn, decErr, otherIn atomic.Uint64
	earlyIn                                                         atomic.Uint64
}

type dtmfRequest struct {
	digits string
	done   chan error
}

// NewMetaPeer returns a Meta media peer; use Offer (user-initiated calls:
// Meta offers) or Answer (business-initiated calls: Meta answers).
func NewMetaPeer(o MetaPeerOptions) (*MetaPeer, error) {
	if o.ToneHz == 0 {
		o.ToneHz = DefaultMetaToneHz
	}
	if o.ToneHz < 0 {
		o.ToneHz = 0
	}
	if o.Amplitude == 0 {
		o.Amplitude = 0.25
	}
	if o.Record == 0 {
		o.Record = 10 * time.Second
	}
	if o.MediaStartTimeout == 0 {
		o.MediaStartTimeout = 20 * time.Second
	}
	if o.MediaMidTimeout == 0 {
		o.MediaMidTimeout = 30 * time.Second
	}
	tone, err := opusTone(o.ToneHz, o.Amplitude)
	if err != nil {
		return nil, err
	}
	api, err := newAudioAPI(o.business)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("notifytest: meta peer: %w", err)
	}
	p := &MetaPeer{
		opts: o, pc: pc, tone: tone,
		connected: make(chan struct{}), audioOn: make(chan struct{}), firstIn: make(chan struct{}),
		dtmfReq: make(chan dtmfRequest),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	pc.OnTrack(p.onTrack)
	streamID := MetaCNAME
	if o.business {
		streamID = "business"
	}
	p.out = &rawAudioTrack{stream: streamID}
	sender, err := pc.AddTrack(p.out)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("notifytest: meta peer: %w", err)
	}
	p.wg.Add(2)
	go p.readRTCP(sender.Read)
	go p.sendLoop()
	if !o.business {
		p.wg.Add(1)
		go p.watchdog()
	}
	return p, nil
}

// newAudioAPI builds the pion API of a Meta peer (business false) or of
// the test-only business peer.
func newAudioAPI(business bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: MetaOpusFmtp,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000}, PayloadType: 126},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if business {
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
			return nil, err
		}
	} else {
		se.SetLite(true)
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Offer creates the peer's SDP offer (all candidates gathered) and returns
// it as sent to the business.
func (p *MetaPeer) Offer(ctx context.Context) (string, error) {
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("notifytest: meta offer: %w", err)
	}
	return p.setLocal(ctx, offer)
}

// SetAnswer applies the business's SDP answer to the peer's offer.
func (p *MetaPeer) SetAnswer(sdp string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("notifytest: meta peer: set remote answer: %w", err)
	}
	p.mu.Lock()
	p.remote = sdp
	p.mu.Unlock()
	return nil
}

// Answer applies the business's SDP offer and returns the peer's answer.
func (p *MetaPeer) Answer(ctx context.Context, offer string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("notifytest: meta peer: set remote offer: %w", err)
	}
	p.mu.Lock()
	p.remote = offer
	p.mu.Unlock()
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("notifytest: meta answer: %w", err)
	}
	return p.setLocal(ctx, ans)
}

func (p *MetaPeer) setLocal(ctx context.Context, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(d); err != nil {
		return "", fmt.Errorf("notifytest: meta peer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	sdp := p.pc.LocalDescription().SDP
	if !p.opts.business {
		sdp = metaSDP(sdp)
	}
	p.mu.Lock()
	p.sdp = sdp
	p.mu.Unlock()
	return sdp, nil
}

// metaSDP adds what pion does not write but Meta's SDP has (a=ptime:20,
// a=maxptime:20) and makes sure every line ends in CRLF.
func metaSDP(s string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
		if l == "a=rtcp-mux" {
			b.WriteString("a=ptime:20\r\na=maxptime:20\r\n")
		}
	}
	return b.String()
}

// SDP is the peer's own SDP (offer or answer) as sent.
func (p *MetaPeer) SDP() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sdp
}

// RemoteSDP is the business's SDP the peer applied.
func (p *MetaPeer) RemoteSDP() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remote
}

// StartAudio lets the peer send its tone (once the business's first packet
// arrived) and arms the media liveness timeouts. Meta does this when the
// call is answered (accept; ACCEPTED for business-initiated calls).
func (p *MetaPeer) StartAudio() { p.audioOnce.Do(func() { close(p.audioOn) }) }

// WaitConnected waits until ICE and DTLS are up.
func (p *MetaPeer) WaitConnected(ctx context.Context) error {
	select {
	case <-p.connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notifytest: meta peer not connected (%s): %w", p.pc.ConnectionState(), ctx.Err())
	}
}

func (p *MetaPeer) onTrack(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(2)
	p.mu.Unlock()
	go p.readRTCP(r.Read)
	defer p.wg.Done()
	opusPT, tePT := -1, -1
	for _, c := range r.GetParameters().Codecs {
		switch {
		case strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus):
			opusPT = int(c.PayloadType)
		case strings.EqualFold(c.MimeType, "audio/telephone-event") && c.ClockRate == 8000:
			tePT = int(c.PayloadType)
		}
	}
	dec, err := media.NewOpusDecoder(48000)
	if err != nil {
		return
	}
	pcm := make([]int16, media.OpusMaxFrameSamples(48000))
	maxSamples := int(p.opts.Record.Seconds() * 48000)
	var det media.DTMFDetector
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		hl, _, err := media.RTPHeaderLen(pkt)
		if err != nil {
			continue
		}
		now := time.Now()
		p.lastIn.Store(now.UnixNano())
		p.firstInOnce.Do(func() {
			p.mu.Lock()
			p.firstAt = now
			p.mu.Unlock()
			close(p.firstIn)
		})
		select {
		case <-p.audioOn:
		default:
			p.earlyIn.Add(1)
		}
		pt := int(pkt[1] & 0x7f)
		switch pt {
		case opusPT:
			p.packetsIn.Add(1)
			k, err := dec.Decode(pkt[hl:], pcm)
			if err != nil {
				p.decErr.Add(1)
				continue
			}
			p.mu.Lock()
			p.pcm = append(p.pcm, pcm[:k]...)
			if over := len(p.pcm) - maxSamples; over > 0 {
				p.pcm = append(p.pcm[:0], p.pcm[over:]...)
			}
			p.mu.Unlock()
		case tePT:
			p.dtmfIn.Add(1)
			if d, ok := det.Push(binary.BigEndian.Uint32(pkt[4:8]), pkt[hl:]); ok {
				p.mu.Lock()
				p.digits.WriteRune(d)
				p.mu.Unlock()
			}
		default:
			p.otherIn.Add(1)
		}
	}
}

func (p *MetaPeer) readRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := read(buf); err != nil {
			return
		}
		p.rtcpIn.Add(1)
		p.lastIn.Store(time.Now().UnixNano())
	}
}

// sendLoop paces 20 ms packets: the tone, or DTMF events when asked.
func (p *MetaPeer) sendLoop() {
	defer p.wg.Done()
	for _, ch := range []chan struct{}{p.connected, p.audioOn, p.firstIn} {
		if p.opts.business && ch != p.connected {
			continue // the business sends first, as soon as it is connected
		}
		select {
		case <-ch:
		case <-p.ctx.Done():
			return
		}
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var (
		ts, frame uint32
		pending   []media.DTMFPacket
		gap       int
		cur       *dtmfRequest
		rest      string
		eventTS   uint32
	)
	for {
		if cur != nil && len(pending) == 0 && gap == 0 {
			if rest == "" {
				cur.done <- nil
				cur = nil
			} else if p.out.tePT() == 0 {
				cur.done <- errors.New("notifytest: telephone-event/8000 was not negotiated")
				cur, rest = nil, ""
			} else {
				d := []rune(rest)[0]
				rest = rest[len(string(d)):]
				pending, _ = media.DTMFPackets(d, 100, 8000, 20) // digits checked by SendDTMF
				eventTS = ts
			}
		}
		if len(pending) > 0 {
			pk := pending[0]
			pending = pending[1:]
			if p.out.write(p.out.tePT(), pk.Marker, eventTS, pk.Payload[:]) == nil {
				p.dtmfOut.Add(1)
			}
			if len(pending) == 0 {
				gap = 3 // 60 ms of audio between digits
			}
		} else {
			if gap > 0 {
				gap--
			}
			if p.out.write(p.out.opusPT(), frame == 0, ts, p.tone[frame%uint32(len(p.tone))]) == nil {
				p.packetsOut.Add(1)
			}
			frame++
		}
		ts += 960
		select {
		case <-t.C:
		case <-p.ctx.Done():
			if cur != nil {
				cur.done <- p.ctx.Err()
			}
			return
		case r := <-p.dtmfReq:
			if cur != nil { // one request at a time
				r.done <- errors.New("notifytest: SendDTMF already in progress")
				break
			}
			cur, rest = &r, r.digits
		}
	}
}

// SendDTMF sends digits (0-9, *, #, A-D) as RFC 4733 events on the
// negotiated telephone-event/8000 payload type (100 ms each, 60 ms apart)
// on the audio SSRC, and returns once they are sent. Audio must be flowing.
func (p *MetaPeer) SendDTMF(ctx context.Context, digits string) error {
	for _, d := range digits {
		if _, ok := media.DigitToEvent(d); !ok {
			return fmt.Errorf("notifytest: DTMF digit %q", d)
		}
	}
	r := dtmfRequest{digits: digits, done: make(chan error, 1)}
	select {
	case p.dtmfReq <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.ctx.Done():
		return errors.New("notifytest: meta peer closed")
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watchdog applies Meta's media liveness rules once audio started.
func (p *MetaPeer) watchdog() {
	defer p.wg.Done()
	select {
	case <-p.audioOn:
	case <-p.ctx.Done():
		return
	}
	start := time.Now()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return
		}
		now := time.Now()
		select {
		case <-p.firstIn:
			last := time.Unix(0, p.lastIn.Load())
			if p.opts.MediaMidTimeout > 0 && now.Sub(last) >= p.opts.MediaMidTimeout {
				if p.opts.OnMediaTimeout != nil {
					p.opts.OnMediaTimeout(true)
				}
				return
			}
		default:
			if p.opts.MediaStartTimeout > 0 && now.Sub(start) >= p.opts.MediaStartTimeout {
				if p.opts.OnMediaTimeout != nil {
					p.opts.OnMediaTimeout(false)
				}
				return
			}
		}
	}
}

// Stats returns the peer's counters.
func (p *MetaPeer) Stats() MetaPeerStats {
	s := MetaPeerStats{
		PacketsIn: p.packetsIn.Load(), PacketsOut: p.packetsOut.Load(), DTMFIn: p.dtmfIn.Load(), DTMFOut: p.dtmfOut.Load(),
		RTCPIn: p.rtcpIn.Load(), DecodeErrors: p.decErr.Load(), OtherIn: p.otherIn.Load(), EarlyIn: p.earlyIn.Load(),
	}
	if n := p.lastIn.Load(); n != 0 {
		s.LastIn = time.Unix(0, n)
	}
	p.mu.Lock()
	s.Digits = p.digits.String()
	s.FirstIn = p.firstAt
	p.mu.Unlock()
	return s
}

// Received returns a copy of the last d of decoded received audio (48 kHz
// mono; d ≤ 0: all that is kept).
func (p *MetaPeer) Received(d time.Duration) []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	pcm := p.pcm
	if n := int(d.Seconds() * 48000); d > 0 && n < len(pcm) {
		pcm = pcm[len(pcm)-n:]
	}
	return append([]int16(nil), pcm...)
}

// DominantHz is the dominant frequency of the last second of received
// audio (0 for silence or none).
func (p *MetaPeer) DominantHz() float64 {
	pcm := p.Received(time.Second)
	if len(pcm) < 48000/5 {
		return 0
	}
	if media.ToneLevel(pcm, media.DominantFrequency(pcm, 48000, nil), 48000) < 0.01 {
		return 0
	}
	return media.DominantFrequency(pcm, 48000, nil)
}

// WaitTone waits until the dominant frequency of the last second received
// is within tolHz of hz.
func (p *MetaPeer) WaitTone(ctx context.Context, hz, tolHz float64) error {
	return poll(ctx, func() (bool, string) {
		got := p.DominantHz()
		return got != 0 && got >= hz-tolHz && got <= hz+tolHz, fmt.Sprintf("dominant %.0f Hz, want %.0f±%.0f (%d packets in)", got, hz, tolHz, p.packetsIn.Load())
	})
}

// WaitDigits waits until the digits received so far start with want
// (exactly want; more digits afterwards are allowed).
func (p *MetaPeer) WaitDigits(ctx context.Context, want string) error {
	return poll(ctx, func() (bool, string) {
		got := p.Stats().Digits
		return strings.HasPrefix(got, want), fmt.Sprintf("digits %q, want %q", got, want)
	})
}

// WaitPackets waits until at least n audio packets came in.
func (p *MetaPeer) WaitPackets(ctx context.Context, n uint64) error {
	return poll(ctx, func() (bool, string) {
		got := p.packetsIn.Load()
		return got >= n, fmt.Sprintf("%d audio packets in, want %d", got, n)
	})
}

// poll calls cond every 20 ms until it is true or ctx ends.
func poll(ctx context.Context, cond func() (bool, string)) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("notifytest: %s: %w", why, ctx.Err())
		}
	}
}

// Close closes the PeerConnection and waits for the peer's goroutines.
func (p *MetaPeer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	err := p.pc.Close()
	p.wg.Wait()
	return err
}

// opusTone encodes one second of a sine tone (the second second of a
// continuous encoding, so the loop joins in the encoder's steady state) as
// 50 Opus frames of 20 ms at 48 kHz.
func opusTone(hz, amp float64) ([][]byte, error) {
	enc, err := media.NewOpusEncoder(48000, 32000)
	if err != nil {
		return nil, err
	}
	pcm := make([]int16, 960)
	out := make([]byte, media.OpusMaxPacketSize)
	var phase float64
	frames := make([][]byte, 0, 50)
	for i := 0; i < 100; i++ {
		media.GenerateTone(pcm, hz, 48000, &phase, amp)
		n, err := enc.Encode(pcm, out)
		if err != nil {
			return nil, fmt.Errorf("notifytest: opus encode: %w", err)
		}
		if i >= 50 {
			frames = append(frames, append([]byte(nil), out[:n]...))
		}
	}
	return frames, nil
}

// rawAudioTrack is a TrackLocal that writes RTP with the payload type the
// caller chooses (pion's TrackLocalStaticRTP forces the bound codec's), so
// Opus and telephone-event share one SSRC as Meta requires.
type rawAudioTrack struct {
	stream string

	mu       sync.Mutex
	ws       webrtc.TrackLocalWriter
	ssrc     uint32
	opus, te uint8
	seq      uint16
}

func (t *rawAudioTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var opus *webrtc.RTPCodecParameters
	for _, cp := range c.CodecParameters() {
		switch {
		case strings.EqualFold(cp.MimeType, webrtc.MimeTypeOpus) && opus == nil:
			cp := cp
			opus = &cp
		case strings.EqualFold(cp.MimeType, "audio/telephone-event") && cp.ClockRate == 8000:
			t.te = uint8(cp.PayloadType)
		}
	}
	if opus == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.ws, t.ssrc, t.opus = c.WriteStream(), uint32(c.SSRC()), uint8(opus.PayloadType)
	return *opus, nil
}

func (t *rawAudioTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ws = nil
	return nil
}

func (t *rawAudioTrack) ID() string                { return "audio" }
func (t *rawAudioTrack) RID() string               { return "" }
func (t *rawAudioTrack) StreamID() string          { return t.stream }
func (t *rawAudioTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }
func (t *rawAudioTrack) opusPT() uint8             { t.mu.Lock(); defer t.mu.Unlock(); return t.opus }
func (t *rawAudioTrack) tePT() uint8               { t.mu.Lock(); defer t.mu.Unlock(); return t.te }

var errNotBound = errors.New("notifytest: track not bound")

func (t *rawAudioTrack) write(pt uint8, marker bool, ts uint32, payload []byte) error {
	t.mu.Lock()
	ws := t.ws
	h := rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: t.seq, Timestamp: ts, SSRC: t.ssrc}
	t.seq++
	t.mu.Unlock()
	if ws == nil {
		return errNotBound
	}
	_, err := ws.WriteRTP(&h, payload)
	return err
}
