#!/usr/bin/env bash
# Runs every test of the workspace. The stores' tests need PostgreSQL, so this first makes
# sure it answers (starting or installing it), then runs `cargo test --workspace`, then
# ServiceStack's own clients and tools against the binary (scripts/clients.sh: npm and PyPI
# packages into a cache outside the clone, Debian's Chromium when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/db-up.sh
cargo test --workspace --locked "$@"
scripts/clients.sh
