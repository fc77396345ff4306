package sessions

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/metasip"
)

// WhatsApp mode, SIP signalling: Meta's INVITE for a user-initiated call
// arrives over TLS on a provider: whatsapp trunk (the contract fake of
// Meta's SIP side, internal/testutil/metasip: digest, SDES-SRTP, Opus,
// Record-Route, x-wa-meta-* headers) and becomes the customer leg of a
// WhatsApp session routed by the number's entry point.

const (
	waSIPBusiness = "+17015558857"
	waSIPHostname = "sip.hub.example.com"
	waSIPPassword = "meta-generated-Secret"
	waSIPUser     = "+12195550714"
	waSIPProfile  = "Sheena Nelson"
)

// selfSignedPair writes a self-signed certificate for 127.0.0.1 and its key.
func selfSignedPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, DNSNames: []string{waSIPHostname},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// waSIPEnv is a hub with a provider: whatsapp trunk toward the Meta SIP
// fake and agent1's console, logged in and ready.
type waSIPEnv struct {
	h    *testutil.Hub
	a    api
	meta *metasip.Meta
	ag   *testutil.SessionPeer
	logs *syncBuffer
	f    *notifytest.WhatsAppFake // the Graph side (permissions of business-initiated calls)
}

// startWASIP: the hub on the ports of base (SIP TLS on base+3), the fake
// on base+4; the number's entry point "wa-sip" routes to the built-in queue.
func startWASIP(ctx context.Context, t *testing.T, base int) *waSIPEnv {
	t.Helper()
	return startWASIPMedia(ctx, t, base, "sdes")
}

// startWASIPMedia is startWASIP with the trunk's srtp (sdes, or dtls: the
// fake's media is then notifytest's MetaPeer playing toneWhatsApp).
func startWASIPMedia(ctx context.Context, t *testing.T, base int, srtp string, metaOpts ...func(*metasip.Config)) *waSIPEnv {
	t.Helper()
	hubCert, hubKey := selfSignedPair(t)
	metaCert, metaKey := selfSignedPair(t)
	mcfg := metasip.Config{Listen: fmt.Sprintf("127.0.0.1:%d", base+4), CertFile: metaCert, KeyFile: metaKey,
		Business: waSIPBusiness, Hostname: waSIPHostname, Password: waSIPPassword, Hub: fmt.Sprintf("127.0.0.1:%d", base+3), HubCA: hubCert,
		DTLS: srtp == "dtls", Peer: notifytest.MetaPeerOptions{ToneHz: toneWhatsApp}}
	for _, o := range metaOpts {
		o(&mcfg)
	}
	meta, err := metasip.Start(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	f := notifytest.StartWhatsApp(t) // the Graph side of the same Meta app (unused by SIP calls)
	cfg := hubConfig(t, base, t.TempDir())
	cfg.SIP.ListenTLS = fmt.Sprintf("127.0.0.1:%d", base+3)
	cfg.SIP.TLSCert, cfg.SIP.TLSKey, cfg.SIP.TLSCA = hubCert, hubKey, metaCert
	cfg.SIP.Trunks = append(cfg.SIP.Trunks, config.Trunk{Name: "whatsapp", Provider: "whatsapp", URI: "sip:" + meta.Addr(), Transport: "tls",
		Codecs: []string{"opus"}, SRTP: srtp, Hostname: waSIPHostname, Number: waSIPBusiness, Password: waSIPPassword,
		InboundFrom: []string{"127.0.0.1"}})
	cfg.WhatsApp = &config.WhatsApp{BaseURL: f.URL, Version: f.Version, AppSecret: f.AppSecret, VerifyToken: waVerify,
		Numbers: []config.WhatsAppNumber{{PhoneNumberID: f.PhoneNumberID, Number: waSIPBusiness, AccessToken: f.AccessToken, Entry: "wa-sip",
			Signalling: "sip", SIP: &config.WhatsAppSIP{Hostname: waSIPHostname, Port: base + 3, Password: waSIPPassword, SRTP: srtp}}}}
	cfg.Sessions.EntryPoints = append(cfg.Sessions.EntryPoints, config.EntryPoint{Name: "wa-sip"})
	cfg.Sessions.Routes = append([]config.Route{{Name: "wa-sip", Entry: "wa-sip", Target: "queue:default"}}, cfg.Sessions.Routes...)
	cfg.Log.Level = "debug" // the received digits are logged at debug only
	logs := &syncBuffer{}
	h, err := testutil.StartHub(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Stop()
		if t.Failed() {
			t.Logf("hub log:\n%s", tailStr(logs.String(), 6000))
		}
	})
	ag := readyAgent(ctx, t, h, false)
	return &waSIPEnv{h: h, a: api{t, h.URL}, meta: meta, ag: ag, logs: logs, f: f}
}

