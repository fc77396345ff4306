package hub

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/google/uuid"
)

// The session reference travels through the ACD in three headers (see
// docs/acd.md): User-to-User (RFC 7433, hex, with a leading protocol
// discriminator octet 00 so that platforms that strip the first octet — as
// Genesys Cloud does without a pd parameter — keep the id), X-Split-Session
// and Call-Info with the agent-view URL.
const (
	HeaderUUI     = "User-to-User"
	HeaderSession = "X-Split-Session"
)

// EncodeUUI returns the User-to-User header value for a session id:
// 34 hex characters plus parameters, well inside the 128-character limit
// that ACDs and the ISUP interworking impose.
func EncodeUUI(sessionID string) (string, error) {
	u, err := uuid.Parse(sessionID)
	if err != nil {
		return "", err
	}
	return "00" + strings.ToUpper(hex.EncodeToString(u[:])) + ";encoding=hex;purpose=isdn-uui;content=isdn-uui", nil
}

// ErrNotOurs means a User-to-User value is not a SPLIT session reference
// (another system's UUI, e.g. an Avaya UCID): the call is not correlated.
var ErrNotOurs = errors.New("hub: UUI is not a SPLIT reference")

// ParseUUI extracts the session id from a User-to-User value. It accepts the
// data with or without the protocol discriminator (some ACDs strip the first
// octet), any case, and ignores parameters; a header longer than RFC 7433
// practice allows is refused.
func ParseUUI(v string) (string, error) {
	if len(v) > 512 {
		return "", ErrNotOurs
	}
	data, params, _ := strings.Cut(strings.TrimSpace(v), ";")
	if enc := uuiParam(params, "encoding"); enc != "" && !strings.EqualFold(enc, "hex") {
		return "", ErrNotOurs
	}
	b, err := hex.DecodeString(strings.TrimSpace(data))
	if err != nil {
		return "", ErrNotOurs
	}
	switch {
	case len(b) == 17 && b[0] == 0x00:
		b = b[1:]
	case len(b) == 16:
	default:
		return "", ErrNotOurs
	}
	u, err := uuid.FromBytes(b)
	if err != nil || u.Version() != 7 {
		return "", ErrNotOurs
	}
	return u.String(), nil
}

func uuiParam(params, name string) string {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, name) {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// sessionRef finds the session a SIP request refers to: X-Split-Session
// first (exact), then User-to-User.
func sessionRef(headers map[string]string) (string, bool) {
	for k, v := range headers {
		if strings.EqualFold(k, HeaderSession) {
			if u, err := uuid.Parse(strings.TrimSpace(v)); err == nil {
				return u.String(), true
			}
		}
	}
	for k, v := range headers {
		if strings.EqualFold(k, HeaderUUI) || strings.EqualFold(k, "X-User-to-User") {
			if id, err := ParseUUI(v); err == nil {
				return id, true
			}
		}
	}
	return "", false
}
