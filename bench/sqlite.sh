#!/usr/bin/env bash
# `just bench-sqlite`: DeleteChatMember on the embedded SQLite store (the default), and what
# `PRAGMA synchronous = FULL` costs against NORMAL.
#
#   bench/sqlite.sh              3 runs of 8 s per concurrency (1, 16), 3 loops per mode (~2.5 min)
#   bench/sqlite.sh --quick      1 run of 5 s per concurrency, 1 loop per mode (a smoke test)
#   bench/sqlite.sh --profile    also one c=1 run under perf (call graphs, then syscalls and
#                                context switches per removal), after the measured runs;
#                                writer-split.md: the writer thread's CPU per removal by part
#                                of a change and kind of code (bench/sqlite.py writer_split)
#
# What it does (docs/performance.md, "SQLite (embedded default)", has the latest figures):
#   1. builds the release binary once (cargo build --release --locked -p evo-server --bin
#      evo-sessions, in CARGO_TARGET_DIR, /var/tmp/evo-sessions-target unless set), and the
#      bare loop bench/sqlite_loop.c once per checksum of its sources (gcc, with the
#      sqlite3.c that libsqlite3-sys bundles into the service, found with cargo metadata,
#      and the defines of that crate's build.rs; cached in $CARGO_TARGET_DIR/bench-sqlite-loop/);
#   2. in a temp folder, `evo-sessions migrate` on sqlite://$TMP/bench.db, then seeds
#      BENCH_SESSIONS Chat sessions x 8 members (bench/sqlite.py seed: the rows of
#      bench/sql/seed.sql, the session IDs of bench/wrk/delete.lua, times as evo-sqlite
#      writes them) in one transaction, then PRAGMA wal_checkpoint(TRUNCATE);
#   3. starts the release `evo-sessions serve` on a free 127.0.0.1 port on that file
#      (EVO_RATE_LIMIT_PER_SEC=0: one token drives the load; EVO_LOG=warn), mints a User
#      token for the 10 accounts, checks that GET of a seeded session answers 200 with its
#      8 members, and that a session the service opens itself (and removes a member from)
#      is stored like the seeded ones (bench/sqlite.py compare);
#   4. for each run and concurrency (1, 16): reseeds, warms up on the last 20 % of the
#      sessions, then wrk + bench/wrk/delete.lua on the first 80 % (every request removes a
#      real member); counts rows before and after and checks every session; reads the
#      service's CPU time (/proc/PID/stat, all threads, and per thread name) before and
#      after: CPU per removal, and how it splits among the service's threads;
#      then, at c=1, the floors: GET /health/live (HTTP alone) and GET /sessions/{id} (the
#      token, a read, the JSON), 1 run each, with the service's CPU per request;
#   5. stops the service and runs the store's removal transaction in a bare loop on the same
#      file (bench/sqlite_loop.c: the same statements, the outbox event included, prepared
#      once, on one connection with the store's pragmas), with synchronous=FULL and with
#      synchronous=NORMAL, interleaved, reseeded before each; checks the rows after each (the
#      loop reports its own CPU per removal, from getrusage);
#   6. prints one table and keeps the raw outputs in bench/results/sqlite-<UTC timestamp>/.
#
# Loopback only. Everything started here is stopped by PID on exit (trap), and the temp
# folder is removed. Settings (environment): BENCH_SESSIONS=20000 BENCH_RUNS=3
# BENCH_DURATION=8 BENCH_WARMUP=2 BENCH_CONCURRENCY="1 16" BENCH_LOOP_REMOVALS=3000
# BENCH_LOOP_RUNS=3 BENCH_LOOP_MAX_SECS=60 (a loop stops there, and says so);
# BENCH_LOOP_CFLAGS=-O3 (the loop's and its sqlite3.c's optimisation, as cc-rs builds the
# service's copy in a release build);
# BENCH_TMPDIR (the temp folder's parent: the disk measured; default $TMPDIR or /tmp);
# EVO_DB_POOL_SIZE, EVO_WORKERS are passed to the service when set (else its defaults).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
cd "$ROOT"

