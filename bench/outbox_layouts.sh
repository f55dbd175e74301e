#!/usr/bin/env bash
# What numbering an event costs PostgreSQL, for two layouts of the outbox (the
# backends' CPU per removal is 1.8 x the lean ceiling's, and the event is most of the gap).
#
#   bench/outbox_layouts.sh      3 alternated runs of 8 s per layout (~2 min)
#
# The layouts (bench/layouts/schema.sql says more): "today", the migrations' session_events,
# where the sequencer's UPDATE rewrites each ~2 KB event row; and "queue", where a change
# also queues (account, session, seq) in a narrow table and the sequencer moves that row to
# a narrow `numbers` table, so that the event row is written once. Both number after commit,
# one batch at a time under an advisory lock, in insert order, so an event number means what
# it means today (docs/api.md, "The event body").
#
# Each run: a fresh schema `layouts` in the database evo_bench (made and migrated by
# bench/run.sh; one of its events is the body every insert copies), then pgbench with 16
# clients for 8 s, each transaction either a change's event insert (weight 7: the service's
# numbering batches held about 7 events) or a sequencer batch (weight 1), with a durable
# commit each. Then the sequencer's script runs until nothing is left unnumbered, and every
# event must hold exactly one distinct number. bench/cpu.py samples the CPU of the
# backends during the pgbench run (the drain is not counted); pg_stat_wal gives the WAL.
# What this does not measure: the rest of a change (header, member, log), readers, webhook
# delivery. Settings: BENCH_RUNS=3 BENCH_DURATION=8 BENCH_CLIENTS=16; PGHOST/PGPORT/PGUSER
# (127.0.0.1/5432/postgres). Loopback only; the sampler is stopped by PID, the schema dropped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
LAYOUTS=$BENCH/layouts
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-8}
CLIENTS=${BENCH_CLIENTS:-16}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
case $PGHOST in 127.0.0.1 | localhost | ::1) ;; *) echo "loopback only: PGHOST=$PGHOST" >&2; exit 2 ;; esac
DB=evo_bench
PY=$(python3 -c 'import sys; print(sys.executable)')
RESULTS=$BENCH/results/layouts-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$RESULTS/run.log" >&2; }
die() { log "FAILED: $*"; exit 1; }
q() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

CPU_PID=
cleanup() {
  if [[ -n $CPU_PID ]] && kill -0 "$CPU_PID" 2>/dev/null; then kill -TERM "$CPU_PID"; wait "$CPU_PID" || true; fi
  q -c 'DROP SCHEMA IF EXISTS layouts CASCADE' >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in pgbench psql python3; do command -v $tool >/dev/null || die "$tool is missing"; done
# The body every insert copies: the newest event the service wrote, or else the newest of the
# lean ceiling (design (4) of bench/run.sh builds the same wire body in SQL). A reseed empties
# the service's outbox, so after a whole bench/run.sh only the lean one may be left.
SAMPLE="(SELECT body FROM public.session_events ORDER BY seq DESC LIMIT 1)"
if [[ -z $(q -c "SELECT 1 FROM public.session_events LIMIT 1" 2>/dev/null) ]]; then
  SAMPLE="(SELECT body FROM lean.events ORDER BY 1 DESC LIMIT 1)"
  [[ -n $(q -c "SELECT 1 FROM lean.events LIMIT 1" 2>/dev/null) ]] ||
    die "no event to copy in $DB: run bench/run.sh (or bench/run.sh --quick) first"
fi
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs))"
  echo "postgres: $(q -c 'SELECT version()')"
  echo "runs: $RUNS x ${DURATION}s per layout, $CLIENTS clients"
  echo "event body copied: $(q -c "SELECT length($SAMPLE)") bytes, from $SAMPLE"
} >"$RESULTS/machine.txt"

wal() { q -F' ' -c 'SELECT wal_bytes FROM pg_stat_wal'; }

