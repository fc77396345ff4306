package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/bridge"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/sipua"
)

// Call is one bridged call: a browser leg and a SIP leg. Its run goroutine
// is the only writer of its state; everything else posts closures.
type Call struct {
	g       *Gateway
	client  *Client
	id      string
	dir     sipua.Direction
	log     *slog.Logger
	rtc     *rtc.Leg
	sip     *sipua.Call
	br      *bridge.Bridge
	offered []*Client // inbound: the browsers that were rung

	ev       chan func()
	done     chan struct{}
	ended    bool
	started  time.Time
	active   bool
	activeAt time.Time
}

func newCall(g *Gateway, cl *Client, id string, dir sipua.Direction) *Call {
	return &Call{g: g, client: cl, id: id, dir: dir, ev: make(chan func(), 64), done: make(chan struct{}),
		log: g.log.With("call", id, "identity", cl.identity, "dir", string(dir)), started: time.Now()}
}

// post runs f on the call's goroutine; it never blocks a caller for long.
func (c *Call) post(f func()) {
	select {
	case c.ev <- f:
	case <-c.done:
	case <-time.After(2 * time.Second):
		c.log.Warn("call event queue full; dropping event")
	}
}

func (c *Call) start(first func()) {
	c.g.wg.Add(1)
	go c.run(first)
}

func (c *Call) run(first func()) {
	defer c.g.wg.Done()
	first()
	stats := time.NewTicker(2 * time.Second)
	defer stats.Stop()
	for !c.ended {
		var rtcDone, sipDone <-chan struct{}
		if c.rtc != nil {
			rtcDone = c.rtc.Done()
		}
		if c.sip != nil {
			sipDone = c.sip.Done()
		}
		select {
		case f := <-c.ev:
			f()
		case <-rtcDone:
			c.hangup(200, "Browser disconnected")
		case <-sipDone:
			code, reason := c.sip.End()
			c.finish(code, reason)
		case <-stats.C:
			c.sendStats()
			c.checkMedia()
		}
	}
	close(c.done)
}

// finish tears down both legs and tells the browser.
func (c *Call) finish(code int, reason string) {
	if c.ended {
		return
	}
	c.ended = true
	if c.br != nil {
		c.br.Close()
	}
	if c.sip != nil {
		c.sip.Hangup(context.Background(), code, reason)
	}
	if c.rtc != nil {
		_ = c.rtc.Close()
	}
	c.client.send(stateMsg{Type: "state", Call: c.id, State: "ended", Code: code, Reason: reason})
	for _, o := range c.offered {
		if o != c.client {
			o.send(stateMsg{Type: "state", Call: c.id, State: "ended", Code: code, Reason: reason})
		}
	}
	c.client.forget(c.id)
	result := "success"
	switch {
	case !c.active && code >= 400:
		result = "failed"
	case !c.active:
		result = "cancelled"
	}
	c.g.metrics.CallEnded(string(c.dir), result, time.Since(c.started))
	c.g.untrack(c)
	c.log.Info("call ended", "code", code, "reason", reason, "duration", time.Since(c.started).Round(time.Millisecond).String())
}

// hangup ends the call from the hub's side (browser hung up, browser gone, shutdown).
func (c *Call) hangup(code int, reason string) {
	c.finish(code, reason)
}

