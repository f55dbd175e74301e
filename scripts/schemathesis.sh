#!/usr/bin/env bash
# Schema-driven fuzzing of the running service with Schemathesis (docs/reliability.md).
#
# Builds evo-sessions, starts it on a temporary SQLite database with a known JWT secret on a
# free loopback port, mints an Admin token with its `token` subcommand, seeds two sessions,
# then runs `st run` against its own /openapi.json with the bearer header: every operation,
# a bounded number of examples each, checking that no answer is a server error and that
# every answer conforms to the documented schema (status, content type, body).
#
# Usage: scripts/schemathesis.sh [extra st run options]
#   ST_MAX_EXAMPLES  examples per operation and phase (default 25)
#   ST_SEED          Hypothesis seed (default: random, printed at the end; under CI=true a
#                    fixed one, so that a CI run is reproducible)
#   ST_TIME_LIMIT    hard limit on the whole st run, in seconds (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES=${ST_MAX_EXAMPLES:-25}
TIME_LIMIT=${ST_TIME_LIMIT:-300}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v st >/dev/null 2>&1; then
    echo "schemathesis: installing it from PyPI" >&2
    python3 -m pip install --quiet schemathesis
fi

cargo build --quiet --locked -p evo-server --bin evo-sessions
BIN="$TARGET_DIR/debug/evo-sessions"

WORK=$(mktemp -d)
PID=
cleanup() {
    if [[ -n "$PID" ]]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=scripts/lib/serve.sh
source scripts/lib/serve.sh
serve_on_sqlite schemathesis

TOKEN=$("$BIN" token --sub fuzz@example.com --name Fuzz --role Admin --role User --account demo --ttl 1h)

# Two sessions, so that some generated IDs could meet real data and reads have something
# to return.
for i in 1 2; do
    curl -fsS -X POST "$BASE/sessions" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"accountId\":\"demo\",\"displayName\":\"Seed $i\",\"members\":[{\"identity\":\"+1555010000$i\"},{\"identity\":\"agent$i@example.com\"}]}" \
        >/dev/null
done

SEED_ARGS=()
if [[ -z "${ST_SEED:-}" && "${CI:-}" == true ]]; then ST_SEED=20261126; fi
if [[ -n "${ST_SEED:-}" ]]; then SEED_ARGS=(--seed "$ST_SEED"); fi

# One worker: with several, Hypothesis parses lambdas' source in parallel threads and CPython
# 3.11 < 3.11.8 may fail with "SystemError: AST constructor recursion depth mismatch"
# (CPython gh-106905), a crash of the tool, not a finding.
echo "schemathesis: st $(st --version 2>/dev/null | awk '{print $NF}') against $BASE, $MAX_EXAMPLES examples per operation"
status=0
# Run from the temporary folder: Schemathesis and Hypothesis leave caches in the current one.
(cd "$WORK" && timeout "$TIME_LIMIT" st --no-color run "$BASE/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --request-timeout 10 \
    --workers 1 \
    --suppress-health-check all \
    --generation-database none \
    "${SEED_ARGS[@]}" "$@") || status=$?

if ! kill -0 "$PID" 2>/dev/null; then
    echo "schemathesis: the server died during the run" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
if grep -q 'request failed' "$WORK/server.log"; then
    echo "schemathesis: the server logged 5xx answers:" >&2
    grep 'request failed' "$WORK/server.log" | head -20 >&2
    status=1
fi
if [[ $status -eq 124 ]]; then echo "schemathesis: over the ${TIME_LIMIT}s limit" >&2; fi
exit "$status"
