package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/whatsapp"
)

// WhatsApp mode: a WhatsApp user's call (Calling API, Graph signalling,
// WebRTC media) is the customer leg of a session routed like a Forward
// call; docs/whatsapp.md has the flows. The Meta side — webhooks, the Graph
// client, permissions — is internal/whatsapp; this file is the policy: when
// to pre-accept, accept, reject and terminate, and what the call's end does
// to the session.

// WhatsApp is what the hub asks of the WhatsApp side (whatsapp.Service).
type WhatsApp interface {
	http.Handler                                                              // the Meta app's webhook
	ServeDeadLetters(w http.ResponseWriter, r *http.Request)                  // GET /v1/whatsapp/dead-letters
	ServeSettings(w http.ResponseWriter, r *http.Request, cfg *config.Config) // GET/POST /v1/whatsapp/settings
	Number(phoneNumberID string) (config.WhatsAppNumber, bool)
	PreAccept(ctx context.Context, pnid, callID, sdpAnswer string) error
	Accept(ctx context.Context, pnid, callID, sdpAnswer, opaque string) error
	Reject(ctx context.Context, pnid, callID string) error
	Terminate(ctx context.Context, pnid, callID string) error
}

// waCall is a session's WhatsApp call (session goroutine, except the atomics).
type waCall struct {
	pnid, id string
	user     string      // wa_id (or BSUID)
	leg      string      // the WhatsApp leg's id
	answer   string      // the hub's SDP answer: pre_accept and accept carry the same
	browser  string      // the customer's browser leg that added video (voice stays on WhatsApp)
	sip      *sipua.Call // SIP signalling: Meta's INVITE (accept = 200 OK, end = BYE by the leg)
	business bool        // business-initiated: Meta's answer comes by webhook
	rejected bool        // business-initiated: the user declined (status REJECTED)
	answered bool        // business-initiated: the user answered (status ACCEPTED)
	applied  bool        // business-initiated: Meta's SDP answer (connect webhook) is applied

	acceptSent bool
	accepted   atomic.Bool   // Meta answered accept: media may flow
	metaEnded  atomic.Bool   // Meta ended the call (terminate webhook): nothing to send back
	preDone    chan struct{} // closed when the pre_accept request has returned
	ring       chan struct{} // the ringback after accept_timeout, until answered
	hold       chan struct{} // the silence sent while held, until resumed
}

// waIndex finds a session by its WhatsApp call id (any goroutine).
type waIndex struct {
	mu  sync.Mutex
	ids map[string]string // wacid → session id
}

func (x *waIndex) put(callID, sid string) {
	x.mu.Lock()
	if x.ids == nil {
		x.ids = map[string]string{}
	}
	x.ids[callID] = sid
	x.mu.Unlock()
}

func (x *waIndex) get(callID string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.ids[callID]
}

func (x *waIndex) del(callID string) {
	x.mu.Lock()
	delete(x.ids, callID)
	x.mu.Unlock()
}

// waEP is the WhatsApp call's endpoint: a WebRTC PeerConnection with Meta's
// relay whose end is told to Meta (terminate, or reject before accept).
type waEP struct {
	rtcEP
	h    *Hub
	call *waCall

	closeOnce sync.Once
	closed    chan struct{} // Close was called
	done      chan struct{} // the leg ended by itself (Done)
}

// waTerminateGrace is how long the WhatsApp leg outlives its transport:
// Meta's relay closes the media when the call ends, usually before the
// terminate webhook arrives, and the webhook tells how the call ended
// (declined, not answered, Meta's media timeout). Without a terminate the
// transport's end ends the leg after the grace.
const waTerminateGrace = 5 * time.Second

