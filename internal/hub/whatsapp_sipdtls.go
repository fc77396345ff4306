package hub

// WhatsApp over SIP with DTLS-SRTP+ICE media (a provider: whatsapp trunk
// with srtp: dtls; Meta's srtp_key_exchange_protocol DTLS): the signalling
// is the SIP call's (sipua: TLS, digest, Record-Route, no re-INVITE, BYE
// with Reason), the media a WebRTC leg of the rtc engine — ICE full and
// controlling, DTLS client when answering Meta's offer, actpass when
// offering, one Opus audio m-line — as in the Graph variant.

import (
	"context"
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
type waSIPMediaEP struct {
	rtcEP
	c *sipua.Call
	h *Hub
}

func (e *waSIPMediaEP) Kind() leg.Kind        { return leg.KindWhatsApp }
func (e *waSIPMediaEP) Done() <-chan struct{} { return e.c.Done() }

// Close hangs the SIP call up (off the session goroutine) and closes the
// media leg, recording its figures.
func (e *waSIPMediaEP) Close(code int, reason string) {
	e.rtcEP.Close(code, reason)
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

// newWASIPMediaEP ties sc and rl together: whichever ends first ends the
// other (Meta's BYE closes the media; media that fails — ICE, DTLS — hangs
// the call up).
func (h *Hub) newWASIPMediaEP(s *session.Session, sc *sipua.Call, rl *rtc.Leg) *waSIPMediaEP {
	e := &waSIPMediaEP{rtcEP: *h.browserEP(s, rl, nil), c: sc, h: h}
	h.goAsync(func() {
		select {
		case <-sc.Done():
			// a leg that ends by itself is not closed by the session:
			// close the media here, its figures into the record
			if !s.Do(func() { e.rtcEP.Close(200, "SIP call ended") }) {
				_ = rl.Close()
			}
		case <-rl.Done():
			select {
			case <-sc.Done():
				return
			default:
			}
			h.log.Warn("WhatsApp SIP call: its WebRTC media ended; hanging up", "leg", sc.ID)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sc.Hangup(ctx, 500, "Media failed")
		}
	})
	return e
}

// waSIPMediaAnswer answers the DTLS offer of Meta's INVITE sc with a WebRTC
// leg (session goroutine): the answer waits in sc for the 200 OK, which
// waAccept sends when an agent answers; the leg sends nothing before
// (Meta counts media as the answer). It returns the customer endpoint.
func (h *Hub) waSIPMediaAnswer(s *session.Session, sc *sipua.Call, c *waCall) (*waSIPMediaEP, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, answer, err := h.rtc.AcceptOffer(ctx, string(sc.RemoteSDP()), rtc.Options{AudioPrefs: h.waSIPAudioPrefs(s)})
	if err != nil {
		return nil, err
	}
	sc.SetAnswerSDP([]byte(answer))
	gate(rl.Audio(), &c.accepted)
	s.Record("whatsapp.media", sc.ID, map[string]any{"media": "dtls-srtp", "webrtc_leg": rl.ID})
	return h.newWASIPMediaEP(s, sc, rl), nil
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
	gate(rl.Audio(), &c.accepted)
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
	ep := h.newWASIPMediaEP(s, sc, rl)
	if err := s.AddLeg(&session.Leg{ID: sc.ID, Role: session.RoleCustomer, Party: "whatsapp:" + d.user, Name: s.Info().Customer.Name, EP: ep}); err != nil {
		sc.Hangup(context.Background(), 500, "Session ended")
		return
	}
	_ = s.SetState(session.StateRinging, map[string]any{"whatsapp": "calling", "signalling": "sip", "media": "dtls-srtp"})
	s.Record("sip.dialled", sc.ID, map[string]any{"to": to.String(), "trunk": tr.Name, "webrtc_leg": rl.ID})
}

// waSIPDTLS reports whether a WhatsApp SIP call's media is external (srtp: dtls).
func waSIPDTLS(sc *sipua.Call) bool { return sc != nil && sc.ExternalMedia() }
