// Package metasip is a contract fake of Meta's SIP side of WhatsApp Business
// Calling (shared/research/whatsapp.md §6 and §9 "SIP side"), written from
// Meta's documented behaviour, for tests on loopback. It is not Meta:
// docs/whatsapp.md lists what it proves and what needs a live account.
//
// As Meta's wa.meta.vc:5061 it listens on TLS (a certificate the hub's
// client trusts in tests), refuses ALPN "sip" with alert 120, answers
// REGISTER 403 and re-INVITE 500, challenges business-initiated INVITEs with
// 407 realm "wa.meta.vc" (MD5, qop=auth) and checks the digest username (the
// business number's digits), the digest uri (must equal the To URI and the
// Request-URI), the From host (the hostname registered with Meta) and the
// SDES offer; it answers with RTP/SAVP Opus 111 + telephone-event 126,
// Contact and Record-Route like Meta's. It places user-initiated calls to the
// hub with Meta's header set (§6.3) and a Record-Route, answering the hub's
// digest challenge. Media: SRTP (AES_CM_128_HMAC_SHA1_80); like Meta it sends
// nothing until the business's first packet arrived, then plays an Opus tone
// and decodes what it hears; RFC 4733 DTMF both ways. Its BYE carries
// x-wa-meta-call-duration and x-wa-meta-wacid.
//
// With Config.DTLS the media is Meta's "SIP signalling + WebRTC media"
// configuration (§6.3's sample INVITE, srtp_key_exchange_protocol DTLS):
// the SDP is WebRTC's (UDP/TLS/RTP/SAVPF, a=fingerprint, ICE) and the media
// side is notifytest's MetaPeer (ICE-lite, controlled, DTLS server, Opus 111
// + telephone-event 126): it offers in Meta's INVITEs, answers the hub's
// offer (refusing an SDES one with 488), and is Call.Peer.
package metasip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/split-hub/split/internal/notify/notifytest"
)

// Domain is Meta's SIP domain.
const Domain = "wa.meta.vc"

// Config configures the fake.
type Config struct {
	Listen            string // TLS address, e.g. 127.0.0.1:27561 (Meta's wa.meta.vc:5061)
	CertFile, KeyFile string // the fake's certificate (the hub trusts it via sip.tls_ca)
	Business          string // business number, E.164 (+12195550714)
	Hostname          string // the SIP hostname the business registered with Meta
	Password          string // the digest password Meta generated
	Hub               string // host:port of the hub's TLS listener (what Meta resolves the hostname to)
	HubCA             string // PEM file Meta trusts for the hub's certificate
	Log               *slog.Logger
	// Answer, when set, is the final response to business-initiated calls
	// instead of 200 (e.g. 486 declined, 480 unanswered).
	Answer int
	// DTLS selects DTLS-SRTP+ICE media (a notifytest.MetaPeer per call,
	// configured by Peer) instead of SDES-SRTP.
	DTLS bool
	Peer notifytest.MetaPeerOptions
}

// Meta is a running fake.
type Meta struct {
	cfg   Config
	log   *slog.Logger
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	dsrv  *sipgo.DialogServerCache
	duac  *sipgo.DialogUA
	duas  *sipgo.DialogUA
	ln    net.Listener
	port  int
	wg    sync.WaitGroup
	calls chan *Call

	mu      sync.Mutex
	byID    map[string]*Call
	nonces  map[string]bool
	reqs    []string // "METHOD call-id" of every request received
	refusal []string // why INVITEs were refused ("403 …")

	// ALPNRefused counts TLS handshakes refused for offering ALPN "sip".
	ALPNRefused atomic.Int64
	// Reinvites counts in-dialog INVITEs (all answered 500).
	Reinvites atomic.Int64
}

