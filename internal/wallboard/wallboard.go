// Package wallboard computes the live figures contact-centre supervisors
// steer by — calls waiting and the longest wait, service level, answered and
// abandoned, average wait and handle time, agents by state — per queue and
// overall, with series over the last hour and the last 24 hours for plots.
// It is fed the call records (package records) and the ACD's live state; the
// definitions are docs/records.md's and docs/wallboard.md's, the same the
// /metrics counters use.
package wallboard

import (
	"sort"
	"sync"
	"time"

	"github.com/split-hub/split/internal/records"
)

// Queue is a queue the board shows: its name and service-level settings.
type Queue struct {
	Name      string
	Threshold time.Duration // the service level's threshold
	Target    float64       // percent
}

// Live is the ACD's state now.
type Live struct {
	Queues []LiveQueue
	Agents []LiveAgent
}

// LiveQueue is one queue now.
type LiveQueue struct {
	Name        string
	Waiting     int
	LongestWait time.Duration
}

// LiveAgent is one agent now.
type LiveAgent struct {
	State  string // acd.AgentState's names
	Queues []string
}

// Window lengths and their plot steps.
const (
	Hour    = time.Hour
	Day     = 24 * time.Hour
	hourBin = time.Minute
	dayBin  = 15 * time.Minute
	// sampleEvery is how often the live waiting figures are kept for plots.
	sampleEvery = 10 * time.Second
)

// AgentStates are the states counted, in display order.
var AgentStates = []string{"ready", "ringing", "busy", "wrap_up", "not_ready"}

// entry is what the board keeps of a record.
type entry struct {
	id             string
	ended          time.Time
	queue, channel string
	mode, outcome  string
	queued, met    bool
	waitMs, talkMs int64
}

type sample struct {
	at      time.Time
	waiting map[string]int
	longest map[string]float64 // seconds
}

// Board keeps the last 24 hours of records and live samples. Safe for
// concurrent use.
type Board struct {
	mu      sync.Mutex
	queues  []Queue
	entries []entry // by ended
	seen    map[string]time.Time
	samples []sample
}

// New returns an empty board for queues.
func New(queues []Queue) *Board {
	return &Board{queues: queues, seen: map[string]time.Time{}}
}

// Add takes a record in (again: ignored). Records older than a day are
// not kept.
func (b *Board) Add(r records.Record, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[r.SessionID]; ok || now.Sub(r.EndedAt) > Day {
		return
	}
	b.seen[r.SessionID] = r.EndedAt
	e := entry{id: r.SessionID, ended: r.EndedAt, queue: r.Queue, channel: r.Channel, mode: r.Mode, outcome: r.Outcome,
		queued: r.QueuedAt != nil, met: r.ServiceLevelMet != nil && *r.ServiceLevelMet, waitMs: r.QueueWaitMs, talkMs: r.TalkMs}
	i := sort.Search(len(b.entries), func(i int) bool { return b.entries[i].ended.After(e.ended) })
	b.entries = append(b.entries, entry{})
	copy(b.entries[i+1:], b.entries[i:])
	b.entries[i] = e
	b.trim(now)
}

// Sample keeps the live waiting figures for the plots, at most every 10 s.
func (b *Board) Sample(now time.Time, live Live) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.samples); n > 0 && now.Sub(b.samples[n-1].at) < sampleEvery {
		return
	}
	s := sample{at: now, waiting: map[string]int{}, longest: map[string]float64{}}
	for _, q := range live.Queues {
		s.waiting[q.Name] = q.Waiting
		s.longest[q.Name] = q.LongestWait.Seconds()
	}
	b.samples = append(b.samples, s)
	b.trim(now)
}

func (b *Board) trim(now time.Time) {
	cut := now.Add(-Day)
	i := 0
	for i < len(b.entries) && b.entries[i].ended.Before(cut) {
		delete(b.seen, b.entries[i].id)
		i++
	}
	if i > 0 {
		b.entries = append(b.entries[:0], b.entries[i:]...)
	}
	j := 0
	for j < len(b.samples) && b.samples[j].at.Before(cut) {
		j++
	}
	if j > 0 {
		b.samples = append(b.samples[:0], b.samples[j:]...)
	}
}

