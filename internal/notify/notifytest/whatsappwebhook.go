package notifytest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WebhookDelivery is one webhook POST the WhatsApp fake made.
type WebhookDelivery struct {
	Body   []byte
	Status int   // the receiver's HTTP status; 0 when it was not reached
	Err    error // transport error, or no callback subscribed
}

// WhatsAppWebhookSignature is Meta's X-Hub-Signature-256 value for body,
// written here independently of package notify so each checks the other:
// "sha256=" and the lower-case hex HMAC-SHA256 of the raw body keyed with the
// app secret.
func WhatsAppWebhookSignature(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Subscribe registers callbackURL for webhooks as Meta does when the App
// Dashboard's Callback URL is saved: GET
// callbackURL?hub.mode=subscribe&hub.challenge=<n>&hub.verify_token=<verifyToken>
// must answer 200 with exactly the challenge as its body.
func (f *WhatsAppFake) Subscribe(ctx context.Context, callbackURL, verifyToken string) error {
	challenge := randDigits(10)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {challenge}, "hub.verify_token": {verifyToken}}
	sep := "?"
	if strings.Contains(callbackURL, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, callbackURL+sep+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return fmt.Errorf("notifytest: callback verification: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != challenge {
		return fmt.Errorf("notifytest: callback verification failed: %s %q (challenge %s)", resp.Status, body, challenge)
	}
	f.mu.Lock()
	f.callback = callbackURL
	f.mu.Unlock()
	return nil
}

// Webhooks returns the webhook deliveries the fake made by itself (the
// asynchronous 131047), in order.
func (f *WhatsAppFake) Webhooks() []WebhookDelivery { return f.hooks.all() }

// WaitWebhooks waits until the fake made n webhook deliveries by itself.
func (f *WhatsAppFake) WaitWebhooks(ctx context.Context, n int) ([]WebhookDelivery, error) {
	return f.hooks.wait(ctx, n)
}

// StatusPayload is the status webhook body for accepted message id (research
// whatsapp.md §2.5): status sent, delivered, read or failed (with errs).
func (f *WhatsAppFake) StatusPayload(id, status string, errs ...GraphError) ([]byte, error) {
	for _, m := range f.rec.all() {
		if m.ID == id {
			return f.statusBody(m, status, errs), nil
		}
	}
	return nil, fmt.Errorf("notifytest: no message %s", id)
}

// SendStatus POSTs a signed status webhook for message id to the subscribed
// callback and returns an error unless it answers 2xx.
func (f *WhatsAppFake) SendStatus(ctx context.Context, id, status string, errs ...GraphError) error {
	body, err := f.StatusPayload(id, status, errs...)
	if err != nil {
		return err
	}
	d := f.post(ctx, body)
	if d.Err != nil {
		return d.Err
	}
	if d.Status < 200 || d.Status > 299 {
		return fmt.Errorf("notifytest: status webhook answered %d", d.Status)
	}
	return nil
}

// statusBody builds the webhook envelope with one status.
func (f *WhatsAppFake) statusBody(m WhatsAppMessage, status string, errs []GraphError) []byte {
	st := map[string]any{
		"id": m.ID, "status": status, "timestamp": strconv.FormatInt(time.Now().Unix(), 10), "recipient_id": m.WaID,
	}
	if m.BizOpaque != "" {
		st["biz_opaque_callback_data"] = m.BizOpaque
	}
	if status == "sent" || status == "delivered" {
		category := "utility"
		if m.Type != "template" {
			category = "service"
		}
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "type": "regular", "category": category}
	}
	var list []map[string]any
	for _, e := range errs {
		title := e.Message
		if i := strings.Index(title, ") "); strings.HasPrefix(title, "(#") && i > 0 {
			title = title[i+2:]
		}
		o := map[string]any{"code": e.Code, "title": title, "message": title,
			"href": "/documentation/business-messaging/whatsapp/support/error-codes"}
		if e.Details != "" {
			o["error_data"] = map[string]string{"details": e.Details}
		}
		list = append(list, o)
	}
	if len(list) > 0 {
		st["errors"] = list
	}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": f.WABAID, "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]string{"display_phone_number": "15550783881", "phone_number_id": f.PhoneNumberID},
			"statuses":          []any{st},
		}}}}},
	})
	return body
}

// enqueue hands body to the delivery goroutine without blocking.
func (f *WhatsAppFake) enqueue(body []byte) {
	select {
	case f.queue <- body:
	default:
		f.hooks.add(WebhookDelivery{Body: body, Err: errors.New("notifytest: webhook queue full")})
	}
}

// deliverWebhooks is the fake's one goroutine: it POSTs queued webhooks in
// order until ctx ends, then closes done.
func (f *WhatsAppFake) deliverWebhooks(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-f.queue:
			f.hooks.add(f.post(ctx, body))
		}
	}
}

// post signs and POSTs body to the callback.
func (f *WhatsAppFake) post(ctx context.Context, body []byte) WebhookDelivery {
	d := WebhookDelivery{Body: body}
	f.mu.Lock()
	cb := f.callback
	f.mu.Unlock()
	if cb == "" {
		d.Err = errors.New("notifytest: no webhook callback subscribed (Subscribe)")
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb, bytes.NewReader(body))
	if err != nil {
		d.Err = err
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set("X-Hub-Signature-256", WhatsAppWebhookSignature(f.AppSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.Err = err
		return d
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)); err != nil {
		d.Err = err
	}
	resp.Body.Close()
	d.Status = resp.StatusCode
	return d
}
