// Package sipua is SPLIT's SIP side (RFC 3261) on emiago/sipgo: UDP, TCP and
// TLS listeners, outbound trunks with digest auth and optional REGISTER, and
// the SIP Call leg — a dialog plus its RTP streams — for both directions:
// INVITE/100/180/183/200/ACK/BYE/CANCEL, re-INVITE hold/resume, late offer,
// OPTIONS, INFO DTMF, session-timer UPDATEs, symmetric RTP and SDES-SRTP.
//
// Inbound INVITEs are accepted only from configured trunks and allow-listed
// addresses; anything else gets 403 before any routing (no toll-fraud path).
// The package decides no routing: it hands allowed calls to a Handler.
package sipua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media/rtpport"
	"github.com/split-hub/split/internal/sipguard"
)

// Handler decides what happens to an allowed inbound call. Incoming must
// return quickly; the Handler then answers or rejects c.
type Handler interface {
	Incoming(c *Call)
}

// Metrics is what the UA counts; nil-safe no-op by default.
type Metrics interface {
	SIPRequest(method string)
	InviteRejected(reason string)
	// SIPRefused counts messages the guard refused before the SIP stack
	// (rate_limited, malformed, forbidden, no_dialog, call_rate, capacity …).
	SIPRefused(reason, transport string)
}

type noMetrics struct{}

func (noMetrics) SIPRequest(string)         {}
func (noMetrics) InviteRejected(string)     {}
func (noMetrics) SIPRefused(string, string) {}

// UA is the SIP user agent of one hub.
type UA struct {
	cfg     *config.Config
	log     *slog.Logger
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client   // UDP: requests leave from the listening socket
	dua     *sipgo.DialogUA // dialogs over UDP
	cliTCP  *sipgo.Client   // TCP/TLS: new connections from ephemeral ports
	duaTCP  *sipgo.DialogUA // dialogs over TCP/TLS
	guard   *sipguard.Guard
	udp     *sipguard.PacketConn
	acl     auth.ACL
	pool    *rtpport.Pool
	handler Handler
	metrics Metrics
	host    string
	port    int
	mediaIP netip.Addr

	waACL    auth.ACL // the addresses of provider: whatsapp trunks (whatsapp.go)
	textACL  auth.ACL // the addresses of trunks with text: true (text.go)
	nonceKey [32]byte // keys the nonces of our digest challenges to Meta

	mu        sync.Mutex
	calls     map[string][]*Call // by Call-ID (two when a proxy loops our own INVITE back to us)
	ncalls    int
	recent    map[string]struct{} // Call-IDs of calls that ended moments ago
	recentQ   []recentID
	regIDs    map[string]struct{} // Call-IDs of our registrations
	draining  bool
	inviteLim *sipguard.Limiter
	maxCalls  int

	wg     sync.WaitGroup
	gate   func(ctx context.Context, name string, run func(context.Context)) // where registrations run (SetRegistrationGate)
	regWG  sync.WaitGroup                                                    // outbound registration loops
	cancel context.CancelFunc
	// cancelReg ends the registrations (before cancel closes the listeners)
	cancelReg context.CancelFunc
}

