package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WhatsApp is the top-level whatsapp: section: the hub's side of one Meta
// app (one webhook URL, one app secret) and one entry per business number
// it serves (WhatsApp Business Calling and messages). See docs/whatsapp.md.
//
// Without this section, a configured sessions.notify.whatsapp still gives
// the WhatsApp service one number with messages and statuses only (calling
// off): see Config.WhatsAppService.
type WhatsApp struct {
	BaseURL string `yaml:"base_url"` // Graph API, default https://graph.facebook.com
	Version string `yaml:"version"`  // Graph API version, default v25.0
	// AppSecret is the Meta app's secret (App Dashboard → Settings → Basic):
	// it verifies X-Hub-Signature-256 of every webhook delivery.
	AppSecret string `yaml:"app_secret"` // SPLIT_WHATSAPP_APP_SECRET
	// VerifyToken is the string pasted next to the callback URL in the App
	// Dashboard; Meta's verification GET must carry it.
	VerifyToken string `yaml:"verify_token"` // SPLIT_WHATSAPP_VERIFY_TOKEN
	// Forward passes every verified delivery on to the company's chat
	// platform (a Meta app has one webhook URL).
	Forward WhatsAppForward `yaml:"forward"`
	// MaxEventAge drops call events (connect, call statuses) whose timestamp
	// is older than this: Meta retries webhooks and a call offer that old
	// can no longer be accepted (default 2m; terminates, messages, message
	// statuses and permission replies are never dropped for age).
	MaxEventAge time.Duration    `yaml:"max_event_age"`
	Numbers     []WhatsAppNumber `yaml:"numbers"`
}

// WhatsAppForward is the chat platform's webhook that receives every
// verified delivery byte for byte, with Meta's signature.
type WhatsAppForward struct {
	URL      string        `yaml:"url"`      // "" forwards nothing
	Timeout  time.Duration `yaml:"timeout"`  // per attempt (default 10s)
	Attempts int           `yaml:"attempts"` // before a dead-letter record (default 6)
}

// WhatsAppNumber is one business phone number.
type WhatsAppNumber struct {
	PhoneNumberID string `yaml:"phone_number_id"` // Meta's numeric id of the number
	Number        string `yaml:"number"`          // E.164, +14085551234
	AccessToken   string `yaml:"access_token"`    // SPLIT_WHATSAPP_NUMBERS_<i>_ACCESS_TOKEN
	// Entry is the entry point whose routes (hours, queue or external ACD)
	// serve this number's calls (default "whatsapp").
	Entry string `yaml:"entry"`
	// Calling turns WhatsApp Business Calling on for this number (default
	// true; false: messages and statuses only).
	Calling *bool `yaml:"calling"`
	// Signalling is graph (Graph API calls + WebRTC media, the default) or
	// sip (Meta's INVITEs over TLS; the Graph /calls endpoints then refuse
	// with 131055).
	Signalling string `yaml:"signalling"`
	// AcceptTimeout is how long a user-initiated call may ring before the
	// hub accepts or rejects it. Meta gives 30-60 s; the default, 25s,
	// stays under the documented minimum. At most 60s.
	AcceptTimeout time.Duration `yaml:"accept_timeout"`
	// Keywords are inbound texts that start an escalation (a text starting
	// with one, compared without case).
	Keywords []string `yaml:"keywords"`
	// CallbackPermission makes Meta ask callers for call permission (the
	// calling settings' callback_permission_status; default true).
	CallbackPermission *bool `yaml:"callback_permission"`
	// PermissionTemplate is sent for call-permission requests outside the
	// 24 h window (an approved template with a call_permission_request
	// component). Nil: outside the window the request is refused (131047).
	PermissionTemplate *WhatsAppPermissionTemplate `yaml:"permission_template"`
	// SIP configures signalling: sip.
	SIP *WhatsAppSIP `yaml:"sip"`
}

// WhatsAppPermissionTemplate is an approved call-permission template.
type WhatsAppPermissionTemplate struct {
	Name     string `yaml:"name"`
	Language string `yaml:"language"` // e.g. en_US
}

// WhatsAppSIP is the SIP variant of one number.
type WhatsAppSIP struct {
	// Hostname is the hub's SIP host name registered with Meta (TLS
	// certificate SAN; the From host of the hub's INVITEs).
	Hostname string `yaml:"hostname"`
	Port     int    `yaml:"port"` // the hub's SIP TLS port registered with Meta (default 5061)
	// Password is the digest password Meta generated for this number (GET
	// settings?include_sip_credentials=true).
	Password string `yaml:"password"` // SPLIT_WHATSAPP_NUMBERS_<i>_SIP_PASSWORD
	SRTP     string `yaml:"srtp"`     // dtls or sdes; default (and must equal): the trunk's srtp
}

