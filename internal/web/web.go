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

// Handler returns an http.Handler serving the embedded static files.
// "/" (and "/index.html") serves phone.html; every other path is looked up
// in the embedded file system. Directory listings are not served.
func Handler() http.Handler {
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
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		fileServer.ServeHTTP(w, r2)
	})
}
