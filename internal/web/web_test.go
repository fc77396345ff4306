package web

import (
	"io"
	"net/http"
	"net/http/httptest"
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
