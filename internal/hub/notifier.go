package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify"
	"github.com/split-hub/split/internal/session"
)

// linkNotifier sends join links through internal/notify and records every
// delivery result on the link and in the session's history: a failed
// delivery is reported, never silent.
type linkNotifier struct {
	h        *Hub
	d        *notify.Dispatcher
	channels map[string]bool
	twilio   *config.TwilioConfig
	whatsapp *config.WhatsAppConfig
	sent     waMemory // WhatsApp messages that may need the template later
}

// newLinkNotifier builds the configured senders; nil when none is set.
func newLinkNotifier(h *Hub, c config.Notify, log *slog.Logger) (*linkNotifier, error) {
	senders := map[notify.Channel]notify.Sender{notify.ChannelLink: notify.CopyLink{}}
	n := &linkNotifier{h: h, channels: map[string]bool{}}
	if c.SMS != nil {
		tw, err := notify.NewTwilio(notify.TwilioConfig{BaseURL: c.SMS.BaseURL, AccountSID: c.SMS.AccountSID, AuthToken: c.SMS.AuthToken,
			From: c.SMS.From, MessagingServiceSID: c.SMS.MessagingServiceSID, StatusCallback: h.publicURL() + "/v1/notify/twilio"})
		if err != nil {
			return nil, fmt.Errorf("sessions.notify.sms: %w", err)
		}
		senders[notify.ChannelSMS] = tw
		n.channels["sms"], n.twilio = true, c.SMS
	}
	if c.Email != nil {
		m, err := notify.NewSMTP(notify.SMTPConfig{Addr: c.Email.Addr, Username: c.Email.Username, Password: c.Email.Password,
			From: c.Email.From, StartTLS: c.Email.StartTLS})
		if err != nil {
			return nil, fmt.Errorf("sessions.notify.email: %w", err)
		}
		senders[notify.ChannelEmail] = m
		n.channels["email"] = true
	}
	if c.WhatsApp != nil {
		wc := notify.WhatsAppConfig{BaseURL: c.WhatsApp.BaseURL, Version: c.WhatsApp.Version,
			PhoneNumberID: c.WhatsApp.PhoneNumberID, AccessToken: c.WhatsApp.AccessToken}
		if t := c.WhatsApp.Template; t != nil {
			wc.Template = &notify.WhatsAppTemplate{Name: t.Name, Language: t.Language, URLBase: t.URLBase, BodyParams: t.BodyParams}
			if links := h.publicURL() + "/j/"; !strings.HasPrefix(links, t.URLBase) {
				return nil, fmt.Errorf("sessions.notify.whatsapp.template.url_base %q must be the start of the join links (%s<token>), "+
					"and the template's URL button at Meta %s{{1}}", t.URLBase, links, t.URLBase)
			}
		}
		w, err := notify.NewWhatsApp(wc)
		if err != nil {
			return nil, fmt.Errorf("sessions.notify.whatsapp: %w", err)
		}
		senders[notify.ChannelWhatsApp] = w
		n.channels["whatsapp"], n.whatsapp = true, c.WhatsApp
	}
	if len(n.channels) == 0 {
		return nil, nil
	}
	d, err := notify.New(senders, notify.Options{Logger: log.With("component", "notify"), OnResult: n.result})
	if err != nil {
		return nil, err
	}
	n.d = d
	return n, nil
}

// Has implements Notifier.
func (n *linkNotifier) Has(ch string) bool { return n != nil && n.channels[ch] }

