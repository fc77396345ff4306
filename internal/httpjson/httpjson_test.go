package httpjson

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

type req struct {
	Name    string            `json:"name"`
	Context map[string]string `json:"context"`
	Tags    []string          `json:"tags"`
}

func decode(body string) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	var v req
	return Decode(httptest.NewRecorder(), r, &v, 1<<16)
}

func TestDecode(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"Ana","context":{"order":"A-1"},"tags":["x"]}`: "",
		`{"name":"line one\nline two\ttab"}`:                    "",
		`{"name":"a\u0000b"}`:                                   "control character (U+0000)",
		`{"name":"a\u001bb"}`:                                   "control character (U+001B)",
		`{"context":{"a\u0000":"v"}}`:                           "control character",
		`{"tags":["ok","a\u0007"]}`:                             "control character",
		"{\"name\":\"a\xff\xfeb\"}":                             "not UTF-8",
		`{"name":"` + strings.Repeat("x", MaxString+1) + `"}`:   "longer than 4096",
		`{"name":"Ana"`:                                         "malformed JSON",
		`{"surprise":1}`:                                        "unknown field",
		`{"name":"` + strings.Repeat("y", 1<<16) + `"}`:         "too large",
	} {
		err := decode(body)
		switch {
		case want == "" && err != nil:
			t.Errorf("%.60s: %v", body, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%.60s: %v, want an error mentioning %q", body, err, want)
		case err != nil && (len(err.Error()) > 200 || !utf8.ValidString(err.Error())):
			t.Errorf("%.60s: the error is not short clean text: %q", body, err)
		}
	}
}

func TestErrorMessageIsClean(t *testing.T) {
	w := httptest.NewRecorder()
	Error(w, 404, "not_found", "no session a\x00b\xff"+strings.Repeat("x", 1000))
	var b Body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	m := b.Error.Message
	if !utf8.ValidString(m) || strings.ContainsRune(m, 0) || strings.ContainsRune(m, utf8.RuneError) || utf8.RuneCountInString(m) > MaxMessage+1 {
		t.Fatalf("message %q", m)
	}
	if !strings.HasPrefix(m, "no session a?b?xxx") || !strings.HasSuffix(m, "…") {
		t.Fatalf("message %q", m)
	}
}

// FuzzDecode: no input panics, and whatever Decode accepts holds only
// short, printable, valid UTF-8 strings.
func FuzzDecode(f *testing.F) {
	f.Add(`{"name":"Ana","context":{"k":"v"},"tags":["a"]}`)
	f.Add(`{"name":"a\u0000"}`)
	f.Add("{\"name\":\"\xff\"}")
	f.Add(`{"context":{"\ud800":"x"}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		var v req
		if err := Decode(httptest.NewRecorder(), r, &v, 1<<16); err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error text is not UTF-8: %q", err)
			}
			return
		}
		all := append([]string{v.Name}, v.Tags...)
		for k, x := range v.Context {
			all = append(all, k, x)
		}
		for _, s := range all {
			if !utf8.ValidString(s) || len(s) > MaxString || checkString(s) != nil {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