SESSIONS=${BENCH_SESSIONS:-20000}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16"}
LOOP_REMOVALS=${BENCH_LOOP_REMOVALS:-3000}
LOOP_RUNS=${BENCH_LOOP_RUNS:-3}
LOOP_MAX_SECS=${BENCH_LOOP_MAX_SECS:-60}
read -r -a LOOP_CFLAGS <<<"${BENCH_LOOP_CFLAGS:--O3}"
PROFILE=0
while (($#)); do
  case $1 in
    --quick) RUNS=1 DURATION=5 LOOP_RUNS=1 ;;
    --profile) PROFILE=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/sqlite.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
MEASURED=$((SESSIONS * 4 / 5)) # [0, MEASURED) measured; [MEASURED, SESSIONS) for the warm-ups
FIRST_K=2 LAST_K=8             # members 2..8 are removable; member 1 is the original member
((MEASURED >= 16 && LOOP_REMOVALS <= SESSIONS)) || { echo "BENCH_SESSIONS is too small" >&2; exit 2; }

# A shared target folder: other engineers build there too (cargo waits for its lock).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/evo-sessions-target}
# BENCH_BIN: measure that binary as it is (no build), e.g. a copy kept for an A/B comparison.
BIN=${BENCH_BIN:-$CARGO_TARGET_DIR/release/evo-sessions}

RESULTS=$BENCH/results/sqlite-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
RUNS_JSONL=$RESULTS/runs.jsonl
: >"$RUNS_JSONL"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$RESULTS/run.log" >&2; }
die() { log "FAILED: $*"; exit 1; }

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/evo-sqlite-bench.XXXXXX")
DB=$TMP/bench.db

# Everything started in the background is recorded here and stopped on exit, by PID;
# a process stopped earlier is forgotten at once (its PID could be reused by another).
PIDS=()
forget_pid() { local keep=() pid; for pid in "${PIDS[@]}"; do [[ $pid = "$1" ]] || keep+=("$pid"); done; PIDS=("${keep[@]}"); }
stop_pid() {
  if kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The interpreter itself, not a version manager's shim.
PY=$(python3 -c 'import sys; print(sys.executable)')
sq() { "$PY" "$BENCH/sqlite.py" "$@"; }

# ---------------------------------------------------------------------------------------
# 0. Tools
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  if [[ $(id -u) = 0 ]]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
for tool in curl python3 cargo wrk gcc sha256sum; do command -v $tool >/dev/null || die "$tool is missing"; done

# ---------------------------------------------------------------------------------------
# 1. Build (once)
if [[ -n ${BENCH_BIN:-} ]]; then
  log "measuring $BENCH_BIN as it is (BENCH_BIN: no build)"
  [[ -x $BENCH_BIN ]] || die "BENCH_BIN=$BENCH_BIN is not an executable"
else
  log "building (cargo build --release --locked -p evo-server --bin evo-sessions, target $CARGO_TARGET_DIR)"
  cargo build --release --locked -p evo-server --bin evo-sessions 2>"$RESULTS/build.log" ||
    { tail -20 "$RESULTS/build.log" >&2; die "release build failed (${RESULTS#"$ROOT"/}/build.log)"; }
fi

# The bare loop, compiled with the amalgamation the service links: the sqlite3/ folder of the
# libsqlite3-sys in Cargo.lock (cargo metadata reads the lock file and the registry's sources;
# it builds nothing), with the defines its build.rs passes to cc for the bundled build on Linux
# (libsqlite3-sys 0.35.0, src build.rs, build_bundled::main). Features of that crate that add
# defines must stay off (they are checked), and the variables its build.rs reads are passed on.
SQLITE_DEFINES=(
  -DSQLITE_CORE -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_ENABLE_API_ARMOR
  -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_FTS3
  -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_JSON1
  -DSQLITE_ENABLE_LOAD_EXTENSION=1 -DSQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_ENABLE_RTREE
  -DSQLITE_ENABLE_STAT4 -DSQLITE_SOUNDEX -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI
  -DHAVE_USLEEP=1 -DHAVE_ISNAN -D_POSIX_THREAD_SAFE_FUNCTIONS
  -DHAVE_LOCALTIME_R # not Windows
)
for name in SQLITE_MAX_VARIABLE_NUMBER SQLITE_MAX_EXPR_DEPTH SQLITE_MAX_COLUMN; do
  if [[ -n ${!name:-} ]]; then SQLITE_DEFINES+=("-D$name=${!name}"); fi
done
for extra in ${LIBSQLITE3_FLAGS:-}; do
  case $extra in -D* | -U*) SQLITE_DEFINES+=("$extra") ;; SQLITE_*) SQLITE_DEFINES+=("-D$extra") ;; esac