// newWAEP is the endpoint of c's WebRTC leg rl.
func (h *Hub) newWAEP(s *session.Session, rl *rtc.Leg, c *waCall) *waEP {
	e := &waEP{h: h, call: c, closed: make(chan struct{}), done: make(chan struct{})}
	e.rtcEP = *h.browserEP(s, rl, nil)
	h.goAsync(func() {
		select {
		case <-rl.Done():
		case <-e.closed:
			return
		}
		t := time.NewTimer(waTerminateGrace)
		defer t.Stop()
		select {
		case <-t.C:
			close(e.done)
		case <-e.closed: // Meta's terminate (or the hub) ended the leg
		}
	})
	return e
}

func (e *waEP) Kind() leg.Kind        { return leg.KindWhatsApp }
func (e *waEP) Done() <-chan struct{} { return e.done }

func (e *waEP) Close(code int, reason string) {
	e.closeOnce.Do(func() { close(e.closed) })
	e.rtcEP.Close(code, reason)
	e.h.waEnd(e.call)
}

// waEnd tells Meta the hub ended the call, once (any goroutine).
func (h *Hub) waEnd(c *waCall) {
	if c.metaEnded.Swap(true) || c.sip != nil {
		return // SIP: the leg's own hang-up (CANCEL-less reject or BYE) tells Meta
	}
	id := c.id
	if id == "" {
		return // a business call whose connect has not returned yet: waPlace ends it with its id
	}
	h.waCalls.del(id)
	h.goAsync(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if c.acceptSent || c.business { // reject is for user-initiated calls only
			err = h.wa.Terminate(ctx, c.pnid, id)
		} else {
			err = h.wa.Reject(ctx, c.pnid, id)
		}
		if err != nil {
			h.log.Warn("WhatsApp: ending the call at Meta failed", "call", id, "err", err)
		}
	})
}

// waHandler receives the WhatsApp side's events (whatsapp.Handler).
type waHandler struct{ h *Hub }

// WhatsAppHandler is the hub's side of internal/whatsapp.
func (h *Hub) WhatsAppHandler() whatsapp.Handler { return waHandler{h} }

// SetWhatsApp gives the hub the WhatsApp side (nil: WhatsApp calling off).
func (h *Hub) SetWhatsApp(w WhatsApp) { h.wa = w }

func (x waHandler) CallConnect(ev whatsapp.CallEvent) {
	h := x.h
	if ev.Direction != whatsapp.UserInitiated {
		h.waBusinessAnswer(ev)
		return
	}
	h.waIncoming(ev)
}

func (x waHandler) CallStatus(ev whatsapp.StatusEvent) {
	h := x.h
	s := h.Session(h.waCalls.get(ev.CallID))
	if s == nil && ev.BizOpaque != "" {
		s = h.Session(ev.BizOpaque) // the status came before Connect's own reply
	}
	if s != nil {
		s.Do(func() {
			s.Record("whatsapp.status", "", map[string]any{"status": ev.Status})
			c := st(s).wa
			switch {
			case c == nil || c.id != "" && c.id != ev.CallID:
			case ev.Status == whatsapp.StatusRejected:
				c.rejected = true
			case ev.Status == whatsapp.StatusAccepted && c.business:
				c.answered = true
				h.waBusinessActive(s)
			}
		})
	}
}

func (x waHandler) CallTerminate(ev whatsapp.TerminateEvent) {
	h := x.h
	sid := h.waCalls.get(ev.CallID)
	s := h.Session(sid)
	if s == nil {
		return
	}
	s.Do(func() {
		t := st(s)
		c := t.wa
		if c == nil || c.id != ev.CallID {
			return
		}
		c.metaEnded.Store(true)
		h.waCalls.del(c.id)
		data := map[string]any{"status": strings.ToLower(ev.Status)}
		if ev.Duration > 0 {
			data["duration_s"] = ev.Duration
		}
		if !ev.StartTime.IsZero() {
			data["start"], data["end"] = ev.StartTime.UTC(), ev.EndTime.UTC()
		}
		if len(ev.Errors) > 0 {
			data["error"] = ev.Errors[0].Code
		}
		s.Record("whatsapp.terminated", c.leg, data)
		if s.Leg(c.leg) == nil {
			return // the voice had moved to the browser already
		}
		_ = s.RemoveLeg(c.leg, 200, "WhatsApp call ended")
		code, reason := 200, "Customer hung up"
		switch {
		case s.State() == session.StateActive && len(ev.Errors) > 0:
			// Meta dropped the call (terminate FAILED), the user did not hang up
			code, reason = 502, "WhatsApp call failed"
			if e := ev.Errors[0].Code; e == 138021 || e == 138022 { // media receive / transmit timeout
				code, reason = 408, "Media timeout"
			}
		case s.State() == session.StateActive:
		case c.business && c.rejected:
			code, reason = 603, "Customer declined"
		case c.business:
			code, reason = 480, "No answer"
		default:
			code, reason = 487, "Customer abandoned"
		}
		if t.custLeg != c.leg {
			return // the browser has the voice now
		}
		h.end(s, code, reason)
	})
}

