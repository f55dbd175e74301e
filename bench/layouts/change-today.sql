-- A change's event, as evo-postgres writes it (unnumbered), on the layout of today.
\set a random(0, 9)
\set s random(1000000000000000, 9999999999999999)
INSERT INTO layouts.today (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at)
SELECT 'acct-' || :a, :s::text, 'ChatMemberRemoved', body, now(), 0, now(), now() FROM layouts.sample;
