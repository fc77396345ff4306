package notifytest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// hookEnvelope is the common webhook envelope (research whatsapp.md §2.3)
// with one change of field carrying value.
func (f *WhatsAppFake) hookEnvelope(field string, value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]string{"display_phone_number": FakeBusinessNumber, "phone_number_id": f.PhoneNumberID}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry":  []any{map[string]any{"id": f.WABAID, "changes": []any{map[string]any{"field": field, "value": value}}}},
	})
	return body
}

func (f *WhatsAppFake) callsHook(v map[string]any) []byte { return f.hookEnvelope("calls", v) }

// enqueueCall queues a calls webhook (or a call_permission_reply) through
// the fake's delivery goroutine, applying the traps: twice when Duplicate,
// late when it is a terminate and TerminateDelay is set.
func (f *WhatsAppFake) enqueueCall(body []byte, terminate bool) {
	f.calls.mu.Lock()
	traps := f.calls.traps
	f.calls.mu.Unlock()
	send := func() {
		f.enqueue(body)
		if traps.Duplicate {
			f.enqueue(body)
		}
	}
	if terminate && traps.TerminateDelay > 0 {
		f.calls.after(traps.TerminateDelay, send)
		return
	}
	send()
}

// InboundMessage is a message a WhatsApp user sends to the business
// (webhook field messages, research whatsapp.md §2.4). Set exactly one of
// Text, ButtonID or ButtonPayload.
type InboundMessage struct {
	From        string // the user's wa_id ("+" optional)
	ProfileName string
	Text        string // a text message
	// ButtonID and ButtonTitle: a tap on a reply button of an interactive
	// message (type interactive, interactive.type button_reply).
	ButtonID, ButtonTitle string
	// ButtonPayload (and ButtonTitle as its text): a tap on a template's
	// quick-reply button (type button).
	ButtonPayload string
	ContextID     string // the business message replied to (context.id), optional
}

// UserSends delivers m to the business as a signed messages webhook (in
// order with the other webhooks) and opens the user's 24 h window. It
// returns the message's wamid.
func (f *WhatsAppFake) UserSends(m InboundMessage) (string, error) {
	from := strings.TrimPrefix(m.From, "+")
	if !waNumber.MatchString(from) {
		return "", fmt.Errorf("notifytest: UserSends: bad number %q", m.From)
	}
	id := "wamid." + base64.StdEncoding.EncodeToString([]byte("HBgL"+from+"FQIAEhgU"+randHex(10)))
	msg := map[string]any{"from": from, "id": id, "timestamp": unixStr(time.Now())}
	switch {
	case m.Text != "" && m.ButtonID == "" && m.ButtonPayload == "":
		msg["type"], msg["text"] = "text", map[string]string{"body": m.Text}
	case m.ButtonID != "" && m.Text == "" && m.ButtonPayload == "":
		msg["type"] = "interactive"
		msg["interactive"] = map[string]any{"type": "button_reply", "button_reply": map[string]string{"id": m.ButtonID, "title": m.ButtonTitle}}
	case m.ButtonPayload != "" && m.Text == "" && m.ButtonID == "":
		msg["type"], msg["button"] = "button", map[string]string{"payload": m.ButtonPayload, "text": m.ButtonTitle}
	default:
		return "", errors.New("notifytest: UserSends: set exactly one of Text, ButtonID, ButtonPayload")
	}
	if m.ContextID != "" {
		msg["context"] = map[string]string{"from": FakeBusinessNumber, "id": m.ContextID}
	}
	contact := map[string]any{"wa_id": from}
	if m.ProfileName != "" {
		contact["profile"] = map[string]string{"name": m.ProfileName}
	}
	f.Inbound(from, time.Now())
	f.enqueue(f.hookEnvelope("messages", map[string]any{"contacts": []any{contact}, "messages": []any{msg}}))
	return id, nil
}

// permState is one user's call permission and counters.
type permState struct {
	status      string // "no_permission", "temporary" or "permanent"
	expires     time.Time
	requests    []time.Time // call_permission_request messages accepted
	lastRequest string      // wamid of the last one
	connected   []time.Time // connected business-initiated calls
}

func (cs *callState) perm(user string) *permState {
	p := cs.perms[user]
	if p == nil {
		p = &permState{status: "no_permission"}
		cs.perms[user] = p
	}
	if p.status == "temporary" && !time.Now().Before(p.expires) {
		p.status, p.expires = "no_permission", time.Time{} // expiry sends no webhook
	}
	return p
}

// countSince counts ts at or after since and returns the oldest of them.
func countSince(ts []time.Time, since time.Time) (n int, oldest time.Time) {
	for _, t := range ts {
		if !t.Before(since) {
			if n == 0 || t.Before(oldest) {
				oldest = t
			}
			n++
		}
	}
	return n, oldest
}

