package webhook_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/split-hub/split/internal/webhook"
)

func ExampleVerify() {
	secret := "whsec_test"
	body := []byte(`{"id":"evt_1","type":"session.created","created_at":"2026-01-01T00:00:00Z","session_id":"ses_1","data":null}`)
	sentAt := time.Unix(1767225600, 0)
	header := webhook.Sign(secret, body, sentAt)
	fmt.Println(header)

	fmt.Println(webhook.Verify(secret, header, body, sentAt.Add(10*time.Second), 5*time.Minute))
	fmt.Println(webhook.Verify(secret, header, body, sentAt.Add(time.Hour), 5*time.Minute))
	fmt.Println(webhook.Verify("other", header, body, sentAt, 5*time.Minute))
	// Output:
	// t=1767225600,v1=20f0ddae51e338fd96d77542a0f2dec13694cf40097da88b91cdbb116cb9131b
	// <nil>
	// webhook: signature timestamp outside tolerance: timestamp 1767225600, now 1767229200
	// webhook: signature mismatch
}

// A receiver checks the signature over the raw body before decoding it, and
// deduplicates on X-Split-Delivery (delivery is at least once).
func ExampleVerify_receiver() {
	const secret = "whsec_test" // from the receiver's configuration
	mux := http.NewServeMux()
	mux.HandleFunc("POST /split-events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute)
		if err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest) // 4xx: SPLIT does not retry
			return
		}
		// ... skip if r.Header.Get(webhook.HeaderDelivery) was seen, else process body ...
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(":8080", mux))
}

func ExampleNew() {
	d, err := webhook.New([]webhook.Endpoint{
		{URL: "https://crm.example.com/split", Secret: "whsec_crm", Events: []string{"session.*"}},
		{URL: "https://wfm.example.com/hooks", Secret: "whsec_wfm", Events: []string{webhook.TypeAgentState}},
	}, webhook.Options{})
	if err != nil {
		log.Fatal(err)
	}
	d.Send(webhook.Event{Type: webhook.TypeSessionCreated, SessionID: "ses_42", Data: map[string]string{"from": "sip:alice@example.com"}})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		log.Print(err)
	}
}
