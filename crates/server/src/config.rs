//! Settings checked once at start-up: every problem is reported, one clear line each,
//! before anything is opened or bound.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use evo_jwt::{JwksConfig, JwtAlgorithm, JwtConfig, MIN_SECRET_BYTES, Secret, VerificationKey};
use evo_postgres::PgConfig;
use evo_sqlite::SqliteConfig;

use crate::cli::Settings;

/// Where sessions are stored, chosen by the `DATABASE_URL` scheme.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `postgres://` or `postgresql://`.
    Postgres(PgConfig),
    /// `sqlite://PATH` or a plain file path.
    Sqlite(SqliteConfig),
}

/// Where the HS256 secret or public key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Given in configuration and already checked.
    Configured(JwtConfig),
    /// The SQLite default only: a random secret kept in this file, made on first use, with
    /// the configured `iss` and `aud` requirements.
    DevSecretFile {
        /// The secret's file.
        path: PathBuf,
        /// Required `iss`, when configured.
        issuer: Option<String>,
        /// Required `aud`, when configured.
        audience: Option<String>,
    },
}

/// Log output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured on a terminal.
    Pretty,
    /// One JSON object a line.
    Json,
}

/// Every setting, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub store: StoreConfig,
    pub keys: KeySource,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub workers: usize,
    pub shutdown_grace: Duration,
    pub shutdown_drain: Duration,
    pub cors_origins: Vec<String>,
    pub rate_limit_per_sec: u32,
    pub read_rate_limit_per_sec: u32,
    /// The largest SessionInfo a change may leave.
    pub session_max_bytes: usize,
    /// Open streams per caller, and in all, on this instance.
    pub streams_per_caller: usize,
    pub streams_max: usize,
    pub idempotency_ttl: Duration,
    /// Webhooks, the pre-removal hook and the outbox's retention.
    pub events: evo_webhooks::EventsConfig,
    /// Whether a pre-removal hook that did not answer in time (or answered 5xx) lets the
    /// removal go on.
    pub hook_failure_allows: bool,
}

/// The smallest `EVO_SESSION_MAX_BYTES`: twice the largest request body, so that any
/// NewSession the HTTP adapter accepts fits.
const MIN_SESSION_MAX_BYTES: usize = 2 * evo_http::MAX_BODY_BYTES;
/// Longest allowed wait for a pooled connection: past this a request should rather fail fast.
const MAX_DB_WAIT: Duration = Duration::from_secs(60);
/// The default pool: this many database connections for each HTTP worker (each worker has a
/// pool of its own, `PgSessionRepository::per_worker`).
const CONNECTIONS_PER_WORKER: usize = 4;

