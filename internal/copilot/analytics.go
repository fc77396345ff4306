package copilot

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// AnalyticsService is the built-in service's name: the embedded analytics
// (docs/copilot.md §8), attached like any service but run in the hub.
const AnalyticsService = "analytics"

// Thresholds tune the embedded analytics; zero values take the defaults.
type Thresholds struct {
	Silence   time.Duration // nobody speaks this long: alert (20 s)
	Overtalk  time.Duration // the customer and the agent side both speak this long: alert (3 s)
	Hold      time.Duration // the customer is held this long: alert (120 s)
	TalkRatio float64       // the agent side's share of speech over 2 min above this: alert (0.8)
}

func (t Thresholds) withDefaults() Thresholds {
	if t.Silence <= 0 {
		t.Silence = 20 * time.Second
	}
	if t.Overtalk <= 0 {
		t.Overtalk = 3 * time.Second
	}
	if t.Hold <= 0 {
		t.Hold = 120 * time.Second
	}
	if t.TalkRatio <= 0 || t.TalkRatio > 1 {
		t.TalkRatio = 0.8
	}
	return t
}

// Voice activity: a frame is speech above vadDBFS; speech lasts
// vadHangover frames after the last such frame (so pauses between words
// do not count as silence).
const (
	vadDBFS      = -42.0
	vadHangover  = 10 // 200 ms
	clipLevel    = 32000
	ratioWindow  = 120 * time.Second
	ratioMinTalk = 30 * time.Second
	tagEvery     = 30 * time.Second
)

// TalkSeconds counts speech by role, hub-wide (split_copilot_talk_seconds_total).
type TalkSeconds struct{ m sync.Map }

// Add counts d of speech for role.
func (t *TalkSeconds) Add(role string, d time.Duration) {
	v, _ := t.m.LoadOrStore(role, new(atomic.Int64))
	v.(*atomic.Int64).Add(int64(d))
}

// Seconds is role's total.
func (t *TalkSeconds) Seconds(role string) float64 {
	if v, ok := t.m.Load(role); ok {
		return time.Duration(v.(*atomic.Int64).Load()).Seconds()
	}
	return 0
}

// analyzer is one session's embedded analytics. feed runs on the mixer's
// goroutine (cheap: one pass over each frame); what it finds goes out
// through a bounded queue to the attachment's goroutine.
type analyzer struct {
	a    *Attachment
	th   Thresholds
	talk *TalkSeconds
	out  chan Message // to the events goroutine; full: dropped

	// the mixer goroutine's (under a.mu, as Feed holds it)
	ps        map[uint8]*apart
	held      bool
	heldTicks int
	silent    int // ticks nobody spoke
	over      int // ticks both sides spoke
	tick      int
	win       []ratioTick // the last 2 min: who spoke
	raised    map[string]bool
	lastTag   int
	holdAlert bool
}

type apart struct {
	role      string
	hang      int // hangover ticks left
	speaking  bool
	talk      time.Duration
	clipped   int // frames with clipping, in the current 10 s of speech
	frames    int // frames with speech, in the current 10 s
	levelSum  float64
	clipAlert bool
	lowAlert  bool
}

type ratioTick struct{ agent, customer bool }

func newAnalyzer(a *Attachment, th Thresholds, talk *TalkSeconds) *analyzer {
	return &analyzer{a: a, th: th.withDefaults(), talk: talk, out: make(chan Message, 32), ps: map[uint8]*apart{}, raised: map[string]bool{}}
}

func agentSide(role string) bool {
	return role == "agent" || role == "acd" || role == "interpreter" || role == "agent-path"
}

// frame takes one participant's 20 ms (pcm nil: no audio).
func (z *analyzer) frame(p *part, pcm []int16) {
	ap := z.ps[p.idx]
	if ap == nil {
		ap = &apart{role: p.role}
		z.ps[p.idx] = ap
	}
	voiced := false
	if pcm != nil {
		var sum float64
		clip := 0
		for _, s := range pcm {
			v := float64(s)
			sum += v * v
			if s >= clipLevel || s <= -clipLevel {
				clip++
			}
		}
		db := 10 * math.Log10(sum/float64(len(pcm))/(32768*32768)+1e-12)
		if db > vadDBFS {
			voiced = true
			ap.frames++
			ap.levelSum += db
			if clip > len(pcm)/100 {
				ap.clipped++
			}
		}
	}
	if voiced {
		ap.hang = vadHangover
	} else if ap.hang > 0 {
		ap.hang--
	}
	ap.speaking = voiced || ap.hang > 0
	if ap.speaking {
		ap.talk += FrameDuration
		z.talk.Add(ap.role, FrameDuration)
	}
	// level and clipping, judged over each 10 s of speech
	if ap.frames == 500 {
		defer func() { ap.frames, ap.clipped, ap.levelSum = 0, 0, 0 }()
		if !ap.clipAlert && ap.clipped > 25 {
			ap.clipAlert = true
			z.emit(Message{Type: "alert", Severity: "warning", ID: "clipping:p" + strconv.Itoa(int(p.idx)),
				Reason: fmt.Sprintf("%s's audio clips (%d%% of speech frames): microphone too loud", roleName(ap.role), ap.clipped*100/ap.frames)})
		}
		if avg := ap.levelSum / float64(ap.frames); !ap.lowAlert && avg < -35 {
			ap.lowAlert = true
			z.emit(Message{Type: "alert", Severity: "info", ID: "level:p" + strconv.Itoa(int(p.idx)),
				Reason: fmt.Sprintf("%s is hard to hear (speech at %.0f dBFS)", roleName(ap.role), avg)})
		}
	}
}

