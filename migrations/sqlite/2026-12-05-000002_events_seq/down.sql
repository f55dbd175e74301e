ALTER TABLE session_events DROP COLUMN seq;
