#!/usr/bin/env python3
"""The SQLite side of bench/sqlite.sh (Python's own sqlite3 module, not the SQLite the
service links: the version is printed by `versions`).

  sqlite.py versions                       Python's SQLite version
  sqlite.py sid I                          session number I -> session ID
  sqlite.py seed DB SESSIONS               (re)seed SESSIONS Chat sessions x 8 members
  sqlite.py counts DB                      "members log versions" once they stop moving
  sqlite.py check DB SESSIONS              sessions failing members + removals = 8 etc.
  sqlite.py compare DB SID PROBE_SID       a seeded row against one the service wrote
  sqlite.py loop DB SYNC FIRST COUNT MAX_S OUT.json
                                           the store's removal transaction, COUNT times
  sqlite.py record JSONL KIND C RUN WRK_OUT BEFORE AFTER INCONSISTENT LOAD
  sqlite.py brief < lines                  one line per record, for the progress log
  sqlite.py table RESULTS_DIR              the Markdown table and the ratios

The rows are the ones evo-sqlite writes for a new incoming Chat session (as bench/sql/seed.sql
does for PostgreSQL): enums by wire name, booleans 0/1, JSON as text, times as text the way
diesel writes a chrono DateTime<Utc> to SQLite (`%F %T%.f%:z`: `2026-12-01 14:03:07.123+00:00`,
the fraction left out when it is .000), `compare` checks that against a row of the service.
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
ACCOUNTS = [f"acct-{a}" for a in range(10)]
ACTOR, ACTOR_NAME = "bench@example.com", "Bench User"
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


def parse_store_time(text):
    return datetime.fromisoformat(text)


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
    for table in ("session_log", "session_members", "sessions"):
        connection.execute(f"DELETE FROM {table}")
    # RESTART IDENTITY: position and seq start again at 1 (AUTOINCREMENT keeps them here).
    connection.execute("DELETE FROM sqlite_sequence WHERE name IN ('session_members', 'session_log')")
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
            phone = f"+1555{i:07d}"
            yield (sid(i), phone, phone, f"Customer {i}", 1, "Caller")
            for k in range(2, MEMBERS + 1):
                yield (sid(i), f"Agent{k}@Example.com", f"agent{k}@example.com", f"Agent {k}", 0, "Agent")

    connection.executemany(
        "INSERT INTO session_members (session_id, identity, identity_key, display_name, "
        "is_original_member, application_data, call_state, role, muted) "
        "VALUES (?, ?, ?, ?, ?, '{}', 'Connected', ?, 0)",
        members(),
    )
    connection.executemany(
        "INSERT INTO session_log (session_id, date, message) VALUES (?, ?, 'Bench Seed started the session')",
        ((sid(i), t) for i in range(sessions)),
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
        "(SELECT coalesce(sum(version), 0) FROM sessions)"
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
    the original member still there. Prints how many fail (0 is the only good answer)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    bad = connection.execute(
        """
        SELECT count(*) FROM sessions s
        WHERE (SELECT count(*) FROM session_members m WHERE m.session_id = s.id) + s.version <> ?
           OR (SELECT count(*) FROM session_log l WHERE l.session_id = s.id) <> 1 + s.version
           OR NOT EXISTS (SELECT 1 FROM session_members m
                          WHERE m.session_id = s.id AND m.is_original_member = 1)
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
    member_columns = [c.strip() for c in MEMBER_COLUMNS.split(",")]
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
        ("session_log", ["date", "message"], "session_id = ?", "seq"),
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


