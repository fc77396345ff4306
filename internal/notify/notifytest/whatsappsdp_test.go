package notifytest

import (
	"strings"
	"testing"
)

// FuzzCheckCallSDP: the validator never panics, and what it accepts has
// CRLF line ends, exactly one audio m-line and a sha-256 fingerprint.
func FuzzCheckCallSDP(f *testing.F) {
	f.Add("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n"+
		"a=fingerprint:sha-256 AB:CD\r\na=setup:active\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n", false)
	f.Add("v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 0\n", true)
	f.Add("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:sha-256 AB\r\na=setup:actpass\r\na=rtcp-mux\r\n", true)
	f.Fuzz(func(t *testing.T, sdp string, g711 bool) {
		if checkCallSDP(sdp, g711) != "" {
			return
		}
		if strings.Contains(strings.ReplaceAll(sdp, "\r\n", ""), "\n") || strings.Count(sdp, "\r\nm=") != 1 ||
			!strings.Contains(sdp, "\r\nm=audio ") || !strings.Contains(sdp, "a=fingerprint:") {
			t.Fatalf("accepted %q", sdp)
		}
	})
}

func TestCheckCallSDP(t *testing.T) {
	base := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n" +
		"a=fingerprint:sha-256 AB:CD\r\na=setup:active\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n"
	pcmu := strings.Replace(base, "opus/48000/2", "PCMU/8000", 1)
	for _, c := range []struct {
		sdp    string
		g711   bool
		detail string
	}{
		{base, false, ""},
		{pcmu, true, ""},
		{pcmu, false, "PCMA/PCMU only when enabled"},
		{"", false, "required"},
		{strings.TrimSuffix(base, "\r\n"), false, "last line"},
		{strings.Replace(base, "UDP/TLS/RTP/SAVPF", "RTP/AVP", 1), false, "UDP/TLS/RTP/SAVPF"},
		{strings.Replace(base, "a=rtcp-mux\r\n", "", 1), false, "rtcp-mux"},
		{strings.Replace(base, "a=setup:active", "a=setup:holdconn", 1), false, "setup"},
		{strings.Replace(base, "a=ice-pwd:p\r\n", "", 1), false, "ice-pwd"},
		{strings.Replace(base, "t=0 0\r\n", "t=0 0\r\r\n", 1), false, "stray CR"},
		{strings.Replace(base, "t=0 0\r\n", "t=0 0\r\n\r\n", 1), false, "not <type>=<value>"},
		{strings.Replace(base, "m=audio 9 UDP/TLS/RTP/SAVPF 111 126", "m=audio 9", 1), false, "malformed m-line"},
		{strings.Replace(base, "\r\nm=audio", "\r\nm=nope", 1), false, "audio"},
	} {
		if got := checkCallSDP(c.sdp, c.g711); (c.detail == "") != (got == "") || !strings.Contains(got, c.detail) {
			t.Errorf("%q: got %q, want %q", c.sdp, got, c.detail)
		}
	}
}
