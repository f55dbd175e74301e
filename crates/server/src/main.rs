//! `evo-sessions`: the one place that knows which adapters exist and wires them to the use
//! cases.

mod cli;
mod config;
mod seed;

use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use evo_app::{EventStreamService, OnHookFailure, SessionService, SystemClock, UuidSessionIds};
use evo_jwt::{JwtConfig, JwtVerifier, MintRequest, Secret, VerificationKey, mint_hs256};
use evo_ports::{DeliveryQueue, EventLog, EventStreams, SessionRepository, SessionUseCases};
use evo_store_sql::Outbox;
use evo_webhooks::{CancellationToken, DeliveryWorker, HttpRemovalHook, RetentionTask};
use tracing::{error, info, warn};

use crate::cli::{Cli, Command, TokenArgs, WebhooksCommand};
use crate::config::{Config, KeySource, LogFormat, StoreConfig};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("evo-sessions cannot start:");
            for problem in problems {
                eprintln!("  - {problem}");
            }
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("evo-sessions cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(&config).await,
            Command::Token(args) => token(&config, args),
            Command::Seed => {
                let use_cases = open_use_cases(&config).await?.use_cases.swap_remove(0);
                seed::run(&config, use_cases).await
            }
            Command::Webhooks(WebhooksCommand::Redeliver) => redeliver(&config).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            eprintln!("evo-sessions: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log_filter);
    // Logs go to standard error: standard output belongs to `token` and `seed`.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).flatten_event(true).init(),
    }
}

async fn migrate(config: &Config) -> Result<(), String> {
    match &config.store {
        StoreConfig::Postgres(pg) => evo_postgres::run_migrations(pg).await.map_err(|e| e.to_string())?,
        // Opening the SQLite store applies its migrations.
        StoreConfig::Sqlite(sqlite) => {
            evo_sqlite::SqliteSessionRepository::open(sqlite.clone()).await.map_err(|e| e.to_string())?;
        }
    }
    info!("migrations applied");
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    let audience_checked = matches!(&config.keys, KeySource::Configured(jwt) if jwt.audience.is_some());
    if !audience_checked {
        // RS256 and ES256 refuse to start without an audience; HS256 only warns (docs/api.md,
        // "Tokens"): its tokens are usually minted for this service alone.
        warn!(
            "EVO_JWT_AUDIENCE is not set: tokens are accepted whatever their `aud`; set it to the \
             audience your tokens carry"
        );
    }
    // Before anything records a metric: the delivery latency is a histogram of its own buckets.
    let latency = (evo_webhooks::metrics::DELIVERY_LATENCY, evo_webhooks::metrics::DELIVERY_LATENCY_BUCKETS);
    evo_http::observability::prometheus_with_histograms(&[latency]);
    let Wired { use_cases, streams } = open_use_cases(&config).await?;
    let listener =
        TcpListener::bind(config.bind).map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let options = evo_http::HttpOptions {
        cors_allowed_origins: config.cors_origins.clone(),
        rate_limit_per_sec: config.rate_limit_per_sec,
        read_rate_limit_per_sec: config.read_rate_limit_per_sec,
        stream_limits: evo_http::StreamLimits {
            per_caller: config.streams_per_caller,
            max: config.streams_max,
        },
        workers: config.workers,
        shutdown_timeout: config.shutdown_grace,
        shutdown_drain: config.shutdown_drain,
        ..Default::default()
    };
    let server = evo_http::server_per_worker(listener, use_cases, Some(streams), options)
        .map_err(|e| e.to_string())?;
    info!(%address, "evo-sessions listening on http://{address}");
    if let KeySource::DevSecretFile { path, .. } = &config.keys {
        info!(
            "development JWT secret in {}; mint a token with: evo-sessions token --sub you@example.com --account demo",
            path.display()
        );
    }
    // On SIGTERM or SIGINT: unready for the drain, then the listener closes and in-flight
    // requests get the grace period (evo_http::server).
    server.await.map_err(|e| e.to_string())?;
    info!("stopped");
    Ok(())
}

/// What the HTTP adapter serves.
struct Wired {
    /// One per HTTP worker, or one for all (see [`wire`]).
    use_cases: Vec<Arc<dyn SessionUseCases>>,
    streams: Arc<dyn EventStreams>,
}

