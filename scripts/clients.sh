#!/usr/bin/env bash
# "Add ServiceStack Reference" proven with ServiceStack's own clients and tools
# (docs/reliability.md): builds evo-sessions, starts it on a temporary SQLite database on a free
# loopback port, then
#   - @servicestack/cli's typescript-ref saves /types/typescript as dtos.ts and updates it;
#     tsc compiles it with client.ts against @servicestack/client, and node runs it;
#   - node imports /types/mjs with client.mjs;
#   - python runs client.py over /types/python with the `servicestack` package;
#   - headless Chromium loads every metadata page by its links (pages.mjs).
# The npm packages (pinned in scripts/clients/package.json) go to a cache outside the clone,
# $EVO_CLIENTS_CACHE (default /var/tmp/evo-sessions-clients); the Python package and Debian's
# Chromium are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-target}
CACHE=${EVO_CLIENTS_CACHE:-/var/tmp/evo-sessions-clients}
export SERVICESTACK_TELEMETRY_OPTOUT=1 # the CLI would report each use to servicestack.net

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mkdir -p "$CACHE"
if ! cmp -s scripts/clients/package.json "$CACHE/package.json" || [ ! -d "$CACHE/node_modules" ]; then
    echo "clients: installing the npm packages into $CACHE"
    cp scripts/clients/package.json "$CACHE/package.json"
    (cd "$CACHE" && npm install --no-audit --no-fund --loglevel=error)
fi
if ! python3 -c 'import servicestack' 2>/dev/null; then
    echo "clients: installing the servicestack Python package"
    python3 -m pip install --quiet 'servicestack==0.1.15'
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "clients: installing Debian's Chromium"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

cargo build --quiet --locked -p evo-server --bin evo-sessions
BIN="$ROOT/$TARGET_DIR/debug/evo-sessions"
[[ "$TARGET_DIR" = /* ]] && BIN="$TARGET_DIR/debug/evo-sessions"

# The work folder sits in the cache, so that node finds the packages from it.
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
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
serve_on_sqlite clients
TOKEN=$("$BIN" token --sub clients@example.com --name Clients --role User --account demo --ttl 1h)

cp scripts/clients/client.ts scripts/clients/client.mjs scripts/clients/client.py scripts/clients/pages.mjs "$WORK/"
cd "$WORK"
BINS="$CACHE/node_modules/.bin"

# Add the reference as a user would, then update it in place (the tool reads BaseUrl back).
"$BINS/typescript-ref" "$BASE"
grep -q "^BaseUrl: $BASE\$" dtos.ts
"$BINS/typescript-ref" dtos.ts | grep -q 'Updated: dtos.ts'
"$BINS/tsc" --strict false --target es2020 --module commonjs --moduleResolution node --esModuleInterop \
    --skipLibCheck --noEmitOnError --outDir out dtos.ts client.ts
node out/client.js "$BASE" "$TOKEN"

curl -fsS "$BASE/types/mjs" -o dtos.mjs
node client.mjs "$BASE" "$TOKEN"

curl -fsS "$BASE/types/python" -o dtos.py
python3 client.py "$BASE" "$TOKEN"

node pages.mjs "$BASE"

if grep -q 'request failed' "$WORK/server.log"; then
    echo "clients: the server logged 5xx answers:" >&2
    grep 'request failed' "$WORK/server.log" | head -20 >&2
    exit 1
fi
echo "clients: every reference client passed"
