package records

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/split-hub/split/internal/store"
)

// Columns are the CSV columns, in order (docs/records.md).
var Columns = []string{"session_id", "mode", "channel", "entry_point", "queue", "customer_name", "customer_contact",
	"created_at", "queued_at", "answered_at", "ended_at", "duration_ms", "queue_wait_ms", "ring_ms", "talk_ms", "hold_ms",
	"outcome", "service_level_met", "cause", "cause_code", "agents", "agent_id", "supervisors", "offers", "declined",
	"transfers", "legs", "max_loss_pct", "max_jitter_ms", "node"}

// Row is r's CSV row, in Columns' order.
func (r Record) Row() []string {
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	sl := ""
	if r.ServiceLevelMet != nil {
		sl = strconv.FormatBool(*r.ServiceLevelMet)
	}
	created, ended := r.CreatedAt, r.EndedAt
	return []string{r.SessionID, r.Mode, r.Channel, r.EntryPoint, r.Queue, r.Customer.Name, r.Customer.Contact,
		t(&created), t(r.QueuedAt), t(r.AnsweredAt), t(&ended), i(r.DurationMs), i(r.QueueWaitMs), i(r.RingMs), i(r.TalkMs),
		i(r.HoldMs), r.Outcome, sl, r.Cause, i(int64(r.CauseCode)), strings.Join(r.Agents, ";"), r.AgentID,
		strings.Join(r.Supervisors, ";"), i(int64(r.Offers)), i(int64(r.Declined)), i(int64(r.Transfers)), i(int64(len(r.Legs))),
		f(r.Media.MaxLossPct), f(r.Media.MaxJitterMs), r.Node}
}

// WriteCSV writes the header line and one row per record. Cells that a
// spreadsheet would run as a formula (=, +, -, @ first) are prefixed with
// a quote: customer names and contacts come from outside.
func WriteCSV(w io.Writer, recs []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for _, r := range recs {
		row := r.Row()
		for k, c := range row {
			row[k] = defuse(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse keeps a text cell from being read as a formula (CSV injection). A
// number, a negative one included, is left alone.
func defuse(c string) string {
	if c == "" || !strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return c
	}
	if _, err := strconv.ParseFloat(c, 64); err == nil {
		return c
	}
	return "'" + c
}

// Stored is r as the store keeps it.
func (r Record) Stored() (store.CallRecord, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return store.CallRecord{}, err
	}
	return store.CallRecord{SessionID: r.SessionID, EndedAt: r.EndedAt, Mode: r.Mode, Channel: r.Channel, Queue: r.Queue,
		Outcome: r.Outcome, Agents: r.Agents, Body: body}, nil
}
