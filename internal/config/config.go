// Package config holds SPLIT's configuration: one YAML file decoded strictly
// (unknown keys are errors), SPLIT_… environment overrides, explicit defaults
// and a Validate that reports every problem with its key.
//
// The package has no side effects: it reads what it is given and returns
// values; logging, listening and file creation belong to the app.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one hub.
type Config struct {
	Log          Log           `yaml:"log"`
	HTTP         HTTP          `yaml:"http"`
	API          API           `yaml:"api"`
	Auth         Auth          `yaml:"auth"`
	DataDir      string        `yaml:"data_dir"`
	SIP          SIP           `yaml:"sip"`
	RTP          RTP           `yaml:"rtp"`
	WebRTC       WebRTC        `yaml:"webrtc"`
	Media        Media         `yaml:"media"`
	Sessions     Sessions      `yaml:"sessions"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Cluster: hub nodes sharing one store (docs/deploy.md § Several nodes).
	Cluster Cluster `yaml:"cluster"`
	// WhatsApp is the WhatsApp Business Platform side (calls, messages,
	// webhooks of one Meta app); nil without a whatsapp: section.
	WhatsApp *WhatsApp `yaml:"whatsapp"`
	// Interpreter is the Deaf Interpreter mode (docs/interpreter.md); nil
	// without an interpreter: section.
	Interpreter *Interpreter `yaml:"interpreter"`
	// Copilot is the Copilot AI mode (docs/copilot.md); nil: no AI service.
	Copilot *Copilot `yaml:"copilot"`
	// I18n: the pages' and messages' languages (docs/i18n.md).
	I18n I18n `yaml:"i18n"`
}

// I18n configures translations: English and Spanish are built in; Dir adds
// languages or changes texts (<lang>.json or <lang>/*.json files).
type I18n struct {
	Dir     string `yaml:"dir"`     // "" : the built-in languages only
	Default string `yaml:"default"` // when nothing else chooses (default en)
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP configures the web listener (REST API, signalling, pages, metrics).
type HTTP struct {
	Listen    string `yaml:"listen"`
	PublicURL string `yaml:"public_url"` // how browsers reach the hub; used in links
	TLSCert   string `yaml:"tls_cert"`
	TLSKey    string `yaml:"tls_key"`
	// ACME obtains and renews the certificate from an ACME CA (Let's
	// Encrypt by default) instead of tls_cert/tls_key (docs/deploy.md).
	ACME ACME `yaml:"acme"`
	// Pprof serves Go's profiler at /debug/pprof/ (Bearer API key required).
	Pprof bool `yaml:"pprof"`
	// Limits against idle and slow clients (docs/security.md, "HTTP limits").
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"` // a request's headers must arrive within this
	ReadTimeout       time.Duration `yaml:"read_timeout"`        // a whole request, headers and body
	WriteTimeout      time.Duration `yaml:"write_timeout"`       // one write to a client that makes no progress
	// IdleTimeout closes a connection that carries nothing either way for
	// this long: a keep-alive between requests, a WebSocket (the pages ping
	// every 25 s), an event stream (the hub writes every 20 s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnsPerIP caps the open connections from one source address;
	// more are refused (429) at once. Generous: a contact centre's agents
	// often share one NAT address (and all clients do behind a proxy).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

// ACME configures automatic HTTPS certificates (RFC 8555) for the HTTP
// listener, as Caddy users expect: set hostname (and optionally an email)
// and the hub obtains a certificate when it starts (or on the first TLS
// handshake for that name, if that fails) and renews it 30 days before it
// expires. Configuring it
// accepts the CA's terms of service. The CA validates the name by
// TLS-ALPN-01 on the HTTPS listener — so http.listen must be reachable
// from the internet on port 443 as hostname — or by HTTP-01 on
// http_listen (port 80), which also redirects plain HTTP to HTTPS.
type ACME struct {
	Hostname string `yaml:"hostname"` // the public DNS name browsers use
	// Hostnames are more names on the same certificate set (each gets its
	// own certificate); hostname is the one links are built with.
	Hostnames []string `yaml:"hostnames"`
	Email     string   `yaml:"email"`     // the ACME account's contact at the CA (optional)
	CacheDir  string   `yaml:"cache_dir"` // account key and certificates; default data_dir/acme
	// DirectoryURL is the CA's ACME directory; default Let's Encrypt's
	// production (https://acme-v02.api.letsencrypt.org/directory).
	DirectoryURL string `yaml:"directory_url"`
	// CAFile is a PEM file of roots to trust for directory_url (a private
	// ACME CA such as step-ca, or Pebble in tests); default the system's.
	CAFile string `yaml:"ca_file"`
	// HTTPListen serves HTTP-01 challenges and redirects everything else
	// to https (e.g. ":80"); empty: TLS-ALPN-01 only.
	HTTPListen string `yaml:"http_listen"`
}

// Enabled reports whether ACME is configured.
func (a ACME) Enabled() bool { return a.Hostname != "" || len(a.Hostnames) > 0 }

// Names are every host name the certificates cover, hostname first.
func (a ACME) Names() []string {
	var out []string
	for _, n := range append([]string{a.Hostname}, a.Hostnames...) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// TLS reports whether the HTTP listener speaks HTTPS (a configured
// certificate or ACME).
func (h HTTP) TLS() bool { return h.TLSCert != "" || h.ACME.Enabled() }

// BaseURL is how browsers reach the hub, for links: public_url; else
// https://hostname with ACME (and the listen port unless 443); else the
// scheme and listen address (the bound address when listen has port 0).
func (h HTTP) BaseURL(listen string) string {
	if h.PublicURL != "" {
		return strings.TrimRight(h.PublicURL, "/")
	}
	if h.ACME.Enabled() {
		if _, port, err := net.SplitHostPort(listen); err == nil && port != "443" && port != "" {
			return "https://" + net.JoinHostPort(h.ACME.Hostname, port)
		}
		return "https://" + h.ACME.Hostname
	}
	if h.TLSCert != "" {
		return "https://" + listen
	}
	return "http://" + listen
}

// sipAddressRE is a SIP URI without a user part: a host, an optional port
// and an optional transport parameter.
var sipAddressRE = regexp.MustCompile(`^sips?:[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(;transport=(udp|tcp|tls))?$`)

// Cluster configures how hub nodes sharing one store (PostgreSQL) watch
// each other. Every node writes a heartbeat; a node silent for node_timeout
// is lost — its process, and with it every leg it carried, is gone — and
// the first survivor to see it ends its live sessions with cause node_lost.
//
// A request about a session another node owns is sent there: HTTP is
// relayed to the owner's address, SIP is answered 302 with the owner's SIP
// address. Each node publishes both with its heartbeat.
type Cluster struct {
	Heartbeat   time.Duration `yaml:"heartbeat"`    // default 5s
	NodeTimeout time.Duration `yaml:"node_timeout"` // default 30s; at least 3 heartbeats
	// Address is the URL other nodes relay this node's sessions' HTTP
	// requests to (default: the public URL, http.base_url).
	Address string `yaml:"address"`
	// SIPAddress is the SIP URI other nodes redirect this node's sessions'
	// INVITEs to (default: sip:<sip.host>:<port of sip.listen_udp>).
	SIPAddress string `yaml:"sip_address"`
}

// API configures REST authentication.
type API struct {
	Key string `yaml:"key"` // Bearer key; SPLIT_API_KEY. Empty: generated at start and printed once.
}

// Auth configures browser tokens.
type Auth struct {
	TokenSecret string        `yaml:"token_secret"` // HMAC key; empty: generated and kept in data_dir
	TokenTTL    time.Duration `yaml:"token_ttl"`    // default lifetime of minted tokens
	MaxTokenTTL time.Duration `yaml:"max_token_ttl"`
}

// SIP configures the SIP user agent.
type SIP struct {
	Host      string        `yaml:"host"`       // host used in our URIs, Contact and Via (default: 127.0.0.1)
	ListenUDP string        `yaml:"listen_udp"` // "" disables
	ListenTCP string        `yaml:"listen_tcp"` // "" disables
	ListenTLS string        `yaml:"listen_tls"` // "" disables
	TLSCert   string        `yaml:"tls_cert"`   // required with listen_tls
	TLSKey    string        `yaml:"tls_key"`    // required with listen_tls
	TLSCA     string        `yaml:"tls_ca"`     // PEM CAs trusted for TLS trunks (default: the system roots)
	UserAgent string        `yaml:"user_agent"` // User-Agent / Server header
	Allow     []string      `yaml:"allow"`      // CIDRs/IPs allowed to send INVITEs besides trunks
	DefaultTo string        `yaml:"default_trunk"`
	Trunks    []Trunk       `yaml:"trunks"`
	RingTime  time.Duration `yaml:"ring_timeout"` // outbound: give up (CANCEL) after this long without answer
	// SIPREC are the Session Recording Servers routes may record to
	// (docs/copilot.md §7).
	SIPREC []SIPRECServer `yaml:"siprec"`
	Limits SIPLimits      `yaml:"limits"`
}

// SIPLimits bound what any sender can cost the hub (docs/security.md).
// Messages over a source's rate are dropped unanswered, as Kamailio's pike
// does; new calls over invite_rate or max_calls get 503 with Retry-After.
type SIPLimits struct {
	SourceRate        float64       `yaml:"source_rate"`         // messages/s from one address that is not a trunk or in sip.allow
	TrustedRate       float64       `yaml:"trusted_rate"`        // messages/s from one trunk / allowed address
	InviteRate        float64       `yaml:"invite_rate"`         // new calls/s from one trunk / allowed address
	ProbeRate         float64       `yaml:"probe_rate"`          // OPTIONS/s from one address, counted apart from the rest
	MaxCalls          int           `yaml:"max_calls"`           // SIP calls at once (0: half the RTP port pairs)
	TCPPerSource      int           `yaml:"tcp_per_source"`      // TCP/TLS connections from one address
	TCPMax            int           `yaml:"tcp_max"`             // TCP/TLS connections in all
	TCPMessageTimeout time.Duration `yaml:"tcp_message_timeout"` // a message must arrive whole within this
	TCPIdleTimeout    time.Duration `yaml:"tcp_idle_timeout"`    // a connection with no byte for this long is closed
}

// Trunk is an outbound SIP destination (a PBX, an ACD, a carrier) and the
// source it may call us from.
type Trunk struct {
	Name           string        `yaml:"name"`
	URI            string        `yaml:"uri"`       // sip:host[:port]; calls go to sip:<number>@host:port
	Transport      string        `yaml:"transport"` // udp, tcp, tls
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	Register       bool          `yaml:"register"`
	RegisterExpiry time.Duration `yaml:"register_expiry"`
	Codecs         []string      `yaml:"codecs"`       // audio, in preference order: PCMU, PCMA, opus
	Video          bool          `yaml:"video"`        // offer video toward this trunk when the browser sends it
	VideoCodecs    []string      `yaml:"video_codecs"` // forwarded video toward this trunk, in preference order: H264, VP8
	SRTP           string        `yaml:"srtp"`         // "" / none, or sdes; dtls (DTLS-SRTP+ICE media) with provider: whatsapp only
	InboundFrom    []string      `yaml:"inbound_from"` // CIDRs/IPs this trunk calls us from (default: its host)
	FromUser       string        `yaml:"from_user"`    // caller-ID user; default: the browser identity
	FromName       string        `yaml:"from_name"`    // caller-ID display name
	// Text offers real-time text toward this trunk (RFC 4103 text/t140
	// with RFC 2198 red redundancy, an m=text line next to the audio) and
	// answers the trunk's m=text offers with text. Off by default: some
	// gateways refuse an INVITE with an m-line they do not know (488).
	// With srtp: sdes the text is SRTP too (RTP/SAVP, a key of its own).
	Text bool `yaml:"text"`

	// Provider is "" for a PBX, ACD or carrier, or whatsapp for Meta's SIP
	// side of WhatsApp Business Calling (docs/whatsapp.md): the trunk then
	// needs hostname, number and password, speaks TLS and SDES-SRTP, and
	// never re-INVITEs (Meta answers 500 and drops the call).
	Provider string `yaml:"provider"`
	// Hostname (whatsapp) is the SIP hostname registered with Meta
	// (calling.sip.servers[].hostname): the host of our From and Contact,
	// and the realm of our digest challenge to Meta's INVITEs.
	Hostname string `yaml:"hostname"`
	// Number (whatsapp) is the business phone number, E.164 (+31612345678):
	// the From user of our INVITEs; its digits are the digest username.
	Number string `yaml:"number"`
	// ChallengeInbound (whatsapp): answer Meta's INVITEs with a 407 digest
	// challenge (username number, the trunk's password) before accepting
	// them. Default: on when password is set.
	ChallengeInbound *bool `yaml:"challenge_inbound"`
}

// ProviderWhatsApp is Trunk.Provider for Meta's WhatsApp SIP side.
const ProviderWhatsApp = "whatsapp"

// IsWhatsApp reports whether t is Meta's WhatsApp Business Calling SIP side.
func (t *Trunk) IsWhatsApp() bool { return t != nil && strings.EqualFold(t.Provider, ProviderWhatsApp) }

// DigestUser is the digest username toward the trunk: username, or for
// WhatsApp the business number's digits without "+" (Meta's rule).
func (t *Trunk) DigestUser() string {
	if t.IsWhatsApp() && t.Username == "" {
		return strings.TrimPrefix(t.Number, "+")
	}
	return t.Username
}

// ChallengesInbound reports whether Meta's INVITEs are digest-challenged.
func (t *Trunk) ChallengesInbound() bool {
	if t.ChallengeInbound != nil {
		return *t.ChallengeInbound
	}
	return t.Password != ""
}

// String redacts the password.
func (t Trunk) String() string {
	t.Password = redact(t.Password)
	type plain Trunk // no String method: no recursion
	return fmt.Sprintf("%+v", plain(t))
}

// GoString redacts the password in %#v.
func (t Trunk) GoString() string { return t.String() }

// LogValue redacts the password in slog output.
func (t Trunk) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", t.Name), slog.String("uri", t.URI), slog.String("transport", t.Transport),
		slog.String("provider", t.Provider), slog.String("username", t.Username), slog.String("password", redact(t.Password)))
}

