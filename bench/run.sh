#!/usr/bin/env bash
# `just bench`: DeleteChatMember over HTTP against the database's own ceilings.
#
#   bench/run.sh                 everything (about 8-10 minutes on 2 cores)
#   bench/run.sh --no-scale      skip the 400 000-session scale check
#   bench/run.sh --quick         2 runs of 5 s per point, no scale check (a smoke test)
#   bench/run.sh --scale-only    only the service and the lean ceiling at c=16 (40 000 sessions),
#                                and the scale check
#   bench/run.sh --sync-commit off   run with synchronous_commit=off on the bench database
#                                (shows the CPU costs that a durable commit's fsync hides)
#   bench/run.sh --no-profile    skip the perf profile of the service (done when perf exists)
#
# What it does (docs/performance.md explains the why and the latest figures):
#   1. builds the release binary, recreates the database evo_bench on the local PostgreSQL,
#      migrates it with `evo-sessions migrate`, installs bench/sql/schema.sql (helpers),
#      seeds 40 000 Chat sessions x 8 members over 10 accounts with bulk SQL;
#   2. starts `evo-sessions serve` on a free loopback port, checks that GET of a seeded
#      session answers 200 with its 8 members, then for each run and concurrency (1, 16):
#        (1) service  wrk + bench/wrk/delete.lua: DELETE of distinct removable members
#        (1k) keyed   the same, each request with an Idempotency-Key of its own
#        (2) adapter  pgbench replaying the adapter's own statements (2 round trips)
#        (3) onetrip  pgbench calling bench.remove_member: the same removal in 1 round trip
#        (4) lean     pgbench calling lean.remove_member: the same removal plus its outbox
#                     event, in 1 round trip, on the leanest schema holding the same data
#                     (bench/sql/lean.sql, filled from the seeded tables before each run)
#        (1s) store   the service's store driven in-process, without HTTP (the example
#                     crates/server/examples/store_loop.rs: per-worker threads and pools as
#                     in the service, the rule, the event, diesel-async): the floor of the
#                     service's own CPU
#      each run on a freshly reseeded database, after a warm-up on sessions kept apart
#      for it; rows are counted before and after and every session is checked for
#      consistency (bench/sql/check.sql; lean: bench/sql/lean_check.sql);
#   3. reads the service's peak RSS (VmHWM); profiles one more c=16 service run with perf
#      (call graphs; bench/profile.py splits the service's CPU per request phase) and counts
#      its syscalls and context switches; reseeds 400 000 sessions and repeats the c=16
#      service run and the lean ceiling (the plans at that size: `just explain`, which
#      seeds the outbox explain.sql needs);
#   4. with the scale check, measures finding sessions at its size (bench/finding.py: ListSessions
#      with every filter, GetActiveSessions, RemoveChatMemberFromActiveSessions; finding.md);
#   5. with the scale check, ListSessions with one read replica against none (bench/replicas.py:
#      a primary and a hot standby of its own; replicas.md);
#   6. prints one table (bench/report.py) and keeps every raw output in
#      bench/results/<UTC timestamp>/.
#
# Loopback only: the service, wrk, pgbench and psql talk to 127.0.0.1. Everything started
# here is stopped by PID on exit (trap). Settings (environment):
#   BENCH_SESSIONS=40000 BENCH_SCALE_SESSIONS=400000 BENCH_RUNS=3 BENCH_DURATION=8
#   BENCH_WARMUP=2 BENCH_CONCURRENCY="1 16" BENCH_DESIGNS="service keyed store adapter onetrip lean";
#   PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres);
#   EVO_DB_POOL_SIZE, EVO_WORKERS are passed to the service when set (else its defaults).
#   BENCH_PGBOUNCER=1: the service reaches PostgreSQL through a PgBouncer of its own
#   (Debian's `pgbouncer`, installed by scripts/db-up.sh), started here on a free loopback
#   port in transaction mode as the `postgres` user, with EVO_DB_STATEMENT_CACHE=false;
#   BENCH_PGBOUNCER_POOL (default: the service's pool size) server connections. pgbench,
#   psql and `evo-sessions migrate` still go straight to PostgreSQL.
#   BENCH_WEBHOOK=1: a webhook receiver of its own (bench/webhook_receiver.py, answers 204)
#   gets every event while the removals run (EVO_WEBHOOK_URL); the outbox's state and the
#   time its backlog takes to drain after the last run go to outbox.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
cd "$ROOT"

