package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/httpjson"
	"github.com/split-hub/split/internal/interpreter"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/store"
)

// Register mounts the session REST API, the session WebSocket and the
// per-session event streams on mux. requireKey wraps handlers that need the
// API key.
func (h *Hub) Register(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
	k := func(f http.HandlerFunc) http.Handler { return requireKey(f) }
	mux.HandleFunc("GET /v1/sessions/ws", h.serveWS)
	mux.Handle("POST /v1/sessions", k(h.apiCreateSession))
	mux.Handle("GET /v1/sessions", k(h.apiListSessions))
	mux.Handle("GET /v1/sessions/{id}", k(h.atOwner(h.apiGetSession)))
	mux.Handle("DELETE /v1/sessions/{id}", k(h.atOwner(h.apiEndSession)))
	mux.Handle("POST /v1/sessions/{id}/transfer", k(h.atOwner(h.apiTransfer)))
	mux.Handle("POST /v1/sessions/{id}/participants", k(h.atOwner(h.apiAddParticipant)))
	mux.Handle("DELETE /v1/sessions/{id}/participants/{participant}", k(h.atOwner(h.apiRemoveParticipant)))
	mux.Handle("GET /v1/sessions/{id}/events", k(h.apiEvents))
	mux.Handle("POST /v1/sessions/{id}/links", k(h.atOwner(h.apiCreateLink)))
	mux.HandleFunc("POST /v1/join", h.apiJoin)
	mux.HandleFunc("POST /v1/notify/twilio", h.twilioStatus)
	mux.HandleFunc("GET /v1/notify/whatsapp", h.waOr(h.whatsappVerify))
	mux.HandleFunc("POST /v1/notify/whatsapp", h.waOr(h.whatsappStatus))
	mux.HandleFunc("GET /v1/whatsapp/webhook", h.whatsappWebhook)
	mux.HandleFunc("POST /v1/whatsapp/webhook", h.whatsappWebhook)
	mux.Handle("GET /v1/whatsapp/dead-letters", k(h.apiWhatsAppDeadLetters))
	mux.Handle("GET /v1/whatsapp/settings", k(h.apiWhatsAppSettings))
	mux.Handle("POST /v1/whatsapp/settings", k(h.apiWhatsAppSettings))
	mux.HandleFunc("GET /j/{token}", h.serveJoinPage)
	mux.HandleFunc("GET /i18n/catalog.json", h.serveCatalog)
	mux.Handle("POST /v1/appointments", k(h.apiCreateAppointment))
	mux.Handle("GET /v1/appointments", k(h.apiListAppointments))
	mux.Handle("GET /v1/appointments/{id}", k(h.apiGetAppointment))
	mux.Handle("PATCH /v1/appointments/{id}", k(h.apiRescheduleAppointment))
	mux.Handle("DELETE /v1/appointments/{id}", k(h.apiCancelAppointment))
	mux.Handle("GET /v1/queues", k(h.apiQueues))
	mux.Handle("GET /v1/records", k(h.apiRecords))
	mux.Handle("GET /v1/wallboard", k(h.apiWallboard))
	mux.Handle("GET /v1/wallboard/events", k(h.apiWallboardEvents))
	mux.Handle("GET /v1/nodes", k(h.apiNodes))
	mux.Handle("GET /v1/agents", k(h.apiAgents))
	mux.Handle("POST /v1/agents", k(h.apiPutAgent))
	mux.Handle("DELETE /v1/agents/{id}", k(h.apiDeleteAgent))
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Error(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// clientErrors are the errors whose text is meant for the client.
var clientErrors = []error{errBadRequest, errConflict, errNotFoundErr, errUnavailableErr, errForbidden, errUnavailable, errNotFound}

// writeHubErr maps a hub error to an HTTP status. Anything that is not a
// client error (a store or SIP stack failure) is a 500 whose details go to
// the log, not to the client.
func (h *Hub) writeHubErr(w http.ResponseWriter, err error) {
	known := false
	for _, e := range clientErrors {
		known = known || errors.Is(err, e)
	}
	if !known {
		h.internalErr(w, "request", err)
		return
	}
	code := errCode(err)
	status := map[string]int{"bad_request": 400, "conflict": 409, "not_found": 404, "unavailable": 503, "forbidden": 403}[code]
	if status == 0 {
		status = 400
	}
	writeErr(w, status, code, err.Error())
}

// internalErr answers 500 without the error's text (it may hold the
// store's internals) and logs it.
func (h *Hub) internalErr(w http.ResponseWriter, what string, err error) {
	h.log.Error("http: "+what+" failed", "err", err)
	writeErr(w, http.StatusInternalServerError, "internal", "internal error (details are in the hub's log)")
}

// decodeJSON reads a request body (httpjson.Decode: UTF-8, no control
// characters, bounded strings, no unknown fields) or answers 400.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := httpjson.Decode(w, r, v, 64<<10); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, httpjson.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeErr(w, status, "bad_request", err.Error())
		return false
	}
	return true
}

