#!/usr/bin/env python3
"""The SQLite side of bench/sqlite.sh, with Python's own sqlite3 module (seeding and checks
only: the bare loop is bench/sqlite_loop.c, on the SQLite the service links).

  sqlite.py sid I                          session number I -> session ID
  sqlite.py seed DB SESSIONS               (re)seed SESSIONS Chat sessions x 8 members
  sqlite.py counts DB                      "members log versions events" once they stop moving
  sqlite.py check DB SESSIONS              sessions failing members + removals = 8 etc.
  sqlite.py compare DB SID PROBE_SID       a seeded row against one the service wrote
  sqlite.py loop_rows DB SESSIONS OUT.json the rows after a bare loop against its removals
  sqlite.py record JSONL KIND C RUN WRK_OUT BEFORE AFTER INCONSISTENT LOAD [TICKS HZ [THREADS0 THREADS1]]
  sqlite.py threads PID                    the CPU ticks of PID's threads, summed by name (JSON)
  sqlite.py floor JSONL NAME C WRK_OUT TICKS HZ   a run of a request that is not a removal
  sqlite.py brief < lines                  one line per record, for the progress log
  sqlite.py table RESULTS_DIR              the Markdown table and the ratios
  sqlite.py writer_split REMOVALS < script  the writer thread's CPU per removal by part and kind
                                           (from `perf script -F ip,sym,dso --comms sqlite-writer`)

The rows are the ones evo-sqlite writes for a new incoming Chat session (as bench/sql/seed.sql
does for PostgreSQL): enums by wire name, booleans 0/1, JSON as text, times as text the way
diesel writes a chrono DateTime<Utc> to SQLite (`%F %T%.f%:z`: `2026-12-01 14:03:07.123+00:00`,
the fraction left out when it is .000); members and log entries carry their session's account
(every key leads with account_id) and are numbered per session from 1 (`position`, `seq`), as
evo-sqlite numbers them. `compare` checks that against a row of the service.
"""

import json
import re
import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

MEMBERS = 8
DATE_SHAPE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})?\+00:00$")

# The columns of evo-store-sql's session_columns! / member_columns! selects, in order.
SESSION_COLUMNS = (
    "id, account_id, channel, direction, dial_state, call_state, queue_state, hold_reason, "
    "ended, was_missed, date_completed, account_name, customer_id, customer_breadcrumb, "
    "customer_name, endpoint_id, endpoint_name, destination, to_address, from_address, "
    "from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data, "
    "hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number, "
    "answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id, "
    "date_created, created_by, date_last_modified, last_modified_by, version"
)
MEMBER_COLUMNS = (
    "identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, "
    "application_data, call_state, role, call_sid, muted"
)


def sid(i):
    """bench.sid(i) of bench/sql/schema.sql and sid(i) of bench/wrk/delete.lua."""
    return str(1000000000000000 + ((i * 2654435761) % 4294967296) * 1000000 + i)


def store_time(t):
    """A UTC time as diesel's TimestamptzSqlite writes it (chrono `%F %T%.f%:z`), to the ms."""
    ms = t.microsecond // 1000
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f".{ms:03d}" if ms else "") + "+00:00"


def connect(db, synchronous="FULL"):
    connection = sqlite3.connect(db, isolation_level=None, timeout=10)
    # The pragmas evo-sqlite's connection_pragmas() runs, synchronous as asked.
    connection.executescript(
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
        f"PRAGMA synchronous = {synchronous};"
    )
    return connection