done
log "locating libsqlite3-sys's sqlite3.c (cargo metadata --format-version 1 --locked)"
SQLITE_LOCATION=$(cargo metadata --format-version 1 --locked 2>>"$RESULTS/build.log" | "$PY" -c '
import json, os, sys
meta = json.load(sys.stdin)
found = [p for p in meta["packages"] if p["name"] == "libsqlite3-sys"]
if len(found) != 1:
    raise SystemExit(f"{len(found)} libsqlite3-sys packages in the dependency graph, one expected")
package = found[0]
features = next(n["features"] for n in meta["resolve"]["nodes"] if n["id"] == package["id"])
# The features whose build.rs branches add defines, or replace the bundled build.
adding = {"bundled-sqlcipher", "bundled-sqlcipher-vendored-openssl", "sqlcipher", "loadable_extension",
          "unlock_notify", "column_metadata", "preupdate_hook", "session", "with-asan", "in_gecko"}
if "bundled" not in features or adding & set(features):
    raise SystemExit(f"libsqlite3-sys features {sorted(features)}: bench/sqlite.sh knows the defines of "
                     "bundled without any of " + ", ".join(sorted(adding)))
print(package["version"], os.path.join(os.path.dirname(package["manifest_path"]), "sqlite3"))
') || die "cannot locate the bundled SQLite with cargo metadata (see build.log)"
read -r SQLITE_SYS_VERSION SQLITE_DIR <<<"$SQLITE_LOCATION"
[[ -f $SQLITE_DIR/sqlite3.c && -f $SQLITE_DIR/sqlite3.h ]] || die "no sqlite3.c and sqlite3.h in $SQLITE_DIR"

# Compiled once per checksum: sqlite3.o of (sqlite3.c, sqlite3.h, flags, gcc), then the loop
# of (that, sqlite_loop.c). Written under a temporary name and renamed: runs may share the folder.
LOOP_CACHE=$CARGO_TARGET_DIR/bench-sqlite-loop
mkdir -p "$LOOP_CACHE"
GCC_VERSION=$(gcc -dumpfullversion -dumpversion 2>/dev/null | head -1)
OBJ_KEY=$( { sha256sum "$SQLITE_DIR/sqlite3.c" "$SQLITE_DIR/sqlite3.h" | cut -d' ' -f1
  echo "gcc $GCC_VERSION ${LOOP_CFLAGS[*]} ${SQLITE_DEFINES[*]}"; } | sha256sum | cut -c1-16)
LOOP_KEY=$( { echo "$OBJ_KEY"; sha256sum "$BENCH/sqlite_loop.c" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
SQLITE_OBJ=$LOOP_CACHE/sqlite3-$OBJ_KEY.o
LOOP_BIN=$LOOP_CACHE/sqlite-loop-$LOOP_KEY
if [[ ! -x $LOOP_BIN ]]; then
  if [[ ! -f $SQLITE_OBJ ]]; then
    log "compiling $SQLITE_DIR/sqlite3.c (gcc ${LOOP_CFLAGS[*]}, once: about a minute)"
    gcc "${LOOP_CFLAGS[@]}" "${SQLITE_DEFINES[@]}" -w -c "$SQLITE_DIR/sqlite3.c" -o "$SQLITE_OBJ.$$" \
      2>>"$RESULTS/build.log" || { rm -f "$SQLITE_OBJ.$$"; die "compiling sqlite3.c failed (see build.log)"; }
    mv -f "$SQLITE_OBJ.$$" "$SQLITE_OBJ"
  fi
  log "compiling bench/sqlite_loop.c"
  gcc "${LOOP_CFLAGS[@]}" -Wall -Wextra -I"$SQLITE_DIR" "$BENCH/sqlite_loop.c" "$SQLITE_OBJ" \
    -o "$LOOP_BIN.$$" -lpthread -ldl -lm 2>>"$RESULTS/build.log" ||
    { rm -f "$LOOP_BIN.$$"; die "compiling bench/sqlite_loop.c failed (see build.log)"; }
  mv -f "$LOOP_BIN.$$" "$LOOP_BIN"
fi
"$LOOP_BIN" options >"$RESULTS/loop-compile-options.txt"

bundled_sqlite() { # the SQLite that libsqlite3-sys bundles, from Cargo.lock and its sources
  local version header
  version=$(awk '/^name = "libsqlite3-sys"/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
  header=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"libsqlite3-sys-$version"/sqlite3/sqlite3.h 2>/dev/null | head -1)
  if [[ -n $header ]]; then
    echo "$(grep -m1 '#define SQLITE_VERSION ' "$header" | cut -d'"' -f2) (libsqlite3-sys $version, bundled)"
  else
    echo "libsqlite3-sys $version, bundled"
  fi
}
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates migrations Cargo.lock || echo ' + uncommitted changes in crates/ or migrations/')"
  [[ -n ${BENCH_BIN:-} ]] && echo "binary: $BENCH_BIN (BENCH_BIN; the git line is the checkout's, not necessarily the binary's)"
  echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs))"
  echo "memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "kernel: $(uname -r)"
  echo "temp folder: $TMP"
  echo "disk: $(df -T "$TMP" | awk 'NR == 2 {print $1 " " $2 " mounted on " $7}')"
  echo "service SQLite: $(bundled_sqlite)"
  echo "loop SQLite: $("$LOOP_BIN" version) from $SQLITE_DIR/sqlite3.c (libsqlite3-sys $SQLITE_SYS_VERSION), gcc $GCC_VERSION ${LOOP_CFLAGS[*]}, ${SQLITE_DEFINES[*]}; ${LOOP_BIN#"$CARGO_TARGET_DIR"/}"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sessions: $SESSIONS; runs: $RUNS x ${DURATION}s after ${WARMUP}s warm-up; concurrency: $CONCURRENCY"
  echo "loops: $LOOP_RUNS x $LOOP_REMOVALS removals per mode (at most ${LOOP_MAX_SECS}s each)"
} >"$RESULTS/machine.txt"
df -T "$TMP" >>"$RESULTS/machine.txt"