/// Opens the configured store (applying migrations) and the token verifier, and wires the
/// use cases to them; starts the background tasks (key purge, event retention, webhooks).
async fn open_use_cases(config: &Config) -> Result<Wired, String> {
    // With a JWKS URL this fetches the keys: a failure stops the start-up here.
    let verifier = JwtVerifier::connect(jwt_config(&config.keys)?).await.map_err(|e| e.to_string())?;
    let outbox = Outbox::new(Arc::new(evo_http::WireEventRenderer), config.events.webhook.is_some())
        .with_session_limit(config.session_max_bytes);
    match &config.store {
        StoreConfig::Postgres(pg) => {
            let repository = open_postgres(pg).await?.with_outbox(outbox);
            // A request pool per worker keeps each connection on its worker's thread.
            let per_worker = repository.per_worker(config.workers).map_err(|e| e.to_string())?;
            info!(pool_size = pg.pool_size, workers = config.workers, "PostgreSQL store ready");
            Ok(wire(repository, per_worker, verifier, config))
        }
        StoreConfig::Sqlite(sqlite) => {
            let repository = open_sqlite(sqlite).await?.with_outbox(outbox);
            info!(path = %sqlite.path.display(), "SQLite store ready");
            // One writer at a time and blocking calls on their own threads: one for all.
            Ok(wire(repository.clone(), vec![repository], verifier, config))
        }
    }
}

async fn open_postgres(pg: &evo_postgres::PgConfig) -> Result<evo_postgres::PgSessionRepository, String> {
    evo_postgres::run_migrations(pg).await.map_err(|e| e.to_string())?;
    evo_postgres::PgSessionRepository::connect(pg.clone()).await.map_err(|e| e.to_string())
}

async fn open_sqlite(
    sqlite: &evo_sqlite::SqliteConfig,
) -> Result<evo_sqlite::SqliteSessionRepository, String> {
    evo_sqlite::SqliteSessionRepository::open(sqlite.clone()).await.map_err(|e| e.to_string())
}

/// Wires the use cases: the background tasks and the streams on `repository`, the requests
/// of HTTP worker `i` on `per_worker[i % len]` (the same store, maybe with a pool of its own).
fn wire<R>(repository: R, per_worker: Vec<R>, verifier: JwtVerifier, config: &Config) -> Wired
where
    R: SessionRepository + EventLog + DeliveryQueue + Clone,
{
    tokio::spawn(purge_expired_keys(repository.clone()));
    start_event_tasks(Arc::new(repository.clone()), config);
    let streams = Arc::new(EventStreamService::new(repository));
    let verifier = Arc::new(verifier);
    let hook = config.events.hook.as_ref().map(|hook| {
        info!(url = %hook.redacted_url(), "asking the pre-removal hook before every removal");
        let on_failure =
            if config.hook_failure_allows { OnHookFailure::Allow } else { OnHookFailure::Refuse };
        let hook: Arc<dyn evo_ports::RemovalHook> =
            Arc::new(HttpRemovalHook::new(hook, Arc::new(evo_http::WireEventRenderer)));
        (hook, on_failure)
    });
    let use_cases = per_worker
        .into_iter()
        .map(|repository| {
            let mut service = SessionService::with_idempotency_ttl(
                repository,
                verifier.clone(),
                SystemClock,
                UuidSessionIds,
                config.idempotency_ttl,
            );
            if let Some((hook, on_failure)) = &hook {
                service = service.with_removal_hook(hook.clone(), *on_failure);
            }
            Arc::new(service) as Arc<dyn SessionUseCases>
        })
        .collect();
    Wired { use_cases, streams }
}

/// The outbox's background work: retention always (events are written for live streams
/// whether or not a webhook is configured), delivery when a webhook is. They run until the
/// process ends: an attempt cut short is retried after its lease, by this or another instance.
fn start_event_tasks<Q: EventLog + DeliveryQueue>(store: Arc<Q>, config: &Config) {
    let stop = CancellationToken::new();
    let clock: Arc<dyn evo_ports::Clock> = Arc::new(SystemClock);
    RetentionTask::new(store.clone(), config.events.retention.clone(), clock.clone()).spawn(stop.clone());
    let Some(webhook) = config.events.webhook.clone() else { return };
    info!(url = %webhook.redacted_url(), "delivering events to the webhook");
    let worker = DeliveryWorker::new(store.clone(), webhook, clock);
    let waker = worker.waker();
    worker.spawn(stop);
    // A commit here (or a notification from another instance) wakes the worker at once.
    tokio::spawn(async move {
        let mut known = 0;
        loop {
            let newest = store.wait_for_events_after(known, Duration::from_secs(60)).await;
            if newest > known {
                known = newest;
                waker.notify_one();
            }
        }
    });
}