// mayCall checks permission and the 24 h limit for a business-initiated
// call to user.
func (cs *callState) mayCall(user string, lim CallingLimits) *GraphError {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.perm(user)
	if p.status == "no_permission" {
		e := Err138006
		return &e
	}
	if n, oldest := countSince(p.connected, time.Now().Add(-24*time.Hour)); n >= lim.CallsPerDay {
		e := Err138012
		e.Details += fmt.Sprintf("; next call allowed at %d", oldest.Add(24*time.Hour).Unix())
		return &e
	}
	return nil
}

// countConnected records a connected business-initiated call to user; any
// connected call also resets the permission-request counters.
func (cs *callState) countConnected(user string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.perm(user)
	p.connected = append(p.connected, time.Now())
	p.requests = nil
}

// GrantCallPermission gives the business permission to call user
// (temporary for CallingLimits.TemporaryPermission, or permanent) without
// a webhook, as if granted earlier.
func (f *WhatsAppFake) GrantCallPermission(user string, permanent bool) {
	cs := f.calls
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.perm(strings.TrimPrefix(user, "+"))
	if permanent {
		p.status, p.expires = "permanent", time.Time{}
	} else {
		p.status, p.expires = "temporary", time.Now().Add(cs.limits.TemporaryPermission)
	}
}

// RevokeCallPermission removes the permission to call user, without a
// webhook.
func (f *WhatsAppFake) RevokeCallPermission(user string) {
	cs := f.calls
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.perm(strings.TrimPrefix(user, "+"))
	p.status, p.expires = "no_permission", time.Time{}
}

// CallPermission is the user's permission status ("no_permission",
// "temporary", "permanent") and its expiry (zero unless temporary).
func (f *WhatsAppFake) CallPermission(user string) (string, time.Time) {
	cs := f.calls
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.perm(strings.TrimPrefix(user, "+"))
	return p.status, p.expires
}

// UserAnswersPermission is the user answering the last
// call_permission_request sent to them: the permission is recorded and a
// call_permission_reply webhook (field messages, context.id = the
// request's wamid, response_source user_action) goes out. It fails if no
// request was sent to user.
func (f *WhatsAppFake) UserAnswersPermission(user string, accept, permanent bool) error {
	user = strings.TrimPrefix(user, "+")
	f.calls.mu.Lock()
	req := f.calls.perm(user).lastRequest
	f.calls.mu.Unlock()
	if req == "" {
		return fmt.Errorf("notifytest: no call_permission_request was sent to %s", user)
	}
	if accept {
		f.grantPermission(user, permanent, "user_action", req)
		return nil
	}
	f.RevokeCallPermission(user)
	f.enqueueCall(f.permissionReply(user, "reject", false, time.Time{}, "user_action", req), false)
	return nil
}

// grantPermission records an accepted permission and sends the reply
// webhook.
func (f *WhatsAppFake) grantPermission(user string, permanent bool, source, contextID string) {
	f.GrantCallPermission(user, permanent)
	_, exp := f.CallPermission(user)
	f.enqueueCall(f.permissionReply(user, "accept", permanent, exp, source, contextID), false)
}

// permissionReply is the call_permission_reply webhook (research
// whatsapp.md §5.6).
func (f *WhatsAppFake) permissionReply(user, response string, permanent bool, exp time.Time, source, contextID string) []byte {
	reply := map[string]any{"response": response, "is_permanent": permanent, "response_source": source}
	if response == "accept" && !permanent {
		reply["expiration_timestamp"] = unixStr(exp)
	}
	msg := map[string]any{
		"from": user, "id": "wamid." + base64.StdEncoding.EncodeToString([]byte("HBgL"+user+"FQIAEhgU"+randHex(10))),
		"timestamp": unixStr(time.Now()), "type": "interactive",
		"interactive": map[string]any{"type": "call_permission_reply", "call_permission_reply": reply},
	}
	if contextID != "" {
		msg["context"] = map[string]string{"from": user, "id": contextID}
	}
	return f.hookEnvelope("messages", map[string]any{"contacts": []any{map[string]any{"wa_id": user}}, "messages": []any{msg}})
}

