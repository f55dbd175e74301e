//! The handlers: one per operation, serving every route form of it (the operation route,
//! `/api/{Operation}` and `/json/reply/{Operation}`), plus the health probes.
//!
//! Each operation handler authenticates first (401), then reads the body (413, malformed JSON)
//! and the fields (wrong types), then parses them into the use case's typed command
//! ([`commands`](crate::commands)) and hands it over, parsed or with its field errors: the use
//! case checks the role (403) before it answers those (400), then applies the rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use evo_domain::{Actor, Session};
use evo_ports::{AuthError, ChangeOutcome, RepositoryError, ServiceError, SessionUseCases};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{InviteChatMember, NewSession, PatchSession, SessionInfo};
use crate::error::{ApiError, ErrorResponse, Limit};
use crate::event_hub::EventHub;
use crate::format::render_session;
use crate::observability::{CorsOrigins, RequestId};
use crate::openapi::{IdempotencyKeyHeader, IfMatchHeader, SessionPath};
use crate::rate_limit::CallerRateLimit;
use crate::request::{RequestFields, TokenSource, bearer_token, read_body};
use crate::{commands, etag, idempotency};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The use cases; the only way in to the service.
    pub use_cases: Arc<dyn SessionUseCases>,
    /// `Retry-After` of 503 answers.
    pub retry_after: Duration,
    /// How long a body may take to arrive.
    pub body_read_timeout: Duration,
    /// Changes per caller and second, shared by every worker.
    pub rate_limit: Arc<CallerRateLimit>,
    /// Reads per caller and second, shared by every worker.
    pub read_rate_limit: Arc<CallerRateLimit>,
    /// Set once a stop was asked for: readiness then answers 503 while requests are served.
    pub draining: Arc<AtomicBool>,
    /// The last readiness check of this instance, kept for a second.
    pub(crate) readiness: Arc<ReadinessCheck>,
    /// The live streams' reader and fan-out; `None`: their routes are not served.
    pub(crate) event_hub: Option<Arc<EventHub>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("retry_after", &self.retry_after).finish_non_exhaustive()
    }
}

impl AppState {
    /// Authenticates a read, and counts it against the caller's read rate (429).
    pub(crate) async fn authenticate(&self, request: &HttpRequest) -> Result<Actor, ApiError> {
        let (token, _) = bearer_token(request).ok_or(AuthError::MissingToken)?;
        let actor = self.use_cases.authenticate(&token).await?;
        self.read_rate_limit.check(&actor.user_id).map_err(|wait| ApiError::TooManyRequests {
            limit: Limit::Reads,
            retry_after: wait.max(Duration::from_secs(1)),
        })?;
        Ok(actor)
    }

    /// Until when the request's (authenticated) token stays acceptable.
    pub(crate) fn token_valid_until(&self, request: &HttpRequest) -> Option<evo_domain::Timestamp> {
        let (token, _) = bearer_token(request)?;
        self.use_cases.token_valid_until(&token)
    }

    /// Authenticates a change (POST, DELETE): then, for a token from the `ss-tok` cookie, an
    /// `Origin` must be absent or trusted (403), and the caller's change rate must allow it
    /// (429); docs/api.md, "Order of checks", "Bounds" and "Cookies and cross-site requests".
    pub(crate) async fn authenticate_change(&self, request: &HttpRequest) -> Result<Actor, ApiError> {
        let (token, source) = bearer_token(request).ok_or(AuthError::MissingToken)?;
        let actor = self.use_cases.authenticate(&token).await?;
        if source == TokenSource::Cookie
            && let Some(origin) = request.headers().get(header::ORIGIN)
            && !request
                .app_data::<web::Data<CorsOrigins>>()
                .zip(origin.to_str().ok())
                .is_some_and(|(origins, origin)| origins.trusts_for_cookie_changes(origin))
        {
            return Err(ApiError::ForbiddenOrigin);
        }
        self.rate_limit.check(&actor.user_id).map_err(|wait| ApiError::TooManyRequests {
            limit: Limit::Changes,
            retry_after: wait.max(Duration::from_secs(1)),
        })?;
        Ok(actor)
    }

    /// GetSession's way to a session, for its route and the session's live stream:
    /// authenticated, parsed, then read if the caller may see it.
    pub(crate) async fn read_session(&self, request: &HttpRequest) -> Result<Session, ApiError> {
        Ok(self.read_session_as(request).await?.1)
    }

    /// [`read_session`](Self::read_session), with the caller it was read for.
    pub(crate) async fn read_session_as(&self, request: &HttpRequest) -> Result<(Actor, Session), ApiError> {
        let actor = self.authenticate(request).await?;
        let fields = path_and_query_fields(request, &[("sessionId", "sessionId")])?;
        let session_id = commands::get_session(&fields)?;
        let session = self
            .use_cases
            .get_session(&actor, session_id)
            .await
            .map_err(|error| self.fail(request, error))?;
        Ok((actor, session))
    }

    pub(crate) fn fail(&self, request: &HttpRequest, error: ServiceError) -> ApiError {
        ApiError::from_service(error, &request_id(request), self.retry_after)
    }

