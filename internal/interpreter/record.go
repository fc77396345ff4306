package interpreter

import (
	"math"
	"time"
)

// Event is one history event of an interpreter session, as the session
// recorded it (type, leg, data) — the input of Summarize.
type Event struct {
	At   time.Time
	Type string
	Leg  string
	Data map[string]any
}

// Record is the `interpreter` block of an interpreter session's record
// (docs/interpreter.md §10): what video relay services report — interpreter
// minutes per session, conversation minutes, speed of answer. It is computed
// from the session's history, so a live session, an ended one and a session
// of another node read the same way. Numbers called are never part of it.
type Record struct {
	SignLanguage string `json:"sign_language,omitempty"`
	Language     string `json:"language,omitempty"`
	// WaitSeconds is the speed of answer: from the request to the first
	// interpreter joining; absent while nobody has joined.
	WaitSeconds     *float64       `json:"wait_seconds,omitempty"`
	Interpreters    []Minutes      `json:"interpreters"`
	PhoneCalls      []PhoneCall    `json:"phone_calls"`
	VCOSeconds      float64        `json:"vco_seconds"`
	HCOSeconds      float64        `json:"hco_seconds"`
	SideTalkSeconds float64        `json:"side_talk_seconds"`
	Handoffs        int            `json:"handoffs"`
	RTTLines        map[string]int `json:"rtt_lines"`
	Open            bool           `json:"open"` // the session is live: open intervals run to the time of reading
}

// Minutes is one interpreter's presence in the session.
type Minutes struct {
	Agent       string     `json:"agent"`
	Leg         string     `json:"leg"`
	Purpose     string     `json:"purpose"` // interpret, handoff, team
	Joined      time.Time  `json:"joined"`
	Left        *time.Time `json:"left,omitempty"`
	Seconds     float64    `json:"seconds"`
	LeadSeconds float64    `json:"lead_seconds"`
}

