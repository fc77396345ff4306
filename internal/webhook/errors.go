package webhook

import "errors"

// Sentinel errors returned by this package. Callers compare with errors.Is.
var (
	// ErrInvalidEndpoint means an Endpoint given to New is unusable: a URL
	// that is not absolute http(s), an empty secret or a bad event filter.
	ErrInvalidEndpoint = errors.New("webhook: invalid endpoint")
	// ErrInvalidOptions means an Options field given to New is out of range.
	ErrInvalidOptions = errors.New("webhook: invalid options")
	// ErrUnflushed is returned by Close when its context ended before every
	// queued event was delivered or given up; the rest were abandoned.
	ErrUnflushed = errors.New("webhook: pending deliveries abandoned")

	// ErrMalformedSignature means a signature header cannot be parsed.
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	// ErrSignatureMismatch means no v1 signature matches the body and secret.
	ErrSignatureMismatch = errors.New("webhook: signature mismatch")
	// ErrStaleSignature means the signature is authentic but its timestamp
	// is further from now than the tolerance (a replay, or clock skew).
	ErrStaleSignature = errors.New("webhook: signature timestamp outside tolerance")
)
