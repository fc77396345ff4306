package wallboard

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/split-hub/split/internal/records"
)

var now = time.Date(2026, 12, 5, 12, 0, 30, 0, time.UTC)

func rec(id, queue, channel, outcome string, endedAgo, waitS, talkS float64, threshold time.Duration) records.Record {
	ended := now.Add(-time.Duration(endedAgo * float64(time.Second)))
	r := records.Record{SessionID: id, Queue: queue, Channel: channel, Mode: "forward", Outcome: outcome, EndedAt: ended,
		QueueWaitMs: int64(waitS * 1000), TalkMs: int64(talkS * 1000)}
	if queue != "" {
		q := ended.Add(-time.Minute)
		r.QueuedAt = &q
		met := outcome == records.Answered && time.Duration(r.QueueWaitMs)*time.Millisecond <= threshold
		r.ServiceLevelMet = &met
	}
	return r
}

func TestFigures(t *testing.T) {
	b := New([]Queue{{Name: "sales", Threshold: 20 * time.Second, Target: 80}, {Name: "support", Threshold: 60 * time.Second, Target: 90}})
	th := 20 * time.Second
	for _, r := range []records.Record{
		rec("a", "sales", "web_video", records.Answered, 30, 5, 100, th),
		rec("b", "sales", "web_video", records.Answered, 90, 10, 200, th),
		rec("c", "sales", "phone", records.Answered, 200, 30, 300, th), // answered, but after the threshold
		rec("d", "sales", "web_video", records.Abandoned, 10, 45, 0, th),
		rec("e", "support", "whatsapp", records.Overflowed, 5000, 120, 0, time.Minute), // more than an hour ago
		rec("f", "", "web_voice", records.Unanswered, 20, 0, 0, th),                    // never queued
		rec("old", "sales", "web_video", records.Answered, 25*3600, 1, 1, th),          // more than a day ago
	} {
		b.Add(r, now)
	}
	b.Add(rec("a", "sales", "web_video", records.Abandoned, 30, 5, 100, th), now) // again: ignored
	live := Live{Queues: []LiveQueue{{Name: "sales", Waiting: 3, LongestWait: 42 * time.Second}, {Name: "support", Waiting: 1, LongestWait: 7 * time.Second}},
		Agents: []LiveAgent{{State: "ready", Queues: []string{"sales"}}, {State: "busy", Queues: []string{"sales", "support"}},
			{State: "busy", Queues: []string{"sales"}}, {State: "logged_out", Queues: []string{"sales"}}, {State: "not_ready", Queues: []string{"support"}}}}
	b.Sample(now.Add(-3*time.Minute), Live{Queues: []LiveQueue{{Name: "sales", Waiting: 5, LongestWait: 80 * time.Second}}})
	b.Sample(now.Add(-3*time.Minute+5*time.Second), Live{}) // within 10 s of the last: not kept
	f := b.Figures(now, live)

	sales := f.Queues[0]
	if sales.Name != "sales" || sales.Waiting != 3 || sales.LongestWait != 42 || sales.ThresholdS != 20 || sales.TargetPct != 80 {
		t.Fatalf("sales live: %+v", sales)
	}
	if sales.Agents["ready"] != 1 || sales.Agents["busy"] != 2 || sales.Agents["logged_out"] != 0 {
		t.Errorf("sales agents: %v", sales.Agents)
	}
	h := sales.Hour
	if h.Offered != 4 || h.Answered != 3 || h.Abandoned != 1 || h.AnsweredWithin != 2 || *h.ServiceLevel != 50 || *h.AbandonRate != 25 ||
		*h.AvgWait != 15 || *h.AvgHandle != 200 {
		t.Errorf("sales, last hour: %s", js(h))
	}
	if s := f.Queues[1].Hour; s.Offered != 0 || s.ServiceLevel != nil || s.AvgWait != nil {
		t.Errorf("support, last hour (nothing offered): %s", js(s))
	}
	if s := f.Queues[1].Day; s.Offered != 1 || s.Overflowed != 1 || *s.ServiceLevel != 0 {
		t.Errorf("support, last 24 h: %s", js(s))
	}
	o := f.Overall
	if o.Waiting != 4 || o.LongestWait != 42 || o.Agents["busy"] != 2 || o.Agents["not_ready"] != 1 {
		t.Errorf("overall live: %+v", o)
	}
	if o.Day.Offered != 5 || o.Day.Answered != 3 || *o.Day.ServiceLevel != 40 || o.Hour.Offered != 4 {
		t.Errorf("overall: hour %s, day %s", js(o.Hour), js(o.Day))
	}
	chans := map[string]Breakdown{}
	for _, c := range f.Channels {
		chans[c.Name] = c
	}
	if chans["web_video"].Hour.Answered != 2 || chans["web_video"].Hour.Abandoned != 1 || chans["phone"].Hour.Answered != 1 ||
		chans["web_voice"].Hour.Offered != 0 || chans["whatsapp"].Day.Overflowed != 1 || len(f.Channels) != 4 {
		t.Errorf("channels: %s", js(f.Channels))
	}
	if len(f.Modes) != 1 || f.Modes[0].Name != "forward" {
		t.Errorf("modes: %s", js(f.Modes))
	}

	// series: 60 one-minute buckets ending with the current minute
	s := f.Hour
	if s.StepS != 60 || len(s.T) != 60 || s.T[59] != now.Truncate(time.Minute).Unix() {
		t.Fatalf("hour series: step %d, %d points, last %d", s.StepS, len(s.T), s.T[len(s.T)-1])
	}
	p := s.Queues["sales"]
	last := 59
	if p.Answered[last] != 1 || p.Abandoned[last] != 1 || *p.ServiceLevel[last] != 50 || p.Answered[last-1] != 1 || p.Answered[last-3] != 1 {
		t.Errorf("sales per minute: answered %v, abandoned %v", p.Answered[55:], p.Abandoned[55:])
	}
	if p.ServiceLevel[10] != nil || p.Waiting[10] != nil {
		t.Error("an empty bucket is not null")
	}
	if w := p.Waiting[last-3]; w == nil || *w != 5 || *p.LongestWait[last-3] != 80 || *s.Queues[""].Waiting[last-3] != 5 {
		t.Errorf("waiting samples: %v", js(p.Waiting[54:]))
	}
	if d := f.Day; d.StepS != 900 || len(d.T) != 96 || d.Queues["support"].Abandoned[95] != 0 {
		t.Errorf("day series: %d, %d", d.StepS, len(d.T))
	}

	// a day later everything has aged out
	later := now.Add(25 * time.Hour)
	b.Sample(later, Live{})
	f = b.Figures(later, Live{})
	if f.Overall.Day.Offered != 0 || len(f.Channels) != 0 {
		t.Errorf("a day later: %s", js(f.Overall.Day))
	}
	if _, err := json.Marshal(f); err != nil {
		t.Fatal(err)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