// PhoneCall is one call with the hearing party.
type PhoneCall struct {
	Leg       string     `json:"leg"`
	Direction string     `json:"direction"` // dialled (by the interpreter) or incoming (the hearing party called)
	Started   time.Time  `json:"started"`
	Answered  *time.Time `json:"answered,omitempty"`
	Ended     *time.Time `json:"ended,omitempty"`
	Code      int        `json:"code,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Seconds   float64    `json:"seconds"` // conversation time: from the answer to the end
}

// Summarize builds the record from a session's events in time order. end is
// the session's end, or the time of reading for a live session (open true):
// what is still running is counted up to it.
func Summarize(events []Event, end time.Time, open bool) *Record {
	r := &Record{Interpreters: []Minutes{}, PhoneCalls: []PhoneCall{}, RTTLines: map[string]int{}, Open: open}
	byLeg := map[string]int{} // leg → index in Interpreters
	var requested time.Time
	var lead string
	var leadSince time.Time
	on := map[string]time.Time{} // switch → since when it is on
	phone := map[string]int{}    // leg → index in PhoneCalls
	stopLead := func(at time.Time) {
		if lead == "" {
			return
		}
		if i, ok := byLeg[lead]; ok {
			r.Interpreters[i].LeadSeconds += secs(leadSince, at)
		}
		lead = ""
	}
	toggle := func(key string, e Event, total *float64) {
		v, _ := e.Data["on"].(bool)
		since, was := on[key]
		switch {
		case v && !was:
			on[key] = e.At
		case !v && was:
			*total += secs(since, e.At)
			delete(on, key)
		}
	}
	for _, e := range events {
		switch e.Type {
		case "interpreter.requested":
			requested = e.At
			r.SignLanguage, _ = e.Data["sign_language"].(string)
			r.Language, _ = e.Data["language"].(string)
		case "phone.incoming":
			if requested.IsZero() {
				requested = e.At
			}
			if r.SignLanguage == "" {
				r.SignLanguage, _ = e.Data["sign_language"].(string)
			}
			phone[e.Leg] = len(r.PhoneCalls)
			r.PhoneCalls = append(r.PhoneCalls, PhoneCall{Leg: e.Leg, Direction: "incoming", Started: e.At})
		case "phone.dial":
			phone[e.Leg] = len(r.PhoneCalls)
			r.PhoneCalls = append(r.PhoneCalls, PhoneCall{Leg: e.Leg, Direction: "dialled", Started: e.At})
		case "phone.answered":
			if i, ok := phone[e.Leg]; ok && r.PhoneCalls[i].Answered == nil {
				at := e.At
				r.PhoneCalls[i].Answered = &at
			}
		case "phone.ended":
			if i, ok := phone[e.Leg]; ok && r.PhoneCalls[i].Ended == nil {
				p := &r.PhoneCalls[i]
				at := e.At
				p.Ended = &at
				p.Code = intOf(e.Data["code"])
				p.Reason, _ = e.Data["reason"].(string)
				if p.Answered != nil {
					p.Seconds = secs(*p.Answered, at)
				}
			}
		case "interpreter.joined":
			if _, ok := byLeg[e.Leg]; ok {
				continue
			}
			if r.WaitSeconds == nil && !requested.IsZero() {
				w := secs(requested, e.At)
				r.WaitSeconds = &w
			}
			agent, _ := e.Data["agent"].(string)
			purpose, _ := e.Data["purpose"].(string)
			byLeg[e.Leg] = len(r.Interpreters)
			r.Interpreters = append(r.Interpreters, Minutes{Agent: agent, Leg: e.Leg, Purpose: purpose, Joined: e.At})
			if lead == e.Leg {
				leadSince = e.At // the lead event came first (same instant)
			}
		case "interpreter.lead":
			if lead == e.Leg {
				continue
			}
			stopLead(e.At)
			lead, leadSince = e.Leg, e.At
		case "interpreter.left":
			i, ok := byLeg[e.Leg]
			if !ok || r.Interpreters[i].Left != nil {
				continue
			}
			if lead == e.Leg {
				stopLead(e.At)
			}
			m := &r.Interpreters[i]
			at := e.At
			m.Left = &at
			m.Seconds = secs(m.Joined, at)
		case "interpreter.handoff":
			if st, _ := e.Data["state"].(string); st == "accepted" {
				if p, _ := e.Data["purpose"].(string); p != "team" {
					r.Handoffs++
				}
			}
		case "interpreter.vco":
			toggle("vco", e, &r.VCOSeconds)
		case "interpreter.hco":
			toggle("hco", e, &r.HCOSeconds)
		case "interpreter.side_talk":
			toggle("side_talk", e, &r.SideTalkSeconds)
		case "rtt.text":
			if from, _ := e.Data["from"].(string); from != "" {
				r.RTTLines[from]++
			}
		}
	}
	// what still runs at the end (or now, for a live session)
	stopLead(end)
	for i := range r.Interpreters {
		if m := &r.Interpreters[i]; m.Left == nil {
			m.Seconds = secs(m.Joined, end)
			if !open {
				at := end
				m.Left = &at
			}
		}
	}
	for i := range r.PhoneCalls {
		if p := &r.PhoneCalls[i]; p.Ended == nil && p.Answered != nil {
			p.Seconds = secs(*p.Answered, end)
		}
	}
	for key, since := range on {
		d := secs(since, end)
		switch key {
		case "vco":
			r.VCOSeconds += d
		case "hco":
			r.HCOSeconds += d
		case "side_talk":
			r.SideTalkSeconds += d
		}
	}
	r.VCOSeconds, r.HCOSeconds, r.SideTalkSeconds = round(r.VCOSeconds), round(r.HCOSeconds), round(r.SideTalkSeconds)
	for i := range r.Interpreters {
		r.Interpreters[i].Seconds, r.Interpreters[i].LeadSeconds = round(r.Interpreters[i].Seconds), round(r.Interpreters[i].LeadSeconds)
	}
	for i := range r.PhoneCalls {
		r.PhoneCalls[i].Seconds = round(r.PhoneCalls[i].Seconds)
	}
	return r
}

func secs(from, to time.Time) float64 {
	if to.Before(from) {
		return 0
	}
	return to.Sub(from).Seconds()
}

// round keeps milliseconds: the record is read by people and reporting tools.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func intOf(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case int64:
		return int(n)
	}
	return 0
}