// sessionID reads the {id} of a session path, or answers 404.
func sessionID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !uuidRE.MatchString(id) {
		writeErr(w, http.StatusNotFound, "not_found", "no such session (a session id is a UUID)")
		return "", false
	}
	return id, true
}

// cleanText is client input fit to quote (%q) in an error message: at most
// 64 bytes of it.
func cleanText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (h *Hub) clientAddr(r *http.Request) string {
	if a, ok := h.relayedFrom(r); ok {
		return a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sessionOverGrace is how long a socket bound to a session stays open after
// the session has ended: time for its last frames ("ended") to go out.
const sessionOverGrace = 2 * time.Second

// serveWS authenticates a session socket before the upgrade: agent tokens
// for agents that exist, customer and viewer tokens for a live session,
// nothing else (docs/security.md, "Tokens and what they reach").
func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	if h.isDraining() {
		writeErr(w, http.StatusServiceUnavailable, "unavailable", "hub is shutting down")
		return
	}
	q := r.URL.Query()
	p := Peer{Addr: h.clientAddr(r)}
	var bound *session.Session
	if tok := q.Get("token"); tok != "" {
		c, err := h.signer.Verify(tok)
		if err != nil {
			msg := "invalid token"
			if errors.Is(err, auth.ErrExpired) {
				msg = "token expired"
			}
			writeErr(w, http.StatusUnauthorized, "unauthorized", msg)
			return
		}
		switch c.Role {
		case auth.RoleAgent:
			ok, err := h.KnownAgent(r.Context(), c.Identity)
			if err != nil {
				h.log.Error("session socket: agent lookup", "err", err)
				writeErr(w, http.StatusServiceUnavailable, "unavailable", "cannot check the agent now; try again")
				return
			}
			if !ok {
				writeErr(w, http.StatusForbidden, "forbidden", "this agent does not exist (any more)")
				return
			}
			p.Role, p.Identity = roleAgent, c.Identity
			if sid := q.Get("session"); sid != "" {
				// the socket for one call, after a remote_offer (remote.go)
				var done bool
				if bound, done = h.boundSocket(w, r, sid); done {
					return
				}
				p.Session = sid
			}
		case auth.RoleDeafUser:
			if !h.cfg.Interpreter.User(c.Identity) {
				writeErr(w, http.StatusForbidden, "forbidden", "this deaf user is not registered (any more)")
				return
			}
			p.Role, p.Identity, p.DeafUser = roleCustomer, c.Identity, true
			if sid := q.Get("session"); sid != "" {
				// the page's socket for one call, after a remote_incoming
				var done bool
				if bound, done = h.boundSocket(w, r, sid); done {
					return
				}
				p.Session = sid
			}
		case auth.RoleViewer, auth.RoleCustomer:
			if bound = h.Session(c.Session); bound == nil {
				if n, ok := h.owner(r.Context(), c.Session); ok && h.relayTo(w, r, n) {
					return // the session lives on another node: its socket too
				}
				writeErr(w, http.StatusNotFound, "not_found", "the session is over or does not exist")
				return
			}
			p.Role, p.Identity, p.Session = c.Role, c.Identity, c.Session
		default:
			writeErr(w, http.StatusForbidden, "forbidden", "a "+c.Role+" token cannot use the session protocol")
			return
		}
	} else {
		entry := q.Get("entry")
		ep, ok := h.cfg.Sessions.EntryPoint(entry)
		if !ok {
			writeErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("unknown entry point %q", cleanText(entry)))
			return
		}
		if !ep.Public {
			writeErr(w, http.StatusUnauthorized, "unauthorized", "this entry point needs a join token")
			return
		}
		p.Role, p.Identity, p.Entry = roleCustomer, "customer", entry
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if bound != nil {
		// The token is good for this session only: once it is over, so is
		// the socket.
		done := make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-ctx.Done():
				return
			case <-bound.Stopped():
			}
			t := time.NewTimer(sessionOverGrace)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
				cancel()
			}
		}()
		defer func() { <-done }()
	}
	h.Serve(ctx, ws, p)
}

