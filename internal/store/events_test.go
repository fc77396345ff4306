package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

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

func testRedactEvents(t *testing.T, dsn string) {
	ctx := t.Context()
	db := openT(t, dsn)
	if err := db.CreateSession(ctx, Session{ID: "ses_r"}); err != nil {
		t.Fatal(err)
	}
	at := ms("2026-03-01T10:00:00.000Z")
	for i, e := range []Event{
		{At: at, Type: "rtt.text", Leg: "l1", Data: json.RawMessage(`{"from":"deaf-user","text":"old secret"}`)},
		{At: at.Add(time.Second), Type: "interpreter.joined", Leg: "l2", Data: json.RawMessage(`{"agent":"ana"}`)},
		{At: at.Add(2 * time.Second), Type: "rtt.text", Leg: "l2", Data: json.RawMessage(`{"from":"interpreter","text":"also old"}`)},
		{At: at.Add(time.Hour), Type: "rtt.text", Leg: "l1", Data: json.RawMessage(`{"from":"deaf-user","text":"recent"}`)},
	} {
		e.SessionID = "ses_r"
		if _, err := db.AppendEvent(ctx, e); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	redact := func(d json.RawMessage) json.RawMessage {
		var v map[string]any
		_ = json.Unmarshal(d, &v)
		return json.RawMessage(fmt.Sprintf(`{"from":%q,"redacted":true}`, v["from"]))
	}
	n, err := db.RedactEvents(ctx, "rtt.text", at.Add(30*time.Minute), redact)
	if err != nil || n != 2 {
		t.Fatalf("RedactEvents = %d, %v; want 2", n, err)
	}
	got, err := db.Events(ctx, "ses_r", 0, 0)
	if err != nil || len(got) != 4 {
		t.Fatalf("events after redaction: %v %v", got, err)
	}
	want := []string{`{"from":"deaf-user","redacted":true}`, `{"agent":"ana"}`, `{"from":"interpreter","redacted":true}`, `{"from":"deaf-user","text":"recent"}`}
	for i, e := range got {
		if string(e.Data) != want[i] || e.Seq != int64(i+1) {
			t.Errorf("event %d: seq %d data %s, want %s", i, e.Seq, e.Data, want[i])
		}
	}
	// already redacted: not again; a redaction that does not mark its output is refused
	if n, err := db.RedactEvents(ctx, "rtt.text", at.Add(30*time.Minute), redact); err != nil || n != 0 {
		t.Errorf("second RedactEvents = %d, %v; want 0", n, err)
	}
	if _, err := db.RedactEvents(ctx, "rtt.text", at.Add(2*time.Hour), func(json.RawMessage) json.RawMessage { return json.RawMessage(`{}`) }); err == nil {
		t.Error("a redaction without the mark was accepted")
	}
	if got, _ := db.Events(ctx, "ses_r", 3, 0); len(got) != 1 || string(got[0].Data) != want[3] {
		t.Errorf("a refused redaction changed the event: %v", got)
	}
}
