package interpreter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ev := func(s float64, typ, leg string, data map[string]any) Event {
		return Event{At: at(s), Type: typ, Leg: leg, Data: data}
	}
	events := []Event{
		ev(0, "interpreter.requested", "", map[string]any{"sign_language": "ssp", "language": "es"}),
		ev(12.5, "interpreter.lead", "L1", map[string]any{"agent": "ana"}),
		ev(12.5, "interpreter.joined", "L1", map[string]any{"agent": "ana", "purpose": "interpret"}),
		ev(20, "phone.dial", "P1", map[string]any{"trunk": "pstn"}),
		ev(25, "phone.answered", "P1", nil),
		ev(30, "interpreter.vco", "", map[string]any{"on": true}),
		ev(40, "interpreter.vco", "", map[string]any{"on": false}),
		ev(50, "interpreter.hco", "", map[string]any{"on": true}),
		ev(60, "rtt.text", "D", map[string]any{"from": "deaf-user", "text": "hello"}),
		ev(61, "rtt.text", "L1", map[string]any{"from": "interpreter", "text": "hi"}),
		ev(62, "rtt.text", "D", map[string]any{"from": "deaf-user", "text": "bye"}),
		ev(100, "interpreter.handoff", "L2", map[string]any{"state": "requested", "purpose": "handoff", "agent": "bob"}),
		ev(110, "interpreter.handoff", "L2", map[string]any{"state": "accepted", "purpose": "handoff", "agent": "bob"}),
		ev(110, "interpreter.joined", "L2", map[string]any{"agent": "bob", "purpose": "handoff"}),
		ev(115, "interpreter.left", "L1", map[string]any{"agent": "ana"}),
		ev(115, "interpreter.lead", "L2", map[string]any{"agent": "bob", "why": "lead left"}),
		ev(200, "phone.ended", "P1", map[string]any{"code": float64(200), "reason": "Phone hung up"}),
		ev(210, "phone.dial", "P2", map[string]any{"trunk": "pstn"}),
		ev(215, "phone.ended", "P2", map[string]any{"code": float64(486), "reason": "Busy Here"}),
	}
	r := Summarize(events, at(300), false)
	if r.SignLanguage != "ssp" || r.Language != "es" {
		t.Errorf("languages %q %q", r.SignLanguage, r.Language)
	}
	if r.WaitSeconds == nil || *r.WaitSeconds != 12.5 {
		t.Errorf("wait %v, want 12.5", r.WaitSeconds)
	}
	if len(r.Interpreters) != 2 {
		t.Fatalf("interpreters %+v", r.Interpreters)
	}
	a, b := r.Interpreters[0], r.Interpreters[1]
	if a.Agent != "ana" || a.Seconds != 102.5 || a.LeadSeconds != 102.5 || a.Left == nil || !a.Left.Equal(at(115)) {
		t.Errorf("first interpreter %+v", a)
	}
	// bob: joined at 110, lead from 115, still there when the session ended at 300
	if b.Agent != "bob" || b.Purpose != "handoff" || b.Seconds != 190 || b.LeadSeconds != 185 || b.Left == nil || !b.Left.Equal(at(300)) {
		t.Errorf("second interpreter %+v", b)
	}
	if len(r.PhoneCalls) != 2 {
		t.Fatalf("phone calls %+v", r.PhoneCalls)
	}
	if p := r.PhoneCalls[0]; p.Direction != "dialled" || p.Seconds != 175 || p.Code != 200 || p.Answered == nil {
		t.Errorf("first phone call %+v", p)
	}
	if p := r.PhoneCalls[1]; p.Seconds != 0 || p.Code != 486 || p.Answered != nil || p.Reason != "Busy Here" {
		t.Errorf("unanswered phone call %+v", p)
	}
	if r.VCOSeconds != 10 || r.HCOSeconds != 250 || r.SideTalkSeconds != 0 {
		t.Errorf("switches vco %v hco %v side talk %v", r.VCOSeconds, r.HCOSeconds, r.SideTalkSeconds)
	}
	if r.Handoffs != 1 || r.RTTLines["deaf-user"] != 2 || r.RTTLines["interpreter"] != 1 {
		t.Errorf("handoffs %d rtt %v", r.Handoffs, r.RTTLines)
	}
	// the record never carries text or numbers
	js, _ := json.Marshal(r)
	for _, secret := range []string{"hello", "bye", "+34"} {
		if strings.Contains(string(js), secret) {
			t.Errorf("the record carries %q: %s", secret, js)
		}
	}

	// live: open intervals run to the time of reading, nobody has left yet
	live := Summarize(events[:9], at(70), true)
	if m := live.Interpreters[0]; m.Left != nil || m.Seconds != 57.5 || m.LeadSeconds != 57.5 {
		t.Errorf("live interpreter %+v", m)
	}
	if p := live.PhoneCalls[0]; p.Ended != nil || p.Seconds != 45 {
		t.Errorf("live phone call %+v", p)
	}
	if !live.Open || live.HCOSeconds != 20 {
		t.Errorf("live: open %v hco %v", live.Open, live.HCOSeconds)
	}

	// a hearing-initiated session: the incoming call is the start
	in := Summarize([]Event{
		ev(0, "phone.incoming", "P", map[string]any{"sign_language": "ase"}),
		ev(4, "interpreter.lead", "L", map[string]any{"agent": "ana"}),
		ev(4, "interpreter.joined", "L", map[string]any{"agent": "ana", "purpose": "interpret"}),
		ev(4, "phone.answered", "P", nil),
	}, at(64), false)
	if in.SignLanguage != "ase" || in.WaitSeconds == nil || *in.WaitSeconds != 4 || in.PhoneCalls[0].Direction != "incoming" || in.PhoneCalls[0].Seconds != 60 {
		t.Errorf("hearing-initiated %+v", in)
	}
	// nothing happened: empty lists, not null
	if js, _ := json.Marshal(Summarize(nil, t0, true)); !strings.Contains(string(js), `"interpreters":[]`) || !strings.Contains(string(js), `"phone_calls":[]`) {
		t.Errorf("empty record %s", js)
	}
}
