package whatsapp

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/httpjson"
)

// ServeDeadLetters answers GET /v1/whatsapp/dead-letters[?limit=]: the
// deliveries the chat platform never accepted, newest first (the caller
// checks the API key).
func (s *Service) ServeDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "limit must be 1..1000")
			return
		}
		limit = n
	}
	out, err := s.DeadLetters(r.Context(), limit)
	if err != nil {
		s.log.Error("WhatsApp dead letters", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"dead_letters": out})
}

// numberSettings is one number in ServeSettings' answer.
type numberSettings struct {
	PhoneNumberID string    `json:"phone_number_id"`
	Number        string    `json:"number"`
	Meta          *Settings `json:"meta,omitempty"`
	Desired       *Settings `json:"desired,omitempty"`
	Diff          []string  `json:"diff"`
	Pushed        bool      `json:"pushed,omitempty"`
	Error         string    `json:"error,omitempty"`
}

// ServeSettings answers GET /v1/whatsapp/settings[?phone_number_id=]: per
// business number, the calling settings Meta has now (the generated SIP
// password redacted), what cfg implies (Desired) and the difference; POST
// pushes what cfg implies first. The caller checks the API key.
func (s *Service) ServeSettings(w http.ResponseWriter, r *http.Request, cfg *config.Config) {
	only := r.URL.Query().Get("phone_number_id")
	var out []numberSettings
	for _, n := range s.cfg.Numbers {
		if only != "" && n.PhoneNumberID != only {
			continue
		}
		o := numberSettings{PhoneNumberID: n.PhoneNumberID, Number: n.Number, Diff: []string{}}
		cl, ok := s.Client(n.PhoneNumberID)
		want, err := Desired(cfg, n)
		switch {
		case !ok:
			o.Error = "no Graph client for this number (access_token)"
		case err != nil:
			o.Error = "the configuration cannot be expressed as Meta's settings: " + err.Error()
		default:
			o.Desired = &want
			if r.Method == http.MethodPost {
				if err := cl.PostSettings(r.Context(), want); err != nil {
					o.Error = "push: " + err.Error()
				} else {
					o.Pushed = true
				}
			}
			have, err := cl.GetSettings(r.Context(), false)
			if err != nil {
				o.Error = strings.TrimPrefix(o.Error+"; ", "; ") + "read: " + err.Error()
				break
			}
			have = have.Redacted()
			o.Meta = &have
			if d := Diff(have, want); d != nil {
				o.Diff = d
			}
		}
		out = append(out, o)
	}
	if only != "" && len(out) == 0 {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such business number here")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"numbers": out})
}
