package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Sessions configures SPLIT's session layer: where customers enter, how
// their sessions are routed, the built-in ACD, storage and webhooks.
type Sessions struct {
	// Store is where sessions, events, agents and appointments live:
	// "sqlite:<path>" (default: sqlite:<data_dir>/split.db) or a
	// postgres:// URL for several nodes.
	Store       string       `yaml:"store"`
	EntryPoints []EntryPoint `yaml:"entry_points"`
	Routes      []Route      `yaml:"routes"`
	Queues      []Queue      `yaml:"queues"`
	Agents      []Agent      `yaml:"agents"`
	Webhooks    []Webhook    `yaml:"webhooks"`
	// AgentViewTTL is how long the agent-view link sent in Call-Info works.
	AgentViewTTL time.Duration `yaml:"agent_view_ttl"`
	// Demo prints ready-to-open links (customer page, agent consoles) at start.
	Demo bool `yaml:"demo"`
	// ReversePrefix: a desk phone dialling it plus a number (*88600123456)
	// starts a Reverse session: the number gets a join link by SMS and the
	// phone stays in the call until the customer joins. "" disables.
	ReversePrefix string `yaml:"reverse_prefix"`
	// CountryCode completes national numbers (a desk phone's *88 600123456,
	// a caller ID without +) into E.164: "34" → +34600123456. "" leaves
	// them as dialled (then they must be international, 00… or +…).
	CountryCode string `yaml:"country_code"`
	// ResumeGrace is how long an answered session waits for a customer whose
	// browser dropped (network change, reload) to come back before it ends
	// (0: it ends at once).
	ResumeGrace time.Duration `yaml:"resume_grace"`
	// Notify configures link delivery (SMS, e-mail, WhatsApp).
	Notify Notify `yaml:"notify"`
	// Appointments tunes the Scheduled mode's join window.
	Appointments Appointments `yaml:"appointments"`
}

// Appointments tunes Scheduled mode.
type Appointments struct {
	OpenBefore time.Duration `yaml:"open_before"` // the link works from start − open_before (default 10m)
	CloseAfter time.Duration `yaml:"close_after"` // until end + close_after (default 15m)
	Reminder   time.Duration `yaml:"reminder"`    // a reminder with a fresh link this long before the start (default 15m; 0 disables)
}

// Notify configures the link delivery providers; a channel without a
// provider is unavailable (the API says so).
type Notify struct {
	SMS      *TwilioConfig   `yaml:"sms"`
	Email    *SMTPConfig     `yaml:"email"`
	WhatsApp *WhatsAppConfig `yaml:"whatsapp"`
}

