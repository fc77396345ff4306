package testutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
)

// Message is any signalling message of docs/signalling.md, as received.
type Message struct {
	Type          string          `json:"type"`
	Call          string          `json:"call,omitempty"`
	SDP           string          `json:"sdp,omitempty"`
	State         string          `json:"state,omitempty"`
	RawCode       json.RawMessage `json:"code,omitempty"` // a number in state, a string in error
	Reason        string          `json:"reason,omitempty"`
	Message       string          `json:"message,omitempty"`
	From          string          `json:"from,omitempty"`
	To            string          `json:"to,omitempty"`
	Digit         string          `json:"digit,omitempty"`
	Identity      string          `json:"identity,omitempty"`
	SIPURI        string          `json:"sip_uri,omitempty"`
	AudioCodec    string          `json:"audio_codec,omitempty"`
	SIPAudioCodec string          `json:"sip_audio_codec,omitempty"`
	Path          string          `json:"path,omitempty"`
	SIPRTP        *struct {
		PacketsSent     uint64  `json:"packets_sent"`
		PacketsReceived uint64  `json:"packets_received"`
		Lost            int64   `json:"lost"`
		JitterMs        float64 `json:"jitter_ms"`
	} `json:"sip_rtp,omitempty"`

	// session protocol (docs/sessions.md)
	Leg      string `json:"leg,omitempty"`
	Session  string `json:"session,omitempty"`
	Position int    `json:"position,omitempty"`
	EWT      int    `json:"ewt,omitempty"`
	Queue    string `json:"queue,omitempty"`

	At  time.Time `json:"-"` // when it was received
	Raw []byte    `json:"-"` // the frame as received (session peers)
}

// Code is the SIP status code of a state message (0 if absent).
func (m Message) Code() int {
	var n int
	_ = json.Unmarshal(m.RawCode, &n)
	return n
}

// ErrorCode is the code of an error message ("bad_request", …).
func (m Message) ErrorCode() string {
	var s string
	_ = json.Unmarshal(m.RawCode, &s)
	return s
}

// PionOptions configure a PionClient.
type PionOptions struct {
	Hub       string  // base URL of the hub, e.g. http://127.0.0.1:8080
	Token     string  // signalling token
	Codec     string  // the only audio codec offered/accepted: "opus" (default), "PCMU" or "PCMA"
	ToneHz    float64 // tone sent; 0 sends silence
	Amplitude float64 // 0: DefaultAmplitude
	Record    int     // seconds of received audio kept for inspection (0: 30; <0: none, only counters)
	CallID    string  // id of outgoing calls (default "c1")
	// BrowserCodecs offers/accepts what a browser does (Codec first, then
	// the rest of opus, PCMU, PCMA and telephone-event/48000 and /8000);
	// the client still sends Codec, and decodes whatever the hub sends.
	BrowserCodecs bool
	Headers       map[string]string // extra headers of the offer (X-…)
}

// PionClient is a browser stand-in: one signalling WebSocket and at most
// one call at a time. Its methods are safe for concurrent use.
type PionClient struct {
	opts  PionOptions
	codec string
	tone  [][]byte

	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	in    *inbox
	hello Message

	pc        *webrtc.PeerConnection
	call      string
	rec       *recorder
	recCodec  string
	connected chan struct{}
	sent      atomic.Uint64

	offerSent, answerAt time.Time
}

