// Package app wires SPLIT together in plain Go: config → logger → stores of
// secrets → SIP UA, WebRTC engine, gateway → HTTP server; and runs it until
// the context ends, then drains: no new calls, active calls finish (bounded
// by drain_timeout), exit.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/split-hub/split/internal/api"
	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/copilot"
	"github.com/split-hub/split/internal/gateway"
	"github.com/split-hub/split/internal/hub"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
	"github.com/split-hub/split/internal/media/rtpport"
	"github.com/split-hub/split/internal/metrics"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/store"
	"github.com/split-hub/split/internal/webhook"
	"github.com/split-hub/split/internal/whatsapp"
)

// lazyHandler lets the SIP UA be built before the hub that handles its calls.
type lazyHandler struct{ h sipua.Handler }

func (l *lazyHandler) Incoming(c *sipua.Call) { l.h.Incoming(c) }

// hubMetrics joins the session and media collectors.
type hubMetrics struct {
	*metrics.SessionMetrics
	*metrics.MediaMetrics
}

// hooks adapts the webhook dispatcher to the hub.
type hooks struct{ d *webhook.Dispatcher }

func (k hooks) Publish(typ, sessionID string, at time.Time, data any) {
	k.d.Send(webhook.Event{Type: typ, At: at, SessionID: sessionID, Data: data})
}

// Version is set at build time.
var Version = "dev"

