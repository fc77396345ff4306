-- SPLIT schema, shared by SQLite and PostgreSQL: portable types only
-- (TEXT and BIGINT; integers are BIGINT so values range the same on both).
-- Times are BIGINT Unix milliseconds (NULL = unset); JSON is TEXT.

CREATE TABLE sessions (
	id               TEXT    NOT NULL PRIMARY KEY,
	mode             TEXT    NOT NULL,
	state            TEXT    NOT NULL,
	entry_point      TEXT    NOT NULL,
	route            TEXT    NOT NULL,
	queue            TEXT    NOT NULL,
	customer_name    TEXT    NOT NULL,
	customer_contact TEXT    NOT NULL,
	context          TEXT    NOT NULL, -- JSON object of strings
	cause            TEXT    NOT NULL,
	cause_code       BIGINT  NOT NULL,
	agent_id         TEXT    NOT NULL,
	created_at       BIGINT  NOT NULL,
	answered_at      BIGINT,
	ended_at         BIGINT,
	node             TEXT    NOT NULL,
	last_seq         BIGINT  NOT NULL DEFAULT 0 -- last event sequence number
);
CREATE INDEX sessions_created_at ON sessions (created_at);
CREATE INDEX sessions_state ON sessions (state);

-- Append-only: the store has no statement that updates or deletes a row.
CREATE TABLE session_events (
	session_id  TEXT   NOT NULL REFERENCES sessions (id),
	seq         BIGINT NOT NULL,
	occurred_at BIGINT NOT NULL,
	event_type  TEXT   NOT NULL,
	leg         TEXT   NOT NULL,
	data        TEXT, -- JSON, NULL when absent
	PRIMARY KEY (session_id, seq)
);

CREATE TABLE agents (
	id         TEXT   NOT NULL PRIMARY KEY,
	name       TEXT   NOT NULL,
	queues     TEXT   NOT NULL, -- JSON array of strings
	skills     TEXT   NOT NULL, -- JSON array of strings
	created_at BIGINT NOT NULL
);

CREATE TABLE queues (
	name             TEXT    NOT NULL PRIMARY KEY,
	description      TEXT    NOT NULL,
	ring_timeout_sec BIGINT  NOT NULL,
	max_wait_sec     BIGINT  NOT NULL,
	wrap_up_sec      BIGINT  NOT NULL,
	overflow         TEXT    NOT NULL
);

CREATE TABLE appointments (
	id               TEXT    NOT NULL PRIMARY KEY,
	session_id       TEXT    NOT NULL,
	title            TEXT    NOT NULL,
	start_at         BIGINT  NOT NULL,
	duration_sec     BIGINT  NOT NULL,
	time_zone        TEXT    NOT NULL,
	customer_name    TEXT    NOT NULL,
	customer_contact TEXT    NOT NULL,
	agent_id         TEXT    NOT NULL,
	queue            TEXT    NOT NULL,
	notes            TEXT    NOT NULL,
	state            TEXT    NOT NULL,
	created_at       BIGINT  NOT NULL,
	updated_at       BIGINT  NOT NULL
);
CREATE INDEX appointments_start_at ON appointments (start_at);

-- Single-use marks for token ids (jti).
CREATE TABLE consumed_tokens (
	jti        TEXT   NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX consumed_tokens_expires_at ON consumed_tokens (expires_at);
