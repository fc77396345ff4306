package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/whatsapp"
)

// Business-initiated WhatsApp calls: the business calls a WhatsApp user.
// Meta allows it only with the user's call permission, so the session may
// first wait for a permission reply. The agent is rung first; the WhatsApp
// call is placed once an agent has taken the session, so the customer who
// answers finds somebody there.

// WhatsAppCaller is what business-initiated calls need of the WhatsApp side.
type WhatsAppCaller interface {
	Connect(ctx context.Context, pnid, to, sdpOffer, opaque string) (string, error)
	Permission(ctx context.Context, pnid, user string) (whatsapp.Permission, error)
	RequestPermission(ctx context.Context, pnid, user, body string) error
	SendCallButton(ctx context.Context, pnid, user, body, payload string) error
}

// waDial is a session's business-initiated call still to be placed.
type waDial struct {
	pnid, user string
	permission bool // waiting for the user's call permission
}

// waCallReq is the whatsapp object of POST /v1/sessions (mode whatsapp).
type waCallReq struct {
	PhoneNumberID string `json:"phone_number_id"` // the business number (default: the first with calling)
	Message       string `json:"message"`         // the permission request's text
	CallButton    *bool  `json:"call_button"`     // also send a "call us" button (default true)
}

// waCallingNumber picks the business number for a business-initiated call.
func (h *Hub) waCallingNumber(pnid string) (string, error) {
	graph := func(n config.WhatsAppNumber) bool { return n.CallingEnabled() }
	if pnid != "" {
		n, ok := h.wa.Number(pnid)
		if !ok || !graph(n) {
			return "", fmt.Errorf("%w: %s is not a WhatsApp number with calling here", errBadRequest, cleanText(pnid))
		}
		return pnid, nil
	}
	if c, ok := h.wa.(interface{ Config() config.WhatsApp }); ok {
		for _, n := range c.Config().Numbers {
			if graph(n) {
				return n.PhoneNumberID, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no WhatsApp number with calling is configured", errBadRequest)
}

// apiWhatsAppCall: POST /v1/sessions with mode whatsapp — an agent (or the
// chat platform) calls a WhatsApp user.
func (h *Hub) apiWhatsAppCall(w http.ResponseWriter, r *http.Request, req createSessionReq) {
	if h.wa == nil {
		writeErr(w, http.StatusConflict, "conflict", "WhatsApp calling is not configured (whatsapp.numbers)")
		return
	}
	user, err := whatsapp.ParseUser(req.Customer.Contact)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", "customer.contact must be the WhatsApp user's number (+E.164) or user id")
		return
	}
	pnid, err := h.waCallingNumber(req.WhatsApp.PhoneNumberID)
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	if req.Target == "" && req.AgentID != "" {
		req.Target = "agent:" + req.AgentID
	}
	button := req.WhatsApp.CallButton == nil || *req.WhatsApp.CallButton
	s, perm, err := h.startBusinessCall(r.Context(), pnid, user, req.Entry, req.Customer, req.Target, req.WhatsApp.Message, button)
	var nc *waNotAllowed
	switch {
	case errors.As(err, &nc):
		b := map[string]any{"code": "whatsapp_not_allowed", "message": "WhatsApp does not allow this call now: " + nc.p.Reason, "permission": nc.p.Status}
		if !nc.p.NextCallAt.IsZero() {
			b["next_call_at"] = nc.p.NextCallAt.UTC()
		}
		if !nc.p.NextRequestAt.IsZero() {
			b["next_request_at"] = nc.p.NextRequestAt.UTC()
		}
		writeJSON(w, http.StatusConflict, map[string]any{"error": b})
		return
	case err != nil:
		h.writeWAErr(w, err)
		return
	}
	in := s.Info()
	writeJSON(w, http.StatusCreated, map[string]any{"id": in.ID, "mode": in.Mode, "state": in.State, "customer": in.Customer,
		"whatsapp": map[string]any{"permission": perm, "phone_number_id": pnid}})
}

// waNotAllowed: Meta's limits or the user's permission forbid the call now.
type waNotAllowed struct{ p whatsapp.Permission }

func (e *waNotAllowed) Error() string { return "WhatsApp does not allow this call now: " + e.p.Reason }

// startBusinessCall creates the session of a business-initiated call: it
// asks for the user's permission when there is none (and sends a "call us"
// button), or routes at once. perm is the permission as the API reports it.
func (h *Hub) startBusinessCall(ctx context.Context, pnid, user, entry string, cust session.Customer, target, message string, button bool) (*session.Session, string, error) {
	caller, ok := h.wa.(WhatsAppCaller)
	if !ok {
		return nil, "", fmt.Errorf("%w: WhatsApp calling is not available", errUnavailableErr)
	}
	perm, err := caller.Permission(ctx, pnid, user)
	if err != nil {
		return nil, "", err
	}
	if !perm.CanCall && !perm.CanRequest {
		return nil, "", &waNotAllowed{perm}
	}
	if cust.Context == nil {
		cust.Context = map[string]string{}
	}
	cust.Context["channel"], cust.Context["whatsapp"] = "whatsapp", user
	if cust.Contact == "" && !whatsapp.IsBSUID(user) {
		cust.Contact = "+" + user
	}
	if n, ok := h.wa.Number(pnid); ok && (entry == "" || entry == "default") && n.Entry != "" {
		if _, ok := h.cfg.Sessions.EntryPoint(n.Entry); ok {
			entry = n.Entry
		}
	}
	s, err := h.newSession("", session.ModeWhatsApp, entry, cust)
	if err != nil {
		return nil, "", err
	}
	d := &waDial{pnid: pnid, user: user, permission: !perm.CanCall}
	s.Call(func() {
		st(s).waDial = d
		if target != "" {
			s.SetScoped("target", target)
		}
		s.Record("whatsapp.call", "", map[string]any{"direction": "business_initiated", "permission": perm.Status})
	})
	if !d.permission {
		h.waRoute(s)
		return s, perm.Status, nil
	}
	if message == "" {
		message = "May we call you on WhatsApp about your request?"
	}
	if err := caller.RequestPermission(ctx, pnid, user, message); err != nil {
		s.Do(func() { h.end(s, 403, "WhatsApp permission request failed") })
		return nil, "", err
	}
	s.Call(func() { // synchronous: the API's answer shows the state
		_ = s.SetState(session.StateWaiting, map[string]any{"for": "whatsapp_permission"})
		s.Record("whatsapp.permission_requested", "", nil)
	})
	if button {
		if err := caller.SendCallButton(ctx, pnid, user, "Or call us now on WhatsApp.", s.ID); err != nil {
			s.Do(func() { s.Record("whatsapp.error", "", map[string]any{"action": "call_button", "error": err.Error()}) })
		}
	}
	return s, "requested", nil
}

// waRoute sends a business-initiated session to its agent (or the entry
// point's routes); the call is placed when an agent takes it.
func (h *Hub) waRoute(s *session.Session) {
	s.Do(func() {
		if s.Ended() {
			return
		}
		to, _ := s.Scoped("target").(string)
		var tg target
		switch {
		case strings.HasPrefix(to, "agent:"):
			tg = target{agent: strings.TrimPrefix(to, "agent:")}
		case strings.HasPrefix(to, "queue:"):
			tg = target{queue: strings.TrimPrefix(to, "queue:")}
		default:
			var err error
			if tg, err = h.route(s.Info().Entry, s.Info().Customer, time.Now()); err != nil || tg.sip != "" {
				h.end(s, 480, "No agent route for the WhatsApp call")
				return
			}
		}
		h.routeSession(s, tg)
	})
}

// waPermissionReply: the user answered a permission request (or Meta
// granted one after the user's own call).
func (h *Hub) waPermissionReply(ev whatsapp.PermissionEvent) {
	for _, in := range h.Sessions() {
		if in.Mode != session.ModeWhatsApp || in.Customer.Context["whatsapp"] != ev.User() {
			continue
		}
		s := h.Session(in.ID)
		if s == nil {
			continue
		}
		s.Do(func() {
			d := st(s).waDial
			if d == nil || !d.permission || s.Ended() {
				return
			}
			s.Record("whatsapp.permission", "", map[string]any{"accepted": ev.Accepted, "permanent": ev.Permanent, "source": ev.Source})
			if !ev.Accepted {
				h.end(s, 603, "Customer declined the call")
				return
			}
			d.permission = false
			h.waRoute(s)
		})
	}
}

// waPlace places the business-initiated call now that an agent has the
// session (session goroutine).
func (h *Hub) waPlace(s *session.Session) {
	t := st(s)
	d := t.waDial
	caller, ok := h.wa.(WhatsAppCaller)
	if d == nil || d.permission || t.wa != nil || !ok {
		return
	}
	t.waDial = nil
	if n, ok := h.wa.Number(d.pnid); ok && n.Signalling == "sip" {
		h.waPlaceSIP(s, d)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rl, offer, err := h.rtc.CreateOffer(ctx, rtc.Options{AudioPrefs: []string{"opus"}})
	if err != nil {
		h.end(s, 500, "WhatsApp offer failed")
		return
	}
	c := &waCall{pnid: d.pnid, user: d.user, leg: rl.ID, business: true}
	gate(rl.Audio(), &c.accepted)
	t.wa, t.custLeg = c, rl.ID
	ep := h.newWAEP(s, rl, c)
	name := s.Info().Customer.Name
	if err := s.AddLeg(&session.Leg{ID: rl.ID, Role: session.RoleCustomer, Party: "whatsapp:" + d.user, Name: name, EP: ep}); err != nil {
		_ = rl.Close()
		return
	}
	_ = s.SetState(session.StateRinging, map[string]any{"whatsapp": "calling"})
	h.notifyAgents(s)
	h.goAsync(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		id, err := caller.Connect(ctx, d.pnid, "+"+d.user, offer, s.ID)
		late := err == nil // the session may have ended while connect was on its way
		s.Call(func() {    // synchronous: late is read below
			if err != nil {
				c.metaEnded.Store(true) // nothing to terminate
				s.Record("whatsapp.error", rl.ID, map[string]any{"action": "connect", "error": err.Error()})
				h.end(s, waErrCode(err), "WhatsApp call failed: "+err.Error())
				return
			}
			c.id = id
			if c.metaEnded.Load() {
				return // the hub ended the call meanwhile (waEnd had no id): terminated below
			}
			late = false
			h.waCalls.put(id, s.ID)
			s.Record("whatsapp.connecting", rl.ID, map[string]any{"call": id})
		})
		if late {
			tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer tcancel()
			if err := h.wa.Terminate(tctx, d.pnid, id); err != nil {
				h.log.Warn("WhatsApp: ending a call placed after its session ended failed", "call", id, "err", err)
			}
		}
	})
}

// waBusinessAnswer: Meta's SDP answer for a business-initiated call.
func (h *Hub) waBusinessAnswer(ev whatsapp.CallEvent) {
	s := h.Session(h.waCalls.get(ev.CallID))
	if s == nil && ev.BizOpaque != "" {
		s = h.Session(ev.BizOpaque) // the answer came before Connect's own reply
	}
	if s == nil {
		h.log.Info("WhatsApp: an answer for a call the hub does not have", "call", ev.CallID)
		return
	}
	s.Do(func() {
		t := st(s)
		c := t.wa
		if c == nil || !c.business || s.Ended() {
			return
		}
		if c.id == "" {
			c.id = ev.CallID
			h.waCalls.put(ev.CallID, s.ID)
		}
		ep, ok := s.Leg(c.leg).EP.(*waEP)
		if !ok {
			return
		}
		if err := ep.l.SetAnswer(ev.SDP); err != nil {
			s.Record("whatsapp.error", c.leg, map[string]any{"action": "answer", "error": err.Error()})
			h.end(s, 488, "Not Acceptable Here")
			return
		}
		c.acceptSent = true // from now on the end is a terminate
		c.applied = true
		// Meta's answer comes when the user's phone starts ringing: media
		// is set up, but the call is answered only with status ACCEPTED
		s.Record("whatsapp.answered", c.leg, nil)
		h.waBusinessActive(s)
	})
}

// waBusinessActive: a business-initiated call is answered once Meta's SDP
// answer is applied and the user picked up (status ACCEPTED; Meta does not
// guarantee the order of the two webhooks). Media to Meta starts then: what
// the agent says while the phone rings would be lost (session goroutine).
func (h *Hub) waBusinessActive(s *session.Session) {
	t := st(s)
	c := t.wa
	if c == nil || !c.business || c.sip != nil || !c.applied || !c.answered || c.accepted.Load() || s.Ended() {
		return
	}
	c.accepted.Store(true)
	if s.State() != session.StateActive {
		h.m.SessionSetup(time.Since(t.created))
	}
	_ = s.SetState(session.StateActive, map[string]any{"customer": "whatsapp"})
	h.notifyAgents(s)
}

// waErrCode maps a Graph error to the session's end cause.
func waErrCode(err error) int {
	var ge *whatsapp.GraphError
	if errors.As(err, &ge) {
		switch ge.Code {
		case 138006, 138009, 138012, 138013:
			return 403
		case 138002, 138005, 130429:
			return 503
		case 138003:
			return 486
		}
	}
	return 502
}

// writeWAErr answers an API request that Meta refused, with Meta's code.
func (h *Hub) writeWAErr(w http.ResponseWriter, err error) {
	var ge *whatsapp.GraphError
	if errors.As(err, &ge) {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": map[string]any{
			"code": "whatsapp_refused", "message": err.Error(), "meta_code": ge.Code}})
		return
	}
	h.writeHubErr(w, err)
}

