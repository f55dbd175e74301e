#!/usr/bin/env python3
"""ListSessions with one read replica against none (docs/performance.md, "Read replicas").

Starts a PostgreSQL primary and a hot standby of its own (initdb, then pg_basebackup -R, as
the postgres OS user, on free loopback ports; stopped by PID and removed at the end, also on
failure), migrates and seeds the primary (bench/sql/seed.sql: SESSIONS sessions of 8 members
in 10 accounts), waits for the standby to replay it, then serves the release binary twice:
on the primary alone, and with EVO_DATABASE_REPLICA_URL naming the standby. Each time wrk
sends ListSessions (a page of 20 of one account's sessions, with their members) at c=16 for
DURATION seconds, after a warm-up, and the standby's own statistics say how many searches it
served. Prints a Markdown table; keeps it in bench/results/replicas-<UTC timestamp>/table.md.
Usage: bench/replicas.py [SESSIONS] (default 40000); REPLICA_DURATION (default 10); BENCH_BIN
(the binary; default $CARGO_TARGET_DIR/release/evo-sessions). Runs as root (the clusters run as
postgres). Both clusters and the service share this machine's cores: the figure says what a
replica costs and takes off the primary here, not what a replica on a machine of its own adds.
"""
import glob, json, os, pwd, shutil, signal, subprocess, sys, tempfile, time

from service import free_port, wait_until_ready

SESSIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
DURATION = int(os.environ.get("REPLICA_DURATION", "10"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
binary = os.environ.get("BENCH_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "evo-sessions")
pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1]
postgres_user = pwd.getpwnam("postgres")
work = tempfile.mkdtemp(prefix="evo-replicas-")
os.chown(work, postgres_user.pw_uid, postgres_user.pw_gid)
processes = []


def log(message):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


def as_postgres():
    os.setgid(postgres_user.pw_gid)
    os.setuid(postgres_user.pw_uid)


def run_as_postgres(*args):
    subprocess.run([os.path.join(pg_bin, args[0]), *args[1:]], preexec_fn=as_postgres, cwd=work, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_cluster(name, port):
    data = os.path.join(work, name)
    log_file = open(os.path.join(work, f"{name}.log"), "w")
    process = subprocess.Popen(
        [os.path.join(pg_bin, "postgres"), "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
         "-c", "unix_socket_directories=", "-c", "max_connections=100", "-c", "shared_buffers=256MB"],
        preexec_fn=as_postgres, cwd=work, stdout=log_file, stderr=log_file)
    processes.append(process)
    for _ in range(600):
        if subprocess.run([os.path.join(pg_bin, "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                          capture_output=True).returncode == 0:
            return process
        time.sleep(0.1)
    sys.exit(f"{name} did not start (see {work}/{name}.log)")


def sql(port, statement):
    return subprocess.run(["psql", "-X", "-Atq", "-h", "127.0.0.1", "-U", "postgres", "-p", str(port), "-c", statement],
                          check=True, capture_output=True, text=True).stdout.strip()


def serve(env):
    port = free_port()
    out = open(os.path.join(work, "serve.log"), "a")
    process = subprocess.Popen([binary, "serve"], env={**env, "EVO_BIND": f"127.0.0.1:{port}"}, cwd=work,
                               stdout=out, stderr=out)
    processes.append(process)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base)
    return process, port


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def searches_on(port):
    return int(sql(port, "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables "
                         "WHERE relname = 'sessions'"))


def measure(label, env, token, standby_port):
    process, port = serve(env)
    path = "/sessions?accountIds=acct-3&countPerPage=20"
    wrk = ["wrk", "-t", "2", "-c", "16", "-s", os.path.join(BENCH, "wrk", "get.lua"), f"http://127.0.0.1:{port}",
           "--", path, token]
    subprocess.run([*wrk[:1], "-d", "3s", *wrk[1:]], check=True, capture_output=True)  # warm-up
    time.sleep(12)  # the standby's statistics are flushed within seconds of a backend going idle
    before = searches_on(standby_port)
    output = subprocess.run([*wrk[:1], "-d", f"{DURATION}s", *wrk[1:]], check=True, capture_output=True,
                            text=True).stdout
    stop(process)
    time.sleep(12)
    served = searches_on(standby_port) - before
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    summary = json.loads(line[len("WRK_JSON "):])
    summary["rate"] = summary["ok"] / (summary["duration_us"] / 1e6)
    log(f"{label}: {summary}")
    return summary, served


def main():
    primary_port, standby_port = free_port(), free_port()
    log(f"primary on {primary_port}, standby on {standby_port}, in {work}")
    run_as_postgres("initdb", "-D", os.path.join(work, "primary"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--locale=C", "--no-sync")
    start_cluster("primary", primary_port)
    run_as_postgres("pg_basebackup", "-D", os.path.join(work, "standby"), "-R", "-X", "stream", "-c", "fast",
                    "--no-sync", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres")
    start_cluster("standby", standby_port)
    url = f"postgres://postgres@127.0.0.1:{primary_port}/postgres"
    env = {"PATH": os.environ["PATH"], "EVO_JWT_SECRET": "replica-bench-secret-0123456789abcdef", "EVO_LOG": "error",
           "DATABASE_URL": url, "EVO_RATE_LIMIT_PER_SEC": "0", "EVO_READ_RATE_LIMIT_PER_SEC": "0"}
    subprocess.run([binary, "migrate"], env=env, cwd=work, check=True, capture_output=True)
    for script in ("schema.sql", "seed.sql"):
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-p", str(primary_port),
                        "-v", f"sessions={SESSIONS}", "-f", os.path.join(BENCH, "sql", script)],
                       check=True, stdout=subprocess.DEVNULL)
    sql(primary_port, "ANALYZE")
    target = sql(primary_port, "SELECT pg_current_wal_lsn()")
    while sql(standby_port, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
        time.sleep(0.2)
    log(f"{SESSIONS} sessions seeded and replayed")
    token = subprocess.run([binary, "token", "--sub", "bench@example.com", "--role", "User", "--account", "acct-3"],
                           env=env, cwd=work, capture_output=True, text=True, check=True).stdout.strip()
    alone, alone_on_standby = measure("primary alone", env, token, standby_port)
    replica_env = {**env, "EVO_DATABASE_REPLICA_URL": f"postgres://postgres@127.0.0.1:{standby_port}/postgres"}
    with_replica, on_standby = measure("with a replica", replica_env, token, standby_port)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    rows = [
        "| reads | ListSessions/s | p50 ms | p99 ms | errors | searches the standby served |",
        "|---|---|---|---|---|---|",
    ]
    for label, summary, served in (("the primary alone", alone, alone_on_standby),
                                   ("one replica", with_replica, on_standby)):
        rows.append(f"| {label} | {summary['rate']:.0f} | {summary['p50_us'] / 1000:.2f} | {summary['p99_us'] / 1000:.2f} | "
                    f"{summary['non2xx'] + summary['socket_errors']} | {served} |")
    table = (f"ListSessions (20 of one account's sessions with their members), c=16, {DURATION} s, {SESSIONS} "
             f"sessions, `{commit}`, {stamp}\n\n" + "\n".join(rows) + "\n")
    folder = os.path.join(BENCH, "results", f"replicas-{stamp}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "table.md"), "w") as out:
        out.write(table)
    print(table)


try:
    main()
finally:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGINT if process.args[0].endswith("postgres") else signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    shutil.rmtree(work, ignore_errors=True)
