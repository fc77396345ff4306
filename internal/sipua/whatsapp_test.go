package sipua

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil/metasip"
)

const (
	waBusiness = "+17015558857"
	waHostname = "sip.hub.example.com"
	waPassword = "meta-generated-Secret"
	waUserNum  = "+12195550714"
)

// waEnv is a hub UA with a provider: whatsapp trunk toward the Meta fake.
type waEnv struct {
	ua   *UA
	meta *metasip.Meta
	b    *answerer
}

// newWAEnv starts the hub (UDP on port, TLS on port+1) and the Meta fake
// (TLS on port+2), each trusting the other's self-signed certificate.
func newWAEnv(t *testing.T, port int, mutate func(*config.Trunk)) *waEnv {
	t.Helper()
	hubCert, hubKey := selfSigned(t)
	metaCert, metaKey := selfSigned(t)
	meta, err := metasip.Start(metasip.Config{Listen: "127.0.0.1:" + itoa(port+2), CertFile: metaCert, KeyFile: metaKey,
		Business: waBusiness, Hostname: waHostname, Password: waPassword, Hub: "127.0.0.1:" + itoa(port+1), HubCA: hubCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	b := &answerer{calls: make(chan *Call, 1)}
	ua := testUA(t, port, port+100, b, func(c *config.Config) {
		c.SIP.ListenTLS = "127.0.0.1:" + itoa(port+1)
		c.SIP.TLSCert, c.SIP.TLSKey, c.SIP.TLSCA = hubCert, hubKey, metaCert
		tr := config.Trunk{Name: "wa", Provider: "whatsapp", URI: "sip:127.0.0.1:" + itoa(port+2), Transport: "tls",
			Codecs: []string{"opus"}, SRTP: "sdes", Hostname: waHostname, Number: waBusiness, Password: waPassword,
			InboundFrom: []string{"127.0.0.1"}}
		if mutate != nil {
			mutate(&tr)
		}
		c.SIP.Trunks = []config.Trunk{tr}
	})
	return &waEnv{ua: ua, meta: meta, b: b}
}

// opusRec decodes the Opus (PT 111) the hub's SIP leg receives.
type opusRec struct {
	mu  sync.Mutex
	dec media.OpusDecoder
	pcm []int16
	n   atomic.Int64
}

func newOpusRec(t *testing.T) *opusRec {
	dec, err := media.NewOpusDecoder(48000)
	if err != nil {
		t.Fatal(err)
	}
	return &opusRec{dec: dec}
}

func (r *opusRec) WriteRTP(pkt []byte) error {
	hl, _, err := media.RTPHeaderLen(pkt)
	if err != nil || pkt[1]&0x7f != 111 {
		return nil
	}
	r.n.Add(1)
	buf := make([]int16, 5760)
	k, err := r.dec.Decode(pkt[hl:], buf)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	r.pcm = append(r.pcm, buf[:k]...)
	r.mu.Unlock()
	return nil
}

func (r *opusRec) take() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pcm
	r.pcm = nil
	return p
}

// pumpOpus writes a 20 ms Opus frame of freq into the leg every 20 ms, as
// the bridge would, until stop closes.
func pumpOpus(t *testing.T, c *Call, freq float64, stop <-chan struct{}, wg *sync.WaitGroup) {
	enc, err := media.NewOpusEncoder(48000, 32000)
	if err != nil {
		t.Error(err)
		wg.Done()
		return
	}
	go func() {
		defer wg.Done()
		pcm := make([]int16, 960)
		out := make([]byte, media.OpusMaxPacketSize)
		var phase float64
		var seq uint16
		var ts uint32
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			media.GenerateTone(pcm, freq, 48000, &phase, 0.25)
			n, err := enc.Encode(pcm, out)
			if err != nil {
				continue
			}
			pkt := make([]byte, 12+n)
			pkt[0], pkt[1] = 0x80, 111
			seq++
			ts += 960
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			copy(pkt[12:], out[:n])
			_ = c.Audio().In.WriteRTP(pkt)
		}
	}()
}

func near(f, want float64) bool { return math.Abs(f-want) < 10 }