    fn answer(
        &self,
        request: &HttpRequest,
        operation: &str,
        outcome: Result<ChangeOutcome<Session>, ServiceError>,
    ) -> Result<HttpResponse, ApiError> {
        match outcome {
            Ok(ChangeOutcome::Applied(session)) => render_session(request, operation, &session),
            Ok(ChangeOutcome::Replayed(answer)) => Ok(idempotency::replay(answer)),
            Err(error) => Err(self.fail(request, error)),
        }
    }
}

/// The request's ID, for the log lines of its failures.
pub(crate) fn request_id(request: &HttpRequest) -> String {
    request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default()
}

/// Fields of a request without a body: the path, then the query string.
pub(crate) fn path_and_query_fields(
    request: &HttpRequest,
    path: &[(&str, &str)],
) -> Result<RequestFields, ApiError> {
    let mut fields = RequestFields::default();
    add_path_and_query(&mut fields, request, path)?;
    Ok(fields)
}

fn add_path_and_query(
    fields: &mut RequestFields,
    request: &HttpRequest,
    path: &[(&str, &str)],
) -> Result<(), ApiError> {
    for (segment, field) in path {
        fields.set_from_path(request, segment, field)?;
    }
    fields.merge_query_over_path(request)?;
    record_session_id(fields);
    Ok(())
}

/// Puts the session ID in the request's log span, cut to the longest valid ID. Called only
/// once the caller is authenticated, so anonymous input never reaches the logs.
fn record_session_id(fields: &RequestFields) {
    if let Some(id) = fields.text("sessionId", &mut Vec::new()) {
        let bounded: String = id.chars().take(64).collect();
        tracing::Span::current().record("session_id", tracing::field::display(bounded));
    }
}

/// Fields of a POST: the body, then the path, then the query string.
async fn body_fields(
    request: &HttpRequest,
    payload: web::Payload,
    timeout: Duration,
    path: &[(&str, &str)],
) -> Result<(RequestFields, web::Bytes), ApiError> {
    let body = read_body(payload, timeout).await?;
    let mut fields = RequestFields::from_body(request, &body)?;
    add_path_and_query(&mut fields, request, path)?;
    Ok((fields, body))
}

