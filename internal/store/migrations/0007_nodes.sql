-- The hub nodes sharing this store: each writes its heartbeat; a node whose
-- heartbeat is older than cluster.node_timeout is lost, and a survivor ends
-- the sessions it owned (cause node_lost).
CREATE TABLE nodes (
    name         TEXT PRIMARY KEY,
    address      TEXT NOT NULL DEFAULT '',
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    draining     INTEGER NOT NULL DEFAULT 0
);
