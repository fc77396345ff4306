package hub

import (
	"context"
	"github.com/split-hub/split/internal/acd/shared"
	"net/http"
	"time"

	"github.com/split-hub/split/internal/store"
)

// CauseNodeLost is the cause recorded on a session whose node stopped
// writing its heartbeat for cluster.node_timeout (killed, crashed, cut off
// from the store): a surviving node ends it in the store, since the legs
// died with that node's process.
const CauseNodeLost = "node_lost"

// beat writes this node's heartbeat.
func (h *Hub) beat(parent context.Context) {
	// a store that hangs must not hold the loop: a beat has one period
	ctx, cancel := context.WithTimeout(parent, h.cfg.Cluster.Heartbeat)
	defer cancel()
	err := h.store.Heartbeat(ctx, store.Node{Name: h.node, Address: h.nodeAddress(), SIP: h.nodeSIP(), StartedAt: h.started,
		Heartbeat: time.Now(), Draining: h.isDraining()})
	if err == nil {
		h.lastBeat.Store(time.Now().UnixNano())
	}
	if ready := h.Ready(); ready != h.wasReady.Swap(ready) && parent.Err() == nil {
		if ready {
			h.log.Info("the store answers again: ready for new sessions")
		} else {
			h.log.Warn("the store does not take this node's heartbeats: /readyz says not ready (calls in progress go on); other nodes end its sessions if it lasts",
				"err", err, "node_timeout", h.cfg.Cluster.NodeTimeout.String())
		}
	}
}

// Ready reports whether this node can take new sessions as far as the
// store goes: a heartbeat reached it within the last three periods. A
// node cut off from its store (PostgreSQL down or unreachable) cannot
// create or route sessions; its /readyz turns load balancers away while
// its calls in progress go on.
func (h *Hub) Ready() bool {
	lb := h.lastBeat.Load()
	return lb != 0 && time.Since(time.Unix(0, lb)) < 3*h.cfg.Cluster.Heartbeat
}

// heartbeats writes this node's heartbeat every cluster.heartbeat and ends
// the sessions of nodes silent for cluster.node_timeout, until ctx ends.
func (h *Hub) heartbeats(ctx context.Context) {
	t := time.NewTicker(h.cfg.Cluster.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.beat(ctx)
		h.claimLostNodes(ctx)
	}
}

// claimLostNodes ends the live sessions of every node whose heartbeat is
// older than cluster.node_timeout. Of several survivors, the store lets one
// claim each lost node.
func (h *Hub) claimLostNodes(ctx context.Context) {
	nodes, err := h.store.Nodes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("cannot read the nodes' heartbeats", "err", err)
		}
		return
	}
	cutoff := time.Now().Add(-h.cfg.Cluster.NodeTimeout)
	for _, n := range nodes {
		if n.Name == h.node || !n.Heartbeat.Before(cutoff) {
			continue
		}
		ok, err := h.store.ClaimLostNode(ctx, n.Name, cutoff)
		if err != nil || !ok {
			continue // another survivor has it, or it just came back
		}
		if err := h.store.ForgetConsoles(ctx, n.Name); err != nil {
			h.log.Warn("cannot forget the lost node's consoles", "node", n.Name, "err", err)
		}
		if sh, ok := h.acd.(*shared.Engine); ok {
			if err := sh.ForgetNode(n.Name); err != nil {
				h.log.Warn("cannot take the lost node's sessions and agents out of the queues", "node", n.Name, "err", err)
			}
		}
		ended, err := h.endSessionsOf(ctx, n.Name, false, CauseNodeLost, true)
		h.log.Warn("a hub node stopped answering: its sessions are ended", "node", n.Name, "address", n.Address,
			"last_heartbeat", n.Heartbeat.Format(time.RFC3339), "sessions", ended, "cause", CauseNodeLost, "err", err)
		h.m.NodeLost(ended)
	}
}

// leave removes this node's heartbeat when it stops cleanly (its sessions
// are over), so no survivor takes it for lost.
func (h *Hub) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.store.RemoveNode(ctx, h.node); err != nil {
		h.log.Warn("cannot remove this node's heartbeat", "err", err)
	}
}

// followOtherNodes feeds this node's event streams of sessions that live
// on another node: every node announces each stored event (PostgreSQL
// NOTIFY); for a session followed here and not live here, the new events
// are read from the store and handed to the subscribers. Until ctx ends.
func (h *Hub) followOtherNodes(ctx context.Context) {
	last := map[string]int64{} // the newest event handed out, per followed session
	h.store.Listen(ctx, func(channel, id string) {
		if channel == store.AgentsChannel {
			h.onAgentsNote(id)
			return
		}
		if sh, ok := h.acd.(*shared.Engine); ok && (channel == store.ACDChannel || channel == "") {
			sh.Note(id)
		}
		if channel == store.ACDChannel {
			return
		}
		ids := []string{id}
		if id == "" { // the connection was lost: anything may have been missed
			ids = h.rec.subscribed()
		}
		for _, id := range ids {
			if h.Session(id) != nil || !h.rec.hasSubs(id) {
				delete(last, id) // live here (the recorder hands its events out), or nobody follows it
				continue
			}
			evs, err := h.store.Events(ctx, id, last[id], 1000)
			if err != nil {
				h.log.Debug("cannot read another node's session events", "session", id, "err", err)
				continue
			}
			for _, e := range evs {
				h.rec.fanout(id, fromStoreEvent(e))
				last[id] = e.Seq
				if e.Type == "session.ended" {
					delete(last, id)
				}
			}
		}
	})
}

// nodeView is one node in GET /v1/nodes.
type nodeView struct {
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat_at"`
	State     string    `json:"state"` // up, draining, silent (heartbeat older than two beats, not yet lost)
	Self      bool      `json:"self"`  // the node answering
	Sessions  *int      `json:"sessions,omitempty"`
}

// apiNodes lists the hub nodes sharing the store, from their heartbeats;
// the answering node adds its live session count.
func (h *Hub) apiNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := h.store.Nodes(r.Context())
	if err != nil {
		h.internalErr(w, "nodes", err)
		return
	}
	out := make([]nodeView, 0, len(nodes))
	silent := time.Now().Add(-2 * h.cfg.Cluster.Heartbeat)
	for _, n := range nodes {
		v := nodeView{Name: n.Name, Address: n.Address, StartedAt: n.StartedAt, Heartbeat: n.Heartbeat, State: "up", Self: n.Name == h.node}
		switch {
		case n.Heartbeat.Before(silent):
			v.State = "silent"
		case n.Draining:
			v.State = "draining"
		}
		if v.Self {
			a := h.Active()
			v.Sessions = &a
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out, "node_timeout_seconds": h.cfg.Cluster.NodeTimeout.Seconds()})
}
