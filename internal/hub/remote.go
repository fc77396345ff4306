package hub

import (
	"context"
	"encoding/json"
	"strings"
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
	Kind    string `json:"kind"`            // "offer" (Agent's consoles) or "incoming" (User's pages)
	Agent   string `json:"agent,omitempty"` // an agent's id
	User    string `json:"user,omitempty"`  // a registered deaf user's id
	Session string `json:"session"`
}

// remoteIncomingMsg tells a registered deaf user's page that a call for it
// rings on another node: open a socket for session (its token, ?session=).
type remoteIncomingMsg struct {
	Type    string `json:"type"` // "remote_incoming"
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
	h.notifyNodes(remoteOfferNote{Kind: "offer", Agent: agent, Session: sid})
}

// notifyNodes sends n to every node (store.AgentsChannel).
func (h *Hub) notifyNodes(n remoteOfferNote) {
	b, _ := json.Marshal(n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.store.NotifyAgents(ctx, string(b)); err != nil {
		h.log.Warn("cannot ask the other nodes for a console or page", "kind", n.Kind, "agent", n.Agent, "user", n.User, "session", n.Session, "err", err)
	}
}

// onAgentsNote handles a message of the store's agents channel: a remote
// offer goes to the agent's consoles connected here (not to the session
// sockets of other calls).
func (h *Hub) onAgentsNote(payload string) {
	var n remoteOfferNote
	err := json.Unmarshal([]byte(payload), &n)
	if err == nil && n.Kind == "incoming" && h.cfg.Interpreter.User(n.User) && uuidRE.MatchString(n.Session) {
		if h.Session(n.Session) != nil {
			return // the owner itself: its own pages rang directly
		}
		for _, c := range h.deafUserConns(n.User) {
			c.send(remoteIncomingMsg{Type: "remote_incoming", Session: n.Session})
		}
		return
	}
	if err != nil || n.Kind != "offer" || !agentIDRE.MatchString(n.Agent) || !uuidRE.MatchString(n.Session) {
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

// presence keeps the store's record of which agents have consoles open on
// this node (store.SetConsoles), for the other nodes: they offer a call
// to an agent whose console is here with remote_offer, and show the agent
// online. Changes are written in order by one goroutine, coalesced per
// agent; a store that does not answer delays the record, never a socket.
type presence struct {
	mu    sync.Mutex
	dirty map[string]bool
	wake  chan struct{}
}

// consoleChanged: agent's consoles here changed (any goroutine).
func (h *Hub) consoleChanged(agent string) {
	if !h.clustered() {
		return
	}
	h.pres.mu.Lock()
	if h.pres.dirty == nil {
		h.pres.dirty = map[string]bool{}
	}
	h.pres.dirty[agent] = true
	h.pres.mu.Unlock()
	select {
	case h.pres.wake <- struct{}{}:
	default:
	}
}

// writePresence writes the changed agents' console counts until ctx ends;
// then it forgets this node's consoles (the hub stops).
func (h *Hub) writePresence(ctx context.Context) {
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = h.store.ForgetConsoles(fctx, h.node)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.pres.wake:
		}
		h.pres.mu.Lock()
		dirty := h.pres.dirty
		h.pres.dirty = nil
		h.pres.mu.Unlock()
		failed := false
		for agent := range dirty {
			n := 0
			if user, ok := strings.CutPrefix(agent, "deaf:"); ok {
				n = len(h.deafUserConns(user)) // a registered deaf user's pages
			} else {
				for _, c := range h.agentConns(agent) {
					if c.boundSession() == "" {
						n++
					}
				}
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := h.store.SetConsoles(wctx, agent, h.node, n)
			cancel()
			if err != nil && ctx.Err() == nil {
				if !failed {
					h.log.Warn("cannot record the agents' consoles for the other nodes; trying again every second", "agent", agent, "err", err)
				}
				failed = true
				h.pres.mu.Lock()
				if h.pres.dirty == nil {
					h.pres.dirty = map[string]bool{}
				}
				h.pres.dirty[agent] = true
				h.pres.mu.Unlock()
			}
		}
		if failed { // the store does not answer: again in a second
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			select {
			case h.pres.wake <- struct{}{}:
			default:
			}
		}
	}
}

// consolesFor counts agent's sockets here that may take an offer for
// session sid: its consoles, and its socket for sid ("": consoles only).
func (h *Hub) consolesFor(agent, sid string) int {
	n := 0
	for _, c := range h.agentConns(agent) {
		if b := c.boundSession(); b == "" || b == sid {
			n++
		}
	}
	return n
}

// onlyElsewhere: agent has no console here and one on another node.
func (h *Hub) onlyElsewhere(agent string) bool {
	return h.consolesFor(agent, "") == 0 && h.clustered() && agentIDRE.MatchString(agent) && h.consolesElsewhere(agent)
}

// consolesElsewhere reports whether agent has a console open on another
// live node (true when the store cannot tell: ask anyway).
func (h *Hub) consolesElsewhere(agent string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	where, err := h.store.ConsoleNodes(ctx, agent)
	if err != nil {
		return true
	}
	for _, n := range where[agent] {
		if n != h.node {
			return true
		}
	}
	return false
}
