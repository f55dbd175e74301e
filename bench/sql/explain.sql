-- Every statement the PostgreSQL store sends, as prepared statements, EXPLAINed (ANALYZE,
-- BUFFERS) with their generic plans (what a warm pooled connection may run), inside one
-- transaction that is rolled back. bench/explain.sh runs it at 400 000 sessions (and about
-- 1 600 000 outbox events) and fails on any Seq Scan of our tables.
--
-- The texts are the store's own, captured on 2026-12-01 with log_statement = 'all' from
-- `evo-sessions serve` (EVO_WEBHOOK_URL set to a receiver answering 200, then 500) while it
-- served a create, an invite, a removal and an end as a User with one account, a User with two
-- and an Admin, keyed and not; streamed `GET /sessions/{id}/events` and `GET /events` with
-- Last-Event-ID as each; retried a failing delivery until it was a dead letter, sent it back
-- with `evo-sessions webhooks redeliver`, and purged settled events (retention). So they
-- include the outbox: the `e` CTE of every change and a create's own event row (statements.rs);
-- the sequencer that numbers events after commit (lock, the unnumbered, nextval, the numbering
-- UPDATE, NOTIFY), the newest number, the stream reads, the webhook worker's claim and its
-- marks, redelivery, retention's purge and the metrics' counts (outbox.rs). The sequencer's
-- lock, nextval and NOTIFY touch no table; they are here to show the whole sequencer. Left out,
-- as before: SET / set_config, BEGIN / COMMIT, txid_current(), the Idempotency-Key advisory
-- lock, LISTEN. committed_log_entry and committed_session (sent only after a lost COMMIT) are written
-- as diesel renders them. The changes' writes were recaptured on 2026-12-02 (their closing
-- select, and write_removal_numbered: a change alone in flight numbers its event in its insert,
-- and again on 2026-12-05 when the header write gained queue_state, hold_reason and console_data,
-- crates/adapters/postgres/src/outbox.rs). Recapture when the store's SQL changes
-- (crates/adapters/postgres/src/{statements,repository,outbox}.rs).
--
-- psql -v sid=... -v account=... -v accounts='{...}' -v key=... -v scope=... -v idem=...
--      -v key_accounts='{...,""}' -f explain.sql
-- (the event numbers below are read from session_events: the session's first event, the
-- newest number, the oldest pending event, the unnumbered events.)
\set ON_ERROR_STOP on
SET plan_cache_mode = force_generic_plan;
SELECT version AS ver FROM sessions WHERE id = :'sid' \gset
SELECT min(id) AS first_event FROM session_events WHERE account_id = :'account' AND session_id = :'sid' \gset
SELECT max(id) AS last_event, max(id) - 1000 AS behind FROM session_events \gset
SELECT min(id) AS pending_event FROM session_events WHERE delivery = 1 \gset
SELECT array_agg(account_id ORDER BY seq) AS un_accounts, array_agg(session_id ORDER BY seq) AS un_sessions,
       array_agg(seq ORDER BY seq) AS un_seqs, array_agg(:last_event + n ORDER BY seq) AS un_ids
FROM (SELECT account_id, session_id, seq, row_number() OVER (ORDER BY seq) AS n FROM session_events WHERE id IS NULL) AS u \gset
-- An event body of the size the service writes (about 1.3 kB for a small session).
SELECT rpad('{"type":"ChatMemberRemoved","date":"2026-12-01T19:48:26.816Z","accountId":"' || :'account'
            || '","sessionId":"' || :'sid' || '","actor":{"userId":"bench@example.com","name":"Bench User"},"session":{"log":"',
            1300, '.') || '"}}' AS body \gset

