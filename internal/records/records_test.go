package records

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/store"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// history builds a session's events: at is seconds after t0.
type history []store.Event

func (h history) add(sec float64, typ, leg string, data map[string]any) history {
	b, _ := json.Marshal(data)
	if data == nil {
		b = nil
	}
	return append(h, store.Event{Seq: int64(len(h) + 1), At: t0.Add(time.Duration(sec * float64(time.Second))), Type: typ, Leg: leg, Data: b})
}

func ended(sec float64) store.Session {
	return store.Session{ID: "s1", Mode: "forward", EntryPoint: "web", CreatedAt: t0, EndedAt: t0.Add(time.Duration(sec * float64(time.Second))),
		Cause: "Customer hung up", CauseCode: 200, Node: "a"}
}

// TestTransferredCall: queued, rang, answered by alice, transferred to bob,
// held once; every figure of the record.
func TestTransferredCall(t *testing.T) {
	h := history{}.
		add(0, "session.created", "", map[string]any{"mode": "forward"}).
		add(0.1, "leg.joined", "c", map[string]any{"role": "customer", "kind": "webrtc", "party": "", "video": true}).
		add(0.2, "session.state", "", map[string]any{"from": "created", "to": "waiting", "queue": "sales", "position": 1}).
		add(3, "agent.offered", "a1", map[string]any{"agent": "alice", "kind": "queue"}).
		add(3, "session.state", "", map[string]any{"from": "waiting", "to": "ringing", "agent": "alice"}).
		add(5, "leg.joined", "a1", map[string]any{"role": "agent", "kind": "webrtc", "party": "alice"}).
		add(5, "session.state", "", map[string]any{"from": "ringing", "to": "active", "agent": "alice"}).
		add(20, "session.held", "", nil).
		add(30, "session.resumed", "", nil).
		add(40, "agent.offered", "a2", map[string]any{"agent": "bob", "kind": "queue"}).
		add(41, "agent.declined", "a2", map[string]any{"agent": "bob"}).
		add(42, "agent.offered", "a3", map[string]any{"agent": "bob", "kind": "queue"}).
		add(44, "leg.joined", "a3", map[string]any{"role": "agent", "kind": "webrtc", "party": "bob"}).
		add(44, "session.transferred", "a3", map[string]any{"from_leg": "a1", "to_agent": "bob"}).
		add(44, "leg.media", "a1", map[string]any{"kind": "audio", "side": "webrtc", "packets_sent": 1950, "packets_received": 1900, "lost": 100, "jitter_ms": 3.456}).
		add(44, "leg.left", "a1", map[string]any{"role": "agent", "code": 200, "reason": "Transferred"}).
		add(50, "leg.joined", "sup", map[string]any{"role": "supervisor", "kind": "webrtc", "party": "carol"}).
		add(60, "leg.media", "c", map[string]any{"kind": "audio", "side": "webrtc", "packets_sent": 3000, "packets_received": 3000, "lost": 0, "jitter_ms": 1.2}).
		add(60, "session.ended", "", map[string]any{"code": 200, "reason": "Customer hung up"})
	s := ended(60)
	s.Queue, s.AgentID = "sales", "bob"
	r := Build(s, h, func(q string) time.Duration {
		if q == "sales" {
			return 10 * time.Second
		}
		return 0
	})
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("outcome", r.Outcome, Answered)
	check("channel", r.Channel, "web_video")
	check("queue", r.Queue, "sales")
	check("queued_at", r.QueuedAt.Sub(t0), 200*time.Millisecond)
	check("answered_at", r.AnsweredAt.Sub(t0), 5*time.Second)
	check("queue_wait_ms", r.QueueWaitMs, int64(4800))
	check("ring_ms", r.RingMs, int64(2000))
	check("talk_ms", r.TalkMs, int64(55000))
	check("hold_ms", r.HoldMs, int64(10000))
	check("duration_ms", r.DurationMs, int64(60000))
	check("service_level_met", *r.ServiceLevelMet, true)
	check("agents", strings.Join(r.Agents, ","), "alice,bob")
	check("agent_id", r.AgentID, "bob")
	check("supervisors", strings.Join(r.Supervisors, ","), "carol")
	check("offers", r.Offers, 3)
	check("declined", r.Declined, 1)
	check("transfers", r.Transfers, 1)
	check("legs", len(r.Legs), 4)
	check("a1 left", r.Legs[1].LeftAt.Sub(t0), 44*time.Second)
	check("a1 loss", r.Legs[1].Media.LossPct, 5.0)
	check("a1 jitter", r.Legs[1].Media.JitterMs, 3.46)
	check("c left", r.Legs[0].LeftAt == nil, true)
	check("max loss", r.Media.MaxLossPct, 5.0)
	check("max jitter", r.Media.MaxJitterMs, 3.46)
	check("a3 media", r.Legs[2].Media == nil, true)
}

