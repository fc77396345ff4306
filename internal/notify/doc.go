// Package notify delivers join links to customers: by SMS (Twilio Messages
// API), by e-mail (SMTP, optionally with a calendar invitation), by WhatsApp
// (Cloud API interactive call-to-action URL message), or not at all (the
// "copy" channel: the agent console shows the link).
//
// # Model
//
// A Message names a Channel, a recipient, some text and the Link. A Sender
// delivers one Message synchronously and returns a Receipt with the
// provider's ID and a normalised Status (queued, sent, delivered, read,
// failed, ready). Twilio, SMTP, WhatsApp and CopyLink are the Senders. Every
// Sender validates first (errors wrap ErrInvalid: E.164 numbers for SMS and
// WhatsApp, an RFC 5322 address for e-mail, an http(s) link) and reports
// provider refusals as *ProviderError, whose Retryable field says whether the
// same message may succeed later.
//
// A Dispatcher runs Senders in the background: Deliver queues, one worker
// per channel sends, retryable failures are retried with exponential backoff
// and jitter, and every attempt is reported through Options.OnResult, the
// last one with final=true. Close drains, then cancels.
//
//	Deliver ─▶ queue[sms] ─▶ worker ─▶ Twilio.Send ─▶ POST /2010-04-01/Accounts/{AC}/Messages.json
//	        ─▶ queue[email] ─▶ worker ─▶ SMTP.Send ─▶ EHLO [STARTTLS] [AUTH PLAIN] MAIL RCPT DATA QUIT
//	        ─▶ queue[whatsapp] ─▶ worker ─▶ WhatsApp.Send ─▶ POST /{v}/{phone-number-id}/messages
//	                                  └─▶ OnResult(m, receipt, err, attempt, final)
//
// # Providers
//
//   - Twilio: https://www.twilio.com/docs/messaging/api/message-resource
//     (form POST, HTTP Basic AccountSid:AuthToken, 201 JSON; errors
//     {"code","message","more_info","status"}). Status callbacks are verified
//     with ParseTwilioStatus (X-Twilio-Signature,
//     https://www.twilio.com/docs/usage/webhooks/webhooks-security).
//     Message.Ref travels as the "ref" query parameter of StatusCallback.
//   - WhatsApp Cloud API: interactive cta_url message
//     (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-cta-url-messages),
//     Bearer token, Graph error envelope {"error":{"code",…}}. Free-form
//     messages need the 24 h customer-service window; 131047 means a template
//     is required (ErrOutsideWindow). With WhatsAppConfig.Template the
//     sender then sends that approved template (its URL button's variable is
//     the link without Template.URLBase) in the same Send, and
//     Receipt.Fallback is "template"; 132xxx refusals of the template wrap
//     ErrTemplate. Message.Ref travels as biz_opaque_callback_data ("|tpl"
//     appended for templates) and comes back in status webhooks, which
//     ParseWhatsAppWebhook verifies (X-Hub-Signature-256, HMAC-SHA256 of the
//     raw body with the app secret) and decodes; VerifyWhatsAppSubscription
//     answers Meta's verification GET
//     (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/create-webhook-endpoint).
//     A status "failed" with 131047 arrives when Meta reports the window
//     asynchronously: send the same Message again with TemplateOnly.
//   - E-mail: RFC 5321 submission with net/smtp; RFC 5322 + MIME
//     (RFC 2045-2047) message; RFC 6047 iMIP invitation with an RFC 5545
//     iCalendar object (RFC 5546 REQUEST/CANCEL, RFC 7986 CONFERENCE).
//
// Secrets (AuthToken, AccessToken, Password, the app secret) never appear in errors or logs;
// the config types redact them in String, GoString and LogValue.
//
// Package notifytest has contract fakes of the three providers for tests.
package notify
