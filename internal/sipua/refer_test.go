package sipua

import "testing"

func TestParseReferTo(t *testing.T) {
	for _, tc := range []struct {
		in, uri, uui string
		ok           bool
	}{
		{"<sip:agent2@acd.example.com?User-to-User=00A1B2%3Bencoding%3Dhex>", "sip:agent2@acd.example.com", "00A1B2;encoding=hex", true},
		{`"Queue" <sip:6001@10.0.0.1:5060;transport=udp?User-to-User=00FF&X-Foo=bar>;tag=x`, "sip:6001@10.0.0.1:5060;transport=udp", "00FF", true},
		{"sip:6001@10.0.0.1", "sip:6001@10.0.0.1", "", true},
		{"<tel:+3491000>", "", "", false},
		{"<sip:a@b?X=%zz>", "", "", false},
		{"<sip:a@b", "", "", false},
		{"<sip:a@b?X-Evil=%0d%0aVia:%20x>", "", "", false},
		{"", "", "", false},
	} {
		u, h, err := ParseReferTo(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("ParseReferTo(%q) err %v, want ok=%v", tc.in, err, tc.ok)
		}
		if !tc.ok {
			continue
		}
		if u.String() != tc.uri || h["User-to-User"] != tc.uui {
			t.Fatalf("ParseReferTo(%q) = %s %v; want %s, UUI %q", tc.in, u.String(), h, tc.uri, tc.uui)
		}
	}
}

func FuzzParseReferTo(f *testing.F) {
	for _, s := range []string{"<sip:agent2@acd?User-to-User=00A1%3Bencoding%3Dhex>", "sip:1@2", "<sip:a@b?x=y&z=%41>", "<<>>", "sip:@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, h, err := ParseReferTo(s)
		if err != nil {
			return
		}
		if u.Host == "" {
			t.Fatalf("accepted %q without a host", s)
		}
		for k, v := range h {
			for _, r := range k + v {
				if r == '\r' || r == '\n' {
					t.Fatalf("header injection through %q", s)
				}
			}
		}
	})
}