// Start runs the fake until Close.
func Start(cfg Config) (*Meta, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Meta{cfg: cfg, log: cfg.Log.With("fake", "meta-sip"), calls: make(chan *Call, 16),
		byID: map[string]*Call{}, nonces: map[string]bool{}}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("metasip: %w", err)
	}
	cliTLS := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.HubCA != "" {
		pem, err := os.ReadFile(cfg.HubCA)
		if err != nil {
			return nil, fmt.Errorf("metasip: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cliTLS.RootCAs = pool
	}
	slg := m.log.With("component", "sipgo")
	if m.ua, err = sipgo.NewUA(sipgo.WithUserAgent("Facebook SipGateway"), sipgo.WithUserAgentHostname(Domain), sipgo.WithUserAgenTLSConfig(cliTLS),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slg)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slg))); err != nil {
		return nil, err
	}
	if m.srv, err = sipgo.NewServer(m.ua, sipgo.WithServerLogger(slg)); err != nil {
		return nil, err
	}
	if m.cli, err = sipgo.NewClient(m.ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(slg)); err != nil {
		return nil, err
	}
	// Meta's TLS server rejects ALPN "sip" with no_application_protocol
	// (livekit/sip #685): a client offering only "sip" finds no overlap.
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			for _, p := range h.SupportedProtos {
				if p == "sip" {
					m.ALPNRefused.Add(1)
				}
			}
			return nil, nil
		},
		NextProtos: []string{"wa-meta-no-sip"}}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("metasip: listen: %w", err)
	}
	m.ln = tls.NewListener(ln, srvTLS)
	m.port = ln.Addr().(*net.TCPAddr).Port
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: Domain, UriParams: sip.NewParams()}}
	contact.Address.UriParams.Add("transport", "tls")
	m.dsrv = sipgo.NewDialogServerCache(m.cli, contact)
	m.duas = &sipgo.DialogUA{Client: m.cli, ContactHDR: contact}
	m.duac = &sipgo.DialogUA{Client: m.cli, ContactHDR: contact, RewriteContact: true}
	m.srv.OnInvite(m.onInvite)
	m.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		m.note(req)
		_ = m.dsrv.ReadAck(req, tx)
	})
	m.srv.OnBye(m.onBye)
	m.srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		m.note(req)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
	})
	m.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		m.note(req)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	m.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		m.note(req)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	})
	m.srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		m.note(req)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil))
	})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = m.srv.ServeTLS(m.ln)
	}()
	return m, nil
}

// Addr is the fake's TLS address (127.0.0.1:port).
func (m *Meta) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// RecordRoute is the Record-Route value Meta's proxy puts in (toward the fake).
func (m *Meta) RecordRoute() string {
	return "<sip:127.0.0.1:" + strconv.Itoa(m.port) + ";transport=tls;lr>"
}

// Close hangs up nothing; it stops the listener and the calls' media.
func (m *Meta) Close() {
	_ = m.ln.Close()
	m.mu.Lock()
	calls := make([]*Call, 0, len(m.byID))
	for _, c := range m.byID {
		calls = append(calls, c)
	}
	m.mu.Unlock()
	for _, c := range calls {
		c.finish()
	}
	_ = m.ua.Close()
	m.wg.Wait()
}

// Calls delivers the business-initiated calls the fake answered.
func (m *Meta) Calls() <-chan *Call { return m.calls }

// Requests lists "METHOD Call-ID" for every request the fake received.
func (m *Meta) Requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.reqs...)
}

// Refusals lists the INVITEs the fake refused and why ("403 From host …").
func (m *Meta) Refusals() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.refusal...)
}

func (m *Meta) note(req *sip.Request) {
	id := ""
	if cid := req.CallID(); cid != nil {
		id = cid.Value()
	}
	m.mu.Lock()
	m.reqs = append(m.reqs, req.Method.String()+" "+id)
	m.mu.Unlock()
}

