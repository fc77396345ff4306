-- Call records (docs/records.md): one per ended session, built once from its
-- history. The columns are what GET /v1/records filters and pages on; body
-- is the record's JSON. call_record_agents lists every agent of a record
-- (a transferred call has several) for the agent filter.
CREATE TABLE call_records (
	session_id TEXT   NOT NULL PRIMARY KEY,
	ended_at   BIGINT NOT NULL,
	mode       TEXT   NOT NULL,
	channel    TEXT   NOT NULL,
	queue      TEXT   NOT NULL,
	outcome    TEXT   NOT NULL,
	body       TEXT   NOT NULL
);
CREATE INDEX call_records_ended ON call_records (ended_at, session_id);

CREATE TABLE call_record_agents (
	session_id TEXT NOT NULL,
	agent      TEXT NOT NULL,
	PRIMARY KEY (agent, session_id)
);
