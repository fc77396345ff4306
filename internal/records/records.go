// Package records builds a session's call record — the figures contact
// centres report on (queue wait, ring, talk and hold time, agents,
// transfers, media quality, outcome) — from its stored history, and writes
// records as CSV. docs/records.md is the contract.
package records

import (
	"encoding/json"
	"time"

	"github.com/split-hub/split/internal/store"
)

// Outcomes.
const (
	Answered   = "answered"
	Abandoned  = "abandoned"
	Overflowed = "overflowed"
	Unanswered = "unanswered"
)

// Outcomes lists every outcome, for checking filters.
var Outcomes = []string{Answered, Abandoned, Overflowed, Unanswered}

// Channels lists every channel.
var Channels = []string{"web_video", "web_voice", "phone", "phone_video", "whatsapp", "whatsapp_call", "interpreter"}

// DefaultServiceLevel is a queue's service-level threshold when it sets none.
const DefaultServiceLevel = 20 * time.Second

// Record is one ended session's call record.
type Record struct {
	SessionID       string     `json:"session_id"`
	Mode            string     `json:"mode"`
	Channel         string     `json:"channel"`
	EntryPoint      string     `json:"entry_point"`
	Queue           string     `json:"queue"`
	Customer        Customer   `json:"customer"`
	CreatedAt       time.Time  `json:"created_at"`
	QueuedAt        *time.Time `json:"queued_at"`
	AnsweredAt      *time.Time `json:"answered_at"`
	EndedAt         time.Time  `json:"ended_at"`
	DurationMs      int64      `json:"duration_ms"`
	QueueWaitMs     int64      `json:"queue_wait_ms"`
	RingMs          int64      `json:"ring_ms"`
	TalkMs          int64      `json:"talk_ms"`
	HoldMs          int64      `json:"hold_ms"`
	Outcome         string     `json:"outcome"`
	ServiceLevelMet *bool      `json:"service_level_met"`
	Cause           string     `json:"cause"`
	CauseCode       int        `json:"cause_code"`
	Agents          []string   `json:"agents"`
	AgentID         string     `json:"agent_id"`
	Supervisors     []string   `json:"supervisors"`
	Offers          int        `json:"offers"`
	Declined        int        `json:"declined"`
	Transfers       int        `json:"transfers"`
	Legs            []Leg      `json:"legs"`
	Media           Worst      `json:"media"`
	Node            string     `json:"node"`
}

// Customer is who the session was with.
type Customer struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// Leg is one leg of the session.
type Leg struct {
	ID       string     `json:"id"`
	Role     string     `json:"role"`
	Kind     string     `json:"kind"`
	Party    string     `json:"party"`
	JoinedAt time.Time  `json:"joined_at"`
	LeftAt   *time.Time `json:"left_at"`
	Media    *Media     `json:"media"`
}

// Media is a leg's audio figures: what the hub sent the party and received
// from it.
type Media struct {
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	Lost            int64   `json:"lost"`
	LossPct         float64 `json:"loss_pct"`
	JitterMs        float64 `json:"jitter_ms"`
}

// Worst is the worst of the legs' media figures.
type Worst struct {
	MaxLossPct  float64 `json:"max_loss_pct"`
	MaxJitterMs float64 `json:"max_jitter_ms"`
}

// Agent roles: a party of one of these took the call for the contact centre.
var agentRoles = map[string]bool{"agent": true, "agent-path": true, "interpreter": true, "viewer": true}