// checkMedia proves SRTP audio both ways: the fake sends only once the
// hub's first packet came (Meta's rule), which the hub's silence frames
// provide before the bridge sends anything; then each side hears the
// other's tone, and DTMF crosses both ways.
func checkMedia(t *testing.T, c *Call, mc *metasip.Call, digits func() string) {
	t.Helper()
	rec := newOpusRec(t)
	c.Audio().SetOutput(rec)
	select {
	case <-mc.Media.FirstIn():
	case <-time.After(3 * time.Second):
		t.Fatal("Meta never got a first packet from the business (nothing sent before the bridge has audio)")
	}
	waitFor(t, 3*time.Second, "the fake's audio at the hub", func() bool { return rec.n.Load() > 10 })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	pumpOpus(t, c, 1000, stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(100 * time.Millisecond) // let the silence frames drain
	mc.Media.ResetPCM()
	rec.take()
	waitFor(t, 5*time.Second, "a second of the hub's tone at Meta", func() bool { return len(mc.Media.PCM()) >= 48000 })
	var hubHeard []int16
	waitFor(t, 5*time.Second, "a second of Meta's tone at the hub", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		hubHeard = append([]int16(nil), rec.pcm...)
		return len(hubHeard) >= 48000
	})
	if f := media.DominantFrequency(mc.Media.PCM()[9600:], 48000, nil); !near(f, 1000) {
		t.Errorf("Meta heard %.0f Hz, want the hub's 1000 Hz", f)
	}
	if f := media.DominantFrequency(hubHeard[9600:], 48000, nil); !near(f, 440) {
		t.Errorf("the hub heard %.0f Hz, want Meta's 440 Hz", f)
	}
	if err := c.SendDTMF(context.Background(), "5#"); err != nil {
		t.Fatal(err)
	}
	mc.Media.SendDTMF("19")
	waitFor(t, 5*time.Second, "DTMF 5# at Meta", func() bool { return mc.Media.Digits() == "5#" })
	waitFor(t, 5*time.Second, "DTMF 19 at the hub", func() bool { return digits() == "19" })
}

type digitLog struct {
	mu sync.Mutex
	d  []rune
}

func (l *digitLog) add(r rune) { l.mu.Lock(); l.d = append(l.d, r); l.mu.Unlock() }
func (l *digitLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.d)
}

