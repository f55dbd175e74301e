//! The OpenAPI 3.1 document, generated from the handlers' annotations and the DTOs.
//!
//! The ServiceStack pre-defined routes (`/api/{Operation}`, `/{json|csv|jsv}/reply/{Operation}`)
//! are derived from the operation routes here, with the path parameters as query parameters,
//! so both stay in step with the handlers. Error responses, shared by every operation, are
//! added once as components.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as OpenApiDocument, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    ActiveSessionsResponse, CustomerBreadcrumb, InviteChatMember, ListSessionsResponse, NewSession,
    NewSessionMember, PatchSession, RemovalResult, RemovalsResponse, SessionInfo, SessionLogInfo,
    SessionMemberInfo,
};
use crate::error::{ErrorResponse, ResponseFieldError, ResponseStatus};
use crate::handlers::{self, HealthStatus};
use crate::{observability, queries};

/// The OpenAPI document of evo-sessions.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "evo-sessions",
        description = "Chat sessions: open, read, invite and remove members, end. ServiceStack-compatible routes, formats (JSON, CSV, JSV) and errors."
    ),
    paths(
        handlers::new_session,
        handlers::get_session,
        handlers::end_session,
        handlers::invite_chat_member,
        handlers::delete_chat_member,
        handlers::patch_session,
        queries::list_sessions_handler,
        queries::get_active_sessions,
        queries::get_my_sessions,
        queries::remove_chat_member_from_active_sessions,
        handlers::health_live,
        handlers::health_ready,
        observability::metrics_endpoint,
        openapi_json,
        crate::servicestack::metadata_index,
        crate::servicestack::operation_page,
        crate::servicestack::types,
    ),
    components(schemas(
        SessionInfo,
        SessionMemberInfo,
        SessionLogInfo,
        CustomerBreadcrumb,
        NewSession,
        NewSessionMember,
        InviteChatMember,
        PatchSession,
        ListSessionsResponse,
        ActiveSessionsResponse,
        RemovalsResponse,
        RemovalResult,
        ErrorResponse,
        ResponseStatus,
        ResponseFieldError,
        HealthStatus
    )),
    modifiers(&IdRule, &WritableTexts, &SecurityAndErrors, &ServiceStackRoutes),
    tags(
        (name = "sessions", description = "Chat session operations; a bearer JWT (or the ss-tok cookie) with the User role"),
        (name = "operations", description = "Probes, metrics and this document; no authentication"),
        (name = "metadata", description = "ServiceStack's metadata pages and Add ServiceStack Reference (/types/*); no authentication"),
    )
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "OpenApi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this service", content_type = "application/json"))
)]
pub async fn openapi_json() -> HttpResponse {
    // Built once: the document only changes with the code.
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot serialize the OpenAPI document");
            "{}".to_owned()
        })
    });
    HttpResponse::Ok().content_type("application/json").body(document.as_str())
}

/// The error responses every operation may give: (status, component name, description).
const ERROR_RESPONSES: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "`ValidationException` (errors[] names each invalid field, including malformed JSON and wrong types) or `NotAChatSession`",
    ),
    ("401", "Unauthorized", "`Unauthorized` (no token) or `TokenException` (an unusable token)"),
    (
        "403",
        "Forbidden",
        "`Forbidden`: the User role is missing, or a change authenticated by the `ss-tok` cookie comes from an Origin not in EVO_CORS_ORIGINS",
    ),
    ("404", "NotFound", "`NotFound` (no such session visible to the caller) or `MemberNotFound`"),
    ("405", "MethodNotAllowed", "`MethodNotAllowed`: the route exists with other methods (see `Allow`)"),
    ("408", "RequestTimeout", "`RequestTimeout`: the body did not arrive within 10 s"),
    (
        "412",
        "PreconditionFailed",
        "`PreconditionFailed`: `If-Match` names another version than the session's current ETag; nothing changed",
    ),
    (
        "409",
        "Conflict",
        "`SessionEnded`, `CannotRemoveOriginalMember`, `MemberAlreadyExists`, `SessionFull` (100 members), `SessionLimitReached` (1,000 log entries, or a session larger than EVO_SESSION_MAX_BYTES as JSON; EndSession is always allowed), `IdempotencyKeyInFlight` (a request with this Idempotency-Key is still running) or, on DeleteChatMember with a pre-removal hook, `RemovalRefused` (the hook said no; its message when it gave one)",
    ),
    ("413", "RequestTooLarge", "`RequestTooLarge`: a body over 64 KiB"),
    (
        "415",
        "UnsupportedMediaType",
        "`UnsupportedMediaType`: a body without `Content-Type: application/json` (or `application/x-www-form-urlencoded`)",
    ),
    (
        "422",
        "IdempotencyKeyReused",
        "`IdempotencyKeyReused`: the Idempotency-Key was used for another request (method, path, query or body differ)",
    ),
    (
        "429",
        "TooManyRequests",
        "`TooManyRequests`: the caller's changes (POST, DELETE) exceed EVO_RATE_LIMIT_PER_SEC, or its reads (GET) EVO_READ_RATE_LIMIT_PER_SEC, on this instance",
    ),
    ("500", "InternalServerError", "`InternalServerError`: a generic message; details only in the log"),
    (
        "503",
        "ServiceUnavailable",
        "`ServiceUnavailable`: the database is unreachable or saturated, nothing was applied; or `OutcomeUnknown`: the answer to the COMMIT was lost and the service could not find out whether it went through",
    ),
];