// TwilioConfig is an SMS provider with Twilio's Messages API.
type TwilioConfig struct {
	BaseURL             string `yaml:"base_url"` // default https://api.twilio.com
	AccountSID          string `yaml:"account_sid"`
	AuthToken           string `yaml:"auth_token"` // SPLIT_SESSIONS_NOTIFY_SMS_AUTH_TOKEN
	From                string `yaml:"from"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
}

// SMTPConfig is an e-mail relay.
type SMTPConfig struct {
	Addr     string `yaml:"addr"` // host:port
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	From     string `yaml:"from"`
	StartTLS bool   `yaml:"starttls"`
}

// WhatsAppConfig is the WhatsApp Cloud API (messages, and the status
// webhook at /v1/notify/whatsapp).
type WhatsAppConfig struct {
	BaseURL       string `yaml:"base_url"` // default https://graph.facebook.com
	Version       string `yaml:"version"`  // default v25.0
	PhoneNumberID string `yaml:"phone_number_id"`
	AccessToken   string `yaml:"access_token"` // SPLIT_SESSIONS_NOTIFY_WHATSAPP_ACCESS_TOKEN
	// AppSecret is the Meta app's secret (App Dashboard → Settings → Basic):
	// it verifies X-Hub-Signature-256 of the status webhooks. "" refuses them.
	AppSecret string `yaml:"app_secret"` // SPLIT_SESSIONS_NOTIFY_WHATSAPP_APP_SECRET
	// VerifyToken is the string pasted next to the callback URL in the App
	// Dashboard; Meta's verification GET must carry it. "" refuses it.
	VerifyToken string `yaml:"verify_token"` // SPLIT_SESSIONS_NOTIFY_WHATSAPP_VERIFY_TOKEN
	// Template is sent instead of the interactive message when the customer
	// has not written in the last 24 hours (WhatsApp error 131047).
	Template *WhatsAppTemplate `yaml:"template"`
}

// WhatsAppTemplate is an approved template with a URL button whose URL is
// URLBase followed by one variable (https://video.example.com/j/{{1}}).
type WhatsAppTemplate struct {
	Name     string `yaml:"name"`
	Language string `yaml:"language"` // e.g. en_US
	URLBase  string `yaml:"url_base"` // the fixed part of the button's URL: the start of every join link
	// BodyParams is how many variables the body has (0-2): {{1}} the
	// customer's name (or the subject when unknown), {{2}} the message text.
	BodyParams int `yaml:"body_params"`
}

// String redacts the secrets.
func (c WhatsAppConfig) String() string {
	tpl := "nil"
	if c.Template != nil {
		tpl = fmt.Sprintf("%+v", *c.Template)
	}
	return fmt.Sprintf("WhatsAppConfig{BaseURL:%q Version:%q PhoneNumberID:%q AccessToken:%q AppSecret:%q VerifyToken:%q Template:%s}",
		c.BaseURL, c.Version, c.PhoneNumberID, redact(c.AccessToken), redact(c.AppSecret), redact(c.VerifyToken), tpl)
}

// GoString redacts the secrets in %#v.
func (c WhatsAppConfig) GoString() string { return c.String() }

// LogValue redacts the secrets in slog output.
func (c WhatsAppConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("base_url", c.BaseURL), slog.String("version", c.Version),
		slog.String("phone_number_id", c.PhoneNumberID), slog.String("access_token", redact(c.AccessToken)),
		slog.String("app_secret", redact(c.AppSecret)), slog.String("verify_token", redact(c.VerifyToken))}
	if c.Template != nil {
		attrs = append(attrs, slog.String("template", c.Template.Name+"/"+c.Template.Language))
	}
	return slog.GroupValue(attrs...)
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}

// StoreDSN is the store to open: sessions.store, or the SQLite file in data_dir.
func (c *Config) StoreDSN() string {
	if c.Sessions.Store != "" {
		return c.Sessions.Store
	}
	return "sqlite:" + strings.TrimRight(c.DataDir, "/") + "/split.db"
}

// EntryPoint is a widget or page through which customers start sessions.
type EntryPoint struct {
	Name string `yaml:"name"`
	// Public allows anonymous customers (a website widget). A non-public
	// entry point needs a join token minted by the API.
	Public bool `yaml:"public"`
	// Video allows the customer's camera (default true).
	Video *bool `yaml:"video"`
	// RateLimit is the number of sessions per minute one client address may
	// start through this entry point (default 10).
	RateLimit int `yaml:"rate_limit"`
	// Origins are the sites allowed to embed this entry point's customer
	// page (the widget's iframe), as CSP frame-ancestors sources:
	// "https://shop.example.com", "https://*.example.com:8443", or "*" for
	// any site. Default: none (only the hub's own pages).
	Origins []string `yaml:"origins"`
	// Mode of the sessions started here: "" (forward) or "interpreter"
	// (the Deaf Interpreter mode, docs/interpreter.md).
	Mode string `yaml:"mode"`
	// Language of this entry point's pages when the link and the page set
	// none, before the browser's (docs/i18n.md); "" : the browser's.
	Language string `yaml:"language"`
}

// Route sends matching sessions to a target. Routes are tried in order; the
// first match wins.
type Route struct {
	Name string `yaml:"name"`
	// Match conditions (all given ones must hold).
	Entry    string            `yaml:"entry"`    // entry point name ("" any)
	Language string            `yaml:"language"` // customer language prefix ("es" matches "es-ES")
	Context  map[string]string `yaml:"context"`  // exact context values
	// SignLanguage matches an interpreter session's sign language by BCP 47
	// prefix ("ase" matches "ase-US", not "asex").
	SignLanguage string   `yaml:"sign_language"`
	Days         []string `yaml:"days"`  // mon..sun ("" any)
	Hours        string   `yaml:"hours"` // "08:00-20:00" in TimeZone
	TimeZone     string   `yaml:"time_zone"`
	// Target: "queue:<name>" (built-in ACD) or a SIP URI / number on a trunk
	// (the external ACD queue), e.g. "sip:support@pbx" or "pbx:6000".
	Target   string `yaml:"target"`
	FromUser string `yaml:"from_user"` // caller-ID user toward the ACD (default: "web")
	FromName string `yaml:"from_name"` // caller-ID display name (default: the customer's name)
	// CallerIDPool correlates by caller ID for an ACD that passes neither
	// User-to-User nor X-Split-Session to its agent legs: each live session
	// presents one of these numbers toward the ACD (instead of from_user),
	// and an agent leg from that number joins it. Entries are numbers or
	// ranges "+34910000100-+34910000199"; size it for the sessions queued
	// and in progress at once (a released number rests for a minute).
	CallerIDPool []string `yaml:"caller_id_pool"`
	// Copilot names the AI services (copilot.services) every session of this
	// route gets once it is answered (docs/copilot.md §1).
	Copilot []string `yaml:"copilot"`
	// SIPREC names the sip.siprec server every session of this route is
	// recorded to once answered (docs/copilot.md §7).
	SIPREC string `yaml:"siprec"`
}

// maxPoolNumbers bounds one route's caller-ID pool.
const maxPoolNumbers = 100000

// PoolNumbers expands a caller-ID pool: numbers ("+34910000100") and
// ranges of numbers of the same length ("+34910000100-+34910000199").
func PoolNumbers(entries []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(n string) error {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
		if len(out) > maxPoolNumbers {
			return fmt.Errorf("more than %d numbers", maxPoolNumbers)
		}
		return nil
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		lo, hi, isRange := strings.Cut(e, "-")
		if !poolNumberRE.MatchString(lo) || (isRange && !poolNumberRE.MatchString(hi)) {
			return nil, fmt.Errorf("%q is not a number or a range of numbers (+34910000100-+34910000199)", e)
		}
		if !isRange {
			if err := add(lo); err != nil {
				return nil, err
			}
			continue
		}
		plus := strings.HasPrefix(lo, "+")
		ld, hd := strings.TrimPrefix(lo, "+"), strings.TrimPrefix(hi, "+")
		if plus != strings.HasPrefix(hi, "+") || len(ld) != len(hd) || hd < ld {
			return nil, fmt.Errorf("range %q: both ends must have the same length and format, the first not above the last", e)
		}
		// the ends share a prefix; only the rest varies (at most 9 digits)
		i := 0
		for i < len(ld) && ld[i] == hd[i] {
			i++
		}
		if len(ld)-i > 9 {
			return nil, fmt.Errorf("range %q is too wide", e)
		}
		a, _ := strconv.Atoi(ld[i:])
		b, _ := strconv.Atoi(hd[i:])
		if b-a+1 > maxPoolNumbers {
			return nil, fmt.Errorf("range %q has more than %d numbers", e, maxPoolNumbers)
		}
		pfx := lo[:len(lo)-(len(ld)-i)]
		for n := a; n <= b; n++ {
			if err := add(fmt.Sprintf("%s%0*d", pfx, len(ld)-i, n)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

var poolNumberRE = regexp.MustCompile(`^\+?[0-9]{3,20}$`)

// Queue is a built-in ACD queue.
type Queue struct {
	Name        string        `yaml:"name"`
	RingTimeout time.Duration `yaml:"ring_timeout"` // per agent offer (default 20s)
	MaxWait     time.Duration `yaml:"max_wait"`     // then overflow (0: wait forever)
	Overflow    string        `yaml:"overflow"`     // SIP target after max_wait or with no agents
	WrapUp      time.Duration `yaml:"wrap_up"`      // after-call work (default 0)
	// ServiceLevel is the threshold of the queue's service level: the share
	// of its sessions answered within it (default 20s; docs/records.md).
	ServiceLevel time.Duration `yaml:"service_level"`
	// ServiceLevelTarget is the percentage the wallboard draws as the
	// queue's target (default 80).
	ServiceLevelTarget float64 `yaml:"service_level_target"`
}

// Agent is an agent of the built-in ACD (more can be added with the API).
type Agent struct {
	ID     string   `yaml:"id"`
	Name   string   `yaml:"name"`
	Queues []string `yaml:"queues"`
}

// Webhook is an HTTP endpoint that receives session lifecycle events.
type Webhook struct {
	URL    string   `yaml:"url"`
	Secret string   `yaml:"secret"`
	Events []string `yaml:"events"`
}

// originRE is a CSP host-source with a scheme and no path.
var originRE = regexp.MustCompile(`^https?://(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func defaultSessions() Sessions {
	return Sessions{
		EntryPoints:   []EntryPoint{{Name: "default", Public: true}},
		Routes:        []Route{{Name: "default", Target: "queue:default"}},
		Queues:        []Queue{{Name: "default"}},
		AgentViewTTL:  4 * time.Hour,
		Demo:          true,
		ReversePrefix: "*88",
		ResumeGrace:   30 * time.Second,
		Appointments:  Appointments{OpenBefore: 10 * time.Minute, CloseAfter: 15 * time.Minute, Reminder: 15 * time.Minute},
	}
}

