package sipua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/sdp"
)

// inboundPrefs is the audio preference for calls the hub answers.
var inboundPrefs = []string{"PCMU", "PCMA", "opus"}

// headersKept are copied from an inbound INVITE for the router.
var headersKept = []string{"User-to-User", "X-User-to-User", "X-Split-Session", "Call-Info", "P-Asserted-Identity"}

func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.metrics.SIPRequest("INVITE")
	// In-dialog INVITE: re-INVITE for hold/resume or a media change.
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			if c := u.findCall(req); c != nil {
				c.onReoffer(req, tx)
				return
			}
			u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
			return
		}
	}
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil || req.CSeq() == nil {
		// the guard refuses these before sipgo; this is the last line
		u.metrics.InviteRejected("malformed")
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	src, err := sourceAddr(req)
	if err != nil {
		u.metrics.InviteRejected("bad_source")
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	// WhatsApp (whatsapp.go): TLS only, our digest challenge, SDES media
	wa, answered := u.waInbound(req, tx, src)
	if answered {
		return
	}
	who, ok := u.acl.Match(src)
	if wa != nil {
		who, ok = wa.Name, true
	}
	if !ok {
		u.metrics.InviteRejected("forbidden")
		u.log.Warn("INVITE refused: source not allowed", "source", src.String(), "to", req.Recipient.String())
		u.respond(tx, req, 403, "Forbidden")
		return
	}
	u.mu.Lock()
	draining := u.draining
	u.mu.Unlock()
	if draining {
		u.metrics.InviteRejected("draining")
		u.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	if req.Recipient.User == "" {
		u.metrics.InviteRejected("no_user")
		u.respond(tx, req, 404, "Not Found")
		return
	}
	if ct := req.ContentType(); len(req.Body()) > 0 && ct != nil && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		u.metrics.InviteRejected("unsupported_media")
		u.respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
		return
	}
	ext := wa != nil && wa.SRTP == "dtls" // media: a WebRTC leg of the hub's (extmedia.go)
	var offer *sdp.Session
	if len(req.Body()) > 0 {
		if offer, err = sdp.Parse(req.Body()); err != nil {
			u.metrics.InviteRejected("bad_sdp")
			u.respond(tx, req, 400, "Bad Request", sip.NewHeader("Warning", `399 split "malformed SDP"`))
			return
		}
		if a := offer.First("audio"); a == nil {
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		} else if _, _, err := sdp.Answer(a, inboundPrefs); err != nil && !ext {
			u.metrics.InviteRejected("no_codec")
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
	}
	video := offer == nil || offer.First("video") != nil
	// Answer with the caller's most preferred codec we support (RFC 3264 §6.1
	// leaves the choice to us; following the offerer avoids needless transcoding).
	prefs := inboundPrefs
	if offer != nil {
		prefs = offerOrder(offer.First("audio"))
	}
	var c *Call
	if ext {
		c, err = u.newExtCall(Inbound, cid.Value())
	} else {
		c, err = u.newCall(Inbound, cid.Value(), video && u.cfg.WebRTC.Video && wa == nil, prefs)
	}
	if err != nil {
		u.metrics.InviteRejected("no_ports")
		u.respond(tx, req, 503, "Service Unavailable")
		return
	}
	dlg, err := u.dialogUA(req.Transport()).ReadInvite(req, tx)
	if err != nil {
		c.end(400, err.Error())
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	c.server, c.invite, c.inviteTx, c.Trunk = dlg, req, tx, who
	if to := dlg.InviteRequest.To(); to != nil {
		c.localTag, _ = to.Params.Get("tag")
	}
	c.remoteTag, _ = from.Params.Get("tag")
	c.remoteCSeq = req.CSeq().SeqNo
	c.To = req.Recipient
	c.From, c.FromName = from.Address, from.DisplayName
	c.Headers = map[string]string{}
	for _, name := range headersKept {
		if h := req.GetHeader(name); h != nil {
			c.Headers[name] = h.Value()
		}
	}
	if wa != nil {
		c.waAccept(wa, req)
	}
	c.answerCh = make(chan struct{})
	c.final = make(chan *sip.Response, 1)
	c.finalSent = make(chan struct{})
	c.ackCh = make(chan *sip.Request, 1)
	if ext {
		c.remoteSDP = bytes.Clone(req.Body()) // waInbound saw a DTLS offer with Opus
	} else if offer != nil {
		if _, _, _, err := c.applyRemote(offer); err != nil {
			c.end(488, err.Error())
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		if wa == nil {
			// text when the INVITE comes from a trunk with text: true (by
			// its addresses, even when the allow-list matched first)
			_, text := u.textACL.Match(src)
			c.acceptText(offer, text)
		}
	} else {
		c.lateOffer = true
	}
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
	_ = dlg.Respond(100, "Trying", nil)
	c.log.Info("INVITE received", "from", c.From.String(), "to", c.To.String(), "source", src.String(), "via", who, "late_offer", c.lateOffer)
	u.handler.Incoming(c)

	// Whoever accepts the call owns it to the end: wait for the answer,
	// a CANCEL or the far end's transaction dying. sipgo terminates the
	// INVITE transaction when this handler returns, so the final response
	// must have been sent by then.
	select {
	case <-c.answerCh:
	case <-dlg.Context().Done():
		c.log.Info("caller cancelled before answer")
		c.hungUp.Store(true)
		c.end(487, "Request Terminated")
		return
	case <-c.done:
	}
	select {
	case <-c.answerCh:
	default:
		return // ended without a decision (e.g. no media ports): nothing more to send
	}
	select {
	case res := <-c.final: // rejected: send the 4xx-6xx and wait for its ACK
		if err := c.server.WriteResponse(res); err != nil {
			c.log.Debug("final response failed", "err", err)
		}
	case <-c.finalSent: // answered: Answer sent the 200 and saw the ACK
	}
}

// Ringing sends 180 Ringing.
func (c *Call) Ringing() {
	if c.server == nil {
		return
	}
	ct := c.contact()
	if err := c.server.Respond(180, "Ringing", nil, &ct); err != nil {
		c.log.Debug("180 failed", "err", err)
	}
	c.setState(StateRinging, 180, "Ringing")
}

// Answer sends 200 OK with our SDP (an answer, or an offer for a late-offer
// INVITE, whose answer then comes in the ACK) and waits for the ACK.
func (c *Call) Answer(ctx context.Context) error {
	if c.server == nil {
		return errors.New("sipua: not an inbound call")
	}
	select {
	case <-c.done:
		code, reason := c.End()
		return &EndedError{Code: code, Reason: reason}
	default:
	}
	var body []byte
	if c.extMedia {
		b, err := c.answerBody(ctx)
		if err != nil {
			return err
		}
		body = b
	} else if c.lateOffer {
		var audio []sdp.Codec
		for _, n := range inboundPrefs {
			cd, _ := sdp.AudioCodec(n)
			audio = append(audio, cd)
		}
		audio = append(audio, sdp.TelEvent8k)
		var video []sdp.Codec
		if c.video != nil {
			video = []sdp.Codec{sdp.H264, sdp.VP8}
		}
		body = c.localSDP(audio, video, sdp.SendRecv)
	} else {
		ac := c.currentAudioCodecs()
		body = c.localSDP(ac, c.currentVideoCodecs(), c.answerDirection())
	}
	res := sip.NewResponseFromRequest(c.server.InviteRequest, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if c.wa != nil {
		res.AppendHeader(sip.NewHeader("Allow", waAllow))
	} else {
		res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	}
	ct := c.contact()
	res.AppendHeader(&ct)
	if se := c.invite.GetHeader("Session-Expires"); se != nil {
		v := se.Value()
		if !strings.Contains(v, "refresher") {
			v += ";refresher=uac"
		}
		res.AppendHeader(sip.NewHeader("Session-Expires", v))
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
	close(c.answerCh)
	err := c.server.WriteResponse(res) // returns once the ACK came (or the transaction gave up)
	close(c.finalSent)
	if err != nil {
		select {
		case <-c.done: // ended meanwhile (a BYE, our own hang-up)
			c.byeIfPending(ctx) // no ACK: the BYE ends the call for a caller merely unreachable
			code, reason := c.End()
			return &EndedError{Code: code, Reason: reason}
		default:
		}
		// No ACK for our 200 within 64*T1: the caller is gone (killed,
		// lost its network). RFC 3261 §13.3.1.4: the session is over; a
		// BYE says so to a caller that is merely unreachable.
		c.log.Warn("no ACK for 200 OK; hanging up", "err", err)
		c.hungUp.Store(true)
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if berr := c.server.Bye(bctx); berr != nil {
			c.log.Debug("BYE after no ACK failed", "err", berr)
		}
		c.end(408, "No ACK")
		return fmt.Errorf("sipua: no ACK: %w", err)
	}
	select {
	case ack := <-c.ackCh:
		if c.lateOffer {
			s, err := sdp.Parse(ack.Body())
			if err == nil {
				_, _, _, err = c.applyRemote(s)
			}
			if err != nil {
				c.log.Warn("late-offer ACK without usable SDP; hanging up", "err", err)
				c.Hangup(ctx, 488, "Not Acceptable Here")
				c.byeIfPending(ctx)
				return err
			}
		}
	case <-time.After(32 * time.Second):
		c.log.Warn("no ACK for 200 OK")
		c.Hangup(ctx, 408, "No ACK")
		c.byeIfPending(ctx)
		return errors.New("sipua: no ACK")
	case <-c.done:
		c.byeIfPending(ctx)
		code, reason := c.End()
		return &EndedError{Code: code, Reason: reason}
	}
	if !c.activate(200, "OK") {
		c.byeIfPending(ctx)
		code, reason := c.End()
		return &EndedError{Code: code, Reason: reason}
	}
	return nil
}

func (c *Call) answerDirection() sdp.Direction {
	if s, err := sdp.Parse(c.invite.Body()); err == nil {
		if a := s.First("audio"); a != nil {
			return a.Direction.Reverse()
		}
	}
	return sdp.SendRecv
}

// Reject declines an unanswered inbound call with code (4xx-6xx).
func (c *Call) Reject(code int, reason string) {
	if !c.hungUp.CompareAndSwap(false, true) {
		return // already hung up or rejected
	}
	c.reject(code, reason)
}

func (c *Call) reject(code int, reason string, hdrs ...sip.Header) {
	if c.server == nil {
		return
	}
	select {
	case <-c.answerCh:
		return
	default:
	}
	res := sip.NewResponseFromRequest(c.server.InviteRequest, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	// The INVITE handler goroutine sends it (it owns the transaction).
	c.final <- res
	close(c.answerCh)
	c.end(code, reason)
}

// Redirect answers an unanswered inbound call with 302 Moved Temporarily
// and one Contact: the called user at to's host, port and parameters
// (e.g. sip:10.0.0.2:5060;transport=tcp). A proxy in front (Kamailio's
// uac_redirect) or the caller follows it with the same request.
func (c *Call) Redirect(to sip.Uri) {
	if !c.hungUp.CompareAndSwap(false, true) {
		return
	}
	to.User = c.To.User
	ct := &sip.ContactHeader{Address: to}
	c.reject(302, "Moved Temporarily", ct)
}

// EndedError says a call ended before the operation.
type EndedError struct {
	Code   int
	Reason string
}

func (e *EndedError) Error() string { return "sipua: call ended: " + e.Reason }

func offerOrder(m *sdp.Media) []string {
	var out []string
	for _, c := range m.Codecs {
		for _, p := range inboundPrefs {
			if c.Is(p) {
				out = append(out, p)
			}
		}
	}
	return out
}
