-- Join links: opaque 128-bit tokens that bring a customer (or an agent) into
-- one session or appointment in one role. Only the SHA-256 of a token is
-- stored; the token itself exists in the link that was sent.
CREATE TABLE join_links (
	hash            TEXT   NOT NULL PRIMARY KEY,
	session_id      TEXT   NOT NULL,
	appointment_id  TEXT   NOT NULL,
	role            TEXT   NOT NULL,
	not_before      BIGINT NOT NULL,
	expires_at      BIGINT NOT NULL,
	single_use      BIGINT NOT NULL,
	uses            BIGINT NOT NULL,
	last_used_at    BIGINT,
	revoked_at      BIGINT,
	channel         TEXT   NOT NULL,
	recipient       TEXT   NOT NULL,
	delivery_status TEXT   NOT NULL,
	delivery_id     TEXT   NOT NULL,
	created_at      BIGINT NOT NULL
);
CREATE INDEX join_links_session ON join_links (session_id);
CREATE INDEX join_links_appointment ON join_links (appointment_id);
CREATE INDEX join_links_delivery ON join_links (delivery_id);