// New builds the UA; Start opens the listeners.
func New(cfg *config.Config, log *slog.Logger, pool *rtpport.Pool, h Handler, m Metrics) (*UA, error) {
	if m == nil {
		m = noMetrics{}
	}
	u := &UA{cfg: cfg, log: log, pool: pool, handler: h, metrics: m, calls: map[string][]*Call{}, host: cfg.SIP.Host,
		recent: map[string]struct{}{}, regIDs: map[string]struct{}{}, nonceKey: newNonceKey()}
	lim := cfg.SIP.Limits
	u.inviteLim = sipguard.NewLimiter(lim.InviteRate, 2*lim.InviteRate, 0)
	u.maxCalls = lim.MaxCalls
	if u.maxCalls == 0 && pool != nil {
		u.maxCalls = pool.Size() / 2 // room for a video call's second pair
	}
	u.port = 5060
	for _, l := range []string{cfg.SIP.ListenUDP, cfg.SIP.ListenTCP} {
		if l != "" {
			if _, p, err := net.SplitHostPort(l); err == nil {
				u.port, _ = strconv.Atoi(p)
				break
			}
		}
	}
	ip := cfg.RTP.AdvertiseIP
	if ip == "" {
		ip = cfg.RTP.BindIP
		if a, err := netip.ParseAddr(ip); err == nil && a.IsUnspecified() {
			ip = cfg.SIP.Host
		}
	}
	var err error
	if u.mediaIP, err = netip.ParseAddr(ip); err != nil {
		return nil, fmt.Errorf("sipua: media address %q: %w", ip, err)
	}
	for _, a := range cfg.SIP.Allow {
		p, err := config.ParsePrefix(a)
		if err != nil {
			return nil, err
		}
		u.acl.Add("allow", p)
	}
	for _, t := range cfg.SIP.Trunks {
		if len(t.InboundFrom) > 0 {
			for _, a := range t.InboundFrom {
				p, err := config.ParsePrefix(a)
				if err != nil {
					return nil, err
				}
				u.acl.Add(t.Name, p)
				if t.IsWhatsApp() {
					u.waACL.Add(t.Name, p)
				}
				if textTrunk(&t) {
					u.textACL.Add(t.Name, p)
				}
			}
			continue
		}
		tu, _ := config.ParseTrunkURI(t.URI)
		addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", tu.Host)
		if err != nil {
			log.Warn("trunk host does not resolve; no inbound calls accepted from it", "trunk", t.Name, "host", tu.Host, "err", err)
			continue
		}
		for _, a := range addrs {
			a = a.Unmap()
			u.acl.Add(t.Name, netip.PrefixFrom(a, a.BitLen()))
			if t.IsWhatsApp() {
				u.waACL.Add(t.Name, netip.PrefixFrom(a, a.BitLen()))
			}
			if textTrunk(&t) {
				u.textACL.Add(t.Name, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	slg := slog.New(sipgoLog{log.Handler()}).With("component", "sipgo")
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent(cfg.SIP.UserAgent), sipgo.WithUserAgentHostname(cfg.SIP.Host),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(slg),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {}), // retransmissions: nothing to do
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slg)),
	}
	if cfg.SIP.TLSCA != "" {
		pem, err := os.ReadFile(cfg.SIP.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("sipua: sip.tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sipua: sip.tls_ca: no certificate in %s", cfg.SIP.TLSCA)
		}
		opts = append(opts, sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	if u.ua, err = sipgo.NewUA(opts...); err != nil {
		return nil, err
	}
	if u.srv, err = sipgo.NewServer(u.ua, sipgo.WithServerLogger(slg)); err != nil {
		return nil, err
	}
	// In wire order, before sipgo's per-message goroutines (see observe).
	u.ua.TransportLayer().OnMessage(u.observe)
	// UDP requests leave from the listening socket (Start binds the UDP
	// client to it); over TCP/TLS each request uses the connection the far
	// end opened, or a new one from an ephemeral port.
	if u.cli, err = sipgo.NewClient(u.ua, sipgo.WithClientHostname(cfg.SIP.Host), sipgo.WithClientLogger(slg)); err != nil {
		return nil, err
	}
	if u.cliTCP, err = sipgo.NewClient(u.ua, sipgo.WithClientHostname(cfg.SIP.Host), sipgo.WithClientLogger(slg)); err != nil {
		return nil, err
	}
	u.dua = &sipgo.DialogUA{Client: u.cli, ContactHDR: u.contact("split")}
	u.duaTCP = &sipgo.DialogUA{Client: u.cliTCP, ContactHDR: u.contact("split")}
	u.guard = sipguard.New(sipguard.Options{
		Policy:        u,
		Trusted:       func(a netip.Addr) bool { _, ok := u.acl.Match(a); return ok },
		UntrustedRate: lim.SourceRate, TrustedRate: lim.TrustedRate, ProbeRate: lim.ProbeRate,
		MessageTimeout: lim.TCPMessageTimeout, IdleTimeout: lim.TCPIdleTimeout,
		MaxConnsPerSource: lim.TCPPerSource, MaxConns: lim.TCPMax,
		Log:     log.With("component", "sipguard"),
		Refused: m.SIPRefused,
	})
	u.srv.OnInvite(u.safe("INVITE", u.onInvite))
	u.srv.OnAck(u.safe("ACK", u.onAck))
	u.srv.OnBye(u.safe("BYE", u.onBye))
	u.srv.OnCancel(u.safe("CANCEL", func(req *sip.Request, tx sip.ServerTransaction) {
		// Matched CANCELs are consumed by the INVITE transaction; this one matched nothing.
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}))
	u.srv.OnOptions(u.safe("OPTIONS", u.onOptions))
	u.srv.OnInfo(u.safe("INFO", u.onInfo))
	u.srv.OnUpdate(u.safe("UPDATE", u.onUpdate))
	u.srv.OnRefer(u.safe("REFER", u.onRefer))
	u.srv.OnNotify(u.safe("NOTIFY", func(req *sip.Request, tx sip.ServerTransaction) {
		if u.inDialog("NOTIFY", req, tx) != nil {
			u.respond(tx, req, 200, "OK")
		}
	}))
	u.srv.OnRegister(u.safe("REGISTER", func(req *sip.Request, tx sip.ServerTransaction) {
		u.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", allowHeader))
	}))
	u.srv.OnNoRoute(u.safe("other", func(req *sip.Request, tx sip.ServerTransaction) {
		u.metrics.SIPRequest("other")
		u.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", allowHeader))
	}))
	return u, nil
}

// ACL returns the inbound allow-list in force.
func (u *UA) ACL() *auth.ACL { return &u.acl }

// Host is the host:port others reach us at.
func (u *UA) Host() string { return net.JoinHostPort(u.host, strconv.Itoa(u.port)) }

func (u *UA) contact(user string) sip.ContactHeader {
	return sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: u.host, Port: u.port}}
}