// Stats are one window's figures (docs/wallboard.md).
type Stats struct {
	Offered        int      `json:"offered"` // queued sessions that ended: answered + abandoned + overflowed
	Answered       int      `json:"answered"`
	Abandoned      int      `json:"abandoned"`
	Overflowed     int      `json:"overflowed"`
	AnsweredWithin int      `json:"answered_within"`
	ServiceLevel   *float64 `json:"service_level_pct"` // null when nothing was offered
	AbandonRate    *float64 `json:"abandon_pct"`
	AvgWait        *float64 `json:"avg_wait_s"`   // of the answered (speed of answer)
	AvgHandle      *float64 `json:"avg_handle_s"` // talk time (hold included) of the answered
	waitSum        int64
	talkSum        int64
	waited         int // answered that were queued (their wait counts)
}

func (s *Stats) add(e entry) {
	switch e.outcome {
	case records.Answered:
		s.Answered++
		s.talkSum += e.talkMs
		if e.queued {
			s.waitSum += e.waitMs
			s.waited++
		}
	case records.Abandoned:
		s.Abandoned++
	case records.Overflowed:
		s.Overflowed++
	}
	if e.queued {
		s.Offered++
		if e.met {
			s.AnsweredWithin++
		}
	}
}

func (s *Stats) finish() {
	pct := func(a, b int) *float64 {
		if b == 0 {
			return nil
		}
		v := round1(float64(a) * 100 / float64(b))
		return &v
	}
	s.ServiceLevel = pct(s.AnsweredWithin, s.Offered)
	s.AbandonRate = pct(s.Abandoned, s.Offered)
	if s.waited > 0 {
		w := round1(float64(s.waitSum) / float64(s.waited) / 1000)
		s.AvgWait = &w
	}
	if s.Answered > 0 {
		h := round1(float64(s.talkSum) / float64(s.Answered) / 1000)
		s.AvgHandle = &h
	}
}

// QueueFigures are one queue's figures, or the overall ones (Name "").
type QueueFigures struct {
	Name        string         `json:"name"`
	ThresholdS  float64        `json:"threshold_s"`
	TargetPct   float64        `json:"target_pct"`
	Waiting     int            `json:"waiting"`
	LongestWait float64        `json:"longest_wait_s"`
	Agents      map[string]int `json:"agents"`
	Hour        Stats          `json:"hour"`
	Day         Stats          `json:"day"`
}

// Breakdown is a window's figures per channel or mode.
type Breakdown struct {
	Name string `json:"name"`
	Hour Stats  `json:"hour"`
	Day  Stats  `json:"day"`
}

// Series are a window's plot points: one per step, oldest first, per queue
// ("" is overall). Buckets with no data are null.
type Series struct {
	StepS  int                `json:"step_s"`
	T      []int64            `json:"t"` // bucket starts, Unix seconds
	Queues map[string]*Points `json:"queues"`
}

// Points are one queue's series.
type Points struct {
	Answered     []int      `json:"answered"`
	Abandoned    []int      `json:"abandoned"`
	ServiceLevel []*float64 `json:"service_level_pct"`
	AvgWait      []*float64 `json:"avg_wait_s"`
	Waiting      []*float64 `json:"waiting"`        // the highest sample in the bucket
	LongestWait  []*float64 `json:"longest_wait_s"` // the highest sample in the bucket
}

// Figures are everything the wallboard shows.
type Figures struct {
	At       time.Time      `json:"at"`
	Overall  QueueFigures   `json:"overall"`
	Queues   []QueueFigures `json:"queues"`
	Channels []Breakdown    `json:"channels"`
	Modes    []Breakdown    `json:"modes"`
	Hour     Series         `json:"hour"`
	Day      Series         `json:"day"`
}