// Deliver implements Notifier.
func (n *linkNotifier) Deliver(ctx context.Context, d Delivery) {
	ref := d.SessionID
	if ref == "" {
		ref = d.AppointmentID
	}
	ref += "." + d.Hash
	cat := n.h.i18n
	lang := orDefault(d.Language, cat.Default())
	loc := time.UTC
	if d.TimeZone != "" {
		if l, err := time.LoadLocation(d.TimeZone); err == nil {
			loc = l // the customer's time zone (the appointment's)
		}
	}
	m := notify.Message{Channel: notify.Channel(d.Channel), To: d.To, Link: d.URL, LinkLabel: cat.T(lang, "msg.link_label"), Ref: ref, Name: d.Customer}
	greet := cat.T(lang, "msg.greet")
	if d.Customer != "" {
		greet = cat.T(lang, "msg.greet_name", "name", d.Customer)
	}
	when := cat.DateTime(lang, d.Start.In(loc))
	short := "" // WhatsApp: the link goes in the template's button
	switch {
	case d.Cancel:
		m.Subject = cat.T(lang, "msg.cancelled.subject", "title", d.Title)
		m.Text = cat.T(lang, "msg.cancelled.text", "greet", greet, "when", when)
		short = m.Text
	case !d.Start.IsZero():
		m.Subject = d.Title
		m.Text = cat.T(lang, "msg.scheduled.text", "greet", greet, "when", when, "url", d.URL)
		short = cat.T(lang, "msg.scheduled.short", "greet", greet, "when", when)
	default:
		m.Subject = cat.T(lang, "msg.now.subject")
		m.Text = cat.T(lang, "msg.now.text", "greet", greet, "url", d.URL, "until", cat.Time(lang, d.ExpiresAt.In(loc)))
		short = cat.T(lang, "msg.now.short", "greet", greet)
	}
	if d.Channel == "email" && !d.Start.IsZero() {
		method, status := notify.MethodRequest, notify.StatusConfirmed
		if d.Cancel {
			method, status = notify.MethodCancel, notify.StatusCancelled
		}
		m.Calendar = &notify.Event{UID: d.AppointmentID + "@split", Sequence: d.Sequence, Method: method, Status: status, Start: d.Start,
			Duration: d.Duration, Summary: d.Title, Description: m.Text, URL: d.URL, Location: d.URL, AttendeeName: d.Customer,
			ReminderBefore: 15 * time.Minute, LinkLabel: m.LinkLabel, Reminder: cat.T(lang, "msg.reminder"), TimeZone: d.TimeZone}
		if d.Cancel {
			m.Calendar.URL, m.Calendar.Location = "", ""
		}
	}
	if d.Channel == "whatsapp" {
		m.Text = short
		if n.whatsapp != nil && n.whatsapp.Template != nil { // nil: not configured (the dispatcher reports it)
			if !n.sent.remember(m, d.ExpiresAt, time.Now()) {
				n.h.log.Warn("too many WhatsApp messages awaiting their status: this one gets no template fallback after a late 131047",
					"ref", m.Ref)
			}
		}
	}
	n.d.Deliver(ctx, m)
}

// result records each attempt's outcome (dispatcher goroutine).
func (n *linkNotifier) result(m notify.Message, r notify.Receipt, err error, attempt int, final bool) {
	id, hash, _ := strings.Cut(m.Ref, ".")
	status := r.Status
	data := map[string]any{"channel": string(m.Channel), "attempt": attempt, "to": notify.MaskAddr(m.To)}
	if err != nil {
		status = "failed"
		if !final {
			status = "retrying"
		}
		data["error"] = err.Error()
	}
	data["status"] = status
	if r.ProviderID != "" {
		data["provider_id"] = r.ProviderID
	}
	if r.Fallback != "" {
		data["fallback"] = r.Fallback
		n.sent.fellBack(m.Ref)
	}
	if hash != "" {
		if e := n.h.store.SetLinkDelivery(context.Background(), hash, r.ProviderID, status); e != nil {
			n.h.log.Warn("cannot record a link delivery", "err", e)
		}
	}
	if err != nil && final {
		n.h.log.Warn("link delivery failed", "channel", string(m.Channel), "to", notify.MaskAddr(m.To), "attempts", attempt, "err", err)
	}
	n.report(id, data)
}

