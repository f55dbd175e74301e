#!/usr/bin/env python3
"""What idle live streams cost (docs/reliability.md, "Live streams").

Starts the release binary on a fresh SQLite database, reads its VmRSS, opens N idle
`GET /events` streams (raw sockets, each reading its 200 and headers) and one stream of a
single session, reads VmRSS again, makes one change, and prints: the memory per open stream,
how long the change took to reach the watched session's stream (from sending the DELETE),
how long it took to reach all N, and how many store reads the streams made for it
(`evo_stream_store_reads_total`: one instance reader, no per-stream read).
Usage: bench/streams.py [N] (default 2000); BENCH_DATABASE_URL=postgres://... for
PostgreSQL (an empty database: it is migrated). Needs the binary built with
`cargo build --release -p evo-server`.
"""
import json, os, re, resource, shutil, socket, subprocess, sys, tempfile, time, urllib.request

from service import free_port, mint_token, wait_until_ready

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
target = os.environ.get("CARGO_TARGET_DIR", "target")
binary = os.path.join(target, "release", "evo-sessions")
secret = "streams-bench-secret-0123456789abcdef"
work = tempfile.mkdtemp(prefix="evo-streams-")
env = {"PATH": os.environ["PATH"], "EVO_JWT_SECRET": secret, "EVO_LOG": "error",
       "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite://{work}/evo.db"),
       "EVO_RATE_LIMIT_PER_SEC": "0", "EVO_READ_RATE_LIMIT_PER_SEC": "0",
       "EVO_STREAMS_PER_CALLER": str(N + 10), "EVO_STREAMS_MAX": str(N + 10)}
# Two sockets a stream (ours and the server's), in one process each.
resource.setrlimit(resource.RLIMIT_NOFILE, (N + 1024, max(N + 1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

port = free_port()
token = mint_token(binary, env, work, "acme")
server = subprocess.Popen([binary, "serve"], env={**env, "EVO_BIND": f"127.0.0.1:{port}"}, cwd=work,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base)
    def call(method, path, body=None):
        request = urllib.request.Request(base + path, method=method,
                                         data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(request, timeout=10))
    session = call("POST", "/sessions", {"accountId": "acme", "members": [{"identity": "+15550001111"}, {"identity": "bob@example.com"}]})
    time.sleep(1)
    before = rss_kib(server.pid)
    streams = []
    for i in range(N):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        streams.append(s)
    opened = 0
    for s in streams:
        s.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        opened += head.startswith(b"HTTP/1.1 200")
    watched = socket.create_connection(("127.0.0.1", port))
    watched.sendall(f"GET /sessions/{session['id']}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    watched.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += watched.recv(4096)
    time.sleep(2)
    after = rss_kib(server.pid)
    def reads():
        text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
        return {by: float(value) for by, value in re.findall(r'evo_stream_store_reads_total\{by="(\w+)"\} (\S+)', text)}
    reads_before = reads()
    changed = time.time()
    call("DELETE", f"/sessions/{session['id']}/members/bob@example.com")
    data = b""
    while b"ChatMemberRemoved" not in data:
        data += watched.recv(65536)
    to_watched = time.time() - changed
    reached = 0
    for s in streams:
        s.settimeout(10)
        data = b""
        while b"ChatMemberRemoved" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        reached += b"ChatMemberRemoved" in data
    spread = time.time() - changed
    time.sleep(1)
    reads_after = reads()
    per_stream = (after - before) / max(opened + 1, 1)
    delta = {by: reads_after.get(by, 0) - reads_before.get(by, 0) for by in ("reader", "replay")}
    print(f"streams opened: {opened}/{N} (+1 watched); VmRSS {before} KiB -> {after} KiB; "
          f"{per_stream:.1f} KiB per open stream; one change reached the watched stream in "
          f"{to_watched * 1000:.1f} ms and {reached}/{opened} streams in {spread:.2f} s; "
          f"store reads for it: {delta['reader']:.0f} by the instance's reader, {delta['replay']:.0f} by streams")
    for s in streams:
        s.close()
finally:
    server.terminate()
    server.wait(timeout=40)
    shutil.rmtree(work, ignore_errors=True)
