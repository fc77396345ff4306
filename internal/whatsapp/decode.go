package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/split-hub/split/internal/notify"
)

// Delivery is what one webhook POST carried, by kind, each in body order.
type Delivery struct {
	Connects          []CallEvent
	CallStatuses      []StatusEvent
	Terminates        []TerminateEvent
	PermissionReplies []PermissionEvent
	Messages          []InboundMessage
	MessageStatuses   []notify.WhatsAppStatus
	Errors            []notify.WhatsAppError // value.errors[] not tied to a call or message
}

// Len is the number of events in d (errors not counted).
func (d Delivery) Len() int {
	return len(d.Connects) + len(d.CallStatuses) + len(d.Terminates) + len(d.PermissionReplies) +
		len(d.Messages) + len(d.MessageStatuses)
}

// MaxBody bounds a webhook body (Meta batches up to 1000 updates).
const MaxBody = 4 << 20

// flexInt accepts a JSON number or a string of digits (Meta sends
// timestamps as strings and durations and codes as numbers).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		fl, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || fl > 1<<62 || fl < -(1<<62) {
			return errors.New("not an integer")
		}
		n = int64(fl)
	}
	*f = flexInt(n)
	return nil
}

// unix turns Unix seconds into a UTC time (zero for 0 or absurd values).
func (f flexInt) unix() time.Time {
	if f <= 0 || f > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

type rawError struct {
	Code      flexInt `json:"code"`
	Title     string  `json:"title"`
	Message   string  `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e rawError) value() notify.WhatsAppError {
	return notify.WhatsAppError{Code: int(e.Code), Title: e.Title, Message: e.Message, Details: e.ErrorData.Details}
}

// lenientErrors decodes value.errors / calls[].errors, ignoring an error
// object of the wrong shape rather than losing the delivery.
type lenientErrors []rawError

func (l *lenientErrors) UnmarshalJSON(b []byte) error {
	var raws []json.RawMessage
	if json.Unmarshal(b, &raws) != nil {
		return nil
	}
	for _, r := range raws {
		var e rawError
		if json.Unmarshal(r, &e) == nil {
			*l = append(*l, e)
		}
	}
	return nil
}

type rawContact struct {
	WaID         string `json:"wa_id"`
	UserID       string `json:"user_id"`
	ParentUserID string `json:"parent_user_id"`
	Profile      struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
}

func (c rawContact) value() Contact {
	return Contact{WaID: c.WaID, UserID: c.UserID, ParentUserID: c.ParentUserID, Name: c.Profile.Name, Username: c.Profile.Username}
}

type rawCall struct {
	ID              string  `json:"id"`
	From            string  `json:"from"`
	FromUserID      string  `json:"from_user_id"`
	To              string  `json:"to"`
	ToUserID        string  `json:"to_user_id"`
	Event           string  `json:"event"`
	Timestamp       flexInt `json:"timestamp"`
	Direction       string  `json:"direction"`
	Status          string  `json:"status"`
	StartTime       flexInt `json:"start_time"`
	EndTime         flexInt `json:"end_time"`
	Duration        flexInt `json:"duration"`
	CTAPayload      string  `json:"cta_payload"`
	DeeplinkPayload string  `json:"deeplink_payload"`
	BizOpaque       string  `json:"biz_opaque_callback_data"`
	Session         *struct {
		SDPType string `json:"sdp_type"`
		SDP     string `json:"sdp"`
	} `json:"session"`
	// connection.webrtc.sdp is the legacy JSON-wrapped copy: not decoded.
	Errors lenientErrors `json:"errors"`
}

type rawCallStatus struct {
	ID              string        `json:"id"`
	Type            string        `json:"type"`
	Status          string        `json:"status"`
	Timestamp       flexInt       `json:"timestamp"`
	RecipientID     string        `json:"recipient_id"`
	RecipientUserID string        `json:"recipient_user_id"`
	BizOpaque       string        `json:"biz_opaque_callback_data"`
	Errors          lenientErrors `json:"errors"`
}

type rawMessage struct {
	From       string  `json:"from"`
	FromUserID string  `json:"from_user_id"`
	ID         string  `json:"id"`
	Timestamp  flexInt `json:"timestamp"`
	Type       string  `json:"type"`
	Context    *struct {
		ID string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Button *struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"list_reply"`
		CallPermissionReply *struct {
			Response            string  `json:"response"`
			IsPermanent         bool    `json:"is_permanent"`
			ExpirationTimestamp flexInt `json:"expiration_timestamp"`
			ResponseSource      string  `json:"response_source"`
		} `json:"call_permission_reply"`
	} `json:"interactive"`
}

