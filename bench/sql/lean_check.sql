-- Design (4)'s counts and consistency, on the schema `lean` (bench/sql/lean.sql), as
-- bench/sql/counts.sql and check.sql are for the service's tables.
--
--   psql -v counts=1 -f lean_check.sql   members, log entries, sum of versions (before / after
--                                        a measured run: each committed removal moves each by 1)
--   psql -f lean_check.sql               the number of sessions breaking any of these (must be 0):
--     members + removals = 8 (each session was seeded with 8 members and 1 log entry, and
--     each committed removal deletes one member and appends one entry), version = removals,
--     the log's entry numbers are 0..version, the original member is still there, exactly one
--     event per removal, and the newest event's session (its body) has the members and log
--     entries stored now (a removal that read a stale snapshot would show one member too many).
\if :{?counts}
SELECT (SELECT count(*) FROM lean.members) AS members,
       (SELECT count(*) FROM lean.log) AS log_entries,
       (SELECT coalesce(sum(version), 0) FROM lean.sessions) AS versions;
\else
WITH m AS (SELECT n, count(*) AS c, bool_or(is_original_member) AS has_original
             FROM lean.members GROUP BY n),
     l AS (SELECT n, count(*) AS c, max(v) AS top, min(v) AS bottom FROM lean.log GROUP BY n),
     e AS (SELECT n, count(*) AS c, max(id) AS newest FROM lean.events GROUP BY n)
SELECT count(*) AS inconsistent_sessions
  FROM lean.sessions s
  LEFT JOIN m ON m.n = s.n
  LEFT JOIN l ON l.n = s.n
  LEFT JOIN e ON e.n = s.n
  LEFT JOIN lean.events newest ON newest.id = e.newest
 WHERE coalesce(m.c, 0) + coalesce(l.c, 0) - 1 <> 8
    OR s.version <> coalesce(l.c, 0) - 1
    OR l.top IS DISTINCT FROM s.version OR l.bottom IS DISTINCT FROM 0
    OR NOT coalesce(m.has_original, false)
    OR coalesce(e.c, 0) <> coalesce(l.c, 0) - 1
    OR (newest.id IS NOT NULL
        AND (json_array_length(newest.body::json -> 'session' -> 'members') <> m.c
             OR json_array_length(newest.body::json -> 'session' -> 'log') <> l.c
             OR newest.body::json -> 'session' ->> 'id' <> s.id));
\endif
