//! The command line: subcommands and the settings each may override from the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// evo-sessions: chat sessions of a cloud contact center, wire-compatible with the Evo Voice API.
///
/// With no configuration it serves on 127.0.0.1:8080 from an embedded SQLite database in
/// ./data, with a development JWT secret in data/jwt-secret. Every setting can come from
/// the environment variable named in its help, or from the flag.
#[derive(Debug, Parser)]
#[command(name = "evo-sessions", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations, then serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint a JWT with the configured HS256 secret and print it alone on standard output,
    /// so that `TOKEN=$(evo-sessions token --sub ann@example.com --account acme)` works.
    Token(TokenArgs),
    /// Load demo sessions (several accounts, Chat and Voice, phone and email members) and
    /// print their IDs with a ready curl line.
    Seed,
    /// Webhook deliveries.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Send every dead-lettered event back to delivery, with a fresh retry window; prints how
    /// many. A running instance picks them up within its poll interval.
    Redeliver,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user ID (`sub`), an email.
    #[arg(long, default_value = "dev@example.com")]
    pub sub: String,
    /// The name shown in session logs (defaults to the user ID).
    #[arg(long)]
    pub name: Option<String>,
    /// A role; repeat for several. Defaults to `User`.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// An account the caller may act on; repeat for several. Defaults to `demo`.
    #[arg(long = "account")]
    pub accounts: Vec<String>,
    /// How long the token is valid: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "1h", value_parser = parse_duration_secs)]
    pub ttl: u64,
}

