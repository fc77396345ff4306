package store

import (
	"errors"
	"testing"
)

// The shared ACD's state lives in PostgreSQL only: on SQLite (one node,
// the in-memory ACD) every call says so instead of half working.
func TestACDNeedsPostgres(t *testing.T) {
	db := openT(t, ":memory:")
	ctx := t.Context()
	called := false
	if err := db.ACD(ctx, func(*ACDTx) error { called = true; return nil }); !errors.Is(err, ErrNotShared) || called {
		t.Errorf("ACD on SQLite = %v (ran: %v)", err, called)
	}
	if _, err := db.ACDAgents(ctx); !errors.Is(err, ErrNotShared) {
		t.Errorf("ACDAgents on SQLite = %v", err)
	}
	if _, err := db.ACDWaitingAll(ctx); !errors.Is(err, ErrNotShared) {
		t.Errorf("ACDWaitingAll on SQLite = %v", err)
	}
	if _, err := db.ACDFigures(ctx); !errors.Is(err, ErrNotShared) {
		t.Errorf("ACDFigures on SQLite = %v", err)
	}
	if err := db.NotifyACD(ctx, "{}"); !errors.Is(err, ErrNotShared) {
		t.Errorf("NotifyACD on SQLite = %v", err)
	}
}
