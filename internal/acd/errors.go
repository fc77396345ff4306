package acd

import "errors"

// Sentinel errors returned by this package, usually wrapped with the ID they
// concern. Callers compare with errors.Is.
var (
	// ErrUnknownQueue means no queue has that name.
	ErrUnknownQueue = errors.New("acd: unknown queue")
	// ErrUnknownAgent means the agent never logged in.
	ErrUnknownAgent = errors.New("acd: unknown agent")
	// ErrUnknownSession means the session is neither queued, ringing nor in a call.
	ErrUnknownSession = errors.New("acd: unknown session")
	// ErrNotOffered means the agent is not ringing for that session.
	ErrNotOffered = errors.New("acd: session not offered to agent")
	// ErrAgentNotReady means the agent cannot take an offer now.
	ErrAgentNotReady = errors.New("acd: agent not ready")
	// ErrDuplicate means the session is already known, or the agent is already logged in.
	ErrDuplicate = errors.New("acd: duplicate")
	// ErrLoggedOut means the agent is logged out.
	ErrLoggedOut = errors.New("acd: agent logged out")
	// ErrNotInCall means the agent is not busy with that session.
	ErrNotInCall = errors.New("acd: agent not in that call")
	// ErrAlreadyOffered means the session is already ringing another agent.
	ErrAlreadyOffered = errors.New("acd: session already offered")
	// ErrInvalidConfig means New got an invalid queue, dispatcher or option.
	ErrInvalidConfig = errors.New("acd: invalid config")
	// ErrClosed means the ACD was closed.
	ErrClosed = errors.New("acd: closed")
)
