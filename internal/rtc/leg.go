package rtc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/sdp"
)

// ErrNoAudio means the browser's description has no usable audio.
var ErrNoAudio = errors.New("rtc: no common audio codec")

// Leg is one browser PeerConnection.
type Leg struct {
	ID  string
	log *slog.Logger
	pc  *webrtc.PeerConnection

	audio, video    *leg.Track
	audioOut        *audioTrack
	videoOut        *webrtc.TrackLocalStaticRTP
	audioSender     *webrtc.RTPSender
	remoteVideoSSRC atomic.Uint32
	recvAudioCodec  atomic.Pointer[string]
	recvVideoCodec  atomic.Pointer[string]

	offered      *sdp.Media // the browser's audio offer, when we answer
	offeredVideo *sdp.Media // the browser's video offer, when we answer
	videoSender  *webrtc.RTPSender

	nmu     sync.Mutex
	refused []Refusal

	audioIn, videoIn atomic.Uint64
	audioOutN        atomic.Uint64
	smu              sync.Mutex // received audio figures
	lost             int64
	jitterMs         float64

	amu, vmu   sync.Mutex // outgoing streams' rewriters (sources may change)
	arw, vrw   *media.Rewriter
	abuf, vbuf [1500]byte

	rmu      sync.Mutex // one ICE restart at a time
	restarts atomic.Uint64

	mu      sync.Mutex // guards closed against late OnTrack callbacks
	closed  bool
	wg      sync.WaitGroup
	done    chan struct{}
	once    sync.Once
	onState func(webrtc.PeerConnectionState)

	text *textState // nil unless Options.Text (text.go)

	// audio-only legs (fast.go): their RTCP reports come from these
	// counters, and their media may take the fast path
	engine          *Engine // set for audio-only legs: the report ticker knows them
	fast            *fastState
	fmu             sync.Mutex // fast.from
	fastOn, closing atomic.Bool
	fastDropped     atomic.Uint64
	fastIn, fastOut atomic.Uint64 // packets each way on the fast path
	dmu             sync.Mutex    // one delivery at a time: pion's reader and the fast path meet at takeover
	ars             *recvStats    // l.smu
	remoteAudioSSRC uint32        // l.smu
	rrExpected      int64         // l.smu: at the last RR
	rrReceived      int64
	sr              struct { // l.amu: what was sent, for SRs
		packets, octets, lastTS uint32
		lastAt                  time.Time
	}
}

// Refusal is a medium the other side's description left out of the call:
// the call goes on without it.
type Refusal struct {
	Kind   string `json:"kind"`   // "video", "text" (no data channel, or a page channel closed: text.go)
	Reason string `json:"reason"` // e.g. "the browser answered without H264"
}

// Refused lists the media the browser's offer or answer left out (no codec
// in common, a rejected m-line), in the order they were found.
func (l *Leg) Refused() []Refusal {
	l.nmu.Lock()
	defer l.nmu.Unlock()
	return append([]Refusal(nil), l.refused...)
}

func (l *Leg) refuse(kind, reason string) {
	l.nmu.Lock()
	l.refused = append(l.refused, Refusal{Kind: kind, Reason: reason})
	l.nmu.Unlock()
	l.log.Info("medium refused", "kind", kind, "reason", reason)
}

// Options for a new leg.
type Options struct {
	// AudioPrefs orders audio codecs (PCMU, PCMA, opus): the first one the
	// browser supports is what the hub sends and asks the browser to send.
	AudioPrefs []string
	Video      bool
	// VideoCodecs orders the video codecs the hub may forward ("H264",
	// "VP8"): the first one the browser offers is used. One entry when the
	// other side already fixed it; empty means H264 then VP8.
	VideoCodecs []string
	// OnState observes the PeerConnection state (called on pion's goroutine: post only).
	OnState func(webrtc.PeerConnectionState)
	// Text turns on real-time text (T.140 over data channels, RFC 8865;
	// text.go): the answer keeps the browser's m=application, the hub's
	// offer carries one, the page's t140 channel is read (OnText) and
	// OpenText opens the hub's channels. Off, an offered m=application is
	// answered as before and channels the page opens are closed (pion's
	// default).
	Text bool
	// TextCPS paces each hub → page text channel (characters per second,
	// rtt.cps); 0 means DefaultTextCPS.
	TextCPS int
}

