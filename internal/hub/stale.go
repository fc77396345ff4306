package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/split-hub/split/internal/store"
)

// CauseNodeRestart is the cause recorded on a session that was live when its
// node's process died (SIGKILL, a crash, a power cut): at the next start the
// node ends it, since none of its legs can have survived the process.
const CauseNodeRestart = "node_restart"

// endStale ends, in the store, the sessions that this node owned and that
// never ended: the process that ran them is gone, and with it every leg
// (SIP dialogs, WebRTC connections and RTP ports die with the process). Each
// gets a session.ended event with cause node_restart and code 503, and its
// session join links are revoked, so that they no longer pass a dry run.
// An appointment is not a session: its links stay valid in their window and
// the next join opens a fresh session for it.
//
// A single-node store (SQLite) also claims the records that name no owner
// (written before owners were recorded); on PostgreSQL those may belong to a
// running node of an older version and are left alone.
func (h *Hub) endStale(ctx context.Context) error {
	unowned := h.store.Engine() == store.EngineSQLite
	ids, err := h.store.LiveSessionsOf(ctx, h.node, unowned)
	if err != nil {
		return fmt.Errorf("hub: sessions left by the previous run: %w", err)
	}
	now := time.Now().UTC()
	for _, id := range ids {
		ok, err := h.store.EndSession(ctx, id, now, 503, CauseNodeRestart)
		if err != nil {
			return fmt.Errorf("hub: ending session %s left by the previous run: %w", id, err)
		}
		if !ok {
			continue // another node of this name ended it meanwhile
		}
		data, _ := json.Marshal(map[string]any{"code": 503, "reason": CauseNodeRestart})
		if _, err := h.store.AppendEvent(ctx, store.Event{SessionID: id, At: now, Type: "session.ended", Data: data}); err != nil {
			h.log.Warn("cannot record the end of a session left by the previous run", "session", id, "err", err)
		}
		if _, err := h.store.RevokeJoinLinks(ctx, id, now); err != nil {
			h.log.Warn("cannot revoke the links of a session left by the previous run", "session", id, "err", err)
		}
	}
	if len(ids) > 0 {
		h.log.Warn("ended the sessions the previous run of this node left live", "sessions", len(ids), "cause", CauseNodeRestart)
	}
	return nil
}
