package hub

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
)

// dialACD places the session's SIP leg toward an external ACD queue (or an
// overflow target). The customer's audio is bridged to it from the first
// early-media packet: announcements and music reach the customer.
func (h *Hub) dialACD(s *session.Session, to string, r config.Route) error {
	return h.dial(s, to, r, session.RoleACD, false)
}

// dialParty adds a telephone party (a transfer target or a conference
// participant) to the main audio group.
func (h *Hub) dialParty(s *session.Session, to string, role session.Role, replaceAgent bool) error {
	return h.dial(s, to, config.Route{}, role, replaceAgent)
}

func (h *Hub) dial(s *session.Session, to string, r config.Route, role session.Role, replaceAgent bool) error {
	_, err := h.dialWith(s, to, r, role, replaceAgent, "")
	return err
}

// dialWith dials and returns the new leg's id; uui, when set, replaces the
// session's own User-to-User (a REFER's embedded one that refers to this session).
func (h *Hub) dialWith(s *session.Session, to string, r config.Route, role session.Role, replaceAgent bool, uui string) (string, error) {
	t := st(s)
	trunk, uri, err := h.ua.Resolve(to)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	in := s.Info()
	if uui == "" {
		if uui, err = EncodeUUI(s.ID); err != nil {
			return "", err
		}
	}
	headers := []sip.Header{sip.NewHeader(HeaderUUI, uui), sip.NewHeader(HeaderSession, s.ID)}
	if role == session.RoleACD {
		headers = append(headers, ivACDHeaders(t)...)
	}
	if v := h.agentViewURL(s.ID); v != "" {
		headers = append(headers, sip.NewHeader("Call-Info", "<"+v+">;purpose=info"))
	}
	fromUser, fromName := r.FromUser, r.FromName
	if pool := h.pools[poolKey(r)]; len(pool) > 0 {
		if n := h.clis.take(s.ID, pool); n != "" {
			fromUser = n
		} else {
			h.log.Warn("caller-ID pool exhausted: this session's agent leg can only be correlated by its headers", "route", r.Name, "session", s.ID)
			s.Record("correlation.pool_exhausted", "", map[string]any{"route": r.Name, "numbers": len(pool)})
		}
	} else if n := h.clis.numberOf(s.ID); n != "" {
		fromUser = n // a transfer or a REFER keeps the session's pool number
	}
	if fromUser == "" && in.Mode == session.ModeWhatsApp && in.Customer.Contact != "" {
		fromUser = in.Customer.Contact // a WhatsApp caller: the ACD sees their number (+E.164)
	}
	if fromUser == "" {
		fromUser = trunk.FromUser
	}
	if fromUser == "" {
		fromUser = "web"
	}
	if fromName == "" {
		fromName = displayName(in.Customer.Name)
	}
	video, vcodec := false, ""
	if cl := s.Leg(t.custLeg); cl != nil && cl.EP.Video() != nil && t.iv == nil {
		// (an interpreter session's video goes from the deaf user to the
		// console directly; the ACD carries the interpreter's voice only)
		video, vcodec = true, cl.EP.Video().Send().Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var legID string
	opts := sipua.DialOptions{
		Trunk: trunk, To: uri, FromUser: fromUser, FromName: fromName, Headers: headers,
		Video: video, VideoCodec: vcodec,
		Events: sipua.Events{
			OnState: func(ss sipua.State, code int, reason string) {
				s.Do(func() { h.sipProgress(s, legID, role, replaceAgent, ss, code, reason) })
			},
			OnDTMF: func(d rune) {},
		},
	}
	if role == session.RoleACD {
		opts.Events.OnRefer = func(rf *sipua.Refer) { s.Do(func() { h.referred(s, legID, rf) }) }
	}
	sc, err := h.ua.Dial(ctx, opts)
	if err != nil {
		return "", err
	}
	legID = sc.ID
	l := &session.Leg{ID: sc.ID, Role: role, Party: uri.String(), EP: &sipEP{c: sc, h: h}}
	if err := s.AddLeg(l); err != nil {
		sc.Hangup(context.Background(), 500, "Session ended")
		return "", err
	}
	if role == session.RoleACD {
		h.ivACDLeg(s, sc.ID, r, to)
	}
	h.watchSIP(s, sc)
	s.Record("sip.dialled", sc.ID, map[string]any{"to": uri.String(), "trunk": trunk.Name, "uui": uui, "caller_id": fromUser})
	return sc.ID, nil
}

// referred: the ACD asked, with REFER, to move the customer's call to
// another target (session goroutine). Only trunk destinations are allowed —
// a REFER is no way around the toll-fraud rules — and the reference the
// REFER carries must be this session's (or absent: ours is sent).
func (h *Hub) referred(s *session.Session, legID string, rf *sipua.Refer) {
	t := st(s)
	if s.Ended() || s.Leg(legID) == nil || legID != t.acdLeg {
		rf.Notify(481, "Call Does Not Exist")
		return
	}
	if t.refer != nil {
		rf.Notify(491, "Request Pending")
		return
	}
	uui := ""
	if v := rf.Header(HeaderUUI); v != "" {
		if id, err := ParseUUI(v); err == nil && id == s.ID {
			uui = v
		} else {
			s.Record("sip.refer_refused", legID, map[string]any{"target": rf.Target.String(), "why": "foreign User-to-User"})
			rf.Notify(403, "Forbidden")
			return
		}
	}
	target := rf.Target
	target.UriParams = nil
	target.Headers = nil
	s.Record("sip.referred", legID, map[string]any{"target": target.String()})
	// the old ACD leg leaves the customer's audio while the new one rings
	_ = s.SetGroup(legID, "referred:"+legID)
	newLeg, err := h.dialWith(s, target.String(), config.Route{Name: "refer"}, session.RoleACD, false, uui)
	if err != nil {
		_ = s.SetGroup(legID, "")
		t.acdLeg = legID
		s.Record("sip.refer_refused", legID, map[string]any{"target": target.String(), "why": err.Error()})
		rf.Notify(403, "Forbidden")
		return
	}
	t.refer = &referState{oldLeg: legID, newLeg: newLeg, r: rf}
}

// displayName keeps a customer-supplied name safe for a SIP display name.
func displayName(n string) string {
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return -1
		}
		return r
	}, n)
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// sipProgress follows an outgoing SIP leg (session goroutine).
func (h *Hub) sipProgress(s *session.Session, legID string, role session.Role, replaceAgent bool, ss sipua.State, code int, reason string) {
	if s.Ended() || s.Leg(legID) == nil {
		return
	}
	t := st(s)
	s.Record("sip.state", legID, map[string]any{"state": ss.String(), "code": code, "reason": reason})
	if ss == sipua.StateEarly || ss == sipua.StateActive {
		s.Replan() // the leg's codec is known now
	}
	switch ss {
	case sipua.StateRinging, sipua.StateEarly:
		if role == session.RoleACD && s.State() == session.StateRouting {
			_ = s.SetState(session.StateWaiting, map[string]any{"where": "acd"})
			h.notifyCustomer(s)
		}
	case sipua.StateActive:
		if rf := t.refer; rf != nil && rf.newLeg == legID {
			t.refer = nil
			// The referrer normally hangs up the old dialog once told; if it
			// has not by then, the hub does.
			rf.r.Notify(200, "OK", func() {
				s.Do(func() {
					if s.Leg(rf.oldLeg) != nil {
						_ = s.RemoveLeg(rf.oldLeg, 200, "Transferred")
					}
				})
			})
			s.Record("session.transferred", legID, map[string]any{"by": "refer"})
			h.notifyCustomer(s)
			return
		}
		switch {
		case role == session.RoleACD && t.iv != nil:
			// an interpreter session is active when an interpreter's
			// console joins (accept), not when the ACD answers its queue
		case role == session.RoleACD && s.State() != session.StateActive:
			h.m.SessionSetup(time.Since(t.created))
			_ = s.SetState(session.StateActive, map[string]any{"where": "acd"})
			h.notifyCustomer(s)
		case replaceAgent && t.agentLeg != "":
			old := s.Leg(t.agentLeg)
			_ = s.RemoveLeg(t.agentLeg, 200, "Transferred")
			if old != nil && t.queue != "" {
				_ = h.acd.CallEnded(old.Party)
			}
			t.agentLeg, t.agentID, t.transfer = "", "", ""
			s.Update(func(in *session.Info) { in.Agent = nil; in.Transfer = "" })
			s.Record("session.transferred", legID, nil)
			h.notifyCustomer(s)
		}
	}
}