// contactFor is our Contact for a dialog on transport (udp, tcp, tls): the
// port of that transport's listener and, for TCP/TLS, a transport parameter,
// so that the far end's in-dialog requests (ACK, BYE, re-INVITE) reach us
// over the same transport.
func (u *UA) contactFor(user, transport string) sip.ContactHeader {
	ct := u.contact(user)
	var listen string
	switch strings.ToLower(transport) {
	case "tcp":
		listen = u.cfg.SIP.ListenTCP
	case "tls":
		listen = u.cfg.SIP.ListenTLS
	default:
		return ct
	}
	if _, p, err := net.SplitHostPort(listen); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			ct.Address.Port = n
		}
	}
	ct.Address.UriParams = sip.NewParams()
	ct.Address.UriParams.Add("transport", strings.ToLower(transport))
	return ct
}

// Start opens the configured listeners behind the guard; they stop when
// ctx ends or Close is called.
func (u *UA) Start(ctx context.Context) error {
	ctx, u.cancel = context.WithCancel(ctx)
	// registrations end first, so their REGISTER Expires: 0 goes out
	// before the listeners close (Close)
	regCtx, cancelReg := context.WithCancel(ctx)
	u.cancelReg = cancelReg
	serve := func(name, addr string, run func() error, ready <-chan struct{}) error {
		errc := make(chan error, 1)
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			err := run()
			if err != nil && ctx.Err() == nil {
				u.log.Error("SIP listener stopped", "transport", name, "addr", addr, "err", err)
			}
			errc <- err
		}()
		select {
		case <-ready:
			u.log.Info("SIP listening", "transport", name, "addr", addr)
			return nil
		case err := <-errc:
			return fmt.Errorf("sipua: listen %s %s: %w", name, addr, err)
		case <-time.After(5 * time.Second):
			return fmt.Errorf("sipua: listen %s %s: timed out", name, addr)
		}
	}
	closeOnDone := func(c io.Closer) {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			<-ctx.Done()
			_ = c.Close()
		}()
	}
	if a := u.cfg.SIP.ListenUDP; a != "" {
		la, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			return fmt.Errorf("sipua: sip.listen_udp: %w", err)
		}
		c, err := net.ListenUDP("udp", la)
		if err != nil {
			return fmt.Errorf("sipua: listen udp %s: %w", a, err)
		}
		_ = c.SetReadBuffer(4 << 20)
		u.udp = u.guard.PacketConn(c)
		closeOnDone(c)
		// The UDP client sends from the listening socket: sipgo finds it in
		// its pool by this address once it reads from it (Ready).
		if err := sipgo.WithClientConnectionAddr(c.LocalAddr().String())(u.cli); err != nil {
			return fmt.Errorf("sipua: listen udp %s: %w", a, err)
		}
		if err := serve("udp", a, func() error { return u.srv.ServeUDP(u.udp) }, u.udp.Ready()); err != nil {
			return err
		}
	}
	stream := func(name, addr string, tc *tls.Config) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("sipua: listen %s %s: %w", name, addr, err)
		}
		gl := u.guard.Listener(ln, tc)
		closeOnDone(ln)
		ready := make(chan struct{})
		close(ready) // accepting starts at once; nothing is sent from it
		run := func() error { return u.srv.ServeTCP(gl) }
		if tc != nil {
			run = func() error { return u.srv.ServeTLS(gl) }
		}
		return serve(name, addr, run, ready)
	}
	if a := u.cfg.SIP.ListenTCP; a != "" {
		if err := stream("tcp", a, nil); err != nil {
			return err
		}
	}
	if a := u.cfg.SIP.ListenTLS; a != "" {
		cert, err := tls.LoadX509KeyPair(u.cfg.SIP.TLSCert, u.cfg.SIP.TLSKey)
		if err != nil {
			return fmt.Errorf("sipua: tls: %w", err)
		}
		if err := stream("tls", a, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	for i := range u.cfg.SIP.Trunks {
		t := &u.cfg.SIP.Trunks[i]
		if t.Register {
			u.regWG.Add(1)
			go func() {
				defer u.regWG.Done()
				run := func(ctx context.Context) { u.registerLoop(ctx, t) }
				if u.gate != nil {
					u.gate(regCtx, "register:"+t.Name, run)
				} else {
					run(regCtx)
				}
			}()
		}
	}
	return nil
}

// SetRegistrationGate makes trunk registrations run only where gate lets
// them: gate(ctx, name, run) calls run while this process may register
// (name is "register:<trunk>"), until ctx ends — with several nodes, one
// registers for all (Hub.Singleton). Call before Start.
func (u *UA) SetRegistrationGate(gate func(ctx context.Context, name string, run func(context.Context))) {
	u.gate = gate
}

// Guard is the gate in front of the SIP stack (counters for tests and metrics).
func (u *UA) Guard() *sipguard.Guard { return u.guard }

// dialogUA is the dialog layer for transport (udp, tcp, tls).
func (u *UA) dialogUA(transport string) *sipgo.DialogUA {
	if strings.EqualFold(transport, "udp") || transport == "" {
		return u.dua
	}
	return u.duaTCP
}

// client is the client for transport.
func (u *UA) client(transport string) *sipgo.Client {
	if strings.EqualFold(transport, "udp") || transport == "" {
		return u.cli
	}
	return u.cliTCP
}

// Drain refuses new inbound calls (503) from now on.
func (u *UA) Drain() {
	u.mu.Lock()
	u.draining = true
	u.mu.Unlock()
}

// ActiveCalls is the number of SIP calls alive.
func (u *UA) ActiveCalls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, l := range u.calls {
		n += len(l)
	}
	return n
}