// Business-initiated: INVITE to Meta's shape, 407 answered with the right
// username and uri, SDES-SRTP media and DTMF both ways, hold refused
// locally (nothing reaches Meta), our BYE follows Meta's Record-Route and
// says Reason: Q.850;cause=16.
func TestWhatsAppBusinessInitiated(t *testing.T) {
	e := newWAEnv(t, 28100, nil)
	tr, to, err := e.ua.WhatsAppTarget("", waUserNum)
	if err != nil {
		t.Fatal(err)
	}
	var digits digitLog
	c, err := e.ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "agent7", Events: Events{OnDTMF: digits.add}})
	if err != nil {
		t.Fatal(err)
	}
	var mc *metasip.Call
	select {
	case mc = <-e.meta.Calls():
	case <-time.After(5 * time.Second):
		code, reason := c.End()
		t.Fatalf("Meta did not take the call (hub ended %d %s; fake refused %v)", code, reason, e.meta.Refusals())
	}
	waitFor(t, 3*time.Second, "the call active", func() bool { return c.State() == StateActive })

	inv := mc.Invite
	if got, want := inv.Recipient.String(), "sip:"+waUserNum+"@wa.meta.vc;transport=tls"; got != want {
		t.Errorf("Request-URI %s, want %s", got, want)
	}
	if got := inv.From().Address.String(); got != "sip:"+waBusiness+"@"+waHostname {
		t.Errorf("From %s", got)
	}
	if ct := inv.Contact(); ct == nil || ct.Address.Host != waHostname {
		t.Errorf("Contact %v, want host %s", ct, waHostname)
	}
	pa := inv.GetHeader("Proxy-Authorization").Value()
	if !strings.Contains(pa, `username="17015558857"`) || !strings.Contains(pa, `uri="sip:`+waUserNum+`@wa.meta.vc;transport=tls"`) {
		t.Errorf("Proxy-Authorization %s", pa)
	}
	for _, h := range []string{"Supported", "Session-Expires", "Min-SE"} {
		if v := inv.GetHeader(h); v != nil {
			t.Errorf("INVITE to Meta carries %s: %s (no session timers toward Meta)", h, v.Value())
		}
	}
	if body := string(inv.Body()); !strings.Contains(body, "RTP/SAVP 111 126") || !strings.Contains(body, "telephone-event/8000") {
		t.Errorf("offer does not lead with Opus 111 and telephone-event 126:\n%s", body)
	}
	if n := e.meta.ALPNRefused.Load(); n != 0 {
		t.Errorf("the hub offered ALPN sip %d times", n)
	}
	if wa := c.WhatsApp(); wa == nil || wa.User != waUserNum || wa.WACID != mc.WACID || wa.Business != waBusiness {
		t.Errorf("WhatsApp info %+v (Meta's wacid %s)", wa, mc.WACID)
	}

	checkMedia(t, c, mc, digits.String)

	before := len(e.meta.Requests())
	if err := c.SetHold(context.Background(), true); !errors.Is(err, ErrReinviteRefused) {
		t.Errorf("SetHold: %v, want ErrReinviteRefused", err)
	}
	if c.State() != StateActive || c.OnHold() {
		t.Errorf("after the refused hold: state %s, on hold %v", c.State(), c.OnHold())
	}
	c.Hangup(context.Background(), 200, "agent hung up")
	select {
	case <-mc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("our BYE did not reach Meta")
	}
	if n := e.meta.Reinvites.Load(); n != 0 {
		t.Errorf("Meta got %d re-INVITEs", n)
	}
	reqs := e.meta.Requests()[before:]
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0], "BYE ") {
		t.Errorf("after the hold attempt Meta got %v, want only the BYE", reqs)
	}
	bye := mc.HubBye()
	if r := bye.GetHeader("Reason"); r == nil || r.Value() != "Q.850;cause=16" {
		t.Errorf("BYE Reason %v", r)
	}
	if r := bye.GetHeader("Route"); r == nil || r.Value() != e.meta.RecordRoute() {
		t.Errorf("BYE Route %v, want Meta's Record-Route %s", r, e.meta.RecordRoute())
	}
	if got, want := bye.Recipient.String(), mc.Response.Contact().Address.String(); got != want {
		t.Errorf("BYE Request-URI %s, want Meta's Contact %s", got, want)
	}
}

// Meta hangs up a business-initiated call: its BYE's duration and wacid
// reach WhatsApp().
func TestWhatsAppMetaHangsUp(t *testing.T) {
	e := newWAEnv(t, 28200, nil)
	tr, to, err := e.ua.WhatsAppTarget("wa", "12195550714") // digits only: taken as E.164
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to})
	if err != nil {
		t.Fatal(err)
	}
	var mc *metasip.Call
	select {
	case mc = <-e.meta.Calls():
	case <-time.After(5 * time.Second):
		t.Fatalf("Meta did not take the call (fake refused %v)", e.meta.Refusals())
	}
	waitFor(t, 3*time.Second, "the call active", func() bool { return c.State() == StateActive })
	if err := mc.Hangup(context.Background()); err != nil {
		t.Fatalf("Meta's BYE: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Meta's BYE did not end the call")
	}
	if wa := c.WhatsApp(); wa == nil || wa.Duration < 0 || wa.WACID != mc.WACID || wa.User != waUserNum {
		t.Errorf("after Meta's BYE: %+v", wa)
	}
}

// Meta refuses a From host other than the registered hostname (403): the
// call ends with that code and the hub's port pair goes back.
func TestWhatsAppWrongHostnameRefusedByMeta(t *testing.T) {
	e := newWAEnv(t, 28300, func(tr *config.Trunk) { tr.Hostname = "other.example.net" })
	tr, to, _ := e.ua.WhatsAppTarget("", waUserNum)
	c, err := e.ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("call not ended")
	}
	if code, _ := c.End(); code != 403 {
		t.Errorf("ended %d, want Meta's 403", code)
	}
	if r := e.meta.Refusals(); len(r) != 1 || !strings.Contains(r[0], "hostname") {
		t.Errorf("fake refusals %v", r)
	}
}

