-- The built-in ACD's state when several nodes share PostgreSQL: the queued
-- sessions and the agents' states live here, so queue order and the
-- longest-idle agent are global, and an offer pairs a session with an agent
-- under row locks (FOR UPDATE SKIP LOCKED). Times are Unix milliseconds.
CREATE TABLE acd_agents (
    id             TEXT PRIMARY KEY COLLATE "C",
    name           TEXT NOT NULL,
    node           TEXT NOT NULL,            -- where the agent logged in (its console)
    queues         TEXT[] NOT NULL,
    state          TEXT NOT NULL,
    since          BIGINT NOT NULL,
    idle_since     BIGINT NOT NULL,
    login_seq      BIGINT NOT NULL,
    session        TEXT NOT NULL DEFAULT '', -- ringing for, or in a call (and its wrap-up) with
    call_queue     TEXT NOT NULL DEFAULT '',
    call_node      TEXT NOT NULL DEFAULT '', -- the node of the call's session
    call_priority  INTEGER NOT NULL DEFAULT 0,
    answered_at    BIGINT NOT NULL DEFAULT 0,
    wrap_until     BIGINT NOT NULL DEFAULT 0,
    logout_pending BOOLEAN NOT NULL DEFAULT false,
    pause_pending  BOOLEAN NOT NULL DEFAULT false,
    handled        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX acd_agents_ready ON acd_agents (idle_since, login_seq) WHERE state = 'ready';

CREATE SEQUENCE acd_seq;

CREATE TABLE acd_waiting (
    session     TEXT PRIMARY KEY COLLATE "C",
    queue       TEXT NOT NULL,
    node        TEXT NOT NULL,               -- the session's owner
    priority    INTEGER NOT NULL,
    front       BOOLEAN NOT NULL,
    seq         BIGINT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    agent       TEXT NOT NULL DEFAULT '',    -- the agent it rings; '' while waiting
    offer_gen   INTEGER NOT NULL DEFAULT 0,
    ring_until  BIGINT NOT NULL DEFAULT 0,
    max_until   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX acd_waiting_order ON acd_waiting (front DESC, priority DESC, seq);
-- one agent is never offered two sessions, whatever the code does
CREATE UNIQUE INDEX acd_waiting_one_offer ON acd_waiting (agent) WHERE agent <> '';

CREATE TABLE acd_counts (
    queue      TEXT PRIMARY KEY COLLATE "C",
    answered   BIGINT NOT NULL DEFAULT 0,
    abandoned  BIGINT NOT NULL DEFAULT 0,
    overflowed BIGINT NOT NULL DEFAULT 0
);

-- recent waits and handle times per queue (the last 20 of each are kept)
CREATE TABLE acd_samples (
    id    BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    kind  TEXT NOT NULL,                      -- 'wait' or 'handle'
    ms    BIGINT NOT NULL
);
CREATE INDEX acd_samples_recent ON acd_samples (queue, kind, id DESC);