func (m *Meta) refuse(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	m.mu.Lock()
	m.refusal = append(m.refusal, strconv.Itoa(code)+" "+reason)
	m.mu.Unlock()
	m.log.Info("INVITE refused", "code", code, "reason", reason)
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

func (m *Meta) challenge(tx sip.ServerTransaction, req *sip.Request) {
	nonce := randToken(16)
	m.mu.Lock()
	m.nonces[nonce] = true
	m.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
	res.AppendHeader(sip.NewHeader("Proxy-Authenticate",
		fmt.Sprintf(`Digest realm="%s",nonce="%s",opaque="%s",algorithm=MD5,qop="auth"`, Domain, nonce, randToken(8))))
	_ = tx.Respond(res)
}

// onInvite is Meta's side of a business-initiated call (§6.4), or a re-INVITE.
func (m *Meta) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	m.note(req)
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			m.Reinvites.Add(1)
			_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
			return
		}
	}
	ru := req.Recipient
	switch {
	case ru.Scheme != "sip":
		m.refuse(tx, req, 404, "Not Found (sips: Request-URI)")
		return
	case !strings.EqualFold(ru.Host, Domain):
		m.refuse(tx, req, 404, "Not Found (Request-URI host is not "+Domain+")")
		return
	}
	h := req.GetHeader("Proxy-Authorization")
	if h == nil {
		m.challenge(tx, req)
		return
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		m.refuse(tx, req, 403, "Forbidden (bad Proxy-Authorization)")
		return
	}
	m.mu.Lock()
	known := m.nonces[cred.Nonce]
	delete(m.nonces, cred.Nonce)
	m.mu.Unlock()
	to, from := req.To(), req.From()
	digits := strings.TrimPrefix(m.cfg.Business, "+")
	switch {
	case !known:
		m.challenge(tx, req) // stale or foreign nonce
		return
	case cred.Username != digits:
		m.refuse(tx, req, 403, "Forbidden (digest username is not the business number)")
		return
	case cred.URI != ru.String() || to == nil || cred.URI != to.Address.String():
		m.refuse(tx, req, 403, "Proxy auth uri does not match SIP to uri")
		return
	case from == nil || !hostMatches(from.Address.Host, m.cfg.Hostname):
		m.refuse(tx, req, 403, "SIP server does not match the configured hostname")
		return
	case from.Address.User != m.cfg.Business:
		m.refuse(tx, req, 400, "Bad Request (From is not a registered business number)")
		return
	}
	chal := &digest.Challenge{Realm: cred.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm, Opaque: cred.Opaque, QOP: []string{cred.QOP}}
	want, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: cred.URI, Username: digits, Password: m.cfg.Password, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil || want.Response != cred.Response {
		m.refuse(tx, req, 403, "Forbidden (digest response)")
		return
	}
	var (
		med  *Media
		peer *notifytest.MetaPeer
		body []byte
	)
	if m.cfg.DTLS {
		if why := dtlsOfferRefusal(req.Body()); why != "" {
			m.refuse(tx, req, 488, "Not Acceptable Here ("+why+")")
			return
		}
		if peer, err = notifytest.NewMetaPeer(m.cfg.Peer); err != nil {
			m.refuse(tx, req, 503, "Service Unavailable")
			return
		}
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ans, err := peer.Answer(actx, string(req.Body()))
		cancel()
		if err != nil {
			_ = peer.Close()
			m.refuse(tx, req, 488, "Not Acceptable Here ("+err.Error()+")")
			return
		}
		body = []byte(ans)
	} else {
		offer, err := parseOffer(req.Body())
		if err != nil {
			m.refuse(tx, req, 488, "Not Acceptable Here ("+err.Error()+")")
			return
		}
		if med, err = newMedia(m.log, offer.opusPT, offer.tePT, offer.tag); err != nil {
			m.refuse(tx, req, 503, "Service Unavailable")
			return
		}
		if err := med.start(offer); err != nil {
			med.close()
			m.refuse(tx, req, 488, "Not Acceptable Here")
			return
		}
		body = med.sdp()
	}
	dlg, err := m.dsrv.ReadInvite(req, tx)
	if err != nil {
		closeMedia(med, peer)
		m.refuse(tx, req, 400, "Bad Request")
		return
	}
	c := &Call{m: m, ID: req.CallID().Value(), WACID: "wacid." + randToken(24), User: ru.User, Invite: req,
		server: dlg, Media: med, Peer: peer, done: make(chan struct{}), answered: time.Now()}
	m.mu.Lock()
	m.byID[c.ID] = c
	m.mu.Unlock()
	_ = dlg.Respond(100, "Trying", nil)
	_ = dlg.Respond(180, "Ringing", nil)
	if m.cfg.Answer != 0 && m.cfg.Answer != 200 {
		_ = dlg.WriteResponse(sip.NewResponseFromRequest(dlg.InviteRequest, m.cfg.Answer, "Declined", nil))
		c.finish()
		return
	}
	res := sip.NewResponseFromRequest(dlg.InviteRequest, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ct := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ru.User, Host: Domain, UriParams: sip.NewParams()}, Params: sip.NewParams()}
	ct.Address.UriParams.Add("transport", "tls")
	ct.Address.UriParams.Add("ob", "")
	ct.Params.Add("isfocus", "")
	res.AppendHeader(ct)
	res.AppendHeader(sip.NewHeader("Record-Route", m.RecordRoute()))
	res.AppendHeader(sip.NewHeader("X-FB-External-Domain", Domain))
	res.AppendHeader(sip.NewHeader("x-wa-meta-wacid", c.WACID))
	res.AppendHeader(sip.NewHeader("x-wa-meta-user-id", "US.1349120865530274191"))
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, NOTIFY, OPTIONS"))
	c.Response = res
	if peer != nil {
		peer.StartAudio() // the call is answered: Meta's media starts (after the business's first packet)
	}
	if err := dlg.WriteResponse(res); err != nil {
		m.log.Info("no ACK for 200", "err", err)
		c.finish()
		return
	}
	select {
	case m.calls <- c:
	default:
	}
}

