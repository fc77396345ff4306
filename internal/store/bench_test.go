package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// Benchmarks run on a SQLite file in a temporary directory, with the
// production settings (WAL, synchronous=NORMAL, one writer connection).

func benchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(b.Context(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

func BenchmarkAppendEvent(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	if err := db.CreateSession(ctx, fullSession("ses_bench")); err != nil {
		b.Fatal(err)
	}
	e := Event{SessionID: "ses_bench", Type: "media.stats", Leg: "leg_1",
		Data: json.RawMessage(`{"rtt_ms":42,"jitter_ms":3,"lost":0}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.AppendEvent(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendEventParallel appends from GOMAXPROCS goroutines, each to
// its own session, as concurrent calls do.
func BenchmarkAppendEventParallel(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	const sessions = 64
	for i := range sessions {
		if err := db.CreateSession(ctx, fullSession(fmt.Sprintf("ses_%03d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			_, err := db.AppendEvent(ctx, Event{SessionID: fmt.Sprintf("ses_%03d", i%sessions), Type: "tick"})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCreateSession(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	s := fullSession("")
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		s.ID = fmt.Sprintf("ses_%09d", n)
		if err := db.CreateSession(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetSession(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	if err := db.CreateSession(ctx, fullSession("ses_get")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.GetSession(ctx, "ses_get"); err != nil {
			b.Fatal(err)
		}
	}
}