// Signalling variants of a WhatsApp number.
const (
	WhatsAppSignallingGraph = "graph"
	WhatsAppSignallingSIP   = "sip"
)

// Defaults of the whatsapp: section.
const (
	DefaultWhatsAppBaseURL       = "https://graph.facebook.com"
	DefaultWhatsAppVersion       = "v25.0"
	DefaultWhatsAppEntry         = "whatsapp"
	DefaultWhatsAppMaxEventAge   = 2 * time.Minute
	DefaultWhatsAppAcceptTimeout = 25 * time.Second
	DefaultWhatsAppForwardTries  = 6
	DefaultWhatsAppForwardWait   = 10 * time.Second
	MaxWhatsAppAcceptTimeout     = 60 * time.Second
)

// CallingEnabled reports whether the number takes and places calls.
func (n WhatsAppNumber) CallingEnabled() bool { return n.Calling == nil || *n.Calling }

// CallbackPermissionEnabled reports whether callers are asked for permission.
func (n WhatsAppNumber) CallbackPermissionEnabled() bool {
	return n.CallbackPermission == nil || *n.CallbackPermission
}

// WithDefaults returns a copy of w with every unset value defaulted.
func (w WhatsApp) WithDefaults() WhatsApp {
	if w.BaseURL == "" {
		w.BaseURL = DefaultWhatsAppBaseURL
	}
	if w.Version == "" {
		w.Version = DefaultWhatsAppVersion
	}
	if w.MaxEventAge == 0 {
		w.MaxEventAge = DefaultWhatsAppMaxEventAge
	}
	if w.Forward.Timeout == 0 {
		w.Forward.Timeout = DefaultWhatsAppForwardWait
	}
	if w.Forward.Attempts == 0 {
		w.Forward.Attempts = DefaultWhatsAppForwardTries
	}
	nums := make([]WhatsAppNumber, len(w.Numbers))
	for i, n := range w.Numbers {
		if n.Entry == "" {
			n.Entry = DefaultWhatsAppEntry
		}
		if n.Signalling == "" {
			n.Signalling = WhatsAppSignallingGraph
		}
		if n.AcceptTimeout == 0 {
			n.AcceptTimeout = DefaultWhatsAppAcceptTimeout
		}
		if n.SIP != nil {
			s := *n.SIP
			if s.Port == 0 {
				s.Port = 5061
			}
			// SRTP "": the trunk's (WhatsAppService fills it in)
			n.SIP = &s
		}
		nums[i] = n
	}
	w.Numbers = nums
	return w
}

// Number returns the number with phone_number_id pnid.
func (w WhatsApp) Number(pnid string) (WhatsAppNumber, bool) {
	for _, n := range w.Numbers {
		if n.PhoneNumberID == pnid {
			return n, true
		}
	}
	return WhatsAppNumber{}, false
}

// WhatsAppService is the configuration the WhatsApp service runs with, with
// defaults applied: the whatsapp: section, or, without one, the
// sessions.notify.whatsapp number with calling off (so existing
// configurations keep their status webhook). ok is false when neither is
// configured.
func (c *Config) WhatsAppService() (w WhatsApp, ok bool) {
	if c.WhatsApp != nil {
		w := c.WhatsApp.WithDefaults()
		for i, n := range w.Numbers {
			// signalling: sip — the SIP side is the provider: whatsapp trunk
			// of this number; its hostname and password are the number's
			t := c.whatsAppTrunk(n.Number)
			if n.Signalling == WhatsAppSignallingSIP && n.SIP == nil && t != nil {
				w.Numbers[i].SIP = &WhatsAppSIP{Hostname: t.Hostname, Port: c.tlsPort(), Password: t.Password, SRTP: t.SRTP}
			}
			if s := w.Numbers[i].SIP; s != nil && s.SRTP == "" {
				// the media the trunk speaks is what Meta must be told
				cp := *s
				cp.SRTP = "sdes"
				if t != nil && t.SRTP != "" {
					cp.SRTP = t.SRTP
				}
				w.Numbers[i].SIP = &cp
			}
		}
		return w, true
	}
	n := c.Sessions.Notify.WhatsApp
	if n == nil {
		return WhatsApp{}, false
	}
	off := false
	return WhatsApp{
		BaseURL: n.BaseURL, Version: n.Version, AppSecret: n.AppSecret, VerifyToken: n.VerifyToken,
		Numbers: []WhatsAppNumber{{PhoneNumberID: n.PhoneNumberID, AccessToken: n.AccessToken, Calling: &off}},
	}.WithDefaults(), true
}