// User-initiated: Meta's INVITE over TLS, challenged by the hub, its
// headers (in their variant spellings) on WhatsApp(), its Record-Route kept
// in our 200 OK, media both ways, and our BYE sent along that route.
func TestWhatsAppUserInitiated(t *testing.T) {
	e := newWAEnv(t, 28400, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mc, err := e.meta.Call(ctx, metasip.UserCall{From: waUserNum, Name: "12195550714", Headers: map[string]string{
		"X-WA-Meta-User-Id":           "US.13491208655302741918",
		"x-wa-meta-username":          "someuser",
		"x-wa_meta-parent-user-id":    "US.1",
		"x-wa-meta-user-country-code": "IL",
		"x-wa-meta-cta-payload":       "conv=123;queue=billing",
		"x-wa-meta-deeplink-payload":  "from=site",
	}})
	if err != nil {
		t.Fatalf("user-initiated call: %v", err)
	}
	var c *Call
	select {
	case c = <-e.b.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("the hub did not answer")
	}
	if mc.Invite.GetHeader("Proxy-Authorization") == nil {
		t.Error("Meta's INVITE was not challenged")
	}
	wa := c.WhatsApp()
	want := WhatsAppInfo{WACID: mc.WACID, User: waUserNum, UserID: "US.13491208655302741918", ParentUserID: "US.1",
		Username: "someuser", CTAPayload: "conv=123;queue=billing", DeeplinkPayload: "from=site", Country: "IL",
		Business: waBusiness, Duration: -1}
	if wa == nil || *wa != want {
		t.Errorf("WhatsApp()\n got %+v\nwant %+v", wa, want)
	}
	if c.Trunk != "wa" {
		t.Errorf("trunk %q", c.Trunk)
	}
	rr := mc.Response.GetHeaders("Record-Route")
	if len(rr) != 1 || rr[0].Value() != e.meta.RecordRoute() {
		t.Errorf("200 OK Record-Route %v, want Meta's %s unmodified", rr, e.meta.RecordRoute())
	}
	if ct := mc.Response.Contact(); ct == nil || ct.Address.Host != waHostname || ct.Address.User != waBusiness {
		t.Errorf("200 OK Contact %v", ct)
	}
	if body := string(mc.Response.Body()); !strings.Contains(body, "RTP/SAVP 111 126") || !strings.Contains(body, "a=crypto:1 AES_CM_128_HMAC_SHA1_80") {
		t.Errorf("answer:\n%s", body)
	}

	checkMedia(t, c, mc, func() string { e.b.mu.Lock(); defer e.b.mu.Unlock(); return string(e.b.digits) })

	c.Hangup(context.Background(), 200, "agent hung up")
	select {
	case <-mc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("our BYE did not reach Meta")
	}
	bye := mc.HubBye()
	if r := bye.GetHeader("Route"); r == nil || r.Value() != e.meta.RecordRoute() {
		t.Errorf("BYE Route %v, want Meta's Record-Route", r)
	}
	if got, want := bye.Recipient.String(), mc.Invite.Contact().Address.String(); got != want {
		t.Errorf("BYE Request-URI %s, want Meta's Contact %s", got, want)
	}
	if r := bye.GetHeader("Reason"); r == nil || r.Value() != "Q.850;cause=16" {
		t.Errorf("BYE Reason %v", r)
	}
}

// Meta's INVITE with a wrong password never gets past our challenge.
func TestWhatsAppInboundChallengeRefusesWrongPassword(t *testing.T) {
	e := newWAEnv(t, 28500, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.meta.Call(ctx, metasip.UserCall{From: waUserNum, Password: "wrong"})
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) || de.Res.StatusCode != 407 {
		t.Fatalf("call with a wrong password: %v, want a final 407", err)
	}
	if len(e.b.calls) != 0 || e.ua.ActiveCalls() != 0 {
		t.Error("a call got through")
	}
}

// A Meta-looking INVITE over UDP is refused, even from the trunk's address.
func TestWhatsAppInviteOverUDPRefused(t *testing.T) {
	e := newWAEnv(t, 28600, nil)
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: waBusiness, Host: "127.0.0.1", Port: 28600})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: waUserNum, Host: "wa.meta.vc"}, Params: sip.NewParams()}
	from.Params.Add("tag", "abc")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: waUserNum, Host: "127.0.0.1"}})
	req.AppendHeader(sip.NewHeader("X-FB-External-Domain", "wa.meta.vc"))
	req.AppendHeader(sip.NewHeader("x-wa-meta-wacid", "wacid.X"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 403 || res.Reason != "TLS Required" {
		t.Errorf("answered %d %s, want 403 TLS Required", res.StatusCode, res.Reason)
	}
	if len(e.b.calls) != 0 || e.ua.ActiveCalls() != 0 {
		t.Error("a call got through")
	}
}

// The fake, like Meta, refuses a TLS client offering ALPN "sip".
func TestMetaFakeRefusesALPNSip(t *testing.T) {
	e := newWAEnv(t, 28700, nil)
	conn, err := tls.Dial("tcp", e.meta.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"sip"}})
	if err == nil {
		conn.Close()
		t.Fatal("handshake with ALPN sip succeeded")
	}
	if !strings.Contains(err.Error(), "no application protocol") {
		t.Errorf("handshake error %v, want no_application_protocol", err)
	}
}

