-- Retention jobs find events of one type older than a time (rtt.text,
-- interpreter.rtt.retention) without scanning every session's log.
CREATE INDEX session_events_type_at ON session_events (event_type, occurred_at);