SESSIONS=${BENCH_SESSIONS:-40000}
SCALE_SESSIONS=${BENCH_SCALE_SESSIONS:-400000}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16"}
DESIGNS=${BENCH_DESIGNS:-"service keyed store adapter onetrip lean"}
SCALE=1
PROFILE=1
SYNC_COMMIT=""
while (($#)); do
  case $1 in
    --scale) SCALE=1 ;;
    --no-scale) SCALE=0 ;;
    --no-profile) PROFILE=0 ;;
    --quick) RUNS=2 DURATION=5 SCALE=0 PROFILE=0 ;;
    --scale-only) DESIGNS="service lean" CONCURRENCY=16 SCALE=1 PROFILE=0 ;;
    --sync-commit) SYNC_COMMIT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
case $PGHOST in 127.0.0.1 | localhost | ::1) ;; *) echo "loopback only: PGHOST=$PGHOST" >&2; exit 2 ;; esac
DB=evo_bench
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $TARGET_DIR = /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
# BENCH_BIN: measure that binary as it is (no build), e.g. a copy kept for an A/B comparison.
BIN=${BENCH_BIN:-$TARGET_DIR/release/evo-sessions}

# Sessions [0, MEASURED) are measured; [MEASURED, SESSIONS) are kept for the warm-ups, so
# that every measured session starts at version 0 with its 8 members (pgbench then knows
# the version the adapter would have read: the number of removals made on it before).
measured_of() { echo $(($1 * 4 / 5)); }
FIRST_K=2 LAST_K=8 # members 2..8 are removable; member 1 is the original member

RESULTS=$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
RUNS_JSONL=$RESULTS/runs.jsonl
: >"$RUNS_JSONL"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$RESULTS/run.log" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Everything started in the background is recorded here and stopped on exit, by PID;
# a process stopped earlier is forgotten at once (its PID could be reused by another).
PIDS=()
forget_pid() { local keep=() pid; for pid in "${PIDS[@]}"; do [[ $pid = "$1" ]] || keep+=("$pid"); done; PIDS=("${keep[@]}"); }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  PIDS=()
  # PgBouncer's folder (BENCH_PGBOUNCER=1), once PgBouncer is stopped: its log kept.
  if [[ -n ${BOUNCER_DIR:-} && -d $BOUNCER_DIR ]]; then
    cp "$BOUNCER_DIR/pgbouncer.log" "$RESULTS/" 2>/dev/null || true
    rm -rf "$BOUNCER_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The interpreter itself, not a version manager's shim: a shim would put a process between
# the PID we record and the sampler, and `kill PID` would miss it.
PY=$(python3 -c 'import sys; print(sys.executable)')

