//! Request IDs, the tracing root span, Prometheus metrics and CORS: the middleware around
//! every route.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// The request-ID header, read from the client when sane and always written back.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The ID of the current request, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// A client's request ID is kept when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . :`:
/// enough for UUIDs and trace IDs, and nothing that could forge a log line.
fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The pattern of a route (`/sessions/{sessionId}`), in its resource's app data: the router
/// hands it to the request it routes there, so metrics and logs name the route without
/// matching the path again (asking actix for the pattern runs every pattern a second time:
/// measured, 4 % of the service's CPU per removal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern(pub String);

/// The route label of a routed request: its resource's pattern, or [`UNMATCHED_ROUTE`].
fn route_label(request: &actix_web::HttpRequest) -> String {
    request.app_data::<RoutePattern>().map_or_else(|| UNMATCHED_ROUTE.to_owned(), |route| route.0.clone())
}

/// A fresh request ID: a random per-process prefix and a counter, so that IDs stay unique
/// across restarts and instances without asking the kernel for randomness on every request.
fn new_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_owned());
    format!("{prefix}-{:012x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Middleware: assigns the request ID, and writes it on every response, errors included.
pub async fn assign_request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    request.extensions_mut().insert(RequestId(id.clone()));
    // Handlers' errors arrive here as responses already (actix renders them in the route), so
    // every answer gets the header; cloning the request to render an `Err` ourselves would
    // break routing, which needs the request unshared.
    let mut response = next.call(request).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// The root span of every request: carries the request ID, so every log line of the request
/// has it, and logs one line when the request completes.
#[derive(Debug)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
        // The route pattern, not the path: a path holds phone numbers and emails (and can be
        // 128 KiB) before anyone is authenticated. The pattern is known once the request is
        // routed, so it is recorded with the status, on the line that ends the request. The
        // session ID is recorded once the caller is authenticated.
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method_label(request.method()),
            route = tracing::field::Empty,
            session_id = tracing::field::Empty,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => {
                span.record("route", tracing::field::display(route_label(response.request())));
                response.status()
            }
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        let _entered = span.enter();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), "request failed");
        } else {
            tracing::info!(status = status.as_u16(), "request completed");
        }
    }
}

/// The route label of requests that matched no route (bounded, unlike raw paths).
const UNMATCHED_ROUTE: &str = "unmatched";
const REQUESTS_TOTAL: &str = "http_requests_total";
const REQUEST_DURATION: &str = "http_request_duration_seconds";
const DURATION_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide Prometheus recorder, installed on first use. A process has one global
/// `metrics` recorder, while tests build many apps: so it is installed once, here.
pub fn prometheus() -> &'static PrometheusHandle {
    prometheus_with_histograms(&[])
}

/// [`prometheus`], with the bucket lists of other histograms of the process (the binary's
/// background work, such as webhook delivery latency). Only the first call's lists count:
/// call it before the first app is built.
pub fn prometheus_with_histograms(histograms: &[(&str, &[f64])]) -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || {
            let mut builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), DURATION_BUCKETS)
                .expect("the bucket list is not empty");
            for (name, buckets) in histograms.iter().filter(|(_, buckets)| !buckets.is_empty()) {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
                    .expect("the bucket list is not empty");
            }
            builder
        };
        let handle = match builder().install_recorder() {
            Ok(handle) => handle,
            Err(error) => {
                // Another recorder owns the process: serve an empty exposition rather than fail.
                tracing::warn!(%error, "a metrics recorder is already installed; /metrics will be empty");
                builder().build_recorder().handle()
            }
        };
        spawn_upkeep(handle.clone());
        handle
    })
}

/// Histogram samples pile up in the recorder until upkeep drains them into buckets; without
/// a scrape that would grow without bound. A plain thread, so no actix worker ever blocks.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the metrics upkeep thread; /metrics scrapes will do it");
    }
}

