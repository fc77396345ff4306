package sipua

import (
	"errors"
	"testing"

	"github.com/split-hub/split/internal/config"
)

// TestResolveTrunkNames: what a route, a transfer, a REFER or the softphone
// dials reaches a trunk by its host or, without a port, by its name
// (sip:6000@acd → the trunk "acd", Request-URI at its host and port); any
// other host is refused; config check (config.TargetTrunk) agrees with
// Resolve on every target.
func TestResolveTrunkNames(t *testing.T) {
	cfg := config.Default()
	cfg.SIP.Trunks = []config.Trunk{
		{Name: "acd", URI: "sip:acd.example.com:5070", Transport: "udp"},
		{Name: "pbx", URI: "sip:10.0.0.5", Transport: "udp"},
	}
	cfg.SIP.DefaultTo = "pbx"
	u := &UA{cfg: cfg}
	for _, tc := range []struct {
		dest, trunk, ruri string
		err               error
	}{
		{dest: "sip:6000@acd", trunk: "acd", ruri: "sip:6000@acd.example.com:5070"},
		{dest: "sip:6000@ACD", trunk: "acd", ruri: "sip:6000@acd.example.com:5070"},
		{dest: "6000@acd", trunk: "acd", ruri: "sip:6000@acd.example.com:5070"},
		{dest: "sip:6000@acd;user=phone", trunk: "acd", ruri: "sip:6000@acd.example.com:5070;user=phone"},
		{dest: "sip:6000@acd.example.com", trunk: "acd", ruri: "sip:6000@acd.example.com:5070"},
		{dest: "sip:6000@acd.example.com:5070", trunk: "acd", ruri: "sip:6000@acd.example.com:5070"},
		{dest: "sip:1000@pbx", trunk: "pbx", ruri: "sip:1000@10.0.0.5"},
		{dest: "1000", trunk: "pbx", ruri: "sip:1000@10.0.0.5"},
		{dest: "sip:6000@acd:5070", err: ErrNoTrunk},
		{dest: "sip:6000@acd.example.com:5071", err: ErrNoTrunk},
		{dest: "sip:6000@acd-typo", err: ErrNoTrunk},
		{dest: "sip:6000@evil.example.net", err: ErrNoTrunk},
		{dest: "sip:6000@acd>", err: ErrBadTarget},
		{dest: "", err: ErrBadTarget},
	} {
		tr, to, err := u.Resolve(tc.dest)
		switch {
		case tc.err != nil:
			if !errors.Is(err, tc.err) {
				t.Errorf("Resolve(%q) = %v %v, want %v", tc.dest, to.String(), err, tc.err)
			}
		case err != nil:
			t.Errorf("Resolve(%q): %v", tc.dest, err)
		case tr.Name != tc.trunk || to.String() != tc.ruri:
			t.Errorf("Resolve(%q) = trunk %s %s, want %s %s", tc.dest, tr.Name, to.String(), tc.trunk, tc.ruri)
		}
		// config check says the same
		ctr, cerr := cfg.TargetTrunk(tc.dest)
		if (cerr == nil) != (err == nil) || (cerr == nil && ctr.Name != tr.Name) {
			t.Errorf("config.TargetTrunk(%q) = %v %v, Resolve: %v", tc.dest, ctr, cerr, err)
		}
	}
}

// FuzzResolveAgreesWithConfigCheck: for any target, Resolve never panics,
// only ever returns a configured trunk, and config check (TargetTrunk)
// accepts exactly what Resolve can dial, on the same trunk.
func FuzzResolveAgreesWithConfigCheck(f *testing.F) {
	for _, s := range []string{"sip:6000@acd", "6000", "6000@pbx", "sips:1@acd.example.com:5070", "sip:1@acd:5070",
		"sip:1@[::1]", "sip:acd", "sip:@acd", "sip:1@acd?X=1", "ACd?@", "@ACd:", "sip:sip:ACd", "@@pBX", "[@pBX", "tel:+341", "sip:1@ACD;transport=tcp", "sip:1@10.0.0.5:0"} {
		f.Add(s)
	}
	cfg := config.Default()
	cfg.SIP.Trunks = []config.Trunk{
		{Name: "acd", URI: "sip:acd.example.com:5070", Transport: "udp"},
		{Name: "pbx", URI: "sip:10.0.0.5", Transport: "udp"},
	}
	cfg.SIP.DefaultTo = "pbx"
	u := &UA{cfg: cfg}
	f.Fuzz(func(t *testing.T, dest string) {
		tr, _, err := u.Resolve(dest)
		ctr, cerr := cfg.TargetTrunk(dest)
		if err == nil && tr != &cfg.SIP.Trunks[0] && tr != &cfg.SIP.Trunks[1] {
			t.Fatalf("Resolve(%q) returned a trunk that is not configured: %+v", dest, tr)
		}
		if (err == nil) != (cerr == nil) || (err == nil && tr != ctr) {
			t.Fatalf("Resolve(%q) = %v, %v; config check: %v, %v", dest, tr, err, ctr, cerr)
		}
	})
}
