package sipua

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/sdp"
)

// Errors of Dial and Resolve.
var (
	ErrNoTrunk      = errors.New("sipua: no trunk for that destination")
	ErrBadTarget    = errors.New("sipua: bad destination")
	ErrNoPorts      = errors.New("sipua: no RTP ports free")
	ErrShuttingDown = errors.New("sipua: shutting down")
)

// DialOptions describe an outbound call.
type DialOptions struct {
	Trunk    *config.Trunk
	To       sip.Uri
	FromUser string
	FromName string
	Headers  []sip.Header
	Video    bool
	// VideoCodec, when set ("H264" or "VP8"), is the only video format
	// offered: the one the browser sends, so video passes through untouched.
	VideoCodec string
	Events     Events
	// Offer, when set, is the INVITE's SDP as is and the call's media is
	// external (extmedia.go): no RTP stream; the 200 OK's answer goes to
	// OnAnswer (an error refuses it: ACK, then BYE, the call ends 488) and
	// is RemoteSDP afterwards. A WhatsApp trunk with srtp: dtls carries
	// the hub's WebRTC offer this way.
	Offer    []byte
	OnAnswer func(answer []byte) error
	// ContentType, with Offer, is the body's type when it is not bare SDP:
	// a SIPREC offer is multipart/mixed (SDP and recording metadata). The
	// body is then sent as is, unchecked.
	ContentType string
	// ContactFeature is a feature tag added to the Contact (RFC 3840), e.g.
	// "+sip.src" for a SIPREC recording client.
	ContactFeature string
	// Private keeps the number dialled out of the logs (all but its last
	// two digits): a deaf user's call through an interpreter.
	Private bool
	// TextLang, on a text trunk, is the written language of the call's
	// real-time text, offered as RFC 8373 a=hlang-send/recv on m=text.
	TextLang string
}

// maskUser is u with its user part masked but for the last two characters.
func maskUser(u sip.Uri) string {
	n := len(u.User)
	if n > 2 {
		u.User = strings.Repeat("*", n-2) + u.User[n-2:]
	}
	return u.String()
}

// Resolve maps what a browser dialled or a route names — "1000",
// "sip:1000@pbx.example", "sip:1000@pbx" — to a trunk and a Request-URI.
// The host part is a trunk's host or, without a port, a trunk's name (the
// Request-URI then goes to that trunk's host and port; see
// config.TrunkFor). Only configured trunks are reachable: any other host is
// refused (no open relay).
func (u *UA) Resolve(dest string) (*config.Trunk, sip.Uri, error) {
	dest = strings.TrimSpace(dest)
	// config check's reading of the target (config.TargetTrunk) must agree
	// with the SIP parser's: what one refuses the other does not dial.
	checked, cerr := u.cfg.TargetTrunk(dest)
	if dest == "" || len(dest) > 256 || strings.ContainsAny(dest, " \r\n<>\"") {
		return nil, sip.Uri{}, ErrBadTarget
	}
	if !strings.HasPrefix(dest, "sip:") && !strings.HasPrefix(dest, "sips:") {
		if strings.Contains(dest, "@") {
			dest = "sip:" + dest
		} else {
			t, ok := u.cfg.Trunk(u.cfg.SIP.DefaultTo)
			if !ok || cerr != nil || checked != t {
				return nil, sip.Uri{}, ErrNoTrunk
			}
			tu, _ := config.ParseTrunkURI(t.URI)
			to := sip.Uri{Scheme: "sip", User: dest, Host: tu.Host, Port: tu.Port}
			return t, to, nil
		}
	}
	var to sip.Uri
	if err := sip.ParseUri(dest, &to); err != nil || to.Host == "" {
		return nil, sip.Uri{}, ErrBadTarget
	}
	t, hp, ok := u.cfg.TrunkFor(to.Host, to.Port)
	if !ok {
		return nil, sip.Uri{}, ErrNoTrunk
	}
	if cerr != nil || checked != t {
		return nil, sip.Uri{}, ErrBadTarget
	}
	to.Host, to.Port = hp.Host, hp.Port
	return t, to, nil
}