// e164 is a business number as Meta wants it: "+", then 7-15 digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// RTP configures the SIP-side media ports.
type RTP struct {
	BindIP      string        `yaml:"bind_ip"`
	AdvertiseIP string        `yaml:"advertise_ip"` // address put in SDP c= (NAT); default: bind_ip or sip.host
	PortMin     int           `yaml:"port_min"`
	PortMax     int           `yaml:"port_max"`
	Timeout     time.Duration `yaml:"timeout"` // hang up after this long with no RTP from an active, unheld call
}

// WebRTC configures the browser-facing side.
type WebRTC struct {
	UDPPort     int         `yaml:"udp_port"` // single port for all ICE traffic (mux)
	TCPPort     int         `yaml:"tcp_port"` // optional ICE-TCP; 0 disables
	BindIP      string      `yaml:"bind_ip"`
	PublicIPs   []string    `yaml:"public_ips"` // NAT 1:1 addresses advertised as host candidates
	ICEServers  []ICEServer `yaml:"ice_servers"`
	AudioCodecs []string    `yaml:"audio_codecs"` // preference toward browsers
	Video       bool        `yaml:"video"`
	// FastPath serves established audio-only legs' media on the shared
	// socket's reader with the leg's SRTP keys, past pion's per-packet
	// goroutines (docs/benchmarks.md § Fast path). Default on.
	FastPath bool `yaml:"fast_path"`
}

