-- Consistency of every session after a run (no lost or half-applied removal): each session
-- was seeded with 8 members, 1 log entry and no event, and each committed removal deletes
-- exactly one non-original member, appends exactly one log entry and bumps the version once.
-- So: members + (log entries - 1) = 8, version = log entries - 1, the original member is
-- still there. With `-v events=1` (the service's runs, whose store writes the outbox), every
-- committed removal also has exactly one event: events = log entries - 1. Prints the number
-- of sessions breaking any of these (must be 0).
\if :{?events}
\else
\set events 0
\endif
WITH m AS (SELECT session_id, count(*) AS n, bool_or(is_original_member) AS has_original
             FROM session_members GROUP BY session_id),
     l AS (SELECT session_id, count(*) AS n FROM session_log GROUP BY session_id),
     e AS (SELECT session_id, count(*) AS n FROM session_events WHERE :events = 1 GROUP BY session_id)
SELECT count(*) AS inconsistent_sessions
  FROM sessions s
  LEFT JOIN m ON m.session_id = s.id
  LEFT JOIN l ON l.session_id = s.id
  LEFT JOIN e ON e.session_id = s.id
 WHERE coalesce(m.n, 0) + coalesce(l.n, 0) - 1 <> 8
    OR s.version <> coalesce(l.n, 0) - 1
    OR NOT coalesce(m.has_original, false)
    OR (:events = 1 AND coalesce(e.n, 0) <> coalesce(l.n, 0) - 1);