for r in $(seq "$RUNS"); do
  for layout in today queue; do
    q -f "$LAYOUTS/schema.sql" >/dev/null
    q -c "INSERT INTO layouts.sample SELECT $SAMPLE" >/dev/null
    q -c 'CHECKPOINT' >/dev/null
    out=$RESULTS/$layout-r$r
    wal_before=$(wal)
    "$PY" "$BENCH/cpu.py" "$out.cpu.json" $$ &
    CPU_PID=$!
    for _ in $(seq 100); do [[ -e $out.cpu.json.ready ]] && break; sleep 0.05; done
    pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "$LAYOUTS/change-$layout.sql@7" \
      -f "$LAYOUTS/number-$layout.sql@1" "$DB" >"$out.pgbench.txt" 2>&1 || die "pgbench failed: $(tail -5 "$out.pgbench.txt")"
    kill -TERM "$CPU_PID"
    wait "$CPU_PID" || true
    CPU_PID=
    wal_after=$(wal)
    # Drain: number whatever the run left, then check one distinct number per event.
    for _ in $(seq 1000); do
      if [[ $layout = today ]]; then left=$(q -c 'SELECT count(*) FROM layouts.today WHERE id IS NULL')
      else left=$(q -c 'SELECT count(*) FROM layouts.unnumbered'); fi
      ((left == 0)) && break
      q -f "$LAYOUTS/number-$layout.sql" >/dev/null
    done
    if [[ $layout = today ]]; then
      check=$(q -F' ' -c 'SELECT count(*), count(id), count(DISTINCT id) FROM layouts.today')
    else
      check=$(q -F' ' -c 'SELECT (SELECT count(*) FROM layouts.queued), count(*), count(DISTINCT n.id)
        FROM layouts.numbers n JOIN layouts.queued e USING (account_id, session_id, seq)')
    fi
    read -r events numbered distinct <<<"$check"
    [[ $events = "$numbered" && $events = "$distinct" && $events -gt 0 ]] ||
      die "$layout run $r: $events events, $numbered numbered, $distinct distinct numbers"
    echo "{\"layout\": \"$layout\", \"run\": $r, \"events\": $events, \"wal_bytes\": $((wal_after - wal_before))}" >"$out.json"
    log "$layout run $r: $events events, each numbered once ($(grep -m1 '^tps' "$out.pgbench.txt" | cut -d' ' -f1-3))"
  done
done

"$PY" - "$RESULTS" <<'PYEOF' | tee "$RESULTS/table.md"
import json, statistics, sys
from pathlib import Path
results = Path(sys.argv[1])
rows = {}
for run in sorted(results.glob("*-r*.json")):
    if run.name.endswith(".cpu.json"):
        continue
    r = json.loads(run.read_text())
    cpu = json.loads(run.with_name(run.stem + ".cpu.json").read_text())
    seconds = cpu["seconds"]
    rows.setdefault(r["layout"], []).append({
        "events_per_s": r["events"] / seconds,
        "backend_us": cpu["cpu_s"].get("postgres evo_bench", 0) * 1e6 / r["events"],
        "aux_us": cpu["cpu_s"].get("postgres aux", 0) * 1e6 / r["events"],
        "wal_kb": r["wal_bytes"] / 1024 / r["events"],
    })
def cell(values, fmt):
    values = sorted(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(values[0])}–{fmt.format(values[-1])})"
print("| layout | events/s | backend CPU µs per event | aux CPU µs per event | WAL KB per event |")
print("|---|---:|---:|---:|---:|")
for layout in ("today", "queue"):
    rs = rows.get(layout, [])
    if rs:
        print(f"| {layout} | {cell([x['events_per_s'] for x in rs], '{:,.0f}')} | {cell([x['backend_us'] for x in rs], '{:.0f}')} "
              f"| {cell([x['aux_us'] for x in rs], '{:.0f}')} | {cell([x['wal_kb'] for x in rs], '{:.2f}')} |")
print(f"\nMedian (min–max) of {max(len(v) for v in rows.values())} runs per layout; events/s over the sampled seconds.")
PYEOF
log "raw outputs: ${RESULTS#"$ROOT"/}"
