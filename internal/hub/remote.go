package hub

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/store"
)

// An agent's console is connected to one node; a call for the agent may
// live on another (the session's owner: the external ACD's agent leg
// reached it, docs/deploy.md § Several nodes). The owner asks every node,
// through the store (PostgreSQL NOTIFY), to tell the agent's consoles
// {"type":"remote_offer","session":…}; a console then opens a second socket
// with its agent token and ?session=<id> — its own node relays it to the
// owner — and the owner offers the call on that socket, which ends with the
// session. docs/sessions.md, "Transport and authentication".

// remoteOfferWait is how long the owner waits for the agent's session
// socket before the call is refused (480).
const remoteOfferWait = 5 * time.Second

// remoteOfferNote is the message between nodes (store.AgentsChannel).
type remoteOfferNote struct {
	Kind    string `json:"kind"` // "offer"
	Agent   string `json:"agent"`
	Session string `json:"session"`
}

// remoteOfferMsg tells an agent's console that a call for it waits on
// another node: open a socket for session (agent token, ?session=).
type remoteOfferMsg struct {
	Type    string `json:"type"` // "remote_offer"
	Session string `json:"session"`
}

type waitKey struct{ agent, session string }

// remoteWaits are the owner's calls waiting for an agent's session socket.
type remoteWaits struct {
	mu sync.Mutex
	m  map[waitKey]chan *conn
}

// clustered: other nodes may share the store (PostgreSQL).
func (h *Hub) clustered() bool { return h.store.Engine() == store.EnginePostgres }

// otherNodes reports whether another live node shares the store (one whose
// heartbeat is younger than cluster.node_timeout).
func (h *Hub) otherNodes() bool {
	if !h.clustered() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nodes, err := h.store.Nodes(ctx)
	if err != nil {
		return true // cannot tell: ask anyway
	}
	cutoff := time.Now().Add(-h.cfg.Cluster.NodeTimeout)
	for _, n := range nodes {
		if n.Name != h.node && n.Heartbeat.After(cutoff) {
			return true
		}
	}
	return false
}

// askRemoteAgent asks the nodes to have agent's consoles open a socket for
// session sid, and calls arrived with that socket when it is here, or with
// nil after remoteOfferWait (or when the hub closes). arrived runs once, on
// a goroutine the hub owns.
func (h *Hub) askRemoteAgent(agent, sid string, arrived func(*conn)) {
	k := waitKey{agent, sid}
	ch := make(chan *conn, 1)
	h.remote.mu.Lock()
	if h.remote.m == nil {
		h.remote.m = map[waitKey]chan *conn{}
	}
	h.remote.m[k] = ch
	h.remote.mu.Unlock()
	h.goAsync(func() {
		t := time.NewTimer(remoteOfferWait)
		defer t.Stop()
		var c *conn
		select {
		case c = <-ch:
		case <-t.C:
		case <-h.life.Done():
		}
		h.remote.mu.Lock()
		if h.remote.m[k] == ch {
			delete(h.remote.m, k)
		}
		h.remote.mu.Unlock()
		arrived(c)
	})
	b, _ := json.Marshal(remoteOfferNote{Kind: "offer", Agent: agent, Session: sid})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.store.NotifyAgents(ctx, string(b)); err != nil {
		h.log.Warn("cannot ask the other nodes for the agent's console", "agent", agent, "session", sid, "err", err)
	}
}

// onAgentsNote handles a message of the store's agents channel: a remote
// offer goes to the agent's consoles connected here (not to the session
// sockets of other calls).
func (h *Hub) onAgentsNote(payload string) {
	var n remoteOfferNote
	if err := json.Unmarshal([]byte(payload), &n); err != nil || n.Kind != "offer" || !agentIDRE.MatchString(n.Agent) || !uuidRE.MatchString(n.Session) {
		h.log.Debug("ignored a malformed agents message", "payload", payload)
		return
	}
	if h.Session(n.Session) != nil {
		return // the owner itself: its own consoles were asked directly
	}
	for _, c := range h.agentConns(n.Agent) {
		if c.boundSession() == "" {
			c.send(remoteOfferMsg{Type: "remote_offer", Session: n.Session})
		}
	}
}

// sessionSocketArrived: an agent's socket bound to a session connected
// (after its hello): a call waiting for it is offered on it.
func (h *Hub) sessionSocketArrived(c *conn) {
	k := waitKey{c.identity, c.boundSession()}
	h.remote.mu.Lock()
	ch := h.remote.m[k]
	delete(h.remote.m, k)
	h.remote.mu.Unlock()
	if ch != nil {
		ch <- c // buffered: one arrival per wait
	}
}

// acdDeliveredRemote is acdDelivered for an agent with no console here
// (session goroutine): the SIP leg rings while the agent's console, on
// another node, opens its socket for this session; then the call is
// offered on it, or refused 480 if it does not come.
func (h *Hub) acdDeliveredRemote(s *session.Session, sc *sipua.Call, agent string) {
	group, ok := h.addAgentPath(s, sc, agent)
	if !ok {
		return
	}
	sc.Ringing()
	s.Record("acd.remote_offer", sc.ID, map[string]any{"agent": agent})
	h.askRemoteAgent(agent, s.ID, func(c *conn) {
		s.Do(func() {
			if s.Leg(sc.ID) == nil {
				return // the ACD cancelled meanwhile
			}
			if c == nil {
				h.log.Info("the agent's console did not open a socket for the call", "agent", agent, "session", s.ID)
				_ = s.RemoveLeg(sc.ID, 480, "Agent Not Connected")
				return
			}
			h.ringAgentPath(s, sc, agent, group)
		})
	})
}
