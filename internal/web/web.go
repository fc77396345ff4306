// Package web embeds and serves SPLIT's browser assets: the reference
// softphone page (phone.html, phone.css, phone.js) and split.js, the
// dependency-free ES module that implements the browser side of the SPLIT
// signalling protocol (see docs/signalling.md).
//
// The files are compiled into the binary with go:embed, so no files need to
// be deployed next to the server. Mount the handler at the site root, or
// under a prefix with http.StripPrefix:
//
//	mux.Handle("/", web.Handler())
//	mux.Handle("/phone/", http.StripPrefix("/phone", web.Handler()))
//
// All asset references inside the pages are relative, so either form works.
// The API itself (/v1/ws, /v1/tokens) is always addressed from the origin
// root by the page.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// contentTypes pins the Content-Type of the served assets so that the result
// does not depend on the host's mime.types (ES modules must be served with a
// JavaScript MIME type or browsers refuse to load them).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".md":   "text/markdown; charset=utf-8",
}

// Files returns the embedded static files, rooted at the static directory
// (so "phone.html" and "split.js" are at the top level).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// Cannot happen: "static" is a valid, embedded directory name.
		panic(err)
	}
	return sub
}

// Options tune the handler.
type Options struct {
	// Embedders returns the origins ("https://shop.example.com", or "*")
	// allowed to frame the customer page for entry point entry: the sites
	// that embed the widget. Nil: only the hub itself.
	Embedders func(entry string) []string
}

// csp is the Content-Security-Policy of the pages, before frame-ancestors:
// scripts and styles from the hub's own files only (no inline code, no
// eval), media from the camera and the hub. connect-src stays open: the
// pages may be pointed at another hub (?server=).
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; " +
	"connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "

// frameAncestors is the frame-ancestors source list for a page: the
// customer page may be framed by the hub and the entry point's embedders
// (the widget); every other page by nobody (the agent console, the admin
// view and the softphone hold credentials: no clickjacking).
func (o Options) frameAncestors(page string, r *http.Request) string {
	if page != "/customer.html" {
		return "'none'"
	}
	entry := r.URL.Query().Get("entry")
	if entry == "" {
		entry = "default" // as customer.js
	}
	out := "'self'"
	if o.Embedders != nil {
		for _, e := range o.Embedders(entry) {
			out += " " + e
		}
	}
	return out
}

// Handler returns an http.Handler serving the embedded static files with
// the default Options.
func Handler() http.Handler { return NewHandler(Options{}) }

// NewHandler returns an http.Handler serving the embedded static files.
// "/" (and "/index.html") serves phone.html; every other path is looked up
// in the embedded file system. Directory listings are not served. HTML
// pages carry a Content-Security-Policy (see csp) whose frame-ancestors
// comes from o.
func NewHandler(o Options) http.Handler {
	files := Files()
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "" || p == "/" || p == "/index.html" {
			p = "/phone.html"
		} else if strings.HasSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if ct, ok := contentTypes[path.Ext(p)]; ok {
			h.Set("Content-Type", ct)
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if path.Ext(p) == ".html" {
			fa := o.frameAncestors(p, r)
			h.Set("Content-Security-Policy", csp+fa)
			switch fa {
			case "'none'":
				h.Set("X-Frame-Options", "DENY") // browsers without CSP 2
			case "'self'":
				h.Set("X-Frame-Options", "SAMEORIGIN")
			}
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		fileServer.ServeHTTP(w, r2)
	})
}