struct SecurityAndErrors;

impl Modify for SecurityAndErrors {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
        components.add_security_scheme(
            "ss-tok",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("ss-tok"))),
        );
        let integer = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)).build();
        let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)).build();
        for (_, name, description) in ERROR_RESPONSES {
            let mut response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorResponse"))));
            response = match *name {
                "Unauthorized" => response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new().schema(text()).description(Some("`Bearer`")).build(),
                ),
                "MethodNotAllowed" => response.header(
                    "Allow",
                    HeaderBuilder::new().schema(text()).description(Some("The allowed methods")).build(),
                ),
                "ServiceUnavailable" | "TooManyRequests" => response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(integer())
                        .description(Some("Seconds to wait before retrying"))
                        .build(),
                ),
                _ => response,
            };
            components.responses.insert((*name).to_owned(), RefOr::T(response.build()));
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let is_session_operation =
                    operation.tags.as_ref().is_some_and(|tags| tags.iter().any(|tag| tag == "sessions"));
                if !is_session_operation {
                    continue;
                }
                for (status, name, _) in ERROR_RESPONSES {
                    operation
                        .responses
                        .responses
                        .insert((*status).to_owned(), RefOr::Ref(Ref::from_response_name(*name)));
                }
                // Every SessionInfo answer has its ETag; a change's may be a replay.
                let is_change = operation.parameters.iter().flatten().any(|p| p.name == "Idempotency-Key");
                if let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") {
                    ok.headers.entry("Cache-Control".to_owned()).or_insert_with(|| {
                        HeaderBuilder::new()
                            .schema(text())
                            .description(Some("`private, no-cache`: a session is personal data"))
                            .build()
                    });
                    ok.headers.entry("ETag".to_owned()).or_insert_with(|| {
                        HeaderBuilder::new()
                            .schema(text())
                            .description(Some(
                                "The session's version, `\"v<n>\"`: changes exactly when the session does",
                            ))
                            .build()
                    });
                    if is_change {
                        ok.headers.insert(
                            "Idempotent-Replayed".to_owned(),
                            HeaderBuilder::new()
                                .schema(text())
                                .description(Some("`true` on the stored answer replayed to a retry with the same Idempotency-Key"))
                                .build(),
                        );
                    }
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete].into_iter().filter_map(Option::as_mut)
}

/// The ID rule of session and account IDs (`evo_domain::SessionId::parse`), stated once, as
/// a JSON Schema on every `sessionId` parameter and on the ID fields of the request bodies.
struct IdRule;

/// The pattern of a session or account ID: 1 to [`evo_domain::ids::MAX_ID_CHARS`] of
/// `A-Z a-z 0-9 - _ .`.
fn id_pattern() -> String {
    format!("^[A-Za-z0-9._-]{{1,{}}}$", evo_domain::ids::MAX_ID_CHARS)
}

fn constrain_id(schema: &mut utoipa::openapi::schema::Object) {
    schema.min_length = Some(1);
    schema.max_length = Some(evo_domain::ids::MAX_ID_CHARS);
    schema.pattern = Some(id_pattern());
}

impl Modify for IdRule {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        use utoipa::openapi::schema::Schema;
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if parameter.name == "sessionId"
                        && let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut()
                    {
                        constrain_id(schema);
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else { return };
        for (body, field) in [("NewSession", "accountId"), ("InviteChatMember", "sessionId")] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(body)
                && let Some(RefOr::T(Schema::Object(schema))) = object.properties.get_mut(field)
            {
                constrain_id(schema);
            }
        }
    }
}