var (
	e164RE        = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	digitsRE      = regexp.MustCompile(`^[0-9]{1,32}$`)
	graphVerRE    = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	sipHostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
)

// validateWhatsApp checks the whatsapp: section (after defaults).
func (c *Config) validateWhatsApp(add func(key, format string, a ...any)) {
	if c.WhatsApp == nil {
		return
	}
	w := c.WhatsApp.WithDefaults()
	if u, err := url.Parse(w.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("whatsapp.base_url", "must be an http(s) URL, not %q", w.BaseURL)
	}
	if !graphVerRE.MatchString(w.Version) {
		add("whatsapp.version", "must look like v25.0, not %q", w.Version)
	}
	if w.AppSecret == "" {
		add("whatsapp.app_secret", "is required: the Meta app's secret (App Dashboard → Settings → Basic) verifies every webhook (SPLIT_WHATSAPP_APP_SECRET)")
	}
	if w.VerifyToken == "" {
		add("whatsapp.verify_token", "is required: the string pasted next to the callback URL in the App Dashboard (SPLIT_WHATSAPP_VERIFY_TOKEN)")
	} else if w.AppSecret != "" && w.VerifyToken == w.AppSecret {
		add("whatsapp.verify_token", "equals app_secret: the verify token is a string of your choice, the app secret is Meta's")
	}
	if f := w.Forward; f.URL != "" {
		if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("whatsapp.forward.url", "must be an http(s) URL, not %q", f.URL)
		}
	}
	if w.Forward.Timeout < 0 {
		add("whatsapp.forward.timeout", "must not be negative")
	}
	if w.Forward.Attempts < 1 || w.Forward.Attempts > 20 {
		add("whatsapp.forward.attempts", "must be 1-20, not %d", w.Forward.Attempts)
	}
	if w.MaxEventAge < 0 {
		add("whatsapp.max_event_age", "must not be negative")
	}
	if len(w.Numbers) == 0 {
		add("whatsapp.numbers", "at least one business number is required")
	}
	pnids := map[string]bool{}
	for i, n := range w.Numbers {
		key := fmt.Sprintf("whatsapp.numbers[%d]", i)
		if !digitsRE.MatchString(n.PhoneNumberID) {
			add(key+".phone_number_id", "must be Meta's numeric phone number id (not the number), not %q", n.PhoneNumberID)
		} else if pnids[n.PhoneNumberID] {
			add(key+".phone_number_id", "duplicate number %q", n.PhoneNumberID)
		}
		pnids[n.PhoneNumberID] = true
		if !e164RE.MatchString(n.Number) {
			add(key+".number", "must be the business number in E.164 (+14085551234), not %q", n.Number)
		}
		if n.AccessToken == "" {
			add(key+".access_token", "is required (SPLIT_WHATSAPP_NUMBERS_%d_ACCESS_TOKEN)", i)
		}
		if !nameRE.MatchString(n.Entry) {
			add(key+".entry", "must be an entry point name, not %q", n.Entry)
		} else if _, ok := c.Sessions.EntryPoint(n.Entry); !ok {
			add(key+".entry", "unknown entry point %q: add it to sessions.entry_points (its routes serve this number's calls)", n.Entry)
		}
		switch n.Signalling {
		case WhatsAppSignallingGraph:
		case WhatsAppSignallingSIP:
			t := c.whatsAppTrunk(n.Number)
			switch {
			case t == nil:
				add(key+".signalling", "sip needs a sip.trunks entry with provider: whatsapp and number %q (its hostname and password are Meta's SIP side)", n.Number)
			case n.SIP != nil && !strings.EqualFold(n.SIP.Hostname, t.Hostname):
				add(key+".sip.hostname", "%q differs from the hostname of trunk %s (%q): leave sip out, the trunk has it", n.SIP.Hostname, t.Name, t.Hostname)
			}
			if n.SIP != nil && t != nil && n.SIP.SRTP != "" && n.SIP.SRTP != t.SRTP {
				add(key+".sip.srtp", "%q differs from the srtp of trunk %s (%q): leave it out, the trunk's is what the hub speaks (and what Meta is told)", n.SIP.SRTP, t.Name, t.SRTP)
			}
		default:
			add(key+".signalling", "must be graph or sip, not %q", n.Signalling)
		}
		if n.AcceptTimeout < time.Second || n.AcceptTimeout > MaxWhatsAppAcceptTimeout {
			add(key+".accept_timeout", "must be 1s-60s (Meta rings a call for 30-60 s), not %s", n.AcceptTimeout)
		}
		for j, k := range n.Keywords {
			if strings.TrimSpace(k) == "" {
				add(fmt.Sprintf("%s.keywords[%d]", key, j), "must not be empty")
			}
		}
		if t := n.PermissionTemplate; t != nil && (t.Name == "" || t.Language == "") {
			add(key+".permission_template", "needs name and language (an approved template with a call_permission_request component)")
		}
		if s := n.SIP; s != nil {
			if !sipHostnameRE.MatchString(s.Hostname) {
				add(key+".sip.hostname", "must be the hub's SIP host name registered with Meta (a DNS name its TLS certificate covers), not %q", s.Hostname)
			}
			if s.Port < 1 || s.Port > 65535 {
				add(key+".sip.port", "must be 1-65535")
			}
			switch s.SRTP {
			case "", "dtls", "sdes":
			default:
				add(key+".sip.srtp", "must be dtls or sdes, not %q", s.SRTP)
			}
		}
	}
}