// Close hangs up every call, stops the listeners and waits for them.
func (u *UA) Close() error {
	u.mu.Lock()
	calls := make([]*Call, 0, len(u.calls))
	for _, l := range u.calls {
		calls = append(calls, l...)
	}
	u.mu.Unlock()
	for _, c := range calls {
		c.Hangup(context.Background(), 503, "Service Unavailable")
	}
	// Registrations are withdrawn (REGISTER Expires: 0) while the transport
	// is still up; only then is it closed.
	if u.cancelReg != nil {
		u.cancelReg()
	}
	u.regWG.Wait()
	if u.cancel != nil {
		u.cancel()
	}
	err := u.ua.Close()
	u.wg.Wait()
	return err
}

func (u *UA) addCall(c *Call) {
	u.mu.Lock()
	u.calls[c.callID] = append(u.calls[c.callID], c)
	u.ncalls++
	u.mu.Unlock()
}

func (u *UA) removeCall(c *Call) {
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.calls[c.callID]
	found := false
	for i, o := range list {
		if o == c {
			list = append(list[:i:i], list[i+1:]...)
			found = true
			break
		}
	}
	if !found {
		return
	}
	u.ncalls--
	if len(list) == 0 {
		delete(u.calls, c.callID)
		u.rememberEnded(c.callID, time.Now())
	} else {
		u.calls[c.callID] = list
	}
}

