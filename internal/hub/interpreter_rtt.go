package hub

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/split-hub/split/internal/sipua"

	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/rtt"
	"github.com/split-hub/split/internal/session"
)

// Real-time text between the deaf user and the interpreters
// (docs/interpreter.md §6): each page sends on its own t140 channel; the
// hub opens one channel per source on every page that may read it
// (label "<from>/<leg>") and relays what a source types, filtered, as it is
// typed. Completed lines go to the session history (rtt.text).

// maxTextLine bounds the characters kept of one source's unfinished line.
const maxTextLine = 4096

// ivTextSource is one page that types (session goroutine).
type ivTextSource struct {
	from string // deaf-user, interpreter
	name string
	line rtt.Text                // what it has typed since its last completed line
	outs map[string]*rtc.TextOut // reader leg → the channel carrying this source
}

// ivTextLeg is l's rtc leg when it carries text.
func ivTextLeg(l *session.Leg) *rtc.Leg {
	if l == nil {
		return nil
	}
	if e, ok := l.EP.(*rtcEP); ok && e.l.HasText() {
		return e.l
	}
	return nil
}

// ivPhoneText is the phone party's call when it carries RFC 4103 text.
func ivPhoneText(l *session.Leg) *sipua.Call {
	if l == nil {
		return nil
	}
	if e, ok := l.EP.(*sipEP); ok && e.c.HasText() {
		return e.c
	}
	return nil
}

// ivTextWire opens the channels the session's text matrix needs
// (session goroutine; after a deaf user or an interpreter joined). Text
// goes between the deaf user and every interpreter, and between the
// interpreters (§4.3).
func (h *Hub) ivTextWire(s *session.Session) {
	t := st(s)
	iv := t.iv
	if iv == nil {
		return
	}
	var legs []*session.Leg
	if d := s.Leg(t.custLeg); ivTextLeg(d) != nil {
		legs = append(legs, d)
	}
	for _, l := range s.LegsWith(session.RoleInterpreter) {
		if ivTextLeg(l) != nil {
			legs = append(legs, l)
		}
	}
	// the phone (RFC 4103, a trunk with text: true): its text goes to every
	// page; the deaf user's text goes to it (SendText in ivText)
	if p := s.Leg(iv.phoneLeg); ivPhoneText(p) != nil && iv.text[p.ID] == nil {
		iv.text[p.ID] = &ivTextSource{from: "phone", name: "Phone", outs: map[string]*rtc.TextOut{}}
		pid := p.ID
		ivPhoneText(p).OnText(func(text string) {
			s.Do(func() { h.ivText(s, pid, text) }) // the text reader's goroutine: post only
		})
		s.Record("rtt.phone", pid, map[string]any{"text": true})
	}
	if p := s.Leg(iv.phoneLeg); p != nil && ivPhoneText(p) != nil {
		ts := iv.text[p.ID]
		for _, dst := range legs {
			if ts.outs[dst.ID] != nil {
				continue
			}
			out, err := ivTextLeg(dst).OpenText("phone/" + p.ID)
			if err != nil {
				s.Record("rtt.refused", dst.ID, map[string]any{"source": p.ID, "why": err.Error()})
				continue
			}
			ts.outs[dst.ID] = out
		}
	}
	for _, src := range legs {
		ts := iv.text[src.ID]
		if ts == nil {
			from := "interpreter"
			if src.Role == session.RoleCustomer {
				from = "deaf-user"
			}
			ts = &ivTextSource{from: from, name: src.Name, outs: map[string]*rtc.TextOut{}}
			iv.text[src.ID] = ts
			srcID := src.ID
			ivTextLeg(src).OnText(func(text string) {
				s.Do(func() { h.ivText(s, srcID, text) }) // pion's goroutine: post only
			})
		}
		for _, dst := range legs {
			if dst == src || ts.outs[dst.ID] != nil {
				continue
			}
			out, err := ivTextLeg(dst).OpenText(ts.from + "/" + src.ID)
			if err != nil {
				s.Record("rtt.refused", dst.ID, map[string]any{"source": src.ID, "why": err.Error()})
				continue
			}
			ts.outs[dst.ID] = out
		}
	}
}