// hostMatches: Meta accepts a From host equal to the registered hostname or
// a parent domain of it.
func hostMatches(from, hostname string) bool {
	from, hostname = strings.ToLower(from), strings.ToLower(hostname)
	return from == hostname || strings.HasSuffix(hostname, "."+from)
}

func (m *Meta) onBye(req *sip.Request, tx sip.ServerTransaction) {
	m.note(req)
	m.mu.Lock()
	c := m.byID[req.CallID().Value()]
	m.mu.Unlock()
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.mu.Lock()
	c.Bye = req
	c.mu.Unlock()
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	c.finish()
}

// UserCall describes a user-initiated call (§6.3).
type UserCall struct {
	From     string            // the WhatsApp user: "+12195550714" or a BSUID
	Name     string            // display name ("12195550714" in Meta's sample)
	Headers  map[string]string // Meta's x-wa-meta-* headers; nil: the §6.3 sample set
	Password string            // answer the hub's challenge with this ("" : the configured one)
}

// Call places a user-initiated call to the hub and waits for its final
// answer: a 200 (the call) or an error carrying the code.
func (m *Meta) Call(ctx context.Context, uc UserCall) (*Call, error) {
	var (
		med  *Media
		peer *notifytest.MetaPeer
		body []byte
		err  error
	)
	if m.cfg.DTLS {
		if peer, err = notifytest.NewMetaPeer(m.cfg.Peer); err != nil {
			return nil, err
		}
		offer, err := peer.Offer(ctx)
		if err != nil {
			_ = peer.Close()
			return nil, err
		}
		body = []byte(offer)
	} else {
		if med, err = newMedia(m.log, 111, 126, 1); err != nil {
			return nil, err
		}
		body = med.sdp()
	}
	wacid := "wacid.HBgLMTIxOTU1NTA3MTQVAgASGCAz" + randToken(12)
	ru := sip.Uri{Scheme: "sip", User: m.cfg.Business, Host: m.cfg.Hostname, UriParams: sip.NewParams()}
	ru.UriParams.Add("transport", "tls")
	req := sip.NewRequest(sip.INVITE, ru)
	req.SetDestination(m.cfg.Hub)
	req.SetTransport("TLS")
	from := &sip.FromHeader{DisplayName: uc.Name, Address: sip.Uri{Scheme: "sip", User: uc.From, Host: Domain}, Params: sip.NewParams()}
	from.Params.Add("tag", randToken(12))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: m.cfg.Business, Host: m.cfg.Hostname}, Params: sip.NewParams()})
	ct := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: uc.From, Host: Domain, UriParams: sip.NewParams()}, Params: sip.NewParams()}
	ct.Address.UriParams.Add("transport", "tls")
	ct.Address.UriParams.Add("ob", "")
	ct.Params.Add("isfocus", "")
	req.AppendHeader(ct)
	cid := sip.CallIDHeader("outgoing:" + wacid)
	req.AppendHeader(&cid)
	req.AppendHeader(sip.NewHeader("Route", "<sip:onevc-sip-proxy.fbinfra.net:8191;transport=tls;lr>"))
	req.AppendHeader(sip.NewHeader("Record-Route", m.RecordRoute()))
	req.AppendHeader(sip.NewHeader("X-FB-External-Domain", Domain))
	hdrs := uc.Headers
	if hdrs == nil {
		hdrs = map[string]string{"x-wa-meta-user-id": "US.13491208655302741918", "x-wa-meta-user-name": "someuser",
			"x-wa-meta-cta-payload": "conv=123;queue=billing"}
	}
	if _, ok := hdrs["x-wa-meta-wacid"]; !ok {
		req.AppendHeader(sip.NewHeader("x-wa-meta-wacid", wacid))
	}
	for k, v := range hdrs {
		req.AppendHeader(sip.NewHeader(k, v))
	}
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, NOTIFY, OPTIONS"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	c := &Call{m: m, ID: cid.Value(), WACID: wacid, User: uc.From, Invite: req, Media: med, Peer: peer, done: make(chan struct{})}
	m.mu.Lock()
	m.byID[c.ID] = c
	m.mu.Unlock()
	dlg, err := m.duac.WriteInvite(ctx, req)
	if err != nil {
		c.finish()
		return nil, err
	}
	pass := uc.Password
	if pass == "" {
		pass = m.cfg.Password
	}
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{Username: strings.TrimPrefix(m.cfg.Business, "+"), Password: pass}); err != nil {
		c.finish()
		return nil, err
	}
	c.client, c.Response, c.answered = dlg, dlg.InviteResponse.Clone(), time.Now()
	// The Record-Route the hub echoed is Meta's own proxy (this fake): its
	// ACK and BYE go to the hub directly, not to itself.
	for dlg.InviteResponse.RemoveHeader("Record-Route") {
	}
	if err := dlg.Ack(ctx); err != nil {
		c.finish()
		return nil, err
	}
	c.Invite = dlg.InviteRequest // the one that passed the challenge
	if peer != nil {
		if err = peer.SetAnswer(string(dlg.InviteResponse.Body())); err == nil {
			peer.StartAudio()
		}
	} else {
		var answer *remote
		if answer, err = parseOffer(dlg.InviteResponse.Body()); err == nil {
			err = med.start(answer)
		}
	}
	if err != nil {
		_ = dlg.Bye(ctx)
		c.finish()
		return nil, fmt.Errorf("metasip: hub's answer: %w", err)
	}
	return c, nil
}