// metaHeard is the dominant tone among tonesWA in the last second the fake
// decoded (48 kHz), and its level.
func metaHeard(c *metasip.Call) (float64, float64) {
	p := c.Media.PCM()
	if len(p) > 48000 {
		p = p[len(p)-48000:]
	}
	if len(p) < 9600 {
		return 0, 0
	}
	hz := media.DominantFrequency(p, 48000, tonesWA)
	return hz, media.ToneLevel(p, hz, 48000)
}

// TestWhatsAppSIPToAgent: Meta's INVITE (TLS, digest-challenged by the hub,
// SDES-SRTP Opus, x-wa-meta-* headers) for a user-initiated call becomes a
// WhatsApp session at the number's entry point, served by the built-in
// queue: agent1's console rings, and the INVITE stays unanswered until the
// agent answers; then the hub's 200 OK carries the call. Tones cross both
// ways over SRTP (Opus ⇄ PCMU for the console), and the digits the user
// presses reach the hub as RFC 4733. Then either end hangs up:
//   - user: Meta's BYE (x-wa-meta-call-duration) ends the session 200
//     "Customer hung up" and the agent is told;
//   - agent: the hub's BYE reaches the fake through Meta's Record-Route,
//     with Reason Q.850 cause 16.
func TestWhatsAppSIPToAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	for i, who := range []string{"user", "agent"} {
		t.Run(who+" hangs up", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			e := startWASIP(ctx, t, 29000+200*i)
			type answer struct {
				c   *metasip.Call
				err error
				at  time.Time
			}
			answered := make(chan answer, 1)
			go func() {
				c, err := e.meta.Call(ctx, metasip.UserCall{From: waSIPUser, Name: strings.TrimPrefix(waSIPUser, "+"),
					Headers: map[string]string{"x-wa-meta-user-id": "US.13491208655302741918", "x-wa-meta-user-name": waSIPProfile,
						"x-wa-meta-cta-payload": "conv=123;queue=billing"}})
				answered <- answer{c, err, time.Now()}
			}()
			o, err := e.ag.WaitFor(ctx, isType("offer"))
			if err != nil {
				t.Fatal(err)
			}
			sid := o.Session
			_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
			cust, _ := s["customer"].(map[string]any)
			cctx, _ := cust["context"].(map[string]any)
			if s["mode"] != "whatsapp" || s["entry_point"] != "wa-sip" || cust["name"] != waSIPProfile || cust["contact"] != waSIPUser ||
				cctx["cta_payload"] != "conv=123;queue=billing" {
				t.Errorf("the session: mode %v entry point %v customer %v", s["mode"], s["entry_point"], cust)
			}
			// ringing: the INVITE is not answered before the agent answers
			select {
			case r := <-answered:
				t.Fatalf("Meta's INVITE was answered while the console rang (%v)", r.err)
			default:
			}
			acceptAt := time.Now()
			if err := e.ag.Accept(ctx, o); err != nil {
				t.Fatal(err)
			}
			var r answer
			select {
			case r = <-answered:
			case <-ctx.Done():
				t.Fatal("Meta's INVITE was never answered")
			}
			if r.err != nil {
				t.Fatalf("Meta's call: %v (refusals %v)", r.err, e.meta.Refusals())
			}
			c := r.c
			if r.at.Before(acceptAt) {
				t.Errorf("200 OK at %s, before the agent answered at %s", r.at.Format(time.StampMicro), acceptAt.Format(time.StampMicro))
			}
			c.Media.SetTone(toneWhatsApp)
			waitUntil(t, 15*time.Second, "the agent's voice at the WhatsApp user (SRTP Opus)", func() bool {
				hz, _ := metaHeard(c)
				return hz == toneAgent1
			})
			waitUntil(t, 15*time.Second, "the WhatsApp user's voice at the agent", func() bool { return e.ag.DominantHz(tonesWA) == toneWhatsApp })
			waitUntil(t, 15*time.Second, "100 packets each way", func() bool {
				return c.Media.Received.Load() >= 100 && e.ag.AudioPackets() >= 100
			})
			hz, lv := metaHeard(c)
			t.Logf("Meta (SIP): sent %d, received %d SRTP Opus packets, heard %.0f Hz at level %.3f; agent heard %d packets, %.0f Hz at level %.3f",
				c.Media.Sent.Load(), c.Media.Received.Load(), hz, lv, e.ag.AudioPackets(), e.ag.DominantHz(tonesWA), e.ag.ToneLevel(toneWhatsApp))
			if lv < 0.05 || e.ag.ToneLevel(toneWhatsApp) < 0.05 {
				t.Errorf("tone levels: at Meta %.3f, at the agent %.3f (want ≥ 0.05)", lv, e.ag.ToneLevel(toneWhatsApp))
			}
			if n := e.meta.Reinvites.Load(); n != 0 {
				t.Errorf("the hub re-INVITEd Meta %d times (Meta answers 500 and drops the call)", n)
			}
			// DTMF from WhatsApp: the hub's SIP leg decodes the RFC 4733
			// events (a built-in agent has no use for them; an ACD's IVR
			// does: TestWhatsAppDTMFToACD).
			c.Media.SendDTMF("159#")
			waitUntil(t, 10*time.Second, "the digits at the hub's SIP leg", func() bool {
				return loggedDigits(e.logs.String()) == "159#"
			})

			switch who {
			case "user":
				if err := c.Hangup(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := e.ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == sid }); err != nil {
					t.Fatalf("the agent was not told: %v", err)
				}
				waitUntil(t, 10*time.Second, "the session's end", func() bool {
					_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
					return s["state"] == "ended"
				})
				if _, s := e.a.do("GET", "/v1/sessions/"+sid, nil); s["cause_code"] != float64(200) || s["cause"] != "Customer hung up" {
					t.Errorf("the session ended with %v %v, want 200 Customer hung up", s["cause_code"], s["cause"])
				}
				if c.HubBye() != nil {
					t.Error("the hub sent a BYE for a call Meta ended")
				}
				// what Meta bills (x-wa-meta-call-duration) is in the call record
				maxDur := time.Since(r.at).Seconds() + 1
				waitUntil(t, 10*time.Second, "whatsapp.terminated with Meta's call duration", func() bool {
					_, ev := e.a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
					evs, _ := ev["events"].([]any)
					for _, x := range evs {
						x, _ := x.(map[string]any)
						d, _ := x["data"].(map[string]any)
						if n, ok := d["duration_s"].(float64); ok && x["type"] == "whatsapp.terminated" && n >= 0 && n <= maxDur {
							return true
						}
					}
					return false
				})
			case "agent":
				if err := e.ag.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
					t.Fatal(err)
				}
				select {
				case <-c.Done():
				case <-ctx.Done():
					t.Fatalf("the hub's BYE never reached Meta; Meta saw %v", e.meta.Requests())
				}
				bye := c.HubBye()
				if bye == nil {
					t.Fatalf("the call ended without the hub's BYE; Meta saw %v", e.meta.Requests())
				}
				route, reason := headerValue(bye, "Route"), headerValue(bye, "Reason")
				if !strings.Contains(route, strings.Trim(e.meta.RecordRoute(), "<>")) {
					t.Errorf("the hub's BYE has Route %q; want Meta's Record-Route %s", route, e.meta.RecordRoute())
				}
				if !strings.Contains(reason, "Q.850") || !strings.Contains(reason, "cause=16") {
					t.Errorf("the hub's BYE has Reason %q; want Q.850;cause=16", reason)
				}
				t.Logf("the hub's BYE: %s; Route: %s; Reason: %s", bye.Method.String()+" "+bye.Recipient.String(), route, reason)
				waitUntil(t, 10*time.Second, "the session's end", func() bool {
					_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
					return s["state"] == "ended"
				})
				if _, s := e.a.do("GET", "/v1/sessions/"+sid, nil); s["cause_code"] != float64(200) || s["cause"] != "Agent hung up" {
					t.Errorf("the session ended with %v %v, want 200 Agent hung up", s["cause_code"], s["cause"])
				}
			}
			// the call record keeps the SIP leg's figures
			waitUntil(t, 10*time.Second, "leg.media of the WhatsApp SIP leg", func() bool {
				_, ev := e.a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
				evs, _ := ev["events"].([]any)
				for _, x := range evs {
					x, _ := x.(map[string]any)
					d, _ := x["data"].(map[string]any)
					if x["type"] == "leg.media" && d["side"] == nil && d["packets_received"] != nil {
						if n, _ := d["packets_received"].(float64); n >= 100 {
							return true
						}
					}
				}
				return false
			})
		})
	}
}