// String redacts the secrets.
func (w WhatsApp) String() string {
	nums := make([]string, len(w.Numbers))
	for i, n := range w.Numbers {
		nums[i] = n.String()
	}
	return fmt.Sprintf("WhatsApp{BaseURL:%q Version:%q AppSecret:%q VerifyToken:%q Forward:%+v MaxEventAge:%s Numbers:[%s]}",
		w.BaseURL, w.Version, redact(w.AppSecret), redact(w.VerifyToken), w.Forward, w.MaxEventAge, strings.Join(nums, " "))
}

// GoString redacts the secrets in %#v.
func (w WhatsApp) GoString() string { return w.String() }

// LogValue redacts the secrets in slog output.
func (w WhatsApp) LogValue() slog.Value {
	nums := make([]string, len(w.Numbers))
	for i, n := range w.Numbers {
		nums[i] = n.PhoneNumberID
	}
	return slog.GroupValue(slog.String("base_url", w.BaseURL), slog.String("version", w.Version),
		slog.String("app_secret", redact(w.AppSecret)), slog.String("verify_token", redact(w.VerifyToken)),
		slog.String("forward", w.Forward.URL), slog.Any("numbers", nums))
}

// String redacts the secrets.
func (n WhatsAppNumber) String() string {
	sip := "nil"
	if n.SIP != nil {
		sip = n.SIP.String()
	}
	tpl := "nil"
	if n.PermissionTemplate != nil {
		tpl = n.PermissionTemplate.Name + "/" + n.PermissionTemplate.Language
	}
	return fmt.Sprintf("WhatsAppNumber{PhoneNumberID:%q Number:%q AccessToken:%q Entry:%q Calling:%v Signalling:%q AcceptTimeout:%s Keywords:%q PermissionTemplate:%s SIP:%s}",
		n.PhoneNumberID, n.Number, redact(n.AccessToken), n.Entry, n.CallingEnabled(), n.Signalling, n.AcceptTimeout, n.Keywords, tpl, sip)
}

// GoString redacts the secrets in %#v.
func (n WhatsAppNumber) GoString() string { return n.String() }

// LogValue redacts the secrets in slog output.
func (n WhatsAppNumber) LogValue() slog.Value {
	return slog.GroupValue(slog.String("phone_number_id", n.PhoneNumberID), slog.String("number", n.Number),
		slog.String("access_token", redact(n.AccessToken)), slog.String("entry", n.Entry),
		slog.String("signalling", n.Signalling), slog.Bool("calling", n.CallingEnabled()))
}

// String redacts the password.
func (s WhatsAppSIP) String() string {
	return fmt.Sprintf("WhatsAppSIP{Hostname:%q Port:%d Password:%q SRTP:%q}", s.Hostname, s.Port, redact(s.Password), s.SRTP)
}

// GoString redacts the password in %#v.
func (s WhatsAppSIP) GoString() string { return s.String() }

// LogValue redacts the password in slog output.
func (s WhatsAppSIP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("hostname", s.Hostname), slog.Int("port", s.Port),
		slog.String("password", redact(s.Password)), slog.String("srtp", s.SRTP))
}

// whatsAppTrunk is the provider: whatsapp trunk of a business number.
func (c *Config) whatsAppTrunk(number string) *Trunk {
	for i := range c.SIP.Trunks {
		if t := &c.SIP.Trunks[i]; t.IsWhatsApp() && t.Number == number {
			return t
		}
	}
	return nil
}

// tlsPort is the port of sip.listen_tls (5061 when unset or unparsable).
func (c *Config) tlsPort() int {
	if _, p, err := net.SplitHostPort(c.SIP.ListenTLS); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			return n
		}
	}
	return 5061
}
