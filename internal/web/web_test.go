package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerServesAssets(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", "phone.js"},
		{"/phone.html", "text/html", "id=\"dial\""},
		{"/split.js", "text/javascript", "export class SplitClient"},
		{"/phone.js", "text/javascript", "splitPhone"},
		{"/phone.css", "text/css", ""},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: reading body: %v", c.path, err)
		}
		body := string(b)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", c.path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.contentType)
		}
		if c.contains != "" && !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body does not contain %q", c.path, c.contains)
		}
	}

	resp, err := http.Get(srv.URL + "/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope.js: status %d, want 404", resp.StatusCode)
	}
}

// The session pages (docs/sessions.md): customer, widget, agent console and
// view, admin, and their shared module and styles.
func TestHandlerServesSessionAssets(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	cases := []struct {
		path, contentType, contains string
	}{
		{"/session.js", "text/javascript", "export class SessionClient"},
		{"/session.js", "text/javascript", "/v1/sessions/ws"},
		{"/customer.html", "text/html", `src="customer.js"`},
		{"/customer.js", "text/javascript", "window.splitApp"},
		{"/widget.js", "text/javascript", "window.SplitWidget"},
		{"/agent.html", "text/html", `src="agent.js"`},
		{"/agent.js", "text/javascript", "window.splitApp"},
		{"/admin.html", "text/html", `src="admin.js"`},
		{"/admin.js", "text/javascript", "window.splitApp"},
		{"/interpreter.html", "text/html", `src="interpreter.js"`},
		{"/interpreter.js", "text/javascript", "window.splitApp"},
		{"/rtt.js", "text/javascript", "export function filterT140"},
		{"/console.js", "text/javascript", "export function createConsole"},
		{"/app.css", "text/css", ":root"},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: reading body: %v", c.path, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", c.path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.contentType)
		}
		if nosniff := resp.Header.Get("X-Content-Type-Options"); nosniff != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", c.path, nosniff)
		}
		if !strings.Contains(string(b), c.contains) {
			t.Errorf("GET %s: body does not contain %q", c.path, c.contains)
		}
	}
}

