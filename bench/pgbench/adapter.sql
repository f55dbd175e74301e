-- Phase (2), the SQL ceiling of our own design: the statements evo-postgres sends for ONE
-- removal (crates/adapters/postgres/src/repository.rs, change_session + write_change),
-- text as captured with log_statement = 'all', pipelined the same way: two round trips.
-- run.sh wraps this body in one \if branch per member slot, replacing :member by :m<k>
-- (pgbench variables are numbers; the member keys come in as -D m2=... m8=... strings).
-- Deviations: $4 (date_completed, always NULL for a removal) and the console data a removal
-- leaves as it is (`COALESCE($8, console_data)`, $8 NULL) are literal NULLs here, because
-- pgbench cannot bind a NULL, and the queue state and hold reason (a seeded session's) are
-- literals; the session's account (bound as text by the
-- store) is computed from the session number as seed.sql assigns it: ('acct-' || :a::text).
-- Round trip 1: BEGIN + lock the header + load members + load log.
\startpipeline
BEGIN;
SELECT "sessions"."id", "sessions"."account_id", "sessions"."channel", "sessions"."direction", "sessions"."dial_state", "sessions"."call_state", "sessions"."queue_state", "sessions"."hold_reason", "sessions"."ended", "sessions"."was_missed", "sessions"."date_completed", "sessions"."account_name", "sessions"."customer_id", "sessions"."customer_breadcrumb", "sessions"."customer_name", "sessions"."endpoint_id", "sessions"."endpoint_name", "sessions"."destination", "sessions"."to_address", "sessions"."from_address", "sessions"."from_name", "sessions"."answered_by_name", "sessions"."queue_member_id", "sessions"."outcome", "sessions"."call_sid", "sessions"."console_data", "sessions"."hold_queue_name", "sessions"."held_by_user_id", "sessions"."conference_sid", "sessions"."display_name", "sessions"."callback_number", "sessions"."answered_by_id", "sessions"."from_phone_number", "sessions"."most_recent_participant_call_sid", "sessions"."ring_queue_id", "sessions"."date_created", "sessions"."created_by", "sessions"."date_last_modified", "sessions"."last_modified_by", "sessions"."version", txid_current(), pg_postmaster_start_time() FROM "sessions" WHERE (("sessions"."id" = :sid) AND ("sessions"."account_id" = ANY(:accounts))) FOR UPDATE;
SELECT "session_members"."identity", "session_members"."identity_key", "session_members"."endpoint_id", "session_members"."display_name", "session_members"."is_original_member", "session_members"."avatar_url", "session_members"."application_data", "session_members"."call_state", "session_members"."role", "session_members"."call_sid", "session_members"."muted" FROM "session_members" WHERE (("session_members"."session_id" = :sid) AND ("session_members"."account_id" = ANY(SELECT "sessions"."account_id" FROM "sessions" WHERE (("sessions"."id" = :sid) AND ("sessions"."account_id" = ANY(:accounts)))))) ORDER BY "session_members"."position";
SELECT "session_log"."date", "session_log"."message" FROM "session_log" WHERE (("session_log"."session_id" = :sid) AND ("session_log"."account_id" = ANY(SELECT "sessions"."account_id" FROM "sessions" WHERE (("sessions"."id" = :sid) AND ("sessions"."account_id" = ANY(:accounts)))))) ORDER BY "session_log"."seq";
\endpipeline
-- Round trip 2: the one writing statement (header at the version read, log, member) + COMMIT.
\startpipeline
WITH s AS (UPDATE sessions SET date_last_modified = :now, last_modified_by = :actor, ended = :f, date_completed = NULL, call_state = :cs, queue_state = 'None', hold_reason = 'None', console_data = COALESCE(NULL, console_data), version = version + 1 WHERE account_id = ('acct-' || :a::text) AND id = :sid AND version = :ver RETURNING account_id, id), l AS (INSERT INTO session_log (account_id, session_id, date, message) SELECT account_id, id, :now, :msg FROM s), m AS (DELETE FROM session_members WHERE account_id = ('acct-' || :a::text) AND session_id = :sid AND identity_key = :member AND EXISTS (SELECT FROM s)) SELECT count(*) FROM s;
COMMIT;
\endpipeline