func (e *Engine) newLeg(o Options, offering, video bool) (*Leg, error) {
	api := e.apiAudio
	if video {
		api = e.api
	}
	cert, err := e.certificate()
	if err != nil {
		return nil, fmt.Errorf("rtc: DTLS certificate: %w", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		Certificates:  []webrtc.Certificate{cert},
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
		// The hub's offer gets m=application without a placeholder
		// channel: the page sees only the channels OpenText opens.
		AlwaysNegotiateDataChannels: o.Text && offering,
	})
	if err != nil {
		return nil, err
	}
	l := &Leg{ID: "rtc_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16], pc: pc, done: make(chan struct{}), onState: o.OnState}
	l.log = e.log.With("leg", l.ID)
	if !video {
		l.engine = e
		if e.fast != nil {
			l.fast = &fastState{conn: e.fast}
		}
		// the report ticker learns of the leg once its tracks exist (started)
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		l.log.Info("WebRTC state", "state", s.String())
		if l.onState != nil {
			l.onState(s)
		}
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			l.finish()
			// The browser's DTLS close_notify makes pion close the
			// PeerConnection by itself, and a failed one is never used
			// again: release the leg as Close does (it is idempotent), or
			// its fast-path route and report ticker entry keep it — and
			// its whole PeerConnection — alive for ever. The session that
			// sees the leg gone does not close it. Off pion's callback
			// goroutine: Close waits for pion's.
			go l.Close()
		}
	})
	pc.OnTrack(l.onTrack)
	if o.Text {
		l.text = newTextState(o)
		l.text.ok = offering // answering: settled by the offer (textNegotiated)
		pc.OnDataChannel(l.onDataChannel)
	}
	return l, nil
}

// AcceptOffer answers a browser's offer. The answer carries all of the hub's
// candidates (no server-side trickle).
func (e *Engine) AcceptOffer(ctx context.Context, offer string, o Options) (*Leg, string, error) {
	parsed, err := sdp.Parse([]byte(offer))
	if err != nil {
		return nil, "", fmt.Errorf("rtc: offer: %w", err)
	}
	am := parsed.First("audio")
	if am == nil {
		return nil, "", ErrNoAudio
	}
	audioCodec, ok := pickAudio(am, o.AudioPrefs)
	if !ok {
		return nil, "", ErrNoAudio
	}
	vname, refusal := "", ""
	vm := parsed.First("video")
	if vm != nil && o.Video && e.video {
		vname = pickVideo(vm, o.VideoCodecs)
		if vname == "" {
			refusal = fmt.Sprintf("no video codec in common: the browser offered %s, the hub forwards %s",
				codecNames(vm.Codecs), strings.Join(videoPrefs(o.VideoCodecs), ", "))
		}
	}
	l, err := e.newLeg(o, false, vname != "")
	if err != nil {
		return nil, "", err
	}
	if refusal != "" {
		l.refuse("video", refusal)
	}
	l.textNegotiated(parsed, true)
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		l.Close()
		return nil, "", fmt.Errorf("rtc: offer: %w", err)
	}
	l.offered, l.offeredVideo = am, vm
	if err := l.addTracks(audioCodec, o.AudioPrefs, vname); err != nil {
		l.Close()
		return nil, "", err
	}
	ans, err := l.pc.CreateAnswer(nil)
	if err != nil {
		l.Close()
		return nil, "", fmt.Errorf("rtc: answer: %w", err)
	}
	sdpOut, err := l.setLocalAndGather(ctx, ans)
	if err != nil {
		l.Close()
		return nil, "", err
	}
	l.started()
	return l, sdpOut, nil
}

// started hands an audio-only leg, its tracks made, to the report ticker.
func (l *Leg) started() {
	if l.engine != nil {
		l.engine.addAudioLeg(l)
	}
}

// CreateOffer starts a leg toward a browser (an incoming SIP call); finish it with SetAnswer.
func (e *Engine) CreateOffer(ctx context.Context, o Options) (*Leg, string, error) {
	// addTracks' AddTrack creates one sendrecv transceiver per kind: one
	// audio and one video m-line. (A sendrecv AddTransceiverFromKind first
	// would get a placeholder track and AddTrack a second m-line.)
	vname := ""
	if o.Video && e.video {
		vname = "H264"
		if len(o.VideoCodecs) > 0 {
			vname = strings.ToUpper(o.VideoCodecs[0])
		}
	}
	l, err := e.newLeg(o, true, vname != "")
	if err != nil {
		return nil, "", err
	}
	first, _ := audioParams(o.AudioPrefs[0])
	if err := l.addTracks(first, o.AudioPrefs, vname); err != nil {
		l.Close()
		return nil, "", err
	}
	offer, err := l.pc.CreateOffer(nil)
	if err != nil {
		l.Close()
		return nil, "", err
	}
	s, err := l.setLocalAndGather(ctx, offer)
	if err != nil {
		l.Close()
		return nil, "", err
	}
	l.started()
	return l, s, nil
}

