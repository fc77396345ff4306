package testutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/split-hub/split/internal/media"
)

// SessionPeer is a browser stand-in for the session protocol
// (docs/sessions.md): a customer, an agent console or a viewer. It sends a
// PCMU tone and, with video, fake VP8 packets whose payload ends with a tag
// byte, so that a receiver can tell whose video it gets.
type SessionPeer struct {
	ToneHz float64
	Tag    byte // video payload tag
	Video  bool
	Text   bool // real-time text (session_text.go); set before Start or Accept
	// AudioOnly offers no video m-line at all (a voice-only page; without
	// Video the peer otherwise receives video recvonly); set before Start.
	AudioOnly bool

	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	in    *inbox
	pc    *webrtc.PeerConnection
	pcs   []*webrtc.PeerConnection // every call's, closed by Close (an agent accepts several)
	pcm   []int16                  // last second of decoded audio
	tags  map[byte]int
	vseq  []uint16
	alog  []AudioFrame        // the last audioLogMax received audio packets
	leg   string              // the leg of the last start/view answer or accepted offer
	dc    *webrtc.DataChannel // the peer's own t140 channel
	texts map[string]string   // text received, by the hub channel's label

	audioPkts, videoPkts atomic.Uint64
}

// DialSession connects to url (ws://…/v1/sessions/ws?…) and waits for hello.
func DialSession(ctx context.Context, url string, toneHz float64, tag byte, video bool) (*SessionPeer, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	p := &SessionPeer{ToneHz: toneHz, Tag: tag, Video: video, ws: ws, in: newInbox(), tags: map[byte]int{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.readLoop()
	if _, err := p.WaitFor(ctx, func(m Message) bool { return m.Type == "hello" }); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *SessionPeer) readLoop() {
	defer p.wg.Done()
	for {
		_, b, err := p.ws.Read(p.ctx)
		if err != nil {
			p.in.close(errors.New("testutil: socket closed"))
			return
		}
		var m Message
		_ = json.Unmarshal(b, &m)
		m.Raw = b
		p.in.add(m)
	}
}

// Closed reports whether the hub closed the socket (or Close did).
func (p *SessionPeer) Closed() bool {
	p.in.mu.Lock()
	defer p.in.mu.Unlock()
	return p.in.err != nil
}

// Frames returns every frame received so far.
func (p *SessionPeer) Frames() []Message { return p.in.all() }

// WaitFor waits for a frame matching match (including ones already received).
func (p *SessionPeer) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	m, err := p.in.wait(ctx, match)
	if err != nil && ctx.Err() != nil {
		return m, fmt.Errorf("testutil: waiting: %w (frames: %s)", err, p.summary())
	}
	return m, err
}

func (p *SessionPeer) summary() string {
	var parts []string
	for _, m := range p.Frames() {
		s := m.Type
		if m.State != "" {
			s += ":" + m.State
		}
		if m.Type == "error" {
			s += ":" + string(m.Raw)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// Send writes one frame.
func (p *SessionPeer) Send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return p.ws.Write(ctx, websocket.MessageText, b)
}

func (p *SessionPeer) newPC() (*webrtc.PeerConnection, error) { return p.newPCWith(CodecPCMU) }

// newPCWith sends codec (PCMU or PCMA) as its audio.
func (p *SessionPeer) newPCWith(codec string) (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []string{CodecPCMU, CodecPCMA} { // PCMU is what we send; PCMA is decoded too
		if err := m.RegisterCodec(browserAudio[c], webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack", Parameter: "pli"}}}, PayloadType: 96}
	if err := m.RegisterCodec(vp8, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.wg.Add(1)
		defer p.wg.Done()
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				p.audioPkts.Add(1)
				p.mu.Lock()
				for _, b := range pkt.Payload {
					if pkt.PayloadType == 8 {
						p.pcm = append(p.pcm, media.DecodeAlawSample(b))
					} else {
						p.pcm = append(p.pcm, media.DecodeUlawSample(b))
					}
				}
				if len(p.pcm) > 8000 {
					p.pcm = p.pcm[len(p.pcm)-8000:]
				}
				if n := len(pkt.Payload); n > 0 && n <= len(p.pcm) {
					p.alog = append(p.alog, AudioFrame{Seq: pkt.SequenceNumber, At: time.Now(), PCM: append([]int16(nil), p.pcm[len(p.pcm)-n:]...)})
					if len(p.alog) > audioLogMax {
						p.alog = append(p.alog[:0:0], p.alog[len(p.alog)-audioLogMax/2:]...)
					}
				}
				p.mu.Unlock()
				continue
			}
			p.videoPkts.Add(1)
			if len(pkt.Payload) > 0 {
				p.mu.Lock()
				p.tags[pkt.Payload[len(pkt.Payload)-1]]++
				p.vseq = append(p.vseq, pkt.SequenceNumber)
				p.mu.Unlock()
			}
		}
	})
	audio, err := webrtc.NewTrackLocalStaticSample(browserAudio[codec].RTPCodecCapability, "audio", "peer")
	if err != nil {
		return nil, err
	}
	if _, err := pc.AddTrack(audio); err != nil {
		return nil, err
	}
	tone, err := ToneFrames(codec, p.ToneHz, DefaultAmplitude)
	if err != nil {
		return nil, err
	}
	var video *webrtc.TrackLocalStaticRTP
	if p.Video {
		if video, err = webrtc.NewTrackLocalStaticRTP(vp8.RTPCodecCapability, "video", "peer"); err != nil {
			return nil, err
		}
		s, err := pc.AddTrack(video)
		if err != nil {
			return nil, err
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	} else if !p.AudioOnly {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: uint32(p.Tag) + 1000}}
		for i := 0; ; i++ {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
			}
			_ = audio.WriteSample(pmedia.Sample{Data: tone[i%len(tone)], Duration: 20 * time.Millisecond})
			if video != nil && i%2 == 0 {
				pkt.SequenceNumber++
				pkt.Timestamp += 3600
				pkt.Marker = true
				pkt.Payload = []byte{0x10, 0x00, 0x00, 0x00, p.Tag}
				_ = video.WriteRTP(pkt)
			}
		}
	}()
	p.mu.Lock()
	p.pc = pc
	p.pcs = append(p.pcs, pc)
	p.mu.Unlock()
	return pc, nil
}

