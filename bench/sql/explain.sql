-- EXPLAIN (ANALYZE, BUFFERS) of the statements the PostgreSQL adapter sends for a removal,
-- as prepared statements with their generic plans (what a warm pooled connection runs),
-- on session :'sid' and member :'key'. The write is rolled back.
-- psql -v sid=... -v key=... -f explain.sql
\set ON_ERROR_STOP on
SET plan_cache_mode = force_generic_plan;
SELECT count(*) AS sessions FROM sessions;
PREPARE lock_header(text) AS SELECT "sessions"."id", "sessions"."account_id", "sessions"."channel", "sessions"."direction", "sessions"."dial_state", "sessions"."call_state", "sessions"."queue_state", "sessions"."hold_reason", "sessions"."ended", "sessions"."was_missed", "sessions"."date_completed", "sessions"."account_name", "sessions"."customer_id", "sessions"."customer_breadcrumb", "sessions"."customer_name", "sessions"."endpoint_id", "sessions"."endpoint_name", "sessions"."destination", "sessions"."to_address", "sessions"."from_address", "sessions"."from_name", "sessions"."answered_by_name", "sessions"."queue_member_id", "sessions"."outcome", "sessions"."call_sid", "sessions"."console_data", "sessions"."hold_queue_name", "sessions"."held_by_user_id", "sessions"."conference_sid", "sessions"."display_name", "sessions"."callback_number", "sessions"."answered_by_id", "sessions"."from_phone_number", "sessions"."most_recent_participant_call_sid", "sessions"."ring_queue_id", "sessions"."date_created", "sessions"."created_by", "sessions"."date_last_modified", "sessions"."last_modified_by", "sessions"."version" FROM "sessions" WHERE ("sessions"."id" = $1) FOR UPDATE;
PREPARE load_members(text) AS SELECT "session_members"."identity", "session_members"."identity_key", "session_members"."endpoint_id", "session_members"."display_name", "session_members"."is_original_member", "session_members"."avatar_url", "session_members"."application_data", "session_members"."call_state", "session_members"."role", "session_members"."call_sid", "session_members"."muted" FROM "session_members" WHERE ("session_members"."session_id" = $1) ORDER BY "session_members"."position";
PREPARE load_log(text) AS SELECT "session_log"."date", "session_log"."message" FROM "session_log" WHERE ("session_log"."session_id" = $1) ORDER BY "session_log"."seq";
PREPARE write_removal(timestamptz, text, bool, timestamptz, text, text, bigint, timestamptz, text, text) AS WITH s AS (UPDATE sessions SET date_last_modified = $1, last_modified_by = $2, ended = $3, date_completed = $4, call_state = $5, version = version + 1 WHERE id = $6 AND version = $7 RETURNING id), l AS (INSERT INTO session_log (session_id, date, message) SELECT id, $8, $9 FROM s), m AS (DELETE FROM session_members WHERE session_id IN (SELECT id FROM s) AND identity_key = $10) SELECT count(*) FROM s;
SELECT version AS ver FROM sessions WHERE id = :'sid' \gset
BEGIN;
\echo '--- 1. lock the session header (SELECT ... FOR UPDATE)'
EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) EXECUTE lock_header(:'sid');
\echo '--- 2. load the members'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE load_members(:'sid');
\echo '--- 3. load the log'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE load_log(:'sid');
\echo '--- 4. the write: header at the version read, log entry, member'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE write_removal(now(), 'bench@example.com', false, NULL, 'Connected', :'sid', :ver, now(), 'Bench User removed Agent 2 from the chat', :'key');
ROLLBACK;