// waAgentCall: the console's "invite" with channel whatsapp-call — the
// agent calls a WhatsApp user; their console rings when the call can be
// placed (at once, or after the user's permission).
func (h *Hub) waAgentCall(c *conn, m inFrame) error {
	if h.wa == nil {
		return fmt.Errorf("%w: WhatsApp calling is not configured", errBadRequest)
	}
	user, err := whatsapp.ParseUser(h.e164(strings.TrimSpace(m.To)))
	if err != nil {
		return fmt.Errorf("%w: to must be the WhatsApp user's number (+E.164)", errBadRequest)
	}
	pnid, err := h.waCallingNumber("")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, perm, err := h.startBusinessCall(ctx, pnid, user, "console", session.Customer{Name: m.Name}, "agent:"+c.identity, "", true)
	var nc *waNotAllowed
	if errors.As(err, &nc) {
		return fmt.Errorf("%w: %v", errConflict, err)
	}
	if err != nil {
		return fmt.Errorf("%w: WhatsApp refused: %v", errUnavailableErr, err)
	}
	c.send(invitedMsg{Type: "invited", Session: s.ID, Channel: "whatsapp-call", To: "+" + user, Delivery: perm})
	return nil
}

// waPlaceSIP places a business-initiated call on a number with SIP
// signalling: an INVITE to Meta through the provider: whatsapp trunk
// (session goroutine).
func (h *Hub) waPlaceSIP(s *session.Session, d *waDial) {
	t := st(s)
	tr, to, err := h.ua.WhatsAppTarget("", "+"+strings.TrimPrefix(d.user, "+"))
	if err != nil {
		h.end(s, 500, "No WhatsApp SIP trunk: "+err.Error())
		return
	}
	if tr.SRTP == "dtls" {
		h.waPlaceSIPMedia(s, d, tr, to) // WebRTC media (whatsapp_sipdtls.go)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var legID string
	c := &waCall{pnid: d.pnid, user: d.user, business: true}
	sc, err := h.ua.Dial(ctx, sipua.DialOptions{Trunk: tr, To: to, Events: sipua.Events{
		OnState: func(ss sipua.State, code int, reason string) {
			s.Do(func() { h.waSIPProgress(s, legID, ss, code, reason) })
		},
		OnDTMF: func(rune) {},
	}})
	if err != nil {
		h.end(s, 502, "WhatsApp call failed: "+err.Error())
		return
	}
	legID, c.leg, c.sip = sc.ID, sc.ID, sc
	t.wa, t.custLeg = c, sc.ID
	c.acceptSent = true // the INVITE is the call: its end is a BYE or CANCEL
	name := s.Info().Customer.Name
	if err := s.AddLeg(&session.Leg{ID: sc.ID, Role: session.RoleCustomer, Party: "whatsapp:" + d.user, Name: name, EP: &sipEP{c: sc, h: h}}); err != nil {
		sc.Hangup(context.Background(), 500, "Session ended")
		return
	}
	h.watchSIP(s, sc)
	_ = s.SetState(session.StateRinging, map[string]any{"whatsapp": "calling", "signalling": "sip"})
	s.Record("sip.dialled", sc.ID, map[string]any{"to": to.String(), "trunk": tr.Name})
}

// waSIPProgress follows a business-initiated SIP call (session goroutine).
func (h *Hub) waSIPProgress(s *session.Session, legID string, ss sipua.State, code int, reason string) {
	if s.Ended() || s.Leg(legID) == nil {
		return
	}
	t := st(s)
	s.Record("sip.state", legID, map[string]any{"state": ss.String(), "code": code, "reason": reason})
	switch ss {
	case sipua.StateEarly, sipua.StateActive:
		s.Replan()
	}
	if ss != sipua.StateActive || t.wa == nil || t.wa.leg != legID || s.State() == session.StateActive {
		return
	}
	if c := st(s).wa; c != nil {
		if w := c.sip.WhatsApp(); w != nil && w.WACID != "" {
			c.id = w.WACID
		}
		c.accepted.Store(true)
	}
	h.m.SessionSetup(time.Since(t.created))
	_ = s.SetState(session.StateActive, map[string]any{"customer": "whatsapp"})
	h.notifyAgents(s)
}

// waCallFailed: a business-initiated SIP call ended before the user
// answered — the session ends with Meta's answer (486/603 declined, 480
// not answered, 403 no permission or limits), not as an abandon.
func (h *Hub) waCallFailed(s *session.Session, l *session.Leg) bool {
	t := st(s)
	if t.wa == nil || !t.wa.business || t.wa.sip == nil || l.ID != t.wa.leg || s.State() == session.StateActive {
		return false
	}
	code, reason := h.legCause(s, l, 480, "No answer")
	if ep, ok := l.EP.(*waSIPMediaEP); ok { // srtp: dtls (whatsapp_sipdtls.go): Meta's answer is the SIP call's
		code, reason = ep.cause(code, reason)
	}
	switch code {
	case 486, 600, 603:
		reason = "Customer declined"
	case 480, 408:
		reason = "No answer"
	}
	h.end(s, code, reason)
	return true
}
