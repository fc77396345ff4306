package rtt

import "errors"

var (
	// ErrShortRED is returned for a red payload whose block headers or
	// block lengths run past the end of the payload (RFC 2198 §3).
	ErrShortRED = errors.New("rtt: red payload truncated")
	// ErrInvalidUTF8 is returned when a T.140 unit is not valid UTF-8
	// (T.140 requires UTF-8; RFC 8865). The text is still returned
	// with U+FFFD in place of the bad bytes, so nothing else is lost.
	ErrInvalidUTF8 = errors.New("rtt: T.140 text is not valid UTF-8")
	// ErrNoT140 is returned by ParseSDP when a media section offers
	// neither t140/1000 nor red/1000 carrying t140.
	ErrNoT140 = errors.New("rtt: media section has no t140/1000 format")
	// ErrBadConfig is returned for an out-of-range configuration value.
	ErrBadConfig = errors.New("rtt: bad configuration")
)
