package store

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// backend is one engine under test. dsn returns the DSN of a fresh, empty
// database on every call.
type backend struct {
	name       string
	persistent bool // data outlives Close (false for :memory:)
	dsn        func(t *testing.T) string
}

type suiteTest struct {
	name       string
	persistent bool // needs a backend whose data outlives Close
	fn         func(t *testing.T, dsn string)
}

// suite is run against every engine; see TestSQLite and TestPostgres.
var suite = []suiteTest{
	{"SessionCRUD", false, testSessionCRUD},
	{"SessionValidation", false, testSessionValidation},
	{"ListSessions", false, testListSessions},
	{"KeysSortBytewise", false, testKeysSortBytewise},
	{"Events", false, testEvents},
	{"EventsConcurrent", false, testEventsConcurrent},
	{"RedactEvents", false, testRedactEvents},
	{"Agents", false, testAgents},
	{"Queues", false, testQueues},
	{"Appointments", false, testAppointments},
	{"Tokens", false, testTokens},
	{"CloseIdempotent", false, testCloseIdempotent},
	{"JoinLinks", false, testJoinLinks},
	{"LiveSessionsOf", false, testLiveSessionsOf},
	{"Nodes", false, testNodes},
	{"Leases", false, testLeases},
	{"NotifyEvents", false, testNotifyEvents},
	{"NotifyAgents", false, testNotifyAgents},
	{"Consoles", false, testConsoles},
	{"WhatsApp", false, testWhatsApp},
	{"CallRecords", false, testCallRecords},
	{"SurvivesReopen", true, testSurvivesReopen},
	{"MigrationsIdempotent", true, testMigrationsIdempotent},
	{"ConcurrentOpen", true, testConcurrentOpen},
	{"RefusesNewerSchema", true, testRefusesNewerSchema},
}

func runSuite(t *testing.T, b backend) {
	t.Helper()
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			if tc.persistent && !b.persistent {
				t.Skipf("%s: data does not outlive Close", b.name)
			}
			tc.fn(t, b.dsn(t))
		})
	}
}

func openT(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// ms returns a UTC time with millisecond precision, as the store returns it.
func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err) // test data typo
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// norm makes times comparable with reflect.DeepEqual: UTC, ms precision,
// zero stays zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func normSession(s Session) Session {
	s.CreatedAt, s.AnsweredAt, s.EndedAt = norm(s.CreatedAt), norm(s.AnsweredAt), norm(s.EndedAt)
	return s
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func sessionIDs(ss []Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func fullSession(id string) Session {
	return Session{
		ID: id, Mode: "forward", State: "ringing", EntryPoint: "web:support",
		Route: "sip:support@acd.example", Queue: "support",
		CustomerName: "Zoë O'Brien", CustomerContact: "+33 6 12 34 56 78",
		Context:   map[string]string{"order": "A-17", "lang": "fr", "quote": `"x"`},
		CreatedAt: ms("2026-03-01T10:00:00.123Z"), Node: "node-1",
	}
}

func testSessionCRUD(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)

	s := fullSession("ses_001")
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("GetSession =\n%+v\nwant\n%+v", got, s)
	}

	dup := fullSession("ses_001")
	dup.State = "other"
	wantErr(t, db.CreateSession(ctx, dup), ErrConflict)
	if got, _ := db.GetSession(ctx, s.ID); got.State != "ringing" {
		t.Fatalf("a conflicting create changed the row: state %q", got.State)
	}

	// Full-row update; zero CreatedAt keeps the stored one.
	u := s
	u.State, u.AgentID, u.Cause, u.CauseCode = "ended", "agent-7", "normal", 200
	u.Context = map[string]string{"order": "A-18"}
	u.AnsweredAt = ms("2026-03-01T10:00:05.5Z")
	u.EndedAt = ms("2026-03-01T10:07:00Z")
	u.CreatedAt = time.Time{}
	if err := db.UpdateSession(ctx, u); err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	got, err = db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	u.CreatedAt = s.CreatedAt
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("after update =\n%+v\nwant\n%+v", got, u)
	}

	// Times and context can be cleared again (NULL / empty).
	u.AnsweredAt, u.EndedAt, u.Context = time.Time{}, time.Time{}, nil
	if err := db.UpdateSession(ctx, u); err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	if got, _ = db.GetSession(ctx, s.ID); !reflect.DeepEqual(got, u) {
		t.Fatalf("after clearing =\n%+v\nwant\n%+v", got, u)
	}

	// Zero CreatedAt on create means now.
	before := time.Now().Add(-time.Second)
	if err := db.CreateSession(ctx, Session{ID: "ses_002", Mode: "reverse", State: "new"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err = db.GetSession(ctx, "ses_002")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("CreatedAt = %v, want about now", got.CreatedAt)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
	if got.Context != nil || !got.AnsweredAt.IsZero() || !got.EndedAt.IsZero() {
		t.Fatalf("unset fields read back set: %+v", got)
	}

	_, err = db.GetSession(ctx, "ses_missing")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.UpdateSession(ctx, fullSession("ses_missing")), ErrNotFound)
}

