package sipua

// WhatsApp Business Calling over SIP (Meta's "SIP signalling + SDES media"
// configuration; shared/research/whatsapp.md §6, docs/whatsapp.md): a trunk
// with provider: whatsapp is Meta's SIP side.
//
// Business-initiated: INVITE sip:+<user>@wa.meta.vc;transport=tls over TLS
// (no ALPN), From sip:+<business>@<hostname>, answered 407 by Meta; the retry
// carries Proxy-Authorization with username = the business number's digits
// and uri = the exact Request-URI (which is also the To URI). User-initiated:
// Meta's INVITE over TLS from the trunk's addresses, optionally challenged
// with our own 407, its Record-Route kept in our 200 OK; the x-wa-meta-*
// headers are exposed as Call.WhatsApp(). Toward Meta: no session timers, no
// re-INVITE (hold and codec changes are refused locally), the business sends
// the first SRTP packet (silence until the bridge has audio), and our BYE
// says Reason: Q.850;cause=16. With srtp: dtls on the trunk the media is
// DTLS-SRTP+ICE, carried by a WebRTC leg outside this package (extmedia.go).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/sdp"
)

// MetaSIPDomain is the domain of Meta's WhatsApp SIP side: the host of the
// Request-URI of business-initiated calls and of Meta's From.
const MetaSIPDomain = "wa.meta.vc"

// ErrReinviteRefused is returned by SetHold on a WhatsApp call: Meta
// answers a re-INVITE with 500 and drops the call, so none is sent.
var ErrReinviteRefused = errors.New("sipua: WhatsApp calls cannot be held or renegotiated (Meta drops the call on re-INVITE)")

// WhatsAppInfo is what Meta says about a WhatsApp call (§6.5). Every field
// may be empty: Meta sends some headers only in some cases, and their
// spelling is not settled (the parser accepts the known variants).
type WhatsAppInfo struct {
	WACID           string // x-wa-meta-wacid: the WhatsApp call id (same space as Graph's wacid.…)
	User            string // the WhatsApp user: From user (inbound) or Request-URI user (outbound); E.164 with "+" or a BSUID
	UserID          string // x-wa-meta-user-id: business-scoped user id (BSUID)
	ParentUserID    string // x-wa_meta-parent-user-id
	Username        string // x-wa-meta-user-name / x-wa-meta-username
	CTAPayload      string // x-wa-meta-cta-payload: the call button's payload
	DeeplinkPayload string // x-wa-meta-deeplink-payload: wa.me/call biz_payload
	Country         string // x-wa-meta-country-code / x-wa-meta-user-country-code
	PhoneNumberID   string // x-wa-meta-phone-number-id: the business number's Graph id
	Business        string // the business number (the trunk's number)
	// Duration is x-wa-meta-call-duration of Meta's BYE (seconds; -1 until
	// Meta hung up an established call saying how long it lasted).
	Duration int
}

// WhatsApp returns the WhatsApp details of a call through a provider:
// whatsapp trunk, or nil for any other call. It is a copy; Duration is
// known once Meta's BYE came (after Done).
func (c *Call) WhatsApp() *WhatsAppInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wa == nil {
		return nil
	}
	w := *c.wa
	return &w
}

// waHeaders maps Meta's header names (lower case, every known spelling) to
// the field they fill.
var waHeaders = []struct {
	names []string
	field func(*WhatsAppInfo) *string
}{
	{[]string{"x-wa-meta-wacid"}, func(w *WhatsAppInfo) *string { return &w.WACID }},
	{[]string{"x-wa-meta-user-id"}, func(w *WhatsAppInfo) *string { return &w.UserID }},
	{[]string{"x-wa_meta-parent-user-id", "x-wa-meta-parent-user-id"}, func(w *WhatsAppInfo) *string { return &w.ParentUserID }},
	{[]string{"x-wa-meta-user-name", "x-wa-meta-username"}, func(w *WhatsAppInfo) *string { return &w.Username }},
	{[]string{"x-wa-meta-cta-payload"}, func(w *WhatsAppInfo) *string { return &w.CTAPayload }},
	{[]string{"x-wa-meta-deeplink-payload"}, func(w *WhatsAppInfo) *string { return &w.DeeplinkPayload }},
	{[]string{"x-wa-meta-country-code", "x-wa-meta-user-country-code"}, func(w *WhatsAppInfo) *string { return &w.Country }},
	{[]string{"x-wa-meta-phone-number-id"}, func(w *WhatsAppInfo) *string { return &w.PhoneNumberID }},
}

