package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/split-hub/split/internal/config"
)

// healthCmd runs "split health": it asks the hub named by the configuration
// (or --url) for /readyz and exits 0 when it is ready, 1 otherwise — the
// container image's HEALTHCHECK, which has no shell or curl to do it.
// Over HTTPS the certificate is not checked: the probe talks to its own
// hub, often as 127.0.0.1, which no certificate names.
func healthCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("split health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", os.Getenv("SPLIT_CONFIG"), "YAML configuration file")
	url := fs.String("url", "", "the hub's /readyz (default: from http.listen)")
	timeout := fs.Duration("timeout", 3*time.Second, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		cfg, err := config.LoadFile(*path, os.Environ())
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
		if err != nil {
			fmt.Fprintln(stderr, "http.listen:", err)
			return 2
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		scheme := "http"
		if cfg.HTTP.TLS() {
			scheme = "https"
		}
		*url = scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	}
	c := &http.Client{Timeout: *timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a probe of its own hub
	res, err := c.Get(*url)
	if err != nil {
		fmt.Fprintln(stderr, "split health:", err)
		return 1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	fmt.Fprintf(stdout, "%s %d %s\n", *url, res.StatusCode, strings.TrimSpace(string(body)))
	if res.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
