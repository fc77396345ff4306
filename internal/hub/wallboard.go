package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/split-hub/split/internal/records"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/wallboard"
)

// wallboardEvery is how often the wallboard's stream sends the figures and
// the board reads the records other nodes wrote.
const wallboardEvery = 2 * time.Second

func (h *Hub) newBoard() *wallboard.Board {
	var qs []wallboard.Queue
	for _, q := range h.cfg.Sessions.Queues {
		qs = append(qs, wallboard.Queue{Name: q.Name, Threshold: q.ServiceLevel, Target: q.ServiceLevelTarget})
	}
	return wallboard.New(qs)
}

// wallLive is the ACD's state now, as the board takes it.
func (h *Hub) wallLive() wallboard.Live {
	var l wallboard.Live
	for _, q := range h.acd.Queues() {
		l.Queues = append(l.Queues, wallboard.LiveQueue{Name: q.Name, Waiting: q.Waiting, LongestWait: q.LongestWait})
	}
	for _, a := range h.acd.Agents() {
		l.Agents = append(l.Agents, wallboard.LiveAgent{State: a.State.String(), Queues: a.Queues})
	}
	return l
}

// feedBoard keeps the wallboard's day of records and live samples: the
// records of the last 24 hours at start, then every 2 s those written
// since (by this node or another: the store is shared), with a 30 s
// overlap for records written a little after their end (the board ignores
// one it has).
func (h *Hub) feedBoard(ctx context.Context) {
	since := time.Now().Add(-wallboard.Day)
	t := time.NewTicker(wallboardEvery)
	defer t.Stop()
	for {
		now := time.Now()
		if latest, err := h.readRecords(ctx, since, now); err == nil {
			since = latest.Add(-30 * time.Second)
		} else if ctx.Err() == nil {
			h.log.Debug("wallboard: cannot read the call records", "err", err)
		}
		h.board.Sample(now, h.wallLive())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readRecords adds the records that ended from since on to the board and
// returns the latest end seen (since if none).
func (h *Hub) readRecords(ctx context.Context, since, now time.Time) (time.Time, error) {
	latest := since
	f := store.RecordFilter{From: since, Limit: store.MaxListLimit}
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		page, err := h.store.CallRecords(qctx, f)
		cancel()
		if err != nil {
			return latest, err
		}
		for _, s := range page {
			var r records.Record
			if json.Unmarshal(s.Body, &r) == nil {
				h.board.Add(r, now)
			}
			if s.EndedAt.After(latest) {
				latest = s.EndedAt
			}
		}
		if len(page) < f.Limit {
			return latest, nil
		}
		last := page[len(page)-1]
		f.AfterEnded, f.AfterID = last.EndedAt, last.SessionID
	}
}

// apiWallboard is GET /v1/wallboard: the figures now (docs/wallboard.md).
func (h *Hub) apiWallboard(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.board.Figures(time.Now(), h.wallLive()))
}

// apiWallboardEvents is GET /v1/wallboard/events: the figures as
// server-sent events, at once and every 2 s.
func (h *Hub) apiWallboardEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := startSSE(w)
	if !ok {
		return
	}
	t := time.NewTicker(wallboardEvery)
	defer t.Stop()
	for {
		b, err := json.Marshal(h.board.Figures(time.Now(), h.wallLive()))
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: figures\ndata: %s\n\n", b); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-h.life.Done():
			return
		case <-t.C:
		}
	}
}

// LiveFigures are the built-in ACD's figures now, the wallboard's
// definition (for /metrics): waiting sessions and the longest wait (seconds)
// per queue, logged-in agents per state.
func (h *Hub) LiveFigures() (waiting map[string]int, longest map[string]float64, agents map[string]int) {
	waiting, longest, agents = map[string]int{}, map[string]float64{}, map[string]int{}
	l := h.wallLive()
	for _, q := range l.Queues {
		waiting[q.Name], longest[q.Name] = q.Waiting, q.LongestWait.Seconds()
	}
	for _, st := range wallboard.AgentStates {
		agents[st] = 0
	}
	for _, a := range l.Agents {
		if a.State != "logged_out" && a.State != "" {
			agents[a.State]++
		}
	}
	return waiting, longest, agents
}

// startSSE answers a server-sent events stream: its headers, and no read
// deadline (a stream outlives http.read_timeout; the listener's idle bound
// still applies, kept alive by the stream's own writes). ok false: the
// connection cannot stream, and the client was told.
func startSSE(w http.ResponseWriter) (fl http.Flusher, ok bool) {
	fl, ok = w.(http.Flusher)
	if !ok {
		writeErr(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return fl, true
}