func (x waHandler) PermissionReply(ev whatsapp.PermissionEvent) { x.h.waPermissionReply(ev) }

func (x waHandler) Message(m whatsapp.InboundMessage) {
	h := x.h
	// an inbound message of a user with a live session goes to its history
	live := false
	for _, in := range h.Sessions() {
		if in.Mode != session.ModeWhatsApp || in.Customer.Context["whatsapp"] != m.User() {
			continue
		}
		if s := h.Session(in.ID); s != nil {
			live = true
			s.Do(func() {
				s.Record("whatsapp.message", "", map[string]any{"message_type": m.Type, "text": clip(m.Text, 512)})
			})
		}
	}
	if live || m.Keyword == "" || h.isDraining() {
		return
	}
	// a configured keyword ("call me"): the chat becomes a call, served by
	// the number's entry point — the permission flow first when needed
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cust := session.Customer{Name: m.Contact.Name, Context: map[string]string{"keyword": m.Keyword}}
	s, perm, err := h.startBusinessCall(ctx, m.PhoneNumberID, m.User(), "", cust, "", "", false)
	if err != nil {
		h.log.Info("WhatsApp: a chat escalation could not start", "keyword", m.Keyword, "err", err)
		return
	}
	s.Do(func() {
		s.Record("whatsapp.escalated", "", map[string]any{"keyword": m.Keyword, "text": clip(m.Text, 512), "permission": perm})
	})
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (x waHandler) MessageStatus(st notify.WhatsAppStatus) {
	if n := x.h.whatsappNotifier(); n != nil {
		n.whatsappStatus(context.Background(), st)
	}
}

// waIncoming: a WhatsApp user calls the business (the webhook's goroutine).
func (h *Hub) waIncoming(ev whatsapp.CallEvent) {
	reject := func(why string) {
		h.log.Info("WhatsApp call rejected", "call", ev.CallID, "why", why)
		h.goAsync(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.wa.Reject(ctx, ev.PhoneNumberID, ev.CallID); err != nil {
				h.log.Warn("WhatsApp: reject failed", "call", ev.CallID, "err", err)
			}
		})
	}
	num, ok := h.wa.Number(ev.PhoneNumberID)
	if !ok {
		reject("unknown business number")
		return
	}
	if h.waCalls.get(ev.CallID) != "" {
		return // a repeated connect for a call the hub has
	}
	user := ev.User()
	cust := session.Customer{Name: ev.Contact.Name, Context: map[string]string{"channel": "whatsapp", "whatsapp": user}}
	if w := ev.Contact.WaID; w != "" {
		cust.Contact = "+" + strings.TrimPrefix(w, "+")
	}
	for k, v := range map[string]string{"cta_payload": ev.CTAPayload, "deeplink_payload": ev.DeeplinkPayload} {
		if v != "" {
			cust.Context[k] = v
		}
	}
	entry := num.Entry
	s, err := h.newSession("", session.ModeWhatsApp, entry, cust)
	if err != nil {
		reject(err.Error())
		return
	}
	h.waCalls.put(ev.CallID, s.ID)
	s.Do(func() { h.waStart(s, num, ev) })
}