// ICEServer is a STUN or TURN server handed to browsers.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// Media configures codecs and buffers.
type Media struct {
	OpusBitrate    int `yaml:"opus_bitrate"`    // bit/s of Opus encoded by the hub (transcoding)
	OpusComplexity int `yaml:"opus_complexity"` // 1-10: CPU against quality of that encoder
	// JitterBuffer, in 20 ms frames, de-jitters and reorders browser Opus
	// before it is transcoded (0: off, packets transcoded on arrival).
	JitterBuffer int `yaml:"jitter_buffer"`
}

// Default returns the embedded defaults: everything on loopback, no trunk.
func Default() *Config {
	return &Config{
		Log:     Log{Level: "info", Format: "text"},
		HTTP:    HTTP{Listen: "127.0.0.1:8080", ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxConnsPerIP: 1000},
		Auth:    Auth{TokenTTL: time.Hour, MaxTokenTTL: 24 * time.Hour},
		DataDir: "./data",
		SIP: SIP{
			Host:      "127.0.0.1",
			ListenUDP: "127.0.0.1:5060",
			ListenTCP: "127.0.0.1:5060",
			UserAgent: "SPLIT",
			Allow:     []string{"127.0.0.1/32", "::1/128"},
			RingTime:  60 * time.Second,
			Limits: SIPLimits{SourceRate: 20, TrustedRate: 2000, InviteRate: 50, ProbeRate: 20, TCPPerSource: 32, TCPMax: 1024,
				TCPMessageTimeout: 10 * time.Second, TCPIdleTimeout: 5 * time.Minute},
		},
		RTP: RTP{BindIP: "127.0.0.1", PortMin: 20000, PortMax: 29999, Timeout: 60 * time.Second},
		WebRTC: WebRTC{
			UDPPort:     7882,
			BindIP:      "127.0.0.1",
			AudioCodecs: []string{"PCMU", "PCMA", "opus"},
			Video:       true,
			FastPath:    true,
		},
		Media:        Media{OpusBitrate: 24000, OpusComplexity: 5},
		Sessions:     defaultSessions(),
		DrainTimeout: 60 * time.Second,
		Cluster:      Cluster{Heartbeat: 5 * time.Second, NodeTimeout: 30 * time.Second},
	}
}