impl Config {
    /// Checks `settings`; on failure returns every problem found.
    pub fn from_settings(settings: &Settings) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);

        let bind = settings
            .bind
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push(format!("EVO_BIND {:?} is not an address like 127.0.0.1:8080", settings.bind))
            })
            .ok();

        let workers = settings.workers.unwrap_or(cores);
        if workers == 0 || workers > 256 {
            problems.push(format!("EVO_WORKERS must be between 1 and 256, not {workers}"));
        }
        // Measured (docs/performance.md, "Pool size"): with a pool per worker, 2 connections a
        // worker left c=16 requests waiting for a connection, 4 did as well as 8.
        let pool_size = settings.db_pool_size.unwrap_or(CONNECTIONS_PER_WORKER * workers.max(1));
        if pool_size == 0 || pool_size > 1000 {
            problems.push(format!("EVO_DB_POOL_SIZE must be between 1 and 1000, not {pool_size}"));
        }
        let wait = Duration::from_millis(settings.db_wait_timeout_ms);
        if wait.is_zero() || wait > MAX_DB_WAIT {
            problems.push("EVO_DB_WAIT_TIMEOUT_MS must be between 1 and 60000".to_owned());
        }
        let store = store_config(settings, pool_size, wait, &mut problems);

        let algorithm = settings
            .jwt_algorithm
            .parse::<JwtAlgorithm>()
            .map_err(|_| {
                problems.push(format!(
                    "EVO_JWT_ALGORITHM {:?} is not one of HS256, RS256, ES256",
                    settings.jwt_algorithm
                ))
            })
            .ok();
        let keys = match (algorithm, &store) {
            (Some(algorithm), Some(store)) => key_source(settings, algorithm, store, &mut problems),
            _ => None,
        };

        let log_format = match settings.log_format.as_str() {
            "pretty" => Some(LogFormat::Pretty),
            "json" => Some(LogFormat::Json),
            other => {
                problems.push(format!("EVO_LOG_FORMAT {other:?} is not pretty or json"));
                None
            }
        };
        if tracing_subscriber::EnvFilter::try_new(&settings.log).is_err() {
            problems
                .push(format!("EVO_LOG {:?} is not a valid log filter (try info or debug)", settings.log));
        }
        if settings.idempotency_ttl_secs == 0 || settings.idempotency_ttl_secs > 30 * 86_400 {
            problems.push(format!(
                "EVO_IDEMPOTENCY_TTL_SECS must be between 1 and 2592000 (30 days), not {}",
                settings.idempotency_ttl_secs
            ));
        }
        for origin in &settings.cors_origins {
            // `*`: any origin, never with credentials (docs/api.md, "Request IDs, logs, metrics,
            // CORS").
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(format!(
                    "EVO_CORS_ORIGINS: {origin:?} is not an origin like https://app.example.com (or *)"
                ));
            }
        }

        let events = evo_webhooks::EventSettings {
            webhook_url: settings.webhook_url.clone().filter(|url| !url.trim().is_empty()),
            webhook_secret: settings.webhook_secret.clone().filter(|secret| !secret.trim().is_empty()),
            webhook_retry_hours: settings.webhook_retry_hours,
            webhook_lease_secs: settings.webhook_lease_secs,
            pre_remove_hook_url: settings.pre_remove_hook_url.clone().filter(|url| !url.trim().is_empty()),
            pre_remove_hook_timeout_ms: settings.pre_remove_hook_timeout_ms,
            event_retention_hours: settings.event_retention_hours,
            dead_letter_retention_days: settings.dead_letter_retention_days,
        }
        .resolve()
        .map_err(|problem| problems.push(problem.to_string()))
        .ok();
        // A new session of the largest request body must fit, with its defaults.
        if settings.session_max_bytes < MIN_SESSION_MAX_BYTES {
            problems.push(format!(
                "EVO_SESSION_MAX_BYTES must be at least {MIN_SESSION_MAX_BYTES} (a new session of the largest request fits), not {}",
                settings.session_max_bytes
            ));
        }
        if settings.streams_per_caller == 0 || settings.streams_max == 0 {
            problems.push("EVO_STREAMS_PER_CALLER and EVO_STREAMS_MAX must be at least 1".to_owned());
        }
        let hook_failure_allows = match settings.pre_remove_hook_on_failure.trim() {
            "refuse" => false,
            "allow" => true,
            other => {
                problems.push(format!("EVO_PRE_REMOVE_HOOK_ON_FAILURE {other:?} is not refuse or allow"));
                false
            }
        };

        match (bind, store, keys, log_format, events) {
            (Some(bind), Some(store), Some(keys), Some(log_format), Some(events)) if problems.is_empty() => {
                Ok(Self {
                    bind,
                    store,
                    keys,
                    log_filter: settings.log.clone(),
                    log_format,
                    workers,
                    shutdown_grace: Duration::from_secs(settings.shutdown_grace_secs),
                    shutdown_drain: Duration::from_secs(settings.shutdown_drain_secs),
                    cors_origins: settings.cors_origins.clone(),
                    rate_limit_per_sec: settings.rate_limit_per_sec,
                    read_rate_limit_per_sec: settings.read_rate_limit_per_sec,
                    session_max_bytes: settings.session_max_bytes,
                    streams_per_caller: settings.streams_per_caller,
                    streams_max: settings.streams_max,
                    idempotency_ttl: Duration::from_secs(settings.idempotency_ttl_secs),
                    events,
                    hook_failure_allows,
                })
            }
            _ => Err(problems),
        }
    }
}

fn store_config(
    settings: &Settings,
    pool_size: usize,
    wait: Duration,
    problems: &mut Vec<String>,
) -> Option<StoreConfig> {
    let url = settings.database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut config = PgConfig::new(url);
        config.pool_size = pool_size;
        config.wait_timeout = wait;
        config.statement_timeout = Duration::from_millis(settings.db_statement_timeout_ms.max(1));
        config.prepared_statement_cache = settings.db_statement_cache;
        config.notify_url = settings.db_notify_url.clone().filter(|url| !url.trim().is_empty());
        config.replica_url = settings.database_replica_url.clone().filter(|url| !url.trim().is_empty());
        config.replica_max_lag = Duration::from_millis(settings.replica_max_lag_ms);
        return Some(StoreConfig::Postgres(config));
    }
    let path = match url.split_once("://") {
        Some(("sqlite", path)) => path,
        Some((scheme, _)) => {
            problems.push(format!(
                "DATABASE_URL has scheme {scheme:?}: use postgres://..., sqlite://PATH or a file path"
            ));
            return None;
        }
        None => url,
    };
    if path.is_empty() {
        problems.push("DATABASE_URL names no SQLite file: use sqlite://PATH".to_owned());
        return None;
    }
    let mut config = SqliteConfig::new(PathBuf::from(path));
    config.pool_size = pool_size;
    Some(StoreConfig::Sqlite(config))
}