// Incoming implements sipua.Handler. An INVITE that carries a SPLIT session
// reference (X-Split-Session or User-to-User) is the external ACD
// delivering a session to an agent endpoint hosted here: it joins that
// session. An INVITE to an agent whose console is connected becomes a new
// session (a phone customer reaching the agent through the ACD). Anything
// else goes to the softphone gateway.
func (h *Hub) Incoming(sc *sipua.Call) {
	if w := sc.WhatsApp(); w != nil {
		h.waIncomingSIP(sc, w) // Meta's INVITE: a WhatsApp user calls
		return
	}
	if n, ok := h.cfg.Interpreter.Number(sc.To.User); ok && !hasRef(sc) {
		h.ivIncoming(sc, n) // a hearing caller for a sign-language interpreter
		return
	}
	agent := sc.To.User
	if pfx := h.cfg.Sessions.ReversePrefix; pfx != "" && strings.HasPrefix(agent, pfx) && len(agent) > len(pfx) {
		if h.isDraining() {
			sc.Reject(503, "Service Unavailable")
			return
		}
		h.reverseFromPhone(sc, strings.TrimPrefix(agent, pfx))
		return
	}
	sid, correlated := sessionRef(sc.Headers)
	by := "header"
	if !correlated {
		sid, correlated = h.clis.lookup(sc.From.User)
		by = "caller_id"
	}
	if !correlated {
		here := h.consolesFor(agent, "") > 0
		elsewhere := !here && h.onlyElsewhere(agent)
		if !here && !elsewhere {
			if h.fallback != nil {
				h.fallback.Incoming(sc)
				return
			}
			sc.Reject(404, "Not Found")
			return
		}
		if h.isDraining() {
			sc.Reject(503, "Service Unavailable")
			return
		}
		name := sc.FromName
		s, err := h.newSession("", session.ModeForward, "sip", session.Customer{Name: name, Contact: sc.From.User})
		if err != nil {
			sc.Reject(503, "Service Unavailable")
			return
		}
		s.Do(func() {
			if elsewhere {
				h.acdDeliveredRemote(s, sc, agent) // the agent's console is on another node
				return
			}
			h.acdDelivered(s, sc, agent)
		})
		return
	}
	s := h.Session(sid)
	if s == nil && h.redirectSIP(sc, sid) {
		return // another node hosts it: 302 there
	}
	if s == nil {
		code, reason := 404, "Session Not Found"
		if rec, err := h.store.GetSession(context.Background(), sid); err == nil && !rec.EndedAt.IsZero() {
			code, reason = 410, "Session Ended"
		}
		h.log.Info("INVITE for a session that is not live", "session", sid, "code", code)
		sc.Reject(code, reason)
		return
	}
	remote := h.consolesFor(agent, sid) == 0
	if remote && (!agentIDRE.MatchString(agent) || !h.clustered() || !h.consolesElsewhere(agent)) {
		sc.Reject(480, "Agent Not Connected")
		return
	}
	if !s.Do(func() {
		if by == "caller_id" {
			s.Record("acd.correlated", sc.ID, map[string]any{"by": by, "caller_id": sc.From.User})
		}
		if remote {
			h.acdDeliveredRemote(s, sc, agent) // the agent's console is on another node, or nowhere
			return
		}
		h.acdDelivered(s, sc, agent)
	}) {
		sc.Reject(410, "Session Ended")
	}
}