// Load reads a YAML document over the defaults, strictly: unknown keys fail.
// An empty reader yields the defaults.
func Load(r io.Reader) (*Config, error) {
	c := Default()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		c.Sessions.applyDefaults(c.DataDir)
		return c, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	for i := range c.SIP.Trunks {
		c.SIP.Trunks[i].applyDefaults()
	}
	c.Sessions.applyDefaults(c.DataDir)
	return c, nil
}

// LoadFile loads path ("" means defaults only) and then applies environ.
func LoadFile(path string, environ []string) (*Config, error) {
	var r io.Reader = strings.NewReader("")
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		r = f
	}
	c, err := Load(r)
	if err != nil {
		return nil, err
	}
	if err := ApplyEnv(c, environ); err != nil {
		return nil, err
	}
	return c, nil
}

func (t *Trunk) applyDefaults() {
	if t.IsWhatsApp() {
		// Meta's side: wa.meta.vc:5061 over TLS, Opus (docs/whatsapp.md)
		if t.URI == "" {
			t.URI = "sip:wa.meta.vc:5061"
		}
		if t.Transport == "" {
			t.Transport = "tls"
		}
		if t.SRTP == "" {
			t.SRTP = "sdes"
		}
		if len(t.Codecs) == 0 {
			t.Codecs = []string{"opus"}
		}
	}
	if t.Transport == "" {
		t.Transport = "udp"
	}
	if len(t.Codecs) == 0 {
		t.Codecs = []string{"PCMU", "PCMA"}
	}
	if len(t.VideoCodecs) == 0 {
		t.VideoCodecs = []string{"H264", "VP8"}
	}
	if t.RegisterExpiry == 0 {
		t.RegisterExpiry = 300 * time.Second
	}
}

// Trunk returns the trunk named name.
func (c *Config) Trunk(name string) (*Trunk, bool) {
	for i := range c.SIP.Trunks {
		if c.SIP.Trunks[i].Name == name {
			return &c.SIP.Trunks[i], true
		}
	}
	return nil, false
}

