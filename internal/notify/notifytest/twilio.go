package notifytest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/split-hub/split/internal/notify"
)

// SMS is one message the Twilio fake accepted.
type SMS struct {
	SID                 string // "SM" + 32 hex
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	Status              string     // "queued" ("accepted" with a Messaging Service), then whatever SendStatus set
	Form                url.Values // everything that was posted
}

// TwilioFake implements the Twilio Messages API
// (https://www.twilio.com/docs/messaging/api/message-resource):
//
//   - only POST {URL}/2010-04-01/Accounts/{AccountSID}/Messages.json exists
//     (anything else: 404, code 20404; other methods, including the list
//     operation GET, are not implemented: 405);
//   - HTTP Basic auth AccountSID:AuthToken, else 401 code 20003;
//   - form fields: To required (21604) and E.164 (21211); From or
//     MessagingServiceSid required (21603), both allowed as Twilio documents;
//     From must be the fake's number or an alphanumeric sender ID (21606);
//     MessagingServiceSid must be the fake's (21701); Body required (21602)
//     and at most 1600 characters (21617); StatusCallback an absolute
//     http(s) URL (21609);
//   - Twilio's documented magic test numbers as To: +15005550001 (21211),
//     +15005550002 (21612), +15005550003 (21408), +15005550004 (21610),
//     +15005550009 (21614);
//   - 201 with the Message resource JSON; errors as
//     {"code","message","more_info","status"}.
type TwilioFake struct {
	URL                 string // TwilioConfig.BaseURL
	AccountSID          string
	AuthToken           string
	From                string // the account's number
	MessagingServiceSID string // the account's Messaging Service
	// CallbackClient makes the status callbacks (default http.DefaultClient;
	// set it to an httptest TLS server's Client to call an https receiver).
	CallbackClient *http.Client

	srv      *httptest.Server
	rec      recorder[SMS]
	fails    failures[twilioFailure]
	requests atomic.Int64
}

type twilioFailure struct {
	status, code int
	message      string
}

