package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/store"
)

// Permission is whether the business number may call a user now and, if
// not, why; CanRequest says whether a permission request may be sent.
type Permission struct {
	Status        string    // store.WhatsAppPermission{None,Temporary,Permanent}
	Expires       time.Time // temporary permission's expiry
	CanCall       bool
	CanRequest    bool
	Reason        string    // why not (for the API's refusal), "" when CanCall
	NextCallAt    time.Time // when a call is allowed again (limit), zero if unknown or now
	NextRequestAt time.Time // when a permission request is allowed again, zero if now or unknown
	Source        string    // "store" or "meta": where Status came from
}

// Limits of the Calling API (research §7).
const (
	PermissionRequestsPer24h = 1
	PermissionRequestsPer7d  = 2
	BusinessCallsPer24h      = 100
	TemporaryPermission      = 7 * 24 * time.Hour
	day                      = 24 * time.Hour
)

// MetaPermission is Meta's GET /{pnid}/call_permissions answer.
type MetaPermission struct {
	Status  string    // no_permission, temporary, permanent
	Expires time.Time // expiration_time (temporary)
	Actions []MetaPermissionAction
}

// MetaPermissionAction is one actions[] entry (send_call_permission_request, start_call).
type MetaPermissionAction struct {
	Name    string
	Allowed bool // can_perform_action
	Limits  []MetaLimit
}

// MetaLimit is one limits[] entry.
type MetaLimit struct {
	Period     string // PT24H, P7D
	MaxAllowed int
	Used       int
	Expires    time.Time // limit_expiration_time: when the limit resets
}

// Action returns the named action.
func (m MetaPermission) Action(name string) (MetaPermissionAction, bool) {
	for _, a := range m.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return MetaPermissionAction{}, false
}

// CallPermissions asks Meta whether the business may call user (wa_id, or
// a BSUID).
func (c *Client) CallPermissions(ctx context.Context, user string) (MetaPermission, error) {
	if err := checkUser(user); err != nil {
		return MetaPermission{}, err
	}
	q := url.Values{}
	if IsBSUID(user) {
		q.Set("recipient", user)
	} else {
		q.Set("user_wa_id", waID(user))
	}
	var raw struct {
		Permission struct {
			Status         string  `json:"status"`
			ExpirationTime flexInt `json:"expiration_time"`
		} `json:"permission"`
		Actions []struct {
			ActionName       string `json:"action_name"`
			CanPerformAction bool   `json:"can_perform_action"`
			Limits           []struct {
				TimePeriod          string  `json:"time_period"`
				MaxAllowed          flexInt `json:"max_allowed"`
				CurrentUsage        flexInt `json:"current_usage"`
				LimitExpirationTime flexInt `json:"limit_expiration_time"`
			} `json:"limits"`
		} `json:"actions"`
	}
	if err := c.do(ctx, http.MethodGet, "call_permissions", q, nil, &raw); err != nil {
		return MetaPermission{}, err
	}
	mp := MetaPermission{Status: strings.ToLower(raw.Permission.Status), Expires: raw.Permission.ExpirationTime.unix()}
	for _, a := range raw.Actions {
		ma := MetaPermissionAction{Name: a.ActionName, Allowed: a.CanPerformAction}
		for _, l := range a.Limits {
			ma.Limits = append(ma.Limits, MetaLimit{Period: l.TimePeriod, MaxAllowed: int(l.MaxAllowed),
				Used: int(l.CurrentUsage), Expires: l.LimitExpirationTime.unix()})
		}
		mp.Actions = append(mp.Actions, ma)
	}
	return mp, nil
}

// permClient returns the Graph client of a number with calling on (either
// signalling: permissions and call buttons are Graph messages).
func (s *Service) permClient(pnid string) (*Client, config.WhatsAppNumber, error) {
	n, ok := s.cfg.Number(pnid)
	if !ok {
		return nil, n, fmt.Errorf("%w: %q", ErrUnknownNumber, pnid)
	}
	if !n.CallingEnabled() {
		return nil, n, fmt.Errorf("%w: %s", ErrCallingOff, pnid)
	}
	return s.clients[pnid], n, nil
}