def seed(db, sessions):
    sessions = int(sessions)
    started = time.monotonic()
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # to the millisecond
    t = store_time(now)
    actor = "bench-seed@example.com"
    connection = connect(db)
    connection.execute("BEGIN IMMEDIATE")
    for table in ("session_events", "idempotency_keys", "session_log", "session_members", "sessions"):
        connection.execute(f"DELETE FROM {table}")
    # RESTART IDENTITY: the events are numbered from 1 again (AUTOINCREMENT keeps the highest).
    connection.execute("DELETE FROM sqlite_sequence WHERE name = 'session_events'")
    connection.executemany(
        "INSERT INTO sessions (id, account_id, channel, direction, dial_state, call_state, "
        "queue_state, hold_reason, ended, was_missed, customer_breadcrumb, customer_name, "
        "display_name, from_phone_number, date_created, created_by, date_last_modified, "
        "last_modified_by, version) VALUES (?, ?, 'Chat', 'Incoming', 'None', 'Connected', "
        "'None', 'None', 0, 0, '[]', ?, ?, ?, ?, ?, ?, ?, 0)",
        (
            (sid(i), f"acct-{i % 10}", f"Customer {i}", f"Bench chat {i}", f"+1555{i:07d}",
             t, actor, t, actor)
            for i in range(sessions)
        ),
    )

    def members():
        for i in range(sessions):
            account, phone = f"acct-{i % 10}", f"+1555{i:07d}"
            yield (account, sid(i), 1, phone, phone, f"Customer {i}", 1, "Caller")
            for k in range(2, MEMBERS + 1):
                yield (account, sid(i), k, f"Agent{k}@Example.com", f"agent{k}@example.com", f"Agent {k}", 0,
                       "Agent")

    connection.executemany(
        "INSERT INTO session_members (account_id, session_id, position, identity, identity_key, "
        "display_name, is_original_member, application_data, call_state, role, muted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, '{}', 'Connected', ?, 0)",
        members(),
    )
    connection.executemany(
        "INSERT INTO session_log (account_id, session_id, seq, date, message) "
        "VALUES (?, ?, 1, ?, 'Bench Seed started the session')",
        ((f"acct-{i % 10}", sid(i), t) for i in range(sessions)),
    )
    connection.execute("COMMIT")
    busy, wal_pages, moved = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    connection.close()
    if busy:
        raise SystemExit(f"wal_checkpoint(TRUNCATE) was blocked (busy={busy}, {moved}/{wal_pages} pages)")
    print(f"{sessions} sessions in {time.monotonic() - started:.1f} s")


def counts_once(db):
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    row = connection.execute(
        "SELECT (SELECT count(*) FROM session_members), (SELECT count(*) FROM session_log), "
        "(SELECT coalesce(sum(version), 0) FROM sessions), (SELECT count(*) FROM session_events)"
    ).fetchone()
    connection.close()
    return " ".join(str(v) for v in row)


def counts(db):
    """Row counts once they stop moving (requests wrk cut off may still be committing)."""
    now = counts_once(db)
    for _ in range(20):
        time.sleep(0.3)
        previous, now = now, counts_once(db)
        if now == previous:
            break
    print(now)