// checkCallMessage validates the interactive types voice_call (research
// whatsapp.md §3.3) and call_permission_request (§3.4).
func (f *WhatsAppFake) checkCallMessage(msg WhatsAppMessage, b waBody) (WhatsAppMessage, *GraphError) {
	fail := func(e GraphError) (WhatsAppMessage, *GraphError) { return WhatsAppMessage{}, &e }
	in := b.Interactive
	msg.InteractiveType = in.Type
	if in.Action == nil {
		return fail(missingParam("interactive.action is required"))
	}
	if in.Action.Name != in.Type {
		return fail(badParam("interactive.action.name must be " + in.Type))
	}
	if in.Body != nil {
		if in.Body.Text == "" || runes(in.Body.Text) > 1024 {
			return fail(badParam("interactive.body.text must be 1 to 1024 characters"))
		}
		msg.Body = in.Body.Text
	}
	if in.Header != nil {
		return fail(badParam("interactive.header is not allowed for " + in.Type))
	}
	par := in.Action.Parameters
	if in.Type == "call_permission_request" {
		switch {
		case in.Footer != nil:
			return fail(badParam("interactive.footer is not allowed for call_permission_request"))
		case par != nil:
			return fail(badParam("call_permission_request takes no action.parameters"))
		}
		cs := f.calls
		cs.mu.Lock()
		defer cs.mu.Unlock()
		p := cs.perm(msg.WaID)
		now := time.Now()
		day, _ := countSince(p.requests, now.Add(-24*time.Hour))
		week, _ := countSince(p.requests, now.Add(-7*24*time.Hour))
		switch {
		case p.status == "permanent":
			return fail(Err138017)
		case day >= cs.limits.PermissionRequestsPerDay || week >= cs.limits.PermissionRequestsPerWeek:
			return fail(Err138009)
		}
		return msg, nil
	}
	// voice_call
	if in.Body == nil {
		return fail(missingParam("interactive.body.text is required"))
	}
	if in.Footer != nil && (in.Footer.Text == "" || runes(in.Footer.Text) > 60) {
		return fail(badParam("interactive.footer.text must be 1 to 60 characters"))
	}
	msg.DisplayText, msg.TTLMinutes = "Call Now", 10080
	if par != nil {
		switch {
		case par.URL != "":
			return fail(badParam("voice_call takes no url"))
		case runes(par.DisplayText) > 20:
			return fail(badParam("action.parameters.display_text is longer than 20 characters"))
		case par.TTLMinutes != nil && (*par.TTLMinutes < 1 || *par.TTLMinutes > 43200):
			return fail(badParam("action.parameters.ttl_minutes must be 1 to 43200"))
		case par.Payload != nil && runes(*par.Payload) > 512:
			return fail(badParam("action.parameters.payload is longer than 512 characters"))
		}
		if par.DisplayText != "" {
			msg.DisplayText = par.DisplayText
		}
		if par.TTLMinutes != nil {
			msg.TTLMinutes = *par.TTLMinutes
		}
		if par.Payload != nil {
			msg.Payload = *par.Payload
		}
	}
	return msg, nil
}

// noteMessage records an accepted call_permission_request.
func (cs *callState) noteMessage(m WhatsAppMessage) {
	if m.InteractiveType != "call_permission_request" || m.Status != "accepted" {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.perm(m.WaID)
	p.requests = append(p.requests, time.Now())
	p.lastRequest = m.ID
}

func (f *WhatsAppFake) serveCallingGet(w http.ResponseWriter, r *http.Request, edge string) {
	q := r.URL.Query()
	if edge == "settings" {
		f.getSettings(w, q.Get("include_sip_credentials") == "true")
		return
	}
	user := strings.TrimPrefix(q.Get("user_wa_id"), "+")
	if user == "" {
		user = q.Get("recipient")
	}
	if user == "" {
		f.graphErr(w, *callErr(100, "The parameter user_wa_id is required."))
		return
	}
	cs := f.calls
	cs.mu.Lock()
	p := cs.perm(user)
	lim := cs.limits
	now := time.Now()
	perm := map[string]any{"status": p.status}
	if p.status == "temporary" {
		perm["expiration_time"] = p.expires.Unix()
	}
	limit := func(period string, d time.Duration, max int, ts []time.Time) (map[string]any, bool) {
		n, oldest := countSince(ts, now.Add(-d))
		l := map[string]any{"time_period": period, "max_allowed": max, "current_usage": n}
		if n >= max {
			l["limit_expiration_time"] = oldest.Add(d).Unix()
		}
		return l, n < max
	}
	day, okDay := limit("PT24H", 24*time.Hour, lim.PermissionRequestsPerDay, p.requests)
	week, okWeek := limit("P7D", 7*24*time.Hour, lim.PermissionRequestsPerWeek, p.requests)
	calls, okCalls := limit("PT24H", 24*time.Hour, lim.CallsPerDay, p.connected)
	cs.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"permission":        perm,
		"actions": []any{
			map[string]any{"action_name": "send_call_permission_request", "can_perform_action": okDay && okWeek && p.status != "permanent",
				"limits": []any{day, week}},
			map[string]any{"action_name": "start_call", "can_perform_action": okCalls && p.status != "no_permission", "limits": []any{calls}},
		},
	})
}
