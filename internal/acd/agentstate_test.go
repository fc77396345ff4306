package acd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAgentStateString(t *testing.T) {
	want := map[AgentState]string{
		StateLoggedOut: "logged_out", StateNotReady: "not_ready", StateReady: "ready",
		StateRinging: "ringing", StateBusy: "busy", StateWrapUp: "wrap_up", StateWrapUp + 1: "unknown",
	}
	for st, s := range want {
		if got := st.String(); got != s {
			t.Errorf("%d.String() = %q, want %q", st, got, s)
		}
	}
	b, err := json.Marshal(AgentStatus{ID: "a1", State: StateWrapUp})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"State":"wrap_up"`; !json.Valid(b) || !strings.Contains(string(b), want) {
		t.Errorf("JSON %s lacks %s", b, want)
	}
}