// Start is the customer's start: offer, answer.
func (p *SessionPeer) Start(ctx context.Context, name string, extra map[string]any) error {
	return p.offer(ctx, "start", name, extra)
}

// View is the viewer's join.
func (p *SessionPeer) View(ctx context.Context) error { return p.offer(ctx, "view", "", nil) }

func (p *SessionPeer) offer(ctx context.Context, typ, name string, extra map[string]any) error {
	pc, err := p.newPC()
	if err != nil {
		return err
	}
	if err := p.textSetup(pc); err != nil {
		return err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-g
	msg := map[string]any{"type": typ, "sdp": pc.LocalDescription().SDP, "name": name}
	for k, v := range extra {
		msg[k] = v
	}
	n := len(p.Frames())
	if err := p.Send(ctx, msg); err != nil {
		return err
	}
	i := 0
	m, err := p.WaitFor(ctx, func(m Message) bool {
		i++
		return i > n && (m.Type == "answer" || m.Type == "error")
	})
	if err != nil {
		return err
	}
	if m.Type == "error" {
		return fmt.Errorf("testutil: %s refused: %s", typ, m.Raw)
	}
	p.mu.Lock()
	p.leg = m.Leg
	p.mu.Unlock()
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
}

// RestartICE restarts ICE on the current PeerConnection as a browser does
// after a network change (restartIce, then a new offer with new
// credentials): it sends a "restart" frame and applies the hub's
// "restarted" answer. It returns the hub's ice-ufrag before and after.
func (p *SessionPeer) RestartICE(ctx context.Context) (before, after string, err error) {
	p.mu.Lock()
	pc, legID := p.pc, p.leg
	p.mu.Unlock()
	if pc == nil || legID == "" || pc.RemoteDescription() == nil {
		return "", "", errors.New("testutil: no call to restart")
	}
	before = iceUfrag(pc.RemoteDescription().SDP)
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return before, "", err
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return before, "", err
	}
	<-g
	n := len(p.Frames())
	if err := p.Send(ctx, map[string]any{"type": "restart", "leg": legID, "sdp": pc.LocalDescription().SDP}); err != nil {
		return before, "", err
	}
	i := 0
	m, err := p.WaitFor(ctx, func(m Message) bool {
		i++
		return i > n && (m.Type == "restarted" || m.Type == "error")
	})
	if err != nil {
		return before, "", err
	}
	if m.Type == "error" {
		return before, "", fmt.Errorf("testutil: restart refused: %s", m.Raw)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		return before, "", err
	}
	return before, iceUfrag(m.SDP), nil
}