# ---------------------------------------------------------------------------------------
# 2. Database, seed
export DATABASE_URL=sqlite://$DB
export EVO_JWT_SECRET
EVO_JWT_SECRET=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
export EVO_LOG=${EVO_LOG:-warn}
# One token drives the whole load: the per-caller change rate (100/s by default) would
# measure the limiter, not the service.
export EVO_RATE_LIMIT_PER_SEC=0
"$BIN" migrate 2>>"$RESULTS/serve.log" || die "evo-sessions migrate failed (see serve.log)"

seed() {
  sq seed "$DB" "$SESSIONS" >>"$RESULTS/seed-times.txt" || die "seeding failed"
  sync # the seed's writes must not still be draining to disk while we measure
}
log "seeding $SESSIONS sessions x 8 members in $DB"
seed
log "seeded: $(tail -1 "$RESULTS/seed-times.txt")"

# ---------------------------------------------------------------------------------------
# 3. The service
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
log "starting evo-sessions serve on 127.0.0.1:$PORT (pool ${EVO_DB_POOL_SIZE:-default}, workers ${EVO_WORKERS:-default})"
EVO_BIND=127.0.0.1:$PORT "$BIN" serve >>"$RESULTS/serve.log" 2>&1 &
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
sid() { sq sid "$1"; }

# The seed is valid if the service reads a seeded session back as we meant it.
CHECK_SID=$(sid 7)
code=$(curl -sS -m 5 -o "$RESULTS/get-check.json" -w '%{http_code}' \
  -H "Authorization: Bearer $TOKEN" "$BASE/sessions/$CHECK_SID")
[[ $code = 200 ]] || die "GET /sessions/$CHECK_SID answered $code: $(head -c 300 "$RESULTS/get-check.json")"
"$PY" - "$RESULTS/get-check.json" <<'EOF' || die "GET of a seeded session does not read back as seeded"
import json, sys
s = json.load(open(sys.argv[1]))
m = s["members"]
assert s["channel"] == "Chat" and s["accountId"] == "acct-7" and not s["ended"], s
assert len(m) == 8 and m[0]["isOriginalMember"] and m[0]["role"] == "Caller", m[0]
assert all(not x["isOriginalMember"] and x["role"] == "Agent" for x in m[1:]), m[1]
assert [x["identity"] for x in m[1:]] == [f"Agent{k}@Example.com" for k in range(2, 9)], m
assert len(s["log"]) == 1, s["log"]
EOF
log "GET /sessions/$CHECK_SID: 200, 8 members, 1 log entry"

