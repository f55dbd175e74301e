//! # evo-http
//!
//! The HTTP adapter of evo-sessions: actix-web routes for every operation of the API
//! (docs/api.md, "Routes"), ServiceStack's pre-defined routes and formats (JSON, CSV, JSV), its error
//! bodies, bearer-token authentication, OpenAPI, Prometheus metrics, request IDs and CORS.
//!
//! It reaches the service only through [`SessionUseCases`]; the rules stay in the domain.
//!
//! - [`server`] runs the app on a bound listener (the binary uses it).
//! - [`app`] builds the same routes and middleware for in-process tests with `actix_web::test`.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use evo_ports::{EventStreams, SessionUseCases};
use tracing_actix_web::TracingLogger;

mod commands;
pub mod dto;
pub mod error;
pub mod etag;
mod event_hub;
pub mod events;
pub mod format;
mod handlers;
pub mod idempotency;
pub mod observability;
pub mod openapi;
mod operations;
mod queries;
pub mod rate_limit;
mod request;
pub mod servicestack;
pub mod text_formats;

pub use error::{ApiError, ErrorResponse};
pub use event_hub::StreamLimits;
pub use events::WireEventRenderer;
pub use format::Format;
pub use openapi::ApiDoc;
pub use request::MAX_BODY_BYTES;

use event_hub::EventHub;
use handlers::{AppState, method_not_allowed};
use observability::{CorsOrigins, RequestSpan, RoutePattern};
use rate_limit::CallerRateLimit;

/// How the HTTP server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Origins allowed to call the API from a browser (`*` for any). Empty: no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// actix worker threads (each a single-threaded runtime).
    pub workers: usize,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// The `Retry-After` of 503 answers (rounded down to whole seconds, at least 1).
    pub retry_after: Duration,
    /// Changes (POST, DELETE) a second per caller and instance, bursts of twice that; 0: off.
    pub rate_limit_per_sec: u32,
    /// Reads (GET, stream opens included) a second per caller and instance, bursts of twice
    /// that; 0: off.
    pub read_rate_limit_per_sec: u32,
    /// Open live streams per caller and per instance.
    pub stream_limits: StreamLimits,
    /// How long a request body may take to arrive before 408.
    pub body_read_timeout: Duration,
    /// After SIGTERM or SIGINT, how long readiness answers 503 while requests are still
    /// served, so that a load balancer stops routing here before the listener closes.
    pub shutdown_drain: Duration,
}

impl Default for HttpOptions {
    /// No CORS, one worker per core, 30 s of graceful shutdown after a 5 s drain,
    /// `Retry-After: 5`, 100 changes a second per caller, 10 s for a body (docs/api.md, "Bounds"
    /// and "Durability and several instances").
    fn default() -> Self {
        Self {
            cors_allowed_origins: Vec::new(),
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            shutdown_timeout: Duration::from_secs(30),
            retry_after: Duration::from_secs(5),
            rate_limit_per_sec: 100,
            read_rate_limit_per_sec: 1000,
            stream_limits: StreamLimits::default(),
            body_read_timeout: Duration::from_secs(10),
            shutdown_drain: Duration::from_secs(5),
        }
    }
}

/// Builds the actix server on an already bound listener (port 0 works for tests); not yet
/// awaited. Await the returned [`actix_web::dev::Server`] to serve; its handle stops it.
///
/// On SIGTERM or SIGINT it drains (docs/api.md, "Durability and several instances"):
/// readiness answers 503 at once while every route keeps serving for
/// [`HttpOptions::shutdown_drain`]; then the listener closes and requests in flight get
/// [`HttpOptions::shutdown_timeout`] to finish. Needs a Tokio runtime.
pub fn server(
    listener: TcpListener,
    use_cases: Arc<dyn SessionUseCases>,
    streams: Option<Arc<dyn EventStreams>>,
    options: HttpOptions,
) -> std::io::Result<actix_web::dev::Server> {
    server_per_worker(listener, vec![use_cases], streams, options)
}

