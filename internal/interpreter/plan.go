package interpreter

import "github.com/split-hub/split/internal/session"

// Controls are the session's switches (docs/interpreter.md §4.2).
type Controls struct {
	VCO      bool // voice carry-over: the deaf user's voice to the phone (and the interpreters)
	HCO      bool // hearing carry-over: the phone's voice to the deaf user
	SideTalk bool // the lead talks to the deaf user only; the phone hears nothing from the lead
	// VCOMutesInterpreter: while VCO is on the phone does not hear the lead.
	VCOMutesInterpreter bool
}

// Plan is the session.Policy of an interpreter session: the controls and
// the lead. It is owned by the session goroutine (the hub changes it there
// and then calls Session.Replan), so it needs no lock.
type Plan struct {
	Controls
	LeadLeg string // the lead interpreter's leg id ("": none yet)
}

// party is what a leg is in the matrix.
type party int

const (
	other      party = iota
	deafUser         // D: the customer
	lead             // L: the lead interpreter (or the ACD queue leg standing in for it)
	second           // S: a team partner or an incoming interpreter
	phoneParty       // P: the hearing party on the telephone
)

func (p *Plan) party(l *session.Leg) party {
	switch l.Role {
	case session.RoleCustomer:
		return deafUser
	case session.RolePhoneParty:
		return phoneParty
	case session.RoleInterpreter, session.RoleAgent, session.RoleACD:
		if l.ID == p.LeadLeg {
			return lead
		}
		return second
	}
	return other
}

// Hears implements session.Policy: the table of docs/interpreter.md §4.2.
func (p *Plan) Hears(listener, speaker *session.Leg) bool {
	return p.hears(p.party(listener), p.party(speaker))
}

func (p *Plan) hears(to, from party) bool {
	c := p.Controls
	switch from {
	case lead:
		switch to {
		case phoneParty:
			return !c.SideTalk && !(c.VCO && c.VCOMutesInterpreter)
		case second:
			return true
		case deafUser:
			return c.SideTalk
		}
	case phoneParty:
		switch to {
		case lead, second, phoneParty:
			return true
		case deafUser:
			return c.HCO
		}
	case second:
		return to == lead || to == second
	case deafUser:
		switch to {
		case phoneParty, lead, second:
			return c.VCO
		}
	}
	return false // supervisors and other roles are refused in interpreter sessions; silence is the safe answer
}

// Lead implements session.Policy: the customer sees the lead's camera.
func (p *Plan) Lead() string { return p.LeadLeg }

// Summary says in words who hears whom, for the consoles' routing line
// ("Phone hears: you. Deaf user hears: nothing. You hear: phone.") from the
// lead's point of view.
func (p *Plan) Summary() (phoneHears, deafHears []string) {
	for _, x := range []struct {
		from party
		name string
	}{{lead, "interpreter"}, {deafUser, "deaf user"}} {
		if p.hears(phoneParty, x.from) {
			phoneHears = append(phoneHears, x.name)
		}
	}
	for _, x := range []struct {
		from party
		name string
	}{{lead, "interpreter"}, {phoneParty, "phone"}} {
		if p.hears(deafUser, x.from) {
			deafHears = append(deafHears, x.name)
		}
	}
	return phoneHears, deafHears
}
