package gateway

import (
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	ok := []string{
		`{"type":"ping"}`,
		`{"type":"offer","call":"c1","to":"1000","sdp":"v=0","headers":{"X-Account":"42"}}`,
		`{"type":"offer","call":"c1","to":"sip:1000@pbx","sdp":"v=0"}`,
		`{"type":"offer","call":"c1","to":"SIPS:1000@pbx:5061","sdp":"v=0"}`,
		`{"type":"offer","call":"c1","to":"1000@pbx:5060","sdp":"v=0"}`,
		`{"type":"offer","call":"c1","to":"+34600123456","sdp":"v=0"}`,
		`{"type":"answer","call":"k1","sdp":"v=0"}`,
		`{"type":"dtmf","call":"c1","digits":"12#*AD"}`,
		`{"type":"candidate","call":"c1","candidate":null}`,
		`{"type":"hangup","call":"c1","extra":"ignored"}`,
	}
	for _, s := range ok {
		if _, err := parseMessage([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"type":"offer","call":"c1","to":"1000"}`:                                            "sdp",
		`{"type":"offer","call":"c1","sdp":"v=0"}`:                                            "to",
		`{"type":"offer","call":"c1","to":"1","sdp":"v=0","headers":{"From":"x"}}`:            "header",
		`{"type":"offer","call":"c1","to":"1","sdp":"v=0","headers":{"X-A":"a\r\nVia: x"}}`:   "header",
		`{"type":"offer","call":"c1","to":"1","sdp":"v=0","headers":{"User-to-User":"00"}}`:   "header",
		`{"type":"offer","call":"c1","to":"1","sdp":"v=0","headers":{"X-Split-Session":"s"}}`: "header",
		`{"type":"dtmf","call":"c1","digits":"12x"}`:                                          "digits",
		`{"type":"offer","call":"c1","to":"tel:+34600123456","sdp":"v=0"}`:                    "tel: URIs are not dialled",
		`{"type":"offer","call":"c1","to":"TEL:600123456","sdp":"v=0"}`:                       "tel: URIs are not dialled",
		`{"type":"offer","call":"c1","to":"mailto:a@b.c","sdp":"v=0"}`:                        "mailto: URIs",
		`{"type":"hangup"}`:          "missing call",
		`{"type":"fly","call":"c1"}`: "unknown",
		`{"call":"c9",`:              "malformed",
		`{"type":"hangup","call":"` + strings.Repeat("x", 70) + `"}`: "64",
	}
	for s, want := range bad {
		_, err := parseMessage([]byte(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want mention of %q", s, err, want)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`{"type":"offer","call":"c1","to":"1000","sdp":"v=0","headers":{"X-A":"1"}}`))
	f.Add([]byte(`{"type":"dtmf","call":"c1","digits":"1#"}`))
	f.Add([]byte(`{"type":"candidate","call":"c1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if len(m.Call) > 128 {
			t.Fatalf("call id not clipped: %d", len(m.Call))
		}
		if err != nil {
			return
		}
		if m.Type != "ping" && m.Call == "" {
			t.Fatal("accepted a call message without call id")
		}
		for k, v := range m.Headers {
			if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") {
				t.Fatalf("accepted header %q: %q", k, v)
			}
		}
	})
}