/// NewSession's descriptive text fields, as the parser reads them (`commands::WRITABLE_TEXTS`).
struct WritableTexts;

impl Modify for WritableTexts {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        use utoipa::openapi::schema::Schema;
        let Some(components) = openapi.components.as_mut() else { return };
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut("NewSession") else { return };
        for (field, ..) in crate::commands::WRITABLE_TEXTS {
            let text = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
            object.properties.insert(field.to_owned(), RefOr::T(Schema::Object(text.build())));
        }
    }
}

struct ServiceStackRoutes;

impl Modify for ServiceStackRoutes {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let mut added = Vec::new();
        for crate::operations::Operation { name, route, .. } in crate::operations::OPERATIONS {
            let Some(item) = openapi.paths.paths.get(*route) else { continue };
            let Some((method, operation)) = find_operation(item, name) else { continue };
            for prefix in ["/api", "/json/reply", "/csv/reply", "/jsv/reply"] {
                let mut operation = operation.clone();
                operation.operation_id = Some(format!("{name}{}", route_suffix(prefix)));
                operation.parameters =
                    Some(query_parameters(operation.parameters.take().unwrap_or_default()));
                added.push((format!("{prefix}/{name}"), method, operation));
            }
        }
        for (path, method, operation) in added {
            let item = openapi.paths.paths.entry(path).or_default();
            match method {
                "get" => item.get = Some(operation),
                "post" => item.post = Some(operation),
                "patch" => item.patch = Some(operation),
                _ => item.delete = Some(operation),
            }
        }
    }
}

fn route_suffix(prefix: &str) -> &'static str {
    match prefix {
        "/api" => "_Api",
        "/json/reply" => "_JsonReply",
        "/csv/reply" => "_CsvReply",
        _ => "_JsvReply",
    }
}

fn find_operation<'a>(item: &'a PathItem, name: &str) -> Option<(&'static str, &'a Operation)> {
    [("get", &item.get), ("post", &item.post), ("patch", &item.patch), ("delete", &item.delete)]
        .into_iter()
        .find_map(|(method, operation)| {
            operation.as_ref().filter(|op| op.operation_id.as_deref() == Some(name)).map(|op| (method, op))
        })
}

/// The route's path parameters become query parameters: `{memberId}` is `memberToRemove`,
/// which the operation already lists.
fn query_parameters(parameters: Vec<Parameter>) -> Vec<Parameter> {
    parameters
        .into_iter()
        .filter(|parameter| !crate::operations::ROUTE_ONLY_VARIABLES.contains(&parameter.name.as_str()))
        .map(|mut parameter| {
            if parameter.parameter_in == ParameterIn::Path {
                parameter.parameter_in = ParameterIn::Query;
                parameter.required = Required::False;
            }
            parameter
        })
        .collect()
}

/// The path parameter of every operation on one session.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // described, never read: the handlers parse the path themselves
pub(crate) struct SessionPath {
    /// The ID of the session: 1 to 64 of `A-Z a-z 0-9 - _ .`
    #[param(rename = "sessionId")]
    session_id: String,
}

/// `If-Match` on a change (docs/api.md, "ETag, If-None-Match, If-Match").
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // described, never read
pub(crate) struct IfMatchHeader {
    /// Apply only if the session is still at this ETag (`"v3"`; several comma-separated; `*` for any): 412 `PreconditionFailed` otherwise, and nothing changes
    #[param(rename = "If-Match", pattern = r#"^(\*|"v[0-9]{1,19}"(, ?"v[0-9]{1,19}")*)$"#)]
    if_match: Option<String>,
}

/// `Idempotency-Key` on a change (docs/api.md, "Idempotency-Key").
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // described, never read
pub(crate) struct IdempotencyKeyHeader {
    /// 1 to 255 printable ASCII characters. A retry with the same key and the same request gets the first answer again, byte for byte, with `Idempotent-Replayed: true`; the same key with another request is 422 `IdempotencyKeyReused`; while the first runs, 409 `IdempotencyKeyInFlight`. Kept for EVO_IDEMPOTENCY_TTL_SECS
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255, pattern = r"^[ -~]{1,255}$")]
    idempotency_key: Option<String>,
}
