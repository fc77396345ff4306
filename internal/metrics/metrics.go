// Package metrics owns SPLIT's Prometheus registry (injected, never global)
// and its typed collectors. Labels take bounded values only.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the hub's collectors.
type Metrics struct {
	Registry       *prometheus.Registry
	sipRequests    *prometheus.CounterVec
	inviteRejected *prometheus.CounterVec
	sipRefused     *prometheus.CounterVec
	callsStarted   *prometheus.CounterVec
	callsEnded     *prometheus.CounterVec
	callDuration   *prometheus.HistogramVec
	setup          prometheus.Histogram
	wsConnections  prometheus.Gauge
}

// New registers every collector on a fresh registry. active reports the live call count.
func New(active func() float64) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r,
		sipRequests:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_sip_requests_total", Help: "SIP requests received, by method."}, []string{"method"}),
		inviteRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_sip_invites_rejected_total", Help: "Inbound INVITEs refused, by reason."}, []string{"reason"}),
		sipRefused:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_sip_refused_total", Help: "SIP messages refused before the SIP stack (docs/security.md), by reason and transport."}, []string{"reason", "transport"}),
		callsStarted:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_calls_started_total", Help: "Bridged calls started, by direction."}, []string{"direction"}),
		callsEnded:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "split_calls_ended_total", Help: "Bridged calls ended, by direction and result."}, []string{"direction", "result"}),
		callDuration:   prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "split_call_duration_seconds", Help: "Call duration.", Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"direction"}),
		setup:          prometheus.NewHistogram(prometheus.HistogramOpts{Name: "split_call_setup_seconds", Help: "Browser offer to SIP INVITE sent (outbound) or browser answer to 200 OK (inbound).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		wsConnections:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "split_signalling_connections", Help: "Open browser signalling WebSockets."}),
	}
	r.MustRegister(m.sipRequests, m.inviteRejected, m.sipRefused, m.callsStarted, m.callsEnded, m.callDuration, m.setup, m.wsConnections,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "split_calls_active", Help: "Bridged calls alive."}, active),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// PortsInUse reports the SIP-side RTP port pairs in use (split_rtp_port_pairs_in_use).
func (m *Metrics) PortsInUse(f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "split_rtp_port_pairs_in_use", Help: "SIP-side RTP/RTCP port pairs in use."}, f))
}

// FastPath reports the media fast path (docs/benchmarks.md § Fast path):
// split_media_fast_path_legs and split_media_fast_path_packets_total{direction}
// (in: browser → hub, out: hub → browser, dropped: failed SRTP).
func (m *Metrics) FastPath(legs func() float64, packets func(direction string) float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "split_media_fast_path_legs",
		Help: "Browser legs whose audio is on the fast path."}, legs))
	for _, d := range []string{"in", "out", "dropped"} {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_media_fast_path_packets_total",
			Help: "Audio packets on the fast path (in: from browsers, out: to browsers, dropped: failed SRTP).", ConstLabels: prometheus.Labels{"direction": d}},
			func() float64 { return packets(d) }))
	}
}

// WhatsAppWebhook reports what the WhatsApp webhook endpoint did, as one
// counter per outcome (split_whatsapp_webhook_total{outcome}); f returns
// the running totals by outcome.
// TLSCertificates exports, per host name, when the HTTPS certificate last
// served for it expires (http.acme): alert when it comes within 20 days, as
// renewal starts at 30.
func (m *Metrics) TLSCertificates(names []string, notAfter func(name string) float64) {
	for _, n := range names {
		n := n
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "split_tls_certificate_expiry_timestamp_seconds",
			Help:        "Unix time the HTTPS certificate served for hostname expires (0: none obtained yet).",
			ConstLabels: prometheus.Labels{"hostname": n}}, func() float64 { return notAfter(n) }))
	}
}

func (m *Metrics) WhatsAppWebhook(outcomes []string, f func() map[string]uint64) {
	for _, o := range outcomes {
		o := o
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_whatsapp_webhook_total",
			Help: "WhatsApp webhook deliveries and events, by outcome (docs/whatsapp.md).", ConstLabels: prometheus.Labels{"outcome": o}},
			func() float64 { return float64(f()[o]) }))
	}
}

// Copilot reports the AI services (docs/copilot.md §5): per service the
// sockets open (split_copilot_connected), frames sent and dropped
// (split_copilot_frames_total, split_copilot_dropped_frames_total),
// failures (split_copilot_failures_total); and alerts by severity
// (split_copilot_alerts_total); speech by role from the analytics
// (split_copilot_talk_seconds_total). f returns a service's counters: connected,
// frames, dropped, failures; alerts returns an alert count by severity.
func (m *Metrics) Copilot(services []string, f func(service string) [4]float64, alerts func(severity string) float64, talk func(role string) float64) {
	for _, r := range []string{"customer", "agent", "phone-party", "interpreter", "acd", "supervisor"} {
		r := r
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_copilot_talk_seconds_total",
			Help: "Speech heard by the embedded analytics, by participant role.", ConstLabels: prometheus.Labels{"role": r}},
			func() float64 { return talk(r) }))
	}
	for _, s := range services {
		s := s
		l := prometheus.Labels{"service": s}
		m.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "split_copilot_connected", Help: "AI service sockets open.", ConstLabels: l},
				func() float64 { return f(s)[0] }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_copilot_frames_total", Help: "Audio frames sent to AI services.", ConstLabels: l},
				func() float64 { return f(s)[1] }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_copilot_dropped_frames_total",
				Help: "Audio frames dropped because an AI service's queue was full (the call is never held up).", ConstLabels: l},
				func() float64 { return f(s)[2] }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_copilot_failures_total",
				Help: "AI service sockets refused, lost or closed for abuse.", ConstLabels: l},
				func() float64 { return f(s)[3] }))
	}
	for _, sev := range []string{"info", "warning", "critical"} {
		sev := sev
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "split_copilot_alerts_total",
			Help: "Alerts raised by AI services and the analytics.", ConstLabels: prometheus.Labels{"severity": sev}},
			func() float64 { return alerts(sev) }))
	}
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

func (m *Metrics) SIPRequest(method string)     { m.sipRequests.WithLabelValues(method).Inc() }
func (m *Metrics) InviteRejected(reason string) { m.inviteRejected.WithLabelValues(reason).Inc() }
func (m *Metrics) SIPRefused(reason, transport string) {
	m.sipRefused.WithLabelValues(reason, transport).Inc()
}
func (m *Metrics) CallStarted(dir string) { m.callsStarted.WithLabelValues(dir).Inc() }
func (m *Metrics) CallEnded(dir, result string, d time.Duration) {
	m.callsEnded.WithLabelValues(dir, result).Inc()
	m.callDuration.WithLabelValues(dir).Observe(d.Seconds())
}
func (m *Metrics) SetupLatency(d time.Duration) { m.setup.Observe(d.Seconds()) }
func (m *Metrics) WSConnected(delta float64)    { m.wsConnections.Add(delta) }