// report records a link.delivery event in session id's history and sends
// a delivery frame to its agents' consoles.
func (n *linkNotifier) report(id string, data map[string]any) {
	s := n.h.Session(id)
	if s == nil {
		return
	}
	text := func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	frame := deliveryMsg{Type: "delivery", Session: id, Channel: text(data["channel"]), Status: text(data["status"]), Fallback: text(data["fallback"])}
	s.Do(func() {
		s.Record("link.delivery", "", data)
		agents := map[string]bool{}
		if a := st(s).agentWaiting; a != "" {
			agents[a] = true
		}
		for _, l := range s.Legs() {
			if (l.Role == session.RoleAgent || l.Role == session.RoleViewer || l.Role == session.RoleInterpreter) && l.Party != "" {
				agents[l.Party] = true
			}
		}
		for a := range agents {
			for _, c := range n.h.agentConns(a) {
				c.send(frame)
			}
		}
	})
}

// close flushes pending deliveries (bounded) and stops the workers.
func (n *linkNotifier) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.d.Close(ctx)
}

// twilioStatus receives Twilio's delivery callbacks (signed).
func (h *Hub) twilioStatus(w http.ResponseWriter, r *http.Request) {
	n, _ := h.notifier.(*linkNotifier)
	if n == nil || n.twilio == nil {
		writeErr(w, http.StatusNotFound, "not_found", "SMS is not configured")
		return
	}
	st, err := notify.ParseTwilioStatus(r, n.twilio.AuthToken, h.publicURL()+r.URL.RequestURI())
	if err != nil {
		writeErr(w, http.StatusForbidden, "forbidden", "bad signature")
		return
	}
	if err := h.store.SetLinkDelivery(r.Context(), "", st.MessageSid, st.Status); err != nil {
		h.log.Debug("status for an unknown message", "sid", st.MessageSid)
	}
	if id, _, _ := strings.Cut(st.Ref, "."); id != "" {
		if s := h.Session(id); s != nil {
			s.Do(func() {
				s.Record("link.delivery", "", map[string]any{"channel": "sms", "status": st.Status, "provider_id": st.MessageSid, "error_code": st.ErrorCode})
			})
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// whatsappNotifier is the notifier when WhatsApp is configured.
func (h *Hub) whatsappNotifier() *linkNotifier {
	n, _ := h.notifier.(*linkNotifier)
	if n == nil || n.whatsapp == nil {
		return nil
	}
	return n
}

// whatsappVerify answers Meta's webhook verification request (GET
// /v1/notify/whatsapp?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…).
func (h *Hub) whatsappVerify(w http.ResponseWriter, r *http.Request) {
	n := h.whatsappNotifier()
	if n == nil {
		writeErr(w, http.StatusNotFound, "not_found", "WhatsApp is not configured")
		return
	}
	challenge, err := notify.VerifyWhatsAppSubscription(r.URL.Query(), n.whatsapp.VerifyToken)
	if err != nil {
		h.log.Warn("WhatsApp webhook verification refused (compare hub.verify_token with sessions.notify.whatsapp.verify_token)", "err", err)
		writeErr(w, http.StatusForbidden, "forbidden", "verification failed")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, challenge); err != nil {
		h.log.Debug("WhatsApp webhook verification: cannot answer", "err", err)
	}
}

// whatsappStatus receives WhatsApp's status webhooks (signed with the app
// secret): each status is recorded on the link and in the session's
// history, and a free-form message that failed with 131047 gets the
// template once. It answers at once: the template goes through the
// dispatcher.
func (h *Hub) whatsappStatus(w http.ResponseWriter, r *http.Request) {
	n := h.whatsappNotifier()
	if n == nil {
		writeErr(w, http.StatusNotFound, "not_found", "WhatsApp is not configured")
		return
	}
	wh, err := notify.ParseWhatsAppWebhook(r, n.whatsapp.AppSecret)
	switch {
	case errors.Is(err, notify.ErrSignature):
		h.log.Warn("WhatsApp webhook refused (is sessions.notify.whatsapp.app_secret the app secret, not the verify token?)", "err", err)
		writeErr(w, http.StatusForbidden, "forbidden", "bad signature")
		return
	case err != nil:
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	for _, e := range wh.Errors {
		h.log.Warn("WhatsApp reported an error", "code", e.Code, "title", e.Title, "details", e.Details)
	}
	for _, st := range wh.Statuses {
		n.whatsappStatus(r.Context(), st)
	}
	w.WriteHeader(http.StatusOK)
}

// whatsappStatus records one status and starts the template fallback.
func (n *linkNotifier) whatsappStatus(ctx context.Context, st notify.WhatsAppStatus) {
	if st.PhoneNumberID != "" && st.PhoneNumberID != n.whatsapp.PhoneNumberID {
		n.h.log.Debug("status of another business number's message", "phone_number_id", st.PhoneNumberID)
		return
	}
	status := st.Normalized()
	if err := n.h.store.SetLinkDelivery(ctx, "", st.MessageID, status); err != nil {
		n.h.log.Debug("status for an unknown or superseded message", "id", st.MessageID, "status", status)
	}
	data := map[string]any{"channel": "whatsapp", "status": status, "provider_id": st.MessageID}
	if st.Template {
		data["fallback"] = notify.FallbackTemplate
	}
	if len(st.Errors) > 0 {
		data["error_code"], data["error"] = st.ErrorCode(), st.ErrorText()
	}
	var fallback *notify.Message
	if st.OutsideWindow() && !st.Template { // never answer a failed template with another
		switch m, why := n.sent.fallback(st.Ref, time.Now()); {
		case n.whatsapp.Template == nil:
			data["error"] = "outside the 24-hour customer-service window: WhatsApp accepts only an approved template; " +
				"no template is configured to fall back to (set sessions.notify.whatsapp.template) (" + st.ErrorText() + ")"
		case why != "":
			data["fallback_skipped"] = why
		default:
			data["fallback"] = notify.FallbackTemplate
			fallback = &m
		}
	}
	id, _, _ := strings.Cut(st.Ref, ".")
	n.report(id, data)
	if fallback != nil {
		n.d.Deliver(ctx, *fallback)
	}
}

// waMemoryMax bounds the WhatsApp messages remembered for the fallback.
const waMemoryMax = 10000

// waMemory keeps each WhatsApp message, by Ref, until its link expires, so
// that a late 131047 (a "failed" status webhook) can be answered with the
// template, at most once per Ref. It lives in memory: after a restart a
// late 131047 is recorded without a fallback.
type waMemory struct {
	mu   sync.Mutex
	msgs map[string]*waSent
}

type waSent struct {
	m        notify.Message
	expires  time.Time
	fellBack bool
}

// remember keeps m until expires (24 h when zero); false when full.
func (w *waMemory) remember(m notify.Message, expires, now time.Time) bool {
	if expires.IsZero() {
		expires = now.Add(24 * time.Hour)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.msgs == nil {
		w.msgs = map[string]*waSent{}
	}
	if len(w.msgs) >= waMemoryMax {
		for ref, e := range w.msgs {
			if now.After(e.expires) {
				delete(w.msgs, ref)
			}
		}
		if len(w.msgs) >= waMemoryMax {
			return false
		}
	}
	w.msgs[m.Ref] = &waSent{m: m, expires: expires}
	return true
}

// fellBack notes that ref's template was sent (or tried).
func (w *waMemory) fellBack(ref string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.msgs[ref]; e != nil {
		e.fellBack = true
	}
}

// fallback returns ref's message to send as a template, once; otherwise why not.
func (w *waMemory) fallback(ref string, now time.Time) (notify.Message, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.msgs[ref]
	switch {
	case e == nil:
		return notify.Message{}, "the message is not known to this hub (sent before a restart or by another node, or no reference)"
	case now.After(e.expires):
		delete(w.msgs, ref)
		return notify.Message{}, "the link has expired"
	case e.fellBack:
		return notify.Message{}, "the template was already sent"
	}
	e.fellBack = true
	m := e.m
	m.TemplateOnly = true
	return m, ""
}
