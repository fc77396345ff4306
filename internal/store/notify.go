package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// The PostgreSQL channels on which hub nodes tell each other things.
const (
	// EventsChannel: a session has a new event in the store; the payload
	// is the session id.
	EventsChannel = "split_events"
	// AgentsChannel: a message for the nodes where an agent's console is
	// connected (JSON; the hub defines it).
	AgentsChannel = "split_agents"
)

// NotifyAgents sends payload (at most 7,000 bytes) to every node listening
// on AgentsChannel. PostgreSQL only.
func (db *DB) NotifyAgents(ctx context.Context, payload string) error {
	if db.engine != EnginePostgres {
		return nil
	}
	if len(payload) > 7000 {
		return fmt.Errorf("store: notify agents: payload of %d bytes", len(payload))
	}
	if _, err := db.w.ExecContext(ctx, `SELECT pg_notify($1, $2)`, AgentsChannel, payload); err != nil {
		return fmt.Errorf("store: notify agents: %w", err)
	}
	return nil
}

// NotifyEvent tells every node listening (ListenEvents) that session id has
// a new event in the store. PostgreSQL only (NOTIFY); with SQLite there is
// one node and nothing to tell.
func (db *DB) NotifyEvent(ctx context.Context, id string) error {
	if db.engine != EnginePostgres {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `SELECT pg_notify($1, $2)`, EventsChannel, id); err != nil {
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
	db.Listen(ctx, func(channel, payload string) {
		if channel == EventsChannel || channel == "" {
			f(payload)
		}
	})
}

// Listen calls f with the channel and payload of every announcement on
// EventsChannel, AgentsChannel and ACDChannel (its own included), on one dedicated
// connection, until ctx ends; as ListenEvents, f("", "") after a gap.
func (db *DB) Listen(ctx context.Context, f func(channel, payload string)) {
	if db.engine != EnginePostgres {
		return
	}
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := db.listen(ctx, func() {
			backoff = 100 * time.Millisecond
			if !first {
				f("", "")
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

func (db *DB) listen(ctx context.Context, listening func(), f func(channel, payload string)) error {
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
		for _, ch := range []string{EventsChannel, AgentsChannel, ACDChannel} {
			if _, err := pc.Exec(ctx, "LISTEN "+ch); err != nil {
				return err
			}
		}
		listening()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			f(n.Channel, n.Payload)
		}
	})
}
