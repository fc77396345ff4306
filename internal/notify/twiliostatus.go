package notify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// TwilioStatus is one status callback (Twilio POSTs it to StatusCallback
// whenever the message changes status; there is no callback for the initial
// status). MessageStatus is Twilio's word; Status is NormalizeTwilioStatus of it.
type TwilioStatus struct {
	MessageSid    string
	MessageStatus string // queued, sending, sent, delivered, undelivered, failed, read, …
	Status        string // normalised: queued, sent, delivered, read, failed
	ErrorCode     string // set for failed and undelivered, e.g. "30003"
	To            string
	From          string
	AccountSid    string
	Ref           string // Message.Ref, from the "ref" query parameter of the callback URL
}

const maxCallbackBody = 64 << 10

// ParseTwilioStatus verifies and parses a Twilio status callback. fullURL is
// the exact URL Twilio requested (scheme, host, port, path and query as
// configured in StatusCallback, which this server cannot know for sure behind
// a proxy). The X-Twilio-Signature header must be the base64 HMAC-SHA1, keyed
// with authToken, of fullURL followed by every POST parameter sorted by name,
// each written as name then value
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security). As Twilio's
// own validators do, the URL is also tried with the default port added or
// removed. Comparison is constant-time. A missing or wrong signature gives an
// error wrapping ErrSignature.
func ParseTwilioStatus(r *http.Request, authToken, fullURL string) (TwilioStatus, error) {
	if r.Method != http.MethodPost {
		return TwilioStatus{}, fmt.Errorf("%w: twilio: status callback must be a POST", ErrSignature)
	}
	if authToken == "" || fullURL == "" {
		return TwilioStatus{}, fmt.Errorf("%w: twilio: auth token and full URL are required to verify a callback", ErrSignature)
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return TwilioStatus{}, fmt.Errorf("%w: twilio: missing X-Twilio-Signature", ErrSignature)
	}
	if r.Header.Get("X-Twilio-Webhooks-Signature-Settings") != "" {
		return TwilioStatus{}, fmt.Errorf("%w: twilio: callback signed with a webhook-rule shared key, not the auth token", ErrSignature)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxCallbackBody)
	if err := r.ParseForm(); err != nil {
		return TwilioStatus{}, fmt.Errorf("%w: twilio: bad callback body: %v", ErrSignature, err)
	}
	ok := false
	for _, u := range urlVariants(fullURL) {
		want := TwilioSignature(authToken, u, r.PostForm)
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1 {
			ok = true
		}
	}
	if !ok {
		return TwilioStatus{}, fmt.Errorf("%w: twilio: X-Twilio-Signature does not match", ErrSignature)
	}
	f := r.PostForm
	st := TwilioStatus{
		MessageSid:    first(f.Get("MessageSid"), f.Get("SmsSid")),
		MessageStatus: first(f.Get("MessageStatus"), f.Get("SmsStatus")),
		ErrorCode:     f.Get("ErrorCode"),
		To:            f.Get("To"),
		From:          f.Get("From"),
		AccountSid:    f.Get("AccountSid"),
	}
	st.Status = NormalizeTwilioStatus(st.MessageStatus)
	if u, err := url.Parse(fullURL); err == nil {
		st.Ref = u.Query().Get(RefParam)
	}
	if st.MessageSid == "" || st.MessageStatus == "" {
		return st, fmt.Errorf("%w: twilio: callback without MessageSid or MessageStatus", ErrInvalid)
	}
	return st, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TwilioSignature computes X-Twilio-Signature for a form POST to fullURL:
// base64(HMAC-SHA1(authToken, fullURL + name1 + value1 + name2 + value2 …))
// with the parameters sorted by name (byte order) and, for a repeated name,
// by value.
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range names {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// urlVariants is fullURL as given, plus the same URL with the scheme's
// default port added (when it has none) or with its port removed.
func urlVariants(fullURL string) []string {
	out := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return out
	}
	v := *u
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		v.Host = net.JoinHostPort(u.Hostname(), port)
	} else {
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
	}
	return append(out, v.String())
}