func iceUfrag(sdp string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// Accept answers an offer frame (agent), sending the offered G.711 flavour.
func (p *SessionPeer) Accept(ctx context.Context, offer Message) error {
	codec := CodecPCMU
	if !strings.Contains(offer.SDP, "PCMU/8000") && strings.Contains(offer.SDP, "PCMA/8000") {
		codec = CodecPCMA
	}
	pc, err := p.newPCWith(codec)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	<-g
	if err := p.textSetup(pc); err != nil { // a console opens its channel once it has answered
		return err
	}
	p.mu.Lock()
	p.leg = offer.Leg
	p.mu.Unlock()
	return p.Send(ctx, map[string]any{"type": "accept", "leg": offer.Leg, "sdp": pc.LocalDescription().SDP})
}

// AudioPackets and VideoPackets count received RTP.
func (p *SessionPeer) AudioPackets() uint64 { return p.audioPkts.Load() }

// AudioFrame is one received audio packet, decoded.
type AudioFrame struct {
	Seq uint16
	At  time.Time // arrival
	PCM []int16   // 8 kHz samples
}

const audioLogMax = 6000 // 2 minutes of 20 ms packets

// AudioLog returns the received audio packets kept (at least the last
// minute), oldest first; pick a window by At.
func (p *SessionPeer) AudioLog() []AudioFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]AudioFrame(nil), p.alog...)
}

// VideoPackets counts received video RTP packets.
func (p *SessionPeer) VideoPackets() uint64 { return p.videoPkts.Load() }

// VideoFrom counts received video packets tagged tag.
func (p *SessionPeer) VideoFrom(tag byte) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tags[tag]
}

// VideoSeqGaps counts sequence-number discontinuities in the received video.
func (p *SessionPeer) VideoSeqGaps() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	gaps := 0
	for i := 1; i < len(p.vseq); i++ {
		if p.vseq[i] != p.vseq[i-1]+1 {
			gaps++
		}
	}
	return gaps
}

// DominantHz is the strongest of candidates in the last second of audio.
func (p *SessionPeer) DominantHz(candidates []float64) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pcm) < 1600 {
		return 0
	}
	return media.DominantFrequency(p.pcm, 8000, candidates)
}

// CloseMedia closes the peer's PeerConnection and keeps its socket: a page
// that hangs up closes its media as it sends the hangup frame.
func (p *SessionPeer) CloseMedia() error {
	p.mu.Lock()
	pc := p.pc
	p.mu.Unlock()
	if pc == nil {
		return nil
	}
	return pc.Close()
}

// Close hangs up and closes the socket.
func (p *SessionPeer) Close() {
	p.cancel()
	_ = p.ws.Close(websocket.StatusNormalClosure, "")
	p.mu.Lock()
	pcs := p.pcs
	p.pcs = nil // a console that took thousands of calls does not keep them
	p.mu.Unlock()
	for _, pc := range pcs {
		// every call's: a sender's RTCP reader ends only when its own
		// connection is closed here, not when the hub closes its side
		_ = pc.Close()
	}
	p.wg.Wait()
}

// SendRaw writes s as one text frame, as is.
func (p *SessionPeer) SendRaw(ctx context.Context, s string) error {
	return p.ws.Write(ctx, websocket.MessageText, []byte(s))
}

// ToneLevel is the level (0..1 of full scale) of freq in the last second of
// received audio.
func (p *SessionPeer) ToneLevel(freq float64) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pcm) < 1600 {
		return 0
	}
	return media.ToneLevel(p.pcm, freq, 8000)
}
