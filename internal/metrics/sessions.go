package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SessionMetrics count sessions, their states, queue waits and setup times.
type SessionMetrics struct {
	started  *prometheus.CounterVec
	ended    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	states   *prometheus.GaugeVec
	wait     *prometheus.HistogramVec
	setup    prometheus.Histogram
	interp   *prometheus.CounterVec
	rttChars *prometheus.CounterVec
	videoFPS *prometheus.HistogramVec
	lost     prometheus.Counter
	lostSess prometheus.Counter
	relayed  *prometheus.CounterVec
	records  *prometheus.CounterVec
}

// NewSessionMetrics registers the session collectors on m's registry.
func (m *Metrics) NewSessionMetrics() *SessionMetrics {
	s := &SessionMetrics{
		started:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_sessions_started_total", Help: "Sessions created, by mode."}, []string{"mode"}),
		ended:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_sessions_ended_total", Help: "Sessions ended, by mode and cause (normal, cancelled, no_answer, failed, shutdown)."}, []string{"mode", "cause"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "split_session_duration_seconds", Help: "Session duration, creation to end.", Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"mode"}),
		states:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "split_sessions", Help: "Live sessions by mode and state."}, []string{"mode", "state"}),
		wait:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "split_queue_wait_seconds", Help: "Time in a built-in queue until an agent answered.", Buckets: []float64{1, 5, 10, 20, 30, 60, 120, 300, 600}}, []string{"queue"}),
		setup:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "split_session_setup_seconds", Help: "Session creation to the first answer (agent or ACD).", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
	}
	s.interp = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_interpreter_events_total",
		Help: "Deaf Interpreter mode: phone calls dialled and answered, hand-offs and team offers requested, accepted, done and withdrawn."}, []string{"event"})
	s.rttChars = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_rtt_chars_total",
		Help: "Real-time text characters relayed, by source (deaf-user, interpreter, phone)."}, []string{"source"})
	s.videoFPS = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "split_video_fps",
		Help:    "Frame rate of the video the hub forwards to each leg, sampled every 10 s (interpreter sessions), by mode.",
		Buckets: []float64{1, 5, 10, 15, 20, 25, 30, 40, 60}}, []string{"mode"})
	s.lost = prometheus.NewCounter(prometheus.CounterOpts{Name: "split_cluster_nodes_lost_total",
		Help: "Hub nodes this node found silent past cluster.node_timeout and took over (ended their sessions)."})
	s.lostSess = prometheus.NewCounter(prometheus.CounterOpts{Name: "split_cluster_sessions_lost_total",
		Help: "Sessions of lost nodes this node ended (cause node_lost)."})
	s.relayed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_cluster_relayed_total",
		Help: "Requests about a session another node owns that this node sent there: http (relayed to the owner) or sip (answered 302 with the owner)."}, []string{"kind"})
	s.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_call_records_total",
		Help: "Call records of ended sessions (docs/records.md), by queue, channel, outcome and service level (met, missed; none: never queued). A queue's service level is met ÷ (met + missed)."},
		[]string{"queue", "channel", "outcome", "service_level"})
	m.Registry.MustRegister(s.started, s.ended, s.duration, s.states, s.wait, s.setup, s.interp, s.rttChars, s.videoFPS, s.lost, s.lostSess, s.relayed, s.records)
	return s
}

// CallRecord counts one call record; serviceLevel is met, missed or none.
func (s *SessionMetrics) CallRecord(queue, channel, outcome, serviceLevel string) {
	s.records.WithLabelValues(queue, channel, outcome, serviceLevel).Inc()
}

// Interpreter counts one event of the Deaf Interpreter mode.
func (s *SessionMetrics) Interpreter(event string) { s.interp.WithLabelValues(event).Inc() }

// VideoFPS observes one sample of a leg's forwarded video frame rate.
func (s *SessionMetrics) VideoFPS(mode string, fps float64) {
	s.videoFPS.WithLabelValues(mode).Observe(fps)
}

// RTTChars counts real-time text characters relayed from source.
func (s *SessionMetrics) RTTChars(source string, n int) {
	s.rttChars.WithLabelValues(source).Add(float64(n))
}

// SessionStarted counts a new session (state "created").
func (s *SessionMetrics) SessionStarted(mode string) {
	s.started.WithLabelValues(mode).Inc()
	s.states.WithLabelValues(mode, "created").Inc()
}