# And stored as the service stores: a session it opens itself, and a member it removes.
code=$(curl -sS -m 5 -o "$RESULTS/probe-new.json" -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"accountId": "acct-0", "displayName": "Probe", "members": [{"identity": "+15559999999", "displayName": "Probe caller"}, {"identity": "Agent2@Example.com", "displayName": "Agent 2"}, {"identity": "Agent3@Example.com", "displayName": "Agent 3"}]}' \
  "$BASE/sessions")
[[ $code = 200 ]] || die "POST /sessions answered $code: $(head -c 300 "$RESULTS/probe-new.json")"
PROBE_SID=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$RESULTS/probe-new.json")
code=$(curl -sS -m 5 -o "$RESULTS/probe-delete.json" -w '%{http_code}' -X DELETE \
  -H "Authorization: Bearer $TOKEN" "$BASE/sessions/$PROBE_SID/members/agent2@example.com")
[[ $code = 200 ]] || die "DELETE on the probe session answered $code: $(head -c 300 "$RESULTS/probe-delete.json")"
sq compare "$DB" "$(sid 0)" "$PROBE_SID" >"$RESULTS/seed-vs-service.txt" 2>&1 ||
  die "$(cat "$RESULTS/seed-vs-service.txt")"
log "seeded rows vs the service's own: $(cat "$RESULTS/seed-vs-service.txt")"

wrk_run() { # c first count duration out
  local c=$1 first=$2 count=$3 duration=$4 out=$5 threads=$(($1 < 2 ? 1 : 2))
  timeout $((duration + 30)) wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 5s \
    -s "$BENCH/wrk/delete.lua" "$BASE" -- "$first" "$count" "$threads" "$FIRST_K" "$LAST_K" \
    "$TOKEN" >"$out" 2>&1
}

