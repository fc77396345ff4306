package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/split-hub/split/internal/config"
)

// acmeCerts is the HTTPS listener's certificate source when http.acme is
// configured: golang.org/x/crypto/acme/autocert (the account key and the
// certificates cached in cache_dir, renewed 30 days before they expire),
// the optional HTTP-01 listener, and the first issuance started at once
// rather than on the first browser's handshake.
type acmeCerts struct {
	m     *autocert.Manager
	names []string
	log   *slog.Logger
	http  *http.Server // HTTP-01 and the redirect to https; nil without http_listen

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	lastWarn map[string]time.Time
	notAfter map[string]time.Time // of the certificate last served per name
}

// startACME prepares the certificate source and, with http_listen, starts
// the HTTP-01 listener. base is the hub's public URL, where plain HTTP is
// redirected.
func startACME(cfg *config.Config, log *slog.Logger, base string) (*acmeCerts, error) {
	a := cfg.HTTP.ACME
	dir := a.CacheDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "acme")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("http.acme.cache_dir: %w", err)
	}
	client := &acme.Client{DirectoryURL: a.DirectoryURL, UserAgent: "split/" + Version}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("http.acme.ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http.acme.ca_file: %s holds no PEM certificate", a.CAFile)
		}
		client.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	}
	c := &acmeCerts{names: a.Names(), log: log, lastWarn: map[string]time.Time{}, notAfter: map[string]time.Time{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.m = &autocert.Manager{
		Prompt:     autocert.AcceptTOS, // configuring http.acme accepts the CA's terms (docs/deploy.md)
		Cache:      autocert.DirCache(dir),
		HostPolicy: hostPolicy(c.names),
		Email:      a.Email,
		Client:     client,
	}
	if a.HTTPListen != "" {
		ln, err := net.Listen("tcp", a.HTTPListen)
		if err != nil {
			c.cancel()
			return nil, fmt.Errorf("http.acme.http_listen: %w", err)
		}
		toHTTPS := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusPermanentRedirect)
		})
		c.http = &http.Server{Handler: c.m.HTTPHandler(toHTTPS), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := c.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP-01 listener stopped", "err", err)
			}
		}()
	}
	log.Info("ACME: certificates from the CA", "hostnames", c.names, "directory", client.DirectoryURL, "cache_dir", dir,
		"challenges", map[bool]string{true: "tls-alpn-01, http-01 on " + a.HTTPListen, false: "tls-alpn-01"}[a.HTTPListen != ""])
	return c, nil
}

// hostPolicy accepts the configured names only. autocert's HTTP-01 handler
// checks the request's Host as sent, with a port when the CA's validation
// port is not 80 (a private CA, a test CA): the port is not part of the name.
func hostPolicy(names []string) autocert.HostPolicy {
	allow := autocert.HostWhitelist(names...)
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return allow(ctx, host)
	}
}

// TLSConfig is the HTTPS listener's configuration: certificates from the
// manager, the acme-tls/1 protocol for TLS-ALPN-01 beside h2 and HTTP/1.1.
func (c *acmeCerts) TLSConfig() *tls.Config {
	tc := c.m.TLSConfig()
	tc.MinVersion = tls.VersionTLS12
	get := tc.GetCertificate
	tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
			return cert, err // the CA's TLS-ALPN-01 validation, not a browser
		}
		if err != nil && slices.Contains(c.names, hello.ServerName) {
			c.warn(hello.ServerName, err)
		}
		if err == nil {
			c.served(hello.ServerName, cert)
		}
		return cert, err
	}
	return tc
}

// served records the expiry of the certificate served for name (the
// metric: a renewal shows on the next handshake).
func (c *acmeCerts) served(name string, cert *tls.Certificate) {
	leaf := cert.Leaf
	if leaf == nil {
		return
	}
	c.mu.Lock()
	c.notAfter[name] = leaf.NotAfter
	c.mu.Unlock()
}

// NotAfter is the expiry of the certificate last served for name, in Unix
// seconds (0: none yet).
func (c *acmeCerts) NotAfter(name string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.notAfter[name]; ok {
		return float64(t.Unix())
	}
	return 0
}

// warn logs a failure to serve one of our names at most once a minute per
// name (a handshake for another name is the host policy at work: not logged).
func (c *acmeCerts) warn(name string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastWarn[name]) < time.Minute {
		return
	}
	c.lastWarn[name] = time.Now()
	c.log.Warn("ACME: no certificate for a browser's handshake", "hostname", name, "err", err)
}

// Obtain asks for every name's certificate in the background (from the
// cache when it holds one), so the first browser does not wait for the CA.
func (c *acmeCerts) Obtain() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for _, name := range c.names {
			if c.ctx.Err() != nil {
				return
			}
			start := time.Now()
			// what a browser's hello carries: SNI and ECDSA support
			cert, err := c.m.GetCertificate(&tls.ClientHelloInfo{ServerName: name,
				SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
				SupportedCurves:  []tls.CurveID{tls.CurveP256}, SupportedPoints: []uint8{0}})
			if err != nil {
				c.log.Error("ACME: certificate not obtained; browsers cannot connect over HTTPS until it is (retried on their handshakes)",
					"hostname", name, "err", err, "took", time.Since(start).Round(time.Millisecond).String())
				continue
			}
			leaf := cert.Leaf
			if leaf == nil && len(cert.Certificate) > 0 {
				leaf, _ = x509.ParseCertificate(cert.Certificate[0])
				cert.Leaf = leaf
			}
			c.served(name, cert)
			if leaf != nil {
				c.log.Info("ACME: certificate ready", "hostname", name, "issuer", leaf.Issuer.CommonName,
					"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "took", time.Since(start).Round(time.Millisecond).String())
			}
		}
	}()
}

// Close stops the HTTP-01 listener. An issuance in flight is not waited
// for beyond a few seconds (autocert gives it no cancellation); the
// certificate it brings is cached for the next start.
func (c *acmeCerts) Close() {
	c.cancel()
	if c.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.http.Shutdown(ctx)
		cancel()
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.log.Warn("ACME: an issuance is still in flight at shutdown")
	}
}
