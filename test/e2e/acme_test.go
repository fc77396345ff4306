package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The hub gets its HTTPS certificate from a real ACME server: Pebble
// (Debian `pebble`, Let's Encrypt's test CA) with pebble-challtestsrv as
// its DNS, resolving every name to 127.0.0.1, inside the loopback-only
// network namespace. Pebble validates the hub's answer to the challenge
// over the network like Let's Encrypt does: TLS-ALPN-01 on the HTTPS
// listener, or HTTP-01 on http.acme.http_listen when TLS-ALPN-01 cannot
// reach the hub.
const (
	acmeHost     = "hub.split.test"
	acmeHTTPS    = "127.0.0.1:5001" // Pebble's tlsPort: the hub's HTTPS listener
	acmeHTTP01   = "127.0.0.1:5002" // Pebble's httpPort: the hub's http_listen
	pebbleDir    = "https://127.0.0.1:14000/dir"
	pebbleMgmt   = "https://127.0.0.1:15000"
	pebbleDNS    = "127.0.0.1:8053"
	acmeNoListen = 5009 // a port nobody listens on
)

func TestACMEWithPebble(t *testing.T) {
	needPeers(t, "pebble", "pebble-challtestsrv")
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	caFile := pebbleCert(t, dir)
	dns := startProc(t, "challtestsrv", exec.Command("pebble-challtestsrv", "-defaultIPv6", "", "-defaultIPv4", "127.0.0.1",
		"-dns01", pebbleDNS, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:8055"))
	_ = dns

	t.Run("tls-alpn-01, then from the cache with the CA gone", func(t *testing.T) {
		pebble := startPebble(t, dir, caFile, 5001)
		cache := filepath.Join(dir, "cache-alpn")
		hub := startACMEHub(t, bin, caFile, cache)
		waitLog(t, hub.logs, `msg="ACME: certificate ready" component=acme hostname=`+acmeHost, 90*time.Second)
		roots := pebbleRoots(t, caFile)
		cert := httpsHealth(t, roots, acmeHost)
		if !strings.Contains(cert.Issuer.CommonName, "Pebble") || !contains(cert.DNSNames, acmeHost) {
			t.Fatalf("certificate: issuer %q, names %v", cert.Issuer.CommonName, cert.DNSNames)
		}
		// operators alert on expiry from /metrics
		exp := httpsGet(t, roots, acmeHost, "/metrics")
		m := regexp.MustCompile(`split_tls_certificate_expiry_timestamp_seconds\{hostname="` + regexp.QuoteMeta(acmeHost) + `"\} (\S+)`).FindStringSubmatch(exp)
		if m == nil {
			t.Fatal("no split_tls_certificate_expiry_timestamp_seconds for the host name in /metrics")
		}
		if v, _ := strconv.ParseFloat(m[1], 64); int64(v) != cert.NotAfter.Unix() {
			t.Errorf("expiry metric %s, certificate's notAfter %d", m[1], cert.NotAfter.Unix())
		}
		// another name: refused by the host policy, nothing asked of the CA
		if _, err := tlsDial(roots, "evil.split.test"); err == nil {
			t.Fatal("a handshake for a name not in http.acme was served")
		}
		for _, line := range strings.Split(hub.logs.String(), "\n") {
			if strings.Contains(line, "evil.split.test") && !strings.Contains(line, "level=DEBUG") {
				t.Errorf("a handshake for a foreign name logged above debug (scanners would flood the logs): %s", line)
			}
		}
		// no http_listen: nothing on port 80's stand-in
		if _, err := net.DialTimeout("tcp", acmeHTTP01, time.Second); err == nil {
			t.Error("an HTTP-01 listener without http.acme.http_listen")
		}
		hub.stop(t)
		pebble.stop(t)
		// restart with the CA gone: the certificate comes from cache_dir
		hub2 := startACMEHub(t, bin, caFile, cache)
		cert2 := httpsHealth(t, roots, acmeHost)
		if !bytes.Equal(cert2.Raw, cert.Raw) {
			t.Fatal("after a restart the hub served another certificate: the cache was not used")
		}
		waitLog(t, hub2.logs, `msg="ACME: certificate ready" component=acme hostname=`+acmeHost, 30*time.Second)
		hub2.stop(t)
	})

	t.Run("http-01 when tls-alpn-01 cannot reach the hub", func(t *testing.T) {
		startPebble(t, dir, caFile, acmeNoListen)
		hub := startACMEHub(t, bin, caFile, filepath.Join(dir, "cache-http"), "    http_listen: "+acmeHTTP01)
		waitLog(t, hub.logs, `msg="ACME: certificate ready" component=acme hostname=`+acmeHost, 90*time.Second)
		cert := httpsHealth(t, pebbleRoots(t, caFile), acmeHost)
		if !contains(cert.DNSNames, acmeHost) {
			t.Fatalf("certificate names %v", cert.DNSNames)
		}
		// the rest of plain HTTP is sent to https
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get("http://" + acmeHTTP01 + "/agent.html?x=1")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := "https://" + acmeHost + ":5001/agent.html?x=1"; res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
			t.Fatalf("plain HTTP: %d to %q, want 308 to %q", res.StatusCode, res.Header.Get("Location"), want)
		}
		// the API is not served over plain HTTP either
		res, err = c.Get("http://" + acmeHTTP01 + "/v1/sessions")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusPermanentRedirect {
			t.Fatalf("the API over plain HTTP: %d, want 308 to https", res.StatusCode)
		}
		hub.stop(t)
	})
}

type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			_ = os.WriteFile(filepath.Join(artifacts(t), name+".log"), []byte(p.logs.String()), 0o644)
		}
	})
	return p
}