// waStart answers Meta's offer, pre-accepts and routes (session goroutine).
func (h *Hub) waStart(s *session.Session, num config.WhatsAppNumber, ev whatsapp.CallEvent) {
	t := st(s)
	c := &waCall{pnid: ev.PhoneNumberID, id: ev.CallID, user: ev.User()}
	t.wa = c
	s.Record("whatsapp.call", "", map[string]any{"direction": "user_initiated", "number": num.Number})
	tg, rerr := h.route(s.Info().Entry, s.Info().Customer, time.Now())
	if rerr != nil {
		// outside the entry point's hours, or no route at all: decline at
		// once rather than let the caller's phone ring out
		h.waEnd(c)
		h.end(s, 480, "No route (outside hours)")
		return
	}
	prefs := []string{"opus", "PCMU", "PCMA"}
	if tg.sip != "" {
		if trunk, _, err := h.ua.Resolve(tg.sip); err == nil {
			prefs = rtc.BrowserPrefs(h.cfg.WebRTC.AudioCodecs, trunk.Codecs)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, answer, err := h.rtc.AcceptOffer(ctx, ev.SDP, rtc.Options{AudioPrefs: prefs})
	if err != nil {
		h.log.Warn("WhatsApp: Meta's offer cannot be answered", "call", c.id, "err", err)
		h.waEnd(c)
		h.end(s, 488, "Not Acceptable Here")
		return
	}
	c.leg, c.answer = rl.ID, answer
	gate(rl.Audio(), &c.accepted)
	t.custLeg = rl.ID
	name := s.Info().Customer.Name
	ep := h.newWAEP(s, rl, c)
	if err := s.AddLeg(&session.Leg{ID: rl.ID, Role: session.RoleCustomer, Party: "whatsapp:" + c.user, Name: name, EP: ep}); err != nil {
		_ = rl.Close()
		h.waEnd(c)
		return
	}
	c.preDone = make(chan struct{})
	h.goAsync(func() {
		defer close(c.preDone) // the accept waits for it: Meta must see pre_accept first
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.wa.PreAccept(ctx, c.pnid, c.id, answer); err != nil {
			h.log.Warn("WhatsApp: pre_accept failed", "call", c.id, "err", err)
			s.Do(func() {
				s.Record("whatsapp.error", c.leg, map[string]any{"action": "pre_accept", "error": err.Error()})
			})
		}
	})
	if d := num.AcceptTimeout; d > 0 {
		h.after(s, d, func() { h.waAccept(s, "timeout") })
	}
	h.routeSession(s, tg)
}

// gate keeps a track from sending before open is set: Meta counts the first
// media packet as the answer.
func gate(t *leg.Track, open *atomic.Bool) {
	if t == nil {
		return
	}
	in, dtmf := t.In, t.InDTMF
	t.In = leg.WriterFunc(func(p []byte) error {
		if !open.Load() {
			return nil
		}
		return in.WriteRTP(p)
	})
	if dtmf != nil {
		t.InDTMF = leg.WriterFunc(func(p []byte) error {
			if !open.Load() {
				return nil
			}
			return dtmf.WriteRTP(p)
		})
	}
}

// waProgress follows the session for its WhatsApp call: the session turning
// active (an agent, or the ACD, answered) is the accept (session goroutine).
func (h *Hub) waProgress(s *session.Session) {
	t := st(s)
	if t.wa == nil || s.State() != session.StateActive {
		return
	}
	if t.wa.ring != nil {
		close(t.wa.ring)
		t.wa.ring = nil
	}
	h.waAccept(s, "answered")
	h.waHold(s)
}

// waHold keeps media flowing to Meta while the agent holds the call (the
// customer's leg leaves the audio plan): Meta drops a call that receives
// nothing for 30 s. The WhatsApp leg gets silence until the call resumes.
// (SIP signalling: the leg itself sends silence whenever the bridge is idle.)
func (h *Hub) waHold(s *session.Session) {
	c := st(s).wa
	if c == nil || (c.sip != nil && !waSIPDTLS(c.sip)) {
		return
	}
	held := s.MediaHeld()
	switch {
	case held && c.hold == nil && c.accepted.Load():
		l := s.Leg(c.leg)
		if l == nil {
			return
		}
		stop, tr := make(chan struct{}), l.EP.Audio()
		c.hold = stop
		h.goAsync(func() { silence(tr, stop, s.Done()) })
	case !held && c.hold != nil:
		close(c.hold)
		c.hold = nil
	}
}

// waAccept sends accept with the pre_accept's answer, once (session goroutine).
func (h *Hub) waAccept(s *session.Session, why string) {
	t := st(s)
	c := t.wa
	if c == nil || c.acceptSent || c.metaEnded.Load() || s.Leg(c.leg) == nil {
		return
	}
	c.acceptSent = true
	if c.sip != nil {
		sc := c.sip
		h.goAsync(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
			defer cancel()
			err := sc.Answer(ctx)
			s.Do(func() {
				if err != nil {
					s.Record("whatsapp.error", c.leg, map[string]any{"action": "answer", "error": err.Error()})
					h.end(s, 500, "WhatsApp answer failed")
					return
				}
				c.accepted.Store(true)
				s.Record("whatsapp.accepted", c.leg, map[string]any{"why": why, "signalling": "sip"})
				s.Replan()
			})
		})
		return
	}
	opaque := s.ID
	h.goAsync(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.preDone != nil {
			select {
			case <-c.preDone:
			case <-ctx.Done():
			}
		}
		err := h.wa.Accept(ctx, c.pnid, c.id, c.answer, opaque)
		s.Do(func() {
			if err != nil {
				s.Record("whatsapp.error", c.leg, map[string]any{"action": "accept", "error": err.Error()})
				h.end(s, 500, "WhatsApp accept failed")
				return
			}
			c.accepted.Store(true)
			s.Record("whatsapp.accepted", c.leg, map[string]any{"why": why})
			if l := s.Leg(c.leg); l != nil && s.State() != session.StateActive && c.ring == nil {
				// accepted before anybody answered (accept_timeout): the
				// caller hears ringback while queued — and Meta, which
				// drops a call without media for 20 s, gets packets
				ring, tr := make(chan struct{}), l.EP.Audio()
				c.ring = ring
				h.goAsync(func() { ringback(tr, ring, s.Done()) })
			}
		})
	})
}

