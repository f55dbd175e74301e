-- What finding sessions needs on top of seed.sql (psql -v sessions=N -f seed_finding.sql):
-- sessions that differ as real ones do, and members to look for. Session i (bench.sid(i),
-- account acct-(i % 10)) gets
--   * dateCreated = dateLastModified spread over the last ~60 days, the newest the highest i
--     (13 s apart), so that date ranges, orders and deep pages mean something;
--   * customerId cust-(i % 5000) (80 sessions each), endpointId ep-(i % 200) (2 000 each);
--   * fromName "Customer <i>" (fromPhoneNumber is seed.sql's +1555<i>), fromAddress
--     customer<i>@mail.example; toAddress queue-(i % 50)@acme.example, destination "Queue <i % 50>";
--   * a second log entry, "Customer <i> asked about order <(i * 7919) % 1000000>";
--   * finder@example.com is a member of 10 sessions (i = 1000, 41000, ... 361000: spread over
--     time and accounts), one of them ended: GetActiveSessions finds 9;
--   * leaver<k>@example.com (k = 0..4) is a member of 50 active chats each
--     (i = 7 + 8000 m + k, m = 0..49): RemoveChatMemberFromActiveSessions' workload.
-- Rows are written as the store writes them (member identity keys lower case, positions and
-- log sequence numbers after the seeded ones).
\set ON_ERROR_STOP on
BEGIN;
UPDATE sessions s
SET date_created = t.base - (:sessions - 1 - n.i) * interval '13 seconds',
    date_last_modified = t.base - (:sessions - 1 - n.i) * interval '13 seconds',
    customer_id = 'cust-' || (n.i % 5000),
    endpoint_id = 'ep-' || (n.i % 200),
    from_name = 'Customer ' || n.i,
    from_address = 'customer' || n.i || '@mail.example',
    to_address = 'queue-' || (n.i % 50) || '@acme.example',
    destination = 'Queue ' || (n.i % 50)
FROM (SELECT i, bench.sid(i) AS id FROM generate_series(0, :sessions - 1) AS i) AS n,
     (SELECT date_trunc('milliseconds', now()) - interval '1 hour' AS base) AS t
WHERE s.id = n.id;

INSERT INTO session_log (account_id, session_id, date, message)
SELECT 'acct-' || (i % 10), bench.sid(i), date_trunc('milliseconds', now()) - interval '30 minutes',
       'Customer ' || i || ' asked about order ' || ((i::bigint * 7919) % 1000000)
FROM generate_series(0, :sessions - 1) AS i;

INSERT INTO session_members (account_id, session_id, identity, identity_key, display_name,
                             is_original_member, application_data, call_state, role, muted)
SELECT 'acct-' || (i % 10), bench.sid(i), who, who, 'Bench Agent', false, '{}'::jsonb, 'Connected',
       'Agent', false
FROM (SELECT 1000 + 40000 * m AS i, 'finder@example.com' AS who FROM generate_series(0, 9) AS m
      UNION ALL
      SELECT 7 + 8000 * m + k, 'leaver' || k || '@example.com'
      FROM generate_series(0, 49) AS m, generate_series(0, 4) AS k) AS w
WHERE i < :sessions;

UPDATE sessions SET ended = true, call_state = 'Disconnected', date_completed = date_last_modified
WHERE id = bench.sid(1000);
COMMIT;
VACUUM (ANALYZE) sessions, session_members, session_log;
CHECKPOINT;
