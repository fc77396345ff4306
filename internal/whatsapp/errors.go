package whatsapp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/split-hub/split/internal/notify"
)

// Sentinel errors, wrapped by *GraphError (compare with errors.Is).
var (
	// ErrUnknownNumber: the phone_number_id is not a configured number.
	ErrUnknownNumber = errors.New("whatsapp: unknown business number")
	// ErrCallingOff: the number has calling off (calling: false, or only
	// sessions.notify.whatsapp is configured).
	ErrCallingOff = errors.New("whatsapp: calling is off for this number")
	// ErrNoPermission (138006): the user has not granted call permission.
	ErrNoPermission = errors.New("whatsapp: no call permission from the user")
	// ErrPermissionRequestLimit (138009): 1 request per 24 h, 2 per 7 days.
	ErrPermissionRequestLimit = errors.New("whatsapp: call-permission request limit reached")
	// ErrCallLimit (138012): connected business-initiated calls per user per 24 h.
	ErrCallLimit = errors.New("whatsapp: business-initiated call limit reached for this user")
	// ErrCallRateLimit (138002 concurrent calls, 138005 call rate, 130429, 4).
	ErrCallRateLimit = errors.New("whatsapp: call rate or concurrency limit")
	// ErrDuplicateCall (138003): a call with this user is already ongoing.
	ErrDuplicateCall = errors.New("whatsapp: a call with this user is already ongoing")
	// ErrSIPEnabled (131055): the number uses SIP signalling; Graph calls are refused.
	ErrSIPEnabled = errors.New("whatsapp: the number is SIP-enabled; Graph call actions are not allowed")
	// ErrCallingDisabled (138000, 138013, 138014): calling is not available on the number.
	ErrCallingDisabled = errors.New("whatsapp: calling is not enabled or not available for this number")
	// ErrOutsideWindow (131047) is notify's: only templates outside the 24 h window.
	ErrOutsideWindow = notify.ErrOutsideWindow
	// ErrUnauthorized (190, HTTP 401 without code) is notify's.
	ErrUnauthorized = notify.ErrUnauthorized
	// ErrInvalid: a request refused before anything was sent.
	ErrInvalid = errors.New("whatsapp: invalid request")
)

// GraphError is Meta's Graph error envelope
// {"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}
// (or a transport failure), with a hub-facing explanation for the codes the
// Calling API uses.
type GraphError struct {
	HTTPStatus int    // 0 for a transport failure
	Code       int    // Meta's code: 138006, 131055, …
	Subcode    int    // error_subcode
	Type       string // OAuthException, …
	Title      string // Meta's message (titles are being deprecated: do not match on it)
	Details    string // error_data.details
	FBTraceID  string
	Message    string // what it means for the hub (the text APIs show)
	Retryable  bool
	RetryAfter time.Duration
	// NextAllowed is when Meta says the action is allowed again (138012's
	// error_data, when it says so).
	NextAllowed time.Time

	kind error
}

func (e *GraphError) Error() string {
	var b strings.Builder
	b.WriteString("whatsapp: graph")
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " [fbtrace_id %s]", e.FBTraceID)
	}
	if e.Retryable {
		b.WriteString(" [retryable]")
	}
	return b.String()
}

// Unwrap lets errors.Is match the Err* sentinels.
func (e *GraphError) Unwrap() error { return e.kind }

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}