// Figures computes the board at now with the ACD's live state.
func (b *Board) Figures(now time.Time, live Live) Figures {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := Figures{At: now.UTC(), Queues: []QueueFigures{}, Channels: []Breakdown{}, Modes: []Breakdown{}}
	f.Overall = QueueFigures{Agents: map[string]int{}, ThresholdS: records.DefaultServiceLevel.Seconds(), TargetPct: 80}
	index := map[string]int{}
	for _, q := range b.queues {
		index[q.Name] = len(f.Queues)
		f.Queues = append(f.Queues, QueueFigures{Name: q.Name, ThresholdS: q.Threshold.Seconds(), TargetPct: q.Target, Agents: map[string]int{}})
	}
	queue := func(name string) *QueueFigures {
		if i, ok := index[name]; ok {
			return &f.Queues[i]
		}
		return nil
	}
	for _, q := range live.Queues {
		if qf := queue(q.Name); qf != nil {
			qf.Waiting, qf.LongestWait = q.Waiting, round1(q.LongestWait.Seconds())
		}
		f.Overall.Waiting += q.Waiting
		f.Overall.LongestWait = max(f.Overall.LongestWait, round1(q.LongestWait.Seconds()))
	}
	for _, a := range live.Agents {
		if a.State == "logged_out" || a.State == "" {
			continue
		}
		f.Overall.Agents[a.State]++
		for _, q := range a.Queues {
			if qf := queue(q); qf != nil {
				qf.Agents[a.State]++
			}
		}
	}
	channels, modes := map[string]*Breakdown{}, map[string]*Breakdown{}
	part := func(m map[string]*Breakdown, k string) *Breakdown {
		if m[k] == nil {
			m[k] = &Breakdown{Name: k}
		}
		return m[k]
	}
	hourCut := now.Add(-Hour)
	for _, e := range b.entries {
		qf := queue(e.queue)
		ch, md := part(channels, e.channel), part(modes, e.mode)
		f.Overall.Day.add(e)
		ch.Day.add(e)
		md.Day.add(e)
		if qf != nil {
			qf.Day.add(e)
		}
		if !e.ended.Before(hourCut) {
			f.Overall.Hour.add(e)
			ch.Hour.add(e)
			md.Hour.add(e)
			if qf != nil {
				qf.Hour.add(e)
			}
		}
	}
	finish := func(q *QueueFigures) { q.Hour.finish(); q.Day.finish() }
	finish(&f.Overall)
	for i := range f.Queues {
		finish(&f.Queues[i])
	}
	for _, m := range []struct {
		from map[string]*Breakdown
		to   *[]Breakdown
	}{{channels, &f.Channels}, {modes, &f.Modes}} {
		for _, v := range m.from {
			v.Hour.finish()
			v.Day.finish()
			*m.to = append(*m.to, *v)
		}
		sort.Slice(*m.to, func(i, j int) bool { return (*m.to)[i].Name < (*m.to)[j].Name })
	}
	f.Hour = b.series(now, Hour, hourBin)
	f.Day = b.series(now, Day, dayBin)
	return f
}

// series bins the window ending at now into steps of bin.
func (b *Board) series(now time.Time, window, bin time.Duration) Series {
	n := int(window / bin)
	start := now.Truncate(bin).Add(-time.Duration(n-1) * bin)
	s := Series{StepS: int(bin / time.Second), Queues: map[string]*Points{}}
	for i := 0; i < n; i++ {
		s.T = append(s.T, start.Add(time.Duration(i)*bin).Unix())
	}
	points := func(q string) *Points {
		p := s.Queues[q]
		if p == nil {
			p = &Points{Answered: make([]int, n), Abandoned: make([]int, n), ServiceLevel: make([]*float64, n),
				AvgWait: make([]*float64, n), Waiting: make([]*float64, n), LongestWait: make([]*float64, n)}
			s.Queues[q] = p
		}
		return p
	}
	points("")
	stats := map[string][]Stats{}
	for _, q := range b.queues {
		points(q.Name)
		stats[q.Name] = make([]Stats, n)
	}
	stats[""] = make([]Stats, n)
	for _, e := range b.entries {
		i := int(e.ended.Sub(start) / bin)
		if e.ended.Before(start) || i >= n {
			continue
		}
		stats[""][i].add(e)
		if st, ok := stats[e.queue]; ok {
			st[i].add(e)
		}
	}
	for q, st := range stats {
		p := points(q)
		for i := range st {
			st[i].finish()
			p.Answered[i], p.Abandoned[i], p.ServiceLevel[i], p.AvgWait[i] = st[i].Answered, st[i].Abandoned, st[i].ServiceLevel, st[i].AvgWait
		}
	}
	peak := func(slot **float64, v float64) {
		if *slot == nil || **slot < v {
			v := v
			*slot = &v
		}
	}
	for _, smp := range b.samples {
		i := int(smp.at.Sub(start) / bin)
		if smp.at.Before(start) || i >= n {
			continue
		}
		total, longest := 0, 0.0
		for q, w := range smp.waiting {
			total += w
			longest = max(longest, smp.longest[q])
			if p := s.Queues[q]; p != nil {
				peak(&p.Waiting[i], float64(w))
				peak(&p.LongestWait[i], round1(smp.longest[q]))
			}
		}
		peak(&s.Queues[""].Waiting[i], float64(total))
		peak(&s.Queues[""].LongestWait[i], round1(longest))
	}
	return s
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