fn key_source(
    settings: &Settings,
    algorithm: JwtAlgorithm,
    store: &StoreConfig,
    problems: &mut Vec<String>,
) -> Option<KeySource> {
    // Tokens from an identity provider (RS256, ES256) must be meant for this service: a
    // provider signs tokens for many audiences with the same keys (docs/api.md, "Tokens").
    let needs_issuer_and_audience = !algorithm.uses_shared_secret();
    for (setting, value, claim) in [
        ("EVO_JWT_ISSUER", &settings.jwt_issuer, "the `iss` your identity provider writes"),
        ("EVO_JWT_AUDIENCE", &settings.jwt_audience, "the `aud` it writes for this service"),
    ] {
        match value.as_deref().map(str::trim) {
            Some("") => problems.push(format!("{setting} must not be empty")),
            None if needs_issuer_and_audience => {
                problems.push(format!("EVO_JWT_ALGORITHM {algorithm} needs {setting} ({claim})"));
            }
            _ => {}
        }
    }
    if algorithm.uses_shared_secret() && settings.jwt_jwks_url.is_some() {
        problems.push(
            "EVO_JWT_JWKS_URL is for RS256 and ES256: set EVO_JWT_ALGORITHM, or unset EVO_JWT_JWKS_URL for HS256"
                .to_owned(),
        );
    }
    let key = if algorithm.uses_shared_secret() {
        match &settings.jwt_secret {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                problems.push(format!(
                    "EVO_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes, but it has {}",
                    secret.len()
                ));
                return None;
            }
            Some(secret) => VerificationKey::SharedSecret(Secret::new(secret.as_bytes().to_vec())),
            None => match store {
                StoreConfig::Sqlite(sqlite) => {
                    return Some(KeySource::DevSecretFile {
                        path: dev_secret_path(&sqlite.path),
                        issuer: settings.jwt_issuer.clone(),
                        audience: settings.jwt_audience.clone(),
                    });
                }
                StoreConfig::Postgres(_) => {
                    problems.push(
                        "with PostgreSQL, set EVO_JWT_SECRET (HS256) or EVO_JWT_ALGORITHM with \
                         EVO_JWT_PUBLIC_KEY or EVO_JWT_JWKS_URL: the service never runs with \
                         authentication off"
                            .to_owned(),
                    );
                    return None;
                }
            },
        }
    } else if let Some(url) = &settings.jwt_jwks_url {
        if settings.jwt_public_key.is_some() {
            problems.push("set EVO_JWT_PUBLIC_KEY or EVO_JWT_JWKS_URL, not both".to_owned());
            return None;
        }
        let jwks = JwksConfig::new(url.trim());
        if let Err(error) = jwks.check() {
            problems.push(format!("EVO_JWT_JWKS_URL: {error}"));
            return None;
        }
        VerificationKey::Jwks(jwks)
    } else {
        let Some(path) = &settings.jwt_public_key else {
            problems.push(format!(
                "EVO_JWT_ALGORITHM {} needs EVO_JWT_PUBLIC_KEY (a PEM file) or EVO_JWT_JWKS_URL",
                algorithm.as_str()
            ));
            return None;
        };
        match VerificationKey::from_pem_file(path, algorithm) {
            Ok(key) => key,
            Err(error) => {
                problems.push(format!("EVO_JWT_PUBLIC_KEY: {error}"));
                return None;
            }
        }
    };
    let mut config = JwtConfig::new(algorithm, key);
    config.issuer = settings.jwt_issuer.clone();
    config.audience = settings.jwt_audience.clone();
    Some(KeySource::Configured(config))
}