// boundSocket resolves the session of a socket for one call (?session=):
// the live session here, or done when the request was relayed to the
// session's owner or answered with an error.
func (h *Hub) boundSocket(w http.ResponseWriter, r *http.Request, sid string) (s *session.Session, done bool) {
	if !uuidRE.MatchString(sid) {
		writeErr(w, http.StatusNotFound, "not_found", "no such session (a session id is a UUID)")
		return nil, true
	}
	if s = h.Session(sid); s != nil {
		return s, false
	}
	if n, ok := h.owner(r.Context(), sid); ok && h.relayTo(w, r, n) {
		return nil, true
	}
	writeErr(w, http.StatusNotFound, "not_found", "the session is over or does not exist")
	return nil, true
}

// KnownAgent reports whether agent id exists (sessions.agents or POST
// /v1/agents). Agent tokens reach nothing for an agent that does not.
func (h *Hub) KnownAgent(ctx context.Context, id string) (bool, error) {
	if !agentIDRE.MatchString(id) {
		return false, nil
	}
	_, err := h.store.GetAgent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

type createSessionReq struct {
	Entry    string            `json:"entry_point"`
	Mode     string            `json:"mode"`
	Customer session.Customer  `json:"customer"`
	Target   string            `json:"target"` // optional: "queue:<name>", "agent:<id>" or a SIP target, instead of the routes
	AgentID  string            `json:"agent_id"`
	Channel  string            `json:"channel"` // how the join link goes out: copy (default), sms, email, whatsapp
	TTL      string            `json:"ttl"`
	Context  map[string]string `json:"context"`
	WhatsApp waCallReq         `json:"whatsapp"` // mode whatsapp: the business-initiated call
}

type createSessionResp struct {
	*session.Info
	JoinURL  string    `json:"join_url"`
	Expires  time.Time `json:"link_expires_at"`
	Delivery string    `json:"delivery"`
}

// apiCreateSession creates a session a customer joins with a link: a
// Forward session routed when the customer arrives, or a Reverse one (an
// agent calling a customer: agent_id set, the link sent by SMS, e-mail or
// WhatsApp, the agent's console rung at once).
func (h *Hub) apiCreateSession(w http.ResponseWriter, r *http.Request) {
	var req createSessionReq
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Entry == "" {
		req.Entry = "default"
	}
	if _, ok := h.cfg.Sessions.EntryPoint(req.Entry); !ok {
		writeErr(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("unknown entry_point %q", cleanText(req.Entry)))
		return
	}
	if req.Target != "" && !strings.HasPrefix(req.Target, "queue:") && !strings.HasPrefix(req.Target, "agent:") {
		if _, _, err := h.ua.Resolve(req.Target); err != nil {
			writeErr(w, http.StatusBadRequest, "bad_request", "target: "+err.Error())
			return
		}
	}
	mode := session.Mode(req.Mode)
	if mode == "" {
		mode = session.ModeForward
		if req.AgentID != "" {
			mode = session.ModeReverse
		}
	}
	if mode == session.ModeWhatsApp {
		if err := checkCustomer(req.Customer); err != nil {
			writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		h.apiWhatsAppCall(w, r, req)
		return
	}
	if mode != session.ModeForward && mode != session.ModeReverse {
		writeErr(w, http.StatusBadRequest, "bad_request", "mode must be forward, reverse or whatsapp (appointments: POST /v1/appointments)")
		return
	}
	if req.Context != nil && req.Customer.Context == nil {
		req.Customer.Context = req.Context
	}
	if err := checkCustomer(req.Customer); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	lr := linkReq{Channel: req.Channel, To: req.Customer.Contact, ExpiresIn: req.TTL}
	if lr.Channel == "" && mode == session.ModeReverse && req.Customer.Contact != "" {
		lr.Channel = channelFor(req.Customer.Contact)
	}
	o, err := h.linkOptions(lr, time.Now())
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	if req.AgentID != "" {
		if _, err := h.store.GetAgent(r.Context(), req.AgentID); err != nil {
			writeErr(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("unknown agent %q", cleanText(req.AgentID)))
			return
		}
		if req.Target == "" {
			req.Target = "agent:" + req.AgentID
		}
	}
	s, err := h.newSession("", mode, req.Entry, req.Customer)
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	if req.Target != "" {
		s.Call(func() { s.SetScoped("target", req.Target) }) // routed when the customer joins
	}
	o.SessionID = s.ID
	lk, err := h.issueLink(r.Context(), s, o)
	if err != nil {
		s.Do(func() { h.end(s, 500, "Link failed") })
		h.writeHubErr(w, err)
		return
	}
	if mode == session.ModeReverse && req.AgentID != "" {
		h.reverseRingAgent(s, req.AgentID)
	}
	writeJSON(w, http.StatusCreated, createSessionResp{Info: s.Info(), JoinURL: lk.URL, Expires: lk.ExpiresAt, Delivery: lk.Delivery})
}

// checkCustomer bounds what a client says about the customer (the limits
// of the session protocol's start frame).
func checkCustomer(c session.Customer) error {
	if len(c.Name) > 128 || len(c.Contact) > 256 || len(c.Language) > 35 || len(c.Context) > 32 {
		return errors.New("customer: name is limited to 128 bytes, contact to 256, language to 35 and context to 32 entries")
	}
	for k, v := range c.Context {
		if len(k) > 64 || len(v) > 512 {
			return errors.New("customer.context entries are limited to 64-byte keys and 512-byte values")
		}
	}
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// lookup finds a session live or in the store.
func (h *Hub) lookup(ctx context.Context, id string) (*session.Info, bool, error) {
	if !uuidRE.MatchString(id) {
		return nil, false, fmt.Errorf("%w: %q is not a session id", errNotFoundErr, cleanText(id))
	}
	if s := h.Session(id); s != nil {
		return s.Info(), true, nil
	}
	rec, err := h.store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("%w: no session %s", errNotFoundErr, id)
	}
	if err != nil {
		return nil, false, err
	}
	return fromRecord(rec), false, nil
}

// checkSessionFilter refuses what no session can match.
func checkSessionFilter(f store.SessionFilter, active string) error {
	switch session.State(f.State) {
	case "", session.StateCreated, session.StateRouting, session.StateWaiting, session.StateRinging, session.StateActive, session.StateEnded:
	default:
		return errors.New("state must be created, routing, waiting, ringing, active or ended")
	}
	switch session.Mode(f.Mode) {
	case "", session.ModeForward, session.ModeReverse, session.ModeScheduled, session.ModeWhatsApp, session.ModeInterpreter:
	default:
		return errors.New("mode must be forward, reverse, scheduled, whatsapp or interpreter")
	}
	if f.Before != "" && !uuidRE.MatchString(f.Before) {
		return errors.New("before must be a session id (the next of the previous page)")
	}
	if active != "" && active != "true" && active != "false" {
		return errors.New("active must be true or false")
	}
	return nil
}

func (h *Hub) apiGetSession(w http.ResponseWriter, r *http.Request) {
	in, live, err := h.lookup(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	if in.Mode == session.ModeInterpreter {
		rec, err := h.ivRecord(r.Context(), in, live)
		if err != nil {
			h.internalErr(w, "interpreter record", err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			*session.Info
			Interpreter *interpreter.Record `json:"interpreter"`
		}{in, rec})
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (h *Hub) apiListSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeErr(w, http.StatusBadRequest, "bad_request", "limit must be 1-500")
			return
		}
		limit = n
	}
	if q.Get("active") == "true" && !h.clustered() {
		list := h.Sessions()
		sort.Slice(list, func(i, j int) bool { return list[i].ID > list[j].ID })
		if len(list) > limit {
			list = list[:limit]
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
		return
	}
	f := store.SessionFilter{State: q.Get("state"), Mode: q.Get("mode"), Limit: limit, Before: q.Get("before")}
	if err := checkSessionFilter(f, q.Get("active")); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if a := q.Get("active"); a != "" {
		// several nodes: the live sessions of every node, from the store
		// (this node's as they are now, the others' as last recorded)
		b := a == "true"
		f.Active = &b
	}
	recs, err := h.store.ListSessions(r.Context(), f)
	if err != nil {
		h.internalErr(w, "list sessions", err)
		return
	}
	out := make([]*session.Info, 0, len(recs))
	for _, rec := range recs {
		if s := h.Session(rec.ID); s != nil {
			out = append(out, s.Info())
			continue
		}
		out = append(out, fromRecord(rec))
	}
	resp := map[string]any{"sessions": out}
	if len(out) == limit {
		resp["next"] = out[len(out)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Hub) apiEndSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, live, err := h.lookup(r.Context(), id); err != nil {
		h.writeHubErr(w, err)
		return
	} else if !live {
		writeErr(w, http.StatusConflict, "conflict", "the session has already ended")
		return
	}
	err := h.onSession(id, func(s *session.Session) error {
		h.end(s, 200, "Ended by API")
		return nil
	})
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Hub) apiTransfer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		To string `json:"to"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.To == "" {
		writeErr(w, http.StatusBadRequest, "bad_request", "to is required: queue:<name>, agent:<id> or a SIP target")
		return
	}
	sid, ok := sessionID(w, r)
	if !ok {
		return
	}
	err := h.onSession(sid, func(s *session.Session) error { return h.transfer(s, st(s).agentID, req.To) })
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "transferring", "to": req.To})
}

// apiAddParticipant adds a participant: a telephone party or a console
// (`to`, with `role`), an AI service (`kind: ai`, docs/copilot.md §1) or a
// supervisor in a listen mode (`kind: supervisor`, §8).
func (h *Hub) apiAddParticipant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		To      string `json:"to"`
		Role    string `json:"role"`
		Kind    string `json:"kind"`
		Service string `json:"service"`
		Mode    string `json:"mode"`
		Agent   string `json:"agent"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	sid, ok := sessionID(w, r)
	if !ok {
		return
	}
	switch req.Kind {
	case "ai":
		if req.Service == "" {
			writeErr(w, http.StatusBadRequest, "bad_request", "service is required (a copilot.services name)")
			return
		}
		var id string
		err := h.onSession(sid, func(s *session.Session) (err error) {
			id, err = h.copilotAttach(s, req.Service, "api")
			return err
		})
		if err != nil {
			h.writeHubErr(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "attached", "participant": id, "service": req.Service})
		return
	case "supervisor":
		if req.Agent == "" {
			writeErr(w, http.StatusBadRequest, "bad_request", "agent is required: the supervisor's agent id")
			return
		}
		if req.Mode == "" {
			req.Mode = "monitor"
		}
		err := h.onSession(sid, func(s *session.Session) error { return h.supervise(s, req.Agent, req.Mode, true) })
		if err != nil {
			h.writeHubErr(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "offered", "agent": req.Agent, "mode": req.Mode})
		return
	case "", "phone", "console":
	default:
		writeErr(w, http.StatusBadRequest, "bad_request", "kind must be ai or supervisor (or absent, with to)")
		return
	}
	role := session.RolePhoneParty
	switch req.Role {
	case "", "phone-party":
	case "supervisor":
		role = session.RoleSupervisor
	default:
		writeErr(w, http.StatusBadRequest, "bad_request", "role must be phone-party or supervisor")
		return
	}
	if req.To == "" || strings.HasPrefix(req.To, "queue:") {
		writeErr(w, http.StatusBadRequest, "bad_request", "to must be agent:<id> or a SIP URI or number on a trunk")
		return
	}
	var legs int
	err := h.onSession(sid, func(s *session.Session) error {
		if ag, ok := strings.CutPrefix(req.To, "agent:"); ok {
			// a supervisor (or a colleague) from their console: barge into
			// the customer's conversation, mixed mix-minus
			if err := h.supervise(s, ag, "barge", true); err != nil {
				return err
			}
			legs = len(s.Legs())
			return nil
		}
		if err := h.dialParty(s, req.To, role, false); err != nil {
			return err
		}
		legs = len(s.Legs())
		return nil
	})
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "dialling", "to": req.To, "legs": legs})
}

// apiRemoveParticipant ends one participant: an AI detaches, any other leg
// is hung up (200).
func (h *Hub) apiRemoveParticipant(w http.ResponseWriter, r *http.Request) {
	sid, ok := sessionID(w, r)
	if !ok {
		return
	}
	pid := r.PathValue("participant")
	err := h.onSession(sid, func(s *session.Session) error {
		l := s.Leg(pid)
		if l == nil {
			return fmt.Errorf("%w: no participant %q", errNotFoundErr, pid)
		}
		if l.Role == session.RoleAI {
			return h.copilotDetach(s, pid)
		}
		return s.RemoveLeg(pid, 200, "Removed")
	})
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiEvents streams a session's history then its live events as
// server-sent events (text/event-stream), or returns the history as JSON
// with ?format=json or Accept: application/json.
func (h *Hub) apiEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, live, err := h.lookup(r.Context(), id)
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	// a session live on another node (PostgreSQL): followed through the
	// store's announcements (followOtherNodes) until it ends
	remote := !live && in.State != session.StateEnded && h.store.Engine() == store.EnginePostgres
	var after int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	}
	wantJSON := r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json")
	var ch chan session.Event
	if (live || remote) && !wantJSON {
		var cancel func()
		ch, cancel = h.rec.subscribe(id)
		defer cancel()
	}
	hist, err := h.store.Events(r.Context(), id, after, 1000)
	if err != nil {
		h.internalErr(w, "session events", err)
		return
	}
	if wantJSON {
		out := make([]session.Event, 0, len(hist))
		for _, e := range hist {
			out = append(out, fromStoreEvent(e))
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": out})
		return
	}
	fl, ok := startSSE(w) // kept alive by the pings below
	if !ok {
		return
	}
	last := after
	emit := func(e session.Event) bool {
		if e.Seq <= last {
			return true
		}
		last = e.Seq
		b, _ := json.Marshal(e)
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	for _, e := range hist {
		if !emit(fromStoreEvent(e)) || remote && e.Type == "session.ended" {
			return
		}
	}
	if ch == nil {
		return
	}
	s := h.Session(id)
	var done <-chan struct{}
	if s != nil {
		done = s.Stopped()
	}
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-ch:
			if !emit(e) || remote && e.Type == "session.ended" {
				return
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-done:
			for {
				select {
				case e := <-ch:
					emit(e)
				default:
					return
				}
			}
		}
	}
}

func fromStoreEvent(e store.Event) session.Event {
	out := session.Event{Seq: e.Seq, At: e.At, Type: e.Type, Leg: e.Leg}
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &out.Data)
	}
	return out
}

