package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/split-hub/split/internal/records"
	"github.com/split-hub/split/internal/store"
)

// callRecord builds the call record of a session that is over from its
// stored history, stores it and sends the session.ended webhook with it
// (docs/records.md). While the store does not answer it tries again, up
// to every 5 s, for recordPatience or until the hub stops; then the webhook
// goes out without a record.
func (h *Hub) callRecord(id string) {
	ev, told := h.rec.takeEnded(id)
	if !told {
		// ended without a session.ended event of its own (a shutdown
		// before End): the store's row is all there is
		ev = endedEvent{}
	}
	rec, err := h.buildRecord(h.life, id)
	for wait, deadline := time.Second, time.Now().Add(recordPatience); err != nil; wait = min(2*wait, 5*time.Second) {
		if errors.Is(err, store.ErrInvalid) || time.Now().After(deadline) || h.life.Err() != nil {
			// refused for a reason of its own (a bad value):
			// trying again changes nothing
			h.log.Warn("no call record for a session: its history cannot be read", "session", id, "err", err)
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-h.life.Done():
			t.Stop()
		}
		rec, err = h.buildRecord(h.life, id)
	}
	if h.hooks == nil || ev.info == nil {
		return
	}
	data := map[string]any{"event": ev.e, "session": ev.info}
	if err == nil {
		data["record"] = rec
	}
	h.hooks.Publish(ev.e.Type, id, ev.e.At, data)
}

// recordPatience is how long a session's call record waits for the store.
const recordPatience = 10 * time.Minute

func (h *Hub) buildRecord(parent context.Context, id string) (records.Record, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	row, err := h.store.GetSession(ctx, id)
	if err != nil {
		return records.Record{}, err
	}
	evs, err := h.store.AllEvents(ctx, id)
	if err != nil {
		return records.Record{}, err
	}
	rec := records.Build(row, evs, h.serviceLevel)
	st, err := rec.Stored()
	if err != nil {
		return records.Record{}, err
	}
	if err := h.store.PutCallRecord(ctx, st); err != nil {
		return records.Record{}, err
	}
	sl := "none"
	if rec.ServiceLevelMet != nil {
		sl = map[bool]string{true: "met", false: "missed"}[*rec.ServiceLevelMet]
	}
	q := rec.Queue
	if _, ok := h.queueConfig(q); !ok && q != "" {
		q = "other" // a bounded label: the configured queues, "" and other
	}
	h.m.CallRecord(q, rec.Channel, rec.Outcome, sl)
	if h.board != nil {
		h.board.Add(rec, time.Now())
	}
	return rec, nil
}

// serviceLevel is a queue's service-level threshold (0: the default).
func (h *Hub) serviceLevel(queue string) time.Duration {
	if q, ok := h.queueConfig(queue); ok {
		return q.ServiceLevel
	}
	return 0
}

// apiRecords is GET /v1/records (docs/records.md): a page of call records,
// oldest first, as JSON or CSV.
func (h *Hub) apiRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RecordFilter{Queue: q.Get("queue"), Agent: q.Get("agent"), Mode: q.Get("mode"),
		Channel: q.Get("channel"), Outcome: q.Get("outcome"), Limit: store.DefaultListLimit}
	bad := func(msg string) { writeErr(w, http.StatusBadRequest, "bad_request", msg) }
	for _, k := range []string{"from", "to"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad(k + " must be an RFC 3339 time")
			return
		}
		if k == "from" {
			f.From = t
		} else {
			f.To = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxListLimit {
			bad(fmt.Sprintf("limit must be 1-%d", store.MaxListLimit))
			return
		}
		f.Limit = n
	}
	if f.Outcome != "" && !slices.Contains(records.Outcomes, f.Outcome) {
		bad("outcome must be one of " + strings.Join(records.Outcomes, ", "))
		return
	}
	if f.Channel != "" && !slices.Contains(records.Channels, f.Channel) {
		bad("channel must be one of " + strings.Join(records.Channels, ", "))
		return
	}
	for _, v := range []string{f.Queue, f.Agent, f.Mode} {
		if len(v) > 128 || !utf8.ValidString(v) {
			bad("queue, agent and mode must be names")
			return
		}
	}
	if c := q.Get("cursor"); c != "" {
		at, id, ok := decodeCursor(c)
		if !ok {
			bad("cursor is not one this API gave")
			return
		}
		f.AfterEnded, f.AfterID = at, id
	}
	csvOut := false
	switch q.Get("format") {
	case "csv":
		csvOut = true
	case "", "json":
		csvOut = q.Get("format") == "" && strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		bad("format must be json or csv")
		return
	}
	stored, err := h.store.CallRecords(r.Context(), f)
	if err != nil {
		h.internalErr(w, "list call records", err)
		return
	}
	recs := make([]records.Record, 0, len(stored))
	for _, s := range stored {
		var rec records.Record
		if err := json.Unmarshal(s.Body, &rec); err != nil {
			h.internalErr(w, "read a call record", err)
			return
		}
		recs = append(recs, rec)
	}
	next := ""
	if len(stored) == f.Limit {
		last := stored[len(stored)-1]
		next = encodeCursor(last.EndedAt, last.SessionID)
	}
	if csvOut {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="split-records.csv"`)
		if next != "" {
			w.Header().Set("X-Next-Cursor", next)
		}
		if err := records.WriteCSV(w, recs); err != nil {
			h.log.Debug("writing call records as CSV", "err", err)
		}
		return
	}
	resp := map[string]any{"records": recs}
	if next != "" {
		resp["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

// A cursor is the last record of a page: its end (Unix ms) and session id.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMilli(), 10) + ":" + id))
}

func decodeCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ms, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n <= 0 || id == "" || len(id) > 128 || !utf8.ValidString(id) {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n).UTC(), id, true
}