/// The development secret lives beside the SQLite database: `data/jwt-secret` by default.
fn dev_secret_path(database: &Path) -> PathBuf {
    database.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("jwt-secret")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, Vec<String>> {
        let mut argv = vec!["evo-sessions"];
        argv.extend_from_slice(args);
        // Flags only: the environment of the test process must not leak in, so every
        // setting read from the environment is given explicitly where it matters.
        let cli = Cli::try_parse_from(argv).expect("arguments parse");
        Config::from_settings(&cli.settings)
    }

    #[test]
    fn the_default_is_sqlite_in_data_with_a_dev_secret() {
        let config = parse(&["--database-url", "sqlite://data/evo-sessions.db"]).unwrap();
        let StoreConfig::Sqlite(sqlite) = &config.store else { panic!("{config:?}") };
        assert_eq!(sqlite.path, PathBuf::from("data/evo-sessions.db"));
        let KeySource::DevSecretFile { path, audience, .. } = &config.keys else { panic!("{config:?}") };
        assert_eq!(audience, &None);
        assert_eq!(path, &PathBuf::from("data/jwt-secret"));
    }

    #[test]
    fn the_bounds_settings_are_checked_and_cors_star_is_accepted() {
        let config = parse(&["--database-url", "sqlite://x.db", "--cors-origins", "*"]).unwrap();
        assert_eq!(config.cors_origins, ["*"], "any origin, never with credentials (docs/api.md)");
        assert_eq!(
            (config.session_max_bytes, config.streams_per_caller, config.streams_max),
            (262_144, 8, 10_000)
        );
        assert_eq!(config.read_rate_limit_per_sec, 1000);
        let problems = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--session-max-bytes",
            "1000",
            "--streams-per-caller",
            "0",
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--webhook-secret",
            "whsec_ZXZvLXNlc3Npb25zLXdlYmhvb2stdGVzdC1rZXktMDEyMzQ1Njc=",
            "--webhook-lease-secs",
            "2",
        ])
        .unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with("EVO_SESSION_MAX_BYTES must be at least 131072")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.starts_with("EVO_STREAMS_PER_CALLER")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("EVO_WEBHOOK_LEASE_SECS")), "{problems:?}");
    }

    #[test]
    fn the_default_pool_is_four_connections_per_worker() {
        let config = parse(&["--database-url", "sqlite://x.db", "--workers", "3"]).unwrap();
        let StoreConfig::Sqlite(sqlite) = &config.store else { panic!("{config:?}") };
        assert_eq!((config.workers, sqlite.pool_size), (3, 12));
        let config =
            parse(&["--database-url", "sqlite://x.db", "--workers", "3", "--db-pool-size", "5"]).unwrap();
        let StoreConfig::Sqlite(sqlite) = &config.store else { panic!("{config:?}") };
        assert_eq!(sqlite.pool_size, 5, "a pool size given is kept");
    }

    #[test]
    fn postgres_without_a_key_refuses_to_start() {
        let problems = parse(&["--database-url", "postgres://postgres@127.0.0.1/evo"]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("never runs with authentication off"));
    }

    #[test]
    fn every_problem_is_reported_at_once_without_leaking_the_secret() {
        let problems = parse(&[
            "--bind",
            "nowhere",
            "--database-url",
            "mysql://root@localhost/evo",
            "--jwt-secret",
            "short-secret-value",
            "--log-format",
            "xml",
            "--db-pool-size",
            "0",
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("EVO_BIND")));
        assert!(problems.iter().any(|p| p.contains("scheme \"mysql\"")));
        assert!(problems.iter().any(|p| p.starts_with("EVO_LOG_FORMAT")));
        assert!(problems.iter().any(|p| p.starts_with("EVO_DB_POOL_SIZE")));
        assert!(problems.iter().all(|p| !p.contains("short-secret-value")));

        let problems =
            parse(&["--database-url", "sqlite://x.db", "--jwt-secret", "short-secret-value"]).unwrap_err();
        assert_eq!(problems, ["EVO_JWT_SECRET must be at least 32 bytes, but it has 18"]);
    }

    #[test]
    fn public_key_algorithms_need_a_readable_key() {
        let requirements = ["--jwt-issuer", "https://idp.example.com/", "--jwt-audience", "evo-sessions"];
        let problems = parse(
            &[&["--database-url", "sqlite://x.db", "--jwt-algorithm", "RS256"][..], &requirements].concat(),
        )
        .unwrap_err();
        assert_eq!(
            problems,
            ["EVO_JWT_ALGORITHM RS256 needs EVO_JWT_PUBLIC_KEY (a PEM file) or EVO_JWT_JWKS_URL"]
        );
        let problems = parse(
            &[
                &[
                    "--database-url",
                    "sqlite://x.db",
                    "--jwt-algorithm",
                    "ES256",
                    "--jwt-public-key",
                    "/nonexistent/key.pem",
                ][..],
                &requirements,
            ]
            .concat(),
        )
        .unwrap_err();
        assert!(problems[0].contains("/nonexistent/key.pem"), "{problems:?}");
        let problems = parse(&["--database-url", "sqlite://x.db", "--jwt-algorithm", "none"]).unwrap_err();
        assert_eq!(problems, ["EVO_JWT_ALGORITHM \"none\" is not one of HS256, RS256, ES256"]);
    }

    /// A test-only public key of evo-jwt's tests.
    fn test_key(file: &str) -> String {
        format!("{}/../adapters/jwt/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn rs256_and_es256_refuse_to_start_without_issuer_and_audience() {
        let rs256_key = test_key("test-only-rs256-public.pem");
        let rs256 =
            ["--database-url", "sqlite://x.db", "--jwt-algorithm", "RS256", "--jwt-public-key", &rs256_key];
        assert_eq!(
            parse(&rs256).unwrap_err(),
            [
                "EVO_JWT_ALGORITHM RS256 needs EVO_JWT_ISSUER (the `iss` your identity provider writes)",
                "EVO_JWT_ALGORITHM RS256 needs EVO_JWT_AUDIENCE (the `aud` it writes for this service)",
            ]
        );
        let only_issuer = [&rs256[..], &["--jwt-issuer", "https://idp.example.com/"]].concat();
        assert_eq!(
            parse(&only_issuer).unwrap_err(),
            ["EVO_JWT_ALGORITHM RS256 needs EVO_JWT_AUDIENCE (the `aud` it writes for this service)"]
        );
        let blank_audience = [&only_issuer[..], &["--jwt-audience", " "]].concat();
        assert_eq!(parse(&blank_audience).unwrap_err(), ["EVO_JWT_AUDIENCE must not be empty"]);

        let es256_key = test_key("test-only-es256-public.pem");
        let es256 =
            ["--database-url", "sqlite://x.db", "--jwt-algorithm", "ES256", "--jwt-public-key", &es256_key];
        assert_eq!(parse(&es256).unwrap_err().len(), 2);

        let complete = [&only_issuer[..], &["--jwt-audience", "evo-sessions"]].concat();
        let config = parse(&complete).unwrap();
        let KeySource::Configured(jwt) = &config.keys else { panic!("{config:?}") };
        assert_eq!(jwt.issuer.as_deref(), Some("https://idp.example.com/"));
        assert_eq!(jwt.audience.as_deref(), Some("evo-sessions"));

        // HS256 without an audience starts (with a warning in the log, see main.rs).
        let hs256 =
            parse(&["--database-url", "sqlite://x.db", "--jwt-secret", "a test-only secret of 32+ bytes.."]);
        assert!(hs256.is_ok(), "{hs256:?}");
    }

    #[test]
    fn a_jwks_url_replaces_the_public_key_for_rs256_and_es256_only() {
        let requirements = ["--jwt-issuer", "https://idp.example.com/", "--jwt-audience", "evo-sessions"];
        let jwks_url = "https://idp.example.com/.well-known/jwks.json";
        let rs256_jwks = [
            &["--database-url", "sqlite://x.db", "--jwt-algorithm", "RS256", "--jwt-jwks-url", jwks_url][..],
            &requirements,
        ]
        .concat();
        // Nothing is fetched while the configuration is checked.
        let config = parse(&rs256_jwks).unwrap();
        let KeySource::Configured(jwt) = &config.keys else { panic!("{config:?}") };
        let VerificationKey::Jwks(jwks) = &jwt.key else { panic!("{jwt:?}") };
        assert_eq!(jwks, &JwksConfig::new(jwks_url));

        let rs256_key = test_key("test-only-rs256-public.pem");
        let both = [&rs256_jwks[..], &["--jwt-public-key", &rs256_key]].concat();
        assert_eq!(parse(&both).unwrap_err(), ["set EVO_JWT_PUBLIC_KEY or EVO_JWT_JWKS_URL, not both"]);

        let not_http = [
            &[
                "--database-url",
                "sqlite://x.db",
                "--jwt-algorithm",
                "ES256",
                "--jwt-jwks-url",
                "file:///etc/jwks",
            ][..],
            &requirements,
        ]
        .concat();
        let problems = parse(&not_http).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("EVO_JWT_JWKS_URL: "), "{problems:?}");

        let hs256 = ["--database-url", "sqlite://x.db", "--jwt-jwks-url", jwks_url];
        assert_eq!(
            parse(&hs256).unwrap_err(),
            [
                "EVO_JWT_JWKS_URL is for RS256 and ES256: set EVO_JWT_ALGORITHM, or unset EVO_JWT_JWKS_URL for HS256"
            ]
        );
    }
}