/// `evo-sessions webhooks redeliver`: dead letters back to delivery.
async fn redeliver(config: &Config) -> Result<(), String> {
    let now = evo_ports::Clock::now(&SystemClock);
    let sent = match &config.store {
        StoreConfig::Postgres(pg) => open_postgres(pg).await?.redeliver_dead(now).await,
        StoreConfig::Sqlite(sqlite) => open_sqlite(sqlite).await?.redeliver_dead(now).await,
    }
    .map_err(|e| e.to_string())?;
    #[allow(clippy::print_stdout)] // the count is this command's answer
    {
        println!("{sent} dead-lettered events sent back to delivery");
    }
    Ok(())
}

/// Expired Idempotency-Key answers are deleted once a minute, in batches of bounded size
/// (short transactions, no long locks), until none is left; a failure waits for the next round.
async fn purge_expired_keys<R: SessionRepository>(repository: R) {
    const BATCH: u32 = 1_000;
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        loop {
            match repository.purge_expired_keys(evo_ports::Clock::now(&SystemClock), BATCH).await {
                Ok(purged) if purged == u64::from(BATCH) => continue,
                Ok(purged) => {
                    if purged > 0 {
                        tracing::debug!(purged, "purged expired idempotency keys");
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot purge expired idempotency keys now");
                    break;
                }
            }
        }
    }
}

fn jwt_config(keys: &KeySource) -> Result<JwtConfig, String> {
    match keys {
        KeySource::Configured(config) => Ok(config.clone()),
        KeySource::DevSecretFile { path, issuer, audience } => {
            let mut config = JwtConfig::hs256(dev_secret(path)?);
            config.issuer = issuer.clone();
            config.audience = audience.clone();
            Ok(config)
        }
    }
}

/// Reads the development secret, making a random one (mode 0600) on first use.
fn dev_secret(path: &Path) -> Result<Secret, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    if let Ok(existing) = std::fs::read(path) {
        check_private_file(path)?;
        return Ok(Secret::new(existing.trim_ascii().to_vec()));
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Readable by its owner only, as the store's own folder (docs/operations.md).
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the JWT secret: {e}"))?;
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(encoded.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    info!(path = %path.display(), "created a development JWT secret");
    Ok(Secret::new(encoded.into_bytes()))
}

/// Refuses a secret file that others could read or replace: it must belong to the user the
/// service runs as and have no group or other permissions (as `ssh` does for its keys).
fn check_private_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;

    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable or writable by others (mode {mode:o}): run `chmod 600 {}`, or remove it to \
             make a new one",
            path.display(),
            path.display()
        ));
    }
    // `/proc/self` belongs to the process's effective user: no unsafe call needed to learn it.
    if let Ok(process) = std::fs::metadata("/proc/self")
        && process.uid() != metadata.uid()
    {
        return Err(format!(
            "{} belongs to user {}, not to the user the service runs as ({}): remove it to make a new one",
            path.display(),
            metadata.uid(),
            process.uid()
        ));
    }
    Ok(())
}

fn token(config: &Config, args: TokenArgs) -> Result<(), String> {
    let jwt = jwt_config(&config.keys)?;
    let VerificationKey::SharedSecret(secret) = &jwt.key else {
        return Err(format!(
            "`token` mints HS256 tokens only; with {} tokens come from your identity provider",
            jwt.algorithm.as_str()
        ));
    };
    let mut request = MintRequest::new(args.sub, Duration::from_secs(args.ttl));
    request.name = args.name;
    request.roles = if args.roles.is_empty() { vec!["User".to_owned()] } else { args.roles };
    request.account_ids = if args.accounts.is_empty() { vec!["demo".to_owned()] } else { args.accounts };
    request.issuer = jwt.issuer.clone();
    request.audience = jwt.audience.clone();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let token = mint_hs256(secret, &request, now).map_err(|e| e.to_string())?;
    #[allow(clippy::print_stdout)] // the token alone on standard output is this command's contract
    {
        println!("{token}");
    }
    Ok(())
}