type rawValue struct {
	Metadata struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []rawContact    `json:"contacts"`
	Calls    []rawCall       `json:"calls"`
	Statuses []rawCallStatus `json:"statuses"`
	Messages []rawMessage    `json:"messages"`
	Errors   lenientErrors   `json:"errors"`
}

type rawHook struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// Decode reads a webhook body (already verified). Unknown fields and event
// types are ignored, and so is a change whose value has an unexpected
// shape (the rest of the delivery is kept); a body that is not a JSON
// webhook envelope gives an error wrapping ErrInvalid.
func Decode(body []byte) (Delivery, error) {
	var h rawHook
	if err := json.Unmarshal(body, &h); err != nil {
		return Delivery{}, fmt.Errorf("%w: webhook body: %v", ErrInvalid, err)
	}
	var d Delivery
	for _, e := range h.Entry {
		for _, c := range e.Changes {
			var v rawValue
			if len(c.Value) == 0 || json.Unmarshal(c.Value, &v) != nil {
				continue
			}
			switch c.Field {
			case "calls":
				d.addCalls(v)
			case "messages", "":
				d.addMessages(v)
			}
		}
	}
	// Statuses of the hub's messages, decoded the way the notifier always has.
	if wh, err := notify.DecodeWhatsAppWebhook(body); err == nil {
		d.MessageStatuses = wh.Statuses
	}
	return d, nil
}

// contactFor finds the contact of a user among contacts[]: by wa_id or
// user_id, else the only one.
func contactFor(cs []rawContact, waID, userID string) Contact {
	for _, c := range cs {
		if (waID != "" && c.WaID == waID) || (userID != "" && c.UserID == userID) {
			ct := c.value()
			if ct.WaID == "" {
				ct.WaID = waID
			}
			if ct.UserID == "" {
				ct.UserID = userID
			}
			return ct
		}
	}
	if len(cs) == 1 && (waID == "" && userID == "" || cs[0].WaID == "" && cs[0].UserID == "") {
		return cs[0].value()
	}
	return Contact{WaID: waID, UserID: userID}
}