// SetAnswer applies the browser's answer to CreateOffer's offer.
//
// An answer that rejects the video m-line, or keeps none of the offered
// video codecs (Firefox has no H.264 where OpenH264 is not installed),
// leaves the call audio-only: Video becomes nil and Refused says why.
func (l *Leg) SetAnswer(answer string) error {
	// Our offer's track has the first preferred codec; the browser may have
	// answered another one only: send in the answered codec, or pion cannot
	// bind the track ("codec is not supported by remote").
	if p, err := sdp.Parse([]byte(answer)); err == nil {
		l.textNegotiated(p, false)
		if l.videoOut != nil {
			if why := videoRefusal(p, l.videoOut.Codec()); why != "" {
				if err := l.pc.RemoveTrack(l.videoSender); err != nil {
					return fmt.Errorf("rtc: answer: dropping video: %w", err)
				}
				l.refuse("video", why)
				l.video, l.videoOut, l.videoSender = nil, nil, nil
			}
		}
		if am := p.First("audio"); am != nil && len(am.Codecs) > 0 {
			_, kept := am.Find(mimeName(l.audioOut.Codec().MimeType), l.audioOut.Codec().ClockRate)
			if c, ok := audioParams(am.Codecs[0].Name); ok && !kept {
				t, err := l.newAudioTrack(c.RTPCodecCapability)
				if err != nil {
					return err
				}
				if err := l.audioSender.ReplaceTrack(t); err != nil {
					return fmt.Errorf("rtc: answer: %w", err)
				}
				l.audioOut = t
				l.audio.SetSend(fromParams(c), l.audio.SendDTMF())
			}
		}
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("rtc: answer: %w", err)
	}
	// What we send is fixed by the codec our local track is bound to; the
	// browser may send another (its first answered codec), which the bridge
	// handles per packet.
	return nil
}

// videoRefusal says why an answer leaves our video out ("" if it does not):
// no video m-line, a rejected one (port 0 without bundle-only), or none of
// our codec.
func videoRefusal(p *sdp.Session, ours webrtc.RTPCodecCapability) string {
	name := mimeName(ours.MimeType)
	var vm *sdp.Media
	for i := range p.Media {
		if p.Media[i].Kind == "video" {
			vm = &p.Media[i]
			break
		}
	}
	switch {
	case vm == nil:
		return "the browser's answer has no video"
	case !vm.Active():
		return fmt.Sprintf("the browser rejected the video offered in %s (port 0)", name)
	}
	if _, ok := vm.Find(name, ours.ClockRate); !ok {
		return fmt.Sprintf("the browser answered without %s (it answered %s)", name, codecNames(vm.Codecs))
	}
	return ""
}