// TrunkFor finds the trunk that the host part of a SIP target names, and
// the host and port its Request-URI goes to. host is either a trunk's host
// (compared without case; when both the target and the trunk's URI give a
// port they must agree, and a missing one is the other's) or, without a
// port, a trunk's name — sip:6000@acd goes to the trunk named "acd" as
// sip:6000@<its host>:<its port>, the way Kamailio and Asterisk users name
// endpoints. Hosts are tried first, in the trunks' order, then names.
func (c *Config) TrunkFor(host string, port int) (*Trunk, TrunkURI, bool) {
	for i := range c.SIP.Trunks {
		t := &c.SIP.Trunks[i]
		tu, err := ParseTrunkURI(t.URI)
		if err != nil || !strings.EqualFold(tu.Host, host) || (port != 0 && tu.Port != 0 && port != tu.Port) {
			continue
		}
		if port == 0 {
			port = tu.Port
		}
		return t, TrunkURI{Host: host, Port: port}, true
	}
	if port != 0 {
		return nil, TrunkURI{}, false
	}
	for i := range c.SIP.Trunks {
		t := &c.SIP.Trunks[i]
		if !strings.EqualFold(t.Name, host) {
			continue
		}
		tu, err := ParseTrunkURI(t.URI)
		if err != nil {
			return nil, TrunkURI{}, false
		}
		return t, tu, true
	}
	return nil, TrunkURI{}, false
}

// TargetTrunk reports the trunk a SIP target of a route, a queue's overflow
// or a transfer is dialled on, or why it cannot be dialled. A target is a
// SIP URI (sip:6000@acd.example.com, sip:6000@acd), user@host, or a bare
// number or user, which goes to sip.default_trunk — the rules of the hub's
// dialler (sipua Resolve).
func (c *Config) TargetTrunk(target string) (*Trunk, error) {
	t := strings.TrimSpace(target)
	if t == "" || len(t) > 256 || strings.ContainsAny(t, " \r\n<>\"") {
		return nil, fmt.Errorf("%q is not a SIP URI or a number", target)
	}
	if !strings.HasPrefix(t, "sip:") && !strings.HasPrefix(t, "sips:") && !strings.Contains(t, "@") {
		if c.SIP.DefaultTo == "" {
			return nil, fmt.Errorf("%q names no host, so it goes to sip.default_trunk, which is not set (write sip:%s@<trunk name>)", target, t)
		}
		tr, ok := c.Trunk(c.SIP.DefaultTo)
		if !ok {
			return nil, fmt.Errorf("%q goes to sip.default_trunk %q, which is not a trunk", target, c.SIP.DefaultTo)
		}
		return tr, nil
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(t, "sips:"), "sip:")
	if strings.ContainsRune(rest, '?') {
		return nil, fmt.Errorf("%q: a target carries no URI headers (?…)", target)
	}
	user, hostPart := "", rest
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		user, hostPart = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(hostPart, ';'); i >= 0 {
		hostPart = hostPart[:i] // parameters
	}
	if !sipUserRE.MatchString(user) {
		return nil, fmt.Errorf("%q: bad user part %q", target, user)
	}
	hp, err := parseSIPHostPort(hostPart)
	if err != nil {
		return nil, fmt.Errorf("%q: bad host %q", target, hostPart)
	}
	if tr, _, ok := c.TrunkFor(hp.Host, hp.Port); ok {
		return tr, nil
	}
	var known []string
	for _, tr := range c.SIP.Trunks {
		known = append(known, fmt.Sprintf("%s (%s)", tr.Name, tr.URI))
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("%q is a SIP target but no sip.trunks are configured", target)
	}
	return nil, fmt.Errorf("%q: %q is neither the name nor the host of a trunk (sip.trunks: %s); calls go only to configured trunks",
		target, hostPort(hp), strings.Join(known, ", "))
}

