// Package rtc is SPLIT's browser side on pion/webrtc v4: one webrtc.API per
// process (all ICE on a single UDP port, optional ICE-TCP, NAT 1:1 public
// IPs, DTLS-SRTP), a MediaEngine that registers only the codecs the hub can
// bridge (PCMU, PCMA, Opus, telephone-event; H.264 packetization-mode=1 and
// VP8), and the WebRTC Leg: a PeerConnection whose tracks are leg.Tracks.
package rtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	psdp "github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/config"
)

// Engine holds the webrtc.APIs and their shared sockets.
type Engine struct {
	api *webrtc.API
	// apiAudio serves legs without video: no interceptors at all — no
	// NACK, no TWCC (a goroutine and per-packet work per PeerConnection
	// that audio does not use) and no report loops: the hub's own
	// counters give their SR/RR, sent by one ticker (reports, fast.go).
	apiAudio *webrtc.API

	fast      *fastConn // nil: webrtc.fast_path off
	stop      chan struct{}
	wg        sync.WaitGroup
	lmu       sync.Mutex
	audioLegs map[*Leg]struct{}
	once      sync.Once

	cmu     sync.Mutex
	cert    *webrtc.Certificate // shared by every PeerConnection (certificate)
	certNew time.Time

	udp     net.PacketConn
	tcp     net.Listener
	log     *slog.Logger
	servers []webrtc.ICEServer
	prefs   []string
	video   bool
}

// certRotate is how long the shared DTLS certificate is used for new legs
// (pion's generated certificates are valid for a month).
const certRotate = 7 * 24 * time.Hour

// certificate is the DTLS certificate new legs use: one for all of them,
// as Janus and rtpengine do — pion otherwise generates a key pair and signs
// a certificate for every PeerConnection, about 7 % of a call's set-up
// CPU. It is replaced after certRotate; legs keep the one they started with.
func (e *Engine) certificate() (webrtc.Certificate, error) {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if e.cert == nil || time.Since(e.certNew) > certRotate {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, err
		}
		c, err := webrtc.GenerateCertificate(k)
		if err != nil {
			return webrtc.Certificate{}, err
		}
		e.cert, e.certNew = c, time.Now()
	}
	return *e.cert, nil
}

// Codecs registered in the MediaEngine, with fixed payload types.
var (
	// CodecOpus carries no minptime: pion matches a remote Opus whose fmtp
	// has a different minptime (Meta offers minptime=20) only partially, and
	// drops partial matches when another codec (telephone-event) matched
	// exactly — the offer would have no audio (TestAcceptMetaOffer).
	CodecOpus  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "useinbandfec=1"}, PayloadType: 111}
	CodecPCMU  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0}
	CodecPCMA  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8}
	CodecTE8k  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"}, PayloadType: 126}
	CodecTE48k = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000, SDPFmtpLine: "0-16"}, PayloadType: 110}
	videoFB    = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	CodecH264  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFB}, PayloadType: 102}
	CodecH264b = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: videoFB}, PayloadType: 108}
	CodecVP8   = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}, PayloadType: 96}
)

// NewEngine builds the API and binds the ICE sockets.
func NewEngine(cfg *config.Config, log *slog.Logger) (*Engine, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{CodecOpus, CodecPCMU, CodecPCMA, CodecTE48k, CodecTE8k} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	for _, c := range []webrtc.RTPCodecParameters{CodecH264, CodecH264b, CodecVP8} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	ir, err := interceptors(m)
	if err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.LoggerFactory = slogFactory{log: log}
	// The hub answers as DTLS client (a=setup:active) — what browsers get
	// by default anyway, and what WhatsApp's relay requires: pion would
	// answer an ICE-lite offer (Meta's) as DTLS server.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
		return nil, err
	}
	e := &Engine{log: log, prefs: cfg.WebRTC.AudioCodecs, video: cfg.WebRTC.Video}
	bind := net.ParseIP(cfg.WebRTC.BindIP)
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: bind, Port: cfg.WebRTC.UDPPort})
	if err != nil {
		return nil, fmt.Errorf("rtc: ICE UDP port: %w", err)
	}
	e.udp = udp
	var shared net.PacketConn = udp
	if cfg.WebRTC.FastPath {
		e.fast = newFastConn(udp)
		shared = e.fast
	}
	se.SetICEUDPMux(webrtc.NewICEUDPMux(slogFactory{log: log}.NewLogger("ice-udp-mux"), shared))
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.WebRTC.TCPPort > 0 {
		tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: bind, Port: cfg.WebRTC.TCPPort})
		if err != nil {
			udp.Close()
			return nil, fmt.Errorf("rtc: ICE TCP port: %w", err)
		}
		e.tcp = tl
		se.SetICETCPMux(webrtc.NewICETCPMux(slogFactory{log: log}.NewLogger("ice-tcp-mux"), tl, 64))
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	se.SetIncludeLoopbackCandidate(true)
	// No mDNS: a hub has real addresses, and per-PeerConnection mDNS sockets
	// cost goroutines and memory and would send multicast queries for
	// browsers' .local candidates.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// One view of the host's interfaces for every ICE agent: pion would
	// otherwise list them (netlink) for each PeerConnection, ~6 % of a
	// call's set-up CPU. The hub's candidates come from its ICE sockets.
	nw, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("rtc: network interfaces: %w", err)
	}
	se.SetNet(nw)
	if len(cfg.WebRTC.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.WebRTC.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, err
		}
	}
	e.api = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	e.apiAudio = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))
	e.stop, e.audioLegs = make(chan struct{}), map[*Leg]struct{}{}
	e.wg.Add(1)
	go e.reports()
	for _, s := range cfg.WebRTC.ICEServers {
		e.servers = append(e.servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return e, nil
}

// ICEServers are handed to browsers in the signalling hello.
func (e *Engine) ICEServers() []webrtc.ICEServer { return e.servers }

// UDPAddr is where ICE listens.
func (e *Engine) UDPAddr() net.Addr { return e.udp.LocalAddr() }

// Close releases the shared sockets.
func (e *Engine) Close() error {
	e.once.Do(func() { close(e.stop) })
	e.wg.Wait()
	var errs []error
	errs = append(errs, e.udp.Close())
	if e.tcp != nil {
		errs = append(errs, e.tcp.Close())
	}
	return errors.Join(errs...)
}

func mimeName(mime string) string {
	_, n, _ := strings.Cut(mime, "/")
	return n
}

func audioParams(name string) (webrtc.RTPCodecParameters, bool) {
	switch strings.ToLower(name) {
	case "pcmu":
		return CodecPCMU, true
	case "pcma":
		return CodecPCMA, true
	case "opus":
		return CodecOpus, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// interceptors is pion's default set minus what a gateway does not use:
// RTCP sender/receiver reports (all streams), NACK (video only: pion skips
// streams without nack feedback) and transport-wide congestion control
// feedback for video only — the browser's bandwidth estimation needs it for
// video; for audio it would only cost CPU per packet. No stats interceptor
// (the hub keeps its own counters) and no simulcast header extensions.
func interceptors(m *webrtc.MediaEngine) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeVideo)
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: psdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	tw, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(tw)
	return ir, nil
}
