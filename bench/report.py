#!/usr/bin/env python3
"""Parses the raw outputs of bench/run.sh and prints the table.

  report.py record RUNS_JSONL DESIGN C RUN SESSIONS OUTPUT BEFORE AFTER INCONSISTENT LOAD
                   WAL_BEFORE WAL_AFTER
      parse one run (wrk or pgbench output; pgbench per-transaction logs next to it) and
      append one JSON line with the figures and the database row deltas
  report.py brief < lines     one line per run, for the progress log
  report.py table RESULTS_DIR the Markdown table, ratios and targets of a results folder
  report.py profile RESULTS_DIR  the per-phase CPU of the service from perf (profile.md)
"""

import glob
import json
import re
import statistics
import sys
from pathlib import Path

DESIGNS = {
    "service": "(1) service over HTTP (wrk)",
    "keyed": "(1k) service, each removal with an Idempotency-Key (wrk)",
    "store": "(1s) the service's store in-process, no HTTP (store_loop)",
    "adapter": "(2) adapter's SQL, 2 round trips (pgbench)",
    "onetrip": "(3) same removal, 1 round trip (pgbench)",
    "lean": "(4) lean schema, 1 round trip + event (pgbench)",
}


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def parse_wrk(text):
    line = next((l for l in text.splitlines() if l.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit("no WRK_JSON line in the wrk output:\n" + text[-2000:])
    w = json.loads(line[len("WRK_JSON "):])
    seconds = w["duration_us"] / 1e6
    return {
        "rate": w["ok"] / seconds,
        "ok": w["ok"],
        "completed": w["requests"],
        "issued": w["issued"],
        "errors": w["non2xx"] + w["socket_errors"],
        "non2xx": w["non2xx"],
        "statuses": w["statuses"],
        "socket_errors": w["socket_errors"],
        "exhausted": w["exhausted"],
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "max_ms": w["max_us"] / 1000,
        "seconds": seconds,
    }


def parse_pgbench(text, output_path):
    def grab(pattern, cast=float, default=None):
        m = re.search(pattern, text, re.M)
        return cast(m.group(1)) if m else default

    processed = grab(r"number of transactions actually processed: (\d+)", int, 0)
    failed = grab(r"number of failed transactions: (\d+)", int, 0)
    aborted = len(re.findall(r"aborted", text))
    tps = grab(r"^tps = ([\d.]+)", float, 0.0)
    log_prefix = output_path.parent / "pgbench-logs" / output_path.stem
    latencies = []
    for f in glob.glob(str(log_prefix) + ".*"):
        with open(f) as lines:
            latencies.extend(int(l.split()[2]) for l in lines if l.strip())
    latencies.sort()
    return {
        "rate": tps,
        "ok": processed,
        "completed": processed,
        "issued": processed,
        "errors": failed + aborted,
        "aborted_lines": aborted,
        "p50_ms": (percentile(latencies, 50) or 0) / 1000,
        "p99_ms": (percentile(latencies, 99) or 0) / 1000,
        "max_ms": (latencies[-1] if latencies else 0) / 1000,
        "latency_samples": len(latencies),
    }


def record(args):
    jsonl, design, c, run, sessions, output, before, after, inconsistent, load, wal0, wal1 = args
    output = Path(output)
    text = output.read_text(errors="replace")
    # The store loop prints the WRK_JSON line of bench/wrk/summary.lua too.
    figures = parse_wrk(text) if design in ("service", "keyed", "store") else parse_pgbench(text, output)
    b = [int(x) for x in before.split()]
    a = [int(x) for x in after.split()]
    db = {"members_removed": b[0] - a[0], "log_added": a[1] - b[1], "versions_added": a[2] - b[2]}
    # The database must show exactly one removal per 200 (per pgbench transaction). For wrk,
    # requests still in flight when its deadline cut the connections may have committed
    # without their answer being counted: they are reported apart, never hidden.
    in_flight = figures["issued"] - figures["completed"]
    same = db["members_removed"] == db["log_added"] == db["versions_added"]
    if same and db["members_removed"] == figures["ok"]:
        verdict = "exact"
    elif same and 0 <= db["members_removed"] - figures["ok"] <= in_flight:
        verdict = f"exact+{db['members_removed'] - figures['ok']} cut off in flight"
    else:
        verdict = "MISMATCH"
    cpu_file = output.with_name(output.stem + ".cpu.json")
    cpu = {}
    if cpu_file.exists():
        c_json = json.loads(cpu_file.read_text())
        removals = max(1, db["members_removed"])
        cpu = {group: round(seconds * 1e6 / removals, 1) for group, seconds in c_json["cpu_s"].items()}
        ours = sum(v for k, v in c_json["cpu_s"].items() if k not in ("other", "postgres other-db"))
        cpu["machine busy"] = round(c_json["machine_busy_s"] * 1e6 / removals, 1)
        cpu["not ours"] = round((c_json["machine_busy_s"] - ours) * 1e6 / removals, 1)
        cpu["cores busy"] = round(c_json["machine_busy_s"] / c_json["seconds"], 2)
        cpu["cores busy, ours"] = round(ours / c_json["seconds"], 2)
    if int(inconsistent) != 0:
        verdict += f", {inconsistent} INCONSISTENT sessions"
    entry = {
        "design": design, "c": int(c), "run": int(run), "sessions": int(sessions),
        **figures, "db": db, "in_flight_at_end": in_flight, "db_check": verdict,
        "inconsistent_sessions": int(inconsistent), "load1": float(load), "output": output.name,
        "cpu_us_per_removal": cpu,
        "wal_kb_per_removal": round((int(float(wal1.split()[0])) - int(float(wal0.split()[0])))
                                    / 1024 / max(1, db["members_removed"]), 2),
        "fpi_per_removal": round((int(wal1.split()[1]) - int(wal0.split()[1])) / max(1, db["members_removed"]), 2),
        # Blocks of the bench database read from outside shared_buffers, and found in it.
        **({"blocks_read_per_removal": round((int(wal1.split()[2]) - int(wal0.split()[2])) / max(1, db["members_removed"]), 2),
            "blocks_hit_per_removal": round((int(wal1.split()[3]) - int(wal0.split()[3])) / max(1, db["members_removed"]), 1)}
           if len(wal1.split()) >= 4 else {}),
    }
    with open(jsonl, "a") as f:
        f.write(json.dumps(entry) + "\n")


def brief_line(e):
    return (f"  {e['design']:8} n={e['sessions']:<6} c={e['c']:<2} run {e['run']}: "
            f"{e['rate']:8.0f}/s  p50 {e['p50_ms']:6.2f} ms  p99 {e['p99_ms']:6.2f} ms  "
            f"errors {e['errors']}  db {e['db_check']}  load {e['load1']}  "
            f"WAL {e.get('wal_kb_per_removal', '?')} KB ({e.get('fpi_per_removal', '?')} FPI)")


def med_key(runs, name):
    values = [r[name] for r in runs if name in r]
    return statistics.median(values) if values else float("nan")


def fmt_spread(values, digits=0):
    med = statistics.median(values)
    f = f"{{:,.{digits}f}}"
    if len(values) == 1:
        return f.format(med)
    return f"{f.format(med)} ({f.format(min(values))}–{f.format(max(values))})"


def table(results_dir):
    results_dir = Path(results_dir)
    entries = [json.loads(l) for l in open(results_dir / "runs.jsonl") if l.strip()]
    machine = (results_dir / "machine.txt").read_text() if (results_dir / "machine.txt").exists() else ""
    base_sessions = min((e["sessions"] for e in entries), default=0)
    out = []
    out.append(f"Results {results_dir.name}: median (min–max) of {max((e['run'] for e in entries), default=0)} runs")
    out.append("")
    out.append("| measurement | c | removals/s | p50 ms | p99 ms | non-2xx / errors | DB rows vs 200s |")
    out.append("|---|---:|---:|---:|---:|---:|---|")
    medians = {}
    groups = {}
    for e in entries:
        groups.setdefault((e["sessions"], e["design"], e["c"]), []).append(e)
    order = sorted(groups, key=lambda k: (k[0] != base_sessions, list(DESIGNS).index(k[1]), k[2]))
    for key in order:
        sessions, design, c = key
        runs = groups[key]
        medians[key] = statistics.median(r["rate"] for r in runs)
        label = DESIGNS[design] + ("" if sessions == base_sessions else f", {sessions:,} sessions")
        checks = sorted({r["db_check"] for r in runs})
        out.append(
            f"| {label} | {c} | {fmt_spread([r['rate'] for r in runs])} "
            f"| {fmt_spread([r['p50_ms'] for r in runs], 2)} | {fmt_spread([r['p99_ms'] for r in runs], 2)} "
            f"| {sum(r['errors'] for r in runs)} | {'; '.join(checks)} |")
    out.append("")
    out.append("CPU per removal in µs (median of runs; from /proc, bench/cpu.py). \"not ours\": "
               "other processes on the shared machine (compilers, other tests) during the run.")
    out.append("")
    out.append("| measurement | c | load generator | evo-sessions | postgres backends | postgres aux | "
               "ours, total | not ours | cores busy (ours / all) | removals per CPU-second, ours "
               "| WAL KB (full-page images) per removal |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    per_cpu = {}
    for key in order:
        sessions, design, c = key
        runs = [r for r in groups[key] if r.get("cpu_us_per_removal")]
        if not runs:
            continue

        def med(name):
            return statistics.median(r["cpu_us_per_removal"].get(name, 0.0) for r in runs)

        # The store loop is its own load: its CPU goes in the service's column.
        loadgen = {"service": med("wrk"), "keyed": med("wrk"), "store": 0.0}.get(design, med("pgbench"))
        service = med("store loop") if design == "store" else med("evo-sessions")
        backends, aux = med("postgres evo_bench"), med("postgres aux")
        total = loadgen + service + backends + aux
        label = DESIGNS[design].split(" (")[0] + ("" if sessions == base_sessions else f", {sessions:,}")
        per_cpu[key] = 1e6 / total if total else 0
        out.append(f"| {label} | {c} | {loadgen:.0f} | {service:.0f} | {backends:.0f} | {aux:.0f} "
                   f"| {total:.0f} | {med('not ours'):.0f} | {med('cores busy, ours'):.2f} / {med('cores busy'):.2f} "
                   f"| {per_cpu[key]:,.0f} | {med_key(runs, 'wal_kb_per_removal'):.1f} "
                   f"({med_key(runs, 'fpi_per_removal'):.2f}) |")
    out.append("")
    for memory_file in ("service-memory.txt", "service-memory-after-scale.txt"):
        p = results_dir / memory_file
        if p.exists():
            fields = dict(l.split(":", 1) for l in p.read_text().splitlines() if ":" in l)
            hwm = fields.get("VmHWM", "?").strip()
            when = "after the 40 000-session runs" if memory_file == "service-memory.txt" else "after the scale check"
            out.append(f"Service peak RSS (VmHWM) {when}: {hwm}"
                       + (f" ({int(hwm.split()[0]) / 1024:.1f} MiB)" if hwm.split()[0].isdigit() else ""))
    out.append("")
    out.append("Ratios (medians):")
    for c in sorted({k[2] for k in medians}):
        s = medians.get((base_sessions, "service", c))
        a = medians.get((base_sessions, "adapter", c))
        o = medians.get((base_sessions, "onetrip", c))
        if s and a and o:
            out.append(f"- c={c}: (1)/(2) = {s / a:.2f}, (1)/(3) = {s / o:.2f}, (2)/(3) = {a / o:.2f}")
        lean = medians.get((base_sessions, "lean", c))
        if s and lean:
            out.append(f"- c={c}: against the lean ceiling (1)/(4) = {s / lean:.2f}"
                       + (f", (3)/(4) = {o / lean:.2f}" if o else ""))
        k = medians.get((base_sessions, "keyed", c))
        if s and k:
            out.append(f"- c={c}: with an Idempotency-Key (1k)/(1) = {k / s:.2f}")
        ps, pa, po = (per_cpu.get((base_sessions, d, c)) for d in ("service", "adapter", "onetrip"))
        if ps and pa and po:
            out.append(f"  - per CPU-second of our processes (load generator included; robust to the "
                       f"machine's other load): (1)/(2) = {ps / pa:.2f}, (1)/(3) = {ps / po:.2f}")
    scaled = [k for k in medians if k[0] != base_sessions and k[1] == "service"]
    scaled_ceilings = [k for k in medians if k[0] != base_sessions and k[1] != "service"]
    out.append("")
    out.append("Targets (measured, this run; the ceiling is (4), the lean schema):")
    s16 = groups.get((base_sessions, "service", 16), [])
    s1 = groups.get((base_sessions, "service", 1), [])
    l16 = groups.get((base_sessions, "lean", 16), [])
    l1 = groups.get((base_sessions, "lean", 1), [])
    verdict = lambda ok: "met" if ok else "NOT met"
    med = lambda rows, f: statistics.median(f(x) for x in rows)
    cpu = lambda party: (lambda x: x["cpu_us_per_removal"].get(party, 0))
    if s16 and l16:
        r = medians[(base_sessions, "service", 16)] / medians[(base_sessions, "lean", 16)]
        out.append(f"- c=16 service >= 0.65 x (4): {r:.2f} -> {verdict(r >= 0.65)}")
        sp, lp = med(s16, cpu("postgres evo_bench")), med(l16, cpu("postgres evo_bench"))
        out.append(f"- PostgreSQL backend CPU per removal <= 1.1 x (4)'s: {sp:.0f} vs {lp:.0f} us = "
                   f"{sp / lp:.2f} x -> {verdict(sp <= 1.1 * lp)}")
        p99, lp99 = med(s16, lambda x: x["p99_ms"]), med(l16, lambda x: x["p99_ms"])
        out.append(f"- c=16 p99 <= 1.3 x (4)'s: {p99:.2f} vs {lp99:.2f} ms = {p99 / lp99:.2f} x -> "
                   f"{verdict(p99 <= 1.3 * lp99)}")
    if s16:
        us = med(s16, cpu("evo-sessions"))
        out.append(f"- service CPU per removal <= 120 us (c=16): {us:.0f} us -> {verdict(us <= 120)}")
        st16 = groups.get((base_sessions, "store", 16), [])
        if st16:
            floor = med(st16, cpu("store loop"))
            out.append(f"  - of which the store path alone (1s, no HTTP) costs {floor:.0f} us, and HTTP, the "
                       f"token and the answer the other {us - floor:.0f} us")
    if s1 and l1:
        p50, lp50 = med(s1, lambda x: x["p50_ms"]), med(l1, lambda x: x["p50_ms"])
        out.append(f"- c=1 p50 <= (4)'s + 0.2 ms: {p50:.2f} vs {lp50:.2f} ms -> {verdict(p50 <= lp50 + 0.2)}")
    for k in scaled:
        base = medians.get((base_sessions, "service", k[2]))
        if base:
            change = (medians[k] / base - 1) * 100
            out.append(f"- c={k[2]} throughput at {k[0]:,} sessions within 5 % of {base_sessions:,}: "
                       f"{change:+.1f} % -> {verdict(change >= -5)}")
    for k in scaled_ceilings:
        base = medians.get((base_sessions, k[1], k[2]))
        if base:
            out.append(f"  - for comparison, {DESIGNS[k[1]].split(' (pgbench')[0]} at {k[0]:,} sessions: "
                       f"{(medians[k] / base - 1) * 100:+.1f} % of its {base_sessions:,}-session figure")
    for k in sorted(k for k in groups if k[0] != base_sessions):
        runs = groups[k]
        base_runs = groups.get((base_sessions, k[1], k[2]), [])
        if base_runs and "blocks_read_per_removal" in runs[0] and "blocks_read_per_removal" in base_runs[0]:
            out.append(f"  - blocks read from outside shared_buffers per removal, {k[1]}: "
                       f"{med_key(base_runs, 'blocks_read_per_removal'):.2f} at {base_sessions:,} sessions, "
                       f"{med_key(runs, 'blocks_read_per_removal'):.2f} at {k[0]:,}")
    errs = sum(x["errors"] for x in s16 + s1)
    out.append(f"- no errors: {errs} non-2xx / socket errors -> {verdict(errs == 0)}")
    p = results_dir / "service-memory.txt"
    if p.exists():
        m = re.search(r"VmHWM: (\d+) kB", p.read_text())
        if m:
            mib = int(m.group(1)) / 1024
            out.append(f"- peak RSS <= 32 MiB: {mib:.1f} MiB -> {verdict(mib <= 32)}")
    if (results_dir / "profile.md").exists():
        out.append("")
        out.append("Where the service's CPU goes (perf, one extra c=16 run):")
        out.append("")
        out.append((results_dir / "profile.md").read_text())
    out.append("")
    out.append("Machine:")
    out.extend("    " + l for l in machine.splitlines())
    return "\n".join(out)


def profile(results_dir):
    """Phases of the service's CPU (bench/profile.py over perf-report.txt), in µs per removal
    using the median service CPU per removal of the c=16 runs, plus syscalls and context
    switches per removal from perf stat."""
    import subprocess
    results_dir = Path(results_dir)
    entries = [json.loads(l) for l in open(results_dir / "runs.jsonl") if l.strip()]
    base = min(e["sessions"] for e in entries)
    c16 = [e for e in entries if e["design"] == "service" and e["c"] == 16 and e["sessions"] == base]
    us = statistics.median(e["cpu_us_per_removal"].get("evo-sessions", 0) for e in c16) if c16 else 0
    out = [f"Service CPU per removal at c=16 (median of the measured runs): {us:.0f} µs", ""]
    table = subprocess.run([sys.executable, str(Path(__file__).with_name("profile.py")), str(us)],
                           stdin=open(results_dir / "perf-report.txt"), capture_output=True, text=True)
    out.append(table.stdout)
    stat = (results_dir / "perf-stat.txt").read_text() if (results_dir / "perf-stat.txt").exists() else ""
    wrk_text = (results_dir / "profile-stat-wrk.txt").read_text() if (results_dir / "profile-stat-wrk.txt").exists() else ""
    if stat and "WRK_JSON" in wrk_text:
        ok = parse_wrk(wrk_text)["ok"]
        def counter(name):
            m = re.search(r"([\d,.]+)\s+(?:msec\s+)?" + re.escape(name), stat)
            return float(m.group(1).replace(",", "")) if m else 0.0
        out.append(f"perf stat over a c=16 run of {ok} removals: "
                   f"{counter('raw_syscalls:sys_enter') / max(ok, 1):.1f} syscalls, "
                   f"{counter('context-switches') / max(ok, 1):.1f} context switches and "
                   f"{counter('task-clock') * 1000 / max(ok, 1):.0f} µs of CPU per removal.")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    command = sys.argv[1]
    if command == "record":
        record(sys.argv[2:])
    elif command == "brief":
        for line in sys.stdin:
            if line.strip():
                print(brief_line(json.loads(line)))
    elif command == "table":
        print(table(sys.argv[2]))
    elif command == "profile":
        print(profile(sys.argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
