-- PostgreSQL only. PostgreSQL compares TEXT with the database's default
-- collation (often en_US.UTF-8, where 'ses_a' < 'ses_B'); SQLite compares
-- bytes ('ses_B' < 'ses_a'). Keys that are sorted or used as paging cursors get
-- the "C" (bytewise) collation so both engines order them the same way.
ALTER TABLE session_events DROP CONSTRAINT session_events_session_id_fkey;
ALTER TABLE sessions ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE session_events ALTER COLUMN session_id TYPE TEXT COLLATE "C";
ALTER TABLE session_events ADD CONSTRAINT session_events_session_id_fkey
	FOREIGN KEY (session_id) REFERENCES sessions (id);
ALTER TABLE agents ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE queues ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE appointments ALTER COLUMN id TYPE TEXT COLLATE "C";