/// [`server`] with use cases of their own for each worker: worker `i` serves with
/// `use_cases[i % len]`. Why: a store whose connections are driven on the thread that
/// opened them (PostgreSQL) keeps each worker's connections on that worker's thread when
/// each worker has its own pool (`PgSessionRepository::per_worker`).
pub fn server_per_worker(
    listener: TcpListener,
    use_cases: Vec<Arc<dyn SessionUseCases>>,
    streams: Option<Arc<dyn EventStreams>>,
    options: HttpOptions,
) -> std::io::Result<actix_web::dev::Server> {
    if use_cases.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no use cases to serve"));
    }
    let workers = options.workers.max(1);
    // The factory runs once on each worker's thread (again if actix restarts a worker).
    let next_worker = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let shutdown_timeout = options.shutdown_timeout.as_secs();
    let drain = options.shutdown_drain;
    // One rate table, one drain flag and one event reader for every worker: all are per
    // instance.
    let shared = Shared::new(&options, streams);
    let draining = shared.draining.clone();
    let server = HttpServer::new(move || {
        let worker = next_worker.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let use_cases = use_cases[worker % use_cases.len()].clone();
        app_with(use_cases, options.clone(), shared.clone())
    })
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    // Signals are ours: actix would stop accepting at once, before a balancer noticed.
    .disable_signals()
    .listen(listener)?
    .run();
    tokio::spawn(drain_on_signal(server.handle(), draining, drain));
    Ok(server)
}

/// What every worker of one instance shares.
#[derive(Clone)]
struct Shared {
    rate_limit: Arc<CallerRateLimit>,
    read_rate_limit: Arc<CallerRateLimit>,
    draining: Arc<AtomicBool>,
    readiness: Arc<handlers::ReadinessCheck>,
    event_hub: Option<Arc<EventHub>>,
}

impl Shared {
    /// Starts the event reader, when there are streams to serve, on the current runtime.
    fn new(options: &HttpOptions, streams: Option<Arc<dyn EventStreams>>) -> Self {
        Self {
            rate_limit: Arc::new(CallerRateLimit::new(options.rate_limit_per_sec)),
            read_rate_limit: Arc::new(CallerRateLimit::new(options.read_rate_limit_per_sec)),
            draining: Arc::new(AtomicBool::new(false)),
            readiness: Arc::default(),
            event_hub: streams.map(|streams| EventHub::start(streams, options.stream_limits)),
        }
    }
}

/// Waits for SIGTERM or SIGINT, then drains: unready for `drain`, then a graceful stop.
async fn drain_on_signal(handle: actix_web::dev::ServerHandle, draining: Arc<AtomicBool>, drain: Duration) {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        tracing::warn!("cannot listen for SIGTERM; stop the service with SIGINT");
        let _ = tokio::signal::ctrl_c().await;
        return stop_after_drain(handle, draining, drain).await;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    stop_after_drain(handle, draining, drain).await;
}

async fn stop_after_drain(handle: actix_web::dev::ServerHandle, draining: Arc<AtomicBool>, drain: Duration) {
    draining.store(true, Ordering::SeqCst);
    tracing::info!(drain_secs = drain.as_secs_f64(), "stopping: unready now, serving until the drain ends");
    tokio::time::sleep(drain).await;
    tracing::info!("drain over: closing the listener, finishing requests in flight");
    handle.stop(true).await;
}

/// The routes and middleware of the service, as an actix [`App`]: what [`server`] runs, and
/// what in-process tests give to `actix_web::test::init_service`.
///
/// Middleware, outermost first: format negotiation (strips a `.csv` suffix and the like before
/// routing), request ID, tracing root span, CORS, metrics.
pub fn app(
    use_cases: Arc<dyn SessionUseCases>,
    options: HttpOptions,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let shared = Shared::new(&options, None);
    app_with(use_cases, options, shared)
}

