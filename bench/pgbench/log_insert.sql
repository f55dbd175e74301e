-- One log entry appended, as every change appends one: what an index on session_log costs
-- (docs/performance.md, "What recent changes cost a removal"). On a database seeded by
-- bench/sql/seed.sql (40 000 sessions): pgbench -n -c 16 -j 2 -T 10 -f log_insert.sql DB,
-- with the trigram index as migrated, dropped, or rebuilt another way, reading
-- pg_current_wal_lsn() before and after for the WAL per insert.
\set i random(0, 39999)
\set k random(2, 8)
INSERT INTO session_log (account_id, session_id, date, message) VALUES ('acct-' || (:i % 10), bench.sid(:i), now(), 'Bench User removed Agent ' || :k || ' from the chat');
