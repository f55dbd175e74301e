# evo-sessions recipes. `just` alone lists them.

default:
    @just --list

# Run the service (embedded SQLite in ./data, no setup needed)
run *ARGS:
    cargo run --release -- {{ARGS}}

# Run every test (starts or installs PostgreSQL first)
test *ARGS:
    scripts/test.sh {{ARGS}}

# Lints as CI runs them
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

# Format the code
fmt:
    cargo fmt --all

# Start the local PostgreSQL, installing it when missing
db-up:
    scripts/db-up.sh

# Load demo sessions into the configured store and print a ready curl line
seed:
    cargo run --release -- seed

# Benchmark DeleteChatMember against the database's own ceiling (see docs/performance.md)
bench:
    bench/run.sh

# ListSessions, GetActiveSessions and RemoveChatMemberFromActiveSessions at 400 000 sessions on PostgreSQL, c=1 (see docs/performance.md)
bench-finding SESSIONS="400000":
    cargo build --release --locked -p evo-server --bin evo-sessions
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} python3 bench/finding.py {{SESSIONS}}

# ListSessions with one read replica against none: a primary and a hot standby of its own (see docs/performance.md)
bench-replicas SESSIONS="40000":
    cargo build --release --locked -p evo-server --bin evo-sessions
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} python3 bench/replicas.py {{SESSIONS}}

# EXPLAIN every statement the PostgreSQL store sends at 400 000 sessions; fails on a Seq Scan (see docs/performance.md)
explain:
    bench/explain.sh

# Benchmark DeleteChatMember on the embedded SQLite store, and synchronous=FULL against NORMAL (see docs/performance.md)
bench-sqlite *ARGS:
    bench/sqlite.sh {{ARGS}}

# What idle live streams cost: memory per stream, one store read per event (see docs/reliability.md)
bench-streams N="10000":
    cargo build --release --locked -p evo-server --bin evo-sessions
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} python3 bench/streams.py {{N}}

# One account's refused webhook backlog against another account's next event (see docs/reliability.md)
bench-fairness N="100000":
    cargo build --release --locked -p evo-server --bin evo-sessions
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} python3 bench/delivery_fairness.py {{N}}

# Everything CI runs
ci:
    .ci/run

# Fuzz each cargo-fuzz target for SECS seconds (stable Rust via RUSTC_BOOTSTRAP; see docs/reliability.md)
fuzz SECS="60":
    cargo fuzz --help >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    cd fuzz && for target in member_identity text_formats; do RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- -max_total_time={{SECS}} || exit 1; done

# Soak the service with a bounded mixed load for SECS seconds; reports errors and VmRSS
soak SECS="60":
    scripts/soak.sh {{SECS}}
