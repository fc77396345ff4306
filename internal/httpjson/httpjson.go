// Package httpjson writes SPLIT's JSON responses and its one error shape,
// {"error": {"code": "...", "message": "..."}}, shared by every HTTP handler.
package httpjson

import (
	"encoding/json"
	"net/http"
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

// Error sends the error document.
func Error(w http.ResponseWriter, status int, code, msg string) {
	var b Body
	b.Error.Code, b.Error.Message = code, msg
	Write(w, status, b)
}
