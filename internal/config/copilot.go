package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"time"
)

// Copilot is the Copilot AI mode (docs/copilot.md §6): AI services a session
// streams its participants' audio to, and the embedded analytics.
type Copilot struct {
	Services  []CopilotService `yaml:"services"`
	Analytics CopilotAnalytics `yaml:"analytics"`
}

// CopilotService is one AI service.
type CopilotService struct {
	Name   string `yaml:"name"`
	URL    string `yaml:"url"`    // wss://…; ws:// only to a loopback address
	Format string `yaml:"format"` // split (default) or twilio
	Rate   int    `yaml:"rate"`   // split: 8000 or 16000 (default 16000)
	Token  string `yaml:"token"`  // Authorization: Bearer; never logged
	Secret string `yaml:"secret"` // X-Split-Signature key; never logged
	// Participants are the roles streamed (default: every participant).
	Participants []string `yaml:"participants"`
	MaySpeak     bool     `yaml:"may_speak"`
	SpeakTo      string   `yaml:"speak_to"`     // twilio format: agent (default) or all
	AgentAttach  bool     `yaml:"agent_attach"` // the agent console may attach it
}

// LogValue redacts the token and the secret in slog output.
func (s CopilotService) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("url", s.URL), slog.String("format", s.Format),
		slog.String("token", redact(s.Token)), slog.String("secret", redact(s.Secret)))
}

// String redacts the token and the secret.
func (s CopilotService) String() string {
	return fmt.Sprintf("{%s %s %s token:%s secret:%s}", s.Name, s.URL, s.Format, redact(s.Token), redact(s.Secret))
}

// GoString redacts the token and the secret in %#v.
func (s CopilotService) GoString() string { return s.String() }

// CopilotAnalytics are the thresholds of the embedded analytics (§8), the
// built-in service "analytics" (attached like any service).
type CopilotAnalytics struct {
	Silence   time.Duration `yaml:"silence"`    // nobody speaks for this long: alert (default 20s)
	Hold      time.Duration `yaml:"hold"`       // the customer is held this long: alert (default 120s)
	Overtalk  time.Duration `yaml:"overtalk"`   // both speak for this long: alert (default 3s)
	TalkRatio float64       `yaml:"talk_ratio"` // the agent's share of speech over 2 min above this: alert (default 0.8)
}

// SIPRECServer is a Session Recording Server (RFC 7866).
type SIPRECServer struct {
	Name string `yaml:"name"`
	URI  string `yaml:"uri"` // a SIP URI on a configured trunk, e.g. sip:srs@recorder
}

// copilotRoles are the participant roles a service may stream.
var copilotRoles = []string{"customer", "agent", "interpreter", "phone-party", "acd", "supervisor", "agent-path"}

func (c *Config) validateCopilot(add func(key, format string, a ...any)) {
	cp := c.Copilot
	if cp == nil {
		cp = &Copilot{}
	}
	seen := map[string]bool{}
	for i, s := range cp.Services {
		key := fmt.Sprintf("copilot.services[%d]", i)
		if s.Name == "" {
			add(key+".name", "is required")
		} else if s.Name == "analytics" {
			add(key+".name", "\"analytics\" is the built-in analytics' name")
		} else if seen[s.Name] {
			add(key+".name", "%q is defined twice", s.Name)
		}
		seen[s.Name] = true
		u, err := url.Parse(s.URL)
		switch {
		case err != nil || u.Host == "":
			add(key+".url", "must be a wss:// URL")
		case u.Scheme == "ws":
			ip := net.ParseIP(u.Hostname())
			if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
				add(key+".url", "ws:// (no TLS) only to a loopback address; use wss://")
			}
		case u.Scheme != "wss":
			add(key+".url", "must be a wss:// URL")
		}
		if s.Format != "" && s.Format != "split" && s.Format != "twilio" {
			add(key+".format", "must be split or twilio, not %q", s.Format)
		}
		if s.Rate != 0 && s.Rate != 8000 && s.Rate != 16000 {
			add(key+".rate", "must be 8000 or 16000")
		}
		if s.SpeakTo != "" && s.SpeakTo != "agent" && s.SpeakTo != "all" {
			add(key+".speak_to", "must be agent or all")
		}
		for _, r := range s.Participants {
			if !slices.Contains(copilotRoles, r) {
				add(key+".participants", "%q is not a role (%v)", r, copilotRoles)
			}
		}
	}
	for _, r := range c.Sessions.Routes {
		for _, n := range r.Copilot {
			if !seen[n] && n != "analytics" {
				add("sessions.routes["+r.Name+"].copilot", "%q is not a copilot service (nor the built-in analytics)", n)
			}
		}
	}
	srs := map[string]bool{}
	for i, r := range c.SIP.SIPREC {
		key := fmt.Sprintf("sip.siprec[%d]", i)
		if r.Name == "" || srs[r.Name] {
			add(key+".name", "is required and unique")
		}
		srs[r.Name] = true
		if t, err := c.TargetTrunk(r.URI); err != nil || r.URI == "" || t == nil {
			add(key+".uri", "must be a SIP URI on a configured trunk (%q)", r.URI)
		} else if t.Transport != "tcp" && t.Transport != "tls" {
			// the INVITE's SDP and metadata outgrow a UDP datagram (RFC 3261 §18.1.1)
			add(key+".uri", "the trunk %q must use tcp or tls: a recording's INVITE is larger than UDP allows", t.Name)
		}
	}
	for _, r := range c.Sessions.Routes {
		if r.SIPREC != "" && !srs[r.SIPREC] {
			add("sessions.routes["+r.Name+"].siprec", "%q is not a sip.siprec server", r.SIPREC)
		}
	}
	a := cp.Analytics
	if a.Silence < 0 || a.Overtalk < 0 || a.Hold < 0 || a.TalkRatio < 0 || a.TalkRatio > 1 {
		add("copilot.analytics", "durations must not be negative, talk_ratio must be 0-1")
	}
}
