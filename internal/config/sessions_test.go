package config

import (
	"strings"
	"testing"
)

func TestValidateWhatsAppTemplate(t *testing.T) {
	load := func(publicURL, tpl string) error {
		t.Helper()
		c, err := Load(strings.NewReader("http: {public_url: \"" + publicURL + "\"}\nsessions:\n  notify:\n    whatsapp:\n" +
			"      phone_number_id: \"1\"\n      access_token: x\n      template: " + tpl + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c.Validate()
	}
	if err := load("https://video.example.com", `{name: video_link, language: en_US, url_base: "https://video.example.com/j/", body_params: 2}`); err != nil {
		t.Fatalf("good template: %v", err)
	}
	if err := load("https://video.example.com/", `{name: video_link, language: en_US, url_base: "https://video.example.com/"}`); err != nil {
		t.Fatalf("a shorter prefix: %v", err)
	}
	err := load("https://video.example.com", `{url_base: "https://other.example.com/j/", body_params: 3}`)
	for _, want := range []string{"template.name: is required", "template.language: is required", "template.body_params: must be 0, 1 or 2",
		`template.url_base: "https://other.example.com/j/" is not the start of the join links (https://video.example.com/j/<token>)`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	if err := load("", `{name: video_link, language: en_US}`); err == nil || !strings.Contains(err.Error(), "url_base: is required") {
		t.Errorf("no url_base: %v", err)
	}
}

func TestValidateEntryPointOrigins(t *testing.T) {
	load := func(origins string) error {
		t.Helper()
		c, err := Load(strings.NewReader("sessions:\n  entry_points:\n    - {name: web, public: true, origins: " + origins + "}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c.Validate()
	}
	if err := load(`["https://shop.example.com", "http://localhost:3000", "https://*.example.com:8443", "*"]`); err != nil {
		t.Fatalf("good origins: %v", err)
	}
	for _, bad := range []string{`["shop.example.com"]`, `["https://shop.example.com/path"]`, `["https://a.com; script-src *"]`,
		`["'self'"]`, `["ftp://x.com"]`, `["https://"]`} {
		if err := load(bad); err == nil || !strings.Contains(err.Error(), "sessions.entry_points[0].origins[0]") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