func (u *UA) newCall(dir Direction, callID string, video bool, prefs []string) (*Call, error) {
	u.mu.Lock()
	draining := u.draining
	u.mu.Unlock()
	if draining {
		return nil, ErrShuttingDown
	}
	ap, err := u.pool.Get()
	if err != nil {
		return nil, ErrNoPorts
	}
	c := &Call{
		ID: "sip_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16], Direction: dir, ua: u, callID: callID,
		prefs: prefs, done: make(chan struct{}), sdpID: rand.Uint64() >> 2,
	}
	c.log = u.log.With("leg", c.ID, "call_id", callID, "dir", string(dir))
	c.audio = newRTPStream(c.log, ap, "audio", 8000)
	c.audio.onDTMF = c.emitDTMF
	if video {
		vp, err := u.pool.Get()
		if err != nil {
			ap.Close()
			return nil, ErrNoPorts
		}
		c.video = newRTPStream(c.log, vp, "video", 90000)
	}
	return c, nil
}

// Dial sends an INVITE and returns at once; progress arrives through Events.
func (u *UA) Dial(ctx context.Context, o DialOptions) (*Call, error) {
	if o.Trunk == nil {
		return nil, ErrNoTrunk
	}
	callID := uuid.NewString()
	ext := len(o.Offer) > 0
	var c *Call
	var err error
	if ext && o.ContentType == "" {
		if err := checkAnswerBody(o.Offer); err != nil {
			return nil, err
		}
	}
	if ext {
		c, err = u.newExtCall(Outbound, callID)
		if c != nil {
			c.onAnswer = o.OnAnswer
		}
	} else {
		c, err = u.newCall(Outbound, callID, o.Video && o.Trunk.Video, o.Trunk.Codecs)
	}
	if err != nil {
		return nil, err
	}
	c.To, c.Trunk, c.events = o.To, o.Trunk.Name, o.Events
	if o.Trunk.SRTP == "sdes" && !ext {
		for _, s := range []*rtpStream{c.audio, c.video} {
			if s == nil {
				continue
			}
			if s.localCrypto, err = newLocalCrypto(); err != nil {
				c.end(500, "SRTP key")
				return nil, err
			}
		}
	}
	if !ext && textTrunk(o.Trunk) {
		c.offerText(o.TextLang) // after the audio's SDES key: text follows its profile
	}
	var audio []sdp.Codec
	for _, name := range o.Trunk.Codecs {
		if cd, ok := sdp.AudioCodec(name); ok {
			audio = append(audio, cd)
		}
	}
	audio = append(audio, sdp.TelEvent8k)
	if o.Trunk.IsWhatsApp() {
		audio = waCodecs(o.Trunk)
	}
	var video []sdp.Codec
	if c.video != nil {
		video = []sdp.Codec{sdp.H264, sdp.VP8}
		switch strings.ToUpper(o.VideoCodec) {
		case "H264":
			video = video[:1]
		case "VP8":
			video = video[1:]
		}
	}
	var offer []byte
	if ext {
		offer = o.Offer
	} else {
		offer = c.localSDP(audio, video, sdp.SendRecv)
	}

	req := sip.NewRequest(sip.INVITE, o.To)
	if o.Trunk.Transport != "udp" {
		req.SetTransport(strings.ToUpper(o.Trunk.Transport))
	}
	fromUser := o.Trunk.FromUser
	if fromUser == "" {
		fromUser = o.FromUser
	}
	fromName := o.Trunk.FromName
	if fromName == "" {
		fromName = o.FromName
	}
	c.localTag = sip.GenerateTagN(16)
	cid := sip.CallIDHeader(callID)
	if o.Trunk.IsWhatsApp() {
		// Meta's shape (whatsapp.go): no session timer, no caller-ID choice
		if err := u.prepareWhatsAppInvite(req, c, o.Trunk); err != nil {
			c.end(500, "WhatsApp trunk")
			return nil, err
		}
		req.AppendHeader(&cid)
	} else {
		from := &sip.FromHeader{DisplayName: fromName, Address: sip.Uri{Scheme: "sip", User: fromUser, Host: u.host}, Params: sip.NewParams()}
		from.Params.Add("tag", c.localTag)
		req.AppendHeader(from)
		req.AppendHeader(&cid)
		ct := u.contactFor(fromUser, o.Trunk.Transport)
		if o.ContactFeature != "" {
			if ct.Params == nil {
				ct.Params = sip.NewParams()
			}
			ct.Params.Add(o.ContactFeature, "")
		}
		req.AppendHeader(&ct)
		req.AppendHeader(sip.NewHeader("Allow", allowHeader))
		req.AppendHeader(sip.NewHeader("Supported", "timer"))
		c.From = from.Address
	}
	ct := "application/sdp"
	if o.ContentType != "" {
		ct = o.ContentType
	}
	req.AppendHeader(sip.NewHeader("Content-Type", ct))
	for _, h := range o.Headers {
		req.AppendHeader(h)
	}
	req.SetBody(offer)

	u.addCall(c)
	if c.audio != nil {
		c.audio.start()
	}
	if c.video != nil {
		c.video.start()
	}
	if c.wa != nil && !c.extMedia {
		u.goSafe(c, c.waKeepMedia)
	}
	ring, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg.SIP.RingTime)
	c.mu.Lock()
	c.cancelRing = cancel
	c.mu.Unlock()
	// Rung out: the call ends now, its ports go back; WaitAnswer's CANCEL
	// may take until Timer F when the far end has vanished (a 200 that
	// crosses it is ACKed and hung up).
	stopRingOut := context.AfterFunc(ring, func() {
		if errors.Is(ring.Err(), context.DeadlineExceeded) && c.State() < StateActive {
			c.hungUp.Store(true)
			c.end(408, "Ring timeout")
		}
	})
	dlg, err := u.dialogUA(o.Trunk.Transport).WriteInvite(ring, req)
	if err != nil {
		stopRingOut()
		cancel()
		c.end(503, "INVITE failed: "+err.Error())
		return nil, fmt.Errorf("sipua: INVITE: %w", err)
	}
	c.mu.Lock()
	c.client = dlg
	c.mu.Unlock()
	to := o.To.String()
	if o.Private {
		to = maskUser(o.To) // a deaf user's number is not logged (docs/interpreter.md §10)
	}
	c.log.Info("INVITE sent", "to", to, "trunk", o.Trunk.Name)
	u.goSafe(c, func() {
		defer cancel()
		defer stopRingOut()
		c.waitAnswer(ring, o.Trunk)
	})
	return c, nil
}