var digitRE = regexp.MustCompile(`msg="DTMF received".* digit=(\S+)`)

// loggedDigits are the digits the hub's log says its SIP legs received.
func loggedDigits(log string) string {
	var b strings.Builder
	for _, m := range digitRE.FindAllStringSubmatch(log, -1) {
		b.WriteString(m[1])
	}
	return b.String()
}

// headerValue joins the values of a request's headers called name.
func headerValue(req *sip.Request, name string) string {
	var vs []string
	for _, h := range req.GetHeaders(name) {
		vs = append(vs, h.Value())
	}
	return strings.Join(vs, ", ")
}

// dtmfACD is an external ACD's queue in miniature (sipgo + a UDP RTP
// socket): it answers every INVITE at once with PCMU + telephone-event
// (the payload type of the hub's offer), plays a tone, and decodes the
// RFC 4733 digits and the From header it receives.
type dtmfACD struct {
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	dsc  *sipgo.DialogServerCache
	rtp  *net.UDPConn
	tone [][]byte
	wg   sync.WaitGroup
	stop chan struct{}

	mu      sync.Mutex
	from    string // the INVITE's From header
	digits  string
	tePkts  int
	pcmPkts int
	dest    *net.UDPAddr
	tePT    uint8
	out     []byte // digits to send (the IVR's own RFC 4733 events)
}

