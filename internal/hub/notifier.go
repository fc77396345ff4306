package hub

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
		w, err := notify.NewWhatsApp(notify.WhatsAppConfig{BaseURL: c.WhatsApp.BaseURL, Version: c.WhatsApp.Version,
			PhoneNumberID: c.WhatsApp.PhoneNumberID, AccessToken: c.WhatsApp.AccessToken})
		if err != nil {
			return nil, fmt.Errorf("sessions.notify.whatsapp: %w", err)
		}
		senders[notify.ChannelWhatsApp] = w
		n.channels["whatsapp"] = true
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
	m := notify.Message{Channel: notify.Channel(d.Channel), To: d.To, Link: d.URL, LinkLabel: "Join video call", Ref: ref}
	greet := "Hello"
	if d.Customer != "" {
		greet += " " + d.Customer
	}
	switch {
	case d.Cancel:
		m.Subject = "Cancelled: " + d.Title
		m.Text = fmt.Sprintf("%s, your video call on %s was cancelled.", greet, d.Start.UTC().Format("Mon 2 Jan 15:04 MST"))
	case !d.Start.IsZero():
		m.Subject = d.Title
		m.Text = fmt.Sprintf("%s, your video call is on %s. Join here: %s", greet, d.Start.UTC().Format("Mon 2 Jan 15:04 MST"), d.URL)
	default:
		m.Subject = "Your video call"
		m.Text = fmt.Sprintf("%s, an agent is waiting for you on a video call. Join here: %s (valid until %s)", greet, d.URL, d.ExpiresAt.UTC().Format("15:04 MST"))
	}
	if d.Channel == "email" && !d.Start.IsZero() {
		method, status := notify.MethodRequest, notify.StatusConfirmed
		if d.Cancel {
			method, status = notify.MethodCancel, notify.StatusCancelled
		}
		m.Calendar = &notify.Event{UID: d.AppointmentID + "@split", Sequence: d.Sequence, Method: method, Status: status, Start: d.Start,
			Duration: d.Duration, Summary: d.Title, Description: m.Text, URL: d.URL, Location: d.URL, AttendeeName: d.Customer,
			ReminderBefore: 15 * time.Minute}
		if d.Cancel {
			m.Calendar.URL, m.Calendar.Location = "", ""
		}
	}
	if d.Channel == "whatsapp" {
		m.Text = strings.TrimSuffix(strings.SplitN(m.Text, " Join here:", 2)[0], ".") + "."
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
	if hash != "" {
		if e := n.h.store.SetLinkDelivery(context.Background(), hash, r.ProviderID, status); e != nil {
			n.h.log.Warn("cannot record a link delivery", "err", e)
		}
	}
	if err != nil && final {
		n.h.log.Warn("link delivery failed", "channel", string(m.Channel), "to", notify.MaskAddr(m.To), "attempts", attempt, "err", err)
	}
	if s := n.h.Session(id); s != nil {
		frame := map[string]any{"type": "delivery", "session": id, "channel": string(m.Channel), "status": status}
		s.Do(func() {
			s.Record("link.delivery", "", data)
			agents := map[string]bool{}
			if a := st(s).agentWaiting; a != "" {
				agents[a] = true
			}
			for _, l := range s.Legs() {
				if (l.Role == session.RoleAgent || l.Role == session.RoleViewer) && l.Party != "" {
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
