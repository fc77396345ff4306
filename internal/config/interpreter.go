package config

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ModeInterpreter is EntryPoint.Mode for the Deaf Interpreter mode
// (docs/interpreter.md).
const ModeInterpreter = "interpreter"

// Interpreter configures the Deaf Interpreter mode (docs/interpreter.md §3);
// nil without an interpreter: section.
type Interpreter struct {
	// Languages are the sign languages a deaf user may choose, in order.
	Languages []SignLanguage `yaml:"languages"`
	// Numbers are the telephone numbers that reach an interpreter
	// (hearing-initiated calls, §2.2).
	Numbers []InterpreterNumber `yaml:"numbers"`
	Dial    InterpreterDial     `yaml:"dial"`
	// AfterPhone: "stay" (default) keeps the deaf user and the interpreter
	// together when the phone party hangs up; "end" ends the session.
	AfterPhone string `yaml:"after_phone"`
	// VCO and HCO are a new session's voice and hearing carry-over.
	VCO bool `yaml:"vco"`
	HCO bool `yaml:"hco"`
	// VCOMutesInterpreter: while VCO is on the phone does not hear the lead
	// interpreter (the research's strict VCO; default: it hears both).
	VCOMutesInterpreter bool `yaml:"vco_mutes_interpreter"`
	// Team allows a second interpreter (team interpreting; default true).
	Team *bool `yaml:"team"`
	// RTT is the real-time text's storage (docs/interpreter.md §6.5).
	RTT InterpreterRTT `yaml:"rtt"`
	// RequeueMaxWait: a lead interpreter lost mid-call (console closed,
	// network gone) with nobody else present puts the session back at the
	// front of its queue, the deaf user and the phone call kept, for at most
	// this long; then it ends 480. Default 120s; 0 ends the session at once.
	RequeueMaxWait *time.Duration `yaml:"requeue_max_wait"`
	// Users are the registered deaf users: a number of Numbers may belong
	// to one (numbers[].user), whose open page then rings (deaf_user
	// tokens) and whose contact gets the join link (§2.2).
	Users []InterpreterUser `yaml:"users"`
	Reach InterpreterReach  `yaml:"reach"`
	// AnswerInbound: when a hearing caller's INVITE is answered: on_accept
	// (default: when an interpreter accepts; the caller hears ringback
	// meanwhile) or at_once (at arrival: the call is connected, and
	// billed, while it waits for an interpreter, in silence).
	AnswerInbound string `yaml:"answer_inbound"`
	// Handoff bounds hand-offs and team requests (§5.1).
	Handoff InterpreterHandoff `yaml:"handoff"`
	// AllowRecording lets AI services (and recorders) be attached to
	// interpreter sessions (§10; default false: interpretation is
	// confidential).
	AllowRecording bool `yaml:"allow_recording"`
}

// InterpreterHandoff: how long a hand-off may look for the next
// interpreter, and how long the two interpreters overlap.
type InterpreterHandoff struct {
	// Timeout: a hand-off or team request nobody accepted by then is
	// withdrawn; the lead keeps the call (default 120s).
	Timeout time.Duration `yaml:"timeout"`
	// OverlapMax: the outgoing interpreter's leg ends this long after the
	// incoming one joined, if they have not left by then (default 60s).
	OverlapMax time.Duration `yaml:"overlap_max"`
}

// Within is the effective handoff.timeout.
func (h InterpreterHandoff) Within() time.Duration {
	if h.Timeout <= 0 {
		return 120 * time.Second
	}
	return h.Timeout
}

// Overlap is the effective handoff.overlap_max.
func (h InterpreterHandoff) Overlap() time.Duration {
	if h.OverlapMax <= 0 {
		return 60 * time.Second
	}
	return h.OverlapMax
}

// AtOnce reports whether hearing callers are answered on arrival.
func (i *Interpreter) AtOnce() bool { return i != nil && i.AnswerInbound == "at_once" }

// InterpreterUser is a registered deaf user.
type InterpreterUser struct {
	ID           string `yaml:"id"`
	Name         string `yaml:"name"`
	Number       string `yaml:"number"`        // their own number (E.164)
	Contact      string `yaml:"contact"`       // where reach links go: E.164 or e-mail
	Channel      string `yaml:"channel"`       // sms | whatsapp | email ("": by the contact)
	SignLanguage string `yaml:"sign_language"` // their usual sign language
}

// InterpreterReach: how a hearing caller's registered deaf user is reached
// when an interpreter accepts (§2.2 step 3).
type InterpreterReach struct {
	// Auto sends the user a join link when no page of theirs answers
	// (default true).
	Auto *bool `yaml:"auto"`
	// RingTimeout: how long the user's open pages ring before the link is
	// sent (default 30s).
	RingTimeout time.Duration `yaml:"ring_timeout"`
}

