// Package i18n holds SPLIT's translations: flat catalogs of message keys
// (customer.*, widget.*, agent.*, admin.*, wallboard.*, msg.*) to texts with
// {name} placeholders, per language. English and Spanish are embedded; more
// languages, or changed texts, come from a folder (i18n.dir): <lang>.json or
// <lang>/*.json files, merged over the embedded ones. A language falls back
// to English key by key. docs/i18n.md is the contract.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
)

//go:embed locales
var embedded embed.FS

// Fallback is the language every other one falls back to.
const Fallback = "en"

var langRE = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// Catalogs are the loaded languages.
type Catalogs struct {
	langs   map[string]map[string]string // merged over the fallback
	def     string
	ordered []string
}

// Load reads the embedded catalogs and then dir's (if not ""), and makes
// def ("" for English) the default language.
func Load(dir, def string) (*Catalogs, error) {
	raw := map[string]map[string]string{}
	sub, _ := fs.Sub(embedded, "locales")
	if err := readInto(raw, sub); err != nil {
		return nil, fmt.Errorf("i18n: embedded catalogs: %w", err)
	}
	if dir != "" {
		if err := readInto(raw, os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", dir, err)
		}
	}
	base := raw[Fallback]
	c := &Catalogs{langs: map[string]map[string]string{}}
	for lang, msgs := range raw {
		merged := make(map[string]string, len(base))
		for k, v := range base {
			merged[k] = v
		}
		for k, v := range msgs {
			merged[k] = v
		}
		c.langs[lang] = merged
		c.ordered = append(c.ordered, lang)
	}
	sort.Strings(c.ordered)
	if def == "" {
		def = Fallback
	}
	if _, ok := c.langs[def]; !ok {
		return nil, fmt.Errorf("i18n: default language %q has no catalog (have %s)", def, strings.Join(c.ordered, ", "))
	}
	c.def = def
	return c, nil
}

// readInto adds fsys's <lang>.json and <lang>/*.json to raw.
func readInto(raw map[string]map[string]string, fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		var files []string
		lang := strings.TrimSuffix(name, ".json")
		switch {
		case e.IsDir() && langRE.MatchString(name):
			sub, err := fs.Glob(fsys, name+"/*.json")
			if err != nil {
				return err
			}
			files = sub
		case !e.IsDir() && strings.HasSuffix(name, ".json") && langRE.MatchString(lang):
			files = []string{name}
		default:
			continue
		}
		lang = strings.ToLower(lang)
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return err
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if raw[lang] == nil {
				raw[lang] = map[string]string{}
			}
			for k, v := range m {
				raw[lang][k] = v
			}
		}
	}
	if raw[Fallback] == nil {
		return fmt.Errorf("no %s catalog", Fallback)
	}
	return nil
}

// Languages lists the loaded languages, sorted.
func (c *Catalogs) Languages() []string { return append([]string(nil), c.ordered...) }

// Default is the configured default language.
func (c *Catalogs) Default() string { return c.def }

// Match picks a loaded language for prefs, tried in order: each one is a
// language tag ("es", "es-MX") or an Accept-Language header. The first that
// matches a loaded language (by its base language: es-MX → es) wins; none:
// the default.
func (c *Catalogs) Match(prefs ...string) string {
	for _, p := range prefs {
		if p == "" {
			continue
		}
		tags, _, err := language.ParseAcceptLanguage(p)
		if err != nil {
			continue
		}
		for _, t := range tags {
			base, _ := t.Base()
			if _, ok := c.langs[strings.ToLower(t.String())]; ok {
				return strings.ToLower(t.String())
			}
			if _, ok := c.langs[base.String()]; ok {
				return base.String()
			}
		}
	}
	return c.def
}

// Messages is lang's whole catalog (English where it has no text).
func (c *Catalogs) Messages(lang string) map[string]string {
	if m, ok := c.langs[lang]; ok {
		return m
	}
	return c.langs[Fallback]
}

// T is key's text in lang with {name} placeholders filled from vars
// (name, value pairs). An unknown key is returned as it is.
func (c *Catalogs) T(lang, key string, vars ...string) string {
	s, ok := c.Messages(lang)[key]
	if !ok {
		return key
	}
	for i := 0; i+1 < len(vars); i += 2 {
		s = strings.ReplaceAll(s, "{"+vars[i]+"}", vars[i+1])
	}
	return s
}

// DateTime is t in lang with its weekday and month names, in t's location
// (msg.datetime: "Monday 7 December 2026, 10:00 (CET)").
func (c *Catalogs) DateTime(lang string, t time.Time) string {
	return c.T(lang, "msg.datetime", "weekday", c.T(lang, "msg.weekday."+strconv.Itoa(int(t.Weekday()))),
		"day", strconv.Itoa(t.Day()), "month", c.T(lang, "msg.month."+strconv.Itoa(int(t.Month()))),
		"year", strconv.Itoa(t.Year()), "time", t.Format("15:04"), "zone", t.Format("MST"))
}

// Time is t's time of day in lang (msg.time: "10:00 (CET)").
func (c *Catalogs) Time(lang string, t time.Time) string {
	return c.T(lang, "msg.time", "time", t.Format("15:04"), "zone", t.Format("MST"))
}
