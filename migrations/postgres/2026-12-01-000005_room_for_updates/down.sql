ALTER TABLE session_events ALTER COLUMN body SET COMPRESSION default;
ALTER TABLE sessions RESET (fillfactor);
