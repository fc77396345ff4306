package sipua

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/rtc"
	"github.com/split-hub/split/internal/sdp"
	"github.com/split-hub/split/internal/testutil/metasip"
)

// WhatsApp over SIP with DTLS-SRTP+ICE media (a provider: whatsapp trunk
// with srtp: dtls, Meta's srtp_key_exchange_protocol DTLS): the signalling
// is this package's, the media a WebRTC leg of internal/rtc — here as in
// the hub. The Meta fake's media side is notifytest's MetaPeer (ICE-lite,
// DTLS server, Opus 111).

// dtlsAnswerer answers external-media calls with the rtc engine's answer
// to Meta's offer, as the hub does.
type dtlsAnswerer struct {
	// lazy: answer with SetAnswerFunc + Answer (the leg made at answer
	// time, as the hub does); fail: that func fails
	lazy, fail bool
	e          *rtc.Engine
	calls      chan *Call
	mu         sync.Mutex
	legs       map[*Call]*rtc.Leg
	errs       []error
}

func (a *dtlsAnswerer) Incoming(c *Call) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fail := func(err error) {
			a.mu.Lock()
			a.errs = append(a.errs, err)
			a.mu.Unlock()
			c.Reject(488, "Not Acceptable Here")
		}
		if !c.ExternalMedia() || c.Audio() != nil {
			fail(errExt)
			return
		}
		if a.lazy {
			c.SetAnswerFunc(func(ctx context.Context) ([]byte, error) {
				if a.fail {
					return nil, errString("no media")
				}
				l, ans, err := a.e.AcceptOffer(ctx, string(c.RemoteSDP()), rtc.Options{AudioPrefs: []string{"opus"}})
				if err != nil {
					return nil, err
				}
				a.mu.Lock()
				a.legs[c] = l
				a.mu.Unlock()
				return []byte(ans), nil
			})
			c.Ringing()
			if a.leg(c) != nil {
				fail(errString("the answer was made before Answer"))
				return
			}
			if err := c.Answer(ctx); err != nil {
				a.mu.Lock()
				a.errs = append(a.errs, err)
				a.mu.Unlock()
				c.Hangup(ctx, 500, "Server Internal Error")
				return
			}
			a.calls <- c
			return
		}
		l, ans, err := a.e.AcceptOffer(ctx, string(c.RemoteSDP()), rtc.Options{AudioPrefs: []string{"opus"}})
		if err != nil {
			fail(err)
			return
		}
		a.mu.Lock()
		a.legs[c] = l
		a.mu.Unlock()
		c.Ringing()
		if err := c.AnswerWith(ctx, []byte(ans)); err != nil {
			_ = l.Close()
			return
		}
		a.calls <- c
	}()
}

func (a *dtlsAnswerer) leg(c *Call) *rtc.Leg {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.legs[c]
}

var errExt = errString("the call is not an external-media call without an RTP stream")

type errString string

func (e errString) Error() string { return string(e) }

type dtlsEnv struct {
	ua   *UA
	meta *metasip.Meta
	rtc  *rtc.Engine
	b    *dtlsAnswerer
}