// The user and host of a SIP target (RFC 3261 §25.1): what the dialler's
// SIP parser takes.
var (
	sipUserRE = regexp.MustCompile(`^[A-Za-z0-9\-_.!~*'()&=+$,/%]*$`)
	sipHostRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?$`)
)

// parseSIPHostPort reads host[:port] of a SIP target: a host name or IPv4
// address, or an IPv6 address in brackets (returned without them, as
// ParseTrunkURI does), and a port of 1-65535.
func parseSIPHostPort(s string) (TrunkURI, error) {
	host, port := s, ""
	if strings.HasSuffix(s, ":") {
		return TrunkURI{}, errors.New("empty port")
	}
	if strings.HasPrefix(s, "[") {
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return TrunkURI{}, errors.New("unclosed [")
		}
		host, port = s[1:i], s[i+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return TrunkURI{}, errors.New("bad IPv6 address")
		}
		if port != "" && !strings.HasPrefix(port, ":") {
			return TrunkURI{}, errors.New("bad port")
		}
		port = strings.TrimPrefix(port, ":")
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
		}
		if !sipHostRE.MatchString(host) {
			return TrunkURI{}, errors.New("bad host")
		}
	}
	u := TrunkURI{Host: host}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return TrunkURI{}, errors.New("bad port")
		}
		u.Port = n
	}
	return u, nil
}

func hostPort(u TrunkURI) string {
	if u.Port == 0 {
		return u.Host
	}
	return net.JoinHostPort(u.Host, fmt.Sprint(u.Port))
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json, not %q", c.Log.Format)
	}
	checkHostPort := func(key, v string, required bool) {
		if v == "" {
			if required {
				add(key, "is required")
			}
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			add(key, "must be host:port: %v", err)
		}
	}
	checkHostPort("http.listen", c.HTTP.Listen, true)
	langTag := regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	if c.I18n.Default != "" && !langTag.MatchString(c.I18n.Default) {
		add("i18n.default", "must be a language tag such as en or es, not %q", c.I18n.Default)
	}
	if c.I18n.Dir != "" {
		if st, err := os.Stat(c.I18n.Dir); err != nil || !st.IsDir() {
			add("i18n.dir", "must be a folder of <lang>.json files: %q is not one", c.I18n.Dir)
		}
	}
	for i, e := range c.Sessions.EntryPoints {
		if e.Language != "" && !langTag.MatchString(e.Language) {
			add(fmt.Sprintf("sessions.entry_points[%d].language", i), "must be a language tag such as en or es, not %q", e.Language)
		}
	}
	if c.HTTP.PublicURL != "" {
		if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("http.public_url", "must be an absolute http(s) URL, not %q", c.HTTP.PublicURL)
		}
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.read_timeout", c.HTTP.ReadTimeout},
		{"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if t.d <= 0 {
			add(t.key, "must be positive")
		}
	}
	if c.Cluster.Heartbeat <= 0 {
		add("cluster.heartbeat", "must be positive")
	} else if c.Cluster.NodeTimeout < 3*c.Cluster.Heartbeat {
		add("cluster.node_timeout", "must be at least 3 heartbeats (%s): a node is lost only after several missed beats", 3*c.Cluster.Heartbeat)
	}
	if a := c.Cluster.Address; a != "" {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("cluster.address", "must be an http:// or https:// URL with a host and no path, not %q", a)
		}
	}
	if a := c.Cluster.SIPAddress; a != "" && !sipAddressRE.MatchString(a) {
		add("cluster.sip_address", "must be a SIP URI without user, like sip:10.0.0.2:5060 or sip:hub1.example.com:5060;transport=tcp, not %q", a)
	}
	if c.HTTP.ReadHeaderTimeout > c.HTTP.ReadTimeout {
		add("http.read_header_timeout", "must not exceed http.read_timeout")
	}
	if c.HTTP.MaxConnsPerIP < 1 {
		add("http.max_conns_per_ip", "must be at least 1")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		add("http.tls_cert", "tls_cert and tls_key go together")
	}
	if a := c.HTTP.ACME; a.Enabled() {
		if c.HTTP.TLSCert != "" {
			add("http.acme", "use either http.acme or http.tls_cert/tls_key, not both")
		}
		if a.Hostname == "" {
			add("http.acme.hostname", "required with http.acme.hostnames (the name links are built with)")
		}
		for _, n := range a.Names() {
			if !validHostname(n) {
				add("http.acme.hostname", "%q is not a DNS name (no scheme, port, path or IP address; a CA does not issue for those)", n)
			}
		}
		if a.DirectoryURL != "" {
			if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
				add("http.acme.directory_url", "must be an https:// URL of an ACME directory")
			}
		}
		if a.HTTPListen != "" {
			if _, _, err := net.SplitHostPort(a.HTTPListen); err != nil {
				add("http.acme.http_listen", "must be host:port, e.g. \":80\"")
			}
		}
		if a.Email != "" && !strings.Contains(a.Email, "@") {
			add("http.acme.email", "must be an e-mail address")
		}
	}
	if c.Auth.TokenTTL <= 0 {
		add("auth.token_ttl", "must be positive")
	}
	if c.Auth.MaxTokenTTL < c.Auth.TokenTTL {
		add("auth.max_token_ttl", "must be at least auth.token_ttl")
	}
	if c.Auth.TokenSecret != "" && len(c.Auth.TokenSecret) < 16 {
		add("auth.token_secret", "must be at least 16 characters")
	}
	if c.API.Key != "" && len(c.API.Key) < 16 {
		add("api.key", "must be at least 16 characters")
	}
	if c.DataDir == "" {
		add("data_dir", "is required")
	}
	if c.SIP.Host == "" {
		add("sip.host", "is required")
	}
	checkHostPort("sip.listen_udp", c.SIP.ListenUDP, false)
	checkHostPort("sip.listen_tcp", c.SIP.ListenTCP, false)
	checkHostPort("sip.listen_tls", c.SIP.ListenTLS, false)
	if l := c.SIP.Limits; l.SourceRate <= 0 || l.TrustedRate <= 0 || l.InviteRate <= 0 || l.ProbeRate <= 0 {
		add("sip.limits", "source_rate, trusted_rate, invite_rate and probe_rate must be positive")
	}
	if l := c.SIP.Limits; l.MaxCalls < 0 || l.TCPPerSource <= 0 || l.TCPMax <= 0 || l.TCPMessageTimeout <= 0 || l.TCPIdleTimeout <= 0 {
		add("sip.limits", "max_calls must be 0 or more; tcp_per_source, tcp_max and the TCP timeouts must be positive")
	}
	if c.SIP.ListenUDP == "" && c.SIP.ListenTCP == "" && c.SIP.ListenTLS == "" {
		add("sip", "at least one of listen_udp, listen_tcp, listen_tls is required")
	}
	if c.SIP.ListenTLS != "" && (c.SIP.TLSCert == "" || c.SIP.TLSKey == "") {
		add("sip.listen_tls", "needs sip.tls_cert and sip.tls_key")
	}
	for i, a := range c.SIP.Allow {
		if _, err := ParsePrefix(a); err != nil {
			add(fmt.Sprintf("sip.allow[%d]", i), "%v", err)
		}
	}
	if c.SIP.RingTime <= 0 {
		add("sip.ring_timeout", "must be positive")
	}
	names := map[string]bool{}
	for i, t := range c.SIP.Trunks {
		key := fmt.Sprintf("sip.trunks[%d]", i)
		if t.Name == "" {
			add(key+".name", "is required")
		} else if names[t.Name] {
			add(key+".name", "duplicate trunk %q", t.Name)
		}
		names[t.Name] = true
		if _, err := ParseTrunkURI(t.URI); err != nil {
			add(key+".uri", "%v", err)
		}
		switch t.Transport {
		case "udp", "tcp", "tls":
		default:
			add(key+".transport", "must be udp, tcp or tls, not %q", t.Transport)
		}
		for j, cd := range t.Codecs {
			if !KnownAudioCodec(cd) {
				add(fmt.Sprintf("%s.codecs[%d]", key, j), "unknown codec %q (PCMU, PCMA, opus)", cd)
			}
		}
		for j, vc := range t.VideoCodecs {
			if !strings.EqualFold(vc, "H264") && !strings.EqualFold(vc, "VP8") {
				add(fmt.Sprintf("%s.video_codecs[%d]", key, j), "unknown video codec %q (H264, VP8)", vc)
			}
		}
		switch t.SRTP {
		case "", "none", "sdes":
		case "dtls":
			if !t.IsWhatsApp() {
				add(key+".srtp", "dtls needs provider: whatsapp (DTLS-SRTP+ICE media over SIP is Meta's); use none or sdes")
			}
		default:
			add(key+".srtp", "must be none or sdes (or dtls with provider: whatsapp), not %q", t.SRTP)
		}
		if t.Register && (t.Username == "" || t.Password == "") {
			add(key+".register", "needs username and password")
		}
		for j, a := range t.InboundFrom {
			if _, err := ParsePrefix(a); err != nil {
				add(fmt.Sprintf("%s.inbound_from[%d]", key, j), "%v", err)
			}
		}
		t.validateWhatsApp(key, add)
	}
	if c.SIP.DefaultTo != "" && !names[c.SIP.DefaultTo] {
		add("sip.default_trunk", "no trunk named %q", c.SIP.DefaultTo)
	}
	if net.ParseIP(c.RTP.BindIP) == nil {
		add("rtp.bind_ip", "must be an IP address, not %q", c.RTP.BindIP)
	}
	if c.RTP.AdvertiseIP != "" && net.ParseIP(c.RTP.AdvertiseIP) == nil {
		add("rtp.advertise_ip", "must be an IP address, not %q", c.RTP.AdvertiseIP)
	}
	if c.RTP.PortMin < 1024 || c.RTP.PortMax > 65535 || c.RTP.PortMax-c.RTP.PortMin < 3 {
		add("rtp.port_min", "range %d-%d must lie in 1024-65535 and hold at least 4 ports", c.RTP.PortMin, c.RTP.PortMax)
	}
	if c.RTP.Timeout < 0 {
		add("rtp.timeout", "must not be negative")
	}
	if c.WebRTC.UDPPort < 0 || c.WebRTC.UDPPort > 65535 {
		add("webrtc.udp_port", "must be 0-65535")
	}
	if c.WebRTC.TCPPort < 0 || c.WebRTC.TCPPort > 65535 {
		add("webrtc.tcp_port", "must be 0-65535")
	}
	if net.ParseIP(c.WebRTC.BindIP) == nil {
		add("webrtc.bind_ip", "must be an IP address, not %q", c.WebRTC.BindIP)
	}
	for i, ip := range c.WebRTC.PublicIPs {
		if net.ParseIP(ip) == nil {
			add(fmt.Sprintf("webrtc.public_ips[%d]", i), "must be an IP address, not %q", ip)
		}
	}
	for i, s := range c.WebRTC.ICEServers {
		if len(s.URLs) == 0 {
			add(fmt.Sprintf("webrtc.ice_servers[%d].urls", i), "is required")
		}
	}
	if len(c.WebRTC.AudioCodecs) == 0 {
		add("webrtc.audio_codecs", "is required")
	}
	for i, cd := range c.WebRTC.AudioCodecs {
		if !KnownAudioCodec(cd) {
			add(fmt.Sprintf("webrtc.audio_codecs[%d]", i), "unknown codec %q (PCMU, PCMA, opus)", cd)
		}
	}
	if c.Media.OpusBitrate < 6000 || c.Media.OpusBitrate > 510000 {
		add("media.opus_bitrate", "must be 6000-510000")
	}
	if c.Media.JitterBuffer < 0 || c.Media.JitterBuffer > 25 {
		add("media.jitter_buffer", "must be 0-25 frames of 20 ms")
	}
	if c.Media.OpusComplexity < 1 || c.Media.OpusComplexity > 10 {
		add("media.opus_complexity", "must be 1-10")
	}
	if c.DrainTimeout < 0 {
		add("drain_timeout", "must not be negative")
	}
	c.Sessions.validate(add, c)
	c.validateWhatsApp(add)
	c.validateInterpreter(add)
	c.validateCopilot(add)
	return errors.Join(errs...)
}

// KnownAudioCodec reports whether name is an audio codec SPLIT bridges.
func KnownAudioCodec(name string) bool {
	switch strings.ToLower(name) {
	case "pcmu", "pcma", "opus":
		return true
	}
	return false
}

// ParsePrefix accepts a CIDR or a bare IP (a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad IP %q: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// TrunkURI is a parsed trunk address.
type TrunkURI struct {
	Host string
	Port int
}

// ParseTrunkURI parses "sip:host[:port]" (or "host[:port]").
func ParseTrunkURI(s string) (TrunkURI, error) {
	if s == "" {
		return TrunkURI{}, errors.New("is required")
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(s, "sips:"), "sip:")
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	host, port := rest, 0
	if h, p, err := net.SplitHostPort(rest); err == nil {
		host = h
		if _, err := fmt.Sscanf(p, "%d", &port); err != nil || port <= 0 || port > 65535 {
			return TrunkURI{}, fmt.Errorf("bad port in %q", s)
		}
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return TrunkURI{}, fmt.Errorf("bad host in %q", s)
	}
	return TrunkURI{Host: host, Port: port}, nil
}

// validateWhatsApp checks a provider: whatsapp trunk against Meta's SIP
// contract (docs/whatsapp.md): TLS only, SDES-SRTP or DTLS-SRTP+ICE media
// (srtp: sdes or dtls, as set at Meta), Opus, no REGISTER (Meta answers 403),
// no video.
func (t *Trunk) validateWhatsApp(key string, add func(key, format string, a ...any)) {
	switch {
	case t.Provider == "":
		if t.Hostname != "" || t.Number != "" || t.ChallengeInbound != nil {
			add(key+".provider", "hostname, number and challenge_inbound need provider: whatsapp")
		}
		return
	case !t.IsWhatsApp():
		add(key+".provider", "must be empty or whatsapp, not %q", t.Provider)
		return
	}
	if t.Hostname == "" {
		add(key+".hostname", "is required with provider: whatsapp (the SIP hostname registered with Meta)")
	} else if _, err := parseSIPHostPort(t.Hostname); err != nil || strings.Contains(t.Hostname, ":") {
		add(key+".hostname", "must be a host name without port, not %q", t.Hostname)
	}
	if !e164.MatchString(t.Number) {
		add(key+".number", "must be the business number in E.164 (+ and 7-15 digits), not %q", t.Number)
	}
	if t.Password == "" {
		add(key+".password", "is required with provider: whatsapp (GET /{phone-number-id}/settings?include_sip_credentials=true)")
	}
	if t.Transport != "tls" {
		add(key+".transport", "must be tls with provider: whatsapp (Meta speaks SIP over TLS only)")
	}
	if t.SRTP != "sdes" && t.SRTP != "dtls" {
		add(key+".srtp", "must be sdes or dtls with provider: whatsapp (the same as srtp_key_exchange_protocol at Meta), not %q", t.SRTP)
	}
	if t.Register {
		add(key+".register", "must be off with provider: whatsapp (Meta answers REGISTER with 403)")
	}
	if t.Video {
		add(key+".video", "must be off with provider: whatsapp (WhatsApp business calls carry audio only)")
	}
	if t.Text {
		add(key+".text", "must be off with provider: whatsapp (WhatsApp business calls carry audio only)")
	}
	opus := false
	for _, c := range t.Codecs {
		opus = opus || strings.EqualFold(c, "opus")
	}
	if !opus {
		add(key+".codecs", "must include opus with provider: whatsapp")
	}
}

// validHostname reports whether n is a DNS name a CA can issue for: labels
// of letters, digits and hyphens, at least one dot, not an IP address.
func validHostname(n string) bool {
	if len(n) > 253 || !strings.Contains(n, ".") || net.ParseIP(n) != nil {
		return false
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
