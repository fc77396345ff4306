package mixer

import "errors"

// Sentinel errors returned by Add. Callers compare with errors.Is; codec
// errors also match media.ErrUnsupportedCodec.
var (
	// ErrClosed means the mixer has been closed.
	ErrClosed = errors.New("mixer: closed")
	// ErrDuplicate means the id, or the track, is already in the mixer.
	ErrDuplicate = errors.New("mixer: participant already added")
	// ErrInvalidOptions means New was given options out of range.
	ErrInvalidOptions = errors.New("mixer: invalid options")
	// ErrNilTrack means Add was given a nil track.
	ErrNilTrack = errors.New("mixer: nil track")
)
