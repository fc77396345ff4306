package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/split-hub/split/internal/session"
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
	n, err := h.endSessionsOf(ctx, h.node, unowned, CauseNodeRestart, false)
	if err != nil {
		return fmt.Errorf("hub: sessions left by the previous run: %w", err)
	}
	if n > 0 {
		h.log.Warn("ended the sessions the previous run of this node left live", "sessions", n, "cause", CauseNodeRestart)
	}
	return nil
}

// endSessionsOf ends in the store the live sessions node owns (and, with
// unowned, those that name no owner): code 503 and cause, a session.ended
// event, their join links revoked; with publish, session.ended also goes to
// the webhooks (a survivor ending a lost node's sessions; at start nobody is
// subscribed yet and the webhook queue is the same). It returns how many it
// ended.
func (h *Hub) endSessionsOf(ctx context.Context, node string, unowned bool, cause string, publish bool) (int, error) {
	ids, err := h.store.LiveSessionsOf(ctx, node, unowned)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	ended := 0
	for _, id := range ids {
		ok, err := h.store.EndSession(ctx, id, now, 503, cause)
		if err != nil {
			return ended, fmt.Errorf("ending session %s: %w", id, err)
		}
		if !ok {
			continue // ended meanwhile (by its node, or another survivor)
		}
		ended++
		ev := map[string]any{"code": 503, "reason": cause}
		data, _ := json.Marshal(ev)
		if _, err := h.store.AppendEvent(ctx, store.Event{SessionID: id, At: now, Type: "session.ended", Data: data}); err != nil {
			h.log.Warn("cannot record the end of a session", "session", id, "cause", cause, "err", err)
		}
		if _, err := h.store.RevokeJoinLinks(ctx, id, now); err != nil {
			h.log.Warn("cannot revoke the links of an ended session", "session", id, "cause", cause, "err", err)
		}
		rec, rerr := h.buildRecord(ctx, id) // docs/records.md: the node that ends a session writes its record
		if rerr != nil {
			h.log.Warn("no call record for a session ended here", "session", id, "cause", cause, "err", rerr)
		}
		if publish && h.hooks != nil {
			e := session.Event{At: now, Type: "session.ended", Data: ev}
			data := map[string]any{"event": e, "session": map[string]any{"id": id, "state": "ended", "cause": cause, "node": node}}
			if rerr == nil {
				data["record"] = rec
			}
			h.hooks.Publish(e.Type, id, now, data)
		}
	}
	return ended, nil
}