def loop(db, synchronous, first, count, max_seconds, out):
    """The store's removal (evo-sqlite change_session for DeleteChatMember), COUNT times on
    distinct sessions FIRST.., one connection: BEGIN IMMEDIATE; header (with the account
    filter), members, log; UPDATE the header (guarded by the version read); DELETE the
    member; INSERT the log entry; COMMIT."""
    first, count, max_seconds = int(first), int(count), float(max_seconds)
    connection = connect(db, synchronous)
    mode = connection.execute("PRAGMA synchronous").fetchone()[0]
    journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    expected = {"FULL": 2, "NORMAL": 1}[synchronous]
    if mode != expected or journal != "wal":
        raise SystemExit(f"synchronous={mode} journal_mode={journal}, asked {synchronous} in WAL")
    marks = ", ".join("?" * len(ACCOUNTS))
    header_sql = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ? AND account_id IN ({marks})"
    members_sql = f"SELECT {MEMBER_COLUMNS} FROM session_members WHERE session_id = ? ORDER BY position"
    log_sql = "SELECT date, message FROM session_log WHERE session_id = ? ORDER BY seq"
    update_sql = (
        "UPDATE sessions SET date_last_modified = ?, last_modified_by = ?, ended = ?, "
        "date_completed = ?, call_state = ?, version = version + 1 WHERE id = ? AND version = ?"
    )
    delete_sql = "DELETE FROM session_members WHERE session_id = ? AND identity_key = ?"
    insert_sql = "INSERT INTO session_log (session_id, date, message) VALUES (?, ?, ?)"
    key, label = "agent5@example.com", "Agent 5"
    latencies = []
    started = time.perf_counter()
    deadline = started + max_seconds
    done = 0
    for i in range(first, first + count):
        if time.perf_counter() > deadline:
            break
        s = sid(i)
        t0 = time.perf_counter_ns()
        connection.execute("BEGIN IMMEDIATE")
        header = connection.execute(header_sql, (s, *ACCOUNTS)).fetchone()
        members = connection.execute(members_sql, (s,)).fetchall()
        log = connection.execute(log_sql, (s,)).fetchall()
        if header is None or not any(m[1] == key for m in members) or not log:
            connection.execute("ROLLBACK")
            raise SystemExit(f"session {i} ({s}): not seeded as expected")
        last_modified = parse_store_time(header[37])
        now = datetime.now(timezone.utc)
        now = max(now.replace(microsecond=now.microsecond // 1000 * 1000), last_modified)
        changed_at = store_time(now)
        updated = connection.execute(update_sql, (changed_at, ACTOR, 0, None, "Connected", s, header[39]))
        if updated.rowcount != 1:
            connection.execute("ROLLBACK")
            raise SystemExit(f"session {i} ({s}): the version guard matched {updated.rowcount} rows")
        connection.execute(delete_sql, (s, key))
        connection.execute(insert_sql, (s, changed_at, f"{ACTOR_NAME} removed {label} from the chat"))
        connection.execute("COMMIT")
        latencies.append(time.perf_counter_ns() - t0)
        done += 1
    seconds = time.perf_counter() - started
    connection.close()
    latencies.sort()
    result = {
        "synchronous": synchronous,
        "removals": done,
        "asked": count,
        "seconds": seconds,
        "rate": done / seconds,
        "p50_ms": percentile(latencies, 50) / 1e6,
        "p99_ms": percentile(latencies, 99) / 1e6,
        "time_bounded": done < count,
        "sqlite": sqlite3.sqlite_version,
    }
    Path(out).write_text(json.dumps(result) + "\n")
    print(f"synchronous={synchronous}: {done} removals in {seconds:.2f} s = {result['rate']:,.0f}/s, "
          f"p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms"
          + (" (stopped by the time bound)" if done < count else ""))


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


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


def record(jsonl, kind, c, run, wrk_out, before, after, inconsistent, load):
    line = {"kind": kind, "c": int(c), "run": int(run), "load": float(load), "inconsistent": int(inconsistent)}
    line.update(parse_wrk(wrk_out))
    b, a = [list(map(int, x.split())) for x in (before, after)]
    line["removed_members"] = b[0] - a[0]
    line["added_log"] = a[1] - b[1]
    line["added_versions"] = a[2] - b[2]
    with open(jsonl, "a") as f:
        f.write(json.dumps(line) + "\n")


def rows_vs_200s(r):
    deltas = {r["removed_members"], r["added_log"], r["added_versions"]}
    if len(deltas) != 1:
        return f"MISMATCH members {r['removed_members']} log {r['added_log']} versions {r['added_versions']}"
    extra = deltas.pop() - r["ok"]
    if extra == 0:
        return "exact"
    if 0 < extra <= r["c"]:
        return f"exact+{extra} cut off in flight"
    return f"MISMATCH: {extra:+d} against the 200s"


def brief():
    for raw in sys.stdin:
        r = json.loads(raw)
        print(f"  c={r['c']} run {r['run']}: {r['rate']:,.0f} removals/s, p50 {r['p50_ms']:.2f} ms, "
              f"p99 {r['p99_ms']:.2f} ms, non-2xx {r['non2xx']}, socket errors {r['socket_errors']}, "
              f"rows: {rows_vs_200s(r)}, inconsistent sessions {r['inconsistent']}")


def spread(values, fmt):
    values = sorted(values)
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(values[0])}–{fmt.format(values[-1])})"


def table(results):
    results = Path(results)
    runs = [json.loads(l) for l in (results / "runs.jsonl").read_text().splitlines() if l.strip()]
    loops = [json.loads(p.read_text()) for p in sorted(results.glob("loop-*.json"))]
    print("| measurement | c | removals/s | p50 ms | p99 ms | non-2xx / socket errors | DB rows vs 200s |")
    print("|---|---:|---:|---:|---:|---:|---|")
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
              f"| {errors} / {sockets} | {checks} |")
    loop_rate = {}
    for mode in ("FULL", "NORMAL"):
        ls = [l for l in loops if l["synchronous"] == mode]
        if not ls:
            continue
        loop_rate[mode] = statistics.median(l["rate"] for l in ls)
        bounded = " (time-bounded)" if any(l["time_bounded"] for l in ls) else ""
        print(f"| bare loop, store's transaction, synchronous={mode} (Python sqlite3 {ls[0]['sqlite']}, "
              f"{ls[0]['asked']} removals{bounded}) | 1 | {spread([l['rate'] for l in ls], '{:,.0f}')} "
              f"| {spread([l['p50_ms'] for l in ls], '{:.3f}')} | {spread([l['p99_ms'] for l in ls], '{:.3f}')} "
              f"| – | – |")
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


def main(argv):
    commands = {
        "versions": lambda: print(sqlite3.sqlite_version),
        "sid": lambda i: print(sid(int(i))),
        "seed": seed,
        "counts": counts,
        "check": check,
        "compare": compare,
        "loop": loop,
        "record": record,
        "brief": brief,
        "table": table,
    }
    if len(argv) < 2 or argv[1] not in commands:
        raise SystemExit(__doc__)
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
