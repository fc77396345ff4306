-- Where each node takes SIP (a request for a session another node owns is
-- sent there), and leases: a job done once for the whole cluster (a trunk
-- registration) is held by one node at a time until its lease runs out.
ALTER TABLE nodes ADD COLUMN sip TEXT NOT NULL DEFAULT '';
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
