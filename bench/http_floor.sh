#!/usr/bin/env bash
# The HTTP floor: the service's CPU per request for `GET /health/live` (no database, no
# auth) under wrk at c=16, on a throwaway SQLite store. docs/performance.md compares the
# service's CPU per removal with it. Usage: bench/http_floor.sh [binary]
# (default: $CARGO_TARGET_DIR/release/evo-sessions, or target/release/evo-sessions).
# Loopback only; the service is stopped by PID and its temp folder removed on exit.
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/evo-sessions}
[[ -x $BIN ]] || { echo "no binary at $BIN: cargo build --release -p evo-server" >&2; exit 2; }
BIN=$(realpath "$BIN")
for tool in wrk curl python3; do command -v $tool >/dev/null || { echo "$tool is missing (apt-get install -y $tool)" >&2; exit 2; }; done
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cd "$DIR"
EVO_LOG=warn EVO_BIND=127.0.0.1:$PORT DATABASE_URL=sqlite://$DIR/x.db "$BIN" serve >serve.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do curl -fs http://127.0.0.1:$PORT/health/live >/dev/null && break; sleep 0.1; done
wrk -t2 -c16 -d2s http://127.0.0.1:$PORT/health/live >/dev/null
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
t0=$(ticks)
out=$(wrk -t2 -c16 -d8s http://127.0.0.1:$PORT/health/live)
t1=$(ticks)
reqs=$(grep -o '[0-9]* requests in' <<<"$out" | cut -d' ' -f1)
hz=$(getconf CLK_TCK)
echo "$out" | grep -E 'Requests/sec|Latency'
python3 -c "print(f'service CPU per request: {($t1-$t0)/$hz/$reqs*1e6:.1f} us over $reqs requests')"