/// DeleteChatMember: removes the specified member from the chat.
#[utoipa::path(
    delete,
    path = "/sessions/{sessionId}/members/{memberId}",
    operation_id = "DeleteChatMember",
    tag = "sessions",
    params(
        SessionPath,
        ("memberId" = String, Path, description = "The member to remove: a cell phone number or a user ID (email), percent-encoded (`%2B` for `+`, `%40` for `@`). The pattern is the canonical form; spaces, `-`, `.`, `(` and `)` in a phone number are accepted and dropped", pattern = r"^(?:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}|\+[1-9][0-9]{6,14})$"),
        ("memberToRemove" = Option<String>, Query, description = "The member to remove: a cell phone number or a user ID (email); overrides the `{memberId}` segment. A raw `+` decodes to a space, read back as `+`", pattern = r"^(?:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}|\+[1-9][0-9]{6,14})$"),
        ("reason" = Option<String>, Query, description = "Why the member is removed: written in the log entry (`Ann removed Bob from the chat: left for the day`). At most 500 characters, no control characters", max_length = 500, pattern = r"^[^\x00-\x1f\x7f]{0,500}$"),
        IfMatchHeader,
        IdempotencyKeyHeader,
    ),
    responses((status = 200, description = "The session after the removal", content((SessionInfo = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn delete_chat_member(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate_change(&request).await?;
    let fields =
        path_and_query_fields(&request, &[("sessionId", "sessionId"), ("memberId", "memberToRemove")])?;
    let command = commands::delete_chat_member(&fields, &request)?;
    let outcome = state.use_cases.delete_chat_member(&actor, command).await;
    state.answer(&request, "DeleteChatMember", outcome)
}

/// InviteChatMember: add a member to the chat session.
#[utoipa::path(
    post,
    path = "/sessions/{sessionId}/members",
    operation_id = "InviteChatMember",
    tag = "sessions",
    params(
        SessionPath,
        IfMatchHeader,
        IdempotencyKeyHeader,
    ),
    request_body = InviteChatMember,
    responses((status = 200, description = "The session after adding the member", content((SessionInfo = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn invite_chat_member(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate_change(&request).await?;
    let (fields, body) =
        body_fields(&request, payload, state.body_read_timeout, &[("sessionId", "sessionId")]).await?;
    let command = commands::invite_chat_member(&fields, &request, &body)?;
    let outcome = state.use_cases.invite_chat_member(&actor, command).await;
    state.answer(&request, "InviteChatMember", outcome)
}

/// NewSession: create a new session.
#[utoipa::path(
    post,
    path = "/sessions",
    operation_id = "NewSession",
    tag = "sessions",
    params(
        IdempotencyKeyHeader,
    ),
    request_body = NewSession,
    responses((status = 200, description = "The new session", content((SessionInfo = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn new_session(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate_change(&request).await?;
    let (fields, body) = body_fields(&request, payload, state.body_read_timeout, &[]).await?;
    let command = commands::new_session(&fields, &request, &body)?;
    let outcome = state.use_cases.new_session(&actor, command).await;
    state.answer(&request, "NewSession", outcome)
}

/// GetSession: retrieve the specified session, with its log.
#[utoipa::path(
    get,
    path = "/sessions/{sessionId}",
    operation_id = "GetSession",
    tag = "sessions",
    params(
        SessionPath,
        ("If-None-Match" = Option<String>, Header, description = "The ETag the caller has (`\"v3\"`, several comma-separated, or `*`): 304 with no body when it is current"),
    ),
    responses(
        (status = 200, description = "The session with its log", content((SessionInfo = "application/json"), (String = "text/csv"), (String = "text/jsv")),
            headers(("ETag" = String, description = "The session's version, `\"v<n>\"`: changes exactly when the session does"))),
        (status = 304, description = "Not modified: the `If-None-Match` ETag is current", headers(("ETag" = String, description = "The session's version"))),
    ),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn get_session(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let session = state.read_session(&request).await?;
    if etag::none_match(&request, &session) {
        // What the caller has is current: no body (docs/api.md, "ETag, If-None-Match, If-Match").
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag::etag(&session))).finish());
    }
    render_session(&request, "GetSession", &session)
}

/// EndSession: ends the specified session.
#[utoipa::path(
    delete,
    path = "/sessions/{sessionId}",
    operation_id = "EndSession",
    tag = "sessions",
    params(
        SessionPath,
        ("callSid" = Option<String>, Query, description = "The call SID to end: told in the `SessionEnded` event. At most 64 characters, no control characters", max_length = 64, pattern = r"^[^\x00-\x1f\x7f]{0,64}$"),
        IfMatchHeader,
        IdempotencyKeyHeader,
    ),
    responses((status = 200, description = "The ended session: `ended: true`, `dateCompleted` set", content((SessionInfo = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn end_session(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate_change(&request).await?;
    let fields = path_and_query_fields(&request, &[("sessionId", "sessionId")])?;
    let command = commands::end_session(&fields, &request)?;
    let outcome = state.use_cases.end_session(&actor, command).await;
    state.answer(&request, "EndSession", outcome)
}

/// PatchSession: set the specified session's states and console data.
#[utoipa::path(
    patch,
    path = "/sessions/{sessionId}",
    operation_id = "PatchSession",
    tag = "sessions",
    params(
        SessionPath,
        IfMatchHeader,
        IdempotencyKeyHeader,
    ),
    request_body = PatchSession,
    responses((status = 200, description = "The session after the change", content((SessionInfo = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn patch_session(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate_change(&request).await?;
    let (fields, body) =
        body_fields(&request, payload, state.body_read_timeout, &[("sessionId", "sessionId")]).await?;
    let command = commands::patch_session(&fields, &request, &body)?;
    let outcome = state.use_cases.patch_session(&actor, command).await;
    state.answer(&request, "PatchSession", outcome)
}

/// How long one readiness check answers every probe: the store is asked at most once a
/// second per instance, whatever the probe rate (anonymous probes cannot load it).
const READINESS_KEPT: Duration = Duration::from_secs(1);

/// The instance's last readiness check; probes that come while one runs wait for its answer.
#[derive(Debug, Default)]
pub(crate) struct ReadinessCheck(
    tokio::sync::Mutex<Option<(tokio::time::Instant, Result<(), ServiceError>)>>,
);

impl ReadinessCheck {
    async fn check(&self, use_cases: &dyn SessionUseCases) -> Result<(), ServiceError> {
        let mut last = self.0.lock().await;
        if let Some((at, outcome)) = last.as_ref()
            && at.elapsed() < READINESS_KEPT
        {
            return outcome.clone();
        }
        let outcome = use_cases.readiness().await;
        *last = Some((tokio::time::Instant::now(), outcome.clone()));
        outcome
    }
}

/// The body of the health probes.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// `live` or `ready`.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "HealthLive",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = HealthStatus))
)]
pub async fn health_live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "live" })
}

/// Readiness: the service can serve (its store answers).
#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "HealthReady",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "Not ready: the store does not answer, or the instance is draining before a stop (SIGTERM)", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn health_ready(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request_id = request_id(&request);
    if state.draining.load(Ordering::SeqCst) {
        // Stopping: a balancer should route elsewhere; requests already here are still served.
        return Err(ApiError::unavailable(&request_id, "draining before a stop", state.retry_after));
    }
    match state.readiness.check(state.use_cases.as_ref()).await {
        Ok(()) => Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" })),
        // Not ready, whatever the cause: 503 tells the balancer to route elsewhere for now.
        Err(ServiceError::Repository(failure @ RepositoryError::Internal(_))) => Err(ApiError::unavailable(
            &request_id,
            &format!("readiness failed: {failure}"),
            state.retry_after,
        )),
        Err(error) => Err(state.fail(&request, error)),
    }
}

/// 404 for every path no route matches.
pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// A 405 handler for a resource whose routes allow only `allowed`.
pub fn method_not_allowed(allowed: &'static str) -> actix_web::Route {
    web::route().to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allowed)) })
}
