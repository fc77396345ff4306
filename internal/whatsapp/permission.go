package whatsapp

import (
	"context"
	"errors"
	"time"
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
	NextRequestAt time.Time // when a permission request is allowed again, zero if now
	Source        string    // "store" or "meta": where Status came from
}

// Limits of the Calling API (research §7).
const (
	PermissionRequestsPer24h = 1
	PermissionRequestsPer7d  = 2
	BusinessCallsPer24h      = 100
	TemporaryPermission      = 7 * 24 * time.Hour
)

// Permission tells whether the number pnid may call user: the store first
// (grants recorded from call_permission_reply webhooks), else Meta's GET
// call_permissions (then recorded); limits are counted per (number, user)
// over 24 h / 7 days.
func (s *Service) Permission(ctx context.Context, pnid, user string) (Permission, error) {
	return Permission{}, errors.New("todo")
}

// RequestPermission sends an interactive call_permission_request with body
// (optional text) to user, or, outside the 24 h window (131047), the
// number's permission_template when configured. It refuses without
// sending (ErrPermissionRequestLimit, with the next allowed time in the
// message) when the hub's own count says Meta would refuse.
func (s *Service) RequestPermission(ctx context.Context, pnid, user, body string) error {
	return errors.New("todo")
}

// SendCallButton sends an interactive voice_call message: a button that
// starts a WhatsApp call to the business; payload (≤512) comes back as
// cta_payload in the call's connect webhook.
func (s *Service) SendCallButton(ctx context.Context, pnid, user, body, payload string) error {
	return errors.New("todo")
}
