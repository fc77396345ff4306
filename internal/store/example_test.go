package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/split-hub/split/internal/store"
)

func Example() {
	ctx := context.Background()
	// Production uses "sqlite:./data/split.db" or a postgres:// URL.
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	s := store.Session{ID: "ses_01", Mode: "forward", State: "queued", Queue: "support",
		CreatedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	if err := db.CreateSession(ctx, s); err != nil {
		fmt.Println(err)
		return
	}
	for _, typ := range []string{"session.created", "leg.joined"} {
		seq, err := db.AppendEvent(ctx, store.Event{SessionID: s.ID, Type: typ, Data: json.RawMessage(`{}`)})
		fmt.Println(typ, seq, err)
	}
	fmt.Println(errors.Is(db.CreateSession(ctx, s), store.ErrConflict))

	active := true
	list, err := db.ListSessions(ctx, store.SessionFilter{Active: &active})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range list {
		fmt.Println(s.ID, s.State, s.CreatedAt.Format(time.RFC3339))
	}

	_, err = db.GetSession(ctx, "ses_99")
	fmt.Println(errors.Is(err, store.ErrNotFound))
	// Output:
	// session.created 1 <nil>
	// leg.joined 2 <nil>
	// true
	// ses_01 queued 2026-03-01T10:00:00Z
	// true
}
