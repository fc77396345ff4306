package interpreter

import (
	"errors"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/session"
)

// TestMatrixTruthTable checks docs/interpreter.md §4.2's truth table row by
// row: "LP" means the phone (P) hears the lead (L), and so on.
func TestMatrixTruthTable(t *testing.T) {
	D := &session.Leg{ID: "d", Role: session.RoleCustomer}
	L := &session.Leg{ID: "l", Role: session.RoleInterpreter}
	S := &session.Leg{ID: "s", Role: session.RoleInterpreter}
	P := &session.Leg{ID: "p", Role: session.RolePhoneParty}
	V := &session.Leg{ID: "v", Role: session.RoleSupervisor}
	legs := map[byte]*session.Leg{'D': D, 'L': L, 'S': S, 'P': P}
	rows := []struct {
		name string
		c    Controls
		on   string // speaker→listener pairs heard; every other pair among D, L, S, P is not
	}{
		{"default", Controls{}, "LP PL PS LS SL"},
		{"VCO on", Controls{VCO: true}, "LP PL PS LS SL DP DL DS"},
		{"VCO on, vco_mutes_interpreter", Controls{VCO: true, VCOMutesInterpreter: true}, "PL PS LS SL DP DL DS"},
		{"HCO on", Controls{HCO: true}, "LP PL PS LS SL PD"},
		{"VCO + HCO", Controls{VCO: true, HCO: true}, "LP PL PS LS SL DP DL DS PD"},
		{"side-talk", Controls{SideTalk: true}, "PL PS LS SL LD"},
		{"side-talk + VCO + HCO", Controls{SideTalk: true, VCO: true, HCO: true}, "PL PS LS SL LD DP DL DS PD"},
	}
	for _, r := range rows {
		p := &Plan{Controls: r.c, LeadLeg: "l"}
		want := map[string]bool{}
		for _, pair := range strings.Fields(r.on) {
			want[pair] = true
		}
		for _, from := range "DLSP" {
			for _, to := range "DLSP" {
				if from == to {
					continue
				}
				pair := string(from) + string(to)
				if got := p.Hears(legs[byte(to)], legs[byte(from)]); got != want[pair] {
					t.Errorf("%s: %c hears %c = %v, want %v", r.name, to, from, got, want[pair])
				}
			}
		}
		for _, x := range []*session.Leg{D, L, S, P} {
			if p.Hears(V, x) || p.Hears(x, V) {
				t.Errorf("%s: a supervisor is in the audio (%s)", r.name, x.ID)
			}
		}
	}
}

// The lead changes: the new lead is heard by the phone, the old one (now a
// second interpreter) is not, and the customer sees the new lead.
func TestLeadChange(t *testing.T) {
	P := &session.Leg{ID: "p", Role: session.RolePhoneParty}
	A := &session.Leg{ID: "a", Role: session.RoleInterpreter}
	B := &session.Leg{ID: "b", Role: session.RoleInterpreter}
	p := &Plan{LeadLeg: "a"}
	if !p.Hears(P, A) || p.Hears(P, B) {
		t.Fatal("before: the phone must hear a only")
	}
	p.LeadLeg = "b"
	if p.Hears(P, A) || !p.Hears(P, B) || p.Lead() != "b" {
		t.Fatal("after: the phone must hear b only, and the customer see b")
	}
}

func TestSummary(t *testing.T) {
	p := &Plan{LeadLeg: "l"}
	ph, d := p.Summary()
	if strings.Join(ph, ",") != "interpreter" || len(d) != 0 {
		t.Errorf("default: phone hears %v, deaf user hears %v", ph, d)
	}
	p.SideTalk, p.HCO = true, true
	ph, d = p.Summary()
	if len(ph) != 0 || strings.Join(d, ",") != "interpreter,phone" {
		t.Errorf("side-talk + HCO: phone hears %v, deaf user hears %v", ph, d)
	}
}

func TestDialPolicy(t *testing.T) {
	p := DialPolicy{CountryCode: "34", Dial: config.Interpreter{}.WithDefaults().Dial}
	p.Dial.Deny = []string{"+34806*"}
	for _, c := range []struct {
		in, want string
		err      error
		placed   int
	}{
		{in: "910 000 300", want: "+34910000300"},
		{in: "+34 910-000-300", want: "+34910000300"},
		{in: "0034910000300", want: "+34910000300"},
		{in: "112", err: ErrEmergency},
		{in: "+34112", err: ErrEmergency}, // the normalised form of 112 is not a way around
		{in: "911", err: ErrEmergency},
		{in: "806123456", err: ErrDenied},
		{in: "+15551230000", err: ErrNational},
		{in: "", err: ErrNoNumber},
		{in: "91a000300", err: ErrBadNumber},
		{in: "91+000300", err: ErrBadNumber},
		{in: "910000300", err: ErrMaxCalls, placed: 10},
	} {
		got, err := p.Check(c.in, c.placed)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%q: %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
	_, err := p.Check("112", 0)
	var ee *EmergencyError
	if !errors.As(err, &ee) || ee.Message != config.DefaultEmergencyMessage {
		t.Errorf("emergency refusal %v: must carry the configured message", err)
	}
	p.Dial.Allow = []string{"+1555*"}
	if n, err := p.Check("+15551230000", 0); err != nil || n != "+15551230000" {
		t.Errorf("allowed international: %q %v", n, err)
	}
	if _, err := p.Check("910000300", 0); !errors.Is(err, ErrDenied) {
		t.Errorf("national number outside allow: %v", err)
	}
}