// dial places the SIP side of a browser's call (runs on the call goroutine).
func (c *Call) dial(to, offer string, headers map[string]string) {
	g := c.g
	trunk, uri, err := g.ua.Resolve(to)
	if err != nil {
		code, reason, ecode := 404, "Not Found", "not_found"
		if errors.Is(err, sipua.ErrBadTarget) {
			code, reason, ecode = 400, "Bad Request", "bad_request"
		}
		c.client.sendError(c.id, ecode, fmt.Sprintf("cannot call %q: %v", to, err))
		c.finish(code, reason)
		return
	}
	prefs := rtc.BrowserPrefs(g.cfg.WebRTC.AudioCodecs, trunk.Codecs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, answer, err := g.rtc.AcceptOffer(ctx, offer, rtc.Options{
		AudioPrefs: prefs, Video: trunk.Video, VideoCodecs: trunk.VideoCodecs, OnState: c.onRTCState,
	})
	if err != nil {
		c.client.sendError(c.id, "bad_request", "offer: "+err.Error())
		c.finish(488, "Not Acceptable Here")
		return
	}
	c.rtc = leg
	c.logRefused()
	c.client.send(sdpMsg{Type: "answer", Call: c.id, SDP: answer})
	vcodec := ""
	if leg.Video() != nil {
		vcodec = leg.Video().Send().Name
	}
	var hdrs []sipHeader
	for k, v := range headers {
		hdrs = append(hdrs, sipHeader{k, v})
	}
	sc, err := g.ua.Dial(ctx, sipua.DialOptions{
		Trunk: trunk, To: uri, FromUser: c.client.identity, Headers: toSIPHeaders(hdrs),
		Video: leg.Video() != nil, VideoCodec: vcodec,
		Events: sipua.Events{
			OnState: func(s sipua.State, code int, reason string) { c.post(func() { c.onSIPState(s, code, reason) }) },
			OnDTMF:  func(d rune) { c.client.send(dtmfMsg{Type: "dtmf", Call: c.id, Digit: string(d)}) },
		},
	})
	if err != nil { // draining, no RTP ports, or the INVITE could not be sent
		c.client.sendError(c.id, "unavailable", err.Error())
		c.finish(503, "Service Unavailable")
		return
	}
	// The INVITE is out: trying. The SIP side's states (ringing, early,
	// active, ended) are posted to this goroutine, so they follow it.
	c.client.send(stateMsg{Type: "state", Call: c.id, State: "trying", Code: 100, Reason: "Trying"})
	c.sip = sc
	g.metrics.SetupLatency(time.Since(c.started))
	c.bridge()
}

func (c *Call) bridge() {
	var va, vb = c.rtc.Video(), c.sip.Video()
	if va == nil || vb == nil {
		va, vb = nil, nil
	}
	c.br = bridge.ConnectWith(bridge.Options{
		Transcode:    media.TranscodeOptions{OpusBitrate: c.g.cfg.Media.OpusBitrate, OpusComplexity: c.g.cfg.Media.OpusComplexity},
		JitterFrames: c.g.cfg.Media.JitterBuffer,
	}, c.rtc.Audio(), c.sip.Audio(), va, vb)
}

func (c *Call) onRTCState(s webrtc.PeerConnectionState) {
	if s == webrtc.PeerConnectionStateConnected {
		c.log.Info("browser media connected")
	}
}

func (c *Call) onSIPState(s sipua.State, code int, reason string) {
	if c.ended {
		return
	}
	switch s {
	case sipua.StateActive:
		if !c.active {
			c.activeAt = time.Now()
		}
		c.active = true
	case sipua.StateEnded:
		c.finish(code, reason)
		return
	}
	c.client.send(stateMsg{Type: "state", Call: c.id, State: s.String(), Code: code, Reason: reason})
}

// ring offers an inbound SIP call to the browsers of its identity.
func (c *Call) ring(clients []*Client) {
	sc := c.sip
	sc.SetEvents(sipua.Events{
		OnState: func(s sipua.State, code int, reason string) { c.post(func() { c.onSIPState(s, code, reason) }) },
		OnDTMF:  func(d rune) { c.client.send(dtmfMsg{Type: "dtmf", Call: c.id, Digit: string(d)}) },
	})
	prefs := []string{sc.Audio().Send().Name}
	if prefs[0] == "" { // late offer: the codec comes with the ACK
		prefs = nil
	}
	prefs = append(prefs, c.g.cfg.WebRTC.AudioCodecs...)
	vcodec := ""
	if v := sc.Video(); v != nil {
		vcodec = v.Send().Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, offer, err := c.g.rtc.CreateOffer(ctx, rtc.Options{AudioPrefs: prefs, Video: sc.Video() != nil && (vcodec != "" || isLateOffer(sc)), VideoCodecs: rtc.Only(vcodec), OnState: c.onRTCState})
	if err != nil {
		c.log.Warn("cannot create browser offer", "err", err)
		sc.Reject(500, "Server Internal Error")
		c.finish(500, "Server Internal Error")
		return
	}
	c.rtc = leg
	from := sc.From.String()
	msg := incomingMsg{Type: "incoming", Call: c.id, From: from, DisplayName: sc.FromName, To: sc.To.String(),
		Video: leg.Video() != nil, SDP: offer, Headers: sc.Headers}
	for _, cl := range clients {
		cl.adopt(c.id, c)
		cl.send(msg)
	}
	c.offered = clients
	sc.Ringing()
}

// logRefused notes the media the browser left out (e.g. video in H.264 to
// a Firefox without it): the call goes on without them.
func (c *Call) logRefused() {
	for _, r := range c.rtc.Refused() {
		c.log.Info("the browser left a medium out; the call goes on without it", "kind", r.Kind, "reason", r.Reason)
	}
}

func isLateOffer(sc *sipua.Call) bool { return sc.Audio().Send().Name == "" }

// answered: a browser accepted the inbound call with sdp.
func (c *Call) answered(by *Client, answer string) {
	if c.ended || c.active {
		by.sendError(c.id, "bad_request", "call already answered or ended")
		return
	}
	if err := c.rtc.SetAnswer(answer); err != nil {
		by.sendError(c.id, "bad_request", err.Error())
		return
	}
	c.logRefused()
	c.client = by
	for _, o := range c.offered {
		if o != by {
			o.send(stateMsg{Type: "state", Call: c.id, State: "ended", Code: 200, Reason: "Answered elsewhere"})
			o.forget(c.id)
		}
	}
	c.offered = nil
	c.bridge()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := c.sip.Answer(ctx); err != nil {
		c.log.Warn("answer failed", "err", err)
		c.finish(500, "Answer failed")
		return
	}
	c.g.metrics.SetupLatency(time.Since(c.started))
}

// checkMedia hangs up an answered, unheld call whose SIP side has sent no
// RTP for rtp.timeout (a phone that vanished without BYE).
func (c *Call) checkMedia() {
	limit := c.g.cfg.RTP.Timeout
	if limit <= 0 || !c.active || c.sip == nil || c.sip.State() == sipua.StateHeld {
		return
	}
	last := c.sip.LastMedia()
	if last.IsZero() {
		last = c.activeAt
	}
	if !last.IsZero() && time.Since(last) > limit {
		c.log.Warn("no RTP from the SIP side; hanging up", "silent_for", time.Since(last).Round(time.Second).String())
		c.hangup(408, "Media timeout")
	}
}

func (c *Call) sendStats() {
	if c.sip == nil || c.rtc == nil || !c.active {
		return
	}
	a, v := c.rtc.SendCodecs()
	st := c.sip.AudioStats()
	c.client.send(statsMsg{Type: "stats", Call: c.id, AudioCodec: a, VideoCodec: v, SIPRTP: st,
		Path: c.br.AtoB.Path().String(), SIPAudioCodec: c.sip.Audio().Send().Name})
}

type sipHeader struct{ name, value string }

func validHeaderName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	// Only extension headers: a browser must not forge routing, identity or
	// session-correlation headers (User-to-User and X-Split-* are the hub's).
	l := strings.ToLower(n)
	return strings.HasPrefix(l, "x-") && !strings.HasPrefix(l, "x-split-")
}
