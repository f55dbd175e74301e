-- Consistency of every session after a run (no lost or half-applied removal): each session
-- was seeded with 8 members and 1 log entry, and each committed removal deletes exactly one
-- non-original member, appends exactly one log entry and bumps the version once. So:
-- members + (log entries - 1) = 8, version = log entries - 1, the original member is still
-- there. Prints the number of sessions breaking any of these (must be 0).
WITH m AS (SELECT session_id, count(*) AS n, bool_or(is_original_member) AS has_original
             FROM session_members GROUP BY session_id),
     l AS (SELECT session_id, count(*) AS n FROM session_log GROUP BY session_id)
SELECT count(*) AS inconsistent_sessions
  FROM sessions s
  LEFT JOIN m ON m.session_id = s.id
  LEFT JOIN l ON l.session_id = s.id
 WHERE coalesce(m.n, 0) + coalesce(l.n, 0) - 1 <> 8
    OR s.version <> coalesce(l.n, 0) - 1
    OR NOT coalesce(m.has_original, false);