# CPU seconds per party during a measured run (bench/cpu.py), stopped by PID.
cpu_start() { # out.json
  "$PY" "$BENCH/cpu.py" "$1" "$SERVE_PID" &
  CPU_PID=$!
  PIDS+=("$CPU_PID")
  for _ in $(seq 100); do [[ -e $1.ready ]] && return; sleep 0.05; done
}
cpu_stop() {
  kill -TERM "$CPU_PID"
  wait "$CPU_PID" || true
  forget_pid "$CPU_PID"
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sid() { psql -X -Atq -d "$DB" -c "SELECT bench.sid($1)"; }

# ---------------------------------------------------------------------------------------
# 0. Tools and PostgreSQL
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  if [[ $(id -u) = 0 ]]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
for tool in pgbench psql curl python3 cargo; do
  command -v $tool >/dev/null || die "$tool is missing"
done
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect 15 main start
  for _ in $(seq 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
fi

# ---------------------------------------------------------------------------------------
# 1. Build, database, seed
if [[ -n ${BENCH_BIN:-} ]]; then
  log "measuring $BENCH_BIN as it is (BENCH_BIN: no build)"
  [[ -x $BENCH_BIN ]] || die "BENCH_BIN=$BENCH_BIN is not an executable"
else
  log "building (cargo build --release -p evo-server --locked, target $TARGET_DIR)"
  CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p evo-server --locked 2>"$RESULTS/build.log" ||
    { tail -20 "$RESULTS/build.log" >&2; die "release build failed (bench/results/.../build.log)"; }
fi
STORE_LOOP=$TARGET_DIR/release/examples/store_loop
if [[ " $DESIGNS " = *" store "* ]]; then
  log "building the store loop (cargo build --release -p evo-server --example store_loop --locked)"
  CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p evo-server --example store_loop --locked \
    2>>"$RESULTS/build.log" || { tail -20 "$RESULTS/build.log" >&2; die "the store loop's build failed"; }
fi

{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates migrations Cargo.lock || echo ' + uncommitted changes in crates/')"
  [[ -n ${BENCH_BIN:-} ]] && echo "binary: $BENCH_BIN (BENCH_BIN; the git line is the checkout's, not necessarily the binary's)"
  echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs))"
  echo "memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "kernel: $(uname -r)"
  echo "postgres: $(psql -X -Atq -d postgres -c 'SELECT version()')"
  echo "postgres settings: $(psql -X -Atq -d postgres -c "SELECT string_agg(name || '=' || current_setting(name), ' ') FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'max_connections')")"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); pgbench: $(pgbench --version)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sessions: $SESSIONS; runs: $RUNS x ${DURATION}s after ${WARMUP}s warm-up; concurrency: $CONCURRENCY"
} >"$RESULTS/machine.txt"

log "recreating database $DB"
dropdb --if-exists --force "$DB"
createdb "$DB"
if [[ -n $SYNC_COMMIT ]]; then
  psql -X -q -d postgres -c "ALTER DATABASE $DB SET synchronous_commit = '$SYNC_COMMIT'"
fi
echo "synchronous_commit on $DB: $(psql -X -Atq -d "$DB" -c 'SHOW synchronous_commit')" >>"$RESULTS/machine.txt"

export EVO_JWT_SECRET
EVO_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export EVO_LOG=${EVO_LOG:-warn}
# One token drives the whole load: the per-caller change rate (100/s by default) would
# measure the limiter, not the service.
export EVO_RATE_LIMIT_PER_SEC=${EVO_RATE_LIMIT_PER_SEC:-0}
"$BIN" migrate 2>>"$RESULTS/serve.log" || die "evo-sessions migrate failed"
psql_q -f "$BENCH/sql/schema.sql"

seed() { # sessions
  local started=$SECONDS
  psql_q -v sessions="$1" -f "$BENCH/sql/seed.sql"
  sync # the seed's writes must not still be draining to disk while we measure
  echo "seed $1 sessions: $((SECONDS - started)) s" >>"$RESULTS/seed-times.txt"
}
log "seeding $SESSIONS sessions x 8 members"
seed "$SESSIONS"
log "seeded in $(tail -1 "$RESULTS/seed-times.txt" | cut -d: -f2)"
# Design (4): the schema `lean` rebuilt from nothing and filled from the rows seed() just
# wrote (bench/sql/lean.sql), so that it starts from the same fresh seed.
seed_lean() {
  local started=$SECONDS
  psql_q -f "$BENCH/sql/lean.sql"
  sync
  echo "seed lean from the seeded tables: $((SECONDS - started)) s" >>"$RESULTS/seed-times.txt"
}