def check(db, sessions):
    """Seeded sessions that are not consistent: members + version = 8, log = 1 + version,
    events = version (the seed writes none; every committed change writes one, the service's
    and the bare loop's alike), the original member still there. Prints how many fail (0 is
    the only good answer)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    bad = connection.execute(
        """
        SELECT count(*) FROM sessions s
        WHERE (SELECT count(*) FROM session_members m
               WHERE m.account_id = s.account_id AND m.session_id = s.id) + s.version <> ?
           OR (SELECT count(*) FROM session_log l
               WHERE l.account_id = s.account_id AND l.session_id = s.id) <> 1 + s.version
           OR (SELECT count(*) FROM session_events e
               WHERE e.account_id = s.account_id AND e.session_id = s.id) <> s.version
           OR NOT EXISTS (SELECT 1 FROM session_members m
                          WHERE m.account_id = s.account_id AND m.session_id = s.id
                            AND m.is_original_member = 1)
        """,
        (MEMBERS,),
    ).fetchone()[0]
    total = connection.execute("SELECT count(*) FROM sessions").fetchone()[0]
    connection.close()
    if total != int(sessions):
        raise SystemExit(f"{total} sessions in the database, {sessions} seeded")
    print(bad)


def compare(db, seeded_sid, probe_sid):
    """A seeded session's rows against the rows the service wrote for a session it opened
    (and removed a member from): same storage class per column, same date shape, same
    values where both must agree. Raises on any difference."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    problems = []

    def rows(sql, key):
        cursor = connection.execute(sql, (key,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]

    def typed(table, columns, where, order, key):
        select = ", ".join(f"{c}, typeof({c}) AS {c}__type" for c in columns)
        return rows(f"SELECT {select} FROM {table} WHERE {where} ORDER BY {order}", key)

    session_columns = [c.strip() for c in SESSION_COLUMNS.split(",")]
    member_columns = ["account_id", "position"] + [c.strip() for c in MEMBER_COLUMNS.split(",")]
    same_value = {
        "sessions": ["channel", "direction", "dial_state", "call_state", "queue_state", "hold_reason",
                     "ended", "was_missed", "customer_breadcrumb", "date_completed"],
        "session_members": ["application_data", "call_state", "muted", "endpoint_id", "avatar_url",
                            "call_sid"],
        "session_log": [],
    }
    dates = {"sessions": ["date_created", "date_last_modified"], "session_members": [], "session_log": ["date"]}
    seen_dates = []
    for table, columns, where, order in (
        ("sessions", session_columns, "id = ?", "id"),
        ("session_members", member_columns, "session_id = ?", "position"),
        ("session_log", ["account_id", "seq", "date", "message"], "session_id = ?", "seq"),
    ):
        seeded = typed(table, columns, where, order, seeded_sid)
        probe = typed(table, columns, where, order, probe_sid)
        if not seeded or not probe:
            problems.append(f"{table}: no rows (seeded {len(seeded)}, service {len(probe)})")
            continue
        for s in seeded:
            for p in probe:
                for c in columns:
                    # NULL in one and a value in the other is a fact of the data, not a format.
                    if "null" not in (s[c + "__type"], p[c + "__type"]) and s[c + "__type"] != p[c + "__type"]:
                        problems.append(f"{table}.{c}: seeded {s[c + '__type']}, service {p[c + '__type']}")
                for c in same_value[table]:
                    if s[c] != p[c]:
                        problems.append(f"{table}.{c}: seeded {s[c]!r}, service {p[c]!r}")
        for r in seeded + probe:
            for c in dates[table]:
                seen_dates.append(r[c])
                if not DATE_SHAPE.match(r[c]):
                    problems.append(f"{table}.{c}: {r[c]!r} is not YYYY-MM-DD HH:MM:SS[.fff]+00:00")
        firsts = [rows_[0] for rows_ in (seeded, probe)] if table == "session_members" else []
        for first in firsts:
            if first["is_original_member"] != 1 or first["role"] != "Caller":
                problems.append(f"session_members: first member {first!r} is not the original Caller")
    connection.close()
    problems = sorted(set(problems))
    if problems:
        raise SystemExit("the seed does not store rows as the service does:\n  " + "\n  ".join(problems))
    print("same storage classes, date shapes and fixed values; dates seen: "
          + ", ".join(sorted(set(seen_dates))[:4]))


def loop_rows(db, sessions, out):
    """The rows after a bare loop (bench/sqlite_loop.c) on a fresh seed, against the removals
    its OUT.json reports: each removed one member, added one log entry, one version and one
    event. Raises on any difference."""
    removals = json.loads(Path(out).read_text())["removals"]
    members, log, versions, events = map(int, counts_once(db).split())
    seeded = int(sessions)
    expected = (seeded * MEMBERS - removals, seeded + removals, removals, removals)
    if (members, log, versions, events) != expected:
        raise SystemExit(f"after {removals} removals: members {members}, log {log}, versions {versions}, "
                         f"events {events}; expected {expected[0]}, {expected[1]}, {expected[2]}, {expected[3]}")
    print(f"exact: {removals} removals, {events} events")


def parse_wrk(path):
    text = Path(path).read_text()
    line = next((l for l in text.splitlines() if l.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"no WRK_JSON line in {path}:\n" + text[-2000:])
    w = json.loads(line[len("WRK_JSON "):])
    seconds = w["duration_us"] / 1e6
    return {
        "rate": w["ok"] / seconds,
        "ok": w["ok"],
        "issued": w["issued"],
        "non2xx": w["non2xx"],
        "statuses": w["statuses"],
        "socket_errors": w["socket_errors"],
        "exhausted": w["exhausted"],
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "max_ms": w["max_us"] / 1000,
        "seconds": seconds,
    }


def thread_group(name):
    """A thread's name without its number: the two HTTP workers are one group."""
    return re.sub(r"\d+", "#", name)


def threads(pid):
    """{thread name group: CPU ticks (user + system)} of the process's threads alive now."""
    ticks = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        group = thread_group(name)
        ticks[group] = ticks.get(group, 0) + int(fields[11]) + int(fields[12])
    print(json.dumps(ticks, sort_keys=True))


def record(jsonl, kind, c, run, wrk_out, before, after, inconsistent, load, cpu_ticks=None, hz=None,
           threads_before=None, threads_after=None):
    line = {"kind": kind, "c": int(c), "run": int(run), "load": float(load), "inconsistent": int(inconsistent)}
    line.update(parse_wrk(wrk_out))
    b, a = [list(map(int, x.split())) for x in (before, after)]
    line["removed_members"] = b[0] - a[0]
    # The service's CPU (all threads, /proc/PID/stat) over the removals it committed.
    if cpu_ticks is not None and line["removed_members"] > 0:
        line["cpu_us_per_removal"] = int(cpu_ticks) / int(hz) / line["removed_members"] * 1e6
        if threads_before and threads_after:
            t0, t1 = json.loads(threads_before), json.loads(threads_after)
            line["cpu_us_per_removal_by_thread"] = {
                name: (t1[name] - t0.get(name, 0)) / int(hz) / line["removed_members"] * 1e6 for name in t1
            }
    line["added_log"] = a[1] - b[1]
    line["added_versions"] = a[2] - b[2]
    line["added_events"] = a[3] - b[3]
    with open(jsonl, "a") as f:
        f.write(json.dumps(line) + "\n")


def floor(jsonl, name, c, wrk_out, cpu_ticks, hz):
    """A run of a request that changes nothing (GET /health/live, GET /sessions/{id}): what
    the service's HTTP path costs at c=1 with no write behind it."""
    line = {"kind": "floor", "request": name, "c": int(c)}
    line.update(parse_wrk(wrk_out))
    if line["ok"] > 0:
        line["cpu_us_per_request"] = int(cpu_ticks) / int(hz) / line["ok"] * 1e6
    with open(jsonl, "a") as f:
        f.write(json.dumps(line) + "\n")


def by_thread(r):
    """ " (writer 160, workers 200, ...)": the CPU per removal of the busiest thread groups."""
    shares = sorted(r.get("cpu_us_per_removal_by_thread", {}).items(), key=lambda kv: -kv[1])
    shown = [f"{name} {us:.0f}" for name, us in shares if us >= 1]
    return f" ({', '.join(shown)})" if shown else ""


def rows_vs_200s(r):
    deltas = {r["removed_members"], r["added_log"], r["added_versions"], r.get("added_events", r["added_log"])}
    if len(deltas) != 1:
        return (f"MISMATCH members {r['removed_members']} log {r['added_log']} versions {r['added_versions']} "
                f"events {r.get('added_events', '?')}")
    extra = deltas.pop() - r["ok"]
    if extra == 0:
        return "exact"
    if 0 < extra <= r["c"]:
        return f"exact+{extra} cut off in flight"
    return f"MISMATCH: {extra:+d} against the 200s"


def brief():
    for raw in sys.stdin:
        r = json.loads(raw)
        if r.get("kind") == "floor":
            print(f"  {r['request']} c={r['c']}: {r['rate']:,.0f} requests/s ({1e6 / r['rate']:.0f} µs each), "
                  f"p50 {r['p50_ms']:.3f} ms, CPU {r.get('cpu_us_per_request', 0):.0f} µs per request, "
                  f"non-2xx {r['non2xx']}, socket errors {r['socket_errors']}")
            continue
        cpu = f", CPU {r['cpu_us_per_removal']:.0f} µs per removal{by_thread(r)}" if "cpu_us_per_removal" in r else ""
        print(f"  c={r['c']} run {r['run']}: {r['rate']:,.0f} removals/s, p50 {r['p50_ms']:.2f} ms, "
              f"p99 {r['p99_ms']:.2f} ms{cpu}, non-2xx {r['non2xx']}, socket errors {r['socket_errors']}, "
              f"rows: {rows_vs_200s(r)}, inconsistent sessions {r['inconsistent']}")


def spread(values, fmt):
    values = sorted(values)
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(values[0])}–{fmt.format(values[-1])})"


