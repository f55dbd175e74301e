# Sourced by the scripts that test the running binary (scripts/schemathesis.sh,
# scripts/clients.sh). `serve_on_sqlite NAME` starts "$BIN" serve on a free loopback port with a
# new SQLite database in "$WORK" and a fresh JWT secret, and waits until it is ready; it sets
# PORT, BASE and PID (the caller's EXIT trap stops PID and removes WORK). NAME names the
# database and the caller in messages.
serve_on_sqlite() {
    local name=$1
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export EVO_BIND="127.0.0.1:$PORT"
    export DATABASE_URL="sqlite://$WORK/$name.db"
    export EVO_JWT_SECRET="$name-secret-$(date +%s)-0123456789abcdef"
    export EVO_LOG=${EVO_LOG:-warn}
    BASE="http://127.0.0.1:$PORT"
    "$BIN" serve 2>"$WORK/server.log" &
    PID=$!
    for _ in $(seq 1 300); do
        if curl -fsS "$BASE/health/ready" >/dev/null 2>&1; then break; fi
        if ! kill -0 "$PID" 2>/dev/null; then
            echo "$name: the server exited:" >&2
            cat "$WORK/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    curl -fsS "$BASE/health/ready" >/dev/null
}