# ---------------------------------------------------------------------------------------
# 2. The service (through PgBouncer with BENCH_PGBOUNCER=1)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits up to 10 s for a listener on 127.0.0.1:$1; fails otherwise.
listening() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
SERVICE_DATABASE_URL=$DATABASE_URL
if [[ ${BENCH_PGBOUNCER:-0} = 1 ]]; then
  PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  [[ -x $PGBOUNCER ]] || die "pgbouncer is missing (scripts/db-up.sh installs it)"
  BOUNCER_DIR=$(mktemp -d /tmp/evo-bench-pgbouncer.XXXXXX)
  BOUNCER_PORT=$(free_port)
  BOUNCER_POOL=${BENCH_PGBOUNCER_POOL:-${EVO_DB_POOL_SIZE:-$((2 * $(nproc)))}}
  printf '"%s" ""\n' "$PGUSER" >"$BOUNCER_DIR/userlist.txt"
  printf '%s\n' "[databases]" "* = host=$PGHOST port=$PGPORT" "[pgbouncer]" "pool_mode = transaction" \
    "listen_addr = 127.0.0.1" "listen_port = $BOUNCER_PORT" "unix_socket_dir =" "auth_type = trust" \
    "auth_file = $BOUNCER_DIR/userlist.txt" "max_client_conn = 100" "default_pool_size = $BOUNCER_POOL" \
    "logfile = $BOUNCER_DIR/pgbouncer.log" "pidfile = $BOUNCER_DIR/pgbouncer.pid" >"$BOUNCER_DIR/pgbouncer.ini"
  chown -R postgres:postgres "$BOUNCER_DIR"
  # setpriv execs PgBouncer itself, so the PID recorded is PgBouncer's.
  setpriv --reuid=postgres --regid=postgres --init-groups "$PGBOUNCER" "$BOUNCER_DIR/pgbouncer.ini" \
    >"$RESULTS/pgbouncer.out" 2>&1 &
  PIDS+=("$!")
  listening "$BOUNCER_PORT" || die "PgBouncer is not listening ($BOUNCER_DIR/pgbouncer.log)"
  SERVICE_DATABASE_URL="postgres://$PGUSER@127.0.0.1:$BOUNCER_PORT/$DB"
  export EVO_DB_STATEMENT_CACHE=false
  echo "pgbouncer: $("$PGBOUNCER" --version | head -1), transaction mode, port $BOUNCER_PORT, default_pool_size $BOUNCER_POOL; service EVO_DB_STATEMENT_CACHE=false" >>"$RESULTS/machine.txt"
  log "PgBouncer on 127.0.0.1:$BOUNCER_PORT (transaction mode, $BOUNCER_POOL server connections)"
fi
# A webhook receiver (BENCH_WEBHOOK=1): every event is delivered while the removals run.
if [[ ${BENCH_WEBHOOK:-0} = 1 ]]; then
  RECEIVER_PORT=$(free_port)
  "$PY" "$BENCH/webhook_receiver.py" "$RECEIVER_PORT" "$RESULTS/webhook-counts.json" \
    >"$RESULTS/webhook-receiver.log" 2>&1 &
  RECEIVER_PID=$!
  PIDS+=("$RECEIVER_PID")
  listening "$RECEIVER_PORT" || die "the webhook receiver is not listening"
  export EVO_WEBHOOK_URL=http://127.0.0.1:$RECEIVER_PORT/events
  export EVO_WEBHOOK_SECRET=whsec_$(head -c 24 /dev/urandom | base64)
  echo "webhook: bench/webhook_receiver.py on 127.0.0.1:$RECEIVER_PORT (answers 204), EVO_WEBHOOK_URL set" >>"$RESULTS/machine.txt"
  log "webhook receiver on 127.0.0.1:$RECEIVER_PORT"
fi
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
log "starting evo-sessions serve on 127.0.0.1:$PORT (pool ${EVO_DB_POOL_SIZE:-default}, workers ${EVO_WORKERS:-default})"
DATABASE_URL=$SERVICE_DATABASE_URL EVO_BIND=127.0.0.1:$PORT "$BIN" serve >>"$RESULTS/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
for _ in $(seq 100); do
  curl -fsS -m 1 "$BASE/health/ready" >/dev/null 2>&1 && break
  kill -0 "$SERVE_PID" 2>/dev/null || die "the service exited (see serve.log)"
  sleep 0.2
done
curl -fsS -m 2 "$BASE/health/ready" >/dev/null || die "the service is not ready after 20 s"

ACCOUNTS=()
for a in $(seq 0 9); do ACCOUNTS+=(--account "acct-$a"); done
TOKEN=$("$BIN" token --sub bench@example.com --name "Bench User" --role User "${ACCOUNTS[@]}" --ttl 2h)

