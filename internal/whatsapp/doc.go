// Package whatsapp is the hub's side of the WhatsApp Business Platform
// (Cloud API messages and the Business Calling API, Graph signalling):
//
//   - one webhook endpoint for the Meta app (Service.ServeHTTP): the
//     hub.verify_token handshake (GET) and deliveries (POST), verified with
//     X-Hub-Signature-256 over the raw bytes, answered 200 at once, then
//     deduplicated, filtered for staleness and handed to the hub's Handler
//     on the service's own worker; every verified delivery is also
//     forwarded byte for byte, with its signature, to the company's chat
//     platform (retries, then a dead-letter record in the store);
//   - the Graph calling client per business number (pre_accept, accept,
//     reject, terminate, connect) with Meta's error envelope mapped to
//     *GraphError and sentinels (ErrNoPermission, …);
//   - call permissions (store first, then GET /call_permissions) and their
//     limits, permission requests and call-button messages;
//   - the number's calling settings (GET/POST /settings) and the settings
//     the configuration implies (Desired, Diff).
//
// The contract is Meta's documentation as summarised in
// shared/research/whatsapp.md (§2 webhooks, §5 calling, §7 limits, §8
// errors). Where Meta's text is uncertain the package takes the safe
// reading: terminate status compared without case, BSUID users keyed on
// wa_id when present else user_id, the legacy connection.webrtc.sdp ignored.
package whatsapp
