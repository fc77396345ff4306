package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/store"
)

// Scheduled mode: an appointment is a video call at a set time. Its join
// link opens 10 minutes before the start (a lobby with a countdown before
// that) and closes 15 minutes after the end. At join, a session is created
// and routed to the booked agent or queue like any Forward session.
// Appointments live in the store, so they survive restarts; a reminder
// goes out before the start with a fresh link.

const apptScanInterval = 20 * time.Second

// Appointment states.
const (
	apptScheduled = "scheduled"
	apptReminded  = "reminded"
	apptJoined    = "joined"
	apptCancelled = "cancelled"
)

var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

type apptReq struct {
	Start    *time.Time       `json:"start"`
	Duration string           `json:"duration"`
	TimeZone string           `json:"time_zone"`
	Title    string           `json:"title"`
	Customer session.Customer `json:"customer"`
	Channel  string           `json:"channel"` // email (default when the contact is an address), sms, whatsapp, copy
	AgentID  string           `json:"agent_id"`
	Queue    string           `json:"queue"`
	Notes    string           `json:"notes"`
}

type apptView struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Start    time.Time `json:"start"`
	Duration string    `json:"duration"`
	TimeZone string    `json:"time_zone,omitempty"`
	Customer struct {
		Name    string `json:"name,omitempty"`
		Contact string `json:"contact,omitempty"`
	} `json:"customer"`
	AgentID   string    `json:"agent_id,omitempty"`
	Queue     string    `json:"queue,omitempty"`
	Notes     string    `json:"notes,omitempty"`
	State     string    `json:"state"`
	SessionID string    `json:"session_id,omitempty"`
	JoinURL   string    `json:"join_url,omitempty"`
	Delivery  string    `json:"delivery,omitempty"`
	OpensAt   time.Time `json:"opens_at"`
	ClosesAt  time.Time `json:"closes_at"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (h *Hub) apptWindow() (early, late, reminder time.Duration) {
	c := h.cfg.Sessions.Appointments
	return c.OpenBefore, c.CloseAfter, c.Reminder
}

func (h *Hub) viewAppt(a store.Appointment) apptView {
	apptEarly, apptLate, _ := h.apptWindow()
	d := time.Duration(a.DurationSec) * time.Second
	v := apptView{ID: a.ID, Title: a.Title, Start: a.Start.UTC(), Duration: d.String(), TimeZone: a.TimeZone, AgentID: a.AgentID,
		Queue: a.Queue, Notes: a.Notes, State: a.State, SessionID: a.SessionID, OpensAt: a.Start.Add(-apptEarly).UTC(),
		ClosesAt: a.Start.Add(d + apptLate).UTC(), CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
	v.Customer.Name, v.Customer.Contact = a.CustomerName, a.CustomerContact
	return v
}

// validateAppt checks a request against the configuration.
func (h *Hub) validateAppt(req *apptReq, partial bool) error {
	if !partial || req.Start != nil {
		if req.Start == nil || req.Start.IsZero() {
			return fmt.Errorf("%w: start (RFC 3339 time) is required", errBadRequest)
		}
	}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d < time.Minute || d > 8*time.Hour {
			return fmt.Errorf("%w: duration must be between 1m and 8h", errBadRequest)
		}
	}
	if req.TimeZone != "" {
		if _, err := time.LoadLocation(req.TimeZone); err != nil {
			return fmt.Errorf("%w: unknown time_zone %q", errBadRequest, cleanText(req.TimeZone))
		}
	}
	if partial {
		return nil
	}
	c := strings.TrimSpace(req.Customer.Contact)
	switch req.Channel {
	case "":
		switch {
		case strings.Contains(c, "@"):
			req.Channel = "email"
		case e164.MatchString(c):
			req.Channel = "sms"
		default:
			req.Channel = "copy"
		}
	case "copy":
	case "email":
		if _, err := mail.ParseAddress(c); err != nil {
			return fmt.Errorf("%w: customer.contact must be an e-mail address for channel email", errBadRequest)
		}
	case "sms", "whatsapp":
		if !e164.MatchString(c) {
			return fmt.Errorf("%w: customer.contact must be an E.164 number (+34600123456) for channel %s", errBadRequest, req.Channel)
		}
	default:
		return fmt.Errorf("%w: channel must be email, sms, whatsapp or copy", errBadRequest)
	}
	if req.Channel != "copy" && (h.notifier == nil || !h.notifier.Has(req.Channel)) {
		return fmt.Errorf("%w: channel %s is not configured (sessions.notify)", errUnavailableErr, req.Channel)
	}
	if req.AgentID != "" {
		if _, err := h.store.GetAgent(context.Background(), req.AgentID); err != nil {
			return fmt.Errorf("%w: unknown agent %q", errBadRequest, cleanText(req.AgentID))
		}
	}
	if req.Queue == "" && req.AgentID == "" && len(h.cfg.Sessions.Queues) > 0 {
		req.Queue = h.cfg.Sessions.Queues[0].Name
	}
	if req.Queue != "" {
		if _, ok := h.queueConfig(req.Queue); !ok {
			return fmt.Errorf("%w: unknown queue %q", errBadRequest, cleanText(req.Queue))
		}
	}
	if len(req.Title) > 200 || len(req.Notes) > 2000 || len(req.Customer.Name) > 128 || len(req.Customer.Contact) > 256 {
		return fmt.Errorf("%w: title (200 bytes), notes (2000), customer name (128) or contact (256) too long", errBadRequest)
	}
	return nil
}

func (h *Hub) apiCreateAppointment(w http.ResponseWriter, r *http.Request) {
	var req apptReq
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := h.validateAppt(&req, false); err != nil {
		h.writeHubErr(w, err)
		return
	}
	d := 30 * time.Minute
	if req.Duration != "" {
		d, _ = time.ParseDuration(req.Duration)
	}
	_, apptLate, _ := h.apptWindow()
	if req.Start.Add(d + apptLate).Before(time.Now()) {
		writeErr(w, http.StatusBadRequest, "bad_request", "the appointment would already be over")
		return
	}
	lang := ""
	if req.Customer.Language != "" {
		lang = h.i18n.Match(req.Customer.Language) // a language the hub has (es-MX → es)
	}
	title := req.Title
	if title == "" {
		title = h.i18n.T(orDefault(lang, h.i18n.Default()), "msg.now.subject")
	}
	a := store.Appointment{ID: session.NewID(), Title: title, Start: req.Start.UTC(), DurationSec: int(d / time.Second), TimeZone: req.TimeZone,
		CustomerName: req.Customer.Name, CustomerContact: strings.TrimSpace(req.Customer.Contact), AgentID: req.AgentID, Queue: req.Queue,
		Notes: req.Notes, State: apptScheduled, Language: lang}
	if _, _, rem := h.apptWindow(); time.Until(a.Start) <= rem {
		a.State = apptReminded // the invitation itself is the reminder
	}
	if err := h.store.PutAppointment(r.Context(), a); err != nil {
		h.internalErr(w, "appointment", err)
		return
	}
	v := h.viewAppt(a)
	url, err := h.sendApptLink(r.Context(), a, req.Channel, 0, false)
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	v.JoinURL, v.Delivery = url, req.Channel
	writeJSON(w, http.StatusCreated, v)
}

// sendApptLink issues a join link valid for the appointment's window and
// sends it (with an invitation for e-mail).
func (h *Hub) sendApptLink(ctx context.Context, a store.Appointment, channel string, seq int, reminder bool) (string, error) {
	apptEarly, apptLate, _ := h.apptWindow()
	d := time.Duration(a.DurationSec) * time.Second
	o := LinkOptions{AppointmentID: a.ID, Role: roleCustomer, NotBefore: a.Start.Add(-apptEarly), ExpiresAt: a.Start.Add(d + apptLate),
		Channel: channel, Recipient: a.CustomerContact, Language: a.Language}
	url, tok, err := h.CreateLink(ctx, o)
	if err != nil {
		return "", err
	}
	if channel != "copy" && h.notifier != nil {
		h.notifier.Deliver(ctx, Delivery{Hash: hashToken(tok), AppointmentID: a.ID, Channel: channel, To: a.CustomerContact, URL: url,
			Customer: a.CustomerName, ExpiresAt: o.ExpiresAt, Start: a.Start, Duration: d, Title: a.Title, Sequence: seq,
			Language: a.Language, TimeZone: a.TimeZone})
	}
	return url, nil
}

func (h *Hub) apiListAppointments(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	for k, p := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(k); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeErr(w, http.StatusBadRequest, "bad_request", k+" must be an RFC 3339 time")
				return
			}
			*p = t
		}
	}
	list, err := h.store.ListAppointments(r.Context(), from, to)
	if err != nil {
		h.internalErr(w, "appointment", err)
		return
	}
	out := make([]apptView, 0, len(list))
	for _, a := range list {
		out = append(out, h.viewAppt(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"appointments": out})
}

func (h *Hub) getAppt(w http.ResponseWriter, r *http.Request) (store.Appointment, bool) {
	id := r.PathValue("id")
	if !uuidRE.MatchString(id) {
		writeErr(w, http.StatusNotFound, "not_found", "no such appointment (an appointment id is a UUID)")
		return store.Appointment{}, false
	}
	a, err := h.store.GetAppointment(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "not_found", "no appointment "+id)
		return a, false
	}
	if err != nil {
		h.internalErr(w, "appointment", err)
		return a, false
	}
	return a, true
}

func (h *Hub) apiGetAppointment(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.getAppt(w, r); ok {
		writeJSON(w, http.StatusOK, h.viewAppt(a))
	}
}

// apiRescheduleAppointment: PATCH start/duration/notes; the old links are
// revoked and a new invitation (SEQUENCE+1) goes out.
func (h *Hub) apiRescheduleAppointment(w http.ResponseWriter, r *http.Request) {
	a, ok := h.getAppt(w, r)
	if !ok {
		return
	}
	var req apptReq
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := h.validateAppt(&req, true); err != nil {
		h.writeHubErr(w, err)
		return
	}
	if a.State == apptCancelled || a.State == apptJoined {
		writeErr(w, http.StatusConflict, "conflict", "the appointment is "+a.State)
		return
	}
	if req.Start != nil {
		a.Start = req.Start.UTC()
	}
	if req.Duration != "" {
		d, _ := time.ParseDuration(req.Duration)
		a.DurationSec = int(d / time.Second)
	}
	if req.Notes != "" {
		a.Notes = req.Notes
	}
	if req.TimeZone != "" {
		a.TimeZone = req.TimeZone
	}
	a.State, a.UpdatedAt = apptScheduled, time.Time{}
	if err := h.store.PutAppointment(r.Context(), a); err != nil {
		h.internalErr(w, "appointment", err)
		return
	}
	_, _ = h.store.RevokeJoinLinks(r.Context(), a.ID, time.Now())
	ch := channelFor(a.CustomerContact)
	if ch != "copy" && (h.notifier == nil || !h.notifier.Has(ch)) {
		ch = "copy"
	}
	url, err := h.sendApptLink(r.Context(), a, ch, 1, false)
	if err != nil {
		h.writeHubErr(w, err)
		return
	}
	v := h.viewAppt(a)
	v.JoinURL, v.Delivery = url, ch
	writeJSON(w, http.StatusOK, v)
}

func channelFor(contact string) string {
	switch {
	case strings.Contains(contact, "@"):
		return "email"
	case e164.MatchString(contact):
		return "sms"
	}
	return "copy"
}

// apiCancelAppointment: DELETE — state cancelled, links revoked, the
// customer told (an iCalendar CANCEL by e-mail).
func (h *Hub) apiCancelAppointment(w http.ResponseWriter, r *http.Request) {
	a, ok := h.getAppt(w, r)
	if !ok {
		return
	}
	if a.State == apptCancelled {
		writeErr(w, http.StatusConflict, "conflict", "the appointment is already cancelled")
		return
	}
	a.State, a.UpdatedAt = apptCancelled, time.Time{}
	if err := h.store.PutAppointment(r.Context(), a); err != nil {
		h.internalErr(w, "appointment", err)
		return
	}
	_, _ = h.store.RevokeJoinLinks(r.Context(), a.ID, time.Now())
	if ch := channelFor(a.CustomerContact); ch != "copy" && h.notifier != nil && h.notifier.Has(ch) {
		h.notifier.Deliver(r.Context(), Delivery{AppointmentID: a.ID, Channel: ch, To: a.CustomerContact, Customer: a.CustomerName,
			Start: a.Start, Duration: time.Duration(a.DurationSec) * time.Second, Title: a.Title, Sequence: 2, Cancel: true,
			Language: a.Language, TimeZone: a.TimeZone})
	}
	w.WriteHeader(http.StatusNoContent)
}

// appointmentSession returns the live session of an appointment, creating
// and routing it at the first join.
func (h *Hub) appointmentSession(ctx context.Context, id string) (string, error) {
	h.apptMu.Lock()
	defer h.apptMu.Unlock()
	a, err := h.store.GetAppointment(ctx, id)
	if err != nil {
		return "", errLinkInvalid
	}
	if a.State == apptCancelled {
		return "", errLinkRevoked
	}
	if a.SessionID != "" && h.Session(a.SessionID) != nil {
		return a.SessionID, nil
	}
	s, err := h.newSession("", session.ModeScheduled, "appointment", session.Customer{Name: a.CustomerName, Contact: a.CustomerContact,
		Context: map[string]string{"appointment": a.ID, "title": a.Title}})
	if err != nil {
		return "", err
	}
	target := "queue:" + a.Queue
	if a.AgentID != "" {
		target = "agent:" + a.AgentID
	}
	s.Call(func() { s.SetScoped("target", target) })
	h.endIfNobodyCame(s, linkWSTokenTTL)
	a.SessionID, a.State, a.UpdatedAt = s.ID, apptJoined, time.Time{}
	if err := h.store.PutAppointment(ctx, a); err != nil {
		h.log.Warn("cannot record the appointment's session", "appointment", a.ID, "err", err)
	}
	return s.ID, nil
}

// endIfNobodyCame ends an appointment's session that nobody joined within
// d of its creation (the link was redeemed, but the socket token it gave
// expired unused): nothing else would end a session without a leg.
func (h *Hub) endIfNobodyCame(s *session.Session, d time.Duration) {
	h.goAsync(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-s.Done(): // Hub.Close ends every session first
			return
		case <-t.C:
		}
		s.Do(func() { h.endUnjoined(s) })
	})
}

// endUnjoined ends an appointment's session that no party ever joined
// (session goroutine): the customer redeemed the link and left before
// starting the call. The next redemption of the link opens a new session.
func (h *Hub) endUnjoined(s *session.Session) {
	if s.Ended() || s.Info().Mode != session.ModeScheduled || s.State() != session.StateCreated ||
		len(s.Legs()) > 0 || len(st(s).offers) > 0 {
		return
	}
	h.end(s, 487, "Customer abandoned")
}

// remind runs in the hub's scheduler: appointments starting within
// apptReminder get one reminder with a fresh link.
func (h *Hub) remind(ctx context.Context, now time.Time) {
	_, _, apptReminder := h.apptWindow()
	if apptReminder <= 0 {
		return
	}
	list, err := h.store.ListAppointments(ctx, now, now.Add(apptReminder))
	if err != nil {
		h.log.Warn("appointments: cannot list", "err", err)
		return
	}
	for _, a := range list {
		if a.State != apptScheduled {
			continue
		}
		ch := channelFor(a.CustomerContact) // e-mail too: not every client shows the invitation's VALARM
		if ch != "copy" && h.notifier != nil && h.notifier.Has(ch) {
			if _, err := h.sendApptLink(ctx, a, ch, 0, true); err != nil {
				h.log.Warn("appointments: reminder failed", "appointment", a.ID, "err", err)
				continue
			}
		}
		a.State, a.UpdatedAt = apptReminded, time.Time{}
		if err := h.store.PutAppointment(ctx, a); err != nil {
			h.log.Warn("appointments: cannot mark reminded", "appointment", a.ID, "err", err)
		}
	}
}

// schedule runs the reminder scan until ctx ends (owned by the hub).
func (h *Hub) schedule(ctx context.Context) {
	every := apptScanInterval
	if _, _, r := h.apptWindow(); r > 0 && r/10 < every {
		every = max(r/10, time.Second) // short reminders need a finer scan
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		h.remind(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