func (s *Sessions) applyDefaults(string) {
	for i := range s.Queues {
		if s.Queues[i].RingTimeout == 0 {
			s.Queues[i].RingTimeout = 20 * time.Second
		}
		if s.Queues[i].ServiceLevel == 0 {
			s.Queues[i].ServiceLevel = 20 * time.Second
		}
		if s.Queues[i].ServiceLevelTarget == 0 {
			s.Queues[i].ServiceLevelTarget = 80
		}
	}
	for i := range s.EntryPoints {
		if s.EntryPoints[i].RateLimit == 0 {
			s.EntryPoints[i].RateLimit = 10
		}
	}
	if s.AgentViewTTL == 0 {
		s.AgentViewTTL = 4 * time.Hour
	}
}

// VideoAllowed reports whether the entry point lets customers send video.
func (e EntryPoint) VideoAllowed() bool { return e.Video == nil || *e.Video }

// EntryPoint returns the entry point called name.
func (s *Sessions) EntryPoint(name string) (EntryPoint, bool) {
	for _, e := range s.EntryPoints {
		if e.Name == name {
			return e, true
		}
	}
	return EntryPoint{}, false
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseHours parses "HH:MM-HH:MM" into minutes since midnight.
func ParseHours(s string) (from, to int, err error) {
	var h1, m1, h2, m2 int
	if _, err := fmt.Sscanf(s, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil {
		return 0, 0, fmt.Errorf("hours must be HH:MM-HH:MM, not %q", s)
	}
	if h1 < 0 || h1 > 24 || h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 {
		return 0, 0, fmt.Errorf("hours out of range in %q", s)
	}
	return h1*60 + m1, h2*60 + m2, nil
}

// Weekday parses mon..sun.
func Weekday(s string) (time.Weekday, bool) {
	d, ok := weekdays[strings.ToLower(s)]
	return d, ok
}

func (s *Sessions) validate(add func(key, format string, a ...any), c *Config) {
	if s.Store != "" && !strings.HasPrefix(s.Store, "sqlite:") && !strings.HasPrefix(s.Store, "postgres://") && !strings.HasPrefix(s.Store, "postgresql://") {
		add("sessions.store", "must be sqlite:<path> or a postgres:// URL")
	}
	entries, queues := map[string]bool{}, map[string]bool{}
	for i, e := range s.EntryPoints {
		key := fmt.Sprintf("sessions.entry_points[%d]", i)
		if !nameRE.MatchString(e.Name) {
			add(key+".name", "must be 1-64 of A-Z a-z 0-9 . _ -, not %q", e.Name)
		}
		if entries[e.Name] {
			add(key+".name", "duplicate entry point %q", e.Name)
		}
		entries[e.Name] = true
		if e.RateLimit < 0 {
			add(key+".rate_limit", "must not be negative")
		}
		for j, o := range e.Origins {
			if o != "*" && !originRE.MatchString(o) {
				add(fmt.Sprintf("%s.origins[%d]", key, j), "must be an origin such as https://shop.example.com (scheme://host[:port], host may start with *.), or *, not %q", o)
			}
		}
	}
	for i, q := range s.Queues {
		key := fmt.Sprintf("sessions.queues[%d]", i)
		if !nameRE.MatchString(q.Name) {
			add(key+".name", "must be 1-64 of A-Z a-z 0-9 . _ -, not %q", q.Name)
		}
		if queues[q.Name] {
			add(key+".name", "duplicate queue %q", q.Name)
		}
		queues[q.Name] = true
		if q.RingTimeout < 0 || q.MaxWait < 0 || q.WrapUp < 0 || q.ServiceLevel < 0 {
			add(key, "durations must not be negative")
		}
		if q.ServiceLevelTarget < 0 || q.ServiceLevelTarget > 100 {
			add(key+".service_level_target", "must be a percentage, 0-100, not %v", q.ServiceLevelTarget)
		}
		if q.Overflow != "" && strings.HasPrefix(q.Overflow, "queue:") {
			add(key+".overflow", "must be a SIP target on a trunk, not a queue")
		}
	}
	checkTarget := func(key, t string) {
		if q, ok := strings.CutPrefix(t, "queue:"); ok {
			if !queues[q] {
				add(key, "unknown queue %q", q)
			}
			return
		}
		if t == "" {
			add(key, "is required")
			return
		}
		if strings.HasPrefix(t, "agent:") {
			add(key, "%q: an agent is not a target here (use queue:<name> or a SIP target on a trunk)", t)
			return
		}
		if _, err := c.TargetTrunk(t); err != nil {
			add(key, "%v", err)
		}
	}
	for i, r := range s.Routes {
		key := fmt.Sprintf("sessions.routes[%d]", i)
		if r.Entry != "" && !entries[r.Entry] {
			add(key+".entry", "unknown entry point %q", r.Entry)
		}
		checkTarget(key+".target", r.Target)
		for j, d := range r.Days {
			if _, ok := Weekday(d); !ok {
				add(fmt.Sprintf("%s.days[%d]", key, j), "must be mon..sun, not %q", d)
			}
		}
		if r.Hours != "" {
			if _, _, err := ParseHours(r.Hours); err != nil {
				add(key+".hours", "%v", err)
			}
		}
		if r.TimeZone != "" {
			if _, err := time.LoadLocation(r.TimeZone); err != nil {
				add(key+".time_zone", "%v", err)
			}
		}
		if len(r.CallerIDPool) > 0 {
			if _, err := PoolNumbers(r.CallerIDPool); err != nil {
				add(key+".caller_id_pool", "%v", err)
			} else if strings.HasPrefix(r.Target, "queue:") {
				add(key+".caller_id_pool", "only for a SIP target: the built-in queue needs no correlation")
			}
		}
	}
	for i, q := range s.Queues {
		if q.Overflow != "" {
			checkTarget(fmt.Sprintf("sessions.queues[%d].overflow", i), q.Overflow)
		}
	}
	if wa := s.Notify.WhatsApp; wa != nil && wa.Template != nil {
		t, key := wa.Template, "sessions.notify.whatsapp.template"
		if t.Name == "" {
			add(key+".name", "is required (the approved template's name)")
		}
		if t.Language == "" {
			add(key+".language", "is required (the template's language code, e.g. en_US)")
		}
		if t.BodyParams < 0 || t.BodyParams > 2 {
			add(key+".body_params", "must be 0, 1 or 2, not %d", t.BodyParams)
		}
		links := strings.TrimRight(c.HTTP.PublicURL, "/") + "/j/"
		switch {
		case t.URLBase == "":
			add(key+".url_base", "is required (the fixed part of the template's URL button, e.g. https://video.example.com/j/)")
		case c.HTTP.PublicURL != "" && !strings.HasPrefix(links, t.URLBase):
			add(key+".url_base", "%q is not the start of the join links (%s<token>)", t.URLBase, links)
		}
	}
	agents := map[string]bool{}
	for i, a := range s.Agents {
		key := fmt.Sprintf("sessions.agents[%d]", i)
		if !nameRE.MatchString(a.ID) {
			add(key+".id", "must be 1-64 of A-Z a-z 0-9 . _ - (a SIP user part), not %q", a.ID)
		}
		if agents[a.ID] {
			add(key+".id", "duplicate agent %q", a.ID)
		}
		agents[a.ID] = true
		for j, q := range a.Queues {
			if !queues[q] {
				add(fmt.Sprintf("%s.queues[%d]", key, j), "unknown queue %q", q)
			}
		}
	}
	for i, w := range s.Webhooks {
		key := fmt.Sprintf("sessions.webhooks[%d]", i)
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			add(key+".url", "must be an http(s) URL")
		}
		if len(w.Secret) < 16 {
			add(key+".secret", "must be at least 16 characters")
		}
	}
	if s.CountryCode != "" && !regexp.MustCompile(`^[1-9][0-9]{0,2}$`).MatchString(s.CountryCode) {
		add("sessions.country_code", "must be 1-3 digits without + (34, 1, 44), not %q", s.CountryCode)
	}
	if s.AgentViewTTL < 0 {
		add("sessions.agent_view_ttl", "must not be negative")
	}
}
