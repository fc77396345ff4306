package hub

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/store"
)

// Several nodes share one store (docs/deploy.md, "Several nodes"). A
// session's legs live on the node that created it, its owner; a request
// about a session that reaches another node is sent to the owner:
//
//   - HTTP (the session socket of a customer or viewer token, POST /v1/join,
//     the REST calls that act on a live session) is relayed to the owner's
//     address as it came, WebSocket upgrades included: only signalling takes
//     the extra hop, media goes straight to the owner's ICE candidates. So a
//     load balancer may send any request anywhere, and API clients need not
//     follow redirects (which drop their credentials across hosts);
//   - SIP (an external ACD's INVITE naming the session) is answered 302 with
//     the owner's SIP address: the proxy in front (Kamailio) or the ACD
//     re-sends it there.

// ownerRecordWait is how long a node waits for the record of a session it
// does not know before saying it does not exist.
const ownerRecordWait = time.Second

// HeaderRelayedBy marks a request one node relayed to another: the owner
// never relays it again, so two nodes that disagree cannot loop.
const HeaderRelayedBy = "X-Split-Relayed-By"

// HeaderRelayClient and HeaderRelayProof: the address of the client a
// relayed request came from, and the relaying node's proof that it says so
// (a short-lived token of kind node, signed with the cluster's shared
// auth.token_secret). The owner's per-address limits (joins, sessions per
// entry point) then count the client, not the relaying node; without a
// valid proof the headers are ignored.
const (
	HeaderRelayClient = "X-Split-Relay-Client"
	HeaderRelayProof  = "X-Split-Relay-Proof"
)

// relayProofTTL bounds how long a relayed request's proof is good.
const relayProofTTL = time.Minute

// relayedFrom is the client address a node vouched for on a request it
// relayed here.
func (h *Hub) relayedFrom(r *http.Request) (string, bool) {
	proof, client := r.Header.Get(HeaderRelayProof), r.Header.Get(HeaderRelayClient)
	if proof == "" || client == "" {
		return "", false
	}
	c, err := h.signer.Verify(proof)
	if err != nil || c.Role != auth.RoleNode {
		return "", false
	}
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return "", false
	}
	return ip.String(), true
}

// nodeSIP is where this node takes SIP, as other nodes redirect to it.
func (h *Hub) nodeSIP() string {
	if a := h.cfg.Cluster.SIPAddress; a != "" {
		return a
	}
	if h.ua == nil {
		return ""
	}
	return "sip:" + h.ua.Host()
}

// nodeAddress is where other nodes relay HTTP for this node's sessions.
func (h *Hub) nodeAddress() string {
	if a := h.cfg.Cluster.Address; a != "" {
		return strings.TrimSuffix(a, "/")
	}
	return h.publicURL()
}

// owner is the live node other than this one that owns session id, or
// false when id is unknown, over, this node's, or its node is not live.
func (h *Hub) owner(ctx context.Context, id string) (store.Node, bool) {
	if !h.clustered() {
		return store.Node{}, false
	}
	rec, err := h.store.GetSession(ctx, id)
	// The owner writes a new session's record a moment after creating it;
	// an ACD or a client may name it here sooner (an ACD that delivers the
	// call within milliseconds): wait for the record that long.
	for wait := time.Now().Add(ownerRecordWait); errors.Is(err, store.ErrNotFound) && time.Now().Before(wait); {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return store.Node{}, false
		case <-t.C:
		}
		rec, err = h.store.GetSession(ctx, id)
	}
	if err != nil || !rec.EndedAt.IsZero() || rec.Node == "" || rec.Node == h.node {
		return store.Node{}, false
	}
	nodes, err := h.store.Nodes(ctx)
	if err != nil {
		return store.Node{}, false
	}
	cutoff := time.Now().Add(-h.cfg.Cluster.NodeTimeout)
	for _, n := range nodes {
		if n.Name == rec.Node && n.Heartbeat.After(cutoff) {
			return n, true
		}
	}
	return store.Node{}, false
}

// relayTo relays r to node n (as it came: method, path, body, Host,
// Origin, a WebSocket upgrade) and the answer back; false when this node
// should answer itself: the request was relayed already, or n has no
// usable address.
func (h *Hub) relayTo(w http.ResponseWriter, r *http.Request, n store.Node) bool {
	if r.Header.Get(HeaderRelayedBy) != "" {
		h.log.Warn("a relayed request reached a node that does not own its session; answering here",
			"from", r.Header.Get(HeaderRelayedBy), "path", r.URL.Path)
		return false
	}
	target, err := url.Parse(n.Address)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		h.log.Warn("the owner node has no usable address", "node", n.Name, "address", n.Address)
		return false
	}
	h.m.ClusterRelay("http")
	client := h.clientAddr(r)
	proof, _, err := h.signer.Mint(auth.Claims{Identity: h.node, Role: auth.RoleNode}, relayProofTTL)
	if err != nil {
		h.log.Warn("cannot mint the relay's proof", "err", err)
		return false
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			// the owner checks a WebSocket's Origin against Host: keep
			// the Host the client used
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(HeaderRelayedBy, h.node)
			pr.Out.Header.Set(HeaderRelayClient, client)
			pr.Out.Header.Set(HeaderRelayProof, proof)
		},
		Transport: h.relayTransport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			h.log.Warn("cannot relay to the owner node", "node", n.Name, "path", r.URL.Path, "err", err)
			writeErr(w, http.StatusBadGateway, "owner_unreachable", "the node that hosts this session does not answer; try again")
		},
	}
	// a relayed socket lasts as long as its client and the owner keep it,
	// and no longer than this node (Close)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if h.life != nil {
		defer context.AfterFunc(h.life, cancel)()
	}
	rp.ServeHTTP(w, r.WithContext(ctx))
	return true
}

// atOwner runs next for a session hosted here, and relays the request to
// the owner of a session hosted on another node ({id} in the path).
func (h *Hub) atOwner(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); uuidRE.MatchString(id) && h.Session(id) == nil {
			if n, ok := h.owner(r.Context(), id); ok && h.relayTo(w, r, n) {
				return
			}
		}
		next(w, r)
	}
}

// redirectSIP answers an INVITE for session id, hosted on another live
// node, with 302 to that node; false when id is not hosted elsewhere.
func (h *Hub) redirectSIP(c interface{ Redirect(sip.Uri) }, id string) bool {
	n, ok := h.owner(context.Background(), id)
	if !ok || n.SIP == "" {
		return false
	}
	var u sip.Uri
	if err := sip.ParseUri(n.SIP, &u); err != nil {
		h.log.Warn("the owner node has no usable SIP address", "node", n.Name, "sip", n.SIP)
		return false
	}
	h.m.ClusterRelay("sip")
	h.log.Info("INVITE for a session on another node: redirected", "session", id, "node", n.Name, "to", n.SIP)
	c.Redirect(u)
	return true
}