# The service's CPU time so far (user + system, all threads), in clock ticks.
service_ticks() { awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"; }

# ---------------------------------------------------------------------------------------
# 4. Service runs, interleaved by concurrency, each on a fresh reseed.
for r in $(seq "$RUNS"); do
  for c in $CONCURRENCY; do
    log "run $r/$RUNS, c=$c: service (reseed, ${WARMUP}s warm-up, ${DURATION}s measured)"
    seed
    out=$RESULTS/service-c$c-r$r.txt
    wrk_run "$c" "$MEASURED" $((SESSIONS - MEASURED)) "$WARMUP" "$RESULTS/warmup-c$c-r$r.txt"
    before=$(sq counts "$DB")
    threads_before=$(sq threads "$SERVE_PID")
    ticks_before=$(service_ticks)
    wrk_run "$c" 0 "$MEASURED" "$DURATION" "$out"
    ticks=$(($(service_ticks) - ticks_before))
    threads_after=$(sq threads "$SERVE_PID")
    after=$(sq counts "$DB")
    sq record "$RUNS_JSONL" service "$c" "$r" "$out" "$before" "$after" "$(sq check "$DB" "$SESSIONS")" \
      "$(cut -d' ' -f1 /proc/loadavg)" "$ticks" "$(getconf CLK_TCK)" "$threads_before" "$threads_after"
    tail -1 "$RUNS_JSONL" | sq brief >&2
  done
done

# The floors at c=1: what the HTTP path costs with no write behind it. GET /health/live is
# HTTP alone; GET /sessions/{id} adds the token, a read on the store and the session's JSON.
# One request at a time, so each request's time is 1 / rate.
floor_run() { # name path [token]
  local name=$1 out=$RESULTS/floor-${1//[^a-z]/-}.txt ticks_before ticks
  timeout $((WARMUP + 30)) wrk -t1 -c1 -d"${WARMUP}s" -s "$BENCH/wrk/get.lua" "$BASE" -- "${@:2}" >/dev/null 2>&1
  ticks_before=$(service_ticks)
  timeout $((DURATION + 30)) wrk -t1 -c1 -d"${DURATION}s" --timeout 5s -s "$BENCH/wrk/get.lua" "$BASE" -- "${@:2}" \
    >"$out" 2>&1
  ticks=$(($(service_ticks) - ticks_before))
  sq floor "$RUNS_JSONL" "$name" 1 "$out" "$ticks" "$(getconf CLK_TCK)"
  tail -1 "$RUNS_JSONL" | sq brief >&2
}
if [[ " $CONCURRENCY " = *" 1 "* ]]; then
  log "floors at c=1: GET /health/live, GET /sessions/{id} (${DURATION}s each)"
  floor_run "GET /health/live" /health/live
  floor_run "GET /sessions/{id}" "/sessions/$CHECK_SID" "$TOKEN"
fi
grep -E '^Vm(HWM|RSS)' "/proc/$SERVE_PID/status" | tr -s ' \t' ' ' >"$RESULTS/service-memory.txt"

# Where the service's time goes at c=1 (not in the table: perf slows it down): one run
# sampled with call graphs, then one counted for syscalls and context switches per removal
# (their wrk outputs give the removals).
if ((PROFILE)) && command -v perf >/dev/null; then
  log "profile: perf record of the service during a c=1 run"
  seed
  perf record -F 999 -e cpu-clock --call-graph dwarf,32768 -p "$SERVE_PID" \
    -o "$RESULTS/perf.data" -- sleep "$DURATION" >"$RESULTS/perf-record.log" 2>&1 &
  PERF_PID=$!
  PIDS+=("$PERF_PID")
  wrk_run 1 0 $((MEASURED / 2)) "$DURATION" "$RESULTS/profile-wrk.txt"
  wait "$PERF_PID" || true
  forget_pid "$PERF_PID"
  perf stat -e raw_syscalls:sys_enter,context-switches,task-clock -p "$SERVE_PID" \
    -o "$RESULTS/perf-stat.txt" -- sleep "$DURATION" >/dev/null 2>&1 &
  PERF_PID=$!
  PIDS+=("$PERF_PID")
  wrk_run 1 $((MEASURED / 2)) $((MEASURED / 2)) "$DURATION" "$RESULTS/profile-stat-wrk.txt"
  wait "$PERF_PID" || true
  forget_pid "$PERF_PID"
  log "profile: perf report (takes a while)"
  timeout 300 perf report -i "$RESULTS/perf.data" --no-children --sort dso,sym -g none --stdio \
    --percent-limit 0.5 >"$RESULTS/perf-report.txt" 2>/dev/null || log "perf report failed"
  timeout 300 perf report -i "$RESULTS/perf.data" --children --sort sym -g none --stdio \
    --percent-limit 1 >"$RESULTS/perf-report-children.txt" 2>/dev/null || log "perf report failed"
  # The writer thread's CPU per removal by part of a change and kind of code.
  removals=$(grep -m1 'requests in' "$RESULTS/profile-wrk.txt" | awk '{print $1}')
  timeout 300 perf script -i "$RESULTS/perf.data" --comms sqlite-writer -F ip,sym,dso 2>/dev/null |
    sq writer_split "${removals:-0}" >"$RESULTS/writer-split.md" || log "writer split failed"
  rm -f "$RESULTS/perf.data" # large; the reports keep what it said
  log "profile: $(grep -E 'raw_syscalls|context-switches|task-clock' "$RESULTS/perf-stat.txt" | awk '{print $1, $2}' | tr '\n' ' ')for $(grep -m1 'requests in' "$RESULTS/profile-stat-wrk.txt")"
fi
log "service memory: $(tr '\n' ' ' <"$RESULTS/service-memory.txt")"
stop_pid "$SERVE_PID"

# ---------------------------------------------------------------------------------------
# 5. The bare loop: the store's transaction, one connection, FULL against NORMAL.
for r in $(seq "$LOOP_RUNS"); do
  for mode in FULL NORMAL; do
    seed
    timeout $((LOOP_MAX_SECS + 60)) "$LOOP_BIN" "$DB" "$mode" 0 "$LOOP_REMOVALS" \
      "$LOOP_MAX_SECS" "$RESULTS/loop-$mode-r$r.json" 2>&1 | tee -a "$RESULTS/loops.txt" |
      sed "s/^/[loop $r\/$LOOP_RUNS] /" >&2 || true
    [[ -s $RESULTS/loop-$mode-r$r.json ]] || die "loop $mode run $r failed (see loops.txt)"
    [[ $(sq check "$DB" "$SESSIONS") = 0 ]] || die "the loop left inconsistent sessions"
    sq loop_rows "$DB" "$SESSIONS" "$RESULTS/loop-$mode-r$r.json" >>"$RESULTS/loops.txt" ||
      die "the loop's rows do not match its removals"
  done
done

cleanup
sq table "$RESULTS" | tee "$RESULTS/table.md"
log "raw outputs: ${RESULTS#"$ROOT"/}"
