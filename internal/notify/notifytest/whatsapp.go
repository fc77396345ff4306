package notifytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/split-hub/split/internal/notify"
)

// WhatsAppMessage is one message the WhatsApp fake accepted.
type WhatsAppMessage struct {
	ID          string // "wamid.…"
	To          string // as posted
	WaID        string // digits
	Type        string // "interactive", "text" or "template"
	HeaderText  string
	Body        string // interactive body.text, or text.body
	Footer      string
	DisplayText string
	URL         string // the cta_url button's URL, or a template's URL button resolved with its parameter
	BizOpaque   string // biz_opaque_callback_data
	Version     string // Graph API version in the path
	Raw         []byte // the request body
	// Status is "accepted", or "failed" when the fake accepted it but then
	// reported 131047 by webhook (AsyncWindowErrors).
	Status string

	TemplateName     string   // template messages: the approved template's name
	TemplateLanguage string   // and language code
	BodyParams       []string // body parameter texts, {{1}} first
	ButtonParam      string   // the URL button's parameter (the dynamic URL suffix)

	InteractiveType string // interactive messages: "cta_url", "voice_call" or "call_permission_request"
	Payload         string // voice_call: action.parameters.payload (returned as cta_payload)
	TTLMinutes      int    // voice_call: action.parameters.ttl_minutes (default 10080)
}

// WhatsAppFake implements the WhatsApp Cloud API send-message endpoint:
//
//   - POST {URL}/{vNN.N}/{PhoneNumberID}/messages; an unknown phone number ID
//     gives Graph error 100 (subcode 33), a bad version 2500;
//   - Authorization: Bearer {AccessToken}, else 401 code 190 (OAuthException);
//   - Content-Type application/json; unknown keys are refused (100);
//     messaging_product "whatsapp" (100), recipient_type "individual", to
//     required (131008) and a phone number (100);
//   - type "text" (text.body 1..4096) or "interactive" with interactive.type
//     "cta_url": action.name "cta_url", parameters.display_text 1..20
//     characters, parameters.url http(s), body.text 1..1024, optional header
//     (type text ≤60, or image/video/document with a link), optional footer
//     ≤60 — a missing required parameter is 131008, a bad value 131009;
//     biz_opaque_callback_data ≤512;
//   - type "template" (research whatsapp.md §3.5): template.name and
//     template.language.code required (131008), language.policy
//     "deterministic" when given, components of type body / header / button
//     whose parameters are {"type":"text","text"} with non-empty text
//     without line breaks, tabs or more than four consecutive spaces
//     (132018); the template must be approved (ApproveTemplate) for that
//     name and language (else 132001), and the number of body parameters
//     and of URL-button parameters must match it (else 132000);
//   - the 24 h customer-service window: a number's window is open for 24 h
//     after its last inbound message (Inbound; numbers never mentioned are
//     treated as open). Free-form messages (not templates) outside it fail
//     with 131047 "Re-engagement message": synchronously (HTTP 400, the
//     default) or, with AsyncWindowErrors, accepted and then reported by a
//     "failed" status webhook;
//   - webhooks (Subscribe, SendStatus, and the asynchronous 131047) are
//     POSTed to the subscribed callback signed with X-Hub-Signature-256 =
//     sha256=hex(HMAC-SHA256(AppSecret, body)), from a goroutine the fake
//     owns and stops when the test ends;
//   - success {"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],
//     "messages":[{"id":"wamid.…"}]}; errors in the Graph envelope
//     {"error":{"message","type","code","error_subcode","error_data","fbtrace_id"}}.
type WhatsAppFake struct {
	URL           string // WhatsAppConfig.BaseURL
	Version       string
	PhoneNumberID string
	AccessToken   string
	AppSecret     string // signs the webhooks
	WABAID        string // the WhatsApp Business Account id in webhooks

	srv      *httptest.Server
	rec      recorder[WhatsAppMessage]
	hooks    recorder[WebhookDelivery]
	fails    failures[GraphError]
	requests atomic.Int64
	queue    chan []byte // webhook bodies for the delivery goroutine

	mu          sync.Mutex
	inbound     map[string]time.Time // wa_id → last inbound message; zero: never
	templates   map[string]WhatsAppTemplate
	asyncWindow bool
	callback    string

	calls *callState // the Calling API (whatsappcalls.go)
}

// GraphError is a Graph API error the fake returns.
type GraphError struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Message    string
	Details    string // error_data.details
}

