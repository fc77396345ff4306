// Package notifytest has local contract fakes of the providers package
// notify talks to, for tests (no network needed):
//
//   - StartTwilio: the Twilio Messages API (POST
//     /2010-04-01/Accounts/{AccountSid}/Messages.json, Basic auth, form
//     fields, 201 JSON, Twilio error JSON, the documented test numbers) and
//     its status callbacks signed with X-Twilio-Signature.
//   - StartWhatsApp: the WhatsApp Cloud API messages endpoint (POST
//     /{version}/{phone-number-id}/messages, Bearer token, the text,
//     interactive cta_url and template shapes with their limits, approved
//     templates with 132001/132000, the Graph error envelope, the 24 h
//     customer-service window with 131047 as an HTTP error or as a "failed"
//     status webhook) and its webhooks (the verification GET of Subscribe,
//     status notifications signed with X-Hub-Signature-256).
//     The same fake serves the WhatsApp Business Calling API (Graph
//     signalling, research whatsapp.md §2–§9): POST /{v}/{pnid}/calls
//     (connect, pre_accept, accept, reject, terminate) with a per-call state
//     machine, GET /{v}/{pnid}/call_permissions, POST/GET /{v}/{pnid}/settings,
//     the interactive messages voice_call and call_permission_request, the
//     calls webhooks (connect with Meta's offer or answer, RINGING /
//     ACCEPTED / REJECTED, terminate) and inbound user messages, with
//     switchable delivery faults — and a Meta media peer in pion (MetaPeer)
//     for every call. UserCalls starts a user-initiated call; WaitCall
//     returns a business-initiated one.
//   - StartSMTP: a small real SMTP server on 127.0.0.1:0 (EHLO/HELO,
//     optional STARTTLS and AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT,
//     RFC 5321 reply codes) that parses what it receives with net/mail and
//     mime/multipart.
//
// Each fake records what it accepted behind a mutex, offers Wait(ctx, n) to
// wait for n records without sleeping, LastLink to pull the join link out,
// and FailNext to make the next requests fail like the provider would. The
// fakes follow the providers' documented contracts, not this repository's
// client: a client that passes against them should pass against the real
// service.
package notifytest

// # The WhatsApp Calling fake: what it proves and what it does not
//
// Written from Meta's documentation as summarised in research whatsapp.md
// (not from this repository's client), the fake proves that a client:
//
//   - sends the documented request shapes to /calls, /call_permissions,
//     /settings and /messages with the Bearer token (else 190), and copes
//     with Meta's error envelope and codes: 100 with error_data.details for
//     SDP problems, 131055 (SIP mode), 138000, 138002 (concurrency,
//     CallingLimits.MaxConcurrentCalls), 138003 (a call with that user is
//     up), 138006 (no permission), 138009 / 138017 (permission requests),
//     138012 (connected calls per 24 h), 138019 (action on an ended call),
//     131047 (24 h window, as for messages);
//   - sends SDP Meta's documented validation accepts: CRLF line ends,
//     exactly one audio m-line over UDP/TLS/RTP/SAVPF, a sha-256 (and only
//     sha-256) fingerprint, ICE credentials, a=setup, a=rtcp-mux, Opus (or
//     G.711 only when settings enable it);
//   - pre_accepts and accepts a user-initiated call with the same SDP
//     answer within the accept window (else terminate FAILED), and sends no
//     media before accept (MetaPeerStats.EarlyIn counts what it did send);
//   - places business-initiated calls only with a permission, applies
//     Meta's SDP answer from the connect webhook, and follows
//     RINGING/ACCEPTED/REJECTED/terminate;
//   - verifies X-Hub-Signature-256 over the raw bytes and survives
//     duplicate deliveries, a terminate before its connect, a late terminate
//     and a stale connect (CallWebhookTraps, UserCallOption);
//   - completes ICE (as the full, controlling agent against an ICE-lite
//     peer) and DTLS (as client against an actpass offer, or offering
//     actpass and getting passive) with pion, sends the first media packet,
//     exchanges Opus audio both ways (MetaPeer.WaitTone measures the
//     dominant frequency) and RFC 4733 telephone-event/8000 on the same
//     SSRC (WaitDigits), and keeps media flowing (Meta's 20 s / 30 s media
//     timeouts end the call with terminate FAILED 138021);
//   - validates calling settings as documented (HHMM call hours, at most
//     two non-overlapping ranges a day, ≤20 holidays, time zone ids,
//     read-only sip_user_password) and reads the generated SIP password.
//
// It does not prove:
//
//   - interoperability with Meta's real media stack and relays (public IPs,
//     IPv6, NAT, Meta's DTLS/SRTP profiles and certificates, how Meta's ICE
//     lite agent treats nomination, its jitter buffer, G.711 transcoding);
//     everything here runs on 127.0.0.1 with pion on both ends;
//   - Meta's exact validation and wording: rules Meta does not publish are
//     guessed conservatively (e.g. which SDP lines are mandatory, that
//     extra sha-384 fingerprints are refused, the error code for an action
//     on an ended call — 138019 here), and error titles are not Meta's;
//   - terminate status values for rejected or unanswered calls (the fake
//     sends COMPLETED, and FAILED when the accept window expires), the
//     exact timing of Meta's webhooks, its retry schedule (the fake does not
//     retry), batching of several events in one POST, the 20 s webhook
//     timeout (the fake waits 10 s), BSUID-only users, recording and
//     transcription, voicemail, SIP-mode webhooks, the unanswered-call
//     auto-revoke of permissions, and the callback permission beyond one
//     automatic accept reply per call when callback_permission_status is
//     ENABLED;
//   - the SIP signalling variant (INVITE over TLS with digest, SDES media):
//     not in this fake;
//   - quotas per WABA and rate limits (call_permissions 613, 130429 for
//     calls), calling restrictions, messaging-tier prerequisites (138015),
//     and the business-initiated-calling country exclusions (138013).
//
// Things to verify against a live account are listed in research
// whatsapp.md §11; the fake's choices on them are documented on the
// symbols that make them.
