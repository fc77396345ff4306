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

func TestParseAgentState(t *testing.T) {
	for st := StateLoggedOut; st <= StateWrapUp; st++ {
		if got := ParseAgentState(st.String()); got != st {
			t.Errorf("ParseAgentState(%q) = %v", st, got)
		}
	}
	if got := ParseAgentState("dancing"); got != StateLoggedOut {
		t.Errorf("ParseAgentState(dancing) = %v, want logged_out", got)
	}
}

func TestAgentStateJSONRoundTrip(t *testing.T) {
	in := AgentStatus{ID: "a1", State: StateRinging}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out AgentStatus
	if err := json.Unmarshal(b, &out); err != nil || out.State != StateRinging {
		t.Fatalf("round trip = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"State":"dancing"}`), &out); err == nil {
		t.Fatal("an unknown state was accepted")
	}
}