// maxWAHeader bounds what is kept of one header (payloads are ≤ 512 bytes at Meta).
const maxWAHeader = 1024

// parseWhatsAppHeaders fills the empty fields of w from msg's x-wa-meta-*
// headers, matching names case-insensitively.
func parseWhatsAppHeaders(w *WhatsAppInfo, msg headerGetter) {
	for _, h := range waHeaders {
		f := h.field(w)
		if *f != "" {
			continue
		}
		for _, n := range h.names {
			if v := headerValue(msg, n); v != "" {
				*f = v
				break
			}
		}
	}
}

// headerValue is the trimmed value of msg's header name, bounded, with
// control characters dropped (it goes into logs and call records).
func headerValue(msg headerGetter, name string) string {
	h := msg.GetHeader(name)
	if h == nil {
		return ""
	}
	v := strings.TrimSpace(h.Value())
	if len(v) > maxWAHeader {
		v = v[:maxWAHeader]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// looksLikeMeta: an INVITE that claims to come from Meta's WhatsApp side
// (From host or X-FB-External-Domain). Only a claim: trust comes from the
// source address and TLS, never from these headers.
func looksLikeMeta(req *sip.Request) bool {
	if from := req.From(); from != nil && isMetaHost(from.Address.Host) {
		return true
	}
	if h := req.GetHeader("X-FB-External-Domain"); h != nil {
		return true
	}
	for _, hv := range req.Headers() {
		if strings.HasPrefix(strings.ToLower(hv.Name()), "x-wa-meta-") {
			return true
		}
	}
	return false
}

func isMetaHost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == MetaSIPDomain || strings.HasSuffix(h, "."+MetaSIPDomain)
}

// WhatsAppTarget returns the trunk and Request-URI to call WhatsApp user
// user — E.164 ("+31612345678"; digits without "+" are taken as E.164) or a
// BSUID ("US.13491208655302741918") — through the provider: whatsapp trunk
// named trunk ("" : the only such trunk). Pass both to Dial.
func (u *UA) WhatsAppTarget(trunk, user string) (*config.Trunk, sip.Uri, error) {
	var t *config.Trunk
	for i := range u.cfg.SIP.Trunks {
		tr := &u.cfg.SIP.Trunks[i]
		if tr.IsWhatsApp() && (trunk == "" || tr.Name == trunk) {
			if t != nil {
				return nil, sip.Uri{}, fmt.Errorf("%w: more than one whatsapp trunk; name one", ErrNoTrunk)
			}
			t = tr
		}
	}
	if t == nil {
		return nil, sip.Uri{}, ErrNoTrunk
	}
	user, err := waUser(user)
	if err != nil {
		return nil, sip.Uri{}, err
	}
	return t, waRequestURI(user), nil
}

// waUser normalises a WhatsApp user: "+" and 7-15 digits, or a BSUID.
func waUser(s string) (string, error) {
	s = strings.TrimSpace(s)
	digits := strings.TrimPrefix(s, "+")
	if n := len(digits); n >= 7 && n <= 15 && strings.Trim(digits, "0123456789") == "" && digits[0] != '0' {
		return "+" + digits, nil
	}
	// BSUID: country prefix, a dot, an opaque id (letters, digits, . _ -)
	if len(s) < 4 || len(s) > 64 || !strings.Contains(s, ".") {
		return "", fmt.Errorf("%w: %q is neither an E.164 number nor a WhatsApp user id", ErrBadTarget, s)
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '_' || r == '-') {
			return "", fmt.Errorf("%w: %q is neither an E.164 number nor a WhatsApp user id", ErrBadTarget, s)
		}
	}
	return s, nil
}

