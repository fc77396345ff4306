package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// eventsChannel is the PostgreSQL channel on which hub nodes announce a new
// session event: the payload is the session id.
const eventsChannel = "split_events"

// NotifyEvent tells every node listening (ListenEvents) that session id has
// a new event in the store. PostgreSQL only (NOTIFY); with SQLite there is
// one node and nothing to tell.
func (db *DB) NotifyEvent(ctx context.Context, id string) error {
	if db.engine != EnginePostgres {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `SELECT pg_notify($1, $2)`, eventsChannel, id); err != nil {
		return fmt.Errorf("store: notify event of %q: %w", id, err)
	}
	return nil
}

// ListenEvents calls f with the session id of every event a node announces
// (its own included), on one dedicated connection, until ctx ends. A lost
// connection is opened again (after 0.1 s, doubling up to 5 s); since
// announcements made meanwhile are lost, f("") is called once it listens
// again: re-read what you follow. With SQLite it returns at once.
func (db *DB) ListenEvents(ctx context.Context, f func(id string)) {
	if db.engine != EnginePostgres {
		return
	}
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := db.listen(ctx, func() {
			backoff = 100 * time.Millisecond
			if !first {
				f("")
			}
		}, f)
		if ctx.Err() != nil {
			return
		}
		_ = err // the caller learns of the gap through f("")
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (db *DB) listen(ctx context.Context, listening func(), f func(id string)) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("store: listen: not a pgx connection")
		}
		pc := sc.Conn()
		// never hand a listening connection back to the pool
		defer pc.Close(context.Background())
		if _, err := pc.Exec(ctx, "LISTEN "+eventsChannel); err != nil {
			return err
		}
		listening()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			f(n.Payload)
		}
	})
}