// ivText relays what a source typed (session goroutine).
func (h *Hub) ivText(s *session.Session, srcID, text string) {
	iv := st(s).iv
	if iv == nil || s.Ended() {
		return
	}
	ts := iv.text[srcID]
	if ts == nil || s.Leg(srcID) == nil {
		return
	}
	for dst, out := range ts.outs {
		if s.Leg(dst) == nil {
			_ = out.Close()
			delete(ts.outs, dst)
			continue
		}
		_ = out.Send(text)
	}
	if ts.from == "deaf-user" {
		if sc := ivPhoneText(s.Leg(iv.phoneLeg)); sc != nil {
			_ = sc.SendText(text) // the deaf user's text to a text phone (§4.3)
		}
	}
	h.m.RTTChars(ts.from, len([]rune(text)))
	ts.line.Apply(text)
	if ts.line.Len() > maxTextLine {
		// a line that never ends (a paste, a stuck key) is stored in parts:
		// what is kept per source stays bounded
		h.ivTextLine(s, srcID, ts, ts.line.String())
		ts.line.Reset()
		return
	}
	if lines := ts.line.Lines(); len(lines) > 1 {
		for _, l := range lines[:len(lines)-1] {
			h.ivTextLine(s, srcID, ts, l)
		}
		rest := lines[len(lines)-1]
		ts.line.Reset()
		ts.line.Apply(rest)
	}
}

// ivTextLine keeps one completed line in the history (when rtt.store).
func (h *Hub) ivTextLine(s *session.Session, legID string, ts *ivTextSource, line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	if iv := st(s).iv; iv != nil {
		// the backlog for an interpreter who joins later (in memory, for
		// the session's life only; bounded like the pages' panes)
		iv.lines = append(iv.lines, ivLine{From: ts.from, Name: ts.name, Text: line, At: time.Now().UTC()})
		if len(iv.lines) > maxBacklog {
			iv.lines = append(iv.lines[:0], iv.lines[len(iv.lines)-maxBacklog:]...)
		}
	}
	if !h.cfg.Interpreter.RTT.Stored() {
		return
	}
	s.Record("rtt.text", legID, map[string]any{"from": ts.from, "name": ts.name, "text": line})
}

// ivTextLeft closes what a leaving leg typed and read (session goroutine).
func (h *Hub) ivTextLeft(s *session.Session, legID string) {
	iv := st(s).iv
	if iv == nil {
		return
	}
	if ts := iv.text[legID]; ts != nil {
		h.ivTextLine(s, legID, ts, ts.line.String())
		for _, out := range ts.outs {
			_ = out.Close()
		}
		delete(iv.text, legID)
	}
	for _, ts := range iv.text {
		if out := ts.outs[legID]; out != nil {
			_ = out.Close()
			delete(ts.outs, legID)
		}
	}
}

// rttRetention redacts the text of rtt.text events older than
// interpreter.rtt.retention (docs/interpreter.md §6.5), at start and then
// every tenth of the retention (at most hourly), until ctx ends. The events
// stay, with their source, so the call record's counts do not change.
func (h *Hub) rttRetention(ctx context.Context) {
	if h.cfg.Interpreter == nil {
		return // no interpreter mode: no text to keep
	}
	keep := h.cfg.Interpreter.RTT.Keep()
	if keep <= 0 {
		return
	}
	every := min(max(keep/10, time.Second), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := h.store.RedactEvents(ctx, "rtt.text", time.Now().Add(-keep), redactRTT)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("rtt retention: cannot redact old text", "err", err)
		} else if n > 0 {
			h.log.Info("rtt retention: text redacted", "events", n, "older_than", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// redactRTT keeps an rtt.text event's source and length, not its text.
func redactRTT(d json.RawMessage) json.RawMessage {
	var v struct {
		From string `json:"from"`
		Name string `json:"name"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(d, &v)
	out, _ := json.Marshal(map[string]any{"from": v.From, "name": v.Name, "chars": len([]rune(v.Text)), "redacted": true})
	return out
}

// maxBacklog is how many completed lines an interpreter joining late gets
// (the pages keep as many per pane).
const maxBacklog = 200

type (
	ivLine struct {
		From string    `json:"from"` // deaf-user, interpreter, phone
		Name string    `json:"name"`
		Text string    `json:"text"`
		At   time.Time `json:"at"`
	}
	rttBacklogMsg struct {
		Type    string   `json:"type"`
		Session string   `json:"session"`
		Lines   []ivLine `json:"lines"`
	}
)

// ivBacklog sends an interpreter who joins a session already going (a
// hand-off, a team partner, a requeue) the text so far, oldest first
// (session goroutine; docs/interpreter.md §5, interpreter.rtt.backlog).
func (h *Hub) ivBacklog(s *session.Session, l *session.Leg) {
	iv := st(s).iv
	if iv == nil || len(iv.lines) == 0 || !h.cfg.Interpreter.RTT.Backlogged() {
		return
	}
	m := rttBacklogMsg{Type: "rtt_backlog", Session: s.ID, Lines: append([]ivLine(nil), iv.lines...)}
	for _, c := range h.agentConns(l.Party) {
		c.send(m)
	}
}
