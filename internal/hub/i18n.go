package hub

import (
	"net/http"
	"regexp"
)

// langTagRE is a language tag as pages and links carry it.
var langTagRE = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// serveCatalog is GET /i18n/catalog.json?lang=&entry= (docs/i18n.md): the
// texts of the pages in the language chosen by, in order, lang, the entry
// point's language, the browser's Accept-Language, the hub's default. No
// key: the texts are public.
func (h *Hub) serveCatalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang := q.Get("lang")
	if lang != "" && !langTagRE.MatchString(lang) {
		lang = ""
	}
	entryLang := ""
	if e := q.Get("entry"); e != "" {
		for _, ep := range h.cfg.Sessions.EntryPoints {
			if ep.Name == e {
				entryLang = ep.Language
			}
		}
	}
	chosen := h.i18n.Match(lang, entryLang, r.Header.Get("Accept-Language"))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Accept-Language")
	// the widget asks from the embedding site: the texts are public and the
	// request carries no credentials
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Language", chosen)
	writeJSON(w, http.StatusOK, map[string]any{"lang": chosen, "languages": h.i18n.Languages(), "messages": h.i18n.Messages(chosen)})
}
