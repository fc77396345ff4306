-- PostgreSQL only: the records' paging key compares bytewise on both engines
-- (see 0002).
ALTER TABLE call_records ALTER COLUMN session_id TYPE TEXT COLLATE "C";
ALTER TABLE call_record_agents ALTER COLUMN session_id TYPE TEXT COLLATE "C";
ALTER TABLE call_record_agents ALTER COLUMN agent TYPE TEXT COLLATE "C";
