-- The sequencer's batch on the queue layout: move the oldest queued events to `numbers`.
BEGIN;
SELECT pg_try_advisory_xact_lock(7002) AS locked \gset
\if :locked
WITH taken AS (
    DELETE FROM layouts.unnumbered
    WHERE seq IN (SELECT seq FROM layouts.unnumbered ORDER BY seq LIMIT 500)
    RETURNING seq, account_id, session_id
)
INSERT INTO layouts.numbers (id, account_id, session_id, seq)
SELECT nextval('layouts.queued_ids'), account_id, session_id, seq FROM (SELECT * FROM taken ORDER BY seq) t;
SELECT pg_notify('layouts', 'queue');
\endif
COMMIT;
