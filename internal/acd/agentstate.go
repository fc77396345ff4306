package acd

import "fmt"

// AgentState is where an agent stands in the distribution cycle.
type AgentState uint8

// Agent states.
const (
	StateLoggedOut AgentState = iota // not logged in; gets no offers
	StateNotReady                    // logged in but paused (also after a missed or declined offer)
	StateReady                       // idle, can be offered a session
	StateRinging                     // offered a session, not yet answered
	StateBusy                        // in a call
	StateWrapUp                      // after-call work; ready again when it ends
)

// String returns the wire name, e.g. "not_ready".
func (s AgentState) String() string {
	switch s {
	case StateLoggedOut:
		return "logged_out"
	case StateNotReady:
		return "not_ready"
	case StateReady:
		return "ready"
	case StateRinging:
		return "ringing"
	case StateBusy:
		return "busy"
	case StateWrapUp:
		return "wrap_up"
	default:
		return "unknown"
	}
}

// MarshalText encodes the state as its String form (for JSON views).
func (s AgentState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseAgentState returns the state whose String is s (StateLoggedOut for
// an unknown name).
func ParseAgentState(s string) AgentState {
	for st := StateLoggedOut; st <= StateWrapUp; st++ {
		if st.String() == s {
			return st
		}
	}
	return StateLoggedOut
}

// UnmarshalText decodes a state's String form; an unknown name is an error.
func (s *AgentState) UnmarshalText(b []byte) error {
	st := ParseAgentState(string(b))
	if st == StateLoggedOut && string(b) != StateLoggedOut.String() {
		return fmt.Errorf("acd: unknown agent state %q", b)
	}
	*s = st
	return nil
}