def cpu_spread(rows):
    """CPU per removal of the rows that measured it (runs of before it did not): "–" if none."""
    cpu = [r["cpu_us_per_removal"] for r in rows if "cpu_us_per_removal" in r]
    return spread(cpu, "{:,.0f}") if cpu else "–"


def table(results):
    results = Path(results)
    lines = [json.loads(l) for l in (results / "runs.jsonl").read_text().splitlines() if l.strip()]
    runs = [r for r in lines if r.get("kind") != "floor"]
    floors = [r for r in lines if r.get("kind") == "floor"]
    loops = [json.loads(p.read_text()) for p in sorted(results.glob("loop-*.json"))]
    print("| measurement | c | removals/s | p50 ms | p99 ms | CPU µs per removal | non-2xx / socket errors | DB rows vs 200s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    service = {}
    for c in sorted({r["c"] for r in runs}):
        rs = [r for r in runs if r["c"] == c]
        service[c] = statistics.median(r["rate"] for r in rs)
        errors = sum(r["non2xx"] for r in rs)
        sockets = sum(r["socket_errors"] for r in rs)
        checks = "; ".join(sorted({rows_vs_200s(r) for r in rs}))
        if any(r["inconsistent"] for r in rs):
            checks += "; INCONSISTENT SESSIONS"
        print(f"| service over HTTP (wrk), synchronous=FULL | {c} | {spread([r['rate'] for r in rs], '{:,.0f}')} "
              f"| {spread([r['p50_ms'] for r in rs], '{:.2f}')} | {spread([r['p99_ms'] for r in rs], '{:.2f}')} "
              f"| {cpu_spread(rs)} | {errors} / {sockets} | {checks} |")
    loop_rate = {}
    for mode in ("FULL", "NORMAL"):
        ls = [l for l in loops if l["synchronous"] == mode]
        if not ls:
            continue
        loop_rate[mode] = statistics.median(l["rate"] for l in ls)
        bounded = " (time-bounded)" if any(l["time_bounded"] for l in ls) else ""
        # Loops of before bench/sqlite_loop.c have no "loop": Python's sqlite3 module.
        how = f"C, SQLite {ls[0]['sqlite']}" if ls[0].get("loop", "").startswith("C") else f"Python sqlite3 {ls[0]['sqlite']}"
        print(f"| bare loop, store's transaction, synchronous={mode} ({how}, "
              f"{ls[0]['asked']} removals{bounded}) | 1 | {spread([l['rate'] for l in ls], '{:,.0f}')} "
              f"| {spread([l['p50_ms'] for l in ls], '{:.3f}')} | {spread([l['p99_ms'] for l in ls], '{:.3f}')} "
              f"| {cpu_spread(ls)} | – | – |")
    print()
    print(f"Each figure: the median of {max([len([r for r in runs if r['c'] == c]) for c in service] or [0])} "
          f"service runs / {len([l for l in loops if l['synchronous'] == 'FULL'])} loops per mode, (min–max).")
    if "FULL" in loop_rate and "NORMAL" in loop_rate:
        print(f"FULL / NORMAL (bare loop): {loop_rate['FULL'] / loop_rate['NORMAL']:.3f} "
              f"(NORMAL is {loop_rate['NORMAL'] / loop_rate['FULL']:.1f}x FULL)")
    if "FULL" in loop_rate and 1 in service:
        print(f"service c=1 / FULL loop: {service[1] / loop_rate['FULL']:.2f}")
    if "FULL" in loop_rate and 16 in service:
        print(f"service c=16 / FULL loop: {service[16] / loop_rate['FULL']:.2f}")
    loop_cpu = [l["cpu_us_per_removal"] for l in loops if l["synchronous"] == "FULL" and "cpu_us_per_removal" in l]
    for c in sorted(service):
        cpu = [r["cpu_us_per_removal"] for r in runs if r["c"] == c and "cpu_us_per_removal" in r]
        if cpu and loop_cpu:
            print(f"CPU per removal, service c={c} / FULL loop: {statistics.median(cpu):,.0f} / "
                  f"{statistics.median(loop_cpu):,.0f} µs = {statistics.median(cpu) / statistics.median(loop_cpu):.2f}")
    for c in sorted(service):
        groups = {}
        for r in runs:
            if r["c"] == c:
                for name, us in r.get("cpu_us_per_removal_by_thread", {}).items():
                    groups.setdefault(name, []).append(us)
        shown = sorted(((statistics.median(v), name) for name, v in groups.items()), reverse=True)
        if shown:
            print(f"CPU per removal by thread, c={c} (medians): "
                  + ", ".join(f"{name} {us:,.0f} µs" for us, name in shown if us >= 1))
    # At c=1 one request runs at a time, so time per removal is 1 / rate. What the service's
    # HTTP path costs on its own bounds the ratio any store could reach behind it.
    if floors and "FULL" in loop_rate and 1 in service:
        loop_us, service_us = 1e6 / loop_rate["FULL"], 1e6 / service[1]
        print(f"c=1 time per removal: service {service_us:,.0f} µs, FULL loop {loop_us:,.0f} µs: "
              f"the service adds {service_us - loop_us:,.0f} µs")
        for name in sorted({f["request"] for f in floors}):
            fs = [f for f in floors if f["request"] == name]
            each = statistics.median(1e6 / f["rate"] for f in fs)
            cpu = [f["cpu_us_per_request"] for f in fs if "cpu_us_per_request" in f]
            cpu_text = f", CPU {statistics.median(cpu):,.0f} µs" if cpu else ""
            print(f"c=1 floor, {name}: {each:,.0f} µs per request (p50 "
                  f"{statistics.median(f['p50_ms'] for f in fs):.3f} ms{cpu_text}); a removal that cost the "
                  f"loop's time plus only this would be {loop_us / (loop_us + each):.2f} of the loop")


# The writer thread's samples (perf script with call graphs), each by the part of a change
# it was spent in (the first of these frames on its stack, from the leaf up) ...
WRITER_PARTS = [
    ("BEGIN and COMMIT (the commit: WAL writes, fsync, checkpoints)", "sqlite3_exec"),
    ("load (3 selects: header, members, log)", "evo_sqlite::load"),
    ("write_change (the change's statements)", "evo_sqlite::write_change"),
    ("decide (restore the session, the rule, the event's JSON)", "evo_store_sql::change::decide"),
]
WRITER_REST = "the rest (the queue, the answer's oneshot and its wake)"
# ... and by the kind of code its leaf function is: SQLite's C functions (names from the
# amalgamation, in the service's own binary), the kernel, libc, or else Rust.
SQLITE_C = re.compile(
    r"^(sqlite3|pcache|wal|btree|vdbe|pager|unix|getPage|getAndInitPage|readDbPage|balance|"
    r"insertCell|moveTo|fillInCell|accessPayload|robust|yy|pageFind|allocate|clearCell|dropCell|"
    r"freePage|releasePage|mem[0-9A-Z]|column|valueFromExpr|page|cell|decodeFlags|zeroPage|"
    r"rebuild|defragment|editPage|computeCellSize|serialGet|checkpoint|getOverflow|copyPayload|"
    r"ptrmap|invalidate)")


def writer_split(removals):
    """Prints a Markdown table: µs per removal (under perf) by part and kind of code."""
    samples, stack = [], []
    for line in sys.stdin:
        if not line.strip():
            if stack:
                samples.append(stack)
            stack = []
        elif line[0] in " \t":
            frame = line.strip().split(" ", 1)
            stack.append(frame[1] if len(frame) > 1 else "?")
    if stack:
        samples.append(stack)
    kinds = ["kernel", "SQLite's C", "Rust", "libc"]
    cells = {}
    for stack in samples:
        leaf = stack[0]
        name = leaf.split(" (")[0]
        if "[kernel" in leaf:
            kind = "kernel"
        elif "libc.so" in leaf or "(inlined)" in leaf or "ld-linux" in leaf:
            kind = "libc"
        else:
            kind = "SQLite's C" if SQLITE_C.match(name) else "Rust"
        part = next((label for label, frame in WRITER_PARTS if any(frame in f for f in stack)), WRITER_REST)
        cells[(part, kind)] = cells.get((part, kind), 0) + 1
    if not samples or int(removals) <= 0:
        print(f"no writer samples to split ({len(samples)} samples, {removals} removals)")
        return
    # perf record -F 999: one sample per 1/999 s of the thread's CPU.
    us = 1e6 / 999 / int(removals)
    print(f"{len(samples)} samples of the writer thread over {int(removals):,} removals "
          "(µs per removal, under perf)\n")
    print("| part | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for part in [label for label, _ in WRITER_PARTS] + [WRITER_REST]:
        print(f"| {part} | " + " | ".join(f"{cells.get((part, k), 0) * us:.0f}" for k in kinds) + " |")
    totals = [sum(v for (p, k), v in cells.items() if k == kind) * us for kind in kinds]
    print("| **all** | " + " | ".join(f"**{t:.0f}**" for t in totals) + " |")


def main(argv):
    commands = {
        "sid": lambda i: print(sid(int(i))),
        "seed": seed,
        "counts": counts,
        "check": check,
        "compare": compare,
        "loop_rows": loop_rows,
        "record": record,
        "threads": threads,
        "floor": floor,
        "brief": brief,
        "table": table,
        "writer_split": writer_split,
    }
    if len(argv) < 2 or argv[1] not in commands:
        raise SystemExit(__doc__)
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
