"""What the Python benchmarks share to drive the built binary: a free loopback port, a
token minted by the binary itself, and waiting until the service is ready."""
import socket, subprocess, time, urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mint_token(binary, env, work, account):
    """A token for ann@example.com in `account`, signed with the service's own secret."""
    return subprocess.run([binary, "token", "--sub", "ann@example.com", "--account", account],
                          env=env, cwd=work, capture_output=True, text=True, check=True).stdout.strip()


def wait_until_ready(base, tries=300):
    """Asks `base`/health/ready every 0.1 s until it answers (30 s by default)."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(f"{base}/health/ready", timeout=1)
            return
        except Exception:
            time.sleep(0.1)