func TestOutcomes(t *testing.T) {
	queued := history{}.
		add(0, "leg.joined", "c", map[string]any{"role": "customer", "kind": "sip"}).
		add(1, "session.state", "", map[string]any{"to": "waiting", "where": "acd"})
	cases := []struct {
		name    string
		h       history
		end     float64
		outcome string
		wait    int64
		sl      string // "", "true", "false"
		channel string
	}{
		{"abandoned while waiting", queued, 31, Abandoned, 30000, "false", "phone"},
		{"abandoned while ringing", queued.add(2, "session.state", "", map[string]any{"to": "ringing"}), 5, Abandoned, 4000, "false", "phone"},
		{"overflowed", queued.add(21, "session.overflow", "", map[string]any{"to": "sip:x@y"}), 22, Overflowed, 21000, "false", "phone"},
		{"answered late", queued.add(26, "session.state", "", map[string]any{"to": "active"}).add(27, "session.video_added", "", nil), 90, Answered, 25000, "false", "phone_video"},
		{"never queued", history{}.add(0, "leg.joined", "c", map[string]any{"role": "customer", "kind": "webrtc"}), 3, Unanswered, 0, "", "web_voice"},
		{"a reverse call's agent waiting for the customer", history{}.
			add(0, "leg.joined", "a", map[string]any{"role": "agent", "kind": "webrtc", "party": "alice"}).
			add(1, "session.state", "", map[string]any{"to": "waiting", "for": "customer"}), 60, Unanswered, 0, "", "web_voice"},
		{"whatsapp call", history{}.add(0, "leg.joined", "c", map[string]any{"role": "customer", "kind": "whatsapp-call"}).
			add(0, "session.state", "", map[string]any{"to": "waiting", "queue": "wa"}).add(2, "session.state", "", map[string]any{"to": "active"}), 9, Answered, 2000, "true", "whatsapp_call"},
		{"garbage data", history{{Seq: 1, At: t0, Type: "leg.joined", Leg: "c", Data: json.RawMessage(`[1,2`)},
			{Seq: 2, At: t0, Type: "leg.media", Leg: "nope", Data: json.RawMessage(`{"lost":-5}`)},
			{Seq: 3, At: t0, Type: "session.state", Data: json.RawMessage(`{"to":7}`)}}, 1, Unanswered, 0, "", "web_voice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Build(ended(c.end), c.h, nil)
			sl := ""
			if r.ServiceLevelMet != nil {
				sl = map[bool]string{true: "true", false: "false"}[*r.ServiceLevelMet]
			}
			if r.Outcome != c.outcome || r.QueueWaitMs != c.wait || sl != c.sl || r.Channel != c.channel {
				t.Errorf("outcome %s, wait %d, service level %q, channel %s; want %s, %d, %q, %s",
					r.Outcome, r.QueueWaitMs, sl, r.Channel, c.outcome, c.wait, c.sl, c.channel)
			}
		})
	}
}

