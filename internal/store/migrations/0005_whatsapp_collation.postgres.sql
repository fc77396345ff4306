-- PostgreSQL only: dead-letter ids are listed in id order as a tie-break;
-- sort them bytewise as SQLite does (see 0002_key_collation.postgres.sql).
ALTER TABLE whatsapp_dead_letters ALTER COLUMN id TYPE TEXT COLLATE "C";