PREPARE lock_user(text, text[]) AS SELECT "sessions"."id", "sessions"."account_id", "sessions"."channel", "sessions"."direction", "sessions"."dial_state", "sessions"."call_state", "sessions"."queue_state", "sessions"."hold_reason", "sessions"."ended", "sessions"."was_missed", "sessions"."date_completed", "sessions"."account_name", "sessions"."customer_id", "sessions"."customer_breadcrumb", "sessions"."customer_name", "sessions"."endpoint_id", "sessions"."endpoint_name", "sessions"."destination", "sessions"."to_address", "sessions"."from_address", "sessions"."from_name", "sessions"."answered_by_name", "sessions"."queue_member_id", "sessions"."outcome", "sessions"."call_sid", "sessions"."console_data", "sessions"."hold_queue_name", "sessions"."held_by_user_id", "sessions"."conference_sid", "sessions"."display_name", "sessions"."callback_number", "sessions"."answered_by_id", "sessions"."from_phone_number", "sessions"."most_recent_participant_call_sid", "sessions"."ring_queue_id", "sessions"."date_created", "sessions"."created_by", "sessions"."date_last_modified", "sessions"."last_modified_by", "sessions"."version", txid_current(), pg_postmaster_start_time() FROM "sessions" WHERE (("sessions"."id" = $1) AND ("sessions"."account_id" = ANY($2))) FOR UPDATE;
PREPARE members_one(text, text[]) AS SELECT "session_members"."identity", "session_members"."identity_key", "session_members"."endpoint_id", "session_members"."display_name", "session_members"."is_original_member", "session_members"."avatar_url", "session_members"."application_data", "session_members"."call_state", "session_members"."role", "session_members"."call_sid", "session_members"."muted" FROM "session_members" WHERE (("session_members"."session_id" = $1) AND ("session_members"."account_id" = ANY($2))) ORDER BY "session_members"."position";
PREPARE log_one(text, text[]) AS SELECT "session_log"."date", "session_log"."message" FROM "session_log" WHERE (("session_log"."session_id" = $1) AND ("session_log"."account_id" = ANY($2))) ORDER BY "session_log"."seq";
PREPARE members_user(text, text, text[]) AS SELECT "session_members"."identity", "session_members"."identity_key", "session_members"."endpoint_id", "session_members"."display_name", "session_members"."is_original_member", "session_members"."avatar_url", "session_members"."application_data", "session_members"."call_state", "session_members"."role", "session_members"."call_sid", "session_members"."muted" FROM "session_members" WHERE (("session_members"."session_id" = $1) AND ("session_members"."account_id" = ANY(SELECT "sessions"."account_id" FROM "sessions" WHERE (("sessions"."id" = $2) AND ("sessions"."account_id" = ANY($3)))))) ORDER BY "session_members"."position";
PREPARE log_user(text, text, text[]) AS SELECT "session_log"."date", "session_log"."message" FROM "session_log" WHERE (("session_log"."session_id" = $1) AND ("session_log"."account_id" = ANY(SELECT "sessions"."account_id" FROM "sessions" WHERE (("sessions"."id" = $2) AND ("sessions"."account_id" = ANY($3)))))) ORDER BY "session_log"."seq";
PREPARE lock_admin(text) AS SELECT "sessions"."id", "sessions"."account_id", "sessions"."channel", "sessions"."direction", "sessions"."dial_state", "sessions"."call_state", "sessions"."queue_state", "sessions"."hold_reason", "sessions"."ended", "sessions"."was_missed", "sessions"."date_completed", "sessions"."account_name", "sessions"."customer_id", "sessions"."customer_breadcrumb", "sessions"."customer_name", "sessions"."endpoint_id", "sessions"."endpoint_name", "sessions"."destination", "sessions"."to_address", "sessions"."from_address", "sessions"."from_name", "sessions"."answered_by_name", "sessions"."queue_member_id", "sessions"."outcome", "sessions"."call_sid", "sessions"."console_data", "sessions"."hold_queue_name", "sessions"."held_by_user_id", "sessions"."conference_sid", "sessions"."display_name", "sessions"."callback_number", "sessions"."answered_by_id", "sessions"."from_phone_number", "sessions"."most_recent_participant_call_sid", "sessions"."ring_queue_id", "sessions"."date_created", "sessions"."created_by", "sessions"."date_last_modified", "sessions"."last_modified_by", "sessions"."version", txid_current(), pg_postmaster_start_time() FROM "sessions" WHERE ("sessions"."id" = $1) FOR UPDATE;
PREPARE members_admin(text, text) AS SELECT "session_members"."identity", "session_members"."identity_key", "session_members"."endpoint_id", "session_members"."display_name", "session_members"."is_original_member", "session_members"."avatar_url", "session_members"."application_data", "session_members"."call_state", "session_members"."role", "session_members"."call_sid", "session_members"."muted" FROM "session_members" WHERE (("session_members"."session_id" = $1) AND ("session_members"."account_id" = ANY(SELECT "sessions"."account_id" FROM "sessions" WHERE ("sessions"."id" = $2)))) ORDER BY "session_members"."position";
PREPARE log_admin(text, text) AS SELECT "session_log"."date", "session_log"."message" FROM "session_log" WHERE (("session_log"."session_id" = $1) AND ("session_log"."account_id" = ANY(SELECT "sessions"."account_id" FROM "sessions" WHERE ("sessions"."id" = $2)))) ORDER BY "session_log"."seq";
PREPARE read_user(text, text[]) AS SELECT "sessions"."id", "sessions"."account_id", "sessions"."channel", "sessions"."direction", "sessions"."dial_state", "sessions"."call_state", "sessions"."queue_state", "sessions"."hold_reason", "sessions"."ended", "sessions"."was_missed", "sessions"."date_completed", "sessions"."account_name", "sessions"."customer_id", "sessions"."customer_breadcrumb", "sessions"."customer_name", "sessions"."endpoint_id", "sessions"."endpoint_name", "sessions"."destination", "sessions"."to_address", "sessions"."from_address", "sessions"."from_name", "sessions"."answered_by_name", "sessions"."queue_member_id", "sessions"."outcome", "sessions"."call_sid", "sessions"."console_data", "sessions"."hold_queue_name", "sessions"."held_by_user_id", "sessions"."conference_sid", "sessions"."display_name", "sessions"."callback_number", "sessions"."answered_by_id", "sessions"."from_phone_number", "sessions"."most_recent_participant_call_sid", "sessions"."ring_queue_id", "sessions"."date_created", "sessions"."created_by", "sessions"."date_last_modified", "sessions"."last_modified_by", "sessions"."version" FROM "sessions" WHERE (("sessions"."id" = $1) AND ("sessions"."account_id" = ANY($2)));
PREPARE read_admin(text) AS SELECT "sessions"."id", "sessions"."account_id", "sessions"."channel", "sessions"."direction", "sessions"."dial_state", "sessions"."call_state", "sessions"."queue_state", "sessions"."hold_reason", "sessions"."ended", "sessions"."was_missed", "sessions"."date_completed", "sessions"."account_name", "sessions"."customer_id", "sessions"."customer_breadcrumb", "sessions"."customer_name", "sessions"."endpoint_id", "sessions"."endpoint_name", "sessions"."destination", "sessions"."to_address", "sessions"."from_address", "sessions"."from_name", "sessions"."answered_by_name", "sessions"."queue_member_id", "sessions"."outcome", "sessions"."call_sid", "sessions"."console_data", "sessions"."hold_queue_name", "sessions"."held_by_user_id", "sessions"."conference_sid", "sessions"."display_name", "sessions"."callback_number", "sessions"."answered_by_id", "sessions"."from_phone_number", "sessions"."most_recent_participant_call_sid", "sessions"."ring_queue_id", "sessions"."date_created", "sessions"."created_by", "sessions"."date_last_modified", "sessions"."last_modified_by", "sessions"."version" FROM "sessions" WHERE ("sessions"."id" = $1);
PREPARE key_user(text, text, timestamptz, text[]) AS SELECT "idempotency_keys"."fingerprint", "idempotency_keys"."status", "idempotency_keys"."content_type", "idempotency_keys"."body" FROM "idempotency_keys" WHERE (((("idempotency_keys"."scope" = $1) AND ("idempotency_keys"."key" = $2)) AND ("idempotency_keys"."expires_at" > $3)) AND ("idempotency_keys"."account_id" = ANY($4)));
PREPARE key_any(text, text, timestamptz) AS SELECT "idempotency_keys"."fingerprint", "idempotency_keys"."status", "idempotency_keys"."content_type", "idempotency_keys"."body" FROM "idempotency_keys" WHERE ((("idempotency_keys"."scope" = $1) AND ("idempotency_keys"."key" = $2)) AND ("idempotency_keys"."expires_at" > $3));
PREPARE write_removal(timestamptz, text, bool, timestamptz, text, text, text, text, text, text, bigint, timestamptz, text, text, text, text, timestamptz, smallint, timestamptz, timestamptz, text, text, text) AS WITH s AS (UPDATE sessions SET date_last_modified = $1, last_modified_by = $2, ended = $3, date_completed = $4, call_state = $5, queue_state = $6, hold_reason = $7, console_data = COALESCE($8, console_data), version = version + 1 WHERE account_id = $9 AND id = $10 AND version = $11 RETURNING account_id, id), l AS (INSERT INTO session_log (account_id, session_id, date, message) SELECT account_id, id, $12, $13 FROM s), e AS (INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at) SELECT $14, id, $15, $16, $17, $18, $19, $20 FROM s), m AS (DELETE FROM session_members WHERE account_id = $21 AND session_id = $22 AND identity_key = $23 AND EXISTS (SELECT FROM s)) SELECT (SELECT count(*) FROM s), NULL::bigint, 0::bigint;
PREPARE write_invite(timestamptz, text, bool, timestamptz, text, text, text, text, text, text, bigint, timestamptz, text, text, text, text, timestamptz, smallint, timestamptz, timestamptz, text, text, text, text, bool, text, jsonb, text, text, text, bool) AS WITH s AS (UPDATE sessions SET date_last_modified = $1, last_modified_by = $2, ended = $3, date_completed = $4, call_state = $5, queue_state = $6, hold_reason = $7, console_data = COALESCE($8, console_data), version = version + 1 WHERE account_id = $9 AND id = $10 AND version = $11 RETURNING account_id, id), l AS (INSERT INTO session_log (account_id, session_id, date, message) SELECT account_id, id, $12, $13 FROM s), e AS (INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at) SELECT $14, id, $15, $16, $17, $18, $19, $20 FROM s), m AS (INSERT INTO session_members (account_id, session_id, identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, muted) SELECT account_id, id, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31 FROM s) SELECT (SELECT count(*) FROM s), NULL::bigint, 0::bigint;
PREPARE write_end(timestamptz, text, bool, timestamptz, text, text, text, text, text, text, bigint, timestamptz, text, text, text, text, timestamptz, smallint, timestamptz, timestamptz) AS WITH s AS (UPDATE sessions SET date_last_modified = $1, last_modified_by = $2, ended = $3, date_completed = $4, call_state = $5, queue_state = $6, hold_reason = $7, console_data = COALESCE($8, console_data), version = version + 1 WHERE account_id = $9 AND id = $10 AND version = $11 RETURNING account_id, id), l AS (INSERT INTO session_log (account_id, session_id, date, message) SELECT account_id, id, $12, $13 FROM s), e AS (INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at) SELECT $14, id, $15, $16, $17, $18, $19, $20 FROM s) SELECT (SELECT count(*) FROM s), NULL::bigint, 0::bigint;
PREPARE write_removal_numbered(timestamptz, text, bool, timestamptz, text, text, text, text, text, text, bigint, timestamptz, text, text, text, text, timestamptz, smallint, timestamptz, timestamptz, text, text, bigint, text, text, text, text) AS WITH s AS (UPDATE sessions SET date_last_modified = $1, last_modified_by = $2, ended = $3, date_completed = $4, call_state = $5, queue_state = $6, hold_reason = $7, console_data = COALESCE($8, console_data), version = version + 1 WHERE account_id = $9 AND id = $10 AND version = $11 RETURNING account_id, id), l AS (INSERT INTO session_log (account_id, session_id, date, message) SELECT account_id, id, $12, $13 FROM s), e AS (INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at, id) SELECT $14, id, $15, $16, $17, $18, $19, $20, CASE WHEN NOT EXISTS (SELECT FROM session_events WHERE account_id = $21 AND session_id = $22 AND id IS NULL) THEN CASE WHEN pg_try_advisory_xact_lock($23) THEN nextval('session_event_ids') END END FROM s RETURNING id), m AS (DELETE FROM session_members WHERE account_id = $24 AND session_id = $25 AND identity_key = $26 AND EXISTS (SELECT FROM s)) SELECT (SELECT count(*) FROM s), (SELECT max(id) FROM e), (SELECT count(*) FROM (SELECT pg_notify($27, id::text) FROM e WHERE id IS NOT NULL) told);
PREPARE keep_answer(text, text, text, text, integer, text, bytea, timestamptz) AS INSERT INTO idempotency_keys (account_id, scope, key, fingerprint, status, content_type, body, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account_id, scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, content_type = EXCLUDED.content_type, body = EXCLUDED.body, expires_at = EXCLUDED.expires_at;
PREPARE insert_session(text, text, text, text, text, text, text, text, bool, bool, timestamptz, text, text, jsonb, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, timestamptz, text, timestamptz, text, bigint) AS INSERT INTO "sessions" ("id", "account_id", "channel", "direction", "dial_state", "call_state", "queue_state", "hold_reason", "ended", "was_missed", "date_completed", "account_name", "customer_id", "customer_breadcrumb", "customer_name", "endpoint_id", "endpoint_name", "destination", "to_address", "from_address", "from_name", "answered_by_name", "queue_member_id", "outcome", "call_sid", "console_data", "hold_queue_name", "held_by_user_id", "conference_sid", "display_name", "callback_number", "answered_by_id", "from_phone_number", "most_recent_participant_call_sid", "ring_queue_id", "date_created", "created_by", "date_last_modified", "last_modified_by", "version") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40);
PREPARE insert_members(text, text, text[], text[], text[], text[], bool[], text[], jsonb[], text[], text[], text[], bool[]) AS INSERT INTO session_members (account_id, session_id, identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, muted) SELECT $1, $2, u.identity, u.identity_key, u.endpoint_id, u.display_name, u.is_original_member, u.avatar_url, u.application_data, u.call_state, u.role, u.call_sid, u.muted FROM unnest($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) WITH ORDINALITY AS u(identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, muted, n) ORDER BY u.n;
PREPARE insert_log(text, text, timestamptz[], text[]) AS INSERT INTO session_log (account_id, session_id, date, message) SELECT $1, $2, u.date, u.message FROM unnest($3, $4) WITH ORDINALITY AS u(date, message, n) ORDER BY u.n;
PREPARE insert_event(text, text, text, text, timestamptz, smallint, timestamptz, timestamptz) AS INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8;
PREPARE purge_keys(timestamptz, bigint) AS DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED);
PREPARE seq_lock(bigint) AS SELECT pg_try_advisory_xact_lock($1);
PREPARE seq_waiting(bigint) AS SELECT "session_events"."account_id", "session_events"."session_id", "session_events"."seq" FROM "session_events" WHERE ("session_events"."id" IS NULL) ORDER BY "session_events"."seq" LIMIT $1;
PREPARE seq_numbers(integer) AS SELECT nextval('session_event_ids') AS id FROM generate_series(1, $1);
PREPARE seq_number(text[], text[], bigint[], bigint[]) AS UPDATE session_events e SET id = v.id FROM unnest($1, $2, $3, $4) AS v(account_id, session_id, seq, id) WHERE e.account_id = v.account_id AND e.session_id = v.session_id AND e.seq = v.seq;
PREPARE seq_notify(text, text) AS SELECT pg_notify($1, $2);
PREPARE newest_event(bigint) AS SELECT max("session_events"."id") FROM "session_events" LIMIT $1;
PREPARE events_session(bigint, text, text, bigint) AS SELECT "session_events"."id", "session_events"."event_type", "session_events"."account_id", "session_events"."session_id", "session_events"."body" FROM "session_events" WHERE ((("session_events"."id" > $1) AND ("session_events"."account_id" = $2)) AND ("session_events"."session_id" = $3)) ORDER BY "session_events"."id" LIMIT $4;
PREPARE events_accounts(bigint, text[], bigint) AS SELECT "session_events"."id", "session_events"."event_type", "session_events"."account_id", "session_events"."session_id", "session_events"."body" FROM "session_events" WHERE (("session_events"."id" > $1) AND ("session_events"."account_id" = ANY($2))) ORDER BY "session_events"."id" LIMIT $3;
PREPARE events_all(bigint, bigint) AS SELECT "session_events"."id", "session_events"."event_type", "session_events"."account_id", "session_events"."session_id", "session_events"."body" FROM "session_events" WHERE ("session_events"."id" > $1) ORDER BY "session_events"."id" LIMIT $2;
PREPARE claim(timestamptz, timestamptz, bigint) AS UPDATE session_events e SET lease_until = $2 FROM ( SELECT c.account_id, c.session_id, c.seq FROM session_events c WHERE c.delivery = 1 AND c.id IS NOT NULL AND c.next_attempt_at <= $1 AND (c.lease_until IS NULL OR c.lease_until <= $1) AND NOT EXISTS (SELECT 1 FROM session_events p WHERE p.account_id = c.account_id AND p.session_id = c.session_id AND p.delivery = 1 AND p.seq < c.seq) ORDER BY c.id LIMIT $3 FOR UPDATE SKIP LOCKED) due WHERE e.account_id = due.account_id AND e.session_id = due.session_id AND e.seq = due.seq RETURNING e.id, e.event_type, e.account_id, e.session_id, e.body, e.attempts, e.pending_since;
PREPARE mark_delivered(smallint, timestamptz, bigint) AS UPDATE "session_events" SET "delivery" = $1, "lease_until" = $2 WHERE ("session_events"."id" = $3);
PREPARE mark_retry(integer, timestamptz, text, timestamptz, bigint) AS UPDATE "session_events" SET "attempts" = $1, "next_attempt_at" = $2, "last_error" = $3, "lease_until" = $4 WHERE ("session_events"."id" = $5);
PREPARE mark_dead(smallint, integer, text, timestamptz, bigint) AS UPDATE "session_events" SET "delivery" = $1, "attempts" = $2, "last_error" = $3, "lease_until" = $4 WHERE ("session_events"."id" = $5);
PREPARE redeliver(smallint, integer, timestamptz, timestamptz) AS UPDATE "session_events" SET "delivery" = $1, "attempts" = $2, "pending_since" = $3, "next_attempt_at" = $4 WHERE delivery = 3;
PREPARE purge_events(timestamptz, bigint) AS DELETE FROM session_events WHERE ctid IN (SELECT ctid FROM session_events WHERE delivery IN (0, 2) AND created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED);
PREPARE delivery_counts AS SELECT (SELECT count(*) FROM session_events WHERE delivery = 1) AS pending, (SELECT count(*) FROM session_events WHERE delivery = 3) AS dead;
PREPARE committed_log_entry(text, text, timestamptz, text) AS SELECT COUNT(*) FROM "session_log" WHERE (((("session_log"."account_id" = $1) AND ("session_log"."session_id" = $2)) AND ("session_log"."date" = $3)) AND ("session_log"."message" = $4));
PREPARE committed_session(text, text) AS SELECT COUNT(*) FROM "sessions" WHERE (("sessions"."account_id" = $1) AND ("sessions"."id" = $2));
BEGIN;
\echo '=== lock_user: change, round trip 1: lock the header among the caller’s accounts (User)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE lock_user(:'sid', :'accounts');
\echo '=== members_one: change or read: the members, caller with one account (User)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE members_one(:'sid', ARRAY[:'account']);
\echo '=== log_one: change or read: the log, caller with one account (User)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE log_one(:'sid', ARRAY[:'account']);
\echo '=== members_user: change or read: the members, caller with several accounts (User)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE members_user(:'sid', :'sid', :'accounts');
\echo '=== log_user: change or read: the log, caller with several accounts (User)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE log_user(:'sid', :'sid', :'accounts');
\echo '=== lock_admin: change, round trip 1: lock the header (Admin: every account)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE lock_admin(:'sid');
\echo '=== members_admin: change or read: the members of the session’s account (Admin)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE members_admin(:'sid', :'sid');
\echo '=== log_admin: change or read: the log of the session’s account (Admin)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE log_admin(:'sid', :'sid');
\echo '=== read_user: find: the header among the caller’s accounts (User)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE read_user(:'sid', :'accounts');
\echo '=== read_admin: find: the header (Admin)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE read_admin(:'sid');
\echo '=== key_user: keyed change: the key’s live answer among the caller’s accounts and ’’'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE key_user(:'scope', :'idem', now(), :'key_accounts');
\echo '=== key_any: keyed create, or Admin: the key’s live answer under any account'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE key_any(:'scope', :'idem', now());
\echo '=== write_removal: change, round trip 2: a removal (header, log, event, member)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE write_removal(now(), 'bench@example.com', false, NULL, 'Connected', 'None', 'None', NULL, :'account', :'sid', :ver, now(), 'Bench User removed Agent 2 from the chat', :'account', 'ChatMemberRemoved', :'body', now(), 1::smallint, now(), now(), :'account', :'sid', :'key');
\echo '=== write_invite: change, round trip 2: an invite (header, log, event, member)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE write_invite(now(), 'bench@example.com', false, NULL, 'Connected', 'None', 'None', NULL, :'account', :'sid', :ver + 1, now(), 'Bench User added Zed to the chat', :'account', 'ChatMemberAdded', :'body', now(), 1::smallint, now(), now(), 'zed@example.com', 'zed@example.com', NULL, 'Zed', false, NULL, '{}', 'Connected', 'Agent', NULL, false);
\echo '=== write_end: change, round trip 2: an end (header, log, event)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE write_end(now(), 'bench@example.com', true, now(), 'Disconnected', 'None', 'None', NULL, :'account', :'sid', :ver + 2, now(), 'Bench User ended the session', :'account', 'SessionEnded', :'body', now(), 1::smallint, now(), now());
-- 7311153500597415540 and 'evo_events': SEQUENCER_LOCK and CHANNEL of crates/adapters/postgres/src/outbox.rs.
\echo '=== write_removal_numbered: change, round trip 2: a removal alone in flight, numbering its event in its insert'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE write_removal_numbered(now(), 'bench@example.com', false, NULL, 'Connected', 'None', 'None', NULL, :'account', :'sid', :ver + 3, now(), 'Bench User removed Agent 3 from the chat', :'account', 'ChatMemberRemoved', :'body', now(), 1::smallint, now(), now(), :'account', :'sid', 7311153500597415540, :'account', :'sid', 'agent3@example.com', 'evo_events');
\echo '=== keep_answer: keyed change or create: keep the answer (upsert)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE keep_answer(:'account', :'scope', 'explain-new-key', 'f', 200, 'application/json', '\x7b7d', now() + interval '1 day');
\echo '=== insert_session: create: the session row'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE insert_session('explain-new-session', :'account', 'Chat', 'Incoming', 'None', 'Connected', 'None', 'None', false, false, NULL, NULL, NULL, '[]', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, now(), 'bench@example.com', now(), 'bench@example.com', 0);
\echo '=== insert_members: create: every member (one unnest)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE insert_members(:'account', 'explain-new-session', '{+15550000000}', '{+15550000000}', '{NULL}', '{NULL}', '{true}', '{NULL}', ARRAY['{}'::jsonb], '{Connected}', '{Caller}', '{NULL}', '{false}');
\echo '=== insert_log: create: every log entry (one unnest)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE insert_log(:'account', 'explain-new-session', ARRAY[now()], '{started}');
\echo '=== insert_event: create: the SessionCreated event (outbox, unnumbered)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE insert_event(:'account', 'explain-new-session', 'SessionCreated', :'body', now(), 1::smallint, now(), now());
\echo '=== purge_keys: every minute: a bounded batch of expired answers, oldest first'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE purge_keys(now(), 1000);
\echo '=== seq_lock: sequencer, every 200 ms or after a commit: the numbering lock, or give up (no table)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE seq_lock(7311153500597415540);
\echo '=== seq_waiting: sequencer: the oldest unnumbered events, in insert order (at most 500)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE seq_waiting(500);
\echo '=== seq_numbers: sequencer: one number per waiting event from session_event_ids (no table)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE seq_numbers(16);
\echo '=== seq_number: sequencer: number the waiting events by their key (one unnest)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE seq_number(:'un_accounts', :'un_sessions', :'un_seqs', :'un_ids');
\echo '=== seq_notify: sequencer: NOTIFY evo_events of the last number (no table)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE seq_notify('evo_events', :'last_event');
\echo '=== newest_event: every second, and a stream without Last-Event-ID: the newest number'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE newest_event(1);
\echo '=== events_session: GET /sessions/{id}/events: the session’s events after Last-Event-ID (its first)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE events_session(:first_event, :'account', :'sid', 100);
\echo '=== events_accounts: GET /events, User of 10 accounts: the next 100 events, 1 000 behind'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE events_accounts(:behind, :'accounts', 100);
\echo '=== events_accounts_one: GET /events, User of one account: the next 100 events, 1 000 behind'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE events_accounts(:behind, ARRAY[:'account'], 100);
\echo '=== events_all: GET /events, Admin: the next 100 events, 1 000 behind'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE events_all(:behind, 100);
\echo '=== claim: webhook worker: lease the first due pending event of each session (FOR UPDATE SKIP LOCKED)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE claim(now(), now() + interval '120 seconds', 16);
\echo '=== mark_delivered: webhook worker: the event delivered'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE mark_delivered(2::smallint, NULL, :pending_event);
\echo '=== mark_retry: webhook worker: a failed attempt, the next one later'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE mark_retry(3, now() + interval '4 seconds', 'the receiver answered HTTP 500', NULL, :pending_event);
\echo '=== mark_dead: webhook worker: the retry window is over, a dead letter'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE mark_dead(3::smallint, 154, 'the receiver answered HTTP 500', NULL, :pending_event);
\echo '=== redeliver: evo-sessions webhooks redeliver: every dead letter back to pending'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE redeliver(1::smallint, 0, now(), now());
\echo '=== purge_events: retention, every minute: a bounded batch of settled events past 72 h, oldest first'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE purge_events(now() - interval '72 hours', 500);
\echo '=== delivery_counts: every 10 s: the pending and dead-letter gauges'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE delivery_counts;
\echo '=== committed_log_entry: after a lost COMMIT and a server restart: the change’s log entry'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE committed_log_entry(:'account', :'sid', now(), 'Bench Seed started the session');
\echo '=== committed_session: after a lost COMMIT and a server restart: the new session’s row'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE committed_session(:'account', :'sid');
ROLLBACK;