func (c *Call) cancelInvite() {
	c.mu.Lock()
	f := c.cancelRing
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *Call) waitAnswer(ctx context.Context, t *config.Trunk) {
	dlg := c.client
	early := false
	// Provisional responses are taken from the call's queue, filled in wire
	// order by the transport (observe); the ones sipgo's transaction hands
	// us only say "look now". So ringing always comes before the answer,
	// even when the far end sends its 180 and 200 microseconds apart.
	progress := func(res *sip.Response) {
		for _, r := range c.takeProvisional(res) {
			c.provisional(r, &early)
		}
	}
	var err error
	user, pass := t.Username, t.Password
	waAuth := t.IsWhatsApp() // Meta's digest is answered by waAuthenticate
	if waAuth {
		user, pass = "", ""
	}
	for attempt := 0; ; attempt++ {
		err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{
			Username: user, Password: pass,
			OnResponse: func(res *sip.Response) error {
				if res.StatusCode == 100 {
					c.setState(StateTrying, 100, res.Reason)
				}
				progress(res)
				return nil
			},
		})
		var de *sipgo.ErrDialogResponse
		if waAuth && errors.As(err, &de) && (de.Res.StatusCode == 407 || de.Res.StatusCode == 401) && !c.hungUp.Load() {
			waAuth = false // once: a second challenge is a refusal
			ndlg, aerr := c.waAuthenticate(ctx, t, dlg, de.Res)
			if aerr != nil {
				c.log.Warn("WhatsApp digest failed", "err", aerr)
				break
			}
			dlg = ndlg
			c.mu.Lock()
			c.client = dlg
			c.mu.Unlock()
			continue
		}
		// sipgo gives up after 10 responses; an ACD that keeps sending 180/183
		// while a caller queues is normal, so wait on
		if err == nil || !strings.Contains(err.Error(), "more than 10 responses") || attempt > 1000 {
			break
		}
	}
	progress(nil)
	if err != nil {
		var de *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &de):
			c.end(de.Res.StatusCode, de.Res.Reason)
		case c.hungUp.Load():
			c.end(487, "Request Terminated")
		case ctx.Err() != nil:
			c.end(408, "Ring timeout")
		default:
			c.end(503, err.Error())
		}
		return
	}
	res := dlg.InviteResponse
	c.waAnswered(res)
	if to := res.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		c.mu.Lock()
		c.remoteTag = tag
		c.mu.Unlock()
	}
	if c.hungUp.Load() { // hung up while the 200 crossed our CANCEL (its media is gone)
		if err := dlg.Ack(context.WithoutCancel(ctx)); err != nil {
			c.log.Warn("ACK failed", "err", err)
		}
		_ = dlg.Bye(context.WithoutCancel(ctx))
		c.end(487, "Request Terminated")
		return
	}
	var perr error
	if c.extMedia {
		perr = c.takeAnswer(res.Body())
	} else {
		var s *sdp.Session
		if s, perr = sdp.Parse(res.Body()); perr == nil {
			if _, _, _, perr = c.applyRemote(s); perr == nil {
				c.answerText(s)
			}
		}
	}
	if err := dlg.Ack(context.WithoutCancel(ctx)); err != nil {
		c.log.Warn("ACK failed", "err", err)
	}
	if perr != nil {
		c.log.Warn("unusable SDP in 200 OK; hanging up", "err", perr)
		_ = dlg.Bye(context.WithoutCancel(ctx))
		c.end(488, "Not Acceptable Here")
		return
	}
	if !c.activate(res.StatusCode, res.Reason) { // hung up while the 200 crossed our CANCEL
		_ = dlg.Bye(context.WithoutCancel(ctx))
		c.end(487, "Request Terminated")
	}
}

// provisional applies one provisional response (in wire order).
func (c *Call) provisional(res *sip.Response, early *bool) {
	switch {
	case res.StatusCode == 180 || res.StatusCode == 181 || res.StatusCode == 182:
		if len(res.Body()) > 0 {
			c.earlyMedia(res, early)
		}
		if !*early {
			c.setState(StateRinging, res.StatusCode, res.Reason)
		}
	case res.StatusCode == 183:
		if len(res.Body()) > 0 {
			c.earlyMedia(res, early)
		} else {
			c.setState(StateRinging, res.StatusCode, res.Reason)
		}
	}
}

func (c *Call) earlyMedia(res *sip.Response, early *bool) {
	if c.extMedia {
		return // the answer that counts is the 200's (Meta sends no early media)
	}
	s, err := sdp.Parse(res.Body())
	if err != nil {
		c.log.Warn("bad SDP in provisional response", "err", err)
		return
	}
	if _, _, _, err := c.applyRemote(s); err != nil {
		c.log.Warn("unusable early media SDP", "err", err)
		return
	}
	*early = true
	c.setState(StateEarly, res.StatusCode, res.Reason)
}