/// [`app`] with the live streams served from `streams`.
pub fn app_with_streams(
    use_cases: Arc<dyn SessionUseCases>,
    streams: Arc<dyn EventStreams>,
    options: HttpOptions,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let shared = Shared::new(&options, Some(streams));
    app_with(use_cases, options, shared)
}

fn app_with(
    use_cases: Arc<dyn SessionUseCases>,
    options: HttpOptions,
    shared: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // Installed before the first request so that the first request is counted too.
    observability::prometheus();
    let state = AppState {
        use_cases,
        retry_after: options.retry_after,
        body_read_timeout: options.body_read_timeout,
        rate_limit: shared.rate_limit,
        read_rate_limit: shared.read_rate_limit,
        draining: shared.draining,
        readiness: shared.readiness,
        event_hub: shared.event_hub,
    };
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::Data::new(CorsOrigins(options.cors_allowed_origins)))
        .configure(routes)
        .default_service(web::to(handlers::route_not_found))
        .wrap(from_fn(format::jsonp))
        .wrap(from_fn(observability::record_metrics))
        .wrap(from_fn(observability::cors))
        .wrap(TracingLogger::<RequestSpan>::new())
        .wrap(from_fn(observability::assign_request_id))
        .wrap(from_fn(format::negotiate_format))
}

/// The ServiceStack pre-defined route prefixes every operation is also served under.
/// `/csv/reply/` and `/jsv/reply/` are routed here as `/json/reply/` by format negotiation.
const PREDEFINED_PREFIXES: [&str; 2] = ["/api", "/json/reply"];

/// A resource that hands its pattern to the requests routed to it ([`RoutePattern`]).
fn resource(pattern: impl Into<String>) -> actix_web::Resource {
    let pattern = pattern.into();
    web::resource(pattern.clone()).app_data(RoutePattern(pattern))
}

/// Registers every route (the operations of [`operations::OPERATIONS`], each also under the
/// pre-defined prefixes, then the streams and the operational routes). Each resource answers
/// other methods with a JSON 405 naming the methods it allows.
fn routes(config: &mut web::ServiceConfig) {
    for (route, operations) in operations::by_route() {
        let resource = operations
            .iter()
            .fold(resource(route), |resource, operation| resource.route((operation.handler)()));
        config.service(resource.default_service(method_not_allowed(operations::allowed_methods(route))));
    }
    config
        .service(
            resource("/sessions/{sessionId}/events")
                .route(web::get().to(events::session_events))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            resource("/events")
                .route(web::get().to(events::all_events))
                .default_service(method_not_allowed("GET")),
        );
    for prefix in PREDEFINED_PREFIXES {
        for operation in operations::OPERATIONS {
            let allowed = operations::allowed_methods(operation.route).split(", ");
            let method = allowed.into_iter().find(|m| m.eq_ignore_ascii_case(operation.method)).unwrap_or("");
            config.service(
                resource(format!("{prefix}/{}", operation.name))
                    .route((operation.handler)())
                    .default_service(method_not_allowed(method)),
            );
        }
    }
    let get_only = |path: &str, route: actix_web::Route| {
        resource(path).route(route).default_service(method_not_allowed("GET"))
    };
    config
        .service(get_only("/health/live", web::get().to(handlers::health_live)))
        .service(get_only("/health/ready", web::get().to(handlers::health_ready)))
        .service(get_only("/metrics", web::get().to(observability::metrics_endpoint)))
        .service(get_only("/openapi.json", web::get().to(openapi::openapi_json)))
        .service(get_only("/metadata", web::get().to(servicestack::metadata_index)))
        .service(get_only("/types/{language}", web::get().to(servicestack::types)));
    for (path, format) in servicestack::page_routes() {
        config.service(
            resource(path)
                .app_data(web::Data::new(format))
                .route(web::get().to(servicestack::operation_page))
                .default_service(method_not_allowed("GET")),
        );
    }
}