// TestCSVMatchesJSON: the CSV row says what the JSON record says, and a
// customer name shaped like a formula is defused.
func TestCSVMatchesJSON(t *testing.T) {
	h := history{}.add(0, "leg.joined", "c", map[string]any{"role": "customer", "kind": "webrtc", "video": true}).
		add(1, "session.state", "", map[string]any{"to": "waiting", "queue": "sales"}).
		add(2, "session.state", "", map[string]any{"to": "active"}).
		add(2, "leg.joined", "a", map[string]any{"role": "agent", "kind": "webrtc", "party": "alice"})
	s := ended(10)
	s.CustomerName, s.CustomerContact = "=HYPERLINK(\"http://x\")", "+34600000000"
	recs := []Record{Build(s, h, nil), Build(ended(5), nil, nil)}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(Columns, ",") {
		t.Fatalf("rows %d, header %v", len(rows), rows[0])
	}
	col := map[string]int{}
	for i, c := range Columns {
		col[c] = i
	}
	row := rows[1]
	js, _ := json.Marshal(recs[0])
	var m map[string]any
	_ = json.Unmarshal(js, &m)
	for _, k := range []string{"session_id", "mode", "channel", "queue", "outcome", "agent_id", "cause", "node"} {
		if row[col[k]] != m[k] {
			t.Errorf("%s: CSV %q, JSON %v", k, row[col[k]], m[k])
		}
	}
	for _, k := range []string{"duration_ms", "queue_wait_ms", "talk_ms", "cause_code", "offers"} {
		if row[col[k]] != jsonNum(m[k]) {
			t.Errorf("%s: CSV %q, JSON %v", k, row[col[k]], m[k])
		}
	}
	if row[col["queued_at"]] != "2026-12-01T10:00:01Z" || row[col["service_level_met"]] != "true" || row[col["agents"]] != "alice" {
		t.Errorf("queued_at %q, service_level_met %q, agents %q", row[col["queued_at"]], row[col["service_level_met"]], row[col["agents"]])
	}
	if got := row[col["customer_name"]]; got != "'=HYPERLINK(\"http://x\")" {
		t.Errorf("a formula in a name: %q", got)
	}
	if got := row[col["customer_contact"]]; got != "+34600000000" {
		t.Errorf("a phone number is a number, not a formula: %q", got)
	}
	if rows[2][col["queued_at"]] != "" || rows[2][col["service_level_met"]] != "" {
		t.Errorf("a session never queued: queued_at %q, service_level_met %q", rows[2][col["queued_at"]], rows[2][col["service_level_met"]])
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// FuzzBuild: any history builds a record without panicking, and the
// record's figures hold together.
func FuzzBuild(f *testing.F) {
	f.Add([]byte(`{"to":"waiting","queue":"q"}`), []byte(`{"to":"active"}`), []byte(`{"role":"agent","party":"a","kind":"sip"}`), 3.0, 7.0)
	f.Add([]byte(`{"kind":"audio","lost":5,"packets_received":-3,"jitter_ms":1e308}`), []byte(`null`), []byte(`{}`), -1.0, 1e9)
	f.Fuzz(func(t *testing.T, d1, d2, d3 []byte, a, b float64) {
		types := []string{"session.state", "leg.joined", "leg.media", "leg.left", "session.held", "session.resumed", "session.overflow"}
		var h history
		for i, d := range [][]byte{d1, d2, d3, d1, d2, d3} {
			at := t0
			if a == a && b == b && a > -1e6 && a < 1e6 && b > -1e6 && b < 1e6 { // finite, bounded
				at = t0.Add(time.Duration((a + float64(i)*b) * float64(time.Second)))
			}
			h = append(h, store.Event{Seq: int64(i + 1), At: at, Type: types[(i+len(d))%len(types)], Leg: "l", Data: d})
		}
		r := Build(ended(60), h, nil)
		if r.QueueWaitMs < 0 || r.TalkMs < 0 || r.RingMs < 0 || r.DurationMs < 0 || r.HoldMs < 0 || r.Media.MaxLossPct < 0 || r.Media.MaxLossPct > 100 {
			t.Fatalf("negative figures: %+v", r)
		}
		if (r.Outcome == Answered) != (r.AnsweredAt != nil) || (r.QueuedAt == nil) != (r.ServiceLevelMet == nil) {
			t.Fatalf("inconsistent record: %+v", r)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("record does not marshal: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, []Record{r}); err != nil {
			t.Fatal(err)
		}
	})
}