// findCall matches an in-dialog request to its dialog by Call-ID and both
// tags (RFC 3261 §12.2.2): the request's To tag is ours, its From tag the
// far end's. Knowing a Call-ID is not enough to hang up or re-INVITE a call.
func (u *UA) findCall(req *sip.Request) *Call {
	cid, to, from := req.CallID(), req.To(), req.From()
	if cid == nil || to == nil || from == nil {
		return nil
	}
	local, _ := to.Params.Get("tag")
	remote, _ := from.Params.Get("tag")
	if local == "" {
		return nil
	}
	u.mu.Lock()
	list := u.calls[cid.Value()]
	u.mu.Unlock()
	for _, c := range list {
		if c.localTag == local && c.matchesRemote(remote) {
			return c
		}
	}
	return nil
}

func (u *UA) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		u.log.Debug("respond failed", "code", code, "err", err)
	}
}

func sourceAddr(req *sip.Request) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.ParseAddr(host)
}

// onOptions answers in-dialog OPTIONS (the guard answers the others).
func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" && u.inDialog("OPTIONS", req, tx) == nil {
			return
		}
	}
	u.metrics.SIPRequest("OPTIONS")
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
	_ = tx.Respond(res)
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	u.metrics.SIPRequest("ACK")
	if c := u.findCall(req); c != nil {
		if c.server != nil {
			// Confirms the dialog: sipgo's 2xx retransmission stops here.
			_ = c.server.ReadAck(req, tx)
		}
		c.gotAck(req)
	}
}

// inDialog counts an in-dialog request and returns its call, or answers 481
// and returns nil when no call of ours matches.
func (u *UA) inDialog(method string, req *sip.Request, tx sip.ServerTransaction) *Call {
	u.metrics.SIPRequest(method)
	c := u.findCall(req)
	if c == nil {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return nil
	}
	if !c.remoteCSeqInOrder(req) {
		// RFC 3261 §12.2.2: a request older than the last one is out of order
		u.respond(tx, req, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return nil
	}
	return c
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog("BYE", req, tx)
	if c == nil {
		return
	}
	u.respond(tx, req, 200, "OK")
	c.remoteBye(req)
}

func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog("INFO", req, tx)
	if c == nil {
		return
	}
	if d, ok := parseInfoDTMF(req); ok {
		c.emitDTMF(d)
	}
	// Unknown INFO packages are acknowledged too, so as not to break the dialog
	// (RFC 6086 §4.2.2 would allow 469).
	u.respond(tx, req, 200, "OK")
}

func (u *UA) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog("UPDATE", req, tx)
	if c == nil {
		return
	}
	if len(req.Body()) > 0 {
		c.onReoffer(req, tx)
		return
	}
	// Session refresh (RFC 4028) without SDP.
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if se := req.GetHeader("Session-Expires"); se != nil {
		res.AppendHeader(sip.NewHeader("Session-Expires", se.Value()))
	}
	_ = tx.Respond(res)
}

// parseInfoDTMF reads application/dtmf-relay ("Signal=5\r\nDuration=160") or application/dtmf ("5").
func parseInfoDTMF(req *sip.Request) (rune, bool) {
	ct := req.ContentType()
	if ct == nil {
		return 0, false
	}
	body := strings.TrimSpace(string(req.Body()))
	switch strings.ToLower(strings.TrimSpace(ct.Value())) {
	case "application/dtmf-relay":
		for _, line := range strings.Split(body, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				return dtmfRune(strings.TrimSpace(v))
			}
		}
	case "application/dtmf":
		return dtmfRune(body)
	}
	return 0, false
}

func dtmfRune(s string) (rune, bool) {
	switch s {
	case "10":
		return '*', true
	case "11":
		return '#', true
	}
	if len(s) != 1 {
		return 0, false
	}
	r := rune(strings.ToUpper(s)[0])
	if (r >= '0' && r <= '9') || r == '*' || r == '#' || (r >= 'A' && r <= 'D') {
		return r, true
	}
	return 0, false
}

var errDraining = errors.New("sipua: draining")

// Ports binds an RTP/RTCP pair from the hub's range, for media the hub
// sends itself (a SIPREC recording's streams); close it to give it back.
func (u *UA) Ports() (*rtpport.Pair, error) {
	if u.pool == nil {
		return nil, ErrNoPorts
	}
	return u.pool.Get()
}

// MediaIP is the address the hub's SDP offers for RTP.
func (u *UA) MediaIP() netip.Addr { return u.mediaIP }
