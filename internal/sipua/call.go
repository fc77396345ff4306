package sipua

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/sdp"
)

// State is a SIP call's progress as the rest of the hub sees it.
type State int

// States, in order.
const (
	StateTrying State = iota
	StateRinging
	StateEarly // early media flowing (183 with SDP)
	StateActive
	StateHeld // far end put us on hold
	StateEnded
)

var stateNames = [...]string{"trying", "ringing", "early", "active", "held", "ended"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Events are what a Call reports; each callback must return quickly (post, don't work).
type Events struct {
	OnState func(s State, code int, reason string)
	OnDTMF  func(digit rune)
	// OnRefer, when set, accepts transfers (REFER) in this dialog; without it
	// REFER is declined with 603.
	OnRefer func(r *Refer)
}

// Direction of a call relative to the hub.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Call is one SIP leg: a dialog and its RTP streams.
type Call struct {
	ID        string
	Direction Direction
	From      sip.Uri
	FromName  string
	To        sip.Uri
	Headers   map[string]string // selected headers of an inbound INVITE (X-*, User-to-User)
	Trunk     string            // which trunk or allow-list entry it came from / goes to

	ua       *UA
	log      *slog.Logger
	callID   string
	localTag string // our tag in the dialog (From tag outbound, To tag inbound)
	audio    *rtpStream
	video    *rtpStream // nil: no video
	// text: the m=text stream (text.go); nil when none was offered or
	// accepted. Set before the call is shared, never replaced.
	text      *textStream
	textOffer *sdp.Media // inbound: the offer's m=text, answered with port 0 when not taken
	offerKind []string   // inbound offer with m=text: its m-line kinds in order (the answer keeps it)
	prefs     []string   // audio codec preference

	mu         sync.Mutex
	events     Events
	state      State
	remoteTag  string          // the far end's tag, once the dialog exists
	remoteCSeq uint32          // the far end's last in-dialog CSeq
	prov       []*sip.Response // provisional responses, in wire order (observe)
	provEarly  []*sip.Response // handled before observe queued them (see takeProvisional)
	server     *sipgo.DialogServerSession
	client     *sipgo.DialogClientSession
	invite     *sip.Request // inbound INVITE
	inviteTx   sip.ServerTransaction
	lateOffer  bool
	sdpVer     uint64
	sdpID      uint64
	localHold  bool
	answerCh   chan struct{} // inbound: closed when a final response was sent
	ackCh      chan *sip.Request
	final      chan *sip.Response // inbound: a rejection for the INVITE handler to send
	finalSent  chan struct{}      // inbound: closed when Answer sent its 200 (and saw the ACK)
	cancelRing context.CancelFunc
	wa         *WhatsAppInfo // WhatsApp call (whatsapp.go); nil otherwise
	waTrunk    *config.Trunk // its provider: whatsapp trunk
	// extMedia: the media is not ours (extmedia.go): no RTP stream, the
	// SDP bodies are the caller's (a WebRTC leg's offer or answer).
	extMedia  bool
	remoteSDP []byte                                // extMedia: the far end's offer (inbound) or answer (outbound)
	localBody []byte                                // extMedia inbound: the answer Answer sends
	onAnswer  func([]byte) error                    // extMedia outbound: DialOptions.OnAnswer
	answerFn  func(context.Context) ([]byte, error) // extMedia inbound: makes the answer when Answer needs it

	done        chan struct{}
	endOnce     sync.Once
	endCode     int
	endReason   string
	hungUp      atomic.Bool
	byeAfterAck bool       // under mu: hung up after our 200, before its ACK (Answer sends the BYE)
	dtmfMu      sync.Mutex // one digit sequence at a time
}

// Audio is the audio track; nil for a call whose media is external
// (ExternalMedia).
func (c *Call) Audio() *leg.Track {
	if c.audio == nil {
		return nil
	}
	return c.audio.track
}

// Video is the video track, or nil.
func (c *Call) Video() *leg.Track {
	if c.video == nil {
		return nil
	}
	return c.video.track
}

// Kind is leg.KindSIP.
func (c *Call) Kind() leg.Kind { return leg.KindSIP }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// End returns the SIP code and reason the call ended with.
func (c *Call) End() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endCode, c.endReason
}

// State is the current state.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// AudioStats returns the SIP-side RTP counters.
func (c *Call) AudioStats() StatsSnapshot {
	if c.audio == nil {
		return StatsSnapshot{}
	}
	return c.audio.stats.Snapshot()
}

// VideoStats returns the video counters (zero without video).
func (c *Call) VideoStats() StatsSnapshot {
	if c.video == nil {
		return StatsSnapshot{}
	}
	return c.video.stats.Snapshot()
}

// LastMedia is when RTP last arrived (zero if never).
func (c *Call) LastMedia() time.Time {
	if c.audio == nil {
		return time.Time{}
	}
	n := c.audio.stats.LastReceived.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetEvents installs the callbacks; call before Answer / right after Dial.
func (c *Call) SetEvents(e Events) {
	c.mu.Lock()
	c.events = e
	c.mu.Unlock()
}

// setState moves the call forward. It never goes back: before the answer
// only trying → ringing → early → active, in that order (a 180 after early
// media, or a late 100, changes nothing); after it, active ⇄ held; ended is
// final.
func (c *Call) setState(s State, code int, reason string) {
	c.mu.Lock()
	if !stateStep(c.state, s) {
		c.mu.Unlock()
		return
	}
	c.state = s
	f := c.events.OnState
	c.mu.Unlock()
	c.log.Info("SIP call state", "state", s.String(), "code", code, "reason", reason)
	if f != nil {
		f(s, code, reason)
	}
}

// activate makes an answered call active unless it was hung up meanwhile
// (false). The check and the step are one under c.mu, which Hangup reads
// after it has marked the call: a hang-up either finds the call active
// (and sends BYE itself) or is seen here (and the caller sends the BYE).
func (c *Call) activate(code int, reason string) bool {
	c.mu.Lock()
	if c.hungUp.Load() {
		c.mu.Unlock()
		return false
	}
	if !stateStep(c.state, StateActive) {
		c.mu.Unlock()
		return c.state != StateEnded
	}
	c.state = StateActive
	f := c.events.OnState
	c.mu.Unlock()
	c.log.Info("SIP call state", "state", StateActive.String(), "code", code, "reason", reason)
	if f != nil {
		f(StateActive, code, reason)
	}
	return true
}

// byeIfPending sends the BYE that Hangup left to Answer (byeAfterAck), once.
func (c *Call) byeIfPending(ctx context.Context) {
	c.mu.Lock()
	pending, server := c.byeAfterAck, c.server
	c.byeAfterAck = false
	c.mu.Unlock()
	if !pending || server == nil {
		return
	}
	defer c.ua.removeCall(c)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.sendBye(ctx, server, nil); err != nil {
		c.log.Warn("BYE failed", "err", err)
	}
}

// stateStep reports whether a call in state from may move to state to.
func stateStep(from, to State) bool {
	switch {
	case from == StateEnded:
		return false
	case to == StateEnded:
		return true
	case from < StateActive:
		return to > from
	case from == StateActive:
		return to == StateHeld || to == StateActive // Active again: a resumed or re-answered stream
	case from == StateHeld:
		return to == StateActive
	}
	return false
}

// matchesRemote: tag is the far end's tag in this dialog. An empty one
// matches only a caller that sent none (RFC 2543, RFC 3261 §12.2.2); an
// outbound call has a remote tag once answered.
func (c *Call) matchesRemote(tag string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteTag == tag && (tag != "" || c.Direction == Inbound)
}

// remoteCSeqInOrder applies RFC 3261 §12.2.2: an in-dialog request from the
// far end must not be older than its last one (ACK and CANCEL repeat the
// INVITE's number).
func (c *Call) remoteCSeqInOrder(req *sip.Request) bool {
	cs := req.CSeq()
	if cs == nil || req.IsAck() || req.IsCancel() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remoteCSeq != 0 && cs.SeqNo < c.remoteCSeq {
		return false
	}
	c.remoteCSeq = cs.SeqNo
	return true
}

// queueProvisional keeps a provisional response to our INVITE, in the order
// the transport read it (called on the reader goroutine: no work here). One
// that the transaction already handed up (takeProvisional's res) is not
// queued again.
func (c *Call) queueProvisional(res *sip.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.provEarly {
		if r == res {
			c.provEarly = append(c.provEarly[:i], c.provEarly[i+1:]...)
			return
		}
	}
	if len(c.prov) < 64 {
		c.prov = append(c.prov, res)
	}
}

// takeProvisional returns the queued provisional responses, and then res
// (the one sipgo's transaction handed up; nil for none) when observe has not
// queued it yet. sipgo runs each message's transaction on a goroutine of its
// own, started before the transport's hooks run, so the transaction can
// hand a 180 up before observe has seen it; every message before it in
// wire order has been observed by then (one reader), so putting it last
// keeps the order, and observe skips it when its turn comes.
func (c *Call) takeProvisional(res *sip.Response) []*sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.prov
	c.prov = nil
	if res == nil || !res.IsProvisional() || res.StatusCode == 100 || slices.Contains(p, res) {
		return p
	}
	if len(c.provEarly) < 64 {
		c.provEarly = append(c.provEarly, res)
	}
	return append(p, res)
}

func (c *Call) emitDTMF(d rune) {
	c.mu.Lock()
	f := c.events.OnDTMF
	c.mu.Unlock()
	c.log.Debug("DTMF received", "digit", string(d)) // not at info: IVR digits can be PINs or card numbers
	if f != nil {
		f(d)
	}
}

// end tears the call down once: streams closed, ports returned, state ended.
func (c *Call) end(code int, reason string) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.endCode, c.endReason = code, reason
		keep := c.byeAfterAck // the ACK must still find the call (byeIfPending removes it)
		c.mu.Unlock()
		if c.audio != nil {
			c.audio.close()
		}
		if c.video != nil {
			c.video.close()
		}
		if c.text != nil {
			c.text.close()
		}
		if !keep {
			c.ua.removeCall(c)
		}
		c.setState(StateEnded, code, reason)
		close(c.done)
	})
}