/// Settings shared by every subcommand.
#[derive(Debug, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "EVO_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// `postgres://...` for PostgreSQL; `sqlite://PATH` or a file path for SQLite.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/evo-sessions.db",
        global = true
    )]
    pub database_url: String,
    /// Connections in the database pool, shared out between the HTTP workers [default: 4 x
    /// EVO_WORKERS].
    #[arg(long, env = "EVO_DB_POOL_SIZE", global = true)]
    pub db_pool_size: Option<usize>,
    /// How long a request waits for a pooled connection before answering 503, in milliseconds.
    #[arg(long, env = "EVO_DB_WAIT_TIMEOUT_MS", default_value_t = 2000, global = true)]
    pub db_wait_timeout_ms: u64,
    /// PostgreSQL statement timeout, in milliseconds.
    #[arg(long, env = "EVO_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000, global = true)]
    pub db_statement_timeout_ms: u64,
    /// Cache prepared statements per connection; turn off behind PgBouncer in transaction mode.
    #[arg(long, env = "EVO_DB_STATEMENT_CACHE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub db_statement_cache: bool,
    /// HS256 secret, at least 32 bytes [default on SQLite only: a random one in data/jwt-secret].
    #[arg(long, env = "EVO_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// `HS256`, `RS256` or `ES256`.
    #[arg(long, env = "EVO_JWT_ALGORITHM", default_value = "HS256", global = true)]
    pub jwt_algorithm: String,
    /// Path of a PEM public key, for RS256 and ES256.
    #[arg(long, env = "EVO_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,
    /// URL of a JWKS document with the RS256 or ES256 keys, chosen by `kid` (instead of
    /// EVO_JWT_PUBLIC_KEY); fetched at start-up, every 10 minutes and on an unknown `kid`.
    #[arg(long, env = "EVO_JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,
    /// Required `iss` claim (required setting with RS256 and ES256).
    #[arg(long, env = "EVO_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim (required setting with RS256 and ES256).
    #[arg(long, env = "EVO_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "EVO_LOG", default_value = "info", global = true)]
    pub log: String,
    /// `pretty` or `json`.
    #[arg(long, env = "EVO_LOG_FORMAT", default_value = "pretty", global = true)]
    pub log_format: String,
    /// HTTP worker threads [default: cores].
    #[arg(long, env = "EVO_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "EVO_SHUTDOWN_GRACE_SECS", default_value_t = 30, global = true)]
    pub shutdown_grace_secs: u64,
    /// Seconds after SIGTERM or SIGINT during which readiness answers 503 while requests are
    /// still served (so that a load balancer stops routing here first).
    #[arg(long, env = "EVO_SHUTDOWN_DRAIN_SECS", default_value_t = 5, global = true)]
    pub shutdown_drain_secs: u64,
    /// Browser origins allowed by CORS, comma-separated (none by default).
    #[arg(long, env = "EVO_CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,
    /// Changes (POST, DELETE) a second per caller and instance, bursts of twice that; 0 turns
    /// the limit off.
    #[arg(long, env = "EVO_RATE_LIMIT_PER_SEC", default_value_t = 100, global = true)]
    pub rate_limit_per_sec: u32,
    /// Reads (GET, stream opens included) a second per caller and instance, bursts of twice
    /// that; 0 turns the limit off. Operational routes are not counted.
    #[arg(long, env = "EVO_READ_RATE_LIMIT_PER_SEC", default_value_t = 1000, global = true)]
    pub read_rate_limit_per_sec: u32,
    /// The largest a session may grow, as its SessionInfo JSON (log and members included); a
    /// change past it answers 409 SessionLimitReached (ending a session is always allowed).
    #[arg(long, env = "EVO_SESSION_MAX_BYTES", default_value_t = 262_144, global = true)]
    pub session_max_bytes: usize,
    /// Live streams one caller may hold open on this instance.
    #[arg(long, env = "EVO_STREAMS_PER_CALLER", default_value_t = 8, global = true)]
    pub streams_per_caller: usize,
    /// Live streams this instance holds open, all callers together.
    #[arg(long, env = "EVO_STREAMS_MAX", default_value_t = 10_000, global = true)]
    pub streams_max: usize,
    /// Seconds the answer of a request with an Idempotency-Key is kept (and replayed to its
    /// retries); expired answers are purged in the background.
    #[arg(long, env = "EVO_IDEMPOTENCY_TTL_SECS", default_value_t = 86_400, global = true)]
    pub idempotency_ttl_secs: u64,
    /// Where every event is POSTed, signed (Standard Webhooks); needs EVO_WEBHOOK_SECRET.
    #[arg(long, env = "EVO_WEBHOOK_URL", global = true)]
    pub webhook_url: Option<String>,
    /// The signing key of webhooks and the pre-removal hook: `whsec_<base64>`.
    #[arg(long, env = "EVO_WEBHOOK_SECRET", hide_env_values = true, global = true)]
    pub webhook_secret: Option<String>,
    /// Hours a failing webhook delivery is retried (1 s, doubling, at most 10 min apart)
    /// before the event is dead-lettered.
    #[arg(long, env = "EVO_WEBHOOK_RETRY_HOURS", default_value_t = 24, global = true)]
    pub webhook_retry_hours: u64,
    /// Seconds a claimed webhook delivery is kept from other workers unless its worker renews
    /// the claim (every third of it, while it delivers): after a crash, how long its events
    /// wait before another instance, or this one restarted, takes them. At least 3.
    #[arg(long, env = "EVO_WEBHOOK_LEASE_SECS", default_value_t = 10, global = true)]
    pub webhook_lease_secs: u64,
    /// Asked before every removal, with the would-be `ChatMemberRemoving` event: 2xx goes on,
    /// 4xx refuses (409 RemovalRefused); needs EVO_WEBHOOK_SECRET.
    #[arg(long, env = "EVO_PRE_REMOVE_HOOK_URL", global = true)]
    pub pre_remove_hook_url: Option<String>,
    /// How long the pre-removal hook may take to answer, in milliseconds.
    #[arg(long, env = "EVO_PRE_REMOVE_HOOK_TIMEOUT_MS", default_value_t = 1000, global = true)]
    pub pre_remove_hook_timeout_ms: u64,
    /// What a hook timeout or 5xx means: `refuse` (503 ServiceUnavailable) or `allow`.
    #[arg(long, env = "EVO_PRE_REMOVE_HOOK_ON_FAILURE", default_value = "refuse", global = true)]
    pub pre_remove_hook_on_failure: String,
    /// Days a dead letter (an event the webhook gave up on) is kept for `webhooks redeliver`,
    /// then purged.
    #[arg(long, env = "EVO_DEAD_LETTER_RETENTION_DAYS", default_value_t = 30, global = true)]
    pub dead_letter_retention_days: u64,
    /// Hours delivered (or undeliverable) events are kept for streams to resume from, then
    /// purged in bounded batches.
    #[arg(long, env = "EVO_EVENT_RETENTION_HOURS", default_value_t = 72, global = true)]
    pub event_retention_hours: u64,
    /// PostgreSQL URL of the event listener (`LISTEN` needs PostgreSQL itself, not PgBouncer
    /// in transaction mode) [default: DATABASE_URL].
    #[arg(long, env = "EVO_DB_NOTIFY_URL", hide_env_values = true, global = true)]
    pub db_notify_url: Option<String>,
    /// PostgreSQL URL of a standby (or several hosts) that serves ListSessions while its replay
    /// is within EVO_REPLICA_MAX_LAG_MS of the primary [default: none, every read on the
    /// primary].
    #[arg(long, env = "EVO_DATABASE_REPLICA_URL", hide_env_values = true, global = true)]
    pub database_replica_url: Option<String>,
    /// How far behind the primary, in milliseconds, the replica may be and still serve a
    /// search; past it (or when it does not answer) the search reads the primary.
    #[arg(long, env = "EVO_REPLICA_MAX_LAG_MS", default_value_t = 1000, global = true)]
    pub replica_max_lag_ms: u64,
}

/// `90`, `90s`, `15m`, `1h`, `2d` as seconds.
fn parse_duration_secs(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let number: u64 =
        number.parse().map_err(|_| format!("{raw:?} is not a duration like 90, 15m, 1h or 2d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?}: the unit must be s, m, h or d")),
    };
    match number.checked_mul(factor) {
        Some(0) | None => Err(format!("{raw:?} must be positive and at most a few years")),
        Some(seconds) => Ok(seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_secs("90"), Ok(90));
        assert_eq!(parse_duration_secs("15m"), Ok(900));
        assert_eq!(parse_duration_secs("1h"), Ok(3600));
        assert_eq!(parse_duration_secs("2d"), Ok(172_800));
        assert!(parse_duration_secs("0").is_err());
        assert!(parse_duration_secs("1w").is_err());
        assert!(parse_duration_secs("h").is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