// DialPion connects to the hub's signalling socket and waits for hello.
func DialPion(ctx context.Context, o PionOptions) (*PionClient, error) {
	codec, err := NormCodec(o.Codec)
	if err != nil {
		return nil, err
	}
	if o.Amplitude == 0 {
		o.Amplitude = DefaultAmplitude
	}
	if o.Record == 0 {
		o.Record = 30
	}
	if o.CallID == "" {
		o.CallID = "c1"
	}
	tone, err := ToneFrames(codec, o.ToneHz, o.Amplitude)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(o.Hub)
	if err != nil {
		return nil, fmt.Errorf("testutil: hub URL: %w", err)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/v1/ws"
	u.RawQuery = url.Values{"token": {o.Token}}.Encode()
	ws, _, err := websocket.Dial(ctx, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("testutil: signalling: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	c := &PionClient{opts: o, codec: codec, tone: tone, ws: ws, in: newInbox()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.readLoop()
	h, err := c.WaitFor(ctx, func(m Message) bool { return m.Type == "hello" })
	if err != nil {
		c.Close()
		return nil, err
	}
	c.hello = h
	return c, nil
}

// Hello is the hub's hello message.
func (c *PionClient) Hello() Message { return c.hello }

func (c *PionClient) readLoop() {
	defer c.wg.Done()
	for {
		_, b, err := c.ws.Read(c.ctx)
		if err != nil {
			c.in.close(err)
			return
		}
		var m Message
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		m.At = time.Now()
		c.mu.Lock()
		if m.Type == "answer" && m.Call == c.call && c.answerAt.IsZero() {
			c.answerAt = m.At
		}
		c.mu.Unlock()
		c.in.add(m)
	}
}

// Messages returns every message received so far.
func (c *PionClient) Messages() []Message { return c.in.all() }

// WaitFor returns the first message (received so far or later) for which
// match is true.
func (c *PionClient) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	m, err := c.in.wait(ctx, match)
	if err != nil && ctx.Err() == nil {
		return m, fmt.Errorf("testutil: signalling closed: %w", err)
	}
	return m, err
}

// ErrEnded is returned by WaitState when the call ended (or failed) first.
var ErrEnded = errors.New("testutil: call ended")

// WaitState waits for the current call to reach state ("ringing",
// "active", "ended", …). An earlier "ended" or a call error fails it.
func (c *PionClient) WaitState(ctx context.Context, state string) (Message, error) {
	call := c.CallID()
	m, err := c.WaitFor(ctx, func(m Message) bool {
		if m.Call != call {
			return false
		}
		return (m.Type == "state" && (m.State == state || m.State == "ended")) || (m.Type == "error" && state != "ended")
	})
	if err != nil {
		return m, err
	}
	if m.Type == "error" {
		return m, fmt.Errorf("%w: error %s: %s", ErrEnded, m.ErrorCode(), m.Message)
	}
	if m.State != state {
		return m, fmt.Errorf("%w: %d %s", ErrEnded, m.Code(), m.Reason)
	}
	return m, nil
}

// Send writes one signalling message.
func (c *PionClient) Send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// CallID is the id of the current call ("" before Call/Answer).
func (c *PionClient) CallID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.call
}

var browserAudio = map[string]webrtc.RTPCodecParameters{
	CodecOpus: {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
	CodecPCMU: {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
	CodecPCMA: {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8},
	"te48":    {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000, Channels: 1, SDPFmtpLine: "0-16"}, PayloadType: 110},
	"te8":     {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-16"}, PayloadType: 126},
}

func (c *PionClient) newPC() (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	codec := browserAudio[c.codec]
	names := []string{c.codec}
	if c.opts.BrowserCodecs {
		for _, n := range []string{CodecOpus, CodecPCMU, CodecPCMA, "te48", "te8"} {
			if n != c.codec {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		if err := m.RegisterCodec(browserAudio[n], webrtc.RTPCodecTypeAudio); err != nil {
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
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	rec, err := newRecorder(c.codec, int(codec.PayloadType), max(c.opts.Record, 0))
	if err != nil {
		pc.Close()
		return nil, err
	}
	c.mu.Lock()
	c.pc, c.rec, c.recCodec = pc, rec, c.codec
	c.connected = make(chan struct{})
	c.mu.Unlock()
	connected := c.connected
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		rc, err := NormCodec(strings.TrimPrefix(strings.ToLower(tr.Codec().MimeType), "audio/"))
		if err == nil && rc != c.codec { // the hub chose another of our codecs
			if r2, err := newRecorder(rc, int(tr.PayloadType()), max(c.opts.Record, 0)); err == nil {
				c.mu.Lock()
				c.rec, c.recCodec = r2, rc
				c.mu.Unlock()
				rec = r2
			}
		}
		rec.setPT(int(tr.PayloadType()))
		c.wg.Add(1)
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			rec.push(buf[:n])
		}
	})
	track, err := webrtc.NewTrackLocalStaticSample(codec.RTPCodecCapability, "audio", "splitload")
	if err != nil {
		pc.Close()
		return nil, err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		pc.Close()
		return nil, err
	}
	c.wg.Add(2)
	go func() { // interceptors need RTCP to be read
		defer c.wg.Done()
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	go c.sendLoop(track, connected)
	return pc, nil
}

// sendLoop paces the tone in 20 ms frames once the PeerConnection is up.
func (c *PionClient) sendLoop(track *webrtc.TrackLocalStaticSample, connected <-chan struct{}) {
	defer c.wg.Done()
	select {
	case <-connected:
	case <-c.ctx.Done():
		return
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		if err := track.WriteSample(pmedia.Sample{Data: c.tone[i%len(c.tone)], Duration: 20 * time.Millisecond}); err == nil {
			c.sent.Add(1)
		} else if errors.Is(err, webrtc.ErrConnectionClosed) || errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		}
	}
}

// Call places a call to to: it sends an offer with all candidates and
// returns once the hub's answer is applied. Then use WaitState("active").
func (c *PionClient) Call(ctx context.Context, to string) error {
	pc, err := c.newPC()
	if err != nil {
		return err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	c.call = c.opts.CallID
	c.offerSent = time.Now()
	c.answerAt = time.Time{}
	c.mu.Unlock()
	msg := map[string]any{"type": "offer", "call": c.opts.CallID, "to": to, "sdp": pc.LocalDescription().SDP}
	if len(c.opts.Headers) > 0 {
		msg["headers"] = c.opts.Headers
	}
	if err := c.Send(ctx, msg); err != nil {
		return err
	}
	call := c.opts.CallID
	m, err := c.WaitFor(ctx, func(m Message) bool {
		return m.Call == call && (m.Type == "answer" || m.Type == "error" || (m.Type == "state" && m.State == "ended"))
	})
	if err != nil {
		return err
	}
	if m.Type != "answer" {
		return fmt.Errorf("%w before the answer: %s %s%d %s", ErrEnded, m.Type, m.ErrorCode(), m.Code(), m.Message+m.Reason)
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
}

// Answer waits for an incoming call and answers it; it returns the
// incoming message. Then use WaitState("active").
func (c *PionClient) Answer(ctx context.Context) (Message, error) {
	in, err := c.WaitFor(ctx, func(m Message) bool { return m.Type == "incoming" })
	if err != nil {
		return in, err
	}
	c.mu.Lock()
	c.call = in.Call
	c.mu.Unlock()
	pc, err := c.newPC()
	if err != nil {
		return in, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: in.SDP}); err != nil {
		return in, err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return in, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return in, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return in, ctx.Err()
	}
	return in, c.Send(ctx, map[string]any{"type": "answer", "call": in.Call, "sdp": pc.LocalDescription().SDP})
}

// WaitConnected waits until the PeerConnection is connected (media flows).
func (c *PionClient) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	ch := c.connected
	c.mu.Unlock()
	if ch == nil {
		return errors.New("testutil: no call")
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hangup ends the current call (the hub replies state ended).
func (c *PionClient) Hangup(ctx context.Context) error {
	call := c.CallID()
	if call == "" {
		return nil
	}
	return c.Send(ctx, map[string]any{"type": "hangup", "call": call})
}

// Received returns a copy of the audio received so far, at SampleRate().
func (c *PionClient) Received() []int16 {
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec == nil {
		return nil
	}
	return rec.PCM()
}

// ResetReceived forgets the audio received so far.
func (c *PionClient) ResetReceived() {
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec != nil {
		rec.Reset()
	}
}

// SampleRate is the rate of Received.
func (c *PionClient) SampleRate() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recCodec != "" {
		return SampleRate(c.recCodec)
	}
	return SampleRate(c.codec)
}

// RecvCodec is the codec the hub sends ("" before the call).
func (c *PionClient) RecvCodec() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recCodec
}

// Stats returns the media counters of the current call.
func (c *PionClient) Stats() MediaStats {
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	s := MediaStats{PacketsSent: c.sent.Load()}
	if rec != nil {
		rec.fill(&s)
	}
	return s
}

// Timing is when the offer went out and the answer came back (zero if not yet).
func (c *PionClient) Timing() (offerSent, answer time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offerSent, c.answerAt
}

// Close hangs up, closes the PeerConnection and the socket, and waits for
// the client's goroutines.
func (c *PionClient) Close() error {
	c.mu.Lock()
	pc := c.pc
	c.mu.Unlock()
	var err error
	if pc != nil {
		err = pc.Close()
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	c.cancel()
	c.wg.Wait()
	return err
}
