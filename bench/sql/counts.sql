-- Row counts before / after a measured run: members, log entries, and the sum of versions
-- (every committed change bumps its session's version by one).
SELECT (SELECT count(*) FROM session_members) AS members,
       (SELECT count(*) FROM session_log) AS log_entries,
       (SELECT coalesce(sum(version), 0) FROM sessions) AS versions;
