// Package webhook sends SPLIT's session lifecycle events to HTTP endpoints
// configured by the operator (CRM, ACD reporting, billing), and holds the
// receiver-side signature check, Verify.
//
// # Delivery model
//
// A Dispatcher has one queue and one worker goroutine per Endpoint, so the
// events for one endpoint are delivered one at a time, in the order Send
// accepted them, and a slow or dead endpoint delays only itself. Send never
// blocks: when an endpoint's queue is full the event is dropped for that
// endpoint, counted (Metrics.Dropped) and logged (rate-limited). New starts
// the workers; Close stops accepting events, flushes what is queued until its
// context ends, then abandons the rest and waits for every goroutine.
//
// Each attempt is a POST with a per-request timeout (Options.Timeout). The
// response decides what happens next:
//
//	2xx                           delivered
//	410 Gone                      the endpoint refuses this event: not retried
//	408, 429, 5xx, timeout,       retried with exponential backoff and jitter
//	connection error              (Options.InitialBackoff doubling up to
//	                              Options.MaxBackoff), at most
//	                              Options.MaxAttempts attempts in all
//	other 4xx, 3xx                permanent failure: not retried
//
// On 429 and 503 a Retry-After header (delta-seconds or an HTTP date) replaces
// the computed backoff, clamped to Options.MaxBackoff so that a receiver cannot
// park the worker indefinitely. Redirects are not followed by the default
// client. A final failure is logged at Warn with the endpoint's host (never
// its full URL, which may carry credentials or a token in the query), the
// event type, the delivery id, the number of attempts and the last status.
// The secret is never logged.
//
// Delivery is at least once: a receiver may see the same event twice (for
// example when its 2xx response was lost) and must deduplicate on the event
// id, which is also sent as the X-Split-Delivery header.
//
// # Wire format
//
// Every attempt of one event carries the same body and headers, except the
// signature, which is recomputed with the current time:
//
//	POST <endpoint URL>
//	Content-Type: application/json
//	User-Agent: split-webhook/1
//	X-Split-Event: session.ended
//	X-Split-Delivery: evt_Q2CTV5PW7FQZ4MVBYRJ2G6N3HA
//	X-Split-Signature: t=1767225600,v1=<64 lowercase hex digits>
//
//	{"id":"evt_Q2CTV5PW7FQZ4MVBYRJ2G6N3HA","type":"session.ended",
//	 "created_at":"2026-01-01T00:00:00.123456789Z","session_id":"ses_42",
//	 "data":{...}}
//
// created_at is the time of the event (not of the attempt) in RFC 3339 with
// nanoseconds, UTC. session_id is "" for events that are not about one
// session (agent.state). data is event-specific JSON, null when absent.
//
// # Signature
//
// X-Split-Signature is "t=<unix seconds>,v1=<hex>", where hex is the
// lowercase hex HMAC-SHA256, keyed with the endpoint's secret, of the ASCII
// decimal timestamp, a full stop, and the raw request body:
//
//	v1 = hex(HMAC-SHA256(secret, t + "." + body))
//
// This is the scheme Stripe uses. Because the timestamp is signed, a receiver
// bounds replay by refusing signatures older than a tolerance (five minutes
// is usual) in addition to deduplicating event ids. To verify:
//
//  1. read the raw body bytes, before any JSON decoding;
//  2. split the header on "," and each element on the first "="; take t and
//     every v1 (there may be several while a secret is being rotated; ignore
//     unknown keys such as a future v2);
//  3. compute the HMAC above and compare it with each v1 in constant time;
//  4. refuse if |now - t| exceeds the tolerance.
//
// Verify does exactly this, and Sign produces the header, for tests of a
// receiver. docs/webhooks.md has the same description with Go and Node.js
// receivers.
package webhook
