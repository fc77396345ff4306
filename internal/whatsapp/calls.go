package whatsapp

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxOpaque bounds biz_opaque_callback_data and call-button payloads (Meta: 512).
const MaxOpaque = 512

type callSession struct {
	SDPType string `json:"sdp_type"`
	SDP     string `json:"sdp"`
}

type callRequest struct {
	MessagingProduct string       `json:"messaging_product"`
	CallID           string       `json:"call_id,omitempty"`
	To               string       `json:"to,omitempty"`
	Recipient        string       `json:"recipient,omitempty"`
	Action           string       `json:"action"`
	Session          *callSession `json:"session,omitempty"`
	BizOpaque        string       `json:"biz_opaque_callback_data,omitempty"`
}

// bsuidRE is a business-scoped user id: ISO country, ".", up to 128 alnum.
var bsuidRE = regexp.MustCompile(`^[A-Z]{2}\.[A-Za-z0-9]{1,128}$`)

// IsBSUID reports whether user is a business-scoped user id rather than a
// phone number (wa_id).
func IsBSUID(user string) bool { return bsuidRE.MatchString(user) }

// waID normalises a phone number for "to": digits without "+".
func waID(user string) string { return strings.TrimPrefix(strings.TrimSpace(user), "+") }

// UserKey is how a user is keyed in the store and in events: a phone
// number as digits without "+" (Meta's wa_id), a BSUID unchanged.
func UserKey(user string) string {
	if IsBSUID(strings.TrimSpace(user)) {
		return strings.TrimSpace(user)
	}
	return waID(user)
}

// ParseUser checks a WhatsApp user given by a client (+E.164, digits, or a
// BSUID) and returns its key (UserKey).
func ParseUser(user string) (string, error) {
	user = strings.TrimSpace(user)
	if err := checkUser(user); err != nil {
		return "", err
	}
	return UserKey(user), nil
}

func checkUser(user string) error {
	switch {
	case IsBSUID(user):
		return nil
	case len(waID(user)) >= 6 && len(waID(user)) <= 20 && strings.Trim(waID(user), "0123456789") == "":
		return nil
	}
	return invalidf("user %q is neither a phone number nor a business-scoped user id", user)
}

// CRLF returns sdp with every line ending CRLF (Meta requires RFC 8866
// line ends; a bare LF gives "set remote description: EOF"-like failures).
func CRLF(sdp string) string {
	if sdp == "" {
		return ""
	}
	s := strings.ReplaceAll(sdp, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimRight(s, "\n")
	return strings.ReplaceAll(s, "\n", "\r\n") + "\r\n"
}

func checkSDP(sdp string) error {
	if !strings.HasPrefix(strings.TrimSpace(sdp), "v=0") {
		return invalidf("the SDP must start with v=0")
	}
	return nil
}

func checkOpaque(what, s string) error {
	if utf8.RuneCountInString(s) > MaxOpaque {
		return invalidf("%s is longer than %d characters", what, MaxOpaque)
	}
	return nil
}

func (c *Client) callAction(ctx context.Context, r callRequest) error {
	r.MessagingProduct = "whatsapp"
	var out struct {
		Success bool `json:"success"`
	}
	return c.do(ctx, http.MethodPost, "calls", nil, r, &out)
}

// PreAccept sends pre_accept with the SDP answer for a user-initiated call
// (media must not flow until Accept returns).
func (c *Client) PreAccept(ctx context.Context, callID, sdpAnswer string) error {
	if callID == "" {
		return invalidf("call id is required")
	}
	if err := checkSDP(sdpAnswer); err != nil {
		return err
	}
	return c.callAction(ctx, callRequest{CallID: callID, Action: "pre_accept",
		Session: &callSession{SDPType: "answer", SDP: CRLF(sdpAnswer)}})
}

// Accept sends accept with the SDP answer (the same as PreAccept's) and
// opaque as biz_opaque_callback_data (echoed in the terminate webhook).
func (c *Client) Accept(ctx context.Context, callID, sdpAnswer, opaque string) error {
	if callID == "" {
		return invalidf("call id is required")
	}
	if err := checkSDP(sdpAnswer); err != nil {
		return err
	}
	if err := checkOpaque("biz_opaque_callback_data", opaque); err != nil {
		return err
	}
	return c.callAction(ctx, callRequest{CallID: callID, Action: "accept",
		Session: &callSession{SDPType: "answer", SDP: CRLF(sdpAnswer)}, BizOpaque: opaque})
}

// Reject refuses a user-initiated call.
func (c *Client) Reject(ctx context.Context, callID string) error {
	if callID == "" {
		return invalidf("call id is required")
	}
	return c.callAction(ctx, callRequest{CallID: callID, Action: "reject"})
}

// Terminate ends a call in either direction.
func (c *Client) Terminate(ctx context.Context, callID string) error {
	if callID == "" {
		return invalidf("call id is required")
	}
	return c.callAction(ctx, callRequest{CallID: callID, Action: "terminate"})
}

// Connect places a business-initiated call to user (wa_id or BSUID) with
// the hub's SDP offer and returns Meta's call id (wacid). Meta's answer
// arrives in a connect webhook.
func (c *Client) Connect(ctx context.Context, user, sdpOffer, opaque string) (string, error) {
	if err := checkUser(user); err != nil {
		return "", err
	}
	if err := checkSDP(sdpOffer); err != nil {
		return "", err
	}
	if err := checkOpaque("biz_opaque_callback_data", opaque); err != nil {
		return "", err
	}
	r := callRequest{MessagingProduct: "whatsapp", Action: "connect",
		Session: &callSession{SDPType: "offer", SDP: CRLF(sdpOffer)}, BizOpaque: opaque}
	if IsBSUID(user) {
		r.Recipient = user
	} else {
		r.To = waID(user)
	}
	var out struct {
		Calls []struct {
			ID string `json:"id"`
		} `json:"calls"`
	}
	if err := c.do(ctx, http.MethodPost, "calls", nil, r, &out); err != nil {
		return "", err
	}
	if len(out.Calls) == 0 || out.Calls[0].ID == "" {
		return "", &GraphError{HTTPStatus: http.StatusOK, Message: "unexpected connect response (no calls[0].id)"}
	}
	return out.Calls[0].ID, nil
}