// AutoLink reports whether the link goes out by itself.
func (r InterpreterReach) AutoLink() bool { return r.Auto == nil || *r.Auto }

// Ring is the effective ring_timeout.
func (r InterpreterReach) Ring() time.Duration {
	if r.RingTimeout <= 0 {
		return 30 * time.Second
	}
	return r.RingTimeout
}

// User returns the registered deaf user id (false: none); nil-safe, so a
// hub without an interpreter: section has no users.
func (i *Interpreter) User(id string) bool {
	_, ok := i.LookupUser(id)
	return ok
}

// LookupUser returns the registered deaf user id.
func (i *Interpreter) LookupUser(id string) (InterpreterUser, bool) {
	if i == nil || id == "" {
		return InterpreterUser{}, false
	}
	for _, u := range i.Users {
		if u.ID == id {
			return u, true
		}
	}
	return InterpreterUser{}, false
}

// Requeue is the effective requeue_max_wait.
func (i Interpreter) Requeue() time.Duration {
	if i.RequeueMaxWait == nil {
		return DefaultRequeueMaxWait
	}
	return *i.RequeueMaxWait
}

// DefaultRequeueMaxWait is interpreter.requeue_max_wait's default.
const DefaultRequeueMaxWait = 120 * time.Second

// InterpreterRTT: what is kept of the real-time text.
type InterpreterRTT struct {
	// Store keeps each completed line in the session history as an rtt.text
	// event (default true); false keeps only the counts.
	Store *bool `yaml:"store"`
	// Retention: rtt.text events older than this lose their text (the
	// event stays, marked redacted, so the call record still counts it).
	// Default 24h; 0 keeps the text as long as the history.
	Retention *time.Duration `yaml:"retention"`
	// Backlog sends an interpreter who joins a session already going the
	// text so far (rtt_backlog; default true). It comes from the session's
	// memory, so it works with store: false too.
	Backlog *bool `yaml:"backlog"`
}

// Backlogged reports whether late interpreters get the text so far.
func (r InterpreterRTT) Backlogged() bool { return r.Backlog == nil || *r.Backlog }

// Stored reports whether completed lines go to the history.
func (r InterpreterRTT) Stored() bool { return r.Store == nil || *r.Store }

// Keep is the retention of the text (0: no limit).
func (r InterpreterRTT) Keep() time.Duration {
	if r.Retention == nil {
		return DefaultRTTRetention
	}
	return *r.Retention
}

// DefaultRTTRetention is interpreter.rtt.retention's default: short, since
// interpretation is confidential (docs/interpreter.md §6.5, §13).
const DefaultRTTRetention = 24 * time.Hour

// TeamAllowed reports whether a second interpreter may join as a partner.
func (i Interpreter) TeamAllowed() bool { return i.Team == nil || *i.Team }

// SignLanguage is one choice of the deaf user's page.
type SignLanguage struct {
	Tag    string `yaml:"tag"`    // BCP 47 (RFC 5646), as RFC 8373 hlang: ase, bfi, ssp
	Name   string `yaml:"name"`   // shown in the chooser
	Spoken string `yaml:"spoken"` // the hearing side's default spoken language
}

// InterpreterNumber is a number a hearing caller dials to reach an
// interpreter; matched on the INVITE's Request-URI user (or To).
type InterpreterNumber struct {
	Number       string `yaml:"number"`
	SignLanguage string `yaml:"sign_language"`
	Language     string `yaml:"language"` // default: the sign language's spoken
	Entry        string `yaml:"entry"`    // whose routes pick the pool (default: the first interpreter entry point)
	User         string `yaml:"user"`     // the registered deaf user (users[].id) this number belongs to
}

// Number returns the configured number user matches (digits compared
// without "+", so "+34910000300" matches "34910000300").
func (i *Interpreter) Number(user string) (InterpreterNumber, bool) {
	if i == nil || user == "" {
		return InterpreterNumber{}, false
	}
	u := strings.TrimPrefix(user, "+")
	for _, n := range i.Numbers {
		if strings.TrimPrefix(n.Number, "+") == u {
			return n, true
		}
	}
	return InterpreterNumber{}, false
}

