#!/usr/bin/env python3
"""CPU time spent by each party during a measured run, from /proc (Linux).

  cpu.py OUT.json SERVICE_PID   samples until SIGTERM / SIGINT, then writes OUT.json

Every 0.2 s it reads utime + stime of every process and keeps, per PID, the first and the
last value seen, so processes that start during the run (pgbench's backends) count fully
and processes that exit lose at most one interval. Groups:
  evo-sessions (the benchmarked service, SERVICE_PID only: other evo-sessions processes,
  such as other people's test runs, count as "other"), wrk, pgbench, "store loop" (design
  (1s), crates/server/examples/store_loop.rs), "postgres evo_bench" (backends of the bench database),
  "postgres other-db" (backends of other databases: other people's tests),
  "postgres aux" (WAL writer, checkpointer, ...: shared work, mostly ours), other.
Also the machine's busy time from /proc/stat, so "other" (compilers running beside the
benchmark on a shared machine) is visible in every run's record.
"""

import json
import re
import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
ME = os.getpid()
BACKEND = re.compile(r"^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\]) ")


def group_of(pid, service_pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return None
    if pid == service_pid:  # whatever its name (BENCH_BIN may be a renamed copy)
        return "evo-sessions"
    if comm == "evo-sessions":
        return "other"
    if comm in ("wrk", "pgbench"):
        return comm
    if comm == "store_loop":  # design (1s): the service's store driven without HTTP
        return "store loop"
    if comm == "postgres" or cmd.startswith("postgres"):
        # A backend's title: "postgres: [cluster: ]<user> <database> <client> <state>".
        backend = BACKEND.match(cmd)
        if backend is None:
            return "postgres aux"
        return "postgres evo_bench" if backend.group(1) == "evo_bench" else "postgres other-db"
    return "other"


def cpu_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def machine_busy():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def main():
    out, service_pid = sys.argv[1], int(sys.argv[2])
    first, last, groups = {}, {}, {}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    started, busy0 = time.monotonic(), machine_busy()
    initial = True
    while True:
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == ME:
                continue
            pid = int(name)
            cpu = cpu_of(pid)
            if cpu is None:
                continue
            if pid not in first or groups[pid] == "postgres aux":
                # A fresh backend shows the postmaster's command line until it sets its
                # title: classify postgres processes again until they look like a backend.
                group = group_of(pid, service_pid)
                if group is None:
                    continue
                groups[pid] = group
            if pid not in first:
                # A process born during the run counts from zero.
                first[pid] = cpu if initial else 0.0
            last[pid] = cpu
        if initial:
            open(out + ".ready", "w").close()
        initial = False
        if stop:
            break
        time.sleep(0.2)
    totals = {}
    for pid, group in groups.items():
        totals[group] = totals.get(group, 0.0) + max(0.0, last[pid] - first[pid])
    result = {
        "seconds": round(time.monotonic() - started, 3),
        "machine_busy_s": round(machine_busy() - busy0, 3),
        "cores": os.cpu_count(),
        "cpu_s": {k: round(v, 3) for k, v in sorted(totals.items())},
    }
    with open(out, "w") as f:
        json.dump(result, f)
    os.unlink(out + ".ready")


if __name__ == "__main__":
    main()
