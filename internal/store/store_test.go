package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
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
	{"Agents", false, testAgents},
	{"Queues", false, testQueues},
	{"Appointments", false, testAppointments},
	{"Tokens", false, testTokens},
	{"CloseIdempotent", false, testCloseIdempotent},
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

func testEvents(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	for _, id := range []string{"ses_a", "ses_b"} {
		if err := db.CreateSession(ctx, Session{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	at := ms("2026-03-01T10:00:00.001Z")
	appends := []struct {
		e    Event
		want int64
	}{
		{Event{SessionID: "ses_a", At: at, Type: "created", Data: json.RawMessage(`{"mode":"forward","n":[1,2]}`)}, 1},
		{Event{SessionID: "ses_a", At: at.Add(time.Millisecond), Type: "leg.added", Leg: "leg_1"}, 2},
		{Event{SessionID: "ses_b", At: at, Type: "created", Data: json.RawMessage(`"just a string"`)}, 1},
		{Event{SessionID: "ses_a", At: at.Add(2 * time.Millisecond), Type: "dtmf", Leg: "leg_1", Data: json.RawMessage(`{"digit":"5","é":"\u0000"}`), Seq: 99}, 3},
		{Event{SessionID: "ses_b", At: at.Add(time.Second), Type: "ended", Data: json.RawMessage(`42`)}, 2},
	}
	for i, a := range appends {
		seq, err := db.AppendEvent(ctx, a.e)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if seq != a.want {
			t.Fatalf("append %d: seq %d, want %d", i, seq, a.want)
		}
	}

	got, err := db.Events(ctx, "ses_a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{appends[0].e, appends[1].e, appends[3].e}
	for i := range want {
		want[i].Seq = int64(i + 1)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Events(ses_a) =\n%+v\nwant\n%+v", got, want)
	}
	if got[1].Data != nil {
		t.Fatalf("absent data read back as %q", got[1].Data)
	}

	got, err = db.Events(ctx, "ses_a", 1, 1)
	if err != nil || len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("Events(ses_a, after 1, limit 1) = %+v, %v", got, err)
	}
	got, err = db.Events(ctx, "ses_a", 3, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Events after the last = %+v, %v", got, err)
	}
	got, err = db.Events(ctx, "ses_b", 0, 0)
	if err != nil || len(got) != 2 || string(got[1].Data) != "42" {
		t.Fatalf("Events(ses_b) = %+v, %v", got, err)
	}
	got, err = db.Events(ctx, "ses_unknown", 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Events(unknown) = %+v, %v", got, err)
	}

	// Zero At means now.
	before := time.Now().Add(-time.Second)
	seq, err := db.AppendEvent(ctx, Event{SessionID: "ses_b", Type: "note"})
	if err != nil || seq != 3 {
		t.Fatalf("AppendEvent = %d, %v", seq, err)
	}
	got, _ = db.Events(ctx, "ses_b", 2, 0)
	if len(got) != 1 || got[0].At.Before(before) {
		t.Fatalf("zero At stored as %+v", got)
	}

	_, err = db.AppendEvent(ctx, Event{SessionID: "ses_unknown", Type: "x"})
	wantErr(t, err, ErrNotFound)
	for _, bad := range []Event{
		{Type: "x"},
		{SessionID: "ses_a"},
		{SessionID: "ses_a", Type: "x", Data: json.RawMessage(`{"unterminated"`)},
		{SessionID: "ses_a", Type: "x", Data: json.RawMessage("\"\xff\"")},
		{SessionID: "ses_a", Type: "x\x00"},
	} {
		_, err := db.AppendEvent(ctx, bad)
		wantErr(t, err, ErrInvalid)
	}
	// Failed appends consumed no sequence numbers.
	if seq, err := db.AppendEvent(ctx, Event{SessionID: "ses_a", Type: "after"}); err != nil || seq != 4 {
		t.Fatalf("AppendEvent after failures = %d, %v; want 4", seq, err)
	}
}

func testEventsConcurrent(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	const workers, each = 8, 25
	sessions := []string{"ses_x", "ses_y"}
	for _, id := range sessions {
		if err := db.CreateSession(ctx, Session{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seqs = map[string][]int64{}
		wg   sync.WaitGroup
		errs = make(chan error, workers+1)
	)
	for w := range workers {
		wg.Go(func() {
			sid := sessions[w%len(sessions)]
			for i := range each {
				seq, err := db.AppendEvent(ctx, Event{SessionID: sid, Type: "tick",
					Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seqs[sid] = append(seqs[sid], seq)
				mu.Unlock()
			}
		})
	}
	// Readers run alongside the writers.
	wg.Go(func() {
		for range 20 {
			if _, err := db.Events(ctx, "ses_x", 0, 0); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent: %v", err)
	}
	for _, sid := range sessions {
		n := workers / len(sessions) * each
		got := seqs[sid]
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("%s: seqs not unique and gapless: %v", sid, got)
			}
		}
		if len(got) != n {
			t.Fatalf("%s: %d seqs, want %d", sid, len(got), n)
		}
		evs, err := db.Events(ctx, sid, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != n || evs[0].Seq != 1 || evs[n-1].Seq != int64(n) {
			t.Fatalf("%s: stored %d events", sid, len(evs))
		}
	}
}

func testAgents(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	a := Agent{ID: "agent-2", Name: "Ana", Queues: []string{"support", "sales"}, Skills: []string{"fr", "es"},
		CreatedAt: ms("2026-01-02T03:04:05.006Z")}
	if err := db.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAgent(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetAgent = %+v, %v; want %+v", got, err, a)
	}

	// Upsert replaces name, queues and skills and keeps CreatedAt.
	a2 := Agent{ID: a.ID, Name: "Ana B.", Queues: []string{"vip"}, CreatedAt: ms("2030-01-01T00:00:00Z")}
	if err := db.PutAgent(ctx, a2); err != nil {
		t.Fatal(err)
	}
	got, err = db.GetAgent(ctx, a.ID)
	want := Agent{ID: a.ID, Name: "Ana B.", Queues: []string{"vip"}, CreatedAt: a.CreatedAt}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after upsert GetAgent = %+v, %v; want %+v", got, err, want)
	}

	before := time.Now().Add(-time.Second)
	if err := db.PutAgent(ctx, Agent{ID: "agent-1", Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListAgents(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "agent-1" || list[1].ID != "agent-2" {
		t.Fatalf("ListAgents = %+v, %v", list, err)
	}
	if list[0].CreatedAt.Before(before) || list[0].Queues != nil || list[0].Skills != nil {
		t.Fatalf("new agent = %+v", list[0])
	}

	if err := db.DeleteAgent(ctx, "agent-2"); err != nil {
		t.Fatal(err)
	}
	_, err = db.GetAgent(ctx, "agent-2")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.DeleteAgent(ctx, "agent-2"), ErrNotFound)
	wantErr(t, db.PutAgent(ctx, Agent{Name: "no id"}), ErrInvalid)
	wantErr(t, db.PutAgent(ctx, Agent{ID: "x", Queues: []string{""}}), ErrInvalid)
	wantErr(t, db.DeleteAgent(ctx, ""), ErrInvalid)
}

func testQueues(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	q := Queue{Name: "support", Description: "Level 1", RingTimeoutSec: 20, MaxWaitSec: 600, WrapUpSec: 30, Overflow: "voicemail"}
	if err := db.PutQueue(ctx, q); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetQueue(ctx, "support")
	if err != nil || got != q {
		t.Fatalf("GetQueue = %+v, %v", got, err)
	}
	q.MaxWaitSec, q.Overflow, q.Description = 90, "sales", ""
	if err := db.PutQueue(ctx, q); err != nil {
		t.Fatal(err)
	}
	if got, err = db.GetQueue(ctx, "support"); err != nil || got != q {
		t.Fatalf("after upsert GetQueue = %+v, %v", got, err)
	}
	if err := db.PutQueue(ctx, Queue{Name: "billing"}); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListQueues(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "billing" || list[1] != q {
		t.Fatalf("ListQueues = %+v, %v", list, err)
	}
	if err := db.DeleteQueue(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteQueue(ctx, "billing"), ErrNotFound)
	_, err = db.GetQueue(ctx, "billing")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.PutQueue(ctx, Queue{}), ErrInvalid)
	wantErr(t, db.PutQueue(ctx, Queue{Name: "x", RingTimeoutSec: -1}), ErrInvalid)
	wantErr(t, db.PutQueue(ctx, Queue{Name: "x", WrapUpSec: -5}), ErrInvalid)
}

func testAppointments(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	day := ms("2026-04-10T00:00:00Z")
	mk := func(id string, h int) Appointment {
		return Appointment{ID: id, SessionID: "ses_01", Title: "Callback " + id, Start: day.Add(time.Duration(h) * time.Hour),
			DurationSec: 900, TimeZone: "Europe/Paris", CustomerName: "Zoë", CustomerContact: "zoe@example.org",
			AgentID: "agent-1", Queue: "support", Notes: "line1\nline2", State: "booked",
			CreatedAt: ms("2026-04-01T08:00:00Z"), UpdatedAt: ms("2026-04-01T08:00:00Z")}
	}
	for _, a := range []Appointment{mk("ap_c", 14), mk("ap_a", 9), mk("ap_b", 9), mk("ap_d", 48)} {
		if err := db.PutAppointment(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.GetAppointment(ctx, "ap_c")
	if err != nil || !reflect.DeepEqual(got, mk("ap_c", 14)) {
		t.Fatalf("GetAppointment = %+v, %v", got, err)
	}

	// Upsert keeps CreatedAt, sets UpdatedAt (now when zero).
	u := mk("ap_c", 15)
	u.State, u.CreatedAt, u.UpdatedAt = "moved", time.Time{}, time.Time{}
	before := time.Now().Add(-time.Second)
	if err := db.PutAppointment(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err = db.GetAppointment(ctx, "ap_c")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "moved" || !got.Start.Equal(day.Add(15*time.Hour)) || !got.CreatedAt.Equal(ms("2026-04-01T08:00:00Z")) || got.UpdatedAt.Before(before) {
		t.Fatalf("after upsert = %+v", got)
	}

	ids := func(as []Appointment) string {
		var s []string
		for _, a := range as {
			s = append(s, a.ID)
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		from, to time.Time
		want     string
	}{
		{day, day.Add(24 * time.Hour), "ap_a ap_b ap_c"},
		{day.Add(9 * time.Hour), day.Add(15 * time.Hour), "ap_a ap_b"}, // end is exclusive
		{day.Add(10 * time.Hour), time.Time{}, "ap_c ap_d"},
		{time.Time{}, day.Add(9*time.Hour + time.Millisecond), "ap_a ap_b"},
		{time.Time{}, time.Time{}, "ap_a ap_b ap_c ap_d"},
		{day.Add(100 * time.Hour), day.Add(100 * time.Hour), ""},
	}
	for _, tc := range cases {
		list, err := db.ListAppointments(ctx, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(list); got != tc.want {
			t.Errorf("ListAppointments(%v, %v) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
	_, err = db.ListAppointments(ctx, day.Add(time.Hour), day)
	wantErr(t, err, ErrInvalid)

	if err := db.DeleteAppointment(ctx, "ap_d"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteAppointment(ctx, "ap_d"), ErrNotFound)
	_, err = db.GetAppointment(ctx, "ap_d")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.PutAppointment(ctx, Appointment{Start: day}), ErrInvalid)
	wantErr(t, db.PutAppointment(ctx, Appointment{ID: "x"}), ErrInvalid)
	wantErr(t, db.PutAppointment(ctx, Appointment{ID: "x", Start: day, DurationSec: -1}), ErrInvalid)
}

func testTokens(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	now := ms("2026-05-01T12:00:00Z")
	check := func(jti string, exp time.Time, want bool) {
		t.Helper()
		first, err := db.ConsumeToken(ctx, jti, exp)
		if err != nil || first != want {
			t.Fatalf("ConsumeToken(%s) = %v, %v; want %v", jti, first, err, want)
		}
	}
	check("jti-old", now.Add(-time.Minute), true)
	check("jti-new", now.Add(time.Hour), true)
	check("jti-new", now.Add(time.Hour), false)
	check("jti-new", now.Add(2*time.Hour), false) // a different expiry is still a replay
	check("jti-old", now.Add(-time.Minute), false)

	n, err := db.PurgeTokens(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("PurgeTokens = %d, %v; want 1", n, err)
	}
	check("jti-new", now.Add(time.Hour), false) // kept: not expired yet
	check("jti-old", now.Add(-time.Minute), true)

	_, err = db.ConsumeToken(ctx, "", now)
	wantErr(t, err, ErrInvalid)
	_, err = db.ConsumeToken(ctx, "jti-x", time.Time{})
	wantErr(t, err, ErrInvalid)
	_, err = db.PurgeTokens(ctx, time.Time{})
	wantErr(t, err, ErrInvalid)

	// Concurrent replays: exactly one winner.
	var wins sync.WaitGroup
	results := make(chan bool, 8)
	for range 8 {
		wins.Go(func() {
			first, err := db.ConsumeToken(ctx, "jti-race", now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			results <- first
		})
	}
	wins.Wait()
	close(results)
	winners := 0
	for r := range results {
		if r {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d goroutines consumed the same token, want 1", winners)
	}
}

func testCloseIdempotent(t *testing.T, dsn string) {
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	if _, err := db.GetSession(t.Context(), "ses_1"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSession after Close: %v", err)
	}
}

// testSurvivesReopen is the "restarting the hub loses no records" property.
func testSurvivesReopen(t *testing.T, dsn string) {
	ctx := t.Context()
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	s := fullSession("ses_keep")
	s.AnsweredAt = ms("2026-03-01T10:00:01Z")
	a := Agent{ID: "agent-1", Name: "Ana", Queues: []string{"support"}, CreatedAt: ms("2026-01-01T00:00:00Z")}
	q := Queue{Name: "support", RingTimeoutSec: 15}
	ap := Appointment{ID: "ap_1", Title: "t", Start: ms("2026-06-01T09:00:00Z"),
		CreatedAt: ms("2026-05-01T00:00:00Z"), UpdatedAt: ms("2026-05-02T00:00:00Z")}
	steps := []error{
		db.CreateSession(ctx, s),
		db.PutAgent(ctx, a),
		db.PutQueue(ctx, q),
		db.PutAppointment(ctx, ap),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for i := range 3 {
		if _, err := db.AppendEvent(ctx, Event{SessionID: s.ID, At: s.CreatedAt, Type: fmt.Sprintf("e%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if first, err := db.ConsumeToken(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil || !first {
		t.Fatalf("ConsumeToken: %v %v", first, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openT(t, dsn)
	gs, err := db.GetSession(ctx, s.ID)
	if err != nil || !reflect.DeepEqual(gs, s) {
		t.Fatalf("session after reopen = %+v, %v", gs, err)
	}
	ga, err := db.GetAgent(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(ga, a) {
		t.Fatalf("agent after reopen = %+v, %v", ga, err)
	}
	gq, err := db.GetQueue(ctx, q.Name)
	if err != nil || gq != q {
		t.Fatalf("queue after reopen = %+v, %v", gq, err)
	}
	gap, err := db.GetAppointment(ctx, ap.ID)
	if err != nil || !reflect.DeepEqual(gap, ap) {
		t.Fatalf("appointment after reopen = %+v, %v", gap, err)
	}
	evs, err := db.Events(ctx, s.ID, 0, 0)
	if err != nil || len(evs) != 3 || evs[2].Type != "e2" {
		t.Fatalf("events after reopen = %+v, %v", evs, err)
	}
	if seq, err := db.AppendEvent(ctx, Event{SessionID: s.ID, Type: "e3"}); err != nil || seq != 4 {
		t.Fatalf("next seq after reopen = %d, %v; want 4", seq, err)
	}
	if first, err := db.ConsumeToken(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil || first {
		t.Fatalf("token replay after reopen accepted: %v %v", first, err)
	}
}

func appliedMigrations(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), `SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func wantMigrations(t *testing.T, engine string) []string {
	t.Helper()
	ms, err := loadMigrations(migrationFS, engine)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	return names
}

func testMigrationsIdempotent(t *testing.T, dsn string) {
	ctx := t.Context()
	for i := range 3 {
		db, err := Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			if err := db.CreateSession(ctx, Session{ID: "ses_1"}); err != nil {
				t.Fatal(err)
			}
		}
		got, want := appliedMigrations(t, db), wantMigrations(t, db.Engine())
		if !reflect.DeepEqual(got, want) || len(want) == 0 {
			t.Fatalf("open %d: applied %v, want %v", i, got, want)
		}
		if ss, err := db.ListSessions(ctx, SessionFilter{}); err != nil || len(ss) != 1 {
			t.Fatalf("open %d: sessions %v, %v", i, ss, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// testConcurrentOpen starts several "nodes" on one fresh database at once:
// the migrations must run exactly once and every Open must succeed.
func testConcurrentOpen(t *testing.T, dsn string) {
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	if got, want := appliedMigrations(t, dbs[0]), wantMigrations(t, dbs[0].Engine()); !reflect.DeepEqual(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

func testRefusesNewerSchema(t *testing.T, dsn string) {
	ctx := context.Background()
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, dsn)
	if err == nil {
		_ = db.Close()
		t.Fatal("Open accepted a database with an unknown schema version")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Fatalf("error does not name the version: %v", err)
	}
}
