// Package gateway joins a browser (a WebRTC leg, signalled over the
// WebSocket protocol of docs/signalling.md) and a SIP call (a sipua.Call)
// into one bridged call, in both directions: browser → any SIP URI on a
// trunk, and SIP INVITE for sip:<identity>@hub → the browsers connected with
// that identity.
package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/sipua"
)

// Metrics is what the gateway counts.
type Metrics interface {
	CallStarted(direction string)
	CallEnded(direction, result string, d time.Duration)
	SetupLatency(d time.Duration)
}

type noMetrics struct{}

func (noMetrics) CallStarted(string)                      {}
func (noMetrics) CallEnded(string, string, time.Duration) {}
func (noMetrics) SetupLatency(time.Duration)              {}

// Gateway owns the connected browsers and their calls.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	ua      *sipua.UA
	rtc     *rtc.Engine
	metrics Metrics
	version string

	mu       sync.Mutex
	clients  map[string]map[*Client]struct{} // by identity
	calls    map[*Call]struct{}
	draining bool
	wg       sync.WaitGroup
	active   atomic.Int64
}

// New returns a gateway; SetUA must be called before calls flow (the UA
// needs the gateway as its Handler, so they are built in two steps).
func New(cfg *config.Config, log *slog.Logger, engine *rtc.Engine, m Metrics, version string) *Gateway {
	if m == nil {
		m = noMetrics{}
	}
	return &Gateway{cfg: cfg, log: log, rtc: engine, metrics: m, version: version,
		clients: map[string]map[*Client]struct{}{}, calls: map[*Call]struct{}{}}
}

// SetUA installs the SIP user agent.
func (g *Gateway) SetUA(ua *sipua.UA) { g.ua = ua }

// ActiveCalls is the number of bridged calls alive.
func (g *Gateway) ActiveCalls() int { return int(g.active.Load()) }

// Drain refuses new calls from now on.
func (g *Gateway) Drain() {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
}

func (g *Gateway) isDraining() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.draining
}

// Wait blocks until every call has ended or ctx is done.
func (g *Gateway) Wait(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for g.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			g.log.Info("draining: waiting for calls", "active", g.active.Load())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Close hangs up everything and waits for the call goroutines.
func (g *Gateway) Close() {
	g.mu.Lock()
	calls := make([]*Call, 0, len(g.calls))
	for c := range g.calls {
		calls = append(calls, c)
	}
	g.mu.Unlock()
	for _, c := range calls {
		c.post(func() { c.hangup(503, "Service Unavailable") })
	}
	g.wg.Wait()
}

func (g *Gateway) addClient(c *Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.clients[c.identity]
	if m == nil {
		m = map[*Client]struct{}{}
		g.clients[c.identity] = m
	}
	m[c] = struct{}{}
}

func (g *Gateway) removeClient(c *Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.clients[c.identity]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(g.clients, c.identity)
		}
	}
}

func (g *Gateway) clientsFor(identity string) []*Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Client
	for c := range g.clients[identity] {
		out = append(out, c)
	}
	return out
}

// Connected reports whether a browser with identity is connected.
func (g *Gateway) Connected(identity string) bool { return len(g.clientsFor(identity)) > 0 }

// Incoming implements sipua.Handler: ring the browsers of the called identity.
func (g *Gateway) Incoming(sc *sipua.Call) {
	if g.isDraining() {
		sc.Reject(503, "Service Unavailable")
		return
	}
	clients := g.clientsFor(sc.To.User)
	if len(clients) == 0 {
		g.log.Info("no browser for identity; 480", "identity", sc.To.User)
		sc.Reject(480, "Temporarily Unavailable")
		return
	}
	c := newCall(g, clients[0], "k-"+sc.ID[4:], sipua.Inbound)
	c.sip = sc
	g.track(c)
	c.start(func() { c.ring(clients) })
}

func (g *Gateway) track(c *Call) {
	g.mu.Lock()
	g.calls[c] = struct{}{}
	g.mu.Unlock()
	g.active.Add(1)
	g.metrics.CallStarted(string(c.dir))
}

func (g *Gateway) untrack(c *Call) {
	g.mu.Lock()
	_, ok := g.calls[c]
	delete(g.calls, c)
	g.mu.Unlock()
	if ok {
		g.active.Add(-1)
	}
}
