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
