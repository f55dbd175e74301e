#!/usr/bin/env python3
"""One account's webhook backlog against another account's next event (docs/reliability.md,
section 10).

On a fresh PostgreSQL database (`evo_fairness_bench` on PGHOST/PGPORT, default
127.0.0.1:5432, user postgres), migrated by the binary, it writes N pending events of account
`backlog` (N sessions, one event each, numbered and due now: as if a receiver had been down),
starts the release binary with a webhook receiver of its own that answers 500 to every
`backlog` event and 204 to the others, opens one session in account `quiet` through the API,
and prints how long that session's `SessionCreated` took to reach the receiver, and how many
`backlog` attempts the receiver saw before it. Then it times the claim's statements on the
backlog left (`EXPLAIN (ANALYZE)` of the next-account lookup and of one account's claim).

Usage: bench/delivery_fairness.py [N] (default 100000). BENCH_BIN: the binary (default
$CARGO_TARGET_DIR/release/evo-sessions). Loopback only; everything started is stopped.
"""
import http.server, json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

from service import free_port, mint_token, wait_until_ready

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
binary = os.environ.get("BENCH_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "evo-sessions")
host, port_pg = os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGPORT", "5432")
database = "evo_fairness_bench"
url = f"postgres://postgres@{host}:{port_pg}/{database}"
secret = "fairness-bench-secret-0123456789abcdef"
webhook_secret = "whsec_ZXZvLXNlc3Npb25zLXdlYmhvb2stdGVzdC1rZXktMDEyMzQ1Njc="


def psql(sql, db=database):
    return subprocess.run(["psql", "-h", host, "-p", port_pg, "-U", "postgres", "-d", db, "-qAtX", "-c", sql],
                          check=True, capture_output=True, text=True).stdout


seen = {"backlog": 0, "quiet_at": None}
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            if body.get("accountId") == "quiet":
                seen["quiet_at"] = seen["quiet_at"] or time.time()
                status = 204
            else:
                seen["backlog"] += 1
                status = 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


psql(f"DROP DATABASE IF EXISTS {database}", db="postgres")
psql(f"CREATE DATABASE {database}", db="postgres")
work = tempfile.mkdtemp(prefix="evo-fairness-")
receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
port = free_port()
env = {"PATH": os.environ["PATH"], "DATABASE_URL": url, "EVO_JWT_SECRET": secret, "EVO_LOG": "error",
       "EVO_BIND": f"127.0.0.1:{port}", "EVO_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_port}/hook",
       "EVO_WEBHOOK_SECRET": webhook_secret}
subprocess.run([binary, "migrate"], env=env, cwd=work, check=True, capture_output=True)
started = time.time()
psql(f"""INSERT INTO session_events (account_id, session_id, id, event_type, body, created_at, delivery,
         pending_since, next_attempt_at)
         SELECT 'backlog', 'b-' || g, nextval('session_event_ids'), 'ChatMemberAdded',
                '{{"type":"ChatMemberAdded","accountId":"backlog"}}', now(), 1, now(), now()
         FROM generate_series(1, {N}) g; ANALYZE session_events;""")
print(f"{N} pending events of account backlog written in {time.time() - started:.1f} s")
token = mint_token(binary, env, work, "quiet")
server = subprocess.Popen([binary, "serve"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base)
    time.sleep(2)  # the worker is at work on the backlog
    request = urllib.request.Request(f"{base}/sessions", method="POST",
                                     data=json.dumps({"accountId": "quiet", "members": [{"identity": "+15550001111"}]}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with lock:
        before = seen["backlog"]
    created = time.time()
    urllib.request.urlopen(request, timeout=10).read()
    deadline = created + 120
    while time.time() < deadline and seen["quiet_at"] is None:
        time.sleep(0.01)
    with lock:
        quiet_at, attempts = seen["quiet_at"], seen["backlog"]
    delay = f"{(quiet_at - created) * 1000:.0f} ms" if quiet_at else "more than 120 s"
    print(f"the quiet account's event reached the receiver {delay} after its change; "
          f"{attempts - before} backlog attempts came in between ({attempts} in all)")
finally:
    server.terminate()
    server.wait(timeout=40)
    receiver.shutdown()
    shutil.rmtree(work, ignore_errors=True)

pending = psql("SELECT count(*) FROM session_events WHERE delivery = 1").strip()
due_later = psql("SELECT count(*) FROM session_events WHERE delivery = 1 AND next_attempt_at > now()").strip()
print(f"left: {pending} pending events, {due_later} of them not due yet")
for name, sql in [
    ("next account", "SELECT min(account_id) FROM session_events WHERE delivery = 1 AND account_id > ''"),
    ("one account's claim (select)",
     "SELECT c.account_id, c.session_id, c.seq FROM session_events c WHERE c.account_id = 'backlog' "
     "AND c.delivery = 1 AND c.next_attempt_at <= now() AND c.id IS NOT NULL "
     "AND (c.lease_until IS NULL OR c.lease_until <= now()) AND NOT EXISTS (SELECT 1 FROM session_events p "
     "WHERE p.account_id = c.account_id AND p.session_id = c.session_id AND p.delivery = 1 AND p.seq < c.seq) "
     "ORDER BY c.next_attempt_at, c.id LIMIT 4 FOR UPDATE SKIP LOCKED"),
]:
    plan = psql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
    timing = [line for line in plan.splitlines() if line.startswith("Execution Time")]
    scans = sorted({line.strip().split(" on ")[0].split("->")[-1].strip() + " on " + line.split(" on ")[1].split()[0]
                    for line in plan.splitlines() if " on session_events" in line})
    print(f"{name}: {timing[0] if timing else plan}; {', '.join(scans)}")
psql(f"DROP DATABASE IF EXISTS {database}", db="postgres")
