// Package httpjson writes SPLIT's JSON responses and its one error shape,
// {"error": {"code": "...", "message": "..."}}, shared by every HTTP handler,
// and reads JSON request bodies with the checks every one of them needs.
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Body is the error document.
type Body struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Write sends v as JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MaxMessage is the longest error message sent, in runes.
const MaxMessage = 200

// Error sends the error document. The message is made fit for a client
// whatever it quotes: valid UTF-8, no control characters, at most
// MaxMessage runes.
func Error(w http.ResponseWriter, status int, code, msg string) {
	var b Body
	b.Error.Code, b.Error.Message = code, Clean(msg, MaxMessage)
	Write(w, status, b)
}

// Clean is s as printable text of at most n runes: invalid UTF-8 and
// control characters become U+FFFD's ASCII stand-in "?", and a longer text
// is cut with "…".
func Clean(s string, n int) string {
	var b strings.Builder
	i := 0
	for _, r := range strings.ToValidUTF8(s, "?") {
		if i == n {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
		i++
	}
	return b.String()
}

// MaxString is the longest string a JSON body may carry, in bytes (the
// longest legitimate field, an appointment's notes, is 2000 characters).
const MaxString = 4096

// Errors of Decode; their text is the message for the client.
var (
	ErrTooLarge = errors.New("the request body is too large")
	ErrNotUTF8  = errors.New("the request body is not UTF-8")
)

// Decode reads a JSON object of at most limit bytes from r's body into v,
// refusing unknown fields, bytes that are not UTF-8, and strings (values or
// keys) that hold control characters other than tab and newline or are
// longer than MaxString. Its error is fit to send as a 400's message.
func Decode(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return ErrTooLarge
		}
		return fmt.Errorf("cannot read the request body")
	}
	if !utf8.Valid(b) {
		return ErrNotUTF8
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("malformed JSON: %s", Clean(err.Error(), 120))
	}
	if err := CheckStrings(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %s", Clean(err.Error(), 120))
	}
	return nil
}

// CheckStrings walks a decoded JSON value and refuses strings (keys too)
// with control characters other than tab, CR and LF, or longer than
// MaxString bytes.
func CheckStrings(v any) error {
	switch x := v.(type) {
	case string:
		return checkString(x)
	case []any:
		for _, e := range x {
			if err := CheckStrings(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := checkString(k); err != nil {
				return err
			}
			if err := CheckStrings(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkString(s string) error {
	if len(s) > MaxString {
		return fmt.Errorf("a string of the request is longer than %d bytes", MaxString)
	}
	return CheckText(s)
}

// CheckText refuses control characters other than tab, CR and LF: text
// that a store, a log or a SIP header must not receive.
func CheckText(s string) error {
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return fmt.Errorf("the request holds a control character (U+%04X); text fields take printable text only", r)
		}
	}
	return nil
}