// waRequestURI is sip:<user>@wa.meta.vc;transport=tls — sip: with a
// transport parameter, never sips: (Meta answers 404 to sips).
func waRequestURI(user string) sip.Uri {
	ru := sip.Uri{Scheme: "sip", User: user, Host: MetaSIPDomain, UriParams: sip.NewParams()}
	ru.UriParams.Add("transport", "tls")
	return ru
}

// waCodecs is what we offer Meta: Opus/48000 as PT 111 first, then any
// G.711 the trunk lists (Meta takes it when enabled in its settings), then
// telephone-event/8000 as PT 126 — Meta's numbers.
func waCodecs(t *config.Trunk) []sdp.Codec {
	opus := sdp.Opus
	opus.Fmtp = "minptime=20;useinbandfec=1"
	out := []sdp.Codec{opus}
	for _, n := range t.Codecs {
		if strings.EqualFold(n, "opus") {
			continue
		}
		if cd, ok := sdp.AudioCodec(n); ok {
			out = append(out, cd)
		}
	}
	return append(out, sdp.Codec{PT: 126, Name: "telephone-event", Clock: 8000, Channels: 1, Fmtp: "0-15"})
}

// waAllow is what we tell Meta we take (Meta's own Allow lacks UPDATE,
// PRACK, REFER and INFO).
const waAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY"

// waContact is our Contact toward Meta: the business number at the
// hostname registered with Meta, on our TLS listener's port.
func (u *UA) waContact(t *config.Trunk) sip.ContactHeader {
	ct := u.contactFor(t.Number, "tls")
	ct.Address.Host = t.Hostname
	return ct
}

// prepareWhatsAppInvite turns Dial's INVITE into Meta's shape: the
// Request-URI is also the To URI (Meta checks the digest uri against it),
// From is the business number at our registered hostname, Contact likewise,
// no "Supported: timer". The request goes to the trunk's address (Meta's
// wa.meta.vc:5061), whatever the Request-URI's host.
func (u *UA) prepareWhatsAppInvite(req *sip.Request, c *Call, t *config.Trunk) error {
	tu, err := config.ParseTrunkURI(t.URI)
	if err != nil {
		return err
	}
	port := tu.Port
	if port == 0 {
		port = 5061
	}
	req.SetDestination(net.JoinHostPort(tu.Host, strconv.Itoa(port)))
	req.SetTransport("TLS")
	req.AppendHeader(&sip.ToHeader{Address: req.Recipient, Params: sip.NewParams()})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: t.Number, Host: t.Hostname}, Params: sip.NewParams()}
	from.Params.Add("tag", c.localTag)
	req.AppendHeader(from)
	ct := u.waContact(t)
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Allow", waAllow))
	c.From = from.Address
	c.waTrunk = t
	c.wa = &WhatsAppInfo{User: req.Recipient.User, Business: t.Number, Duration: -1}
	return nil
}

// waAuthenticate answers Meta's 407 (or 401) to our INVITE: the same
// INVITE, CSeq+1, with credentials whose uri is the exact Request-URI
// (sipgo's own digest drops its parameters; Meta compares the uri with the
// To URI). It returns the new dialog to wait on.
func (c *Call) waAuthenticate(ctx context.Context, t *config.Trunk, dlg *sipgo.DialogClientSession, res *sip.Response) (*sipgo.DialogClientSession, error) {
	hdr, authz := "Proxy-Authenticate", "Proxy-Authorization"
	if res.StatusCode == 401 {
		hdr, authz = "WWW-Authenticate", "Authorization"
	}
	h := res.GetHeader(hdr)
	if h == nil {
		return nil, fmt.Errorf("sipua: %d without %s", res.StatusCode, hdr)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return nil, fmt.Errorf("sipua: %s: %w", hdr, err)
	}
	chal.Algorithm = strings.ToUpper(chal.Algorithm)
	req := dlg.InviteRequest.Clone()
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: req.Recipient.String(), Username: t.DigestUser(), Password: t.Password})
	if err != nil {
		return nil, fmt.Errorf("sipua: digest: %w", err)
	}
	req.RemoveHeader("Via")
	req.RemoveHeader("Proxy-Authorization")
	req.RemoveHeader("Authorization")
	req.AppendHeader(sip.NewHeader(authz, cred.String()))
	if cs := req.CSeq(); cs != nil {
		cs.SeqNo++
	}
	if tu, err := config.ParseTrunkURI(t.URI); err == nil {
		port := tu.Port
		if port == 0 {
			port = 5061
		}
		req.SetDestination(net.JoinHostPort(tu.Host, strconv.Itoa(port)))
	}
	c.log.Info("INVITE challenged; answering with digest", "code", res.StatusCode, "realm", chal.Realm, "algorithm", chal.Algorithm)
	return c.ua.dialogUA("tls").WriteInvite(ctx, req)
}

