package copilot

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
)

type recEvents struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recEvents) Message(_ string, m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}
func (r *recEvents) Connection(string, bool, error) {}

func (r *recEvents) wait(t *testing.T, what string, f func(Message) bool) Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		for _, m := range r.msgs {
			if f(m) {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s among %+v", what, r.msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *recEvents) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.ID == id {
			n++
		}
	}
	return n
}

// The embedded analytics, fed as the tap feeds it: overtalk, silence, the
// talk ratio, clipping, a long hold, and the talk-time tags; each alert once.
func TestAnalytics(t *testing.T) {
	m, err := NewManager(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetAnalytics(Thresholds{Silence: time.Second, Overtalk: time.Second, Hold: 2 * time.Second})
	ev := &recEvents{}
	a, err := m.Attach(AnalyticsService, SessionInfo{ID: "s1"}, ev)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(200, "over")
	a.Participant("c", "customer", "Ana", "joined")
	a.Participant("g", "agent", "Bob", "joined")
	tone := func(hz, amp float64) []int16 {
		pcm := make([]int16, 160)
		var ph float64
		media.GenerateTone(pcm, hz, 8000, &ph, amp)
		return pcm
	}
	speech, loud, quiet := tone(440, 0.1), tone(880, 1.2), make([]int16, 160)
	for i := range loud { // a clipping square-ish wave
		if loud[i] > 0 {
			loud[i] = 32767
		} else {
			loud[i] = -32768
		}
	}
	feed := func(d time.Duration, cust, agent []int16) {
		for i := 0; i < int(d/FrameDuration); i++ {
			a.Feed(8000, []mixer.TapFrame{{ID: "c", PCM: cust, Active: true}, {ID: "g", PCM: agent, Active: true}})
		}
	}
	feed(1500*time.Millisecond, speech, speech)
	ev.wait(t, "overtalk", func(m Message) bool { return m.Type == "alert" && m.ID == "overtalk" })
	feed(1500*time.Millisecond, quiet, quiet)
	ev.wait(t, "silence", func(m Message) bool { return m.ID == "silence" && strings.Contains(m.Reason, "1s") })
	feed(40*time.Second, quiet, speech)
	r := ev.wait(t, "talk ratio", func(m Message) bool { return m.ID == "talk_ratio" })
	if !strings.Contains(r.Reason, "talks 9") {
		t.Errorf("talk ratio: %q", r.Reason)
	}
	ev.wait(t, "tags", func(m Message) bool { return m.Type == "tag" && m.Key == "talk.agent_share" })
	feed(12*time.Second, quiet, loud)
	ev.wait(t, "clipping", func(m Message) bool {
		return strings.HasPrefix(m.ID, "clipping:") && strings.Contains(m.Reason, "agent")
	})
	a.Participant("c", "customer", "Ana", "held")
	feed(3*time.Second, speech, quiet)
	ev.wait(t, "hold", func(m Message) bool { return m.ID == "hold" })
	if n := ev.count("silence"); n != 1 {
		t.Errorf("%d silence alerts: a held call is not silence", n)
	}
	if n := ev.count("overtalk"); n != 1 {
		t.Errorf("%d overtalk alerts", n)
	}
	if s := m.TalkSeconds("agent"); s < 50 || s > 60 {
		t.Errorf("agent talk %.1f s", s)
	}
}