var (
	phoneNumberRE = regexp.MustCompile(`^\+?[0-9]{2,20}$`)
	userIDRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// InterpreterDial is the policy for the phone party's number (§3.3).
type InterpreterDial struct {
	Trunk string `yaml:"trunk"` // default sip.default_trunk
	// Allow: patterns the number may match ("+34*"); empty: national
	// numbers (sessions.country_code) only.
	Allow            []string `yaml:"allow"`
	Deny             []string `yaml:"deny"`
	Emergency        []string `yaml:"emergency"`
	EmergencyMessage string   `yaml:"emergency_message"`
	MaxCalls         int      `yaml:"max_calls"`
	// From is the caller ID toward the phone party: "service" (default,
	// the trunk's from_user) or "user" (a registered deaf user's own
	// number, where the carrier permits it; the service's otherwise).
	From string `yaml:"from"`
	// Auto dials the number the deaf user gave as soon as the first
	// interpreter accepts (deaf-initiated sessions; default false: the
	// interpreter dials when ready).
	Auto bool `yaml:"auto"`
}

// Defaults of the interpreter section.
var (
	DefaultEmergencyNumbers = []string{"112", "911", "999", "000", "110", "119", "118"}
	DefaultEmergencyMessage = "This service cannot place emergency calls. Use your country's emergency text or video service."
)

// WithDefaults returns i with every unset key at its default.
func (i Interpreter) WithDefaults() Interpreter {
	if i.AfterPhone == "" {
		i.AfterPhone = "stay"
	}
	if i.Dial.Emergency == nil {
		i.Dial.Emergency = DefaultEmergencyNumbers
	}
	if i.Dial.EmergencyMessage == "" {
		i.Dial.EmergencyMessage = DefaultEmergencyMessage
	}
	if i.Dial.MaxCalls == 0 {
		i.Dial.MaxCalls = 10
	}
	for k := range i.Languages {
		if i.Languages[k].Name == "" {
			i.Languages[k].Name = i.Languages[k].Tag
		}
	}
	return i
}

// Language returns the configured sign language tag (case-insensitive).
func (i *Interpreter) Language(tag string) (SignLanguage, bool) {
	if i == nil {
		return SignLanguage{}, false
	}
	for _, l := range i.Languages {
		if strings.EqualFold(l.Tag, tag) {
			return l, true
		}
	}
	return SignLanguage{}, false
}

// bcp47RE is the syntax of a language tag as RFC 8373 uses it: a primary
// subtag and optional subtags (not a full RFC 5646 validation).
var bcp47RE = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)

// ValidLanguageTag reports whether tag is a syntactically valid BCP 47 tag
// of at most 35 characters.
func ValidLanguageTag(tag string) bool { return len(tag) <= 35 && bcp47RE.MatchString(tag) }

var numberPatternRE = regexp.MustCompile(`^\+?[0-9]+\*?$`)