// waCompanion: the customer of a WhatsApp call opened the video link: the
// browser joins with its camera, in an audio group of its own, so that the
// voice stays on WhatsApp (session goroutine).
func (h *Hub) waCompanion(s *session.Session, c *conn, sdpOffer string) error {
	t := st(s)
	if t.wa.browser != "" && s.Leg(t.wa.browser) != nil {
		return fmt.Errorf("%w: the customer is already in a browser", errConflict)
	}
	vcodecs := []string{"VP8", "H264"}
	for _, l := range s.Legs() {
		if v := l.EP.Video(); v != nil && v.Send().Name != "" && (l.Role == session.RoleAgent || l.Role == session.RoleViewer) {
			vcodecs = []string{v.Send().Name}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, answer, err := h.rtc.AcceptOffer(ctx, sdpOffer, rtc.Options{AudioPrefs: []string{"opus", "PCMU", "PCMA"}, Video: h.cfg.WebRTC.Video, VideoCodecs: vcodecs})
	if err != nil {
		return fmt.Errorf("%w: offer: %v", errBadRequest, err)
	}
	t.customer = c
	t.wa.browser = rl.ID
	c.track(rl.ID, s.ID)
	c.send(answerMsg{Type: "answer", Leg: rl.ID, Session: s.ID, SDP: answer})
	name := s.Info().Customer.Name
	if err := s.AddLeg(&session.Leg{ID: rl.ID, Role: session.RoleCustomer, Party: name, Name: name, Group: "browser:" + rl.ID, EP: h.browserEP(s, rl, nil)}); err != nil {
		_ = rl.Close()
		return err
	}
	s.Record("session.video_added", rl.ID, map[string]any{"voice": "whatsapp"})
	h.notifyCustomer(s)
	h.notifyAgents(s)
	return nil
}

// waBrowserGone: the companion browser left; the WhatsApp voice goes on.
func (h *Hub) waBrowserGone(s *session.Session, legID string) bool {
	t := st(s)
	if t.wa == nil || legID != t.wa.browser || t.custLeg == legID {
		return false
	}
	t.wa.browser, t.customer = "", nil
	s.Record("session.video_ended", legID, nil)
	h.notifyAgents(s)
	return true
}

// waMoveAudio: the customer takes the voice to the browser; the WhatsApp
// call is terminated once the browser's audio flows (session goroutine).
func (h *Hub) waMoveAudio(s *session.Session) error {
	t := st(s)
	c := t.wa
	wl := s.Leg(c.leg)
	if wl == nil || c.browser == "" || s.Leg(c.browser) == nil {
		return fmt.Errorf("%w: there is no WhatsApp call to move from", errConflict)
	}
	if err := s.SetGroup(c.browser, wl.Group); err != nil {
		return err
	}
	s.Record("audio.moving", c.browser, map[string]any{"from": c.leg})
	h.releasePhoneWhenFlowing(s, c.browser, c.leg, 0)
	return nil
}

// whatsappWebhook is the Meta app's webhook (GET verification, POST
// deliveries): the WhatsApp side verifies, forwards and dispatches.
func (h *Hub) whatsappWebhook(w http.ResponseWriter, r *http.Request) {
	if h.wa == nil {
		writeErr(w, http.StatusNotFound, "not_found", "WhatsApp is not configured (whatsapp: or sessions.notify.whatsapp)")
		return
	}
	h.wa.ServeHTTP(w, r)
}

// apiWhatsAppDeadLetters lists the deliveries the chat platform never took.
func (h *Hub) apiWhatsAppDeadLetters(w http.ResponseWriter, r *http.Request) {
	if h.wa == nil {
		writeErr(w, http.StatusNotFound, "not_found", "WhatsApp is not configured")
		return
	}
	h.wa.ServeDeadLetters(w, r)
}

// waOr serves the older status-webhook path with the WhatsApp side when it
// runs (same verification, and the chat platform gets its copy), else with f.
func (h *Hub) waOr(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.wa != nil {
			h.wa.ServeHTTP(w, r)
			return
		}
		f(w, r)
	}
}

// waIncomingSIP: Meta's INVITE for a user-initiated call on a number with
// SIP signalling (a provider: whatsapp trunk). The INVITE is the customer
// leg; its 200 OK is sent when an agent (or the ACD) answers.
func (h *Hub) waIncomingSIP(sc *sipua.Call, w *sipua.WhatsAppInfo) {
	if h.isDraining() {
		sc.Reject(503, "Service Unavailable")
		return
	}
	entry := "whatsapp"
	if num, ok := h.waNumberFor(w); ok && num.Entry != "" {
		entry = num.Entry
	}
	user := strings.TrimPrefix(w.User, "+")
	cust := session.Customer{Name: w.Username, Context: map[string]string{"channel": "whatsapp", "whatsapp": user}}
	if cust.Name == "" {
		cust.Name = sc.FromName
	}
	if strings.Trim(user, "0123456789") == "" && user != "" {
		cust.Contact = "+" + user
	}
	for k, v := range map[string]string{"cta_payload": w.CTAPayload, "deeplink_payload": w.DeeplinkPayload, "country": w.Country} {
		if v != "" {
			cust.Context[k] = v
		}
	}
	s, err := h.newSession("", session.ModeWhatsApp, entry, cust)
	if err != nil {
		sc.Reject(503, "Service Unavailable")
		return
	}
	s.Do(func() {
		t := st(s)
		c := &waCall{id: w.WACID, user: user, leg: sc.ID, sip: sc}
		t.wa = c
		s.Record("whatsapp.call", sc.ID, map[string]any{"direction": "user_initiated", "signalling": "sip", "number": w.Business})
		tg, rerr := h.route(entry, s.Info().Customer, time.Now())
		if rerr != nil {
			sc.Reject(480, "Temporarily Unavailable")
			h.end(s, 480, "No route (outside hours)")
			return
		}
		name := s.Info().Customer.Name
		var ep session.Endpoint = &sipEP{c: sc, h: h}
		if waSIPDTLS(sc) { // srtp: dtls — the media is a WebRTC leg, made when answered (whatsapp_sipdtls.go)
			ep = h.waSIPMediaAnswer(s, sc, c)
		}
		if err := s.AddLeg(&session.Leg{ID: sc.ID, Role: session.RoleCustomer, Party: "whatsapp:" + user, Name: name, EP: ep}); err != nil {
			sc.Reject(500, "Server Internal Error")
			return
		}
		t.custLeg = sc.ID
		if !waSIPDTLS(sc) {
			h.watchSIP(s, sc) // the WebRTC leg's figures are recorded when it closes
		}
		h.waSIPDuration(s, sc)
		sc.Ringing()
		h.routeSession(s, tg)
	})
}

// waSIPDuration puts the duration Meta's BYE states (x-wa-meta-call-duration,
// what Meta bills) in the call record, as the Graph terminate webhook's is.
func (h *Hub) waSIPDuration(s *session.Session, sc *sipua.Call) {
	h.goAsync(func() {
		<-sc.Done()
		w := sc.WhatsApp()
		if w == nil || w.Duration < 0 {
			return // the hub ended the call, or Meta's BYE said nothing
		}
		data := map[string]any{"status": "completed", "duration_s": w.Duration, "signalling": "sip"}
		if !s.Do(func() { s.Record("whatsapp.terminated", sc.ID, data) }) {
			h.rec.persist(s.Info(), session.Event{At: time.Now().UTC(), Type: "whatsapp.terminated", Leg: sc.ID, Data: data})
		}
	})
}

// waNumberFor finds the configured number of a SIP WhatsApp call.
// Meta's INVITE names the number by its Request-URI (the trunk's number);
// x-wa-meta-phone-number-id, when present, wins.
func (h *Hub) waNumberFor(w *sipua.WhatsAppInfo) (config.WhatsAppNumber, bool) {
	if w.PhoneNumberID != "" && h.wa != nil {
		if n, ok := h.wa.Number(w.PhoneNumberID); ok {
			return n, true
		}
	}
	if h.cfg.WhatsApp != nil && w.Business != "" {
		for _, n := range h.cfg.WhatsApp.WithDefaults().Numbers {
			if strings.TrimPrefix(n.Number, "+") == strings.TrimPrefix(w.Business, "+") {
				return n, true
			}
		}
	}
	return config.WhatsAppNumber{}, false
}

// linkNotify is the link-delivery configuration: sessions.notify, whose
// WhatsApp sender defaults to the first number of the whatsapp: section
// (the video link of a WhatsApp call goes to the same chat).
func linkNotify(c *config.Config) config.Notify {
	n := c.Sessions.Notify
	if n.WhatsApp != nil || c.WhatsApp == nil {
		return n
	}
	w := c.WhatsApp.WithDefaults()
	for _, num := range w.Numbers {
		if num.AccessToken != "" {
			n.WhatsApp = &config.WhatsAppConfig{BaseURL: w.BaseURL, Version: w.Version, PhoneNumberID: num.PhoneNumberID,
				AccessToken: num.AccessToken, AppSecret: w.AppSecret, VerifyToken: w.VerifyToken}
			break
		}
	}
	return n
}

// apiWhatsAppSettings: the calling settings of the business numbers (GET
// shows Meta's, the configuration's and the diff; POST pushes).
func (h *Hub) apiWhatsAppSettings(w http.ResponseWriter, r *http.Request) {
	if h.wa == nil {
		writeErr(w, http.StatusNotFound, "not_found", "WhatsApp is not configured")
		return
	}
	h.wa.ServeSettings(w, r, h.cfg)
}