// StartTwilio starts a fake Twilio; it stops when the test ends.
func StartTwilio(t testing.TB) *TwilioFake {
	t.Helper()
	f := &TwilioFake{
		AccountSID:          "AC" + randHex(16),
		AuthToken:           randHex(16),
		From:                "+15005550006",
		MessagingServiceSID: "MG" + randHex(16),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// Config is a notify.TwilioConfig that works against this fake (From set,
// no Messaging Service, no StatusCallback).
func (f *TwilioFake) Config() notify.TwilioConfig {
	return notify.TwilioConfig{BaseURL: f.URL, AccountSID: f.AccountSID, AuthToken: f.AuthToken, From: f.From, Client: f.srv.Client()}
}

// FailNext makes the next n authenticated requests fail with httpStatus and
// Twilio's error JSON carrying code and message (429 also sets Retry-After: 1).
func (f *TwilioFake) FailNext(n, httpStatus, code int, message string) {
	f.fails.push(n, twilioFailure{httpStatus, code, message})
}

// Messages returns the accepted messages.
func (f *TwilioFake) Messages() []SMS { return f.rec.all() }

// Wait waits until n messages were accepted.
func (f *TwilioFake) Wait(ctx context.Context, n int) ([]SMS, error) { return f.rec.wait(ctx, n) }

// LastLink returns the first link of the last accepted message's Body.
func (f *TwilioFake) LastLink() string {
	m := f.rec.all()
	if len(m) == 0 {
		return ""
	}
	return firstLink(m[len(m)-1].Body)
}

var (
	e164        = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)
	alphaSender = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	magicTo     = map[string]twilioFailure{
		"+15005550001": {400, 21211, "The 'To' number +15005550001 is not a valid phone number."},
		"+15005550002": {400, 21612, "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number via SMS."},
		"+15005550003": {400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003."},
		"+15005550004": {400, 21610, "Attempt to send to unsubscribed recipient"},
		"+15005550009": {400, 21614, "'To' number is not a valid mobile number"},
	}
)

func twilioJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func twilioErr(w http.ResponseWriter, e twilioFailure) {
	if e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	twilioJSON(w, e.status, map[string]any{
		"code":      e.code,
		"message":   e.message,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(e.code),
		"status":    e.status,
	})
}

// Requests counts every HTTP request the fake received, accepted or not.
func (f *TwilioFake) Requests() int { return int(f.requests.Load()) }

func (f *TwilioFake) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	path := "/2010-04-01/Accounts/" + f.AccountSID + "/Messages.json"
	if r.URL.Path != path {
		twilioErr(w, twilioFailure{404, 20404, "The requested resource " + r.URL.Path + " was not found"})
		return
	}
	if r.Method != http.MethodPost {
		twilioErr(w, twilioFailure{405, 20004, "Method not allowed"})
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.AccountSID || pass != f.AuthToken {
		twilioJSON(w, 401, map[string]any{
			"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authenticate",
			"more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
		})
		return
	}
	if e, ok := f.fails.pop(); ok {
		twilioErr(w, e)
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioErr(w, twilioFailure{400, 21604, "A 'To' phone number is required."})
		return
	}
	form := r.PostForm
	to, from, svc, body, cb := form.Get("To"), form.Get("From"), form.Get("MessagingServiceSid"), form.Get("Body"), form.Get("StatusCallback")
	switch {
	case to == "":
		twilioErr(w, twilioFailure{400, 21604, "A 'To' phone number is required."})
		return
	case !e164.MatchString(to):
		twilioErr(w, twilioFailure{400, 21211, "The 'To' number " + to + " is not a valid phone number."})
		return
	case from == "" && svc == "":
		twilioErr(w, twilioFailure{400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."})
		return
	case from != "" && from != f.From && (e164.MatchString(from) || !alphaSender.MatchString(from)):
		twilioErr(w, twilioFailure{400, 21606, "The From phone number " + from + " is not a valid, SMS-capable inbound phone number or short code for your account."})
		return
	case svc != "" && svc != f.MessagingServiceSID:
		twilioErr(w, twilioFailure{400, 21701, "The Messaging Service Sid " + svc + " is invalid."})
		return
	case body == "" && form.Get("MediaUrl") == "" && form.Get("ContentSid") == "":
		twilioErr(w, twilioFailure{400, 21602, "Message body is required."})
		return
	case len(utf16.Encode([]rune(body))) > 1600:
		twilioErr(w, twilioFailure{400, 21617, "The concatenated message body exceeds the 1600 character limit."})
		return
	}
	if cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			twilioErr(w, twilioFailure{400, 21609, "The StatusCallback URL " + cb + " is not a valid URL."})
			return
		}
	}
	if e, ok := magicTo[to]; ok {
		twilioErr(w, e)
		return
	}
	sms := SMS{SID: "SM" + randHex(16), To: to, From: from, MessagingServiceSID: svc, Body: body, StatusCallback: cb, Status: "queued", Form: form}
	segments := strconv.Itoa(smsSegments(body))
	if svc != "" {
		sms.Status = "accepted" // a Messaging Service picks the sender later
		segments = "0"
	}
	f.rec.add(sms)
	now := time.Now().UTC().Format(time.RFC1123Z)
	uri := path[:len(path)-len(".json")] + "/" + sms.SID
	twilioJSON(w, http.StatusCreated, map[string]any{
		"account_sid": f.AccountSID, "api_version": "2010-04-01", "body": body,
		"date_created": now, "date_sent": nil, "date_updated": now, "direction": "outbound-api",
		"error_code": nil, "error_message": nil, "from": nullable(from), "messaging_service_sid": nullable(svc),
		"num_media": "0", "num_segments": segments, "price": nil, "price_unit": "USD",
		"sid": sms.SID, "status": sms.Status, "to": to, "uri": uri + ".json",
		"subresource_uris": map[string]string{"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// gsm7 is the GSM 03.38 basic character set; gsm7Ext costs two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "^{}\\[~]|€\f"
)

// smsSegments counts SMS parts: GSM-7 160 (153 per part), else UCS-2 70 (67).
func smsSegments(body string) int {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7Ext, r):
			septets += 2
		default:
			gsm = false
		}
	}
	if !gsm {
		n := len(utf16.Encode([]rune(body)))
		if n <= 70 {
			return 1
		}
		return (n + 66) / 67
	}
	if septets <= 160 {
		return 1
	}
	return (septets + 152) / 153
}

// SendStatus makes Twilio's status callback for message sid: a form POST to
// its StatusCallback with AccountSid, ApiVersion, From, To, MessageSid,
// SmsSid, MessageStatus, SmsStatus (and ErrorCode when not empty), signed
// with X-Twilio-Signature over the exact StatusCallback URL. It returns an
// error unless the receiver answers 2xx.
func (f *TwilioFake) SendStatus(ctx context.Context, sid, status, errorCode string) error {
	idx, sms := -1, SMS{}
	for i, m := range f.rec.all() {
		if m.SID == sid {
			idx, sms = i, m
		}
	}
	switch {
	case idx < 0:
		return fmt.Errorf("notifytest: no message %s", sid)
	case sms.StatusCallback == "":
		return fmt.Errorf("notifytest: message %s has no StatusCallback", sid)
	}
	form := url.Values{
		"AccountSid": {f.AccountSID}, "ApiVersion": {"2010-04-01"}, "To": {sms.To},
		"MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {status}, "SmsStatus": {status},
	}
	if sms.From != "" {
		form.Set("From", sms.From)
	}
	if sms.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", sms.MessagingServiceSID)
	}
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sms.StatusCallback, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", TwilioSignature(f.AuthToken, sms.StatusCallback, form))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	client := f.CallbackClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("notifytest: status callback answered %s", resp.Status)
	}
	f.rec.update(idx, func(m *SMS) { m.Status = status })
	return nil
}

// TwilioSignature is Twilio's documented request signature, written here
// independently of package notify so each checks the other: take the full
// URL, append every POST parameter sorted by name (Unix byte order), name
// then value with no separators, HMAC-SHA1 it with the auth token, base64.
func TwilioSignature(authToken, fullURL string, form url.Values) string {
	var pairs []string
	for k, vs := range form {
		for _, v := range vs {
			pairs = append(pairs, k+"\x00"+v)
		}
	}
	sort.Strings(pairs)
	s := fullURL
	for _, p := range pairs {
		s += strings.Replace(p, "\x00", "", 1)
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
