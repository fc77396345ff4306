-- WhatsApp: call permissions per (business number, user), the usage the
-- Calling API limits (permission requests, connected calls), and webhook
-- deliveries that could not be forwarded to the chat platform.
CREATE TABLE whatsapp_permissions (
	phone_number_id TEXT   NOT NULL,
	user_key        TEXT   NOT NULL,
	status          TEXT   NOT NULL,
	expires_at      BIGINT,
	source          TEXT   NOT NULL,
	updated_at      BIGINT NOT NULL,
	PRIMARY KEY (phone_number_id, user_key)
);
CREATE TABLE whatsapp_usage (
	phone_number_id TEXT   NOT NULL,
	user_key        TEXT   NOT NULL,
	kind            TEXT   NOT NULL,
	at              BIGINT NOT NULL
);
CREATE INDEX whatsapp_usage_pair ON whatsapp_usage (phone_number_id, user_key, kind, at);
CREATE TABLE whatsapp_dead_letters (
	id            TEXT   NOT NULL PRIMARY KEY,
	received_at   BIGINT NOT NULL,
	failed_at     BIGINT NOT NULL,
	signature     TEXT   NOT NULL,
	content_type  TEXT   NOT NULL,
	body          TEXT   NOT NULL,
	body_base64   BIGINT NOT NULL,
	attempts      BIGINT NOT NULL,
	last_status   BIGINT NOT NULL,
	last_error    TEXT   NOT NULL
);
CREATE INDEX whatsapp_dead_letters_failed ON whatsapp_dead_letters (failed_at);
