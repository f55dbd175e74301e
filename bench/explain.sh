#!/usr/bin/env bash
# `just explain`: the plan of every statement the PostgreSQL store sends, at 400 000 sessions.
#
#   bench/explain.sh             400 000 sessions x 8 members (EXPLAIN_SESSIONS to change)
#   bench/explain.sh --reuse     explain again on the database the last run seeded
#
# Recreates the throwaway database evo_explain on the local PostgreSQL, applies
# migrations/postgres (the SQL the binary embeds), seeds it as `just bench` does
# (bench/sql/seed.sql: sessions over 10 accounts, 8 members and 1 log entry each) plus one kept
# answer per session in idempotency_keys and an outbox of 4 events per session in
# session_events (numbered in insert order from session_event_ids, over the last 72 h: the
# oldest 30 % written with no webhook (delivery 0), the rest delivered (2) but for the newest
# 2 000 still pending (1) and 1 in 10 000 dead letters (3); then 16 new events not yet
# numbered), then runs bench/sql/explain.sql: each statement prepared with its generic plan and
# EXPLAINed (ANALYZE, BUFFERS) in a transaction rolled back, on the last seeded session, as a
# User of the 10 accounts and as an Admin. Prints the scans, buffers and time of each statement
# and FAILS (exit 1) if any plan has a Seq Scan on sessions, session_members, session_log,
# idempotency_keys or session_events. Then makes the sessions differ (bench/sql/seed_finding.sql)
# and EXPLAINs the statements of finding sessions the same way, with the values a request
# gives them (bench/sql/explain_finding.sql). Raw output: bench/results/explain-<UTC timestamp>/.
# Loopback only; needs no build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SESSIONS=${EXPLAIN_SESSIONS:-400000}
REUSE=0
case ${1:-} in
  --reuse) REUSE=1 ;;
  "") ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
case $PGHOST in 127.0.0.1 | localhost | ::1) ;; *) echo "loopback only: PGHOST=$PGHOST" >&2; exit 2 ;; esac
DB=evo_explain
OUT=$ROOT/bench/results/explain-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- migrations bench/sql 2>/dev/null || echo ' + uncommitted changes')"
  echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)); memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "postgres: $(psql -X -Atq -d postgres -c 'SELECT version()')"
  echo "sessions: $SESSIONS"
} >"$OUT/machine.txt"

if ((REUSE)); then
  SESSIONS=$(psql -X -Atq -d "$DB" -c 'SELECT count(*) FROM sessions')
  log "reusing database $DB ($SESSIONS sessions)"
