package hub

// WhatsApp over SIP with DTLS-SRTP+ICE media (a provider: whatsapp trunk
// with srtp: dtls; Meta's srtp_key_exchange_protocol DTLS): the signalling
// is the SIP call's (sipua: TLS, digest, Record-Route, no re-INVITE, BYE
// with Reason), the media a WebRTC leg of the rtc engine — ICE full and
// controlling, DTLS client when answering Meta's offer, actpass when
// offering, one Opus audio m-line — as in the Graph variant.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
)

// waSIPMediaEP is the customer leg of a WhatsApp SIP call whose media is a
// WebRTC leg: the SIP call is its life (Done, hang-up by BYE/CANCEL/final
// response), the rtc leg its media (Audio, the figures in leg.media).
//
// For Meta's INVITE the WebRTC leg is made when the call is answered (the
// 200 OK carries its answer): Meta's offer starts ICE at once, and a leg
// made while the call rings or queues would fail its checks after 30 s if
// Meta's relay ignores checks before it has our answer. Until then Audio
// is nil (the session leaves the leg out of its media plan) and the agent
// is offered the configured codecs.
type waSIPMediaEP struct {
	c  *sipua.Call
	h  *Hub
	s  *session.Session
	wa *waCall

	mu     sync.Mutex
	media  *rtcEP // nil until the WebRTC leg exists
	closed bool
}

func (e *waSIPMediaEP) Kind() leg.Kind        { return leg.KindWhatsApp }
func (e *waSIPMediaEP) Done() <-chan struct{} { return e.c.Done() }
func (e *waSIPMediaEP) Video() *leg.Track     { return nil }

func (e *waSIPMediaEP) Audio() *leg.Track {
	if m := e.rtcMedia(); m != nil {
		return m.l.Audio()
	}
	return nil
}

func (e *waSIPMediaEP) rtcMedia() *rtcEP {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.media
}

// Close hangs the SIP call up (off the session goroutine) and closes the
// media leg, recording its figures (session goroutine).
func (e *waSIPMediaEP) Close(code int, reason string) {
	e.mu.Lock()
	e.closed = true
	m := e.media
	e.mu.Unlock()
	if m != nil {
		m.Close(code, reason)
	}
	c := e.c
	e.h.goAsync(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Hangup(ctx, code, reason)
	})
}

// cause is the SIP call's end when it is Meta's error response (a decline,
// no answer, a refusal); else defCode, defReason (as legCause for a sipEP).
func (e *waSIPMediaEP) cause(defCode int, defReason string) (int, string) {
	if c, r := e.c.End(); c != 0 && c != 200 && c != 487 {
		return c, r
	}
	return defCode, defReason
}

// setMedia makes rl the endpoint's media: it sends nothing before the call
// is accepted (Meta counts media as the answer), and whichever of the SIP
// call and rl ends first ends the other (Meta's BYE closes the media;
// media that fails — ICE, DTLS — hangs the call up).
func (e *waSIPMediaEP) setMedia(rl *rtc.Leg) bool {
	gate(rl.Audio(), &e.wa.accepted)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = rl.Close()
		return false
	}
	m := e.h.browserEP(e.s, rl, nil)
	e.media = m
	e.mu.Unlock()
	sc, h, s := e.c, e.h, e.s
	h.goAsync(func() {
		select {
		case <-sc.Done():
			// a leg that ends by itself is not closed by the session:
			// close the media here, its figures into the record
			if !s.Do(func() { m.Close(200, "SIP call ended") }) {
				_ = rl.Close()
			}
		case <-rl.Done():
			e.mu.Lock()
			closed := e.closed
			e.mu.Unlock()
			select {
			case <-sc.Done():
				return
			default:
			}
			if closed {
				return // the hub closed it, and hangs the call up
			}
			h.log.Warn("WhatsApp SIP call: its WebRTC media ended; hanging up", "leg", sc.ID)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sc.Hangup(ctx, 500, "Media failed")
		}
	})
	return true
}

