#!/usr/bin/env bash
# Runs every test of the workspace. The stores' tests need PostgreSQL, so this first makes
# sure it answers (starting or installing it), then runs `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/db-up.sh
cargo test --workspace --locked "$@"