func testSessionValidation(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	bad := []struct {
		name string
		s    Session
	}{
		{"empty id", Session{Mode: "forward"}},
		{"long id", Session{ID: strings.Repeat("x", MaxIDLen+1)}},
		{"NUL in id", Session{ID: "a\x00b"}},
		{"invalid UTF-8 name", Session{ID: "ses_x", CustomerName: "\xff\xfe"}},
		{"NUL in context", Session{ID: "ses_x", Context: map[string]string{"k": "v\x00"}}},
		{"invalid UTF-8 context key", Session{ID: "ses_x", Context: map[string]string{"\xc3": "v"}}},
	}
	for _, tc := range bad {
		wantErr(t, db.CreateSession(ctx, tc.s), ErrInvalid)
		wantErr(t, db.UpdateSession(ctx, tc.s), ErrInvalid)
	}
	_, err := db.GetSession(ctx, "")
	wantErr(t, err, ErrInvalid)
	if ss, err := db.ListSessions(ctx, SessionFilter{}); err != nil || len(ss) != 0 {
		t.Fatalf("bad input was stored: %v %v", sessionIDs(ss), err)
	}
}

func testListSessions(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	base := ms("2026-03-01T10:00:00Z")
	// ses_01 … ses_10: odd ones are "forward", even "reverse"; every third
	// has ended; state alternates queued/active.
	for i := 1; i <= 10; i++ {
		s := Session{
			ID:        fmt.Sprintf("ses_%02d", i),
			Mode:      map[bool]string{true: "forward", false: "reverse"}[i%2 == 1],
			State:     map[bool]string{true: "queued", false: "active"}[i%2 == 0],
			CreatedAt: base.Add(time.Duration(i) * time.Minute),
		}
		if i%3 == 0 {
			s.State, s.EndedAt = "ended", s.CreatedAt.Add(30*time.Second)
		}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	yes, no := true, false
	cases := []struct {
		name string
		f    SessionFilter
		want string
	}{
		{"all newest first", SessionFilter{}, "10 09 08 07 06 05 04 03 02 01"},
		{"limit", SessionFilter{Limit: 3}, "10 09 08"},
		{"cursor", SessionFilter{Before: "ses_08", Limit: 3}, "07 06 05"},
		{"cursor not an existing id", SessionFilter{Before: "ses_05x"}, "05 04 03 02 01"},
		{"mode", SessionFilter{Mode: "reverse"}, "10 08 06 04 02"},
		{"state", SessionFilter{State: "ended"}, "09 06 03"},
		{"active", SessionFilter{Active: &yes}, "10 08 07 05 04 02 01"},
		{"ended", SessionFilter{Active: &no}, "09 06 03"},
		{"since inclusive", SessionFilter{Since: base.Add(8 * time.Minute)}, "10 09 08"},
		{"combined", SessionFilter{Mode: "forward", Active: &yes, Since: base.Add(2 * time.Minute), Before: "ses_07", Limit: 1}, "05"},
		{"no match", SessionFilter{State: "nope"}, ""},
	}
	for _, tc := range cases {
		got, err := db.ListSessions(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: ListSessions: %v", tc.name, err)
		}
		ids := strings.ReplaceAll(strings.Join(sessionIDs(got), " "), "ses_", "")
		if ids != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, ids, tc.want)
		}
	}

	// Paging with the cursor visits every session exactly once, in order.
	var seen []string
	f := SessionFilter{Limit: 4}
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		got, err := db.ListSessions(ctx, f)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(got) == 0 {
			break
		}
		seen = append(seen, sessionIDs(got)...)
		f.Before = got[len(got)-1].ID
	}
	if len(seen) != 10 || !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] > seen[j] }) {
		t.Fatalf("paged ids = %v", seen)
	}

	// Full records come back, not just ids.
	got, err := db.ListSessions(ctx, SessionFilter{State: "ended", Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListSessions: %v %v", got, err)
	}
	want, _ := db.GetSession(ctx, "ses_09")
	if !reflect.DeepEqual(got[0], want) || got[0].EndedAt.IsZero() {
		t.Fatalf("listed %+v, want %+v", got[0], want)
	}

	_, err = db.ListSessions(ctx, SessionFilter{Limit: -1})
	wantErr(t, err, ErrInvalid)
	if got, err := db.ListSessions(ctx, SessionFilter{Limit: MaxListLimit + 5}); err != nil || len(got) != 10 {
		t.Fatalf("over-max limit: %d sessions, %v", len(got), err)
	}
}

// testKeysSortBytewise checks that both engines order ids by bytes, also on a
// PostgreSQL database whose default collation is linguistic.
func testKeysSortBytewise(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	ids := []string{"k_a", "k_B", "k_b", "k_A", "k_-", "k_é"}
	for _, id := range ids {
		if err := db.CreateSession(ctx, Session{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutAgent(ctx, Agent{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutQueue(ctx, Queue{Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	asc := append([]string(nil), ids...)
	sort.Strings(asc) // bytewise: k_- k_A k_B k_a k_b k_é
	desc := make([]string, len(asc))
	for i := range asc {
		desc[i] = asc[len(asc)-1-i]
	}

	ss, err := db.ListSessions(ctx, SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionIDs(ss); !reflect.DeepEqual(got, desc) {
		t.Errorf("sessions = %q, want %q", got, desc)
	}
	ss, err = db.ListSessions(ctx, SessionFilter{Before: "k_a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionIDs(ss); !reflect.DeepEqual(got, []string{"k_B", "k_A", "k_-"}) {
		t.Errorf("sessions before k_a = %q", got)
	}
	as, err := db.ListAgents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var agentIDs []string
	for _, a := range as {
		agentIDs = append(agentIDs, a.ID)
	}
	if !reflect.DeepEqual(agentIDs, asc) {
		t.Errorf("agents = %q, want %q", agentIDs, asc)
	}
	qs, err := db.ListQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	if !reflect.DeepEqual(names, asc) {
		t.Errorf("queues = %q, want %q", names, asc)
	}
}