else
log "recreating database $DB"
dropdb --if-exists --force "$DB"
createdb "$DB"
for migration in $(ls -d migrations/postgres/*/ | sort); do
  psql_q -1 -f "$migration/up.sql"
done
psql_q -f bench/sql/schema.sql
log "seeding $SESSIONS sessions x 8 members"
started=$SECONDS
psql_q -v sessions="$SESSIONS" -f bench/sql/seed.sql
psql_q -v sessions="$SESSIONS" <<'SQL'
-- One kept answer per session, expiring over the next day (none expired yet).
INSERT INTO idempotency_keys (account_id, scope, key, fingerprint, status, content_type, body, expires_at)
SELECT 'acct-' || (i % 10), 'bench@example.com', 'k-' || i, 'f', 200, 'application/json', '\x7b7d',
       now() + (i % 86400) * interval '1 second'
FROM generate_series(0, :sessions - 1) AS i;
VACUUM (ANALYZE) idempotency_keys;
SQL
log "seeding $((SESSIONS * 4)) outbox events"
psql_q -v sessions="$SESSIONS" <<'SQL'
-- The outbox of a service with a webhook: 4 events per session (n = 4 i + k - 1, in insert
-- order, which is numbering order: id = n + 1 from session_event_ids), spread over the last
-- 72 h and a minute (the retention window, and the minute retention waits between batches).
-- The oldest 30 % were written before the webhook was configured (0); the rest delivered
-- (2), but for the newest 2 000, still pending and due (1), and 1 event in 10 000 of the
-- webhook's a dead letter (3). Bodies of about 1.3 kB, as the service writes for a small session.
BEGIN;
TRUNCATE session_events RESTART IDENTITY;
INSERT INTO session_events (account_id, session_id, id, event_type, body, created_at, delivery,
                            attempts, pending_since, next_attempt_at, last_error)
SELECT e.account_id, e.session_id, e.n + 1, e.event_type,
       rpad('{"type":"' || e.event_type || '","date":"' || e.at || '","accountId":"' || e.account_id
            || '","sessionId":"' || e.session_id || '","session":{"log":"', 1300, '.') || '"}}',
       e.at, e.delivery, CASE e.delivery WHEN 3 THEN 154 ELSE 0 END, e.at,
       CASE e.delivery WHEN 3 THEN e.at + interval '24 hours' ELSE e.at END,
       CASE e.delivery WHEN 3 THEN 'the receiver answered HTTP 500' END
FROM (SELECT 'acct-' || (i % 10) AS account_id, bench.sid(i) AS session_id, n,
             (ARRAY['SessionCreated', 'ChatMemberAdded', 'ChatMemberRemoved', 'ChatMemberAdded'])[k] AS event_type,
             date_trunc('milliseconds', now() - interval '72 hours 1 minute'
                        + (interval '72 hours 1 minute') * (n::float8 / (4 * :sessions))) AS at,
             CASE WHEN n >= 4 * :sessions - 2000 THEN 1
                  WHEN n < 4 * :sessions * 3 / 10 THEN 0
                  WHEN n % 10000 = 5000 THEN 3
                  ELSE 2 END::smallint AS delivery
      FROM generate_series(0, :sessions - 1) AS i, generate_series(1, 4) AS k,
           LATERAL (SELECT 4::bigint * i + k - 1 AS n) AS nn
      ORDER BY n) AS e;
SELECT setval('session_event_ids', 4::bigint * :sessions);
-- Committed a moment ago, not numbered yet: 16 events of 4 recent sessions.
INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery,
                            pending_since, next_attempt_at)
SELECT 'acct-' || (i % 10), bench.sid(i), 'ChatMemberAdded',
       rpad('{"type":"ChatMemberAdded","accountId":"acct-' || (i % 10) || '","sessionId":"' || bench.sid(i)
            || '","session":{"log":"', 1300, '.') || '"}}', t.now, 1, t.now, t.now
FROM generate_series(:sessions - 20, :sessions - 17) AS i, generate_series(1, 4) AS k,
     (SELECT date_trunc('milliseconds', now()) AS now) AS t
ORDER BY i, k;
COMMIT;
VACUUM (ANALYZE) session_events;
CHECKPOINT;
SQL
log "seeded in $((SECONDS - started)) s"
fi
psql -X -Atq -d "$DB" -c "SELECT 'rows: sessions ' || (SELECT count(*) FROM sessions) || ', members ' || (SELECT count(*) FROM session_members) || ', log ' || (SELECT count(*) FROM session_log) || ', keys ' || (SELECT count(*) FROM idempotency_keys) || ', events ' || (SELECT count(*) FROM session_events) || ' (' || (SELECT string_agg(delivery || ': ' || c, ', ' ORDER BY delivery) FROM (SELECT delivery, count(*) AS c FROM session_events GROUP BY delivery) AS d) || '; unnumbered ' || (SELECT count(*) FROM session_events WHERE id IS NULL) || ')'" >>"$OUT/machine.txt"

last=$((SESSIONS - 1))
sid=$(psql -X -Atq -d "$DB" -c "SELECT bench.sid($last)")
account=acct-$((last % 10))
accounts='{acct-0,acct-1,acct-2,acct-3,acct-4,acct-5,acct-6,acct-7,acct-8,acct-9}'
log "EXPLAIN of every statement on session $sid ($account)"
psql_q -v sid="$sid" -v account="$account" -v accounts="$accounts" -v key=agent2@example.com \
  -v scope=bench@example.com -v idem="k-$last" -v key_accounts="${accounts%\}},\"\"}" \
  -f bench/sql/explain.sql >"$OUT/explain.txt" 2>&1 || { tail -20 "$OUT/explain.txt" >&2; log "FAILED: explain.sql"; exit 1; }

if ((!REUSE)); then
  log "making the sessions differ for finding them (bench/sql/seed_finding.sql)"
  psql_q -v sessions="$SESSIONS" -f bench/sql/seed_finding.sql
fi
day=$(psql -X -Atq -d "$DB" -c "SELECT to_char(date_created, 'YYYY-MM-DD') FROM sessions WHERE id = bench.sid($SESSIONS / 2)")
log "EXPLAIN of finding sessions (bench/sql/explain_finding.sql)"
psql_q -v sessions="$SESSIONS" -v account=acct-3 -v accounts="$accounts" -v sid="$(psql -X -Atq -d "$DB" -c "SELECT bench.sid(3)")" \
  -v sid2="$(psql -X -Atq -d "$DB" -c "SELECT bench.sid(13)")" -v day="$day" -v customer=cust-1233 -v endpoint=ep-13 \
  -v from='%customer 123453%' -v to='%queue-23@%' -v log='%order 424243%' -v finder=finder@example.com \
  -v leaver=leaver0@example.com -f bench/sql/explain_finding.sql >>"$OUT/explain.txt" 2>&1 \
  || { tail -20 "$OUT/explain.txt" >&2; log "FAILED: explain_finding.sql"; exit 1; }

python3 - "$OUT/explain.txt" "$OUT/summary.md" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
ours = ("sessions", "session_members", "session_log", "idempotency_keys", "session_events")
rows, bad = [], []
for block in re.split(r"^=== ", text, flags=re.M)[1:]:
    head, _, plan = block.partition("\n")
    name, _, title = head.partition(": ")
    scans = []
    for line in plan.splitlines():
        m = re.search(r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?(?: using (\S+))? on (\S+)", line)
        if m:
            kind, index, table = m.groups()
            scans.append(f"{kind} {index} ({table})" if index else f"{kind} on {table}")
            if kind == "Seq Scan" and table in ours:
                bad.append(f"{name}: {line.strip()}")
        elif "Conflict Arbiter Indexes:" in line:
            scans.append("ON CONFLICT arbiter " + line.split(":", 1)[1].strip())
    times = re.findall(r"Execution Time: ([0-9.]+) ms", plan)
    # The top node's buffers (they include its children's), before "Planning:".
    top = plan.split("Planning:", 1)[0]
    buffers = re.search(r"^\s*Buffers: (.*)$", top, flags=re.M)
    rows.append((name, title, "; ".join(dict.fromkeys(scans)) or "no scan of a table (VALUES / unnest / function)",
                 buffers.group(1) if buffers else "none", times[0] if times else "?"))
with open(sys.argv[2], "w") as out:
    out.write("| statement | what | scans (index, table) | buffers | execution ms |\n|---|---|---|---|---:|\n")
    for row in rows:
        out.write("| `%s` | %s | %s | %s | %s |\n" % row)
print(open(sys.argv[2]).read())
if bad:
    print("Seq Scan on our tables:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"{len(rows)} statements, no Seq Scan on {', '.join(ours)}")
PY
log "raw output: ${OUT#"$ROOT"/}"
