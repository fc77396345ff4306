package rtt

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func TestSDPLinesRFC4103(t *testing.T) {
	got := DefaultSDPParams().Lines(11000)
	want := []string{
		"m=text 11000 RTP/AVP 100 98",
		"a=rtpmap:100 red/1000",
		"a=fmtp:100 98/98/98",
		"a=rtpmap:98 t140/1000",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Lines =\n%q\nwant\n%q", got, want)
	}
	plain := SDPParams{T140PT: 96, CPS: 20}.Lines(5000)
	if want := []string{"m=text 5000 RTP/AVP 96", "a=rtpmap:96 t140/1000", "a=fmtp:96 cps=20"}; !reflect.DeepEqual(plain, want) {
		t.Fatalf("plain = %q", plain)
	}
}

func parseMedia(t *testing.T, body string) *sdp.MediaDescription {
	t.Helper()
	var s sdp.SessionDescription
	raw := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + body
	if err := s.Unmarshal([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	return s.MediaDescriptions[len(s.MediaDescriptions)-1]
}

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name string
		body string
		want SDPParams
		err  error
	}{
		{"rfc 4103 red offer", "m=text 11000 RTP/AVP 100 98\r\na=rtpmap:98 t140/1000\r\na=rtpmap:100 red/1000\r\na=fmtp:100 98/98/98\r\n",
			SDPParams{T140PT: 98, REDPT: 100, Redundancy: 2}, nil},
		{"other numbers, one generation, cps, upper case", "m=text 11000 RTP/AVP 101 99\r\na=rtpmap:99 T140/1000\r\na=fmtp:99 cps=20\r\na=rtpmap:101 RED/1000\r\na=fmtp:101 99/99\r\n",
			SDPParams{T140PT: 99, REDPT: 101, Redundancy: 1, CPS: 20}, nil},
		{"plain t140", "m=text 11000 RTP/AVP 98\r\na=rtpmap:98 t140/1000\r\n", SDPParams{T140PT: 98}, nil},
		{"red over another codec ignored", "m=text 11000 RTP/AVP 100 98\r\na=rtpmap:98 t140/1000\r\na=rtpmap:100 red/1000\r\na=fmtp:100 97/97\r\n",
			SDPParams{T140PT: 98}, nil},
		{"red without fmtp ignored", "m=text 11000 RTP/AVP 100 98\r\na=rtpmap:98 t140/1000\r\na=rtpmap:100 red/1000\r\n", SDPParams{T140PT: 98}, nil},
		{"rtpmap for a format not in m= ignored", "m=text 11000 RTP/AVP 100\r\na=rtpmap:98 t140/1000\r\na=rtpmap:100 red/1000\r\n", SDPParams{}, ErrNoT140},
		{"wrong clock", "m=text 11000 RTP/AVP 98\r\na=rtpmap:98 t140/8000\r\n", SDPParams{}, ErrNoT140},
		{"audio section", "m=audio 11000 RTP/AVP 0\r\n", SDPParams{}, ErrNoT140},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSDP(parseMedia(t, tt.body))
			if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
				t.Fatalf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
	if _, err := ParseSDP(nil); !errors.Is(err, ErrNoT140) {
		t.Fatal(err)
	}
}

func TestSDPRoundTripAndConfigs(t *testing.T) {
	p := SDPParams{T140PT: 97, REDPT: 120, Redundancy: 3, CPS: 30}
	got, err := ParseSDP(parseMedia(t, strings.Join(p.Lines(4000), "\r\n")+"\r\n"))
	if err != nil || got != p {
		t.Fatalf("round trip %+v %v, want %+v", got, err, p)
	}
	ec := p.EncoderConfig(9)
	if ec.T140PT != 97 || ec.REDPT != 120 || ec.Redundancy != 3 || ec.SSRC != 9 {
		t.Fatalf("encoder config %+v", ec)
	}
	if ec := (SDPParams{T140PT: 97}).EncoderConfig(1); ec.Redundancy >= 0 {
		t.Fatalf("plain t140 must disable red: %+v", ec)
	}
	for _, p := range []SDPParams{{T140PT: 98}, {T140PT: 100}, p} {
		if _, err := NewDecoder(p.DecoderConfig()); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if _, err := NewEncoder(p.EncoderConfig(1)); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
	}
}

// Lang writes RFC 8373's hlang-send and hlang-recv after the formats.
func TestSDPParamsLang(t *testing.T) {
	p := DefaultSDPParams()
	p.Lang = "es"
	got := strings.Join(p.Lines(5000), "\n")
	if !strings.HasSuffix(got, "a=hlang-send:es\na=hlang-recv:es") {
		t.Errorf("lines:\n%s", got)
	}
	p.Lang = ""
	if got := strings.Join(p.Lines(5000), "\n"); strings.Contains(got, "hlang") {
		t.Errorf("no language, yet:\n%s", got)
	}
}
