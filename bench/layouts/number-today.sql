-- The sequencer's batch on the layout of today: number the oldest unnumbered events.
BEGIN;
SELECT pg_try_advisory_xact_lock(7001) AS locked \gset
\if :locked
WITH waiting AS (
    SELECT account_id, session_id, seq FROM layouts.today WHERE id IS NULL ORDER BY seq LIMIT 500
), numbered AS (
    SELECT w.account_id, w.session_id, w.seq, nextval('layouts.today_ids') AS id
    FROM (SELECT * FROM waiting ORDER BY seq) w
)
UPDATE layouts.today e SET id = n.id FROM numbered n
WHERE e.account_id = n.account_id AND e.session_id = n.session_id AND e.seq = n.seq;
SELECT pg_notify('layouts', 'today');
\endif
COMMIT;
