package hub

import (
	"errors"
	"strings"
	"testing"
)

// TestParseFrameRefusesControlCharacters: what a frame says about the
// customer is stored and sent on (SIP headers, links); a NUL byte in it
// made the store refuse the whole session record, so the frame is refused.
func TestParseFrameRefusesControlCharacters(t *testing.T) {
	for _, in := range []string{
		`{"type":"start","sdp":"v=0","name":"a\u0000b"}`,
		`{"type":"start","sdp":"v=0","language":"es\u0000"}`,
		`{"type":"start","sdp":"v=0","context":{"k\u0000":"v"}}`,
		`{"type":"start","sdp":"v=0","context":{"k":"v\u001b[31m"}}`,
		`{"type":"invite","to":"+34600\u0000123456"}`,
		`{"type":"dtmf","digits":"1\u0000"}`,
		`{"type":"login","queues":["a\u0000"]}`,
		`{"type":"hangup","session":"s\u0000"}`,
		`{"type":"start","sdp":"v=0","language":"` + strings.Repeat("e", 40) + `"}`,
	} {
		if _, err := parseFrame([]byte(in)); !errors.Is(err, errBadRequest) {
			t.Errorf("parseFrame(%q) = %v, want a bad_request", in, err)
		}
	}
	if _, err := parseFrame([]byte(`{"type":"start","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n","name":"Ana María","context":{"note":"line 1\nline 2"}}`)); err != nil {
		t.Fatalf("a good frame: %v", err)
	}
}