// waSIPMediaAnswer is the customer endpoint of Meta's INVITE sc with a DTLS
// offer (session goroutine). Its answer is made when waAccept answers:
// sc.Answer asks answerMedia.
func (h *Hub) waSIPMediaAnswer(s *session.Session, sc *sipua.Call, c *waCall) *waSIPMediaEP {
	e := &waSIPMediaEP{c: sc, h: h, s: s, wa: c}
	sc.SetAnswerFunc(e.answerMedia)
	return e
}

// answerMedia answers Meta's offer with a new WebRTC leg (sc.Answer's
// goroutine, just before the 200 OK).
func (e *waSIPMediaEP) answerMedia(ctx context.Context) ([]byte, error) {
	rl, answer, err := e.h.rtc.AcceptOffer(ctx, string(e.c.RemoteSDP()), rtc.Options{AudioPrefs: e.h.waSIPAudioPrefs(e.s)})
	if err != nil {
		return nil, err
	}
	if !e.setMedia(rl) {
		return nil, errors.New("the call ended")
	}
	s, id := e.s, e.c.ID
	s.Do(func() { s.Record("whatsapp.media", id, map[string]any{"media": "dtls-srtp", "webrtc_leg": rl.ID}) })
	return []byte(answer), nil
}

// waSIPAudioPrefs: Opus toward Meta; G.711 only as a fallback.
func (h *Hub) waSIPAudioPrefs(*session.Session) []string { return []string{"opus", "PCMU", "PCMA"} }

// waPlaceSIPMedia places a business-initiated call through an srtp: dtls
// whatsapp trunk (session goroutine): the INVITE carries the WebRTC leg's
// offer (Opus, actpass), Meta's 200 OK answer is applied to the leg before
// the call turns active.
func (h *Hub) waPlaceSIPMedia(s *session.Session, d *waDial, tr *config.Trunk, to sip.Uri) {
	t := st(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, offer, err := h.rtc.CreateOffer(ctx, rtc.Options{AudioPrefs: []string{"opus"}})
	if err != nil {
		h.end(s, 500, "WhatsApp offer failed")
		return
	}
	var legID string
	c := &waCall{pnid: d.pnid, user: d.user, business: true}
	sc, err := h.ua.Dial(ctx, sipua.DialOptions{Trunk: tr, To: to, Offer: []byte(offer),
		OnAnswer: func(answer []byte) error { return rl.SetAnswer(string(answer)) },
		Events: sipua.Events{
			OnState: func(ss sipua.State, code int, reason string) {
				s.Do(func() { h.waSIPProgress(s, legID, ss, code, reason) })
			},
		}})
	if err != nil {
		_ = rl.Close()
		h.end(s, 502, "WhatsApp call failed: "+err.Error())
		return
	}
	legID, c.leg, c.sip = sc.ID, sc.ID, sc
	t.wa, t.custLeg = c, sc.ID
	c.acceptSent = true // the INVITE is the call: its end is a BYE or CANCEL
	ep := &waSIPMediaEP{c: sc, h: h, s: s, wa: c}
	ep.setMedia(rl)
	if err := s.AddLeg(&session.Leg{ID: sc.ID, Role: session.RoleCustomer, Party: "whatsapp:" + d.user, Name: s.Info().Customer.Name, EP: ep}); err != nil {
		sc.Hangup(context.Background(), 500, "Session ended")
		return
	}
	_ = s.SetState(session.StateRinging, map[string]any{"whatsapp": "calling", "signalling": "sip", "media": "dtls-srtp"})
	s.Record("sip.dialled", sc.ID, map[string]any{"to": to.String(), "trunk": tr.Name, "webrtc_leg": rl.ID})
}

// waSIPDTLS reports whether a WhatsApp SIP call's media is external (srtp: dtls).
func waSIPDTLS(sc *sipua.Call) bool { return sc != nil && sc.ExternalMedia() }