func codecNames(cs []sdp.Codec) string {
	var out []string
	for _, c := range cs {
		if c.Is("rtx") || c.Is("red") || c.Is("ulpfec") || slicesContainsFold(out, c.Name) {
			continue
		}
		out = append(out, c.Name)
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

func slicesContainsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ErrRestartChanged refuses a restart offer that changes the media: an
// ICE restart renews the transport only.
var ErrRestartChanged = errors.New("rtc: a restart offer must keep the media sections")

// Restart answers the browser's ICE-restart offer (new ice-ufrag and
// ice-pwd, after a network change) on the same PeerConnection: tracks,
// codecs and RTP streams stay, only the transport is re-established, so the
// call goes on without a new session. The answer carries all of the hub's
// candidates, as AcceptOffer's does.
func (l *Leg) Restart(ctx context.Context, offer string) (string, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	p, err := sdp.Parse([]byte(offer))
	if err != nil {
		return "", fmt.Errorf("rtc: restart offer: %w", err)
	}
	cur := l.pc.RemoteDescription()
	if cur == nil {
		return "", errors.New("rtc: restart before the first negotiation finished")
	}
	old, err := sdp.Parse([]byte(cur.SDP))
	if err != nil || len(old.Media) != len(p.Media) {
		return "", ErrRestartChanged
	}
	for i, m := range p.Media {
		if m.Kind != old.Media[i].Kind {
			return "", ErrRestartChanged
		}
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("rtc: restart offer: %w", err)
	}
	ans, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("rtc: restart answer: %w", err)
	}
	out, err := l.setLocalAndGather(ctx, ans)
	if err != nil {
		return "", err
	}
	l.restarts.Add(1)
	l.log.Info("ICE restarted")
	return out, nil
}

// Restarts counts completed ICE restarts.
func (l *Leg) Restarts() uint64 { return l.restarts.Load() }

// AddCandidate adds a trickled browser candidate.
func (l *Leg) AddCandidate(c webrtc.ICECandidateInit) error {
	return l.pc.AddICECandidate(c)
}

func (l *Leg) setLocalAndGather(ctx context.Context, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(d); err != nil {
		return "", fmt.Errorf("rtc: local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(5 * time.Second):
		return "", errors.New("rtc: ICE gathering timed out")
	}
	return l.pc.LocalDescription().SDP, nil
}

func pickAudio(m *sdp.Media, prefs []string) (webrtc.RTPCodecParameters, bool) {
	for _, p := range prefs {
		if _, ok := m.Find(p, 0); ok {
			if c, ok := audioParams(p); ok {
				return c, true
			}
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

func fromSDP(c sdp.Codec) leg.Codec {
	return leg.Codec{PT: c.PT, Name: c.Name, Clock: c.Clock, Channels: c.Channels, Fmtp: c.Fmtp}
}

func fromParams(c webrtc.RTPCodecParameters) leg.Codec {
	return leg.Codec{PT: uint8(c.PayloadType), Name: mimeName(c.MimeType), Clock: c.ClockRate, Channels: int(c.Channels), Fmtp: c.SDPFmtpLine}
}

func videoPrefs(prefs []string) []string {
	if len(prefs) == 0 {
		return []string{"H264", "VP8"}
	}
	return prefs
}

func pickVideo(m *sdp.Media, prefs []string) string {
	for _, name := range videoPrefs(prefs) {
		for _, c := range m.Codecs {
			if c.Is(name) && (!c.Is("H264") || strings.Contains(c.Fmtp, "packetization-mode=1")) {
				return strings.ToUpper(name)
			}
		}
	}
	return ""
}

func videoParams(name string) []webrtc.RTPCodecParameters {
	switch strings.ToUpper(name) {
	case "H264":
		return []webrtc.RTPCodecParameters{CodecH264, CodecH264b}
	case "VP8":
		return []webrtc.RTPCodecParameters{CodecVP8}
	}
	return nil
}

func (l *Leg) addTracks(audio webrtc.RTPCodecParameters, prefs []string, videoName string) error {
	video := videoName != ""
	var err error
	order := []webrtc.RTPCodecParameters{audio}
	for _, p := range append(append([]string{}, prefs...), "PCMU", "PCMA", "opus") {
		if c, ok := audioParams(p); ok && !containsMime(order, c) {
			order = append(order, c)
		}
	}
	order = append(order, CodecTE8k, CodecTE48k)
	if l.offered != nil {
		// Answering: keep what the offer carries, under the offer's payload
		// type numbers (RFC 3264 §6.1; Firefox: Opus 109, telephone-event
		// 101). pion writes the answer, and stamps what it sends, with the
		// preferences' numbers.
		order = asOffered(order, l.offered)
		if len(order) == 0 || !strings.EqualFold(order[0].MimeType, audio.MimeType) {
			return ErrNoAudio
		}
		audio = order[0]
	}
	l.audioOut, err = l.newAudioTrack(audio.RTPCodecCapability)
	if err != nil {
		return err
	}
	sender, err := l.pc.AddTrack(l.audioOut)
	if err != nil {
		return err
	}
	l.audioSender = sender
	for _, t := range l.pc.GetTransceivers() {
		if t.Sender() == sender {
			if err := t.SetCodecPreferences(order); err != nil {
				return fmt.Errorf("rtc: codec preferences: %w", err)
			}
		}
	}
	l.audio = leg.NewTrack("audio", fromParams(audio), leg.Codec{}, leg.WriterFunc(l.writeAudio))
	l.audio.InDTMF = leg.WriterFunc(l.writeDTMF) // sends once telephone-event is negotiated (Bind)
	l.readRTCP(sender, nil)
	if !video {
		for _, t := range l.pc.GetTransceivers() {
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				_ = t.Stop()
			}
		}
		return nil
	}
	vp := videoParams(videoName)
	if l.offeredVideo != nil {
		if m := asOffered(vp, l.offeredVideo); len(m) > 0 {
			vp = m
		}
	}
	l.videoOut, err = webrtc.NewTrackLocalStaticRTP(vp[0].RTPCodecCapability, "video", "split")
	if err != nil {
		return err
	}
	vs, err := l.pc.AddTrack(l.videoOut)
	if err != nil {
		return err
	}
	l.videoSender = vs
	for _, t := range l.pc.GetTransceivers() {
		if t.Sender() == vs {
			if err := t.SetCodecPreferences(vp); err != nil {
				return fmt.Errorf("rtc: video codec preferences: %w", err)
			}
		}
	}
	l.video = leg.NewTrack("video", fromParams(vp[0]), leg.Codec{}, leg.WriterFunc(l.writeVideo))
	l.video.SetKeyframeRequester(l.requestKeyframe)
	l.readRTCP(vs, l.video)
	return nil
}

// asOffered keeps, of ours, the codecs that the offered m-line carries, each
// with the offer's payload type (and, for telephone-event and H.264, its
// fmtp: the event range and the profile are the offerer's). H.264 needs
// packetization-mode=1 and the same profile (profile_idc and constraint
// flags: the first four hex digits of profile-level-id).
func asOffered(ours []webrtc.RTPCodecParameters, offered *sdp.Media) []webrtc.RTPCodecParameters {
	out := make([]webrtc.RTPCodecParameters, 0, len(ours))
	used := map[uint8]bool{}
	for _, c := range ours {
		name := mimeName(c.MimeType)
		for _, oc := range offered.Codecs {
			if !oc.Is(name) || oc.Clock != c.ClockRate || used[oc.PT] {
				continue
			}
			if oc.Is("H264") && (fmtpValue(oc.Fmtp, "packetization-mode") != "1" ||
				!strings.EqualFold(profileOf(oc.Fmtp), profileOf(c.SDPFmtpLine))) {
				continue
			}
			m := c
			m.PayloadType = webrtc.PayloadType(oc.PT)
			if oc.Is("telephone-event") || oc.Is("H264") || oc.Is("opus") {
				// the offer's own parameters: pion refuses preferences
				// whose fmtp differs from what the offer negotiated
				// (Meta's Opus has minptime=20, maxplaybackrate=16000)
				m.SDPFmtpLine = oc.Fmtp
			}
			used[oc.PT] = true
			out = append(out, m)
			break
		}
	}
	return out
}

func fmtpValue(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// profileOf is an H.264 profile-level-id without its level ("42e0"); absent,
// the default profile (RFC 6184 §8.1: 420010) gives "4200".
func profileOf(fmtp string) string {
	p := fmtpValue(fmtp, "profile-level-id")
	if len(p) != 6 {
		return "4200"
	}
	return strings.ToLower(p[:4])
}

func containsMime(cs []webrtc.RTPCodecParameters, c webrtc.RTPCodecParameters) bool {
	for _, x := range cs {
		if strings.EqualFold(x.MimeType, c.MimeType) && x.ClockRate == c.ClockRate {
			return true
		}
	}
	return false
}

// writeAudio sends one packet to the browser. The stream toward the
// browser stays continuous (sequence numbers, timestamps) whatever feeds
// it: when the source changes — a transfer, a bridge becoming a mixer —
// the browser's SRTP replay check and jitter buffer see one stream.
func (l *Leg) writeAudio(pkt []byte) error {
	l.amu.Lock()
	defer l.amu.Unlock()
	l.audioRewriter()
	b, ok := rewriteInto(l.abuf[:], pkt, l.arw)
	if !ok {
		return nil
	}
	l.sent(b)
	if l.writeFast(b, 0) {
		l.audioOutN.Add(1)
		return nil
	}
	_, err := l.audioOut.Write(b)
	if err == nil {
		l.audioOutN.Add(1)
	}
	if errors.Is(err, errClosedPipe) {
		return nil
	}
	return err
}

// audioRewriter makes the outgoing audio's rewriter on first use (l.amu held).
func (l *Leg) audioRewriter() {
	if l.arw != nil {
		return
	}
	step := uint32(960)
	if c := l.audio.Send(); c.Clock > 0 {
		step = c.Clock / 50
	}
	l.arw = media.NewRewriter(0, step)
}

// writeDTMF sends an RFC 4733 packet on the audio stream (same SSRC, the
// sequence continued) with the payload type the far end negotiated for
// telephone-event: an IVR's digits reach WhatsApp or a browser.
func (l *Leg) writeDTMF(pkt []byte) error {
	ws, ssrc, pt := l.audioOut.dtmfTarget()
	if ws == nil || pt == 0 {
		return nil
	}
	l.amu.Lock()
	defer l.amu.Unlock()
	l.audioRewriter()
	if len(pkt) > len(l.abuf) {
		return nil
	}
	b := l.abuf[:copy(l.abuf[:], pkt)]
	if l.arw.Insert(b) != nil {
		return nil
	}
	l.sent(b)
	if l.writeFast(b, pt) {
		l.audioOutN.Add(1)
		return nil
	}
	var h rtp.Header
	n, err := h.Unmarshal(b)
	if err != nil {
		return nil
	}
	h.SSRC, h.PayloadType = ssrc, pt
	if _, err := ws.WriteRTP(&h, b[n:]); err != nil && !errors.Is(err, errClosedPipe) {
		return err
	}
	l.audioOutN.Add(1)
	return nil
}

// audioTrack is the leg's outgoing audio: pion's static RTP track, which
// stamps every packet with the bound codec's payload type, plus what
// telephone-event was negotiated on the same stream, so writeDTMF can send
// RFC 4733 packets on it.
type audioTrack struct {
	*webrtc.TrackLocalStaticRTP
	onDTMF func(leg.Codec) // the negotiated telephone-event (PT 0: none)

	mu    sync.Mutex
	ws    webrtc.TrackLocalWriter
	ssrc  uint32
	te    uint8
	pt    uint8  // the bound codec's payload type
	clock uint32 // and clock rate
}

func (l *Leg) newAudioTrack(c webrtc.RTPCodecCapability) (*audioTrack, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(c, "audio", "split")
	if err != nil {
		return nil, err
	}
	return &audioTrack{TrackLocalStaticRTP: t, onDTMF: func(c leg.Codec) {
		if l.audio != nil {
			l.audio.SetSend(l.audio.Send(), c)
		}
	}}, nil
}

// Bind binds the static track and notes the telephone-event payload type
// (8 kHz preferred: what SIP and WhatsApp use) of the same negotiation.
func (t *audioTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, err := t.TrackLocalStaticRTP.Bind(c)
	if err != nil {
		return codec, err
	}
	var te leg.Codec
	for _, cp := range c.CodecParameters() {
		if strings.EqualFold(cp.MimeType, "audio/telephone-event") && (te.PT == 0 || cp.ClockRate == 8000) {
			te = leg.Codec{PT: uint8(cp.PayloadType), Name: "telephone-event", Clock: cp.ClockRate, Fmtp: cp.SDPFmtpLine}
		}
	}
	t.mu.Lock()
	t.ws, t.ssrc, t.te = c.WriteStream(), uint32(c.SSRC()), te.PT
	t.pt, t.clock = uint8(codec.PayloadType), codec.ClockRate
	t.mu.Unlock()
	if te.PT != 0 && t.onDTMF != nil {
		t.onDTMF(te)
	}
	return codec, nil
}

// Unbind forgets the stream.
func (t *audioTrack) Unbind(c webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.ws = nil
	t.mu.Unlock()
	return t.TrackLocalStaticRTP.Unbind(c)
}

// bound is the stream the track is bound to: SSRC, the codec's payload
// type and clock (ssrc 0: not bound).
func (t *audioTrack) bound() (ws webrtc.TrackLocalWriter, ssrc uint32, pt uint8, clock uint32) {
	if t == nil {
		return nil, 0, 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ws == nil {
		return nil, 0, 0, 0
	}
	return t.ws, t.ssrc, t.pt, t.clock
}

func (t *audioTrack) dtmfTarget() (webrtc.TrackLocalWriter, uint32, uint8) {
	if t == nil {
		return nil, 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ws, t.ssrc, t.te
}

func (l *Leg) writeVideo(pkt []byte) error {
	l.vmu.Lock()
	defer l.vmu.Unlock()
	if l.vrw == nil {
		l.vrw = media.NewRewriter(0, 3000)
	}
	b, ok := rewriteInto(l.vbuf[:], pkt, l.vrw)
	if !ok {
		return nil
	}
	_, err := l.videoOut.Write(b)
	return err
}

// rewriteInto copies pkt into buf and rewrites it there (the source's
// buffer is left alone).
func rewriteInto(buf, pkt []byte, rw *media.Rewriter) ([]byte, bool) {
	if len(pkt) > len(buf) {
		return nil, false
	}
	b := buf[:copy(buf, pkt)]
	if rw.Rewrite(b) != nil {
		return nil, false
	}
	return b, true
}

var errClosedPipe = errors.New("io: read/write on closed pipe")

func (l *Leg) requestKeyframe() {
	if ssrc := l.remoteVideoSSRC.Load(); ssrc != 0 {
		_ = l.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// readRTCP drains a sender's RTCP (interceptors need it) and turns the
// browser's PLI/FIR into keyframe requests for the source leg.
func (l *Leg) readRTCP(s *webrtc.RTPSender, t *leg.Track) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			pkts, _, err := s.ReadRTCP()
			if err != nil {
				return
			}
			if t == nil {
				continue
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					t.KeyframeRequested()
				}
			}
		}
	}()
}

func (l *Leg) onTrack(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	var t *leg.Track
	switch tr.Kind() {
	case webrtc.RTPCodecTypeAudio:
		t = l.audio
		n := mimeName(tr.Codec().MimeType)
		l.recvAudioCodec.Store(&n)
	case webrtc.RTPCodecTypeVideo:
		t = l.video
		l.remoteVideoSSRC.Store(uint32(tr.SSRC()))
		n := mimeName(tr.Codec().MimeType)
		l.recvVideoCodec.Store(&n)
	}
	if t == nil {
		return
	}
	var recv []leg.Codec
	for _, c := range r.GetParameters().Codecs {
		recv = append(recv, fromParams(c))
	}
	t.SetRecv(recv)
	l.log.Info("browser track", "kind", tr.Kind().String(), "codec", tr.Codec().MimeType, "ssrc", uint32(tr.SSRC()))
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		t.KeyframeRequested() // ask the SIP side for a keyframe now that someone watches
		l.requestKeyframe()
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	buf := make([]byte, 1500)
	if t == l.audio {
		l.smu.Lock()
		l.ars, l.remoteAudioSSRC = &recvStats{clock: float64(tr.Codec().ClockRate)}, uint32(tr.SSRC())
		l.smu.Unlock()
		l.startFast(uint32(tr.SSRC()))
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			l.audioPacket(buf[:n])
		}
	}
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		l.videoIn.Add(1)
		_ = t.Deliver(buf[:n])
	}
}

// audioPacket takes one decrypted audio packet from the browser, from
// pion's track reader or from the fast path.
func (l *Leg) audioPacket(p []byte) {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	l.audioIn.Add(1)
	if len(p) >= 12 {
		l.smu.Lock()
		if rs := l.ars; rs != nil {
			rs.add(p, time.Now())
			l.lost, l.jitterMs = rs.lost(), rs.jitter*1000/rs.clock
		}
		l.smu.Unlock()
	}
	_ = l.audio.Deliver(p)
}

// sent counts an outgoing audio packet for the SR (l.amu held).
func (l *Leg) sent(b []byte) {
	if len(b) < 12 {
		return
	}
	l.sr.packets++
	l.sr.octets += uint32(len(b) - 12)
	l.sr.lastTS, l.sr.lastAt = binary.BigEndian.Uint32(b[4:]), time.Now()
}

// recvStats follows one received stream: loss from sequence numbers and
// the RFC 3550 §6.4.1 interarrival jitter (in RTP clock units).
type recvStats struct {
	clock          float64
	started        bool
	base, high     uint32 // extended sequence numbers
	received       int64
	jitter         float64
	lastTransit    float64
	haveTransit    bool
	firstArrivalNs int64
}

func (r *recvStats) add(pkt []byte, at time.Time) {
	seq := uint32(uint16(pkt[2])<<8 | uint16(pkt[3]))
	ts := uint32(pkt[4])<<24 | uint32(pkt[5])<<16 | uint32(pkt[6])<<8 | uint32(pkt[7])
	if !r.started {
		r.started, r.base, r.high, r.firstArrivalNs = true, seq, seq, at.UnixNano()
	} else {
		// extend the 16-bit sequence number next to the highest seen
		ext := r.high&^0xffff | seq
		if int32(ext-r.high) < -0x8000 {
			ext += 0x10000
		} else if int32(ext-r.high) > 0x8000 {
			ext -= 0x10000
		}
		if int32(ext-r.high) > 0 {
			r.high = ext
		}
	}
	r.received++
	if r.clock > 0 {
		arrival := float64(at.UnixNano()-r.firstArrivalNs) / 1e9 * r.clock
		transit := arrival - float64(ts)
		if r.haveTransit {
			d := transit - r.lastTransit
			if d < 0 {
				d = -d
			}
			r.jitter += (d - r.jitter) / 16
		}
		r.lastTransit, r.haveTransit = transit, true
	}
}

func (r *recvStats) lost() int64 {
	if !r.started {
		return 0
	}
	return max(int64(r.high-r.base+1)-r.received, 0)
}

// PacketsIn counts the RTP packets received from the browser.
func (l *Leg) PacketsIn() (audio, video uint64) { return l.audioIn.Load(), l.videoIn.Load() }

// Audio is the audio track.
func (l *Leg) Audio() *leg.Track { return l.audio }

// Video is the video track, or nil.
func (l *Leg) Video() *leg.Track { return l.video }

// Kind is leg.KindWebRTC.
func (l *Leg) Kind() leg.Kind { return leg.KindWebRTC }

// Done is closed when the PeerConnection failed or closed.
func (l *Leg) Done() <-chan struct{} { return l.done }

// RecvCodecs names what the browser actually sends (empty until media).
func (l *Leg) RecvCodecs() (audio, video string) {
	if p := l.recvAudioCodec.Load(); p != nil {
		audio = *p
	}
	if p := l.recvVideoCodec.Load(); p != nil {
		video = *p
	}
	return
}

// SendCodecs names what the hub sends the browser.
func (l *Leg) SendCodecs() (audio, video string) {
	audio = l.audio.Send().Name
	if l.video != nil {
		video = l.video.Send().Name
	}
	return
}

func (l *Leg) finish() {
	l.once.Do(func() { close(l.done) })
}

// pcCloseTimeout bounds PeerConnection.Close (see Close).
const pcCloseTimeout = 5 * time.Second

// errCloseStuck: PeerConnection.Close did not return within pcCloseTimeout.
var errCloseStuck = errors.New("rtc: the PeerConnection did not close within 5 s (pion SRTP read loop stuck); its goroutines are abandoned")

// Close closes the PeerConnection and waits for the leg's goroutines.
//
// pion's Close can hang for ever: a packet of a new SSRC arriving while the
// PeerConnection closes blocks SRTP's read loop on handing the stream to
// an accept loop that has already stopped (pion/srtp session_srtp.go
// decrypt; the class of pion/webrtc#1430), and Close waits for that loop.
// Seen once under -race with many calls ending at once. After
// pcCloseTimeout the leg gives up on it (and on its goroutines, which read
// from it) so that its session can end and the hub can stop.
func (l *Leg) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.stopFast()
	if l.engine != nil {
		l.engine.removeAudioLeg(l)
	}
	outs := l.stopText()
	closed := make(chan error, 1)
	go func() { closed <- l.pc.Close() }() // ends with Close, or never (see above)
	var err error
	select {
	case err = <-closed:
	case <-time.After(pcCloseTimeout):
		l.log.Error("the PeerConnection did not close; abandoning it", "err", errCloseStuck)
		l.finish()
		return errCloseStuck
	}
	l.finish()
	l.wg.Wait()
	for _, t := range outs {
		t.pending.Wait()
	}
	return err
}

// MediaStats are a leg's audio RTP figures as pion's statistics report them.
type MediaStats struct {
	PacketsReceived uint64  `json:"packets_received"`
	PacketsLost     int64   `json:"lost"`
	JitterMs        float64 `json:"jitter_ms"`
	PacketsSent     uint64  `json:"packets_sent"`
}

// AudioStats are the leg's audio figures: packets received from and sent
// to the browser, loss and jitter of what it sends us.
func (l *Leg) AudioStats() MediaStats {
	l.smu.Lock()
	defer l.smu.Unlock()
	return MediaStats{PacketsReceived: l.audioIn.Load(), PacketsSent: l.audioOutN.Load(), PacketsLost: l.lost, JitterMs: l.jitterMs}
}
