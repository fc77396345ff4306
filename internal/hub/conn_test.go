package hub

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"type":"start","sdp":"v=0","name":"Ana","context":{"order":"A-1"}}`, true},
		{`{"type":"ready","ready":true}`, true},
		{`{"type":"transfer","session":"x","to":"queue:default"}`, true},
		{`{`, false},
		{`{}`, false},
		{`[]`, false},
		{`{"type":"start","name":"` + strings.Repeat("x", 200) + `"}`, false},
		{`{"type":"start","context":{"` + strings.Repeat("k", 65) + `":"v"}}`, false},
		{`{"type":"start","sdp":"` + strings.Repeat("a", 70000) + `"}`, false},
		{`{"type":"ready","ready":"yes"}`, false},
	} {
		_, err := parseFrame([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("parseFrame(%.60q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errBadRequest) {
			t.Errorf("parseFrame(%.60q) error %v is not a bad_request", tc.in, err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{`{"type":"start","sdp":"v=0"}`, `{"type":"accept","leg":"l","sdp":""}`, `{"type":"candidate","candidate":{"candidate":"x"}}`, `{"type":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseFrame(b)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("error %v is not a bad_request", err)
			}
			return
		}
		if m.Type == "" || len(m.SDP) > 64<<10 || len(m.Name) > 128 {
			t.Fatalf("accepted an invalid frame: %+v", m)
		}
	})
}

func TestRouteMatches(t *testing.T) {
	// Monday 2026-11-30 10:00 UTC = 11:00 in Madrid
	now := mustTime(t, "2026-11-30T10:00:00Z")
	es := sessionCustomer("es-ES", map[string]string{"tier": "gold"})
	for _, tc := range []struct {
		name string
		r    routeCase
		want bool
	}{
		{"any", routeCase{}, true},
		{"entry", routeCase{entry: "other"}, false},
		{"language prefix", routeCase{lang: "es"}, true},
		{"language other", routeCase{lang: "en"}, false},
		{"context", routeCase{ctx: map[string]string{"tier": "gold"}}, true},
		{"context other", routeCase{ctx: map[string]string{"tier": "silver"}}, false},
		{"weekday", routeCase{days: []string{"mon"}}, true},
		{"weekend", routeCase{days: []string{"sat", "sun"}}, false},
		{"hours in Madrid", routeCase{hours: "11:00-12:00", tz: "Europe/Madrid"}, true},
		{"hours in UTC", routeCase{hours: "11:00-12:00"}, false},
		{"overnight", routeCase{hours: "20:00-11:00", tz: "Europe/Madrid"}, false},
		{"overnight in", routeCase{hours: "20:00-11:30", tz: "Europe/Madrid"}, true},
	} {
		if got := routeMatches(tc.r.route(), "web", es, now); got != tc.want {
			t.Errorf("%s: match = %v, want %v", tc.name, got, tc.want)
		}
	}
}