// endTick closes one tick: silence, overtalk, hold, the talk ratio, tags.
func (z *analyzer) endTick() {
	z.tick++
	agent, customer := false, false
	for _, ap := range z.ps {
		if !ap.speaking {
			continue
		}
		if agentSide(ap.role) {
			agent = true
		} else if ap.role == "customer" {
			customer = true
		}
	}
	anyone := agent || customer
	for _, ap := range z.ps {
		anyone = anyone || ap.speaking
	}
	ticks := func(d time.Duration) int { return int(d / FrameDuration) }
	if z.held {
		z.heldTicks++
		z.silent = 0
		if z.heldTicks == ticks(z.th.Hold) {
			z.emit(Message{Type: "alert", Severity: "warning", ID: "hold", Reason: fmt.Sprintf("The customer has been on hold for %s", z.th.Hold)})
		}
	} else if anyone {
		z.silent = 0
	} else if z.silent++; z.silent == ticks(z.th.Silence) {
		z.emit(Message{Type: "alert", Severity: "warning", ID: "silence", Reason: fmt.Sprintf("Nobody has spoken for %s", z.th.Silence)})
	}
	if agent && customer {
		if z.over++; z.over == ticks(z.th.Overtalk) {
			z.emit(Message{Type: "alert", Severity: "info", ID: "overtalk", Reason: fmt.Sprintf("The customer and the agent talk over each other (%s)", z.th.Overtalk)})
		}
	} else {
		z.over = 0
	}
	z.win = append(z.win, ratioTick{agent, customer})
	if len(z.win) > ticks(ratioWindow) {
		z.win = z.win[1:]
	}
	if z.tick%ticks(10*time.Second) == 0 {
		var a, c int
		for _, w := range z.win {
			if w.agent {
				a++
			}
			if w.customer {
				c++
			}
		}
		share := 0.0
		if a+c > 0 {
			share = float64(a) / float64(a+c)
		}
		talked := time.Duration(a+c) * FrameDuration
		high := talked >= ratioMinTalk && share > z.th.TalkRatio
		if high && !z.raised["ratio"] {
			z.emit(Message{Type: "alert", Severity: "info", ID: "talk_ratio",
				Reason: fmt.Sprintf("The agent talks %.0f%% of the time (over the last 2 minutes)", share*100)})
		}
		z.raised["ratio"] = high
	}
	if z.tick-z.lastTag >= ticks(tagEvery) {
		z.lastTag = z.tick
		z.tags()
	}
}

// tags writes the talk times into the session's context.
func (z *analyzer) tags() {
	var agent, customer time.Duration
	for _, ap := range z.ps {
		if agentSide(ap.role) {
			agent += ap.talk
		} else if ap.role == "customer" {
			customer += ap.talk
		}
	}
	z.emit(Message{Type: "tag", Key: "talk.agent_s", Value: strconv.Itoa(int(agent.Seconds()))})
	z.emit(Message{Type: "tag", Key: "talk.customer_s", Value: strconv.Itoa(int(customer.Seconds()))})
	if agent+customer > 0 {
		z.emit(Message{Type: "tag", Key: "talk.agent_share", Value: strconv.FormatFloat(float64(agent)/float64(agent+customer), 'f', 2, 64)})
	}
}

func (z *analyzer) emit(m Message) {
	select {
	case z.out <- m:
	default:
	}
}

// run forwards the findings to the hub until the attachment closes.
func (z *analyzer) run() {
	for {
		select {
		case <-z.a.ctx.Done():
			return
		case m := <-z.out:
			z.a.ev.Message(z.a.svc.Name, m)
		}
	}
}

func roleName(role string) string {
	switch role {
	case "customer":
		return "The customer"
	case "agent":
		return "The agent"
	case "phone-party":
		return "The phone party"
	}
	return "The " + role
}