// Call is one WhatsApp call as Meta sees it.
type Call struct {
	ID       string               // Call-ID
	WACID    string               // the call's wacid
	User     string               // the WhatsApp user
	Invite   *sip.Request         // business-initiated: the authenticated INVITE; user-initiated: ours
	Response *sip.Response        // business-initiated: our 200; user-initiated: the hub's 200
	Media    *Media               // SDES media (nil with Config.DTLS)
	Peer     *notifytest.MetaPeer // DTLS-SRTP+ICE media (Config.DTLS; nil otherwise)

	m        *Meta
	server   *sipgo.DialogServerSession
	client   *sipgo.DialogClientSession
	answered time.Time
	mu       sync.Mutex
	Bye      *sip.Request // the hub's BYE, once it came (read after Done)
	done     chan struct{}
	once     sync.Once
}

// Done is closed when the call is over (either side's BYE, or Close).
func (c *Call) Done() <-chan struct{} { return c.done }

// HubBye is the BYE the hub sent, or nil.
func (c *Call) HubBye() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Bye
}

func (c *Call) finish() {
	c.once.Do(func() {
		closeMedia(c.Media, c.Peer)
		c.m.mu.Lock()
		delete(c.m.byID, c.ID)
		c.m.mu.Unlock()
		close(c.done)
	})
}

// Hangup sends Meta's BYE, with x-wa-meta-call-duration and x-wa-meta-wacid.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.finish()
	dur := strconv.Itoa(int(time.Since(c.answered).Seconds()))
	hdrs := []sip.Header{sip.NewHeader("x-wa-meta-call-duration", dur), sip.NewHeader("x-wa-meta-wacid", c.WACID)}
	if c.client != nil {
		bye := sip.NewRequest(sip.BYE, c.Response.Contact().Address)
		for _, h := range hdrs {
			bye.AppendHeader(h)
		}
		return c.client.WriteBye(ctx, bye)
	}
	if c.server == nil {
		return errors.New("metasip: call not established")
	}
	bye := sip.NewRequest(sip.BYE, c.server.InviteRequest.Contact().Address)
	bye.SetTransport("TLS")
	bye.SetDestination(c.m.cfg.Hub) // the hub's hostname, as Meta resolves it
	for _, h := range hdrs {
		bye.AppendHeader(h)
	}
	return c.server.WriteBye(ctx, bye)
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func closeMedia(med *Media, peer *notifytest.MetaPeer) {
	if med != nil {
		med.close()
	}
	if peer != nil {
		_ = peer.Close()
	}
}

// dtlsOfferRefusal says why an offer is not WebRTC media as Meta takes it
// with srtp_key_exchange_protocol DTLS ("" : it is).
func dtlsOfferRefusal(body []byte) string {
	s := string(body)
	switch {
	case !strings.Contains(s, "m=audio "):
		return "no audio"
	case !strings.Contains(s, "UDP/TLS/RTP/SAVPF"):
		return "DTLS-SRTP required: UDP/TLS/RTP/SAVPF"
	case !strings.Contains(s, "a=fingerprint:"):
		return "DTLS-SRTP required: a=fingerprint"
	case !strings.Contains(s, "a=ice-ufrag:"):
		return "ICE required"
	case strings.Contains(s, "a=crypto:"):
		return "SDES keys offered on DTLS media"
	case !strings.Contains(strings.ToLower(s), " opus/48000"):
		return "Opus required"
	}
	return ""
}
