package whatsapp

import (
	"time"

	"github.com/split-hub/split/internal/notify"
)

// Handler is what the hub implements. The service calls it on its own
// worker goroutine, one event at a time, in delivery order, after the
// signature check, deduplication (by id and event or status) and the
// staleness filter. A method must not block long: it holds up every later
// webhook.
type Handler interface {
	// CallConnect: USER_INITIATED carries Meta's SDP offer (accept or
	// reject it within the number's accept_timeout); BUSINESS_INITIATED
	// carries Meta's SDP answer to the hub's Connect. A connect whose
	// terminate already came is not delivered.
	CallConnect(CallEvent)
	// CallStatus: RINGING / ACCEPTED / REJECTED of a business-initiated call.
	CallStatus(StatusEvent)
	// CallTerminate: the call ended (COMPLETED or FAILED). It may come
	// before its connect (Meta does not order webhooks): the hub must then
	// refuse that connect if it ever sees it (the service drops it).
	CallTerminate(TerminateEvent)
	// PermissionReply: a call_permission_reply (the service has recorded it
	// in the store already).
	PermissionReply(PermissionEvent)
	// Message: an inbound text, button or interactive reply, or another
	// message type (Type says which; Text is then empty).
	Message(InboundMessage)
	// MessageStatus: sent/delivered/read/failed of the hub's own messages.
	MessageStatus(notify.WhatsAppStatus)
}

// Call directions.
const (
	UserInitiated     = "USER_INITIATED"
	BusinessInitiated = "BUSINESS_INITIATED"
)

// Call statuses (StatusEvent.Status) and terminate statuses
// (TerminateEvent.Status), always upper case.
const (
	StatusRinging   = "RINGING"
	StatusAccepted  = "ACCEPTED"
	StatusRejected  = "REJECTED"
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
)

// Contact is the WhatsApp user of an event: contacts[] of the webhook.
// Since 2026 a user may be known only by a business-scoped user id (BSUID,
// "US.13491208655302741918"): WaID is then empty.
type Contact struct {
	WaID         string // the user's phone number as digits, "16505551234" ("" for a username-only user)
	UserID       string // BSUID
	ParentUserID string
	Name         string // profile.name
	Username     string // profile.username
}

// Key identifies the user: WaID when known, else UserID.
func (c Contact) Key() string {
	if c.WaID != "" {
		return c.WaID
	}
	return c.UserID
}

// CallEvent is a calls[] entry with event "connect".
type CallEvent struct {
	PhoneNumberID   string // metadata.phone_number_id: the business number
	DisplayNumber   string // metadata.display_phone_number
	CallID          string // "wacid.…"
	From, To        string // user and business (user-initiated) or business and user
	Contact         Contact
	Direction       string // UserInitiated or BusinessInitiated
	SDPType         string // offer (user-initiated) or answer (business-initiated)
	SDP             string // session.sdp as sent (CRLF kept); the legacy connection.webrtc.sdp is ignored
	CTAPayload      string // the call button's payload
	DeeplinkPayload string // wa.me/call/…?biz_payload=
	BizOpaque       string // biz_opaque_callback_data (business-initiated: what Connect sent)
	Timestamp       time.Time
}

// User is the WhatsApp user's key (wa_id, else BSUID).
func (e CallEvent) User() string { return userOf(e.Contact, e.Direction, e.From, e.To) }

// StatusEvent is a statuses[] entry of type "call" (business-initiated calls).
type StatusEvent struct {
	PhoneNumberID   string
	CallID          string
	Status          string // StatusRinging, StatusAccepted, StatusRejected (upper case)
	RecipientID     string // the user's wa_id
	RecipientUserID string // the user's BSUID
	BizOpaque       string
	Timestamp       time.Time
	Errors          []notify.WhatsAppError
}

// User is the WhatsApp user's key (wa_id, else BSUID).
func (e StatusEvent) User() string {
	if e.RecipientID != "" {
		return e.RecipientID
	}
	return e.RecipientUserID
}

// TerminateEvent is a calls[] entry with event "terminate".
type TerminateEvent struct {
	PhoneNumberID   string
	CallID          string
	From, To        string
	Contact         Contact
	Direction       string
	Status          string    // StatusCompleted or StatusFailed (upper case, whatever Meta's casing)
	StartTime       time.Time // zero unless the call was picked up
	EndTime         time.Time
	Duration        time.Duration
	BizOpaque       string
	CTAPayload      string
	DeeplinkPayload string
	Timestamp       time.Time
	Errors          []notify.WhatsAppError // calls[].errors and value.errors
}

// User is the WhatsApp user's key (wa_id, else BSUID).
func (e TerminateEvent) User() string { return userOf(e.Contact, e.Direction, e.From, e.To) }

// Answered reports whether the call was picked up (start_time present).
func (e TerminateEvent) Answered() bool { return !e.StartTime.IsZero() }

// PermissionEvent is an interactive call_permission_reply message.
type PermissionEvent struct {
	PhoneNumberID string
	MessageID     string
	Contact       Contact
	Accepted      bool      // response accept (false: reject)
	Permanent     bool      // is_permanent
	Expires       time.Time // expiration_timestamp (zero when permanent or rejected)
	Source        string    // user_action or automatic
	ContextID     string    // context.id: the request's wamid, or the wacid for an automatic grant after a call
	Timestamp     time.Time
}

// User is the WhatsApp user's key (wa_id, else BSUID).
func (e PermissionEvent) User() string { return e.Contact.Key() }

// InboundMessage is a message from a user.
type InboundMessage struct {
	PhoneNumberID string
	MessageID     string
	Contact       Contact
	Type          string // text, button, interactive, image, …
	Text          string // text.body, or the button's / reply's title
	// Payload is a template quick-reply button's payload, or an interactive
	// button_reply / list_reply id.
	Payload   string
	ContextID string // context.id: the message replied to
	// Keyword is the configured keyword the text starts with ("" none).
	Keyword   string
	Timestamp time.Time
}

// User is the WhatsApp user's key (wa_id, else BSUID).
func (m InboundMessage) User() string { return m.Contact.Key() }

// userOf finds the user of a call: the contact when the webhook named one,
// else the party that is not the business.
func userOf(c Contact, direction, from, to string) string {
	if k := c.Key(); k != "" {
		return k
	}
	if direction == BusinessInitiated {
		return to
	}
	return from
}