# The seed is valid if the service reads a seeded session back as we meant it.
CHECK_SID=$(sid 7)
code=$(curl -sS -m 5 -o "$RESULTS/get-check.json" -w '%{http_code}' \
  -H "Authorization: Bearer $TOKEN" "$BASE/sessions/$CHECK_SID")
[[ $code = 200 ]] || die "GET /sessions/$CHECK_SID answered $code: $(head -c 300 "$RESULTS/get-check.json")"
python3 - "$RESULTS/get-check.json" <<'EOF' || die "GET of a seeded session does not read back as seeded"
import json, sys
s = json.load(open(sys.argv[1]))
m = s["members"]
assert s["channel"] == "Chat" and s["accountId"] == "acct-7" and not s["ended"], s
assert len(m) == 8 and m[0]["isOriginalMember"] and m[0]["role"] == "Caller", m[0]
assert all(not x["isOriginalMember"] and x["role"] == "Agent" for x in m[1:]), m[1]
assert len(s["log"]) == 1, s["log"]
EOF
log "GET /sessions/$CHECK_SID: 200, 8 members, 1 log entry"

# Row counts once they stop moving: requests that wrk cut off at its deadline may still be
# committing (or rolling back) in the service, and must not land in the next run's delta.
counts() { # [lean: the schema lean's]
  local previous now sql=(-f "$BENCH/sql/counts.sql")
  [[ ${1:-} = lean ]] && sql=(-v counts=1 -f "$BENCH/sql/lean_check.sql")
  now=$(psql -X -Atq -F' ' -d "$DB" "${sql[@]}")
  for _ in $(seq 20); do
    sleep 0.3
    previous=$now
    now=$(psql -X -Atq -F' ' -d "$DB" "${sql[@]}")
    [[ $now = "$previous" ]] && break
  done
  echo "$now"
}
check() { # [1: the outbox too | lean: the schema lean, its events too]
  if [[ ${1:-} = lean ]]; then
    psql -X -Atq -d "$DB" -f "$BENCH/sql/lean_check.sql"
  else
    psql -X -Atq -d "$DB" -v events="${1:-0}" -f "$BENCH/sql/check.sql"
  fi
}
# WAL written (bytes, full-page images): cluster-wide, so other databases' writes add noise.
# Then the bench database's blocks read (missed in shared_buffers) and hit: what a data set
# larger than shared_buffers costs shows there (the scale check).
wal() {
  psql -X -Atq -F' ' -d "$DB" -c 'SELECT w.wal_bytes, w.wal_fpi, d.blks_read, d.blks_hit
    FROM pg_stat_wal w, pg_stat_database d WHERE d.datname = current_database()'
}

# Appends one JSON line to runs.jsonl: what was run, what it reported, what the DB shows.
record() { # design c run sessions output_file before after extra_json
  "$PY" "$BENCH/report.py" record "$RUNS_JSONL" "$@"
}

wrk_run() { # c first count duration out [keyed]
  local c=$1 first=$2 count=$3 duration=$4 out=$5 keyed=${6:-} threads=$(($1 < 2 ? 1 : 2))
  timeout $((duration + 30)) wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 5s \
    -s "$BENCH/wrk/delete.lua" "$BASE" -- "$first" "$count" "$threads" "$FIRST_K" "$LAST_K" \
    "$TOKEN" $keyed >"$out" 2>&1
}

# One measured service run: warm-up on [wfirst, wfirst+wcount), measure on [first, first+count).
service_run() { # c run sessions first count wfirst wcount [design: service or keyed]
  local c=$1 r=$2 n=$3 first=$4 count=$5 wfirst=$6 wcount=$7 design=${8:-service} out before after keyed=
  [[ $design = keyed ]] && keyed=keyed
  out=$RESULTS/$design-n$n-c$c-r$r.txt
  wrk_run "$c" "$wfirst" "$wcount" "$WARMUP" "$RESULTS/warmup-$design-n$n-c$c-r$r.txt" $keyed
  before=$(counts)
  wal_before=$(wal)
  cpu_start "${out%.txt}.cpu.json"
  wrk_run "$c" "$first" "$count" "$DURATION" "$out" $keyed
  cpu_stop
  wal_after=$(wal)
  after=$(counts)
  record "$design" "$c" "$r" "$n" "$out" "$before" "$after" "$(check 1)" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$wal_before" "$wal_after"
}