// sendDigits queues RFC 4733 events toward the hub (an IVR dialling on).
func (a *dtmfACD) sendDigits(d string) {
	a.mu.Lock()
	a.out = append(a.out, d...)
	a.mu.Unlock()
}

var (
	sdpConnRE = regexp.MustCompile(`c=IN IP4 ([0-9.]+)`)
	sdpPortRE = regexp.MustCompile(`m=audio ([0-9]+) `)
	sdpTERE   = regexp.MustCompile(`a=rtpmap:([0-9]+) telephone-event/8000`)
)

func startDTMFACD(t *testing.T, addr string) *dtmfACD {
	t.Helper()
	a := &dtmfACD{stop: make(chan struct{})}
	var err error
	if a.tone, err = testutil.ToneFrames(testutil.CodecPCMU, toneAgent1, testutil.DefaultAmplitude); err != nil {
		t.Fatal(err)
	}
	if a.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if a.ua, err = sipgo.NewUA(sipgo.WithUserAgent("mini-acd"), sipgo.WithUserAgentHostname("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if a.srv, err = sipgo.NewServer(a.ua); err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(a.ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	a.dsc = sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "acd", Host: host, Port: pn}})
	a.srv.OnInvite(a.onInvite)
	a.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = a.dsc.ReadAck(req, tx) })
	a.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = a.dsc.ReadBye(req, tx) })
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	a.wg.Add(3)
	go func() { defer a.wg.Done(); _ = a.srv.ServeUDP(pc) }()
	go a.read()
	go a.send()
	t.Cleanup(func() {
		close(a.stop)
		_ = a.ua.Close()
		_ = pc.Close()
		_ = a.rtp.Close()
		a.wg.Wait()
	})
	return a
}

func (a *dtmfACD) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	body := string(req.Body())
	c, p, te := sdpConnRE.FindStringSubmatch(body), sdpPortRE.FindStringSubmatch(body), sdpTERE.FindStringSubmatch(body)
	if c == nil || p == nil || te == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := a.dsc.ReadInvite(req, tx)
	if err != nil {
		return
	}
	pt, _ := strconv.Atoi(te[1])
	dest, _ := net.ResolveUDPAddr("udp4", c[1]+":"+p[1])
	a.mu.Lock()
	a.from, a.dest, a.tePT = req.From().Value(), dest, uint8(pt)
	a.mu.Unlock()
	port := a.rtp.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=acd 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 %d\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n",
		port, pt, pt, pt)
	res := sip.NewResponseFromRequest(dlg.InviteRequest, 200, "OK", []byte(sdp))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	_ = dlg.WriteResponse(res) // returns once the ACK came (or never will)
}

func (a *dtmfACD) read() {
	defer a.wg.Done()
	var det media.DTMFDetector
	buf := make([]byte, 1500)
	for {
		n, err := a.rtp.Read(buf)
		if err != nil {
			return
		}
		hl, _, err := media.RTPHeaderLen(buf[:n])
		if err != nil {
			continue
		}
		a.mu.Lock()
		switch pt := buf[1] & 0x7f; {
		case pt == a.tePT:
			a.tePkts++
			if d, ok := det.Push(binary.BigEndian.Uint32(buf[4:8]), buf[hl:n]); ok {
				a.digits += string(d)
			}
		case pt == 0:
			a.pcmPkts++
		}
		a.mu.Unlock()
	}
}