// NewLogger builds the process logger from config.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run serves until ctx is done (first signal), then drains until kill is
// done (second signal) or drain_timeout passes.
func Run(ctx, kill context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	secret, err := tokenSecret(cfg)
	if err != nil {
		return err
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return err
	}
	// Secrets on stdout: only the ones the hub generated itself for a
	// throw-away set-up, never an operator's (docs/security.md).
	apiKey, generated := cfg.API.Key, false
	if apiKey == "" {
		apiKey, generated = "sk_"+auth.RandomHex(16), true
		fmt.Fprintf(out, "SPLIT API key (generated; set SPLIT_API_KEY to choose one): %s\n", apiKey)
	}
	bind, err := netip.ParseAddr(cfg.RTP.BindIP)
	if err != nil {
		return err
	}
	pool, err := rtpport.New(bind, cfg.RTP.PortMin, cfg.RTP.PortMax)
	if err != nil {
		return err
	}
	engine, err := rtc.NewEngine(cfg, log)
	if err != nil {
		return err
	}
	defer engine.Close()
	db, err := store.Open(ctx, cfg.StoreDSN())
	if err != nil {
		return fmt.Errorf("sessions.store: %w", err)
	}
	defer db.Close()
	var gw *gateway.Gateway
	m := metrics.New(func() float64 { return float64(gw.ActiveCalls()) })
	gw = gateway.New(cfg, log, engine, m, Version)
	m.PortsInUse(func() float64 { return float64(pool.InUse()) })
	m.FastPath(func() float64 { return float64(engine.FastPath().Legs) }, func(d string) float64 {
		fs := engine.FastPath()
		switch d {
		case "in":
			return float64(fs.In)
		case "out":
			return float64(fs.Out)
		}
		return float64(fs.Dropped)
	})
	lazy := &lazyHandler{}
	ua, err := sipua.New(cfg, log, pool, lazy, m)
	if err != nil {
		return err
	}
	gw.SetUA(ua)
	var pub hub.Publisher
	var wh *webhook.Dispatcher
	if len(cfg.Sessions.Webhooks) > 0 {
		var eps []webhook.Endpoint
		for _, w := range cfg.Sessions.Webhooks {
			eps = append(eps, webhook.Endpoint{URL: w.URL, Secret: w.Secret, Events: w.Events})
		}
		if wh, err = webhook.New(eps, webhook.Options{Logger: log.With("component", "webhook")}); err != nil {
			return fmt.Errorf("sessions.webhooks: %w", err)
		}
		pub = hooks{wh}
	}
	// The AI services (docs/copilot.md): the configured ones and the built-in
	// analytics. Nothing runs until a session attaches one.
	var svcs []copilot.Service
	var th copilot.Thresholds
	if cfg.Copilot != nil {
		for _, c := range cfg.Copilot.Services {
			svcs = append(svcs, copilot.Service{Name: c.Name, URL: c.URL, Format: c.Format, Rate: c.Rate, Token: c.Token, Secret: c.Secret,
				Roles: c.Participants, MaySpeak: c.MaySpeak, SpeakTo: c.SpeakTo, AgentAttach: c.AgentAttach})
		}
		a := cfg.Copilot.Analytics
		th = copilot.Thresholds{Silence: a.Silence, Overtalk: a.Overtalk, Hold: a.Hold, TalkRatio: a.TalkRatio}
	}
	mgr, err := copilot.NewManager(svcs, log.With("component", "copilot"))
	if err != nil {
		return err
	}
	defer mgr.Close() // after the hub: its sessions' byes go out first
	mgr.SetAnalytics(th)
	m.Copilot(mgr.Names(), func(name string) [4]float64 {
		st := mgr.Stats()[name]
		return [4]float64{float64(st.Connected.Load()), float64(st.Frames.Load()), float64(st.Dropped.Load()), float64(st.Failures.Load())}
	}, func(sev string) float64 { return float64(mgr.Alerts(sev)) }, mgr.TalkSeconds)
	mixOpts := mixer.Options{Transcode: media.TranscodeOptions{OpusBitrate: cfg.Media.OpusBitrate, OpusComplexity: cfg.Media.OpusComplexity}, Logger: log}
	sm := m.NewSessionMetrics()
	hb, err := hub.New(ctx, hub.Deps{Config: cfg, Log: log, UA: ua, RTC: engine, Store: db, Signer: signer,
		Metrics: hubMetrics{sm, m.NewMediaMetrics()}, Hooks: pub, Fallback: gw, Version: Version, Node: nodeName(cfg), Copilot: mgr,
		NewMixer: func() session.Mixer { return mixer.New(mixOpts) }})
	if err != nil {
		return err
	}
	sm.Live(m.Registry, func() metrics.LiveFigures {
		w, l, a := hb.LiveFigures()
		return metrics.LiveFigures{Waiting: w, LongestWait: l, Agents: a}
	})
	lazy.h = hb
	// The WhatsApp side runs with a whatsapp: section, or for an older
	// sessions.notify.whatsapp that has an app secret to verify webhooks
	// with (without one, links still go out and webhooks are refused).
	if wc, ok := cfg.WhatsAppService(); ok && (cfg.WhatsApp != nil || wc.AppSecret != "") {
		svc, err := whatsapp.New(wc, db, hb.WhatsAppHandler(), log.With("component", "whatsapp"))
		if err != nil {
			return fmt.Errorf("whatsapp: %w", err)
		}
		// closed after the hub: the hub's last terminates go through it
		defer svc.Close()
		hb.SetWhatsApp(svc)
		m.WhatsAppWebhook([]string{"received", "refused", "malformed", "duplicate", "stale", "late_connect", "unrouted", "queue_full",
			"forwarded", "forward_retry", "dead_letter", "event"}, func() map[string]uint64 {
			s := svc.Stats()
			return map[string]uint64{"received": s.Received, "refused": s.Refused, "malformed": s.Malformed, "duplicate": s.Duplicates,
				"stale": s.Stale, "late_connect": s.LateConnects, "unrouted": s.Unrouted, "queue_full": s.QueueFull, "forwarded": s.Forwarded,
				"forward_retry": s.ForwardRetries, "dead_letter": s.DeadLetters, "event": s.Events}
		})
	}
	// The SIP listeners outlive the first signal: a draining hub still needs
	// BYEs, re-INVITEs and ACKs of its active calls. ua.Close stops them.
	// several nodes on one store: one of them registers each trunk
	ua.SetRegistrationGate(hb.Singleton)
	if err := ua.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	srv := &api.Server{Log: log, APIKey: apiKey, Signer: signer, TokenTTL: cfg.Auth.TokenTTL, MaxTTL: cfg.Auth.MaxTokenTTL, Gateway: gw, Sessions: hb, Agents: hb, DeafUsers: cfg.Interpreter.User, Metrics: m, Pprof: cfg.HTTP.Pprof, Ready: hb.Ready,
		Embedders: func(entry string) []string { e, _ := cfg.Sessions.EntryPoint(entry); return e.Origins }}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		ua.Close()
		return fmt.Errorf("http.listen: %w", err)
	}
	lim := api.Limits{ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, ReadTimeout: cfg.HTTP.ReadTimeout, WriteTimeout: cfg.HTTP.WriteTimeout,
		IdleTimeout: cfg.HTTP.IdleTimeout, MaxConnsPerIP: cfg.HTTP.MaxConnsPerIP, Log: log.With("component", "http")}
	ln = lim.Listener(ln, !cfg.HTTP.TLS())
	hs := lim.Server(srv.Handler())
	base := publicURL(cfg, ln.Addr())
	var certs *acmeCerts
	if cfg.HTTP.ACME.Enabled() {
		if certs, err = startACME(cfg, log.With("component", "acme"), base); err != nil {
			ln.Close()
			ua.Close()
			return err
		}
		defer certs.Close()
		hs.TLSConfig = certs.TLSConfig()
		m.TLSCertificates(certs.names, certs.NotAfter)
	}
	errc := make(chan error, 1)
	go func() {
		switch {
		case certs != nil:
			errc <- hs.ServeTLS(ln, "", "")
		case cfg.HTTP.TLSCert != "":
			errc <- hs.ServeTLS(ln, cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		default:
			errc <- hs.Serve(ln)
		}
	}()
	if certs != nil {
		certs.Obtain() // in the background, now that TLS-ALPN-01 can be answered
	}
	log.Info("SPLIT ready", "version", Version, "http", ln.Addr().String(), "sip", ua.Host(), "ice_udp", engine.UDPAddr().String(),
		"trunks", len(cfg.SIP.Trunks), "sip_allow", ua.ACL().Len())
	if cfg.Sessions.Demo {
		var d *demoSecrets
		if generated {
			d = &demoSecrets{signer: signer, apiKey: apiKey, ttl: cfg.Auth.TokenTTL}
		}
		printDemo(ctx, out, cfg, db, d, base, ua.Host())
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		ua.Close()
		return fmt.Errorf("http: %w", err)
	}
	// Drain: refuse new calls, let active ones finish.
	log.Info("shutting down: draining", "active_calls", gw.ActiveCalls(), "sessions", hb.Active(), "timeout", cfg.DrainTimeout.String())
	srv.Drain()
	gw.Drain()
	hb.Drain()
	ua.Drain()
	dctx, cancel := context.WithTimeout(kill, cfg.DrainTimeout)
	derr := gw.Wait(dctx)
	for derr == nil && hb.Active() > 0 {
		select {
		case <-dctx.Done():
			derr = dctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if derr != nil {
		log.Warn("drain ended with calls still up; hanging them up", "active_calls", gw.ActiveCalls(), "why", derr)
	}
	killed := kill.Err() != nil
	gw.Close()
	hb.Close()
	// Killed (a second signal): nothing more is waited for — webhooks still
	// queued are dropped (and logged), HTTP connections are cut.
	if wh != nil {
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if killed {
			wcancel()
		}
		_ = wh.Close(wctx)
		wcancel()
	}
	if killed {
		_ = hs.Close()
	} else {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = hs.Shutdown(sctx)
		scancel()
	}
	err = ua.Close()
	log.Info("stopped")
	if errors.Is(kill.Err(), context.Canceled) {
		return ErrKilled
	}
	return err
}

// nodeName names this hub process in the store (the owner of its
// sessions): the host name and the HTTP listen address, which stay the same
// across restarts of one node and differ between nodes, also between two
// nodes on one host.
func nodeName(cfg *config.Config) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return host + "/" + cfg.HTTP.Listen
}

// ErrKilled means a second signal cut the drain short.
var ErrKilled = errors.New("killed during drain")

func publicURL(cfg *config.Config, addr net.Addr) string { return cfg.HTTP.BaseURL(addr.String()) }

// tokenSecret is the configured secret, or one generated once and kept in data_dir.
func tokenSecret(cfg *config.Config) ([]byte, error) {
	if cfg.Auth.TokenSecret != "" {
		return []byte(cfg.Auth.TokenSecret), nil
	}
	p := filepath.Join(cfg.DataDir, "token.key")
	if b, err := os.ReadFile(p); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := []byte(auth.RandomHex(32))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	return b, nil
}

// demoSecrets are what a demo's links may carry: only when the hub
// generated the API key itself (nobody configured one), so a hub set up by
// an operator never prints a credential.
type demoSecrets struct {
	signer *auth.Signer
	apiKey string
	ttl    time.Duration // of the printed tokens: auth.token_ttl
}

// printDemo prints links that make the embedded default usable at once:
// the softphone, the customer page, a console for each configured agent (two
// demo agents are created when none exist) and the admin view. With d, the
// links sign in by themselves (tokens valid d.ttl, the generated API key);
// without, they name the pages and how to sign in.
func printDemo(ctx context.Context, out io.Writer, cfg *config.Config, db *store.DB, d *demoSecrets, base, sipHost string) {
	agents, err := db.ListAgents(ctx)
	if err != nil {
		return
	}
	if len(agents) == 0 && len(cfg.Sessions.Queues) > 0 {
		q := cfg.Sessions.Queues[0].Name
		for i, name := range []string{"Alice", "Bob"} {
			a := store.Agent{ID: fmt.Sprintf("agent%d", i+1), Name: name, Queues: []string{q}}
			if db.PutAgent(ctx, a) == nil {
				agents = append(agents, a)
			}
		}
	}
	token := func(c auth.Claims) string {
		if d == nil {
			return ""
		}
		tok, _, err := d.signer.Mint(c, d.ttl)
		if err != nil {
			return ""
		}
		return tok
	}
	if tok := token(auth.Claims{Identity: "demo", Role: auth.RoleSoftphone}); tok != "" {
		fmt.Fprintf(out, "Softphone: %s/#token=%s  (identity demo, reachable as sip:demo@%s; token valid %s)\n", base, tok, sipHost, d.ttl)
	} else {
		fmt.Fprintf(out, "Softphone: %s/  (sign in with a token: POST /v1/tokens {\"identity\":\"…\"})\n", base)
	}
	fmt.Fprintf(out, "Customer page: %s/customer.html?entry=%s\n", base, firstEntry(cfg))
	for _, a := range agents {
		if tok := token(auth.Claims{Identity: a.ID, Role: auth.RoleAgent}); tok != "" {
			fmt.Fprintf(out, "Agent console (%s): %s/agent.html#token=%s  (valid %s)\n", a.ID, base, tok, d.ttl)
		} else {
			fmt.Fprintf(out, "Agent console (%s): %s/agent.html  (sign in with a token: POST /v1/tokens {\"identity\":%q,\"role\":\"agent\"})\n", a.ID, base, a.ID)
		}
	}
	if d != nil {
		fmt.Fprintf(out, "Admin view: %s/admin.html#key=%s\n", base, d.apiKey)
	} else {
		fmt.Fprintf(out, "Admin view: %s/admin.html  (sign in with your API key)\n", base)
	}
}

func firstEntry(cfg *config.Config) string {
	for _, e := range cfg.Sessions.EntryPoints {
		if e.Public {
			return e.Name
		}
	}
	return "default"
}