# pgbench variables: the session partition, the fixed parameters of a removal, the member
# keys m2..m8 (pgbench variables are numbers; strings can only come in with -D).
PGB_VARS=(-D n=0 -D "kfirst=$FIRST_K" -D "now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"
  -D actor=bench@example.com -D f=false -D cs=Connected
  -D "msg=Bench User removed Agent 5 from the chat"
  -D "accounts={acct-0,acct-1,acct-2,acct-3,acct-4,acct-5,acct-6,acct-7,acct-8,acct-9}")
for k in $(seq $FIRST_K $LAST_K); do PGB_VARS+=(-D "m$k=agent$k@example.com"); done

# Builds a pgbench script from a body (bench/pgbench/*.sql): the per-client session and
# member arithmetic of bench/wrk/delete.lua, then one \if branch per member slot with the
# body's :member replaced by :m<k>. An exhausted partition calls a function that does not
# exist, so pgbench stops with an error instead of silently removing nothing.
gen_pgbench_script() { # body out
  local k
  {
    echo '\set i :first + :client_id * :width + (:n % :width)'
    echo '\set k :kfirst + :n / :width'
    echo '\set ver :k - :kfirst'
    echo '\set n :n + 1'
    echo '\set sid 1000000000000000 + ((:i * 2654435761) % 4294967296) * 1000000 + :i'
    echo '\set a :i % 10' # the session's account: acct-<a> (bench/sql/seed.sql)
    for k in $(seq $FIRST_K $LAST_K); do
      if ((k == FIRST_K)); then echo "\\if :k = $k"; else echo "\\elif :k = $k"; fi
      grep -v '^--' "$1" | sed "s/:member/:m$k/g"
    done
    echo '\else'
    echo 'SELECT bench_partition_exhausted();'
    echo '\endif'
  } >"$2"
}
gen_pgbench_script "$BENCH/pgbench/adapter.sql" "$RESULTS/pgbench-adapter.sql"
gen_pgbench_script "$BENCH/pgbench/onetrip.sql" "$RESULTS/pgbench-onetrip.sql"
gen_pgbench_script "$BENCH/pgbench/lean.sql" "$RESULTS/pgbench-lean.sql"

# Design (1s): the store loop, which removes as wrk + the service would, minus HTTP.
store_loop_run() { # c first count duration out
  timeout $(($4 + 30)) "$STORE_LOOP" "$1" "$2" "$3" "$FIRST_K" "$LAST_K" "$4" >"$5" 2>&1 || true
}
store_run() { # c run
  local c=$1 r=$2 n=$SESSIONS measured out before after
  measured=$(measured_of "$n")
  out=$RESULTS/store-c$c-r$r.txt
  seed "$n"
  store_loop_run "$c" "$measured" $((n - measured)) "$WARMUP" "$RESULTS/warmup-store-c$c-r$r.txt"
  before=$(counts)
  wal_before=$(wal)
  cpu_start "${out%.txt}.cpu.json"
  store_loop_run "$c" 0 "$measured" "$DURATION" "$out"
  cpu_stop
  wal_after=$(wal)
  after=$(counts)
  record store "$c" "$r" "$n" "$out" "$before" "$after" "$(check 1)" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$wal_before" "$wal_after"
}

pgbench_run() { # design c first count duration out [log_prefix]
  local design=$1 c=$2 first=$3 count=$4 duration=$5 out=$6 logging=()
  [[ -n ${7:-} ]] && logging=(--log "--log-prefix=$7")
  timeout $((duration + 30)) pgbench -n -M prepared -c "$c" -j "$c" -T "$duration" \
    "${PGB_VARS[@]}" -D "first=$first" -D "width=$((count / c))" "${logging[@]}" \
    -f "$RESULTS/pgbench-$design.sql" "$DB" >"$out" 2>&1 || true
}