func TestWhatsAppTargetAndUser(t *testing.T) {
	for in, want := range map[string]string{"+12195550714": "+12195550714", "12195550714": "+12195550714",
		"US.13491208655302741918": "US.13491208655302741918"} {
		if got, err := waUser(in); err != nil || got != want {
			t.Errorf("waUser(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "+0123456", "12", "sip:x@y", "a b.c", "US.1<script>", strings.Repeat("A.", 40)} {
		if _, err := waUser(bad); !errors.Is(err, ErrBadTarget) {
			t.Errorf("waUser(%q): %v, want ErrBadTarget", bad, err)
		}
	}
	if ru := waRequestURI("+1"); ru.String() != "sip:+1@wa.meta.vc;transport=tls" {
		t.Errorf("R-URI %s", ru.String())
	}
}

// Our challenge to Meta: MD5 or SHA-256 answers with the trunk's password
// pass; a wrong password, another call's nonce or a stale one do not.
func TestWhatsAppInboundDigest(t *testing.T) {
	u := &UA{log: slog.New(slog.NewTextHandler(io.Discard, nil)), nonceKey: newNonceKey()}
	tr := &config.Trunk{Provider: "whatsapp", Hostname: waHostname, Number: waBusiness, Password: waPassword}
	invite := func(callID string) *sip.Request {
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: waBusiness, Host: waHostname})
		cid := sip.CallIDHeader(callID)
		req.AppendHeader(&cid)
		return req
	}
	answer := func(req *sip.Request, nonce, alg, user, pass string) {
		cred, err := digest.Digest(&digest.Challenge{Realm: waHostname, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}},
			digest.Options{Method: "INVITE", URI: req.Recipient.String(), Username: user, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		req.RemoveHeader("Proxy-Authorization")
		req.AppendHeader(sip.NewHeader("Proxy-Authorization", cred.String()))
	}
	now := time.Now()
	for _, tc := range []struct {
		name, alg, user, pass, nonceCall string
		at                               time.Time
		ok                               bool
	}{
		{"md5", "MD5", "17015558857", waPassword, "c1", now, true},
		{"sha-256", "SHA-256", "17015558857", waPassword, "c1", now, true},
		{"wrong password", "MD5", "17015558857", "guess", "c1", now, false},
		{"wrong user", "MD5", "17015558858", waPassword, "c1", now, false},
		{"another call's nonce", "MD5", "17015558857", waPassword, "c2", now, false},
		{"stale nonce", "MD5", "17015558857", waPassword, "c1", now.Add(-2 * nonceTTL), false},
	} {
		req := invite("c1")
		answer(req, u.waNonce(invite(tc.nonceCall), tc.at), tc.alg, tc.user, tc.pass)
		if got := u.waAuthorized(req, tr); got != tc.ok {
			t.Errorf("%s: authorized %v, want %v", tc.name, got, tc.ok)
		}
	}
	if u.waAuthorized(invite("c1"), tr) {
		t.Error("no credentials authorized")
	}
}
