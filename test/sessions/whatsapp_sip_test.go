package sessions

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
}

// startWASIP: the hub on the ports of base (SIP TLS on base+3), the fake
// on base+4; the number's entry point "wa-sip" routes to the built-in queue.
func startWASIP(ctx context.Context, t *testing.T, base int) *waSIPEnv {
	t.Helper()
	hubCert, hubKey := selfSignedPair(t)
	metaCert, metaKey := selfSignedPair(t)
	meta, err := metasip.Start(metasip.Config{Listen: fmt.Sprintf("127.0.0.1:%d", base+4), CertFile: metaCert, KeyFile: metaKey,
		Business: waSIPBusiness, Hostname: waSIPHostname, Password: waSIPPassword, Hub: fmt.Sprintf("127.0.0.1:%d", base+3), HubCA: hubCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	f := notifytest.StartWhatsApp(t) // the Graph side of the same Meta app (unused by SIP calls)
	cfg := hubConfig(t, base, t.TempDir())
	cfg.SIP.ListenTLS = fmt.Sprintf("127.0.0.1:%d", base+3)
	cfg.SIP.TLSCert, cfg.SIP.TLSKey, cfg.SIP.TLSCA = hubCert, hubKey, metaCert
	cfg.SIP.Trunks = append(cfg.SIP.Trunks, config.Trunk{Name: "whatsapp", Provider: "whatsapp", URI: "sip:" + meta.Addr(), Transport: "tls",
		Codecs: []string{"opus"}, SRTP: "sdes", Hostname: waSIPHostname, Number: waSIPBusiness, Password: waSIPPassword,
		InboundFrom: []string{"127.0.0.1"}})
	cfg.WhatsApp = &config.WhatsApp{BaseURL: f.URL, Version: f.Version, AppSecret: f.AppSecret, VerifyToken: waVerify,
		Numbers: []config.WhatsAppNumber{{PhoneNumberID: f.PhoneNumberID, Number: waSIPBusiness, AccessToken: f.AccessToken, Entry: "wa-sip",
			Signalling: "sip", SIP: &config.WhatsAppSIP{Hostname: waSIPHostname, Port: base + 3, Password: waSIPPassword, SRTP: "sdes"}}}}
	cfg.Sessions.EntryPoints = append(cfg.Sessions.EntryPoints, config.EntryPoint{Name: "wa-sip"})
	cfg.Sessions.Routes = append([]config.Route{{Name: "wa-sip", Entry: "wa-sip", Target: "queue:default"}}, cfg.Sessions.Routes...)
	cfg.Log.Level = "info"
	logs := &syncBuffer{}
	h, err := testutil.StartHub(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Stop()
		if t.Failed() {
			t.Logf("hub log:\n%s", tailStr(logs.String(), 6000))
		}
	})
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ag.Close)
	for _, m := range []map[string]any{{"type": "login"}, {"type": "ready", "ready": true}} {
		if err := ag.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
		t.Fatal(err)
	}
	return &waSIPEnv{h: h, a: api{t, h.URL}, meta: meta, ag: ag, logs: logs}
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