var (
	// src= and href= attribute values in the pages.
	assetRef = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*["']([^"']*)["']`)
	// Static and dynamic ES module imports.
	importRef = regexp.MustCompile(`(?m)(?:^\s*import\s[^'"]*|\bimport\s*\(\s*)["']([^"']+)["']`)
	// Any absolute http(s) URL.
	absURL = regexp.MustCompile(`(?i)https?://([^/\s"'<>)\x60]+)`)
)

// The pages must work from any mount point (web.go: "All asset references
// inside the pages are relative") and on a hub without Internet access.
func TestPagesReferenceOnlyRelativeAssets(t *testing.T) {
	files := Files()
	for _, name := range []string{"customer.html", "agent.html", "admin.html", "phone.html", "interpreter.html", "wallboard.html"} {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		refs := assetRef.FindAllStringSubmatch(string(b), -1)
		if len(refs) == 0 {
			t.Errorf("%s: no asset references found", name)
		}
		for _, m := range refs {
			ref := m[1]
			if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "data:") {
				continue // in-page link, inline data (the empty favicon)
			}
			if u, err := url.Parse(ref); err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(ref, "/") {
				t.Errorf("%s: asset reference %q is not relative", name, ref)
				continue
			}
			if _, err := fs.Stat(files, path.Clean(ref)); err != nil {
				t.Errorf("%s: references %q, which is not embedded", name, ref)
			}
		}
	}
	for _, name := range []string{"customer.js", "agent.js", "admin.js", "session.js", "phone.js", "split.js", "interpreter.js", "rtt.js", "console.js", "wallboard.js"} {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range importRef.FindAllStringSubmatch(string(b), -1) {
			ref := m[1]
			if !strings.HasPrefix(ref, "./") {
				t.Errorf("%s: import %q is not relative (./…)", name, ref)
				continue
			}
			if _, err := fs.Stat(files, path.Clean(ref)); err != nil {
				t.Errorf("%s: imports %q, which is not embedded", name, ref)
			}
		}
	}
}

// No static file may load anything from another host: no CDN, fonts,
// analytics. Documentation examples use reserved names (RFC 2606/6761).
func TestNoExternalURLs(t *testing.T) {
	allowed := func(host string) bool {
		host = strings.ToLower(host)
		if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
			host = h
		}
		switch host {
		case "localhost", "127.0.0.1", "[::1]", "example.com", "example.org", "example.net":
			return true
		}
		for _, suffix := range []string{".example.com", ".example.org", ".example.net", ".example", ".test", ".invalid", ".localhost"} {
			if strings.HasSuffix(host, suffix) {
				return true
			}
		}
		return false
	}
	n := 0
	err := fs.WalkDir(Files(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(Files(), name)
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, "vendor/") {
			// a vendored library's attribution (README, LICENSE, the
			// "/*! <project URL> */" banner) names its home; it loads nothing
			base := path.Base(name)
			if base == "README" || base == "LICENSE" {
				return nil
			}
			if s := string(b); strings.HasPrefix(s, "/*!") {
				if end := strings.Index(s, "*/"); end > 0 && !strings.Contains(s[:end], "\n") {
					b = b[end+2:]
				}
			}
		}
		for _, m := range absURL.FindAllStringSubmatch(string(b), -1) {
			if !allowed(m[1]) {
				t.Errorf("%s: external URL %q", name, m[0])
			}
		}
		if strings.Contains(string(b), "//cdn") || strings.Contains(string(b), "fonts.googleapis") {
			t.Errorf("%s: refers to a CDN", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 13 {
		t.Errorf("walked %d static files, want at least 13", n)
	}
}

// widget.js is a classic script dropped into other sites: it must not be an
// ES module, and it documents its snippet.
func TestWidgetIsAClassicScript(t *testing.T) {
	b, err := fs.ReadFile(Files(), "widget.js")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if importRef.MatchString(s) || strings.Contains(s, "\nexport ") {
		t.Error("widget.js uses import/export; it must be a classic script")
	}
	for _, want := range []string{`<script src="https://hub.example.com/widget.js" data-entry=`, "customer.html", `camera; microphone; autoplay; display-capture`, "embed"} {
		if !strings.Contains(s, want) {
			t.Errorf("widget.js does not contain %q", want)
		}
	}
}

// TestPageSecurityHeaders: every page carries a Content-Security-Policy
// without inline code; only the customer page may be framed, by the hub
// and the embedders of its entry point (the widget); the agent console,
// the admin view and the softphone by nobody.
func TestPageSecurityHeaders(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Options{Embedders: func(entry string) []string {
		if entry == "shop" {
			return []string{"https://shop.example.com", "https://*.example.org"}
		}
		return nil
	}}))
	defer srv.Close()
	for path, wantFA := range map[string]string{
		"/":                             "'none'",
		"/phone.html":                   "'none'",
		"/agent.html":                   "'none'",
		"/interpreter.html":             "'none'",
		"/admin.html":                   "'none'",
		"/wallboard.html":               "'none'",
		"/customer.html":                "'self'",
		"/customer.html?entry=default":  "'self'",
		"/customer.html?entry=shop":     "'self' https://shop.example.com https://*.example.org",
		"/customer.html?entry=shop&x=1": "'self' https://shop.example.com https://*.example.org",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.HasSuffix(csp, "frame-ancestors "+wantFA) {
			t.Errorf("%s: CSP %q, want frame-ancestors %s", path, csp, wantFA)
		}
		for _, want := range []string{"script-src 'self';", "style-src 'self';", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe code", path, csp)
		}
		if xfo := res.Header.Get("X-Frame-Options"); wantFA == "'none'" && xfo != "DENY" || wantFA == "'self'" && xfo != "SAMEORIGIN" {
			t.Errorf("%s: X-Frame-Options %q", path, xfo)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
	}
	res, err := http.Get(srv.URL + "/agent.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("agent.js: %v", res.Header)
	}
}

// TestPagesHaveNoInlineCode: the CSP forbids inline scripts, inline
// styles and event-handler attributes; none of the pages may rely on them.
func TestPagesHaveNoInlineCode(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)
	bad := regexp.MustCompile(`(?i)<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	err := fs.WalkDir(Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".html" {
			return err
		}
		b, err := fs.ReadFile(Files(), p)
		if err != nil {
			return err
		}
		if m := inlineScript.Find(b); m != nil {
			t.Errorf("%s: inline script %q", p, m)
		}
		if m := bad.Find(b); m != nil {
			t.Errorf("%s: inline style or handler %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