sql_run() { # design c run [sessions first count wfirst wcount: a seed made by the caller]
  local design=$1 c=$2 r=$3 n=${4:-$SESSIONS} measured out before after tables=
  local first=${5:-0} count=${6:-} wfirst=${7:-} wcount=${8:-}
  measured=$(measured_of "$n")
  count=${count:-$measured} wfirst=${wfirst:-$measured} wcount=${wcount:-$((n - measured))}
  out=$RESULTS/$design-c$c-r$r.txt
  if [[ -z ${4:-} ]]; then
    seed "$n"
    [[ $design = lean ]] && seed_lean
  else
    out=$RESULTS/$design-n$n-c$c-r$r.txt
  fi
  [[ $design = lean ]] && tables=lean # counted and checked in the schema lean
  pgbench_run "$design" "$c" "$wfirst" "$wcount" "$WARMUP" "$RESULTS/warmup-${out##*/}"
  before=$(counts $tables)
  mkdir -p "$RESULTS/pgbench-logs"
  wal_before=$(wal)
  cpu_start "${out%.txt}.cpu.json"
  pgbench_run "$design" "$c" "$first" "$count" "$DURATION" "$out" "$RESULTS/pgbench-logs/$(basename "${out%.txt}")"
  cpu_stop
  wal_after=$(wal)
  after=$(counts $tables)
  record "$design" "$c" "$r" "$n" "$out" "$before" "$after" "$(check $tables)" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$wal_before" "$wal_after"
}

# Interleaved (run, concurrency, design) so that drift on a shared machine hits all alike.
for r in $(seq "$RUNS"); do
  for c in $CONCURRENCY; do
    for design in $DESIGNS; do
      log "run $r/$RUNS, c=$c: $design"
      if [[ $design = service || $design = keyed ]]; then
        seed "$SESSIONS"
        m=$(measured_of "$SESSIONS")
        service_run "$c" "$r" "$SESSIONS" 0 "$m" "$m" $((SESSIONS - m)) "$design"
      elif [[ $design = store ]]; then
        store_run "$c" "$r"
      else
        sql_run "$design" "$c" "$r"
      fi
    done
    tail -"$(wc -w <<<"$DESIGNS")" "$RUNS_JSONL" | "$PY" "$BENCH/report.py" brief >&2
  done
done
grep -E '^Vm(HWM|RSS)' "/proc/$SERVE_PID/status" | tr -s ' \t' ' ' >"$RESULTS/service-memory.txt"
# The outbox after the last run: how the events stand (0 none to deliver, 1 pending, 2
# delivered, 3 dead) and, with a webhook, how long the backlog takes to drain.
if [[ -n ${RECEIVER_PID:-} ]]; then
  drained=
  for i in $(seq 600); do
    [[ $(psql -X -Atq -d "$DB" -c 'SELECT count(*) FROM session_events WHERE delivery = 1') = 0 ]] && { drained=$((i / 10)); break; }
    sleep 0.1
  done
  log "webhook backlog after the last run drained in ${drained:-more than 60} s"
  echo "backlog drained after the last run in: ${drained:-more than 60} s" >"$RESULTS/outbox.txt"
fi
psql -X -At -F' ' -d "$DB" -c 'SELECT delivery, count(*) FROM session_events GROUP BY 1 ORDER BY 1' \
  | sed 's/^/events with delivery state /' >>"$RESULTS/outbox.txt"
log "outbox: $(tr '\n' ';' <"$RESULTS/outbox.txt")"
log "service memory: $(tr '\n' ' ' <"$RESULTS/service-memory.txt")"

