#!/usr/bin/env python3
"""Finding sessions at scale on PostgreSQL (docs/performance.md, "Finding sessions").

Recreates the database evo_finding on the local PostgreSQL, migrates it with the release
binary, seeds SESSIONS sessions (bench/sql/seed.sql: 8 members, 10 accounts) and makes them
differ (bench/sql/seed_finding.sql: dates over ~60 days, customers, endpoints, from/to, a
second log entry; finder@example.com in 10 sessions, leaver<k>@example.com in 50 active chats
each), serves it, and measures one client at a time (c=1, keep-alive) over HTTP:
  * ListSessions: every filter alone and combined, the first and the hundredth page, as a User
    of one account, of all ten, and as an Admin (ROUNDS requests each after 3 of warm-up;
    p50, p95; every answer must be 200 with the expected number of items);
  * GetActiveSessions as finder@example.com (a member of 10 of the sessions, 9 active);
  * RemoveChatMemberFromActiveSessions for leaver0..4 (50 active chats each): the time of
    each whole request, and that it removed 50.
Prints a Markdown table; keeps it in bench/results/finding-<UTC timestamp>/table.md.
Usage: bench/finding.py [SESSIONS] (default 400000); FINDING_ROUNDS (default 30); BENCH_BIN (the
binary; default $CARGO_TARGET_DIR/release/evo-sessions).
Needs `cargo build --release -p evo-server` and psql; loopback only.
"""
import http.client, json, os, statistics, subprocess, sys, tempfile, time, urllib.parse

from service import free_port, wait_until_ready

SESSIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 400_000
ROUNDS = int(os.environ.get("FINDING_ROUNDS", "30"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.environ.get("BENCH_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "evo-sessions")
pg = {k: os.environ.get(k, d) for k, d in (("PGHOST", "127.0.0.1"), ("PGPORT", "5432"), ("PGUSER", "postgres"))}
if pg["PGHOST"] not in ("127.0.0.1", "localhost", "::1"):
    sys.exit(f"loopback only: PGHOST={pg['PGHOST']}")
DB = "evo_finding"
url = f"postgres://{pg['PGUSER']}@{pg['PGHOST']}:{pg['PGPORT']}/{DB}"
work = tempfile.mkdtemp(prefix="evo-finding-")
env = {"PATH": os.environ["PATH"], "EVO_JWT_SECRET": "finding-bench-secret-0123456789abcdef",
       "EVO_LOG": "error", "DATABASE_URL": url, "EVO_RATE_LIMIT_PER_SEC": "0", "EVO_READ_RATE_LIMIT_PER_SEC": "0"}
psql_env = {**os.environ, **pg}


def log(message):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


def psql(*args, db=DB):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, *args], env=psql_env, check=True,
                   stdout=subprocess.DEVNULL)


def scalar(sql):
    return subprocess.run(["psql", "-X", "-Atq", "-d", DB, "-c", sql], env=psql_env, check=True,
                          capture_output=True, text=True).stdout.strip()


def token(sub, roles, accounts):
    args = [binary, "token", "--sub", sub]
    for role in roles:
        args += ["--role", role]
    for account in accounts:
        args += ["--account", account]
    return subprocess.run(args, env=env, cwd=work, capture_output=True, text=True, check=True).stdout.strip()


log(f"recreating {DB}, migrating, seeding {SESSIONS} sessions")
started = time.time()
subprocess.run(["dropdb", "--if-exists", "--force", DB], env=psql_env, check=True)
subprocess.run(["createdb", DB], env=psql_env, check=True)
subprocess.run([binary, "migrate"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
psql("-f", os.path.join(ROOT, "bench/sql/schema.sql"))
psql("-v", f"sessions={SESSIONS}", "-f", os.path.join(ROOT, "bench/sql/seed.sql"))
psql("-v", f"sessions={SESSIONS}", "-f", os.path.join(ROOT, "bench/sql/seed_finding.sql"))
log(f"seeded in {time.time() - started:.0f} s")

all_accounts = [f"acct-{a}" for a in range(10)]
callers = {
    "User, 1 account": token("bench@example.com", ["User"], ["acct-3"]),
    "User, 10 accounts": token("bench@example.com", ["User"], all_accounts),
    "Admin": token("root@example.com", ["Admin"], []),
}
finder = token("finder@example.com", ["User"], all_accounts)
port = free_port()
server = subprocess.Popen([binary, "serve"], env={**env, "EVO_BIND": f"127.0.0.1:{port}"}, cwd=work,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    wait_until_ready(f"http://127.0.0.1:{port}")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(method, path, bearer):
        began = time.perf_counter()
        connection.request(method, path, headers={"Authorization": f"Bearer {bearer}"})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200:
            raise SystemExit(f"{method} {path}: {response.status} {body[:300]!r}")
        return elapsed, json.loads(body)

    def measure(method, path, bearer, rounds=ROUNDS, check=None):
        for _ in range(3):
            call(method, path, bearer)
        times = []
        for _ in range(rounds):
            elapsed, body = call(method, path, bearer)
            times.append(elapsed * 1000)
        if check:
            check(body)
        times.sort()
        return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], body

    sid = lambda i: scalar(f"SELECT bench.sid({i})")
    day = scalar(f"SELECT to_char(date_created, 'YYYY-MM-DD') FROM sessions WHERE id = bench.sid({SESSIONS // 2})")
    q = urllib.parse.quote
    specific = ",".join(sid(i) for i in (3, 13, SESSIONS - 7))
    lists = [
        ("no filter", ""),
        ("page 99 (the hundredth)", "page=99"),
        ("customerIds", "customerIds=cust-1233"),
        ("endpointIds", "endpointIds=ep-13"),
        ("specificIds (3)", f"specificIds={specific}"),
        ("startDate..endDate (one day)", f"startDate={day}&endDate={day}"),
        ("from (contains, 1 match)", "from=" + q("customer 123453")),
        ("from (contains, many)", "from=" + q("Customer 1234")),
        ("to (contains)", "to=" + q("queue-23@")),
        ("log (contains)", "log=" + q("order 424243")),
        ("combined: customerIds + dates + from", f"customerIds=cust-1233&startDate=2000-01-01&endDate=2999-12-31&from={q('customer 1')}"),
        ("combined, page 99: endpointIds + to", "endpointIds=ep-13&to=queue-13&page=9&countPerPage=10"),
        ("simplifiedPaging", "simplifiedPaging=true"),
        ("sortField=dateLastModified", "sortField=dateLastModified"),
        ("all=true (one customer)", "all=true&customerIds=cust-1233"),
    ]
    rows = []
    for caller, bearer in callers.items():
        for name, query in lists:
            p50, p95, body = measure("GET", f"/sessions?{query}", bearer)
            rows.append((f"ListSessions {name}", caller, p50, p95, f"{len(body['items'])} items, total {body.get('totalCount', '-')}"))
            log(f"{caller:18} {name:40} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  {len(body['items'])} items")

    # seed_finding.sql: finder in sessions 1000 + 40000 m (the first ended), leaver<k> in 7 + 8000 m + k.
    active = sum(1000 + 40000 * m < SESSIONS for m in range(10)) - 1
    chats = sum(7 + 8000 * m + 4 < SESSIONS for m in range(50))

    def nine(body):
        assert len(body["sessions"]) == active, body
    p50, p95, body = measure("GET", "/sessions/active", finder, check=nine)
    rows.append((f"GetActiveSessions (member of {active + 1}, {active} active)", "User, 10 accounts", p50, p95, f"{len(body['sessions'])} sessions"))
    log(f"GetActiveSessions p50 {p50:.2f} ms p95 {p95:.2f} ms")

    leave = []
    for k in range(5):
        elapsed, body = call("DELETE", f"/sessions/active/members/leaver{k}%40example.com", callers["User, 10 accounts"])
        assert body["removed"] == chats and not body["hasMore"], body
        leave.append(elapsed * 1000)
    leave.sort()
    rows.append((f"RemoveChatMemberFromActiveSessions ({chats} chats)", "User, 10 accounts", statistics.median(leave),
                 leave[-1], f"removed {chats} each; per chat {statistics.median(leave) / chats:.2f} ms (median)"))
    log(f"RemoveChatMemberFromActiveSessions over {chats} chats: {', '.join(f'{t:.0f}' for t in leave)} ms")
finally:
    server.terminate()
    server.wait()

stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
out = os.path.join(ROOT, "bench", "results", f"finding-{stamp}")
os.makedirs(out, exist_ok=True)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
lines = [f"Finding sessions at {SESSIONS} sessions, c=1, {ROUNDS} requests each; commit {commit}; {os.cpu_count()} cores ({cpu})", "",
         "| request | caller | p50 ms | p95 ms | answer |", "|---|---|---:|---:|---|"]
lines += [f"| {name} | {caller} | {p50:.2f} | {p95:.2f} | {note} |" for name, caller, p50, p95, note in rows]
lines += ["", "The RemoveChatMemberFromActiveSessions row is 5 requests (5 leavers): its p50 is the median, its p95 the slowest."]
table = "\n".join(lines) + "\n"
open(os.path.join(out, "table.md"), "w").write(table)
print(table)