func (c *Call) localSDP(audioCodecs []sdp.Codec, videoCodecs []sdp.Codec, dir sdp.Direction) []byte {
	c.mu.Lock()
	c.sdpVer++
	ver := c.sdpVer
	c.mu.Unlock()
	d := sdp.Description{SessionID: c.sdpID, Version: ver, Addr: c.ua.mediaIP}
	d.Media = append(d.Media, sdp.LocalMedia{Kind: "audio", Port: c.audio.pair.Port, Codecs: audioCodecs, Direction: dir, Ptime: 20, Crypto: c.audio.localCrypto, Proto: c.audio.remoteProto()})
	if c.video != nil {
		port := c.video.pair.Port
		if len(videoCodecs) == 0 {
			port = 0
		}
		d.Media = append(d.Media, sdp.LocalMedia{Kind: "video", Port: port, Codecs: videoCodecs, Direction: dir, RTCPFB: true, Crypto: c.video.localCrypto, Proto: c.video.remoteProto()})
	}
	if tm, ok := c.textMedia(); ok {
		d.Media = append(d.Media, tm)
		sortLikeOffer(d.Media, c.offerKind)
	}
	return sdp.Build(d)
}

// applyRemote points the streams at the far end's description and fixes the
// formats for both directions. isOffer: the far end offered (we answer).
func (c *Call) applyRemote(s *sdp.Session) (audio sdp.Codec, dtmf *sdp.Codec, video *sdp.Codec, err error) {
	a := s.First("audio")
	if a == nil {
		return audio, nil, nil, sdp.ErrNoMedia
	}
	audio, dtmf, err = sdp.Answer(a, c.prefs)
	if err != nil {
		return audio, nil, nil, err
	}
	var recv []leg.Codec
	for _, cd := range a.Codecs {
		recv = append(recv, toLeg(cd))
	}
	c.audio.track.SetRecv(recv)
	var dl leg.Codec
	if dtmf != nil {
		dl = toLeg(*dtmf)
	}
	c.audio.track.SetSend(toLeg(audio), dl)
	c.audio.clockRate.Store(audio.Clock)
	if a.Addr.IsValid() && !a.Addr.IsUnspecified() {
		c.audio.setRemote(netip.AddrPortFrom(a.Addr.Unmap(), uint16(a.Port)), a.RTCPPort)
	}
	c.audio.send.Store(a.Direction.Receives() && !(a.Addr.IsValid() && a.Addr.IsUnspecified()))
	c.audio.setProto(a.Proto)
	if err := c.keyStream(c.audio, a); err != nil {
		return audio, nil, nil, err
	}
	if c.video != nil {
		if v := s.First("video"); v != nil {
			if vc, err := sdp.AnswerVideo(v, sdp.VideoCodecs); err == nil {
				video = &vc
				var vr []leg.Codec
				for _, cd := range v.Codecs {
					vr = append(vr, toLeg(cd))
				}
				c.video.track.SetRecv(vr)
				c.video.track.SetSend(toLeg(vc), leg.Codec{})
				if v.Addr.IsValid() && !v.Addr.IsUnspecified() {
					c.video.setRemote(netip.AddrPortFrom(v.Addr.Unmap(), uint16(v.Port)), v.RTCPPort)
				}
				c.video.send.Store(v.Direction.Receives())
				c.video.setProto(v.Proto)
				if err := c.keyStream(c.video, v); err != nil {
					video = nil
				}
			}
		}
	}
	return audio, dtmf, video, nil
}