# ---------------------------------------------------------------------------------------
# Where the service's time goes: one more c=16 run (not in the table: perf slows it down),
# sampled with call graphs, then one counted for syscalls and context switches per removal.
if ((PROFILE)) && [[ " $CONCURRENCY " = *" 16 "* ]] && command -v perf >/dev/null; then
  log "profile: perf record of the service during a c=16 run"
  seed "$SESSIONS"
  m=$(measured_of "$SESSIONS")
  perf record -F 299 -e cpu-clock --call-graph dwarf,65528 -p "$SERVE_PID" \
    -o "$RESULTS/perf.data" -- sleep "$DURATION" >"$RESULTS/perf-record.log" 2>&1 &
  PERF_PID=$!
  PIDS+=("$PERF_PID")
  wrk_run 16 0 $((m / 2)) "$DURATION" "$RESULTS/profile-wrk.txt"
  wait "$PERF_PID" || true
  forget_pid "$PERF_PID"
  perf stat -e raw_syscalls:sys_enter,context-switches,task-clock -p "$SERVE_PID" \
    -o "$RESULTS/perf-stat.txt" -- sleep "$DURATION" >/dev/null 2>&1 &
  PERF_PID=$!
  PIDS+=("$PERF_PID")
  wrk_run 16 $((m / 2)) $((m / 2)) "$DURATION" "$RESULTS/profile-stat-wrk.txt"
  wait "$PERF_PID" || true
  forget_pid "$PERF_PID"
  log "profile: perf report (takes a while)"
  timeout 300 perf report -i "$RESULTS/perf.data" --children --sort sym -g none --stdio \
    >"$RESULTS/perf-report.txt" 2>/dev/null || log "perf report failed"
  "$PY" "$BENCH/report.py" profile "$RESULTS" >"$RESULTS/profile.md" || log "profile summary failed"
  rm -f "$RESULTS/perf.data" # large; perf-report.txt keeps what the summary used
fi

# ---------------------------------------------------------------------------------------
# 3. Scale check: the same c=16 service run with 10x the sessions.
if ((SCALE)); then
  log "scale check: seeding $SCALE_SESSIONS sessions"
  seed "$SCALE_SESSIONS"
  log "seeded in $(tail -1 "$RESULTS/seed-times.txt" | cut -d: -f2)"
  # Seeded once; each run gets its own 40 % of the sessions and its own 10 % for warm-up.
  n=$SCALE_SESSIONS
  for r in 1 2; do
    log "scale run $r/2, c=16: service on $n sessions"
    WARMUP=$((WARMUP > 5 ? WARMUP : 5)) service_run 16 "$r" "$n" $(((r - 1) * n * 2 / 5)) $((n * 2 / 5)) $((n * 4 / 5 + (r - 1) * n / 10)) $((n / 10))
  done
  # The ceiling on the same number of sessions: does it lose as much? (Reseeded, and the
  # lean schema filled from it, then the same partitions as the service's runs.)
  if [[ " $DESIGNS " = *" lean "* ]]; then
    log "scale check: the lean ceiling on $n sessions (reseed, fill the lean schema)"
    seed "$n"
    seed_lean
    for r in 1 2; do
      log "scale run $r/2, c=16: lean on $n sessions"
      WARMUP=$((WARMUP > 5 ? WARMUP : 5)) sql_run lean 16 "$r" "$n" $(((r - 1) * n * 2 / 5)) $((n * 2 / 5)) \
        $((n * 4 / 5 + (r - 1) * n / 10)) $((n / 10))
    done
  fi
  grep -E '^Vm(HWM|RSS)' "/proc/$SERVE_PID/status" | tr -s ' \t' ' ' >"$RESULTS/service-memory-after-scale.txt"
fi

cleanup
# ---------------------------------------------------------------------------------------
# 4. Finding sessions at the scale check's size (its own database, evo_finding; its table is
#    kept beside this run's).
if ((SCALE)); then
  log "finding sessions at $SCALE_SESSIONS sessions (bench/finding.py)"
  BENCH_BIN=$BIN "$PY" "$BENCH/finding.py" "$SCALE_SESSIONS" >"$RESULTS/finding.md" \
    2>>"$RESULTS/run.log" || log "finding sessions FAILED (see run.log)"
fi
# 5. ListSessions with one read replica against none (its own primary and standby; its table is
#    kept beside this run's).
if ((SCALE)); then
  log "ListSessions with one replica against none (bench/replicas.py)"
  BENCH_BIN=$BIN "$PY" "$BENCH/replicas.py" >"$RESULTS/replicas.md" 2>>"$RESULTS/run.log" ||
    log "replicas FAILED (see run.log)"
fi
"$PY" "$BENCH/report.py" table "$RESULTS" | tee "$RESULTS/table.md"
log "raw outputs: ${RESULTS#"$ROOT"/}"
