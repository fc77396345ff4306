package i18n

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoadAndMatch(t *testing.T) {
	dir := t.TempDir()
	// a language dropped in a folder, and a text changed for a built-in one
	_ = os.WriteFile(filepath.Join(dir, "fr.json"), []byte(`{"msg.greet": "Bonjour"}`), 0o644)
	_ = os.MkdirAll(filepath.Join(dir, "es"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "es", "local.json"), []byte(`{"msg.link_label": "Entrar"}`), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(`not a catalog`), 0o644)
	c, err := Load(dir, "es")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Languages(), ","); got != "en,es,fr" {
		t.Fatalf("languages %s", got)
	}
	for _, tc := range []struct {
		prefs []string
		want  string
	}{
		{[]string{"es-MX,es;q=0.9,en;q=0.5"}, "es"},
		{[]string{"de-DE,de;q=0.9,fr;q=0.8"}, "fr"},
		{[]string{"de"}, "es"}, // nothing matches: the default
		{[]string{"", "", "en-GB"}, "en"},
		{[]string{"fr", "es"}, "fr"}, // the first that matches wins
		{[]string{"x y z", "en"}, "en"},
		{nil, "es"},
	} {
		if got := c.Match(tc.prefs...); got != tc.want {
			t.Errorf("Match(%q) = %s, want %s", tc.prefs, got, tc.want)
		}
	}
	if got := c.T("fr", "msg.greet"); got != "Bonjour" {
		t.Errorf("fr greet: %q", got)
	}
	if got := c.T("fr", "msg.link_label"); got != "Join video call" {
		t.Errorf("fr falls back to English key by key: %q", got)
	}
	if got := c.T("es", "msg.link_label"); got != "Entrar" {
		t.Errorf("a folder's text replaces the built-in one: %q", got)
	}
	if got := c.T("es", "msg.greet_name", "name", "Ana"); got != "Hola, Ana" {
		t.Errorf("placeholder: %q", got)
	}
	if got := c.T("es", "no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
	madrid, _ := time.LoadLocation("Europe/Madrid")
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC).In(madrid)
	if got := c.DateTime("es", at); got != "lunes 7 de diciembre de 2026, 10:30 (CET)" {
		t.Errorf("es date: %q", got)
	}
	if got := c.DateTime("en", at); got != "Monday 7 December 2026, 10:30 (CET)" {
		t.Errorf("en date: %q", got)
	}
	if _, err := Load(dir, "de"); err == nil {
		t.Error("a default language without a catalog loads")
	}
	bad := t.TempDir()
	_ = os.WriteFile(filepath.Join(bad, "it.json"), []byte(`{"msg.greet": `), 0o644)
	if _, err := Load(bad, ""); err == nil || !strings.Contains(err.Error(), "it.json") {
		t.Errorf("a broken catalog: %v", err)
	}
}

// own reads one shipped language's own keys (not what it falls back for).
func own(t *testing.T, lang string) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := fs.Glob(embedded, "locales/"+lang+"/*.json")
	if len(files) == 0 {
		t.Fatalf("no catalog files for %s", lang)
	}
	for _, f := range files {
		b, _ := embedded.ReadFile(f)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, v := range m {
			if _, dup := out[k]; dup {
				t.Errorf("%s: key %s is in two files", lang, k)
			}
			out[k] = v
		}
	}
	return out
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// TestCatalogKeys: every key the pages (data-i18n, data-i18n-attr, t('…'))
// and the hub's messages use is in every shipped language, the shipped
// languages have the same keys, and each text has the same placeholders in
// every language.
func TestCatalogKeys(t *testing.T) {
	shipped := []string{"en", "es"}
	cats := map[string]map[string]string{}
	for _, l := range shipped {
		cats[l] = own(t, l)
	}
	used := map[string]string{} // key → where
	scan := func(dir string, res ...*regexp.Regexp) {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			if ext := filepath.Ext(f); ext != ".html" && ext != ".js" && ext != ".go" || strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range res {
				for _, m := range re.FindAllStringSubmatch(string(b), -1) {
					for _, k := range strings.Split(m[1], ";") {
						if _, key, ok := strings.Cut(k, ":"); ok && re == attrRE {
							k = key
						}
						used[strings.TrimSpace(k)] = filepath.Base(f)
					}
				}
			}
		}
	}
	scan("../web/static", textRE, attrRE, callRE)
	scan("../hub", msgRE)
	for i := 0; i < 7; i++ {
		used["msg.weekday."+strconv.Itoa(i)] = "DateTime"
	}
	for i := 1; i <= 12; i++ {
		used["msg.month."+strconv.Itoa(i)] = "DateTime"
	}
	if len(used) < 20 {
		t.Fatalf("only %d keys found in use: the patterns no longer match the code", len(used))
	}
	var missing []string
	for k, where := range used {
		for _, l := range shipped {
			if _, ok := cats[l][k]; !ok {
				missing = append(missing, l+": "+k+" (used in "+where+")")
			}
		}
	}
	for _, l := range shipped[1:] {
		for k := range cats["en"] {
			if _, ok := cats[l][k]; !ok {
				missing = append(missing, l+": "+k+" (in en)")
			}
		}
		for k, v := range cats[l] {
			en, ok := cats["en"][k]
			if !ok {
				missing = append(missing, "en: "+k+" (in "+l+")")
				continue
			}
			a, b := placeholder.FindAllString(en, -1), placeholder.FindAllString(v, -1)
			sort.Strings(a)
			sort.Strings(b)
			if strings.Join(a, "") != strings.Join(b, "") {
				missing = append(missing, l+": "+k+" has placeholders "+strings.Join(b, "")+", en has "+strings.Join(a, ""))
			}
			if strings.TrimSpace(v) == "" {
				missing = append(missing, l+": "+k+" is empty")
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

var (
	textRE = regexp.MustCompile(`data-i18n="([^"]+)"`)
	attrRE = regexp.MustCompile(`data-i18n-attr="([^"]+)"`)
	callRE = regexp.MustCompile(`\bt\(\s*['"]([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)['"]`)
	msgRE  = regexp.MustCompile(`"(msg\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)"`)
)