// send plays the tone to the hub once the call is up (Meta's relay sends
// nothing until the business's media arrives).
func (a *dtmfACD) send() {
	defer a.wg.Done()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	pkt := make([]byte, 12+160)
	var seq uint16
	var ts uint32
	for i := 0; ; i++ {
		select {
		case <-a.stop:
			return
		case <-tk.C:
		}
		a.mu.Lock()
		dest, te := a.dest, a.tePT
		var digit byte
		if len(a.out) > 0 {
			digit, a.out = a.out[0], a.out[1:]
		}
		a.mu.Unlock()
		if dest == nil {
			continue
		}
		if digit != 0 {
			// one event: 5 packets of 20 ms, the last 3 with the end bit (RFC 4733 §2.5.1.4)
			code, _ := media.DigitToEvent(rune(digit))
			for k := 0; k < 5; k++ {
				ev := make([]byte, 16)
				ev[0], ev[1] = 0x80, te
				if k == 0 {
					ev[1] |= 0x80 // marker: the event starts
				}
				binary.BigEndian.PutUint16(ev[2:], seq)
				binary.BigEndian.PutUint32(ev[4:], ts)
				binary.BigEndian.PutUint32(ev[8:], 0x5eed)
				ev[12] = code
				ev[13] = 10
				if k >= 2 {
					ev[13] |= 0x80
				}
				binary.BigEndian.PutUint16(ev[14:], uint16(160*min(k+1, 3)))
				_, _ = a.rtp.WriteToUDP(ev, dest)
				seq++
			}
			ts += 160 * 6
			continue
		}
		f := a.tone[i%len(a.tone)]
		pkt = pkt[:12+len(f)]
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], 0x5eed)
		copy(pkt[12:], f)
		_, _ = a.rtp.WriteToUDP(pkt, dest)
		seq++
		ts += uint32(len(f))
	}
}

func (a *dtmfACD) seen() (from, digits string, te, pcm int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.from, a.digits, a.tePkts, a.pcmPkts
}

// TestWhatsAppDTMFToACD: a WhatsApp user (Graph signalling, Meta's media
// relay) is routed to an external ACD over SIP; the digits pressed on
// WhatsApp (RFC 4733 on Meta's telephone-event/8000, PT 126) reach the ACD
// as RFC 4733 on the payload type the hub offered it, each digit once and
// in order — an ACD's IVR keeps working. The ACD's INVITE shows the
// WhatsApp number as caller ID and the profile name as display name.
func TestWhatsAppDTMFToACD(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	const base = 29400
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acdAddr := fmt.Sprintf("127.0.0.1:%d", base+90) // the "pbx" trunk of hubConfig
	acd := startDTMFACD(t, acdAddr)
	f := notifytest.StartWhatsApp(t)
	cfg := hubConfig(t, base, t.TempDir())
	waConfig(cfg, f, "")
	cfg.Sessions.Routes[0].Target = "sip:support@" + acdAddr
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	subscribe(t, ctx, f, h)

	call, err := f.UserCalls(ctx, waUser, "Sheena Nelson", notifytest.WithToneHz(toneWhatsApp))
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatal(err)
	}
	if from, _, _, _ := acd.seen(); !strings.Contains(from, `"Sheena Nelson"`) || !strings.Contains(from, "<sip:"+waUser+"@") {
		t.Errorf("the ACD's From: %s; want the profile name and the WhatsApp number", from)
	}
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := call.Peer().WaitTone(wctx, toneAgent1, 30); err != nil {
		from, d, te, pcm := acd.seen()
		t.Fatalf("the ACD's voice at the WhatsApp user: %v (the ACD: From %s, digits %q, %d telephone-event and %d PCMU packets in)", err, from, d, te, pcm)
	}
	if err := call.SendDTMF(ctx, "7*09#"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the digits at the ACD", func() bool {
		_, d, _, _ := acd.seen()
		return d == "7*09#"
	})
	_, d, te, pcm := acd.seen()
	st := call.Peer().Stats()
	t.Logf("the ACD got %q in %d telephone-event packets, and %d PCMU packets; Meta sent %d telephone-event packets",
		d, te, pcm, st.DTMFOut)
	// and the other way: the IVR's digits reach the WhatsApp user as RFC 4733 on Meta's PT 126
	acd.sendDigits("42#")
	if err := call.Peer().WaitDigits(ctx, "42#"); err != nil {
		t.Fatalf("the ACD's digits at the WhatsApp user: %v (%+v)", err, call.Peer().Stats())
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
}