// Build derives the record of an ended session from its stored row and its
// history, in order. threshold gives a queue's service-level threshold
// (nil, or a zero answer: DefaultServiceLevel). Events it does not know, and
// data it cannot read, are passed over: a record is built from whatever
// history there is.
func Build(s store.Session, events []store.Event, threshold func(queue string) time.Duration) Record {
	r := Record{SessionID: s.ID, Mode: s.Mode, EntryPoint: s.EntryPoint, Queue: s.Queue,
		Customer: Customer{Name: s.CustomerName, Contact: s.CustomerContact}, CreatedAt: s.CreatedAt.UTC(),
		EndedAt: s.EndedAt.UTC(), Cause: s.Cause, CauseCode: s.CauseCode, AgentID: s.AgentID, Node: s.Node,
		Agents: []string{}, Supervisors: []string{}, Legs: []Leg{}}
	var (
		legs        = map[string]int{} // leg id → index in r.Legs
		ringingAt   time.Time          // the last entry into ringing
		answered    time.Time
		heldSince   time.Time
		overflowed  bool
		videoLater  bool
		custKind    string
		custVideo   bool
		lastEnded   time.Time
		stateQueued bool
	)
	addParty := func(list *[]string, p string) {
		for _, x := range *list {
			if x == p {
				return
			}
		}
		*list = append(*list, p)
	}
	for _, e := range events {
		var d map[string]any
		if len(e.Data) > 0 {
			_ = json.Unmarshal(e.Data, &d)
		}
		str := func(k string) string { v, _ := d[k].(string); return v }
		num := func(k string) float64 { v, _ := d[k].(float64); return v }
		at := e.At.UTC()
		switch e.Type {
		case "session.state":
			switch str("to") {
			case "waiting", "ringing":
				if r.QueuedAt == nil && (str("to") == "ringing" || str("for") != "customer") {
					// waiting "for: customer" is a reverse call's agent
					// waiting for the customer's page, not a queue
					t := at
					r.QueuedAt = &t
					stateQueued = true
				}
				if str("to") == "ringing" {
					ringingAt = at
				}
				if q := str("queue"); q != "" && r.Queue == "" {
					r.Queue = q
				}
			case "active":
				if answered.IsZero() {
					answered = at
					if !ringingAt.IsZero() {
						r.RingMs = nonNeg(at.Sub(ringingAt))
					}
				}
			}
		case "session.overflow":
			overflowed = true
		case "agent.offered":
			r.Offers++
		case "agent.declined":
			r.Declined++
		case "session.transferred":
			r.Transfers++
		case "session.held":
			if heldSince.IsZero() {
				heldSince = at
			}
		case "session.resumed":
			if !heldSince.IsZero() {
				r.HoldMs += nonNeg(at.Sub(heldSince))
				heldSince = time.Time{}
			}
		case "session.video_added":
			videoLater = true
		case "session.ended":
			lastEnded = at
		case "leg.joined":
			if e.Leg == "" {
				continue
			}
			role, party := str("role"), str("party")
			legs[e.Leg] = len(r.Legs)
			r.Legs = append(r.Legs, Leg{ID: e.Leg, Role: role, Kind: str("kind"), Party: party, JoinedAt: at})
			switch {
			case role == "customer" && custKind == "":
				custKind, _ = d["kind"].(string)
				custVideo, _ = d["video"].(bool)
			case agentRoles[role] && party != "":
				addParty(&r.Agents, party)
			case role == "supervisor" && party != "":
				addParty(&r.Supervisors, party)
			}
		case "leg.left":
			if i, ok := legs[e.Leg]; ok && r.Legs[i].LeftAt == nil {
				t := at
				r.Legs[i].LeftAt = &t
			}
		case "leg.media":
			i, ok := legs[e.Leg]
			if !ok || (str("kind") != "" && str("kind") != "audio") {
				continue
			}
			m := &Media{PacketsSent: uint64(max(num("packets_sent"), 0)), PacketsReceived: uint64(max(num("packets_received"), 0)),
				Lost: int64(max(num("lost"), 0)), JitterMs: max(num("jitter_ms"), 0)}
			if n := float64(m.PacketsReceived) + float64(m.Lost); n > 0 {
				m.LossPct = round2(float64(m.Lost) / n * 100)
			}
			m.JitterMs = round2(m.JitterMs)
			r.Legs[i].Media = m
			r.Media.MaxLossPct = max(r.Media.MaxLossPct, m.LossPct)
			r.Media.MaxJitterMs = max(r.Media.MaxJitterMs, m.JitterMs)
		}
	}
	if r.EndedAt.IsZero() {
		r.EndedAt = lastEnded
	}
	if answered.IsZero() && !s.AnsweredAt.IsZero() {
		answered = s.AnsweredAt.UTC()
	}
	if !heldSince.IsZero() && !r.EndedAt.IsZero() {
		r.HoldMs += nonNeg(r.EndedAt.Sub(heldSince))
	}
	r.DurationMs = nonNeg(r.EndedAt.Sub(r.CreatedAt))
	switch {
	case !answered.IsZero():
		r.Outcome = Answered
		r.AnsweredAt = &answered
		r.TalkMs = nonNeg(r.EndedAt.Sub(answered))
	case overflowed:
		r.Outcome = Overflowed
	case stateQueued:
		r.Outcome = Abandoned
	default:
		r.Outcome = Unanswered
	}
	if r.QueuedAt != nil {
		end := r.EndedAt
		if r.AnsweredAt != nil {
			end = *r.AnsweredAt
		}
		r.QueueWaitMs = nonNeg(end.Sub(*r.QueuedAt))
		th := DefaultServiceLevel
		if threshold != nil {
			if t := threshold(r.Queue); t > 0 {
				th = t
			}
		}
		met := r.Outcome == Answered && time.Duration(r.QueueWaitMs)*time.Millisecond <= th
		r.ServiceLevelMet = &met
	}
	if r.AgentID == "" && len(r.Agents) > 0 {
		r.AgentID = r.Agents[len(r.Agents)-1]
	}
	r.Channel = channel(r.Mode, custKind, custVideo, videoLater)
	return r
}

func channel(mode, kind string, video, videoLater bool) string {
	switch {
	case kind == "whatsapp-call":
		return "whatsapp_call"
	case mode == "whatsapp":
		return "whatsapp"
	case mode == "interpreter":
		return "interpreter"
	case kind == "sip" && videoLater:
		return "phone_video"
	case kind == "sip":
		return "phone"
	case video:
		return "web_video"
	default:
		return "web_voice"
	}
}

func nonNeg(d time.Duration) int64 { return max(d.Milliseconds(), 0) }

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