// SessionState moves a live session between states.
func (s *SessionMetrics) SessionState(mode, from, to string) {
	s.states.WithLabelValues(mode, from).Dec()
	if to != "ended" {
		s.states.WithLabelValues(mode, to).Inc()
	}
}

// SessionEnded counts an ended session.
func (s *SessionMetrics) SessionEnded(mode, cause string, d time.Duration) {
	s.ended.WithLabelValues(mode, cause).Inc()
	s.duration.WithLabelValues(mode).Observe(d.Seconds())
}

// QueueWait observes a built-in queue's wait.
func (s *SessionMetrics) QueueWait(queue string, d time.Duration) {
	s.wait.WithLabelValues(queue).Observe(d.Seconds())
}

// SessionSetup observes the time to the first answer.
func (s *SessionMetrics) SessionSetup(d time.Duration) { s.setup.Observe(d.Seconds()) }

// MediaMetrics count the audio RTP of legs when they end, by side (sip,
// webrtc).
type MediaMetrics struct {
	packets *prometheus.CounterVec
	lost    *prometheus.CounterVec
	jitter  *prometheus.HistogramVec
}

// NewMediaMetrics registers the media collectors on m's registry.
func (m *Metrics) NewMediaMetrics() *MediaMetrics {
	mm := &MediaMetrics{
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_rtp_packets_total", Help: "Audio RTP packets of ended legs, by side (sip, webrtc) and direction (rx, tx)."}, []string{"side", "direction"}),
		lost:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_rtp_lost_packets_total", Help: "Audio RTP packets lost on ended legs (received side), by side."}, []string{"side"}),
		jitter:  prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "split_rtp_jitter_seconds", Help: "Interarrival jitter (RFC 3550) of legs' received audio at their end, by side.", Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2}}, []string{"side"}),
	}
	m.Registry.MustRegister(mm.packets, mm.lost, mm.jitter)
	return mm
}

// LegMedia records one ended leg's audio counters.
func (mm *MediaMetrics) LegMedia(side string, sent, received uint64, lost int64, jitter time.Duration) {
	mm.packets.WithLabelValues(side, "tx").Add(float64(sent))
	mm.packets.WithLabelValues(side, "rx").Add(float64(received))
	if lost > 0 {
		mm.lost.WithLabelValues(side).Add(float64(lost))
	}
	mm.jitter.WithLabelValues(side).Observe(jitter.Seconds())
}

// ClusterRelay counts one request sent to the session's owner node.
func (s *SessionMetrics) ClusterRelay(kind string) { s.relayed.WithLabelValues(kind).Inc() }

// NodeLost counts a lost node taken over and the sessions it had.
func (s *SessionMetrics) NodeLost(sessions int) {
	s.lost.Inc()
	s.lostSess.Add(float64(sessions))
}

// LiveFigures are the built-in ACD's figures now, as the wallboard shows
// them (docs/wallboard.md): waiting sessions and the longest wait per
// queue, agents per state.
type LiveFigures struct {
	Waiting     map[string]int
	LongestWait map[string]float64 // seconds
	Agents      map[string]int
}

// Live registers split_queue_waiting, split_queue_longest_wait_seconds and
// split_agents, read from read at each scrape.
func (s *SessionMetrics) Live(r *prometheus.Registry, read func() LiveFigures) {
	r.MustRegister(&liveCollector{read: read,
		waiting: prometheus.NewDesc("split_queue_waiting", "Sessions waiting in a built-in queue now (ringing an agent included).", []string{"queue"}, nil),
		longest: prometheus.NewDesc("split_queue_longest_wait_seconds", "The longest wait of the sessions in a built-in queue now.", []string{"queue"}, nil),
		agents:  prometheus.NewDesc("split_agents", "Agents of the built-in ACD logged in, by state (ready, ringing, busy, wrap_up, not_ready).", []string{"state"}, nil),
	})
}

type liveCollector struct {
	read                     func() LiveFigures
	waiting, longest, agents *prometheus.Desc
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.longest
	ch <- c.agents
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.read()
	for q, n := range f.Waiting {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(n), q)
	}
	for q, s := range f.LongestWait {
		ch <- prometheus.MustNewConstMetric(c.longest, prometheus.GaugeValue, s, q)
	}
	for st, n := range f.Agents {
		ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(n), st)
	}
}