func (c *Config) validateInterpreter(add func(key, format string, a ...any)) {
	hasEntry := false
	for k, ep := range c.Sessions.EntryPoints {
		switch ep.Mode {
		case "", "forward":
		case ModeInterpreter:
			hasEntry = true
			if ep.Video != nil && !*ep.Video {
				add(keyIdx("sessions.entry_points", k)+".video", "must not be false with mode: interpreter (the deaf user signs on camera)")
			}
		default:
			add(keyIdx("sessions.entry_points", k)+".mode", "must be empty (forward) or interpreter, not %q", ep.Mode)
		}
	}
	i := c.Interpreter
	if i == nil {
		if hasEntry {
			add("interpreter.languages", "is required (at least one) when an entry point has mode: interpreter")
		}
		for k, r := range c.Sessions.Routes {
			if r.SignLanguage != "" {
				add(keyIdx("sessions.routes", k)+".sign_language", "needs an interpreter: section")
			}
		}
		return
	}
	if hasEntry && len(i.Languages) == 0 {
		add("interpreter.languages", "is required (at least one) when an entry point has mode: interpreter")
	}
	seen := map[string]bool{}
	for k, l := range i.Languages {
		key := keyIdx("interpreter.languages", k)
		if !ValidLanguageTag(l.Tag) {
			add(key+".tag", "must be a BCP 47 language tag (ase, bfi, ssp), not %q", l.Tag)
		}
		if seen[strings.ToLower(l.Tag)] {
			add(key+".tag", "%q is listed twice", l.Tag)
		}
		seen[strings.ToLower(l.Tag)] = true
		if l.Spoken != "" && !ValidLanguageTag(l.Spoken) {
			add(key+".spoken", "must be a BCP 47 language tag (en, es), not %q", l.Spoken)
		}
	}
	for k, r := range c.Sessions.Routes {
		if r.SignLanguage == "" {
			continue
		}
		ok := false
		for _, l := range i.Languages {
			if tagPrefix(r.SignLanguage, l.Tag) {
				ok = true
			}
		}
		if !ok {
			add(keyIdx("sessions.routes", k)+".sign_language", "%q is not the prefix of a configured interpreter language", r.SignLanguage)
		}
	}
	for k, n := range i.Numbers {
		key := keyIdx("interpreter.numbers", k)
		if !phoneNumberRE.MatchString(n.Number) {
			add(key+".number", "must be a telephone number (digits, optional leading +), not %q", n.Number)
		}
		if _, ok := i.Language(n.SignLanguage); !ok {
			add(key+".sign_language", "must be one of interpreter.languages, not %q", n.SignLanguage)
		}
		if n.Entry != "" {
			if ep, ok := c.Sessions.EntryPoint(n.Entry); !ok || ep.Mode != ModeInterpreter {
				add(key+".entry", "must name an entry point with mode: interpreter, not %q", n.Entry)
			}
		} else if !hasEntry {
			add(key+".entry", "needs an entry point with mode: interpreter (its routes pick the interpreters)")
		}
	}
	users := map[string]bool{}
	for k, u := range i.Users {
		key := keyIdx("interpreter.users", k)
		switch {
		case !userIDRE.MatchString(u.ID):
			add(key+".id", "must be 1-64 letters, digits, '.', '_' or '-', not %q", u.ID)
		case users[u.ID]:
			add(key+".id", "%q is listed twice", u.ID)
		}
		users[u.ID] = true
		if u.Number != "" && !phoneNumberRE.MatchString(u.Number) {
			add(key+".number", "must be a telephone number (digits, optional leading +), not %q", u.Number)
		}
		if u.Contact != "" && !phoneNumberRE.MatchString(u.Contact) && !strings.Contains(u.Contact, "@") {
			add(key+".contact", "must be a telephone number or an e-mail address")
		}
		switch u.Channel {
		case "", "sms", "whatsapp", "email":
		default:
			add(key+".channel", "must be sms, whatsapp or email, not %q", u.Channel)
		}
		if u.SignLanguage != "" {
			if _, ok := i.Language(u.SignLanguage); !ok {
				add(key+".sign_language", "must be one of interpreter.languages, not %q", u.SignLanguage)
			}
		}
	}
	for k, n := range i.Numbers {
		if n.User != "" && !users[n.User] {
			add(keyIdx("interpreter.numbers", k)+".user", "names no user of interpreter.users: %q", n.User)
		}
	}
	switch i.Dial.From {
	case "", "service":
	case "user":
		if len(i.Users) == 0 {
			add("interpreter.dial.from", "user needs interpreter.users (their numbers are the caller IDs)")
		}
	default:
		add("interpreter.dial.from", "must be service or user, not %q", i.Dial.From)
	}
	switch i.AnswerInbound {
	case "", "on_accept", "at_once":
	default:
		add("interpreter.answer_inbound", "must be on_accept or at_once, not %q", i.AnswerInbound)
	}
	if i.Handoff.Timeout < 0 {
		add("interpreter.handoff.timeout", "must not be negative")
	}
	if i.Handoff.OverlapMax < 0 {
		add("interpreter.handoff.overlap_max", "must not be negative")
	}
	if i.Reach.RingTimeout < 0 {
		add("interpreter.reach.ring_timeout", "must not be negative")
	}
	switch i.AfterPhone {
	case "", "stay", "end":
	default:
		add("interpreter.after_phone", "must be stay or end, not %q", i.AfterPhone)
	}
	for _, set := range []struct {
		key  string
		list []string
	}{{"interpreter.dial.allow", i.Dial.Allow}, {"interpreter.dial.deny", i.Dial.Deny}, {"interpreter.dial.emergency", i.Dial.Emergency}} {
		for k, p := range set.list {
			if !numberPatternRE.MatchString(p) {
				add(keyIdx(set.key, k), "must be digits with an optional leading + and trailing *, not %q", p)
			}
		}
	}
	if i.Dial.MaxCalls < 0 {
		add("interpreter.dial.max_calls", "must not be negative")
	}
	if i.RequeueMaxWait != nil && *i.RequeueMaxWait < 0 {
		add("interpreter.requeue_max_wait", "must not be negative (0 ends the session when its interpreter is lost)")
	}
	if i.RTT.Retention != nil && *i.RTT.Retention < 0 {
		add("interpreter.rtt.retention", "must not be negative (0 keeps the text)")
	}
	if i.Dial.Trunk != "" {
		found := false
		for _, t := range c.SIP.Trunks {
			if t.Name == i.Dial.Trunk {
				found = true
			}
		}
		if !found {
			add("interpreter.dial.trunk", "names no trunk of sip.trunks: %q", i.Dial.Trunk)
		}
	}
}

// TagPrefix reports whether prefix is tag or a leading run of its subtags
// ("ase" matches "ase-US", not "asex"), case-insensitively.
func TagPrefix(prefix, tag string) bool { return tagPrefix(prefix, tag) }

func tagPrefix(prefix, tag string) bool {
	p, t := strings.ToLower(prefix), strings.ToLower(tag)
	return p == t || strings.HasPrefix(t, p+"-")
}

func keyIdx(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }
