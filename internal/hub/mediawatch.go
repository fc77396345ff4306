package hub

import (
	"context"
	"time"

	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
)

// watchMedia hangs up the SIP legs of live sessions whose far end has sent
// no RTP for rtp.timeout while answered and not on hold: a peer that
// vanished without BYE (a crashed ACD, a phone that lost its network). The
// leg ends with 408 "Media timeout" and the session's policy for that leg's
// role runs as for a BYE. It runs until ctx ends (Hub.Close).
func (h *Hub) watchMedia(ctx context.Context) {
	limit := h.cfg.RTP.Timeout
	if limit <= 0 {
		return
	}
	every := min(max(limit/4, 50*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		ss := make([]*session.Session, 0, len(h.sessions))
		for _, s := range h.sessions {
			ss = append(ss, s)
		}
		h.mu.Unlock()
		now := time.Now()
		for _, s := range ss {
			s.Do(func() { h.checkMedia(s, now, limit) })
		}
	}
}

// checkMedia is one media-timeout pass over a session's SIP legs (session
// goroutine).
func (h *Hub) checkMedia(s *session.Session, now time.Time, limit time.Duration) {
	if s.Ended() {
		return
	}
	t := st(s)
	held := s.MediaHeld() // the hub paused the session's media (built-in hold)
	for _, l := range s.Legs() {
		ep, ok := l.EP.(*sipEP)
		if !ok {
			continue
		}
		if _, gone := t.timedOut[l.ID]; gone {
			continue
		}
		if ep.c.State() != sipua.StateActive || ep.c.OnHold() || held {
			// not answered yet, this leg on hold (either side), the
			// session's media paused: no RTP is due; the silence is
			// counted from when it is active again. A hold on another leg
			// (the agent's, by re-INVITE toward an external ACD) does not
			// exempt this one: the ACD plays its music to the customer.
			delete(t.activeSince, l.ID)
			continue
		}
		since, seen := t.activeSince[l.ID]
		if !seen {
			t.activeSince[l.ID] = now
			continue
		}
		last := ep.c.LastMedia()
		if last.Before(since) {
			last = since
		}
		if now.Sub(last) <= limit {
			continue
		}
		h.log.Warn("no RTP from a SIP leg; hanging it up", "session", s.ID, "leg", l.ID, "role", string(l.Role),
			"silent_for", now.Sub(last).Round(time.Millisecond).String())
		t.timedOut[l.ID] = 408
		s.Record("leg.media_timeout", l.ID, map[string]any{"silent_ms": now.Sub(last).Milliseconds()})
		// BYE with the leg's own hang-up; its end runs the leg-gone policy
		// (legCause reports 408 "Media timeout").
		c := ep.c
		h.goAsync(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.Hangup(ctx, 408, "Media timeout")
		})
	}
}