// newDTLSEnv: the hub UA (UDP port, TLS port+1) with an srtp: dtls
// whatsapp trunk, its WebRTC engine on UDP port+50, the Meta fake in DTLS
// mode on port+2.
func newDTLSEnv(t *testing.T, port int, opts ...func(*dtlsAnswerer)) *dtlsEnv {
	t.Helper()
	hubCert, hubKey := selfSigned(t)
	metaCert, metaKey := selfSigned(t)
	meta, err := metasip.Start(metasip.Config{Listen: "127.0.0.1:" + itoa(port+2), CertFile: metaCert, KeyFile: metaKey,
		Business: waBusiness, Hostname: waHostname, Password: waPassword, Hub: "127.0.0.1:" + itoa(port+1), HubCA: hubCert, DTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	cfg := config.Default()
	cfg.WebRTC.UDPPort = port + 50
	eng, err := rtc.NewEngine(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	b := &dtlsAnswerer{e: eng, calls: make(chan *Call, 1), legs: map[*Call]*rtc.Leg{}}
	for _, o := range opts {
		o(b)
	}
	ua := testUA(t, port, port+100, b, func(c *config.Config) {
		c.SIP.ListenTLS = "127.0.0.1:" + itoa(port+1)
		c.SIP.TLSCert, c.SIP.TLSKey, c.SIP.TLSCA = hubCert, hubKey, metaCert
		c.SIP.Trunks = []config.Trunk{{Name: "wa", Provider: "whatsapp", URI: "sip:127.0.0.1:" + itoa(port+2), Transport: "tls",
			Codecs: []string{"opus"}, SRTP: "dtls", Hostname: waHostname, Number: waBusiness, Password: waPassword,
			InboundFrom: []string{"127.0.0.1"}}}
	})
	return &dtlsEnv{ua: ua, meta: meta, rtc: eng, b: b}
}

// toneOut plays hz as Opus into a WebRTC leg's outgoing track until stop,
// as the bridge would.
func toneOut(t *testing.T, tr *leg.Track, hz float64, stop <-chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	enc, err := media.NewOpusEncoder(48000, 32000)
	if err != nil {
		t.Fatal(err)
	}
	pt := tr.Send().PT
	wg.Add(1)
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
			media.GenerateTone(pcm, hz, 48000, &phase, 0.25)
			n, err := enc.Encode(pcm, out)
			if err != nil {
				continue
			}
			pkt := make([]byte, 12+n)
			pkt[0], pkt[1] = 0x80, pt
			seq++
			ts += 960
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			copy(pkt[12:], out[:n])
			_ = tr.In.WriteRTP(pkt)
		}
	}()
}

// TestWhatsAppDTLSUserInitiated: Meta's INVITE with WebRTC media (§6.3:
// UDP/TLS/RTP/SAVPF, a=fingerprint, ICE-lite candidates) on an srtp: dtls
// trunk is accepted (it is refused with 488 on an sdes one): the call has
// no RTP stream, its offer is exposed as Meta sent it, and the 200 OK
// carries exactly the answer given (the rtc engine's, DTLS client); the
// media then flows between the WebRTC leg and Meta's peer, both ways, and
// our BYE keeps Meta's Record-Route and says Reason Q.850 cause 16.
func TestWhatsAppDTLSUserInitiated(t *testing.T) {
	e := newDTLSEnv(t, 28800)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ports := e.ua.pool.InUse()
	mc, err := e.meta.Call(ctx, metasip.UserCall{From: waUserNum, Name: "12195550714"})
	if err != nil {
		t.Fatalf("user-initiated call: %v (answerer errors %v)", err, e.b.errs)
	}
	var c *Call
	select {
	case c = <-e.b.calls:
	case <-ctx.Done():
		t.Fatal("the hub did not answer")
	}
	if got := string(c.RemoteSDP()); got != string(mc.Invite.Body()) || !strings.Contains(got, "UDP/TLS/RTP/SAVPF") {
		t.Errorf("RemoteSDP is not Meta's offer as sent:\n%s", got)
	}
	if got := e.ua.pool.InUse(); got != ports {
		t.Errorf("the call allocated RTP ports: %d in use, %d before", got, ports)
	}
	if c.Audio() != nil || c.Video() != nil {
		t.Error("an external-media call has tracks of its own")
	}
	l := e.b.leg(c)
	if l == nil {
		t.Fatal("no WebRTC leg")
	}
	ans := string(mc.Response.Body())
	if ans != mc.Peer.RemoteSDP() || !strings.Contains(ans, "a=setup:active") || !strings.Contains(ans, "a=fingerprint:") || strings.Contains(ans, "a=crypto") {
		t.Errorf("the 200 OK's answer is not the WebRTC leg's (DTLS client, no SDES):\n%s", ans)
	}
	if rr := mc.Response.GetHeaders("Record-Route"); len(rr) != 1 || rr[0].Value() != e.meta.RecordRoute() {
		t.Errorf("200 OK Record-Route %v", rr)
	}
	if w := c.WhatsApp(); w == nil || w.WACID != mc.WACID || w.User != waUserNum {
		t.Errorf("WhatsApp() %+v", w)
	}
	checkDTLSMedia(ctx, t, l, mc)
	if err := c.SendDTMF(ctx, "1"); err == nil {
		t.Error("SendDTMF on a call without its own stream succeeded")
	}

	c.Hangup(context.Background(), 200, "agent hung up")
	select {
	case <-mc.Done():
	case <-ctx.Done():
		t.Fatal("our BYE did not reach Meta")
	}
	bye := mc.HubBye()
	if r := bye.GetHeader("Route"); r == nil || r.Value() != e.meta.RecordRoute() {
		t.Errorf("BYE Route %v, want Meta's Record-Route", r)
	}
	if r := bye.GetHeader("Reason"); r == nil || r.Value() != "Q.850;cause=16" {
		t.Errorf("BYE Reason %v", r)
	}
	if n := e.meta.Reinvites.Load(); n != 0 {
		t.Errorf("%d re-INVITEs", n)
	}
}

// checkDTLSMedia: ICE and DTLS come up between the WebRTC leg and Meta's
// peer; Meta's tone reaches the leg, the leg's tone reaches Meta.
func checkDTLSMedia(ctx context.Context, t *testing.T, l *rtc.Leg, mc *metasip.Call) {
	t.Helper()
	if err := mc.Peer.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	toneOut(t, l.Audio(), 700, stop, &wg)
	if err := mc.Peer.WaitTone(ctx, 700, 15); err != nil {
		t.Fatalf("the leg's tone at Meta: %v", err)
	}
	rec := newOpusRec(t)
	l.Audio().SetOutput(rec)
	var p []int16
	waitFor(t, 10*time.Second, "Meta's 440 Hz tone at the WebRTC leg", func() bool {
		p = append(p, rec.take()...)
		return len(p) >= 9600 && near(media.DominantFrequency(p[len(p)-9600:], 48000, []float64{440, 700, 1000}), 440)
	})
	st := mc.Peer.Stats()
	t.Logf("Meta's peer over DTLS-SRTP: %+v", st)
}

// TestWhatsAppDTLSBusinessInitiated: with DialOptions.Offer the INVITE to
// Meta carries the WebRTC offer as is (through Meta's 407 and our digest),
// allocates no RTP port, and Meta's answer goes to OnAnswer before the call
// turns active; a refused answer ends the call 488 with a BYE.
func TestWhatsAppDTLSBusinessInitiated(t *testing.T) {
	e := newDTLSEnv(t, 28850+100) // 28950..
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr, to, err := e.ua.WhatsAppTarget("", waUserNum)
	if err != nil {
		t.Fatal(err)
	}
	l, offer, err := e.rtc.CreateOffer(ctx, rtc.Options{AudioPrefs: []string{"opus"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ports := e.ua.pool.InUse()
	answered := make(chan string, 1)
	active := make(chan struct{})
	var once sync.Once
	c, err := e.ua.Dial(ctx, DialOptions{Trunk: tr, To: to, Offer: []byte(offer),
		OnAnswer: func(a []byte) error { answered <- string(a); return l.SetAnswer(string(a)) },
		Events: Events{OnState: func(s State, _ int, _ string) {
			if s == StateActive {
				once.Do(func() { close(active) })
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ua.pool.InUse(); got != ports {
		t.Errorf("the call allocated RTP ports: %d in use, %d before", got, ports)
	}
	var mc *metasip.Call
	select {
	case mc = <-e.meta.Calls():
	case <-ctx.Done():
		t.Fatalf("Meta did not answer; refusals %v", e.meta.Refusals())
	}
	select {
	case <-active:
	case <-ctx.Done():
		t.Fatal("the call never turned active")
	}
	select {
	case a := <-answered:
		if a != string(mc.Response.Body()) || string(c.RemoteSDP()) != a {
			t.Error("OnAnswer / RemoteSDP is not Meta's answer as sent")
		}
	default:
		t.Fatal("OnAnswer was not called before the call turned active")
	}
	if got := string(mc.Invite.Body()); got != offer {
		t.Errorf("the INVITE's body is not the offer given:\n%s", got)
	}
	if mc.Invite.GetHeader("Proxy-Authorization") == nil {
		t.Error("the INVITE that reached Meta was not the authenticated one")
	}
	checkDTLSMedia(ctx, t, l, mc)
	if err := mc.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Meta's BYE did not end the call")
	}
	if w := c.WhatsApp(); w == nil || w.Duration < 0 {
		t.Errorf("Meta's call duration not read: %+v", w)
	}
}

// TestWhatsAppDTLSMediaRefusal: the trunk's srtp decides which offers are
// taken — SDES on a dtls trunk and DTLS on an sdes one are refused with
// 488 and a Warning that says what is required; so is a DTLS offer without
// a fingerprint or without ICE.
func TestWhatsAppDTLSMediaRefusal(t *testing.T) {
	sdes := &config.Trunk{SRTP: "sdes"}
	dtls := &config.Trunk{SRTP: "dtls"}
	webrtcOffer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\nm=audio 3480 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 157.240.19.130\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\na=ice-ufrag:x\r\na=ice-pwd:yyyyyyyyyyyyyyyyyyyyyy\r\n" +
		"a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=sendrecv\r\n"
	sdesOffer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 3480 RTP/SAVP 111\r\nc=IN IP4 127.0.0.1\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
	for _, c := range []struct {
		name  string
		t     *config.Trunk
		body  string
		wantW string // "" : accepted
	}{
		{"dtls offer on dtls trunk", dtls, webrtcOffer, ""},
		{"sdes offer on dtls trunk", dtls, sdesOffer, "DTLS-SRTP required"},
		{"no body on dtls trunk", dtls, "", "SDP offer"},
		{"no fingerprint", dtls, strings.Replace(webrtcOffer, "a=fingerprint:sha-256 00:11\r\n", "", 1), "no a=fingerprint"},
		{"no ICE", dtls, strings.Replace(webrtcOffer, "a=ice-ufrag:x\r\n", "", 1), "ICE required"},
		{"no opus", dtls, strings.Replace(webrtcOffer, "opus/48000/2", "PCMU/8000", 1), "Opus required"},
		{"sdes offer on sdes trunk", sdes, sdesOffer, ""},
		{"dtls offer on sdes trunk", sdes, webrtcOffer, "SDES-SRTP required"},
	} {
		_, w := waMediaRefusal(c.t, []byte(c.body))
		if (c.wantW == "") != (w == "") || !strings.Contains(w, c.wantW) {
			t.Errorf("%s: warning %q, want %q", c.name, w, c.wantW)
		}
	}
}

// FuzzWAMediaRefusal: whatever SDP an INVITE carries, the media check of a
// whatsapp trunk never panics, an accepted body on a dtls trunk is a DTLS
// offer with Opus, and a refusal always says why in a well-formed Warning.
func FuzzWAMediaRefusal(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 3480 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"+
		"a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:x\r\na=fingerprint:sha-256 00\r\n"), true)
	f.Add([]byte("v=0\r\nm=audio 1 RTP/SAVP 111\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"), false)
	f.Fuzz(func(t *testing.T, body []byte, dtls bool) {
		tr := &config.Trunk{SRTP: "sdes"}
		if dtls {
			tr.SRTP = "dtls"
		}
		metric, warning := waMediaRefusal(tr, body)
		if (metric == "") != (warning == "") {
			t.Fatalf("metric %q warning %q", metric, warning)
		}
		if warning != "" && (!strings.HasPrefix(warning, `399 split "`) || strings.ContainsAny(warning, "\r\n")) {
			t.Fatalf("malformed Warning %q", warning)
		}
		if dtls && warning == "" && len(body) > 0 {
			if s, err := sdp.Parse(body); err == nil {
				if a := s.First("audio"); a != nil {
					if _, ok := a.Find("opus", 48000); !ok || !isDTLSMedia(a) {
						t.Fatalf("accepted a non-DTLS or Opus-less offer:\n%q", body)
					}
				}
			}
		}
	})
}

// TestWhatsAppDTLSAnswerFunc: SetAnswerFunc's answer is asked for when the
// call is answered, not before (the hub makes the WebRTC leg then), and
// the 200 OK carries it; a func that fails leaves the INVITE unanswered,
// and the hang-up refuses it.
func TestWhatsAppDTLSAnswerFunc(t *testing.T) {
	t.Run("answer", func(t *testing.T) {
		e := newDTLSEnv(t, 29900, func(a *dtlsAnswerer) { a.lazy = true })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mc, err := e.meta.Call(ctx, metasip.UserCall{From: waUserNum})
		if err != nil {
			t.Fatalf("%v (answerer: %v)", err, e.b.errs)
		}
		c := <-e.b.calls
		if l := e.b.leg(c); l == nil || string(mc.Response.Body()) != mc.Peer.RemoteSDP() || !strings.Contains(string(mc.Response.Body()), "a=setup:active") {
			t.Fatalf("the 200 OK does not carry the func's answer:\n%s", mc.Response.Body())
		}
		checkDTLSMedia(ctx, t, e.b.leg(c), mc)
		c.Hangup(ctx, 200, "done")
	})
	t.Run("func fails", func(t *testing.T) {
		e := newDTLSEnv(t, 29950, func(a *dtlsAnswerer) { a.lazy, a.fail = true, true })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := e.meta.Call(ctx, metasip.UserCall{From: waUserNum})
		if err == nil || !strings.Contains(err.Error(), "500") {
			t.Fatalf("Meta's call: %v, want a 500 refusal", err)
		}
		e.b.mu.Lock()
		defer e.b.mu.Unlock()
		if len(e.b.errs) != 1 || !strings.Contains(e.b.errs[0].Error(), "no media") {
			t.Errorf("Answer's error: %v", e.b.errs)
		}
	})
}