// waInbound vets an initial INVITE for WhatsApp: one from a whatsapp
// trunk's addresses must come over TLS (and pass our digest challenge when
// on); one that merely looks like Meta's over UDP or TCP is refused. It
// returns the trunk (nil: not a WhatsApp call) and whether a response was
// sent (the caller then stops).
func (u *UA) waInbound(req *sip.Request, tx sip.ServerTransaction, src netip.Addr) (*config.Trunk, bool) {
	t := u.waTrunkFor(src)
	tls := strings.EqualFold(req.Transport(), "TLS")
	if !tls && (t != nil || looksLikeMeta(req)) {
		u.metrics.InviteRejected("whatsapp_not_tls")
		u.log.Warn("WhatsApp INVITE refused: not over TLS", "source", src.String(), "transport", req.Transport())
		u.respond(tx, req, 403, "TLS Required", sip.NewHeader("Warning", `399 split "WhatsApp calls are accepted over TLS only"`))
		return nil, true
	}
	if t == nil {
		return nil, false
	}
	if t.ChallengesInbound() && !u.waAuthorized(req, t) {
		u.metrics.InviteRejected("whatsapp_challenge")
		u.respond(tx, req, 407, "Proxy Authentication Required",
			sip.NewHeader("Proxy-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, t.Hostname, u.waNonce(req, time.Now()))))
		return nil, true
	}
	if metric, warning := waMediaRefusal(t, req.Body()); metric != "" {
		u.metrics.InviteRejected(metric)
		u.log.Warn("WhatsApp INVITE refused: its media is not what the trunk speaks (srtp_key_exchange_protocol at Meta must match the trunk's srtp)",
			"trunk", t.Name, "srtp", t.SRTP, "warning", warning)
		u.respond(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", warning))
		return nil, true
	}
	return t, false
}

// waTrunkFor is the whatsapp trunk whose addresses hold src, or nil.
func (u *UA) waTrunkFor(src netip.Addr) *config.Trunk {
	name, ok := u.waACL.Match(src)
	if !ok {
		return nil
	}
	t, _ := u.cfg.Trunk(name)
	return t
}

// nonceTTL is how long our challenge's nonce is good for.
const nonceTTL = 60 * time.Second

// waNonce is a stateless nonce: a timestamp and an HMAC over it and the
// Call-ID, so that it is good for this call, for a minute, and nowhere else.
func (u *UA) waNonce(req *sip.Request, now time.Time) string {
	b := make([]byte, 8, 8+32)
	binary.BigEndian.PutUint64(b, uint64(now.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(b, u.nonceMAC(b, req)...))
}

func (u *UA) nonceMAC(ts []byte, req *sip.Request) []byte {
	m := hmac.New(sha256.New, u.nonceKey[:])
	m.Write(ts)
	if cid := req.CallID(); cid != nil {
		m.Write([]byte(cid.Value()))
	}
	return m.Sum(nil)
}

// waAuthorized checks the digest credentials of Meta's retried INVITE.
func (u *UA) waAuthorized(req *sip.Request, t *config.Trunk) bool {
	h := req.GetHeader("Proxy-Authorization")
	if h == nil {
		h = req.GetHeader("Authorization")
	}
	if h == nil {
		return false
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Username != t.DigestUser() || cred.Realm != t.Hostname {
		u.log.Warn("WhatsApp INVITE: bad credentials", "err", err)
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(cred.Nonce)
	if err != nil || len(raw) != 8+32 || !hmac.Equal(raw[8:], u.nonceMAC(raw[:8], req)) {
		return false
	}
	if age := time.Since(time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)); age < -time.Second || age > nonceTTL {
		return false // stale: challenged afresh
	}
	chal := &digest.Challenge{Realm: cred.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm, Opaque: cred.Opaque}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: cred.URI, Username: t.DigestUser(),
		Password: t.Password, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want.Response), []byte(cred.Response)) == 1
}

// waAccept marks an inbound call as a WhatsApp call from trunk t and reads
// Meta's headers.
func (c *Call) waAccept(t *config.Trunk, req *sip.Request) {
	w := &WhatsAppInfo{Business: t.Number, Duration: -1}
	if from := req.From(); from != nil {
		w.User = from.Address.User
	}
	parseWhatsAppHeaders(w, req)
	c.mu.Lock()
	c.wa, c.waTrunk = w, t
	c.mu.Unlock()
}

// waAnswered reads Meta's headers of the 200 OK to our INVITE.
func (c *Call) waAnswered(res *sip.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wa != nil {
		parseWhatsAppHeaders(c.wa, res)
	}
}

// waBye reads x-wa-meta-call-duration (and a late wacid) from Meta's BYE.
func (c *Call) waBye(req *sip.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wa == nil {
		return
	}
	if d, err := strconv.Atoi(headerValue(req, "x-wa-meta-call-duration")); err == nil && d >= 0 {
		c.wa.Duration = d
	}
	parseWhatsAppHeaders(c.wa, req)
}

// sendBye ends an established dialog; toward Meta the BYE says
// Reason: Q.850;cause=16 (normal clearing), as Meta's guide asks.
func (c *Call) sendBye(ctx context.Context, server *sipgo.DialogServerSession, client *sipgo.DialogClientSession) error {
	c.mu.Lock()
	wa := c.wa != nil
	c.mu.Unlock()
	if !wa {
		if server != nil {
			return server.Bye(ctx)
		}
		return client.Bye(ctx)
	}
	reason := sip.NewHeader("Reason", "Q.850;cause=16")
	if server != nil {
		bye := sip.NewRequest(sip.BYE, server.InviteRequest.Contact().Address)
		bye.SetTransport(server.InviteRequest.Transport())
		bye.AppendHeader(reason)
		return server.WriteBye(ctx, bye)
	}
	bye := sip.NewRequest(sip.BYE, c.remoteTarget())
	bye.AppendHeader(reason)
	return client.WriteBye(ctx, bye)
}

// Opus silence: a 20 ms CELT frame that decodes to zeros.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

// waKeepMedia makes sure Meta hears from us: Meta waits for the business's
// first SRTP packet and drops a call after 20 s (30 s mid-call) without
// business media, so while the bridge sends nothing (before it starts, an
// agent's silence suppression, an IVR pause) silence frames go out every
// 20 ms. It runs until the call ends.
func (c *Call) waKeepMedia() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	buf := make([]byte, 12+160)
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if st := c.State(); st != StateActive {
			continue
		}
		s := c.audio
		if s.idleFor() < 60*time.Millisecond {
			continue
		}
		codec := s.track.Send()
		var payload []byte
		switch {
		case codec.Is("opus"):
			payload = opusSilence
		case codec.Is("PCMU"):
			payload = fill(buf[12:], 0xff)
		case codec.Is("PCMA"):
			payload = fill(buf[12:], 0xd5)
		default:
			continue
		}
		pkt := append(buf[:12:12], payload...)
		pkt[0], pkt[1] = 0x80, codec.PT
		binary.BigEndian.PutUint32(pkt[4:], s.eventTS())
		if err := s.write(pkt, codec.PT, true); err != nil {
			c.log.Debug("silence frame not sent", "err", err)
		}
	}
}

func fill(b []byte, v byte) []byte {
	for i := range b {
		b[i] = v
	}
	return b
}

// idleFor is how long ago the last media packet went out (forever: never).
func (s *rtpStream) idleFor() time.Duration {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.lastSent.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(s.lastSent)
}

// newNonceKey is the UA's key for stateless challenge nonces.
func newNonceKey() (k [32]byte) {
	_, _ = rand.Read(k[:])
	return k
}

// headerGetter is a request or a response.
type headerGetter interface{ GetHeader(name string) sip.Header }
