// Package api is SPLIT's HTTP surface: health and readiness, Prometheus
// metrics, the REST API (JSON, Bearer API key; OpenAPI in openapi.yaml), the
// browser signalling WebSocket (token-authenticated) and the web pages.
// Errors are JSON {"error":{"code","message"}} with the matching status.
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/gateway"
	"github.com/split-hub/split/internal/httpjson"
	"github.com/split-hub/split/internal/metrics"
	"github.com/split-hub/split/internal/web"
)

//go:embed openapi.yaml
var openapi []byte

// Server holds what the handlers need.
type Server struct {
	Log      *slog.Logger
	APIKey   string
	Signer   *auth.Signer
	TokenTTL time.Duration
	MaxTTL   time.Duration
	Gateway  *gateway.Gateway
	// Sessions mounts the session API (the hub); nil leaves it out.
	Sessions interface {
		Register(mux *http.ServeMux, requireKey func(http.Handler) http.Handler)
	}
	// Agents says whether an agent exists (POST /v1/tokens mints agent
	// tokens only for known agents); nil refuses agent tokens.
	Agents interface {
		KnownAgent(ctx context.Context, id string) (bool, error)
	}
	// DeafUsers says whether a registered deaf user exists
	// (interpreter.users); nil refuses deaf_user tokens.
	DeafUsers func(id string) bool
	// Embedders are the sites that may frame the customer page of an entry
	// point (sessions.entry_points[].origins); nil: none.
	Embedders func(entry string) []string
	Metrics   *metrics.Metrics
	Ready     func() bool
	Pprof     bool // serve /debug/pprof/ behind the API key
	draining  atomic.Bool
}

// Drain makes /readyz fail and refuses new signalling sockets.
func (s *Server) Drain() { s.draining.Store(true) }

// Handler returns the routed mux.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() || (s.Ready != nil && !s.Ready()) {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "draining or not ready")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapiJSON)
	})
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openapi)
	})
	mux.Handle("POST /v1/tokens", s.requireKey(http.HandlerFunc(s.mintToken)))
	mux.HandleFunc("GET /v1/ws", s.signalling)
	if s.Sessions != nil {
		s.Sessions.Register(mux, s.requireKey)
	}
	if s.Pprof {
		mux.Handle("/debug/pprof/", s.requireKey(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", s.requireKey(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", s.requireKey(http.HandlerFunc(pprof.Trace)))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	mux.Handle("/", web.NewHandler(web.Options{Embedders: s.Embedders}))
	return s.logRequests(securityHeaders(mux))
}

// securityHeaders go on every response: no MIME sniffing (a JSON error is
// never run as a script), and no Referer from the hub's pages (join links
// are paths, /j/<token>; the pages carry tokens in the fragment, which is
// never sent). The pages add their Content-Security-Policy (internal/web).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		if r.URL.Path != "/metrics" && r.URL.Path != "/healthz" {
			s.Log.Debug("http", "method", r.Method, "path", logPath(r.URL.Path), "took", time.Since(start).String())
		}
	})
}

// logPath is a request path fit for the log: a join link's token is a
// capability to enter a session, so /j/<token> keeps only its first 4
// characters (enough to tell links apart while debugging).
func logPath(p string) string {
	if tok, ok := strings.CutPrefix(p, "/j/"); ok && len(tok) > 4 {
		return "/j/" + tok[:4] + "…"
	}
	return p
}

func (s *Server) requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !auth.KeyEqual(key, s.APIKey) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="split"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

var identityRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

type tokenRequest struct {
	Identity string `json:"identity"`
	TTL      string `json:"ttl"`
	Role     string `json:"role"`
}

type tokenResponse struct {
	Token     string    `json:"token"`
	Identity  string    `json:"identity"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

// mintableRoles are the kinds POST /v1/tokens mints. Customer and viewer
// tokens are bound to a session and handed out by the hub itself (a
// redeemed join link, the customer's resume token, the agent view's
// Call-Info link); the API mints join links instead (POST
// /v1/sessions/{id}/links).
const mintableRoles = "role must be softphone (the default), agent or deaf_user; customer and viewer tokens come from join links (POST /v1/sessions/{id}/links) and the agent view"

func (s *Server) mintToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := httpjson.Decode(w, r, &req, 16<<10); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if !identityRE.MatchString(req.Identity) {
		writeError(w, http.StatusBadRequest, "bad_request", "identity must be 1-64 of A-Z a-z 0-9 . _ + - (a SIP user part)")
		return
	}
	ttl := s.TokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "ttl must be a positive duration such as \"1h\"")
			return
		}
		if d > s.MaxTTL {
			writeError(w, http.StatusBadRequest, "bad_request", "ttl exceeds auth.max_token_ttl ("+s.MaxTTL.String()+")")
			return
		}
		ttl = d
	}
	switch req.Role {
	case "", auth.RoleSoftphone:
		req.Role = auth.RoleSoftphone
	case auth.RoleAgent:
		if s.Agents == nil {
			writeError(w, http.StatusBadRequest, "bad_request", "agent tokens need the session hub")
			return
		}
		ok, err := s.Agents.KnownAgent(r.Context(), req.Identity)
		if err != nil {
			s.Log.Error("token: agent lookup", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot check the agent now; try again")
			return
		}
		if !ok {
			writeError(w, http.StatusBadRequest, "bad_request", "unknown agent \""+req.Identity+"\" (sessions.agents or POST /v1/agents)")
			return
		}
	case auth.RoleDeafUser:
		if s.DeafUsers == nil || !s.DeafUsers(req.Identity) {
			writeError(w, http.StatusBadRequest, "bad_request", "unknown deaf user \""+req.Identity+"\" (interpreter.users)")
			return
		}
	default:
		writeError(w, http.StatusBadRequest, "bad_request", mintableRoles)
		return
	}
	tok, c, err := s.Signer.Mint(auth.Claims{Identity: req.Identity, Role: req.Role}, ttl)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, tokenResponse{Token: tok, Identity: c.Identity, Role: c.Role, ExpiresAt: c.Expires().UTC()})
}

func (s *Server) signalling(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "hub is shutting down")
		return
	}
	tok := r.URL.Query().Get("token")
	var subproto []string
	if tok == "" {
		for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
			p = strings.TrimSpace(p)
			if t, ok := strings.CutPrefix(p, "token."); ok {
				tok = t
				subproto = []string{"split.v1"}
			}
		}
	}
	claims, err := s.Signer.Verify(tok)
	if err != nil {
		msg := "missing or invalid token"
		if errors.Is(err, auth.ErrExpired) {
			msg = "token expired"
		}
		writeError(w, http.StatusUnauthorized, "unauthorized", msg)
		return
	}
	// The softphone socket dials the trunks: only softphone tokens reach it
	// (docs/security.md, "Tokens and what they reach").
	if claims.Role != auth.RoleSoftphone {
		writeError(w, http.StatusForbidden, "forbidden", "a "+claims.Role+" token cannot use the softphone socket; it is for /v1/sessions/ws")
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: subproto})
	if err != nil {
		return // Accept wrote the HTTP error
	}
	s.Metrics.WSConnected(1)
	defer s.Metrics.WSConnected(-1)
	s.Gateway.Serve(r.Context(), conn, claims.Identity)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Error(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