func toLeg(c sdp.Codec) leg.Codec {
	return leg.Codec{PT: c.PT, Name: c.Name, Clock: c.Clock, Channels: c.Channels, Fmtp: c.Fmtp}
}

// Hangup ends the call from our side: CANCEL before an answer (outbound),
// a final error response (inbound, unanswered) or BYE (established).
func (c *Call) Hangup(ctx context.Context, code int, reason string) {
	if !c.hungUp.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	state, server, client := c.state, c.server, c.client
	answered := c.answerCh == nil
	if c.answerCh != nil {
		select {
		case <-c.answerCh:
			answered = true
		default:
		}
	}
	if c.Direction == Inbound && answered && server != nil && state < StateActive {
		// Our 200 is out, its ACK not yet in: the BYE may only follow the
		// ACK (RFC 3261 §15), so Answer sends it (byeIfPending).
		c.byeAfterAck = true
	}
	c.mu.Unlock()
	if state == StateEnded {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch {
	case c.Direction == Inbound && !answered:
		if code < 400 {
			code, reason = 480, "Temporarily Unavailable"
		}
		c.reject(code, reason)
		return
	case server != nil && state >= StateActive:
		if err := c.sendBye(ctx, server, nil); err != nil {
			c.log.Warn("BYE failed", "err", err)
		}
	case client != nil && state >= StateActive:
		if err := c.sendBye(ctx, nil, client); err != nil {
			c.log.Warn("BYE failed", "err", err)
		}
	case c.Direction == Outbound:
		// WaitAnswer sends the CANCEL. The call ends now: its RTP ports go
		// back at once, not when the CANCEL transaction is over (up to
		// 64*T1 when the far end has vanished); a 200 that crosses the
		// CANCEL is still ACKed and hung up (waitAnswer).
		c.cancelInvite()
		c.end(487, "Request Terminated")
		return
	}
	c.end(200, "Local hangup")
}

// OnHold reports whether either side holds the call (our sendonly re-INVITE
// or the far end's): no RTP is due from the far end then.
func (c *Call) OnHold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localHold || c.state == StateHeld
}

