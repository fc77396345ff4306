package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors returned by this package, usually wrapped with detail.
// Callers compare with errors.Is.
var (
	// ErrInvalid means a Message, Event or config was rejected before
	// anything was sent (bad number or address, link not http(s), body too
	// long). Never retryable.
	ErrInvalid = errors.New("notify: invalid")
	// ErrNoSender means the Dispatcher has no Sender for the message's channel.
	ErrNoSender = errors.New("notify: no sender for channel")
	// ErrQueueFull means the channel's queue was full; the message was not queued.
	ErrQueueFull = errors.New("notify: queue full")
	// ErrClosed means the Dispatcher was closed before the message was delivered.
	ErrClosed = errors.New("notify: dispatcher closed")
	// ErrSignature means a webhook request did not carry a valid provider signature.
	ErrSignature = errors.New("notify: invalid webhook signature")

	// ErrOutsideWindow is wrapped by a *ProviderError when WhatsApp refuses a
	// free-form message because the customer has not written in the last 24
	// hours (Graph error 131047): only an approved template can be sent.
	ErrOutsideWindow = errors.New("notify: outside the WhatsApp 24 h customer-service window")
	// ErrTemplate is wrapped by a *ProviderError when WhatsApp refused the
	// template message itself (Graph 132xxx: the name or language does not
	// exist, the parameter count or format does not match, the template is
	// paused or disabled). Never retryable: the configuration must change.
	ErrTemplate = errors.New("notify: WhatsApp template refused")
	// ErrUnauthorized is wrapped by a *ProviderError when the provider rejected
	// our credentials (Twilio 20003, Graph 190, SMTP 535).
	ErrUnauthorized = errors.New("notify: provider rejected the credentials")
	// ErrRateLimited is wrapped by a *ProviderError when the provider asked us
	// to slow down (HTTP 429, Twilio 20429, Graph 4/80007/130429/131056).
	ErrRateLimited = errors.New("notify: provider rate limit")
)

// ProviderError is a failure reported by a provider (or by the transport to
// it). Retryable says whether the same message may succeed later unchanged;
// the Dispatcher retries only those.
type ProviderError struct {
	Channel    Channel
	HTTPStatus int    // HTTP status of the response; 0 for SMTP and transport errors
	Code       string // the provider's code: Twilio "21211", Graph "131047", SMTP "550"
	Message    string // the provider's text, plus our explanation for well-known codes
	Retryable  bool
	RetryAfter time.Duration // from a Retry-After header, when the provider sent one

	kind error // one of the Err* sentinels above, or nil
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notify: %s provider error", e.Channel)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " code %s", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Retryable {
		b.WriteString(" [retryable]")
	}
	return b.String()
}

// Unwrap lets errors.Is match ErrOutsideWindow, ErrTemplate, ErrUnauthorized and ErrRateLimited.
func (e *ProviderError) Unwrap() error { return e.kind }

// Retryable reports whether err is worth retrying unchanged: a *ProviderError
// marked Retryable. Validation errors, context errors and unknown errors are not.
func Retryable(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe) && pe.Retryable
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