// StartWhatsApp starts a fake Graph API; it stops when the test ends.
func StartWhatsApp(t testing.TB) *WhatsAppFake {
	t.Helper()
	f := &WhatsAppFake{
		Version:       "v25.0",
		PhoneNumberID: "1065" + randDigits(11),
		AccessToken:   "EAAG" + randHex(24),
		AppSecret:     randHex(16),
		WABAID:        "1022" + randDigits(11),
		inbound:       map[string]time.Time{},
		templates:     map[string]WhatsAppTemplate{},
		queue:         make(chan []byte, 256),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go f.deliverWebhooks(ctx, done)
	t.Cleanup(func() { cancel(); <-done }) // runs before srv.Close
	f.calls = newCallState()
	t.Cleanup(f.calls.close) // runs first: ends calls, stops timers and peers
	return f
}

func randDigits(n int) string {
	h := randHex(n)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte('0' + h[i]%10)
	}
	return b.String()
}

// Config is a notify.WhatsAppConfig that works against this fake.
func (f *WhatsAppFake) Config() notify.WhatsAppConfig {
	return notify.WhatsAppConfig{BaseURL: f.URL, Version: f.Version, PhoneNumberID: f.PhoneNumberID, AccessToken: f.AccessToken, Client: f.srv.Client()}
}

// WhatsAppWindow is the customer-service window: free-form messages are
// allowed this long after the customer's last message.
const WhatsAppWindow = 24 * time.Hour

// Inbound records that the customer at number (with or without "+") wrote
// to the business at time at: free-form messages to them are allowed until
// at + 24 h.
func (f *WhatsAppFake) Inbound(number string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inbound[strings.TrimPrefix(number, "+")] = at
}

// CloseWindow marks the customer's 24 h service window as closed (they never
// wrote): free-form messages to that number now fail with 131047.
func (f *WhatsAppFake) CloseWindow(number string) { f.Inbound(number, time.Time{}) }

// OpenWindow reopens the window (the customer wrote to the business now).
func (f *WhatsAppFake) OpenWindow(number string) { f.Inbound(number, time.Now()) }

// AsyncWindowErrors chooses how 131047 is reported: false (the default) as
// an HTTP 400 Graph error; true by accepting the message and then sending a
// "failed" status webhook with error 131047 to the subscribed callback.
func (f *WhatsAppFake) AsyncWindowErrors(async bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asyncWindow = async
}

// windowClosed reports whether free-form messages to waID are refused, and
// how.
func (f *WhatsAppFake) windowClosed(waID string) (closed, async bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, known := f.inbound[waID]
	return known && time.Since(at) >= WhatsAppWindow, f.asyncWindow
}

// FailNext makes the next n authenticated requests fail with e.
func (f *WhatsAppFake) FailNext(n int, e GraphError) { f.fails.push(n, e) }

// Messages returns the accepted messages.
func (f *WhatsAppFake) Messages() []WhatsAppMessage { return f.rec.all() }

// Wait waits until n messages were accepted.
func (f *WhatsAppFake) Wait(ctx context.Context, n int) ([]WhatsAppMessage, error) {
	return f.rec.wait(ctx, n)
}

// LastLink returns the button URL of the last accepted message (or the first
// link of its text).
func (f *WhatsAppFake) LastLink() string {
	m := f.rec.all()
	if len(m) == 0 {
		return ""
	}
	if l := m[len(m)-1].URL; l != "" {
		return l
	}
	return firstLink(m[len(m)-1].Body)
}

// Errors documented for the hub (research whatsapp.md §3.6).
var (
	// Err131047 is the documented answer outside the 24 h window.
	Err131047 = GraphError{HTTPStatus: 400, Code: 131047, Subcode: 2494010, Message: "(#131047) Re-engagement message",
		Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}
	// Err131026 is "message undeliverable".
	Err131026 = GraphError{HTTPStatus: 400, Code: 131026, Message: "(#131026) Message Undeliverable",
		Details: "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; the recipient has not accepted the new Terms of Service and Privacy Policy; the recipient is using an old WhatsApp version."}
	// Err130429 is the throughput limit.
	Err130429 = GraphError{HTTPStatus: 400, Code: 130429, Message: "(#130429) Rate limit hit",
		Details: "Cloud API message throughput has been reached."}
)

