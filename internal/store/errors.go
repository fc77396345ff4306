package store

import "errors"

// Sentinel errors returned by this package, wrapped with context. Callers
// compare with errors.Is.
var (
	// ErrNotFound means the record addressed by id or name does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a record with the same id already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrInvalid means the caller passed bad input: an empty id, text that is
	// not valid UTF-8, a negative duration, a malformed DSN, and so on.
	ErrInvalid = errors.New("store: invalid argument")
)
