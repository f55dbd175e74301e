#!/usr/bin/env bash
# Soak: a bounded mixed load (create, invite, remove, get) against the built service for a
# set time, on loopback only; reports the calls made, every error, and the server's resident
# memory (VmRSS) at the start, every 10 s, and at the end (docs/reliability.md).
#
# Usage: scripts/soak.sh [SECONDS]        (default 60; or SOAK_SECONDS)
#   SOAK_CLIENTS   concurrent clients, each with one keep-alive connection (default 4)
#   SOAK_PROFILE   cargo profile of the binary: dev (default) or release
#   SOAK_STORE     sqlite (default: a temporary database) or postgres (a temporary database
#                  evo_soak_<pid> on the local server, PGHOST/PGPORT/PGUSER or
#                  127.0.0.1:5432 postgres, dropped at the end)
#   DATABASE_URL   or any store given directly (it is left as it is)
# Exit status 1 when any call failed (anything but a 200, or no answer) or the server died.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN=${1:-${SOAK_SECONDS:-60}}
CLIENTS=${SOAK_CLIENTS:-4}
PROFILE=${SOAK_PROFILE:-dev}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if [[ "$PROFILE" == release ]]; then
    cargo build --quiet --locked --release -p evo-server --bin evo-sessions
    BIN="$TARGET_DIR/release/evo-sessions"
else
    cargo build --quiet --locked -p evo-server --bin evo-sessions
    BIN="$TARGET_DIR/debug/evo-sessions"
fi

WORK=$(mktemp -d)
PID=
PG_DB=
PG_ARGS=(-h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}")
cleanup() {
    if [[ -n "$PID" ]]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [[ -n "$PG_DB" ]]; then
        psql "${PG_ARGS[@]}" -q -d postgres -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z "${DATABASE_URL:-}" && "${SOAK_STORE:-sqlite}" == postgres ]]; then
    PG_DB="evo_soak_$$"
    psql "${PG_ARGS[@]}" -q -d postgres -c "CREATE DATABASE $PG_DB" >/dev/null
    DATABASE_URL="postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$PG_DB"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export EVO_BIND="127.0.0.1:$PORT"
export DATABASE_URL=${DATABASE_URL:-sqlite://$WORK/soak.db}
export EVO_JWT_SECRET=${EVO_JWT_SECRET:-soak-secret-0123456789abcdef0123456789}
export EVO_LOG=${EVO_LOG:-warn}
# Every client uses one token: the per-caller change rate would turn the soak into 429s.
export EVO_RATE_LIMIT_PER_SEC=${EVO_RATE_LIMIT_PER_SEC:-0}

"$BIN" serve 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/server.log" >&2; exit 1; fi
    sleep 0.1
done
TOKEN=$("$BIN" token --sub soak@example.com --name Soak --account soak --ttl 1d)

echo "soak: $BIN ($PROFILE) on $(sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$DATABASE_URL"), $CLIENTS clients for ${SECONDS_TO_RUN}s"
status=0
python3 - "$PORT" "$PID" "$TOKEN" "$SECONDS_TO_RUN" "$CLIENTS" <<'PY' || status=$?
import http.client, json, sys, threading, time

port, pid, token, duration, clients = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
MAX_CALLS_PER_CLIENT = 2_000_000  # a bound besides the time
HEADERS = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

def rss_kib():
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None

lock = threading.Lock()
counts = {}      # (op, status) -> n
errors = []      # first few failures
stop = threading.Event()

def record(op, status, body):
    with lock:
        counts[(op, status)] = counts.get((op, status), 0) + 1
        if status != 200 and len(errors) < 10:
            errors.append((op, status, body[:200]))

def client(worker):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    calls, n = 0, 0
    def call(op, method, path, body=None):
        nonlocal conn, calls
        calls += 1
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=HEADERS)
            response = conn.getresponse()
            data = response.read()
            record(op, response.status, data.decode("utf-8", "replace"))
            return response.status, data
        except Exception as error:  # no answer: counted as status 0, reconnect
            record(op, 0, repr(error))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            return 0, b""
    while not stop.is_set() and calls < MAX_CALLS_PER_CLIENT:
        n += 1
        status, data = call("create", "POST", "/sessions", {
            "accountId": "soak",
            "members": [
                {"identity": f"+1555{worker:03d}{n % 10000:04d}", "displayName": f"caller {worker}-{n}"},
                {"identity": f"a{worker}.{n}@example.com"},
                {"identity": f"b{worker}.{n}@example.com"},
            ],
        })
        if status != 200:
            time.sleep(0.05)
            continue
        sid = json.loads(data)["id"]
        call("invite", "POST", f"/sessions/{sid}/members", {"memberToAdd": f"c{worker}.{n}@example.com", "displayName": "C"})
        call("remove", "DELETE", f"/sessions/{sid}/members/a{worker}.{n}%40example.com")
        call("remove", "DELETE", f"/api/DeleteChatMember?sessionId={sid}&memberToRemove=c{worker}.{n}%40example.com")
        status, data = call("get", "GET", f"/sessions/{sid}")
        if status == 200:
            session = json.loads(data)
            if len(session["members"]) != 2 or len(session["log"]) != 4:
                record("consistency", 599, data.decode())

rss_start = rss_kib()
started = time.monotonic()
threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
for t in threads:
    t.start()
samples = [(0, rss_start)]
while time.monotonic() - started < duration:
    time.sleep(min(10, max(0.1, duration - (time.monotonic() - started))))
    samples.append((round(time.monotonic() - started), rss_kib()))
stop.set()
for t in threads:
    t.join(timeout=20)
elapsed = time.monotonic() - started
rss_end = rss_kib()

total = sum(counts.values())
failed = sum(n for (op, status), n in counts.items() if status != 200)
print(f"soak: {total} calls in {elapsed:.1f}s ({total / elapsed:.0f}/s), errors: {failed}")
for (op, status), n in sorted(counts.items()):
    print(f"  {op:<12} {status:>3}  {n}")
print("  VmRSS (KiB) over time: " + ", ".join(f"{t}s={r}" for t, r in samples))
print(f"soak: VmRSS start {rss_start} KiB, end {rss_end} KiB")
for op, status, body in errors:
    print(f"  error: {op} {status} {body}")
if rss_end is None:
    print("soak: the server is gone")
    sys.exit(1)
sys.exit(1 if failed else 0)
PY
if ! kill -0 "$PID" 2>/dev/null; then
    echo "soak: the server died" >&2
    status=1
fi
exit "$status"
