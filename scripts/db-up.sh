#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use answers on 127.0.0.1:5432: starts the local
# cluster when it is down, installs PostgreSQL (Debian/Ubuntu) when it is missing.
# Does nothing when TEST_DATABASE_URL points at another host.
# Also installs PgBouncer (Debian's `pgbouncer`) when missing: the store's contract suite runs
# behind PgBouncer (crates/adapters/postgres/tests/repository_contract_behind_pgbouncer.rs),
# each test starting its own on a free port; the packaged service (port 6432) is not used.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "db-up: PgBouncer is not installed; installing it"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer
  # The tests never use the packaged service: stop it where the package started it.
  as_root service pgbouncer stop >/dev/null 2>&1 || true
fi

url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
case "$url" in
  *@127.0.0.1*|*@localhost*) ;;
  *) echo "db-up: TEST_DATABASE_URL is not local; leaving it alone"; exit 0 ;;
esac

answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if answers; then exit 0; fi

installed_now=false
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "db-up: PostgreSQL is not installed; installing it"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
  installed_now=true
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if $installed_now; then
  # A fresh install asks for a password on 127.0.0.1; the tests connect as postgres
  # without one, as on the development machines (trust on loopback only).
  hba=/etc/postgresql/$version/main/pg_hba.conf
  as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
fi
echo "db-up: starting PostgreSQL $version"
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  if answers; then echo "db-up: PostgreSQL answers on 127.0.0.1:5432"; exit 0; fi
  sleep 1
done
echo "db-up: PostgreSQL did not come up on 127.0.0.1:5432; see /var/log/postgresql/" >&2
exit 1
