package store

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func testCallRecords(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx := t.Context()
	base := ms("2026-12-01T10:00:00Z")
	// 7 records: two share an end time (the cursor's tie-break), b and a
	// sort bytewise ("ses_B" < "ses_a"), one was transferred (two agents)
	put := []CallRecord{
		{SessionID: "ses_1", EndedAt: base, Mode: "forward", Channel: "web_video", Queue: "sales", Outcome: "answered", Agents: []string{"alice"}},
		{SessionID: "ses_a", EndedAt: base.Add(time.Minute), Mode: "forward", Channel: "web_video", Queue: "sales", Outcome: "answered", Agents: []string{"alice", "bob"}},
		{SessionID: "ses_B", EndedAt: base.Add(time.Minute), Mode: "forward", Channel: "phone", Queue: "support", Outcome: "abandoned"},
		{SessionID: "ses_3", EndedAt: base.Add(2 * time.Minute), Mode: "whatsapp", Channel: "whatsapp", Queue: "sales", Outcome: "answered", Agents: []string{"bob"}},
		{SessionID: "ses_4", EndedAt: base.Add(3 * time.Minute), Mode: "forward", Channel: "web_voice", Queue: "sales", Outcome: "overflowed"},
		{SessionID: "ses_5", EndedAt: base.Add(4 * time.Minute), Mode: "reverse", Channel: "web_video", Outcome: "unanswered"},
		{SessionID: "ses_6", EndedAt: base.Add(5 * time.Minute), Mode: "forward", Channel: "web_video", Queue: "sales", Outcome: "answered", Agents: []string{"carol_x"}},
	}
	for _, r := range put {
		r.Body, _ = json.Marshal(map[string]any{"session_id": r.SessionID, "agents": r.Agents})
		if err := db.PutCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// a second record for a session keeps the first
	dup := put[0]
	dup.Outcome, dup.Body = "abandoned", json.RawMessage(`{"second":true}`)
	if err := db.PutCallRecord(ctx, dup); err != nil {
		t.Fatalf("second record of a session: %v", err)
	}
	ids := func(rs []CallRecord) string {
		s := ""
		for _, r := range rs {
			s += r.SessionID + " "
		}
		return s
	}
	list := func(f RecordFilter) []CallRecord {
		t.Helper()
		rs, err := db.CallRecords(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	if got := ids(list(RecordFilter{})); got != "ses_1 ses_B ses_a ses_3 ses_4 ses_5 ses_6 " {
		t.Fatalf("all records: %s", got)
	}
	if rs := list(RecordFilter{Queue: "sales", Outcome: "answered"}); ids(rs) != "ses_1 ses_a ses_3 ses_6 " || string(rs[0].Body) != `{"agents":["alice"],"session_id":"ses_1"}` {
		t.Fatalf("sales answered: %s %s", ids(rs), rs[0].Body)
	}
	for _, c := range []struct {
		f    RecordFilter
		want string
	}{
		{RecordFilter{Agent: "bob"}, "ses_a ses_3 "},
		{RecordFilter{Agent: "carol%"}, ""},
		{RecordFilter{Agent: "carol_x"}, "ses_6 "},
		{RecordFilter{Mode: "whatsapp"}, "ses_3 "},
		{RecordFilter{Channel: "web_video"}, "ses_1 ses_a ses_5 ses_6 "},
		{RecordFilter{From: base.Add(time.Minute), To: base.Add(3 * time.Minute)}, "ses_B ses_a ses_3 "},
		{RecordFilter{Outcome: "nope"}, ""},
	} {
		if got := ids(list(c.f)); got != c.want {
			t.Errorf("%+v: %s, want %s", c.f, got, c.want)
		}
	}
	// pages of 2 walk everything once, in order, across the tied end time
	var walked string
	f := RecordFilter{Limit: 2}
	for page := 0; page < 10; page++ {
		rs := list(f)
		walked += ids(rs)
		if len(rs) < f.Limit {
			break
		}
		f.AfterEnded, f.AfterID = rs[len(rs)-1].EndedAt, rs[len(rs)-1].SessionID
	}
	if walked != "ses_1 ses_B ses_a ses_3 ses_4 ses_5 ses_6 " {
		t.Fatalf("paged: %s", walked)
	}
	for i, bad := range []CallRecord{
		{SessionID: "", EndedAt: base, Body: json.RawMessage(`{}`)},
		{SessionID: "x", Body: json.RawMessage(`{}`)},
		{SessionID: "x", EndedAt: base, Body: json.RawMessage(`{`)},
		{SessionID: "x", EndedAt: base, Queue: "a\x00b", Body: json.RawMessage(`{}`)},
		{SessionID: "x", EndedAt: base, Agents: []string{""}, Body: json.RawMessage(`{}`)},
	} {
		if err := db.PutCallRecord(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad record %d: %v, want ErrInvalid", i, err)
		}
	}
	if _, err := db.CallRecords(ctx, RecordFilter{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}
	if rs := list(RecordFilter{Limit: 5000}); len(rs) != len(put) {
		t.Errorf("a limit above the cap: %d records", len(rs))
	}
}