// usage is what the store counts for one pair.
type usage struct {
	requests24h, requests7d int
	nextRequest             time.Time // zero: a request is allowed now
	calls24h                int
	nextCall                time.Time
}

// usageOf reads the pair's counters; a connected call (either direction)
// resets the permission-request counts, as Meta's does.
func (s *Service) usageOf(ctx context.Context, pnid, user string, now time.Time) (usage, error) {
	var u usage
	if s.st == nil {
		return u, nil
	}
	week := now.Add(-7 * day)
	reqs, err := s.st.WhatsAppUsage(ctx, pnid, user, store.WhatsAppUsagePermissionRequest, week)
	if err != nil {
		return u, err
	}
	bic, err := s.st.WhatsAppUsage(ctx, pnid, user, store.WhatsAppUsageBusinessCall, week)
	if err != nil {
		return u, err
	}
	uic, err := s.st.WhatsAppUsage(ctx, pnid, user, store.WhatsAppUsageUserCall, week)
	if err != nil {
		return u, err
	}
	var lastCall time.Time
	for _, t := range append(bic, uic...) {
		if t.After(lastCall) {
			lastCall = t
		}
	}
	var counted []time.Time
	for _, t := range reqs {
		if t.After(lastCall) {
			counted = append(counted, t)
		}
	}
	for _, t := range counted {
		u.requests7d++
		if t.After(now.Add(-day)) {
			u.requests24h++
		}
	}
	if u.requests24h >= PermissionRequestsPer24h {
		u.nextRequest = counted[len(counted)-u.requests24h].Add(day)
	}
	if u.requests7d >= PermissionRequestsPer7d {
		if t := counted[len(counted)-u.requests7d].Add(7 * day); t.After(u.nextRequest) {
			u.nextRequest = t
		}
	}
	var calls []time.Time
	for _, t := range bic {
		if t.After(now.Add(-day)) {
			calls = append(calls, t)
		}
	}
	u.calls24h = len(calls)
	if u.calls24h >= BusinessCallsPer24h {
		u.nextCall = calls[len(calls)-BusinessCallsPer24h].Add(day)
	}
	return u, nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Permission tells whether the number pnid may call user (wa_id or BSUID)
// now: the store first (grants recorded from call_permission_reply
// webhooks), else Meta's GET call_permissions (then recorded); the limits
// are counted per (number, user) over 24 h and 7 days. The Reason is
// meant for the API's refusal ("permission request limit: 1 per 24 h,
// next at …"). When Meta cannot be asked, the store's view is returned
// with the error.
func (s *Service) Permission(ctx context.Context, pnid, user string) (Permission, error) {
	c, _, err := s.permClient(pnid)
	if err != nil {
		return Permission{}, err
	}
	if err := checkUser(user); err != nil {
		return Permission{}, err
	}
	user = UserKey(user)
	now := s.now()
	p := Permission{Status: store.WhatsAppPermissionNone, Source: "store"}
	if s.st != nil {
		rec, err := s.st.WhatsAppPermission(ctx, pnid, user)
		switch {
		case err == nil:
			p.Status, p.Expires = rec.Status, rec.ExpiresAt
			if p.Status == store.WhatsAppPermissionTemporary && !p.Expires.IsZero() && !now.Before(p.Expires) {
				p.Status, p.Expires = store.WhatsAppPermissionNone, time.Time{} // expired: Meta sends no webhook
			}
		case !errors.Is(err, store.ErrNotFound):
			return p, err
		}
	}
	u, err := s.usageOf(ctx, pnid, user, now)
	if err != nil {
		return p, err
	}
	p.CanRequest, p.NextRequestAt = u.nextRequest.IsZero(), u.nextRequest
	var metaErr error
	if p.Status == store.WhatsAppPermissionNone {
		mp, err := c.CallPermissions(ctx, user)
		if err != nil {
			metaErr = err
		} else {
			p.Source = "meta"
			s.applyMeta(ctx, &p, mp, pnid, user, now)
		}
	}
	granted := p.Status == store.WhatsAppPermissionTemporary || p.Status == store.WhatsAppPermissionPermanent
	if u.calls24h >= BusinessCallsPer24h && u.nextCall.After(p.NextCallAt) {
		p.NextCallAt = u.nextCall
	}
	p.CanCall = granted && p.NextCallAt.IsZero()
	var why []string
	switch {
	case !granted && metaErr != nil:
		why = append(why, "no call permission recorded, and Meta could not be asked ("+metaErr.Error()+")")
	case !granted:
		why = append(why, "no call permission from the user: send a call-permission request (the user must accept it)")
	case !p.CanCall:
		why = append(why, fmt.Sprintf("call limit: %d connected business-initiated calls per 24 h to this user, next at %s",
			BusinessCallsPer24h, fmtTime(p.NextCallAt)))
	}
	if !granted && !p.CanRequest {
		if u.requests24h >= PermissionRequestsPer24h {
			why = append(why, fmt.Sprintf("permission request limit: %d per 24 h, next at %s", PermissionRequestsPer24h, fmtTime(p.NextRequestAt)))
		} else if u.requests7d >= PermissionRequestsPer7d {
			why = append(why, fmt.Sprintf("permission request limit: %d per 7 days, next at %s", PermissionRequestsPer7d, fmtTime(p.NextRequestAt)))
		} else if !p.NextRequestAt.IsZero() {
			why = append(why, "permission request limit reached (Meta), next at "+fmtTime(p.NextRequestAt))
		} else {
			why = append(why, "Meta does not allow a permission request to this user now")
		}
	}
	p.Reason = strings.Join(why, "; ")
	return p, metaErr
}

// applyMeta folds Meta's answer into p and records the permission.
func (s *Service) applyMeta(ctx context.Context, p *Permission, mp MetaPermission, pnid, user string, now time.Time) {
	switch mp.Status {
	case "temporary":
		p.Status, p.Expires = store.WhatsAppPermissionTemporary, mp.Expires
		if p.Expires.IsZero() {
			p.Expires = now.Add(TemporaryPermission)
		}
	case "permanent":
		p.Status, p.Expires = store.WhatsAppPermissionPermanent, time.Time{}
	default:
		p.Status, p.Expires = store.WhatsAppPermissionNone, time.Time{}
	}
	if a, ok := mp.Action("send_call_permission_request"); ok && !a.Allowed {
		p.CanRequest = false
		for _, l := range a.Limits {
			if l.Used >= l.MaxAllowed && l.Expires.After(p.NextRequestAt) {
				p.NextRequestAt = l.Expires
			}
		}
	}
	if a, ok := mp.Action("start_call"); ok && !a.Allowed {
		for _, l := range a.Limits {
			if l.Expires.After(p.NextCallAt) {
				p.NextCallAt = l.Expires
			}
		}
		if p.NextCallAt.IsZero() {
			p.NextCallAt = now.Add(day) // Meta says no without saying until when
		}
	}
	if s.st == nil || p.Status == store.WhatsAppPermissionNone {
		return
	}
	if err := s.st.SetWhatsAppPermission(ctx, store.WhatsAppPermission{PhoneNumberID: pnid, User: user, Status: p.Status,
		ExpiresAt: p.Expires, Source: "meta", UpdatedAt: now}); err != nil {
		s.log.Warn("WhatsApp: cannot record the permission Meta reported", "err", err)
	}
}

// Message limits (characters).
const (
	MaxMessageBody = 1024
)

type msgText struct {
	Text string `json:"text"`
}

type msgInteractive struct {
	Type   string   `json:"type"`
	Body   *msgText `json:"body,omitempty"`
	Action struct {
		Name       string            `json:"name"`
		Parameters map[string]string `json:"parameters,omitempty"`
	} `json:"action"`
}

type msgTemplate struct {
	Name     string `json:"name"`
	Language struct {
		Code string `json:"code"`
	} `json:"language"`
}

type msgRequest struct {
	MessagingProduct string          `json:"messaging_product"`
	RecipientType    string          `json:"recipient_type"`
	To               string          `json:"to,omitempty"`
	Recipient        string          `json:"recipient,omitempty"`
	Type             string          `json:"type"`
	Interactive      *msgInteractive `json:"interactive,omitempty"`
	Template         *msgTemplate    `json:"template,omitempty"`
}

// SendMessage posts one message body (its recipient set from user) and
// returns the message id (wamid).
func (c *Client) sendMessage(ctx context.Context, user string, m msgRequest) (string, error) {
	if err := checkUser(user); err != nil {
		return "", err
	}
	m.MessagingProduct, m.RecipientType = "whatsapp", "individual"
	if IsBSUID(user) {
		m.Recipient = user
	} else {
		m.To = waID(user)
	}
	var out struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := c.do(ctx, http.MethodPost, "messages", nil, m, &out); err != nil {
		return "", err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return "", &GraphError{HTTPStatus: http.StatusOK, Message: "unexpected message response (no messages[0].id)"}
	}
	return out.Messages[0].ID, nil
}

// RequestPermission sends an interactive call_permission_request with body
// (optional text) to user, or, outside the 24 h window (131047), the
// number's permission_template when configured. It refuses without
// sending (ErrPermissionRequestLimit, with the next allowed time in the
// message) when the hub's own count says Meta would refuse.
func (s *Service) RequestPermission(ctx context.Context, pnid, user, body string) error {
	c, n, err := s.permClient(pnid)
	if err != nil {
		return err
	}
	if err := checkUser(user); err != nil {
		return err
	}
	user = UserKey(user)
	body = strings.TrimSpace(body)
	if utf8.RuneCountInString(body) > MaxMessageBody {
		return invalidf("the body is longer than %d characters", MaxMessageBody)
	}
	now := s.now()
	u, err := s.usageOf(ctx, pnid, user, now)
	if err != nil {
		return err
	}
	if !u.nextRequest.IsZero() {
		limit := fmt.Sprintf("%d per 24 h", PermissionRequestsPer24h)
		if u.requests24h < PermissionRequestsPer24h {
			limit = fmt.Sprintf("%d per 7 days", PermissionRequestsPer7d)
		}
		return fmt.Errorf("%w: %s, next at %s", ErrPermissionRequestLimit, limit, fmtTime(u.nextRequest))
	}
	in := &msgInteractive{Type: "call_permission_request"}
	in.Action.Name = "call_permission_request"
	if body != "" {
		in.Body = &msgText{Text: body}
	}
	id, err := c.sendMessage(ctx, user, msgRequest{Type: "interactive", Interactive: in})
	if errors.Is(err, ErrOutsideWindow) && n.PermissionTemplate != nil {
		t := &msgTemplate{Name: n.PermissionTemplate.Name}
		t.Language.Code = n.PermissionTemplate.Language
		id, err = c.sendMessage(ctx, user, msgRequest{Type: "template", Template: t})
		if err != nil {
			err = fmt.Errorf("outside the 24-hour window, the permission template %q failed too: %w", t.Name, err)
		}
	} else if errors.Is(err, ErrOutsideWindow) {
		err = fmt.Errorf("%w (configure whatsapp.numbers[].permission_template to ask outside the window)", err)
	}
	if err != nil {
		return err
	}
	s.log.Info("WhatsApp call-permission request sent", "phone_number_id", pnid, "message", id)
	if s.st != nil {
		if err := s.st.AddWhatsAppUsage(ctx, pnid, user, store.WhatsAppUsagePermissionRequest, now); err != nil {
			s.log.Warn("WhatsApp: cannot count the permission request", "err", err)
		}
	}
	return nil
}

// SendCallButton sends an interactive voice_call message: a button that
// starts a WhatsApp call to the business; payload (≤512) comes back as
// cta_payload in the call's connect webhook. Free-form: inside the 24 h
// window only (ErrOutsideWindow otherwise).
func (s *Service) SendCallButton(ctx context.Context, pnid, user, body, payload string) error {
	c, _, err := s.permClient(pnid)
	if err != nil {
		return err
	}
	body = strings.TrimSpace(body)
	switch {
	case body == "":
		return invalidf("the call button needs a body text")
	case utf8.RuneCountInString(body) > MaxMessageBody:
		return invalidf("the body is longer than %d characters", MaxMessageBody)
	}
	if err := checkOpaque("payload", payload); err != nil {
		return err
	}
	in := &msgInteractive{Type: "voice_call", Body: &msgText{Text: body}}
	in.Action.Name = "voice_call"
	if payload != "" {
		in.Action.Parameters = map[string]string{"payload": payload}
	}
	_, err = c.sendMessage(ctx, user, msgRequest{Type: "interactive", Interactive: in})
	return err
}
