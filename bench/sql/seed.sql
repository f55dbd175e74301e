-- (Re)seed the benchmark data with bulk SQL: psql -v sessions=40000 -f seed.sql
--
-- Rows exactly as the PostgreSQL adapter writes a new Chat session (evo-store-sql's
-- SessionRecord / MemberRecord and evo-domain's Session::open):
--   * enums by their wire names: channel Chat, direction Incoming, dialState None,
--     callState Connected, queueState None, holdReason None; ended / wasMissed false;
--     customer_breadcrumb '[]', application_data '{}', version 0;
--   * dates truncated to the millisecond; created_by = last_modified_by = the actor's sub;
--   * member 1 is the original member: a phone number (E.164, key = identity), role Caller
--     (first member of an incoming session), callState Connected, not muted;
--   * members 2..8 are user IDs written "Agent<k>@Example.com", identity_key lower case
--     "agent<k>@example.com", role Agent (the default for a user ID), display name "Agent <k>";
--   * one initial log entry per session: "<actor name> started the session";
--   * `position` / `seq` (identity columns) follow join / log order;
--   * members and log rows carry their session's account (every key leads with account_id).
-- Accounts: session i belongs to acct-(i % 10).
\set ON_ERROR_STOP on
BEGIN;
TRUNCATE sessions, session_members, session_log, idempotency_keys, session_events RESTART IDENTITY;

INSERT INTO sessions (id, account_id, channel, direction, dial_state, call_state, queue_state,
                      hold_reason, ended, was_missed, customer_breadcrumb, customer_name,
                      display_name, from_phone_number, date_created, created_by,
                      date_last_modified, last_modified_by, version)
SELECT bench.sid(i), 'acct-' || (i % 10), 'Chat', 'Incoming', 'None', 'Connected', 'None',
       'None', false, false, '[]'::jsonb, 'Customer ' || i,
       'Bench chat ' || i, '+1555' || lpad(i::text, 7, '0'), t.now, 'bench-seed@example.com',
       t.now, 'bench-seed@example.com', 0
FROM generate_series(0, :sessions - 1) AS i,
     (SELECT date_trunc('milliseconds', now()) - interval '1 hour' AS now) AS t;

INSERT INTO session_members (account_id, session_id, identity, identity_key, display_name,
                             is_original_member, application_data, call_state, role, muted)
SELECT 'acct-' || (i % 10), bench.sid(i),
       CASE WHEN k = 1 THEN '+1555' || lpad(i::text, 7, '0') ELSE 'Agent' || k || '@Example.com' END,
       CASE WHEN k = 1 THEN '+1555' || lpad(i::text, 7, '0') ELSE 'agent' || k || '@example.com' END,
       CASE WHEN k = 1 THEN 'Customer ' || i ELSE 'Agent ' || k END,
       k = 1, '{}'::jsonb, 'Connected',
       CASE WHEN k = 1 THEN 'Caller' ELSE 'Agent' END,
       false
FROM generate_series(0, :sessions - 1) AS i, generate_series(1, 8) AS k
ORDER BY i, k;

INSERT INTO session_log (account_id, session_id, date, message)
SELECT 'acct-' || (i % 10), bench.sid(i), date_trunc('milliseconds', now()) - interval '1 hour',
       'Bench Seed started the session'
FROM generate_series(0, :sessions - 1) AS i;
COMMIT;

VACUUM (ANALYZE) sessions, session_members, session_log;
CHECKPOINT;