type queueView struct {
	Name        string  `json:"name"`
	Waiting     int     `json:"waiting"`
	LongestWait float64 `json:"longest_wait_seconds"`
	LoggedIn    int     `json:"agents_logged_in"`
	Ready       int     `json:"agents_ready"`
	Busy        int     `json:"agents_busy"`
	AvgWait     float64 `json:"avg_wait_seconds"`
	AvgHandle   float64 `json:"avg_handle_seconds"`
	EWT         float64 `json:"ewt_seconds"`
	Answered    int     `json:"answered"`
	Abandoned   int     `json:"abandoned"`
	Overflowed  int     `json:"overflowed"`
}

func (h *Hub) apiQueues(w http.ResponseWriter, r *http.Request) {
	out := []queueView{}
	for _, q := range h.acd.Queues() {
		out = append(out, queueView{Name: q.Name, Waiting: q.Waiting, LongestWait: q.LongestWait.Seconds(), LoggedIn: q.LoggedIn,
			Ready: q.Ready, Busy: q.Busy, AvgWait: q.AvgWait.Seconds(), AvgHandle: q.AvgHandle.Seconds(), EWT: q.EWT.Seconds(),
			Answered: q.Answered, Abandoned: q.Abandoned, Overflowed: q.Overflowed})
	}
	writeJSON(w, http.StatusOK, map[string]any{"queues": out})
}