func (d *Delivery) addCalls(v rawValue) {
	pnid := v.Metadata.PhoneNumberID
	var valueErrs []notify.WhatsAppError
	for _, e := range v.Errors {
		valueErrs = append(valueErrs, e.value())
	}
	for _, c := range v.Calls {
		if c.ID == "" {
			continue
		}
		dir := strings.ToUpper(strings.TrimSpace(c.Direction))
		userWa, userID := c.From, c.FromUserID
		if dir == BusinessInitiated {
			userWa, userID = c.To, c.ToUserID
		}
		ct := contactFor(v.Contacts, userWa, userID)
		switch strings.ToLower(strings.TrimSpace(c.Event)) {
		case "connect":
			ev := CallEvent{PhoneNumberID: pnid, DisplayNumber: v.Metadata.DisplayPhoneNumber, CallID: c.ID,
				From: c.From, To: c.To, Contact: ct, Direction: dir, CTAPayload: c.CTAPayload,
				DeeplinkPayload: c.DeeplinkPayload, BizOpaque: c.BizOpaque, Timestamp: c.Timestamp.unix()}
			if c.Session != nil {
				ev.SDPType, ev.SDP = strings.ToLower(c.Session.SDPType), c.Session.SDP
			}
			d.Connects = append(d.Connects, ev)
		case "terminate":
			ev := TerminateEvent{PhoneNumberID: pnid, CallID: c.ID, From: c.From, To: c.To, Contact: ct,
				Direction: dir, Status: strings.ToUpper(strings.TrimSpace(c.Status)), StartTime: c.StartTime.unix(),
				EndTime: c.EndTime.unix(), BizOpaque: c.BizOpaque, CTAPayload: c.CTAPayload,
				DeeplinkPayload: c.DeeplinkPayload, Timestamp: c.Timestamp.unix()}
			if c.Duration > 0 && c.Duration < 1<<31 {
				ev.Duration = time.Duration(c.Duration) * time.Second
			}
			for _, e := range c.Errors {
				ev.Errors = append(ev.Errors, e.value())
			}
			ev.Errors = append(ev.Errors, valueErrs...)
			d.Terminates = append(d.Terminates, ev)
		}
	}
	for _, s := range v.Statuses {
		if s.ID == "" || s.Status == "" || (s.Type != "" && !strings.EqualFold(s.Type, "call")) {
			continue
		}
		ev := StatusEvent{PhoneNumberID: pnid, CallID: s.ID, Status: strings.ToUpper(strings.TrimSpace(s.Status)),
			RecipientID: s.RecipientID, RecipientUserID: s.RecipientUserID, BizOpaque: s.BizOpaque,
			Timestamp: s.Timestamp.unix()}
		for _, e := range s.Errors {
			ev.Errors = append(ev.Errors, e.value())
		}
		d.CallStatuses = append(d.CallStatuses, ev)
	}
	if len(v.Calls) == 0 {
		d.Errors = append(d.Errors, valueErrs...)
	}
}

func (d *Delivery) addMessages(v rawValue) {
	pnid := v.Metadata.PhoneNumberID
	for _, m := range v.Messages {
		if m.ID == "" {
			continue
		}
		ct := contactFor(v.Contacts, m.From, m.FromUserID)
		ctx := ""
		if m.Context != nil {
			ctx = m.Context.ID
		}
		ts := m.Timestamp.unix()
		if in := m.Interactive; in != nil && in.CallPermissionReply != nil {
			r := in.CallPermissionReply
			ev := PermissionEvent{PhoneNumberID: pnid, MessageID: m.ID, Contact: ct,
				Accepted: strings.EqualFold(strings.TrimSpace(r.Response), "accept"), Permanent: r.IsPermanent,
				Source: strings.ToLower(r.ResponseSource), ContextID: ctx, Timestamp: ts}
			if ev.Accepted && !ev.Permanent {
				ev.Expires = r.ExpirationTimestamp.unix()
			}
			d.PermissionReplies = append(d.PermissionReplies, ev)
			continue
		}
		msg := InboundMessage{PhoneNumberID: pnid, MessageID: m.ID, Contact: ct, Type: m.Type, ContextID: ctx, Timestamp: ts}
		switch {
		case m.Text != nil:
			msg.Text = m.Text.Body
		case m.Button != nil:
			msg.Text, msg.Payload = m.Button.Text, m.Button.Payload
		case m.Interactive != nil && m.Interactive.ButtonReply != nil:
			msg.Text, msg.Payload = m.Interactive.ButtonReply.Title, m.Interactive.ButtonReply.ID
		case m.Interactive != nil && m.Interactive.ListReply != nil:
			msg.Text, msg.Payload = m.Interactive.ListReply.Title, m.Interactive.ListReply.ID
		}
		d.Messages = append(d.Messages, msg)
	}
	for _, e := range v.Errors {
		d.Errors = append(d.Errors, e.value())
	}
}
