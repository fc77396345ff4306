package store

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

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