type agentView struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Queues  []string  `json:"queues"`
	State   string    `json:"state"`
	Since   time.Time `json:"since,omitempty"`
	Session string    `json:"session,omitempty"`
	Handled int       `json:"handled"`
	Online  bool      `json:"online"`
}

func (h *Hub) apiAgents(w http.ResponseWriter, r *http.Request) {
	recs, err := h.store.ListAgents(r.Context())
	if err != nil {
		h.internalErr(w, "list agents", err)
		return
	}
	live := map[string]agentView{}
	for _, a := range h.acd.Agents() {
		live[a.ID] = agentView{State: a.State.String(), Since: a.Since.UTC(), Session: a.Session, Handled: a.Handled}
	}
	elsewhere := map[string][]string{} // several nodes: consoles open on the others
	if h.clustered() {
		if where, err := h.store.ConsoleNodes(r.Context(), ""); err == nil {
			elsewhere = where
		}
	}
	out := []agentView{}
	for _, a := range recs {
		v := live[a.ID]
		v.ID, v.Name, v.Queues = a.ID, a.Name, a.Queues
		if v.Queues == nil {
			v.Queues = []string{}
		}
		if v.State == "" {
			v.State = "logged_out"
		}
		v.Online = len(h.agentConns(a.ID)) > 0 || len(elsewhere[a.ID]) > 0
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}

var agentIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (h *Hub) apiPutAgent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Queues []string `json:"queues"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if !agentIDRE.MatchString(req.ID) {
		writeErr(w, http.StatusBadRequest, "bad_request", "id must be 1-64 of A-Z a-z 0-9 . _ - (it is the agent's SIP user)")
		return
	}
	if len(req.Name) > 128 || len(req.Queues) > 64 {
		writeErr(w, http.StatusBadRequest, "bad_request", "name is limited to 128 bytes and queues to 64")
		return
	}
	for _, q := range req.Queues {
		if _, ok := h.queueConfig(q); !ok {
			writeErr(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("unknown queue %q", cleanText(q)))
			return
		}
	}
	if err := h.store.PutAgent(r.Context(), store.Agent{ID: req.ID, Name: req.Name, Queues: req.Queues}); err != nil {
		h.internalErr(w, "put agent", err)
		return
	}
	writeJSON(w, http.StatusCreated, agentView{ID: req.ID, Name: req.Name, Queues: req.Queues, State: "logged_out"})
}

func (h *Hub) apiDeleteAgent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !agentIDRE.MatchString(id) {
		writeErr(w, http.StatusNotFound, "not_found", "no such agent")
		return
	}
	err := h.store.DeleteAgent(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "not_found", "no agent "+id)
		return
	}
	if err != nil {
		h.internalErr(w, "delete agent", err)
		return
	}
	_ = h.acd.Logout(id)
	// Its consoles' tokens reach nothing any more: close them (their calls
	// end as when a console disconnects).
	for _, c := range h.agentConns(id) {
		_ = c.ws.Close(websocket.StatusPolicyViolation, "agent deleted")
	}
	w.WriteHeader(http.StatusNoContent)
}
