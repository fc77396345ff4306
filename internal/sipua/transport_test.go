package sipua

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
)

func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// OPTIONS over a TLS listener gets 200 with Allow.
func TestOptionsOverTLS(t *testing.T) {
	cert, key := selfSigned(t)
	testUA(t, 26201, 26300, &answerer{}, func(c *config.Config) {
		c.SIP.ListenTLS = "127.0.0.1:26261"
		c.SIP.TLSCert, c.SIP.TLSKey = cert, key
	})
	ua, err := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 26261})
	req.SetTransport("TLS")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.GetHeader("Allow") == nil || !strings.Contains(res.GetHeader("Allow").Value(), "INVITE") {
		t.Fatalf("OPTIONS: %d %v", res.StatusCode, res.GetHeader("Allow"))
	}
}

// A call over TCP to a trunk with transport tcp, carrying a session timer:
// the answer echoes Session-Expires with a refresher, and a refreshing UPDATE
// without SDP is accepted.
func TestCallOverTCPWithSessionTimer(t *testing.T) {
	b := &answerer{calls: make(chan *Call, 1)}
	testUA(t, 26401, 26500, b, func(c *config.Config) {
		c.SIP.ListenTCP = "127.0.0.1:26401"
		c.SIP.Allow = []string{"127.0.0.1"}
	})
	ua := testUA(t, 26400, 26600, &answerer{}, func(c *config.Config) {
		c.SIP.ListenTCP = "127.0.0.1:26400" // as by default: UDP and TCP on one port
		trunkTo(26401, "")(c)
		c.SIP.Trunks[0].Transport = "tcp"
	})
	tr, to, _ := ua.Resolve("bob")
	ca, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice",
		Headers: []sip.Header{sip.NewHeader("Session-Expires", "1800")}})
	if err != nil {
		t.Fatal(err)
	}
	var cb *Call
	select {
	case cb = <-b.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("not answered over TCP")
	}
	if !strings.EqualFold(cb.invite.Transport(), "TCP") {
		t.Errorf("INVITE arrived over %s", cb.invite.Transport())
	}
	deadline := time.Now().Add(2 * time.Second)
	for ca.State() != StateActive && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	res := ca.client.InviteResponse
	if se := res.GetHeader("Session-Expires"); se == nil || !strings.Contains(se.Value(), "refresher=") {
		t.Errorf("200 OK lacks Session-Expires with refresher: %v", se)
	}
	upd := sip.NewRequest(sip.UPDATE, ca.remoteTarget())
	upd.AppendHeader(sip.NewHeader("Session-Expires", "1800;refresher=uac"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ures, err := ca.client.Do(ctx, upd)
	if err != nil || ures.StatusCode != 200 {
		t.Fatalf("session refresh UPDATE: %v %v", ures, err)
	}
	ca.Hangup(context.Background(), 200, "bye")
	select {
	case <-cb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("BYE over TCP did not arrive")
	}
}

// A trunk with transport tls: the INVITE and the BYE go over TLS, and the
// trunk's certificate is checked against sip.tls_ca.
func TestCallOverTLSTrunk(t *testing.T) {
	cert, key := selfSigned(t)
	b := &answerer{calls: make(chan *Call, 1)}
	testUA(t, 26701, 26800, b, func(c *config.Config) {
		c.SIP.ListenTLS = "127.0.0.1:26761"
		c.SIP.TLSCert, c.SIP.TLSKey = cert, key
		c.SIP.Allow = []string{"127.0.0.1"}
	})
	ua := testUA(t, 26700, 26900, &answerer{}, func(c *config.Config) {
		trunkTo(26761, "")(c)
		c.SIP.Trunks[0].Transport = "tls"
		c.SIP.TLSCA = cert // self-signed: the certificate is its own CA
	})
	tr, to, _ := ua.Resolve("bob")
	ca, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var cb *Call
	select {
	case cb = <-b.calls:
	case <-time.After(5 * time.Second):
		code, reason := ca.End()
		t.Fatalf("not answered over TLS (caller ended %d %s)", code, reason)
	}
	if !strings.EqualFold(cb.invite.Transport(), "TLS") {
		t.Errorf("INVITE arrived over %s, want TLS", cb.invite.Transport())
	}
	deadline := time.Now().Add(2 * time.Second)
	for ca.State() != StateActive && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ca.Hangup(context.Background(), 200, "bye")
	select {
	case <-cb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("BYE over TLS did not arrive")
	}
}

func TestTLSTrunkRefusesUntrustedCertificate(t *testing.T) {
	cert, key := selfSigned(t)
	b := &answerer{calls: make(chan *Call, 1)}
	testUA(t, 27001, 27100, b, func(c *config.Config) {
		c.SIP.ListenTLS = "127.0.0.1:27061"
		c.SIP.TLSCert, c.SIP.TLSKey = cert, key
		c.SIP.Allow = []string{"127.0.0.1"}
	})
	ua := testUA(t, 27000, 27200, &answerer{}, func(c *config.Config) {
		trunkTo(27061, "")(c)
		c.SIP.Trunks[0].Transport = "tls" // no tls_ca: the system roots do not know this certificate
	})
	tr, to, _ := ua.Resolve("bob")
	c, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "alice"})
	if err == nil {
		select {
		case <-c.Done():
		case <-time.After(40 * time.Second):
			t.Fatal("call to an untrusted TLS trunk neither failed nor ended")
		}
	}
	if len(b.calls) != 0 {
		t.Fatal("the INVITE reached a trunk whose certificate is not trusted")
	}
}