// acdDelivered joins the ACD's INVITE to the session and rings the agent's
// console (session goroutine). The SIP leg and the console leg form their
// own audio group: the customer's audio keeps following the ACD path.
func (h *Hub) acdDelivered(s *session.Session, sc *sipua.Call, agent string) {
	group, ok := h.addAgentPath(s, sc, agent)
	if ok && h.ringAgentPath(s, sc, agent, group) {
		sc.Ringing()
	}
}

// ringAgentPath offers the agent path leg sc to agent's consoles (session
// goroutine); false, with the leg refused 480, when it cannot.
func (h *Hub) ringAgentPath(s *session.Session, sc *sipua.Call, agent, group string) bool {
	if err := h.offerToAgent(s, agent, "acd", sc, group); err != nil {
		h.log.Info("cannot ring agent console", "agent", agent, "err", err)
		_ = s.RemoveLeg(sc.ID, 480, "Temporarily Unavailable")
		return false
	}
	s.Record("acd.delivered", sc.ID, map[string]any{"agent": agent, "from": sc.From.String()})
	return true
}

// addAgentPath joins the ACD's INVITE to the session as the agent path leg
// (session goroutine); false when it was refused.
func (h *Hub) addAgentPath(s *session.Session, sc *sipua.Call, agent string) (group string, ok bool) {
	if s.Ended() {
		sc.Reject(410, "Session Ended")
		return "", false
	}
	group = "path:" + sc.ID
	l := &session.Leg{ID: sc.ID, Role: session.RoleAgentPath, Party: agent, Name: sc.From.String(), Group: group, EP: &sipEP{c: sc, h: h}}
	if err := s.AddLeg(l); err != nil {
		sc.Reject(500, "Server Internal Error")
		return "", false
	}
	h.watchSIP(s, sc)
	return group, true
}
