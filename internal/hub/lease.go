package hub

import (
	"context"
	"sync"
	"time"
)

// Singleton runs run while this node holds the cluster-wide lease name,
// until ctx ends: a job to do once for all nodes sharing the store (a trunk
// registration). The lease lasts three heartbeats and is renewed at each;
// when its holder stops (cleanly: it gives the lease up; killed or cut off
// from the store: the lease runs out) another node takes it at its next
// heartbeat and starts the job there. A node that cannot renew stops the
// job when its lease runs out, so two nodes never run it past that. A
// draining node gives the lease up at once and does not take it again.
// With one node (SQLite), that node holds it from the start.
func (h *Hub) Singleton(ctx context.Context, name string, run func(context.Context)) {
	ttl := 3 * h.cfg.Cluster.Heartbeat
	var (
		cancel  context.CancelFunc
		wg      sync.WaitGroup
		expires time.Time
	)
	start := func() context.CancelFunc {
		jctx, c := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(jctx)
		}()
		return c
	}
	stop := func() {
		if cancel != nil {
			cancel()
			wg.Wait()
			cancel = nil
		}
	}
	t := time.NewTicker(h.cfg.Cluster.Heartbeat)
	defer t.Stop()
	release := func() {
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := h.store.ReleaseLease(rctx, name, h.node); err != nil {
			h.log.Warn("cannot give the lease up", "lease", name, "err", err)
		}
		c()
	}
	defer func() {
		if cancel != nil {
			stop()
			release()
		}
	}()
	for {
		if h.isDraining() {
			// a draining node takes no new calls: the job (a registration
			// that brings calls) goes to another node
			if cancel != nil {
				h.log.Info("draining: giving the lease up", "lease", name)
				stop()
				release()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			continue
		}
		now := time.Now()
		actx, c := context.WithTimeout(ctx, h.cfg.Cluster.Heartbeat)
		ok, err := h.store.AcquireLease(actx, name, h.node, now, now.Add(ttl))
		c()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && ok:
			expires = now.Add(ttl)
			if cancel == nil {
				h.log.Info("this node holds the lease: starting its job", "lease", name)
				cancel = start()
			}
		case err == nil: // another node holds it
			if cancel != nil {
				h.log.Warn("another node took the lease: stopping its job here", "lease", name)
				stop()
			}
		default: // the store does not answer: keep the job until the lease runs out
			if cancel != nil && time.Now().After(expires) {
				h.log.Warn("cannot renew the lease and it ran out: stopping its job here", "lease", name, "err", err)
				stop()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
