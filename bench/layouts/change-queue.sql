-- A change's event on the queue layout: the same row, and its place in the queue.
\set a random(0, 9)
\set s random(1000000000000000, 9999999999999999)
WITH event AS (
    INSERT INTO layouts.queued (account_id, session_id, event_type, body, created_at, delivery, pending_since, next_attempt_at)
    SELECT 'acct-' || :a, :s::text, 'ChatMemberRemoved', body, now(), 0, now(), now() FROM layouts.sample
    RETURNING seq, account_id, session_id
)
INSERT INTO layouts.unnumbered (seq, account_id, session_id) SELECT seq, account_id, session_id FROM event;
