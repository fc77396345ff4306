package hub

import (
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/acd/shared"
)

// distributor is the built-in ACD: acd.ACD on one node (SQLite), or
// shared.Engine when nodes share PostgreSQL, where queue order and the
// longest-idle agent are global. The hub is its Dispatcher either way.
type distributor interface {
	Enqueue(sessionID, queue string, priority int) (int, error)
	Position(sessionID string) (queue string, position int, ewt time.Duration, ok bool)
	Remove(sessionID string) bool
	Accept(agentID, sessionID string) error
	Decline(agentID, sessionID string) error
	CallEnded(agentID string) error
	Transfer(sessionID, fromAgentID, queue string) (int, error)
	OfferTo(sessionID, agentID string) error
	Login(agentID, name string, queues []string) error
	Logout(agentID string) error
	SetReady(agentID string, ready bool) error
	Agents() []acd.AgentStatus
	Queues() []acd.QueueStatus
	Close()
}

var (
	_ distributor = (*acd.ACD)(nil)
	_ distributor = (*shared.Engine)(nil)
)

func (h *Hub) newDistributor(qs []acd.QueueConfig) (distributor, error) {
	log := h.log.With("component", "acd")
	if h.clustered() {
		return shared.New(qs, h, shared.Options{Store: h.store, Node: h.node, Log: log})
	}
	return acd.New(qs, h, acd.WithLogger(log))
}
