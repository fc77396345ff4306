package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/split-hub/split/internal/app"
	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
)

// Secrets used by HubConfig.
const (
	HubAPIKey      = "testutil-api-key-0123456789"
	HubTokenSecret = "testutil-token-secret-0123456789"
)

// HubPorts are the loopback ports of one hub: HTTP, SIP (UDP), ICE (UDP)
// and the SIP-side RTP range [RTPMin, RTPMax].
type HubPorts struct {
	HTTP, SIP, ICE int
	RTPMin, RTPMax int
}

// PortsFrom lays a hub out from base: HTTP base, SIP base+1, ICE base+2,
// RTP base+10 … base+10+2*rtpPairs-1.
func PortsFrom(base, rtpPairs int) HubPorts {
	return HubPorts{HTTP: base, SIP: base + 1, ICE: base + 2, RTPMin: base + 10, RTPMax: base + 10 + 2*rtpPairs - 1}
}

// HubConfig returns a hub configuration on 127.0.0.1 with ports p, a trunk
// "pbx" (the default route) to trunkURI offering trunkCodecs, browser
// audio codecs audioCodecs, video off, quiet logs and a 2 s drain.
func HubConfig(p HubPorts, dataDir, trunkURI string, trunkCodecs, audioCodecs []string) *config.Config {
	cfg := config.Default()
	cfg.Log.Level = "warn"
	cfg.HTTP.Listen = "127.0.0.1:" + strconv.Itoa(p.HTTP)
	cfg.SIP.ListenUDP = "127.0.0.1:" + strconv.Itoa(p.SIP)
	cfg.SIP.ListenTCP = ""
	cfg.DataDir = dataDir
	cfg.API.Key = HubAPIKey
	cfg.Auth.TokenSecret = HubTokenSecret
	cfg.RTP.PortMin, cfg.RTP.PortMax = p.RTPMin, p.RTPMax
	cfg.WebRTC.UDPPort = p.ICE
	cfg.WebRTC.AudioCodecs = audioCodecs
	cfg.WebRTC.Video = false
	cfg.SIP.Trunks = []config.Trunk{{Name: "pbx", URI: trunkURI, Transport: "udp", Codecs: trunkCodecs, RegisterExpiry: 300 * time.Second}}
	cfg.SIP.DefaultTo = "pbx"
	cfg.DrainTimeout = 2 * time.Second
	return cfg
}

// Hub is a hub running in this process.
type Hub struct {
	Cfg *config.Config
	URL string // http://127.0.0.1:<port>

	stop, kill context.CancelFunc
	done       chan error
	once       sync.Once
	err        error
}

// StartHub validates cfg, runs the hub and waits until /readyz answers 200.
// log may be nil (hub logs at cfg.Log.Level to io.Discard).
func StartHub(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		var w io.Writer = io.Discard
		if lv := os.Getenv("SPLIT_TEST_LOG"); lv != "" { // the hub's log on stderr, to debug a test
			w = os.Stderr
			if lv != "1" {
				cfg.Log.Level = lv // e.g. SPLIT_TEST_LOG=debug
			}
		}
		log = app.NewLogger(cfg.Log, w)
	}
	runCtx, stop := context.WithCancel(context.Background())
	killCtx, kill := context.WithCancel(context.Background())
	h := &Hub{Cfg: cfg, URL: "http://" + cfg.HTTP.Listen, stop: stop, kill: kill, done: make(chan error, 1)}
	go func() { h.done <- app.Run(runCtx, killCtx, cfg, log, io.Discard) }()
	cl := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-h.done:
			stop()
			kill()
			if err == nil {
				err = errors.New("hub stopped at once")
			}
			return nil, fmt.Errorf("testutil: hub: %w", err)
		case <-ctx.Done():
			h.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		res, err := cl.Get(h.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				cl.CloseIdleConnections()
				return h, nil
			}
		}
	}
}

// Token mints a signalling token for identity.
func (h *Hub) Token(identity string) (string, error) {
	return MintToken(h.Cfg.Auth.TokenSecret, identity)
}

// MintToken mints a one-hour signalling token with secret.
func MintToken(secret, identity string) (string, error) {
	s, err := auth.NewSigner([]byte(secret))
	if err != nil {
		return "", err
	}
	tok, _, err := s.Mint(auth.Claims{Identity: identity, Role: auth.RoleSoftphone}, time.Hour)
	return tok, err
}

// Stop drains the hub (cut short: calls still up are hung up) and waits
// for app.Run to return.
func (h *Hub) Stop() error {
	h.once.Do(func() { // a second Stop (a deferred one after an explicit one) must not wait for ever
		h.stop()
		h.kill()
		h.err = <-h.done
		if errors.Is(h.err, app.ErrKilled) {
			h.err = nil
		}
	})
	return h.err
}