func (f *WhatsAppFake) graphErr(w http.ResponseWriter, e GraphError) {
	body := map[string]any{"message": e.Message, "type": "OAuthException", "code": e.Code, "fbtrace_id": "A" + randHex(10)}
	if e.Subcode != 0 {
		body["error_subcode"] = e.Subcode
	}
	if e.Details != "" {
		body["error_data"] = map[string]string{"messaging_product": "whatsapp", "details": e.Details}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.HTTPStatus)
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func badParam(details string) GraphError {
	return GraphError{HTTPStatus: 400, Code: 131009, Message: "(#131009) Parameter value is not valid", Details: details}
}

func missingParam(details string) GraphError {
	return GraphError{HTTPStatus: 400, Code: 131008, Message: "(#131008) Required parameter is missing", Details: details}
}

func invalidParam(msg string) GraphError {
	return GraphError{HTTPStatus: 400, Code: 100, Message: "(#100) " + msg}
}

// waBody is every key the fake understands; others are refused.
type waBody struct {
	MessagingProduct string          `json:"messaging_product"`
	RecipientType    string          `json:"recipient_type"`
	To               string          `json:"to"`
	Type             string          `json:"type"`
	BizOpaque        string          `json:"biz_opaque_callback_data"`
	Template         *waTemplateBody `json:"template"`
	Text             *struct {
		Body       string `json:"body"`
		PreviewURL bool   `json:"preview_url"`
	} `json:"text"`
	Interactive *struct {
		Type   string `json:"type"`
		Header *struct {
			Type     string     `json:"type"`
			Text     string     `json:"text"`
			Image    *waMediaID `json:"image"`
			Video    *waMediaID `json:"video"`
			Document *waMediaID `json:"document"`
		} `json:"header"`
		Body *struct {
			Text string `json:"text"`
		} `json:"body"`
		Footer *struct {
			Text string `json:"text"`
		} `json:"footer"`
		Action *struct {
			Name       string `json:"name"`
			Parameters *struct {
				DisplayText string  `json:"display_text"`
				URL         string  `json:"url"`
				TTLMinutes  *int    `json:"ttl_minutes"` // voice_call
				Payload     *string `json:"payload"`     // voice_call
			} `json:"parameters"`
		} `json:"action"`
	} `json:"interactive"`
}

type waMediaID struct {
	Link string `json:"link"`
	ID   string `json:"id"`
}

var (
	graphPath = regexp.MustCompile(`^/(v\d+\.\d+)/([^/]+)/(messages|calls|call_permissions|settings)$`)
	waNumber  = regexp.MustCompile(`^\+?[1-9]\d{6,14}$`)
)

// Requests counts every HTTP request the fake received, accepted or not.
func (f *WhatsAppFake) Requests() int { return int(f.requests.Load()) }

func (f *WhatsAppFake) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	m := graphPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		f.graphErr(w, GraphError{HTTPStatus: 400, Code: 2500, Message: "Unknown path components: " + r.URL.Path})
		return
	}
	if m[2] != f.PhoneNumberID {
		f.graphErr(w, GraphError{HTTPStatus: 400, Code: 100, Subcode: 33, Message: "Unsupported post request. Object with ID '" + m[2] +
			"' does not exist, cannot be loaded due to missing permissions, or does not support this operation."})
		return
	}
	edge := m[3]
	get := edge == "call_permissions" || edge == "settings"
	if r.Method != http.MethodPost && (r.Method != http.MethodGet || !get) || r.Method == http.MethodPost && edge == "call_permissions" {
		f.graphErr(w, invalidParam("Unsupported "+strings.ToLower(r.Method)+" request."))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.AccessToken {
		f.graphErr(w, GraphError{HTTPStatus: 401, Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	if e, ok := f.fails.pop(); ok {
		f.graphErr(w, e)
		return
	}
	if r.Method == http.MethodGet {
		f.serveCallingGet(w, r, edge)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		f.graphErr(w, invalidParam("The parameter messaging_product is required."))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		f.graphErr(w, invalidParam("Could not read the request."))
		return
	}
	if edge != "messages" {
		f.serveCallingPost(w, edge, m[1], raw)
		return
	}
	var b waBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		f.graphErr(w, invalidParam("Invalid parameter: "+err.Error()))
		return
	}
	msg, e := f.checkWA(b)
	if e != nil {
		f.graphErr(w, *e)
		return
	}
	msg.Version, msg.Raw, msg.Status = m[1], raw, "accepted"
	closed, async := f.windowClosed(msg.WaID)
	closed = closed && msg.Type != "template" // templates are allowed outside the window
	if closed && !async {
		f.graphErr(w, Err131047)
		return
	}
	msg.ID = "wamid." + base64.StdEncoding.EncodeToString([]byte("HBgL"+msg.WaID+"FQIAERgS"+randHex(9)))
	if closed {
		msg.Status = "failed"
	}
	f.rec.add(msg)
	f.calls.noteMessage(msg)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": b.To, "wa_id": msg.WaID}},
		"messages":          []map[string]string{{"id": msg.ID}},
	})
	if closed {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush() // the answer first, then the webhook (Meta guarantees no order either)
		}
		f.enqueue(f.statusBody(msg, "failed", []GraphError{Err131047}))
	}
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// checkWA applies the documented shape and limits.
func (f *WhatsAppFake) checkWA(b waBody) (WhatsAppMessage, *GraphError) {
	fail := func(e GraphError) (WhatsAppMessage, *GraphError) { return WhatsAppMessage{}, &e }
	switch {
	case b.MessagingProduct != "whatsapp":
		return fail(invalidParam("The parameter messaging_product is required."))
	case b.RecipientType != "" && b.RecipientType != "individual":
		return fail(badParam("recipient_type must be individual"))
	case b.To == "":
		return fail(missingParam("The parameter to is required."))
	case !waNumber.MatchString(b.To):
		return fail(invalidParam("Invalid parameter: to is not a valid phone number"))
	case runes(b.BizOpaque) > 512:
		return fail(badParam("biz_opaque_callback_data is longer than 512 characters"))
	}
	msg := WhatsAppMessage{To: b.To, WaID: strings.TrimPrefix(b.To, "+"), Type: b.Type, BizOpaque: b.BizOpaque}
	switch b.Type {
	case "text":
		switch {
		case b.Text == nil || b.Text.Body == "":
			return fail(missingParam("text.body is required"))
		case runes(b.Text.Body) > 4096:
			return fail(badParam("text.body is longer than 4096 characters"))
		}
		msg.Body = b.Text.Body
		return msg, nil
	case "template":
		if b.Interactive != nil || b.Text != nil {
			return fail(badParam("a template message has only the template object"))
		}
		return f.checkTemplate(msg, b.Template)
	case "interactive":
		if b.Template != nil {
			return fail(badParam("template is only for type template"))
		}
	case "":
		return fail(missingParam("The parameter type is required."))
	default:
		return fail(badParam("this fake supports type text, interactive and template, not " + b.Type))
	}
	in := b.Interactive
	switch {
	case in == nil:
		return fail(missingParam("interactive is required"))
	case in.Type == "voice_call" || in.Type == "call_permission_request":
		return f.checkCallMessage(msg, b)
	case in.Type != "cta_url":
		return fail(badParam("this fake supports interactive.type cta_url, not " + in.Type))
	case in.Action == nil || in.Action.Parameters == nil:
		return fail(missingParam("interactive.action.parameters is required"))
	case in.Action.Name != "cta_url":
		return fail(badParam("interactive.action.name must be cta_url"))
	case in.Action.Parameters.DisplayText == "":
		return fail(missingParam("action.parameters.display_text is required"))
	case runes(in.Action.Parameters.DisplayText) > 20:
		return fail(badParam("action.parameters.display_text is longer than 20 characters"))
	case in.Action.Parameters.URL == "":
		return fail(missingParam("action.parameters.url is required"))
	case !httpURL(in.Action.Parameters.URL):
		return fail(badParam("action.parameters.url is not a valid URL"))
	case in.Body == nil || in.Body.Text == "":
		return fail(missingParam("interactive.body.text is required"))
	case runes(in.Body.Text) > 1024:
		return fail(badParam("interactive.body.text is longer than 1024 characters"))
	case in.Footer != nil && (in.Footer.Text == "" || runes(in.Footer.Text) > 60):
		return fail(badParam("interactive.footer.text must be 1 to 60 characters"))
	}
	if h := in.Header; h != nil {
		switch h.Type {
		case "text":
			if h.Text == "" || runes(h.Text) > 60 {
				return fail(badParam("interactive.header.text must be 1 to 60 characters"))
			}
			msg.HeaderText = h.Text
		case "image", "video", "document":
			media := map[string]*waMediaID{"image": h.Image, "video": h.Video, "document": h.Document}[h.Type]
			if media == nil || (media.ID == "" && !httpURL(media.Link)) {
				return fail(missingParam("interactive.header." + h.Type + " needs a link or an id"))
			}
		default:
			return fail(badParam("interactive.header.type must be text, image, video or document"))
		}
	}
	msg.Body = in.Body.Text
	msg.InteractiveType = in.Type
	msg.DisplayText = in.Action.Parameters.DisplayText
	msg.URL = in.Action.Parameters.URL
	if in.Footer != nil {
		msg.Footer = in.Footer.Text
	}
	return msg, nil
}