// SetHold puts the far end on hold (sendonly) or resumes it (sendrecv) by re-INVITE.
func (c *Call) SetHold(ctx context.Context, hold bool) error {
	c.mu.Lock()
	if c.wa != nil {
		c.mu.Unlock()
		return ErrReinviteRefused
	}
	if c.state != StateActive && c.state != StateHeld {
		c.mu.Unlock()
		return errors.New("sipua: call not established")
	}
	c.localHold = hold
	c.mu.Unlock()
	dir := sdp.SendRecv
	if hold {
		dir = sdp.SendOnly
	}
	body := c.localSDP(c.currentAudioCodecs(), c.currentVideoCodecs(), dir)
	res, err := c.reinvite(ctx, "application/sdp", body)
	if err != nil {
		return err
	}
	if s, err := sdp.Parse(res.Body()); err == nil {
		_, _, _, _ = c.applyRemote(s)
	}
	return nil
}

// reinvite sends a re-INVITE in the call's dialog and ACKs its 2xx.
func (c *Call) reinvite(ctx context.Context, contentType string, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	req := sip.NewRequest(sip.INVITE, c.remoteTarget())
	req.SetBody(body)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var res *sip.Response
	var err error
	if c.client != nil {
		res, err = c.client.Do(ctx, req)
	} else {
		res, err = c.server.Do(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("sipua: re-INVITE: %w", err)
	}
	if !res.IsSuccess() {
		return nil, fmt.Errorf("sipua: re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	ack := sip.NewRequest(sip.ACK, c.remoteTarget())
	if c.client != nil {
		c.client.InviteResponse = res
		_ = c.client.WriteAck(ctx, ack)
	} else {
		_ = c.server.WriteRequest(ack)
	}
	return res, nil
}

func (c *Call) remoteTarget() sip.Uri {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil && c.client.InviteResponse != nil {
		if ct := c.client.InviteResponse.Contact(); ct != nil {
			return ct.Address
		}
	}
	if c.invite != nil {
		if ct := c.invite.Contact(); ct != nil {
			return ct.Address
		}
	}
	return c.To
}

func (c *Call) currentAudioCodecs() []sdp.Codec {
	s := c.audio.track.Send()
	out := []sdp.Codec{{PT: s.PT, Name: s.Name, Clock: s.Clock, Channels: s.Channels, Fmtp: s.Fmtp}}
	if d := c.audio.track.SendDTMF(); d.PT != 0 {
		out = append(out, sdp.Codec{PT: d.PT, Name: d.Name, Clock: d.Clock, Channels: 1, Fmtp: d.Fmtp})
	}
	return out
}

func (c *Call) currentVideoCodecs() []sdp.Codec {
	if c.video == nil {
		return nil
	}
	s := c.video.track.Send()
	if s.Name == "" {
		return nil
	}
	return []sdp.Codec{{PT: s.PT, Name: s.Name, Clock: s.Clock, Fmtp: s.Fmtp}}
}

// onReoffer answers an in-dialog INVITE or UPDATE with SDP: hold (sendonly →
// recvonly, never sendrecv), resume, or a changed address/codec.
func (c *Call) onReoffer(req *sip.Request, tx sip.ServerTransaction) {
	if c.extMedia {
		// the media belongs to a WebRTC leg that cannot follow a new offer
		c.ua.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	s, err := sdp.Parse(req.Body())
	if err != nil {
		c.ua.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	a := s.First("audio")
	if a == nil {
		c.ua.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	// Keep our current codec if the offer still carries it; else renegotiate.
	cur := c.audio.track.Send()
	prefs := c.prefs
	if _, ok := a.Find(cur.Name, cur.Clock); ok {
		prefs = append([]string{cur.Name}, c.prefs...)
	}
	saved := c.prefs
	c.prefs = prefs
	audio, dtmf, video, err := c.applyRemote(s)
	c.prefs = saved
	if err != nil {
		c.ua.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	c.reofferText(s)
	dir := a.Direction.Reverse()
	if a.Addr.IsValid() && a.Addr.IsUnspecified() {
		dir = sdp.RecvOnly
	}
	c.mu.Lock()
	if c.localHold && dir == sdp.SendRecv {
		dir = sdp.SendOnly
	}
	c.mu.Unlock()
	ac := []sdp.Codec{audio}
	if dtmf != nil {
		ac = append(ac, *dtmf)
	}
	var vc []sdp.Codec
	if video != nil {
		vc = []sdp.Codec{*video}
	}
	body := c.localSDP(ac, vc, dir)
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ct := c.contact()
	res.AppendHeader(&ct)
	if err := tx.Respond(res); err != nil {
		c.log.Debug("re-INVITE answer failed", "err", err)
		return
	}
	if a.Hold() {
		c.setState(StateHeld, 0, "Remote hold")
	} else {
		c.setState(StateActive, 0, "Resumed")
	}
}

// SendDTMF sends digits as RFC 4733 telephone-events on the audio stream,
// or as SIP INFO when the far end did not negotiate telephone-event.
func (c *Call) SendDTMF(ctx context.Context, digits string) error {
	if c.audio == nil {
		return ErrExternalMedia
	}
	c.dtmfMu.Lock()
	defer c.dtmfMu.Unlock()
	te := c.audio.track.SendDTMF()
	for _, d := range digits {
		if te.PT == 0 {
			if c.wa != nil {
				return errors.New("sipua: no telephone-event negotiated with Meta (it takes no INFO)")
			}
			if err := c.sendInfoDTMF(ctx, d); err != nil {
				return err
			}
			continue
		}
		pkts, err := media.DTMFPackets(d, 160, int(te.Clock), 20)
		if err != nil {
			return err
		}
		ts := c.audio.eventTS()
		buf := make([]byte, 16)
		for i, p := range pkts {
			buf[0] = 0x80
			buf[1] = 0
			if p.Marker {
				buf[1] = 0x80
			}
			binary.BigEndian.PutUint32(buf[4:], ts)
			copy(buf[12:], p.Payload[:])
			if err := c.audio.writeDTMF(buf); err != nil {
				return err
			}
			if i < len(pkts)-1 && !pkts[i+1].End || (p.End == false && pkts[i+1].End) {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				case <-c.done:
					return errors.New("sipua: call ended")
				}
			}
		}
		select {
		case <-time.After(80 * time.Millisecond): // inter-digit gap
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *Call) sendInfoDTMF(ctx context.Context, d rune) error {
	req := sip.NewRequest(sip.INFO, c.remoteTarget())
	req.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", d)))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if c.client != nil {
		_, err = c.client.Do(ctx, req)
	} else {
		_, err = c.server.Do(ctx, req)
	}
	return err
}

func (c *Call) remoteBye(req *sip.Request) {
	c.log.Info("remote BYE")
	c.waBye(req)
	c.hungUp.Store(true)
	c.mu.Lock()
	pending := c.byeAfterAck
	c.byeAfterAck = false // the caller ended it first: no BYE of ours
	c.mu.Unlock()
	c.end(200, "Remote hangup")
	if pending {
		c.ua.removeCall(c)
	}
}

func (c *Call) gotAck(req *sip.Request) {
	c.mu.Lock()
	ch := c.ackCh
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- req:
		default:
		}
	}
}

// keyStream applies SDES: an RTP/SAVP m-line must carry a usable a=crypto,
// and a stream we offered as SAVP must be answered as SAVP.
func (c *Call) keyStream(s *rtpStream, m *sdp.Media) error {
	if !m.Secure() {
		if s.localCrypto != nil && c.Direction == Outbound {
			return errNoCrypto // the trunk requires SRTP; plain RTP is refused
		}
		return nil
	}
	cr, ok := pickCrypto(m.Crypto)
	if !ok {
		return errNoCrypto
	}
	if s.localCrypto == nil {
		lc, err := newLocalCrypto()
		if err != nil {
			return err
		}
		lc.Tag = cr.Tag
		s.localCrypto = lc
	}
	return s.enableSRTP(cr)
}

// contact is our Contact for this call's dialog (its transport's listener).
func (c *Call) contact() sip.ContactHeader {
	if t := c.waTrunk; t != nil {
		return c.ua.waContact(t)
	}
	transport := "udp"
	if c.invite != nil {
		transport = c.invite.Transport()
	} else if tr, ok := c.ua.cfg.Trunk(c.Trunk); ok {
		transport = tr.Transport
	}
	return c.ua.contactFor("split", transport)
}