const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The `method` label: a standard method by name, any other (extension methods of any
/// spelling are accepted by the HTTP parser) as `other`, so that no client can add series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

/// Middleware: counts requests and times them per method, route pattern and status.
pub async fn record_metrics(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let outcome = next.call(request).await;
    let (route, status) = match &outcome {
        Ok(response) => (route_label(response.request()), response.status()),
        // An error, not a response, comes from no route: handlers' errors are responses.
        Err(error) => (UNMATCHED_ROUTE.to_owned(), error.as_response_error().status_code()),
    };
    let labels = [("method", method.to_owned()), ("route", route), ("status", status.as_u16().to_string())];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(started.elapsed().as_secs_f64());
    outcome
}

/// Prometheus text exposition of this process's metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "Metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format: `http_requests_total` and `http_request_duration_seconds` by method, route pattern and status", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics_endpoint() -> HttpResponse {
    let handle = prometheus();
    handle.run_upkeep();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}

/// The origins allowed to call the API from a browser; empty turns CORS off.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(pub Vec<String>);

/// How CORS answers an `Origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CorsGrant {
    /// A listed origin: named back, with credentials (the `ss-tok` cookie is one).
    Listed,
    /// Any origin, through a `*` in the list: `*` back and never credentials, so that no site
    /// can use a visitor's cookie.
    Anyone,
}

impl CorsOrigins {
    fn grant(&self, origin: &str) -> Option<CorsGrant> {
        if self.trusts_for_cookie_changes(origin) {
            Some(CorsGrant::Listed)
        } else if self.0.iter().any(|allowed| allowed == "*") {
            Some(CorsGrant::Anyone)
        } else {
            None
        }
    }

    /// Whether a change authenticated by the `ss-tok` cookie may come from `origin`: only an
    /// origin named in the list (a `*` there opens CORS reads, never cookie-borne changes).
    pub(crate) fn trusts_for_cookie_changes(&self, origin: &str) -> bool {
        self.0.iter().any(|allowed| allowed != "*" && allowed.eq_ignore_ascii_case(origin))
    }
}

const CORS_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const CORS_HEADERS: &str = "Authorization, Content-Type, Accept, X-Request-Id";
const CORS_EXPOSED: &str = "X-Request-Id, Content-Disposition, Retry-After, WWW-Authenticate";

/// Middleware: a small CORS policy for the configured origins. Answers preflights of allowed
/// origins itself; adds `Access-Control-Allow-*` headers to their other responses. Requests
/// of other origins pass untouched, so browsers refuse them.
pub async fn cors(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let allowed_origin = request.app_data::<web::Data<CorsOrigins>>().and_then(|origins| {
        let origin = request.headers().get(header::ORIGIN)?;
        let grant = origins.grant(origin.to_str().ok()?)?;
        Some((grant, origin.clone()))
    });
    let Some((grant, origin)) = allowed_origin else {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    };
    let is_preflight = request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if is_preflight {
        let preflight = HttpResponse::build(StatusCode::NO_CONTENT)
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .finish();
        request.into_response(preflight).map_into_right_body()
    } else {
        let mut response = next.call(request).await?.map_into_left_body();
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(CORS_EXPOSED));
        response
    };
    let headers = response.headers_mut();
    match grant {
        CorsGrant::Listed => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            // The `ss-tok` cookie is a credential.
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        CorsGrant::Anyone => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            // A listed origin gets another answer: caches must keep them apart.
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_come_from_a_fixed_set() {
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for raw in ["FOO", "get", "X-ANYTHING-1"] {
            assert_eq!(method_label(&Method::from_bytes(raw.as_bytes()).unwrap()), "other", "{raw}");
        }
    }

    #[test]
    fn request_ids_from_clients_are_checked() {
        assert!(is_sane_request_id("3f1c9a2e-0b7d-4c1e-9a55-1b2c3d4e5f60"));
        assert!(is_sane_request_id("trace:abc.def_1"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id("line\nbreak"));
        assert!(!is_sane_request_id(&"a".repeat(129)));
    }
}