// stop sends SIGTERM and waits for the exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		p.done <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit on SIGTERM", p.cmd.Path)
	}
}

func startPebble(t *testing.T, dir, caFile string, tlsPort int) *proc {
	t.Helper()
	cfg := filepath.Join(dir, fmt.Sprintf("pebble-%d.json", tlsPort))
	js := fmt.Sprintf(`{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
		"certificate": %q, "privateKey": %q, "httpPort": 5002, "tlsPort": %d, "ocspResponderURL": "",
		"externalAccountBindingRequired": false}}`, caFile, filepath.Join(dir, "pebble-key.pem"), tlsPort)
	if err := os.WriteFile(cfg, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pebble", "-config", cfg, "-dnsserver", pebbleDNS)
	// no random sleeps before validation, no random nonce rejections
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	p := startProc(t, "pebble", cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:14000", time.Second); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not listening:\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pebbleCert writes a certificate and key for Pebble's own HTTPS API
// (127.0.0.1) and returns the certificate's path: the hub's
// http.acme.ca_file.
func pebbleCert(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble API"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "pebble-cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pebble-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile
}

// pebbleRoots is the root Pebble issues under (a new one per run), read
// from its management API.
func pebbleRoots(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	api := x509.NewCertPool()
	b, _ := os.ReadFile(caFile)
	api.AppendCertsFromPEM(b)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: api}}}
	res, err := c.Get(pebbleMgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble roots: %v", err)
	}
	defer res.Body.Close()
	pemRoot, _ := io.ReadAll(res.Body)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemRoot) {
		t.Fatalf("pebble root: %s", pemRoot)
	}
	return roots
}

type acmeHub struct{ *proc }

func startACMEHub(t *testing.T, bin, caFile, cache string, extra ...string) acmeHub {
	t.Helper()
	dir := t.TempDir()
	yml := strings.Join(append([]string{
		"data_dir: " + filepath.Join(dir, "data"),
		"http:",
		"  listen: " + acmeHTTPS,
		"  acme:",
		"    hostname: " + acmeHost,
		"    email: ops@split.test",
		"    cache_dir: " + cache,
		"    directory_url: " + pebbleDir,
		"    ca_file: " + caFile,
	}, append(extra,
		"sip:",
		"  listen_udp: 127.0.0.1:15260",
		"  listen_tcp: \"\"",
		"webrtc:",
		"  udp_port: 17990",
		"rtp:",
		"  port_min: 31000",
		"  port_max: 31100",
		"api:",
		"  key: "+apiKey,
		"auth:",
		"  token_secret: "+tokSecret,
		"log:",
		"  level: debug",
	)...), "\n") + "\n"
	cfg := filepath.Join(dir, "split.yaml")
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Dir = dir
	h := acmeHub{startProc(t, "hub", cmd)}
	waitLog(t, h.logs, `msg="SPLIT ready"`, 20*time.Second)
	return h
}

func waitLog(t *testing.T, logs *syncBuffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs within %s:\n%s", want, within, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tlsDial shakes hands with the hub as a browser reaching host would.
func tlsDial(roots *x509.CertPool, host string) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", acmeHTTPS, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// httpsHealth fetches /healthz over HTTPS as https://host:5001 and returns
// the certificate the hub served; the chain must verify to roots.
func httpsHealth(t *testing.T, roots *x509.CertPool, host string) *x509.Certificate {
	t.Helper()
	res, body := httpsDo(t, roots, host, "/healthz")
	if !strings.Contains(body, "ok") {
		t.Fatalf("/healthz over HTTPS: %s", body)
	}
	if res.TLS == nil || len(res.TLS.PeerCertificates) == 0 {
		t.Fatal("no TLS")
	}
	return res.TLS.PeerCertificates[0]
}

func httpsGet(t *testing.T, roots *x509.CertPool, host, path string) string {
	t.Helper()
	_, body := httpsDo(t, roots, host, path)
	return body
}

// httpsDo GETs path from https://host:5001 (dialled at 127.0.0.1), the
// chain verified to roots; it fails the test on anything but 200.
func httpsDo(t *testing.T, roots *x509.CertPool, host, path string) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, acmeHTTPS)
		}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	req, _ := http.NewRequest("GET", "https://"+host+":5001"+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("HTTPS %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s over HTTPS: %d %s", path, res.StatusCode, body)
	}
	return res, string(body)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
