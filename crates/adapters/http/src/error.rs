//! The one HTTP error type at the edge (docs/api.md, "Errors"): every failure becomes
//! `{"responseStatus":{"errorCode","message","errors":[...]}}` with its status code.

use std::fmt;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use evo_domain::SessionError;
use evo_ports::{AuthError, FieldError, KeyedRefusal, RepositoryError, ServiceError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// What went wrong.
    pub response_status: ResponseStatus,
}

/// `ResponseStatus`, as ServiceStack writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus {
    /// A stable code, for example `ValidationException` or `MemberNotFound`.
    pub error_code: String,
    /// What went wrong, for people.
    pub message: String,
    /// One entry per invalid field; `[]` otherwise.
    pub errors: Vec<ResponseFieldError>,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseFieldError {
    /// A stable code, for example `NotEmpty` or `InvalidIdentity`.
    pub error_code: String,
    /// The field, as named on the wire.
    pub field_name: String,
    /// What is wrong with it.
    pub message: String,
}

/// Most entries of `errors[]` in one answer; the message still counts them all. Without a
/// bound, a 60 KiB body of 30 000 wrong-typed items answered a 2.6 MB error body (found by
/// tests/hostile_input.rs of evo-app).
pub const MAX_FIELD_ERRORS: usize = 100;

/// Largest error body, in bytes (docs/api.md, "Bounds": under 16 KiB whatever the input).
/// Field names come from the client (an `applicationData` key can be 60 KiB), so entries are
/// added only while they fit, and names and messages are cut to [`MAX_ERROR_TEXT_CHARS`].
pub const MAX_ERROR_BODY_BYTES: usize = 12 * 1024;
/// Longest field name or message kept in an error body, in characters.
pub const MAX_ERROR_TEXT_CHARS: usize = 200;

/// `text` cut to [`MAX_ERROR_TEXT_CHARS`] characters, marked with `…` when cut.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// The limits a 429 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `EVO_RATE_LIMIT_PER_SEC`.
    Changes,
    /// `EVO_READ_RATE_LIMIT_PER_SEC`.
    Reads,
    /// `EVO_STREAMS_PER_CALLER`.
    CallerStreams,
    /// `EVO_STREAMS_MAX`.
    InstanceStreams,
}

/// Every way a request can fail, as the HTTP edge answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400 `ValidationException`: fields missing, malformed or of the wrong JSON type.
    Validation(Vec<FieldError>),
    /// A domain rule or the access policy refused (404, 400, 409 or 403).
    Session(SessionError),
    /// 401 `Unauthorized` or `TokenException`.
    Auth(AuthError),
    /// 404 `NotFound`: no route for this path.
    RouteNotFound,
    /// 405 `MethodNotAllowed`, with the methods the route allows.
    MethodNotAllowed(&'static str),
    /// 413 `RequestTooLarge`.
    RequestTooLarge {
        /// The largest body accepted, in bytes.
        limit: usize,
    },
    /// 503 `ServiceUnavailable`, with `Retry-After` in seconds: nothing was applied.
    Unavailable {
        /// How long clients should wait.
        retry_after: Duration,
    },
    /// 503 `OutcomeUnknown`, with `Retry-After`: the change may have been applied.
    OutcomeUnknown {
        /// How long clients should wait.
        retry_after: Duration,
    },
    /// 429 `TooManyRequests`, with `Retry-After`: a limit of the caller's (or the instance's)
    /// is used up.
    TooManyRequests {
        /// Which limit.
        limit: Limit,
        /// When the next request may be accepted.
        retry_after: Duration,
    },
    /// 408 `RequestTimeout`: the body did not arrive in time.
    RequestTimeout {
        /// How long the body had.
        limit: Duration,
    },
    /// 415 `UnsupportedMediaType`: a body that is neither JSON nor a form by its Content-Type.
    UnsupportedMediaType,
    /// 403 `Forbidden`: a cookie-authenticated change from an origin that is not allowed.
    ForbiddenOrigin,
    /// 422 `IdempotencyKeyReused`: the key was used for another request.
    IdempotencyKeyReused,
    /// 409 `IdempotencyKeyInFlight`: the first request with the key is still running.
    IdempotencyKeyInFlight,
    /// 409 `RemovalRefused`: the pre-removal hook said no, with its message when it gave one.
    RemovalRefused(Option<String>),
    /// 500 `InternalServerError`: the cause is in the log, never in the response.
    Internal,
}

impl ApiError {
    /// Maps a use case failure. Causes of 500 and 503 are logged here, inside the request's
    /// span (so with its request ID), and never reach the client.
    pub fn from_service(error: ServiceError, request_id: &str, retry_after: Duration) -> Self {
        match error {
            ServiceError::Validation(errors) => Self::Validation(errors),
            ServiceError::Session(error) => Self::Session(error),
            ServiceError::Repository(RepositoryError::Unavailable(cause)) => {
                Self::unavailable(request_id, &cause, retry_after)
            }
            ServiceError::Repository(RepositoryError::OutcomeUnknown(cause)) => {
                tracing::error!(request_id, %cause, "outcome of a change unknown");
                Self::OutcomeUnknown { retry_after }
            }
            ServiceError::Repository(cause) => {
                tracing::error!(request_id, %cause, "internal error");
                Self::Internal
            }
            ServiceError::RemovalRefused(message) => Self::RemovalRefused(message),
            ServiceError::Keyed(KeyedRefusal::Reused) => Self::IdempotencyKeyReused,
            ServiceError::Keyed(KeyedRefusal::InProgress) => Self::IdempotencyKeyInFlight,
        }
    }

    /// 503 `ServiceUnavailable`, its cause logged (never sent).
    pub fn unavailable(request_id: &str, cause: &str, retry_after: Duration) -> Self {
        tracing::warn!(request_id, %cause, "service unavailable");
        Self::Unavailable { retry_after }
    }

    /// One invalid field.
    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError { field: field.to_owned(), code, message: message.into() }])
    }

    /// The `errorCode` of the body.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationException",
            Self::Session(error) => match error {
                SessionError::NotFound => "NotFound",
                SessionError::NotAChatSession { .. } => "NotAChatSession",
                SessionError::SessionEnded => "SessionEnded",
                SessionError::MemberNotFound { .. } => "MemberNotFound",
                SessionError::CannotRemoveOriginalMember { .. } => "CannotRemoveOriginalMember",
                SessionError::MemberAlreadyExists { .. } => "MemberAlreadyExists",
                SessionError::SessionFull { .. } => "SessionFull",
                SessionError::SessionLimitReached { .. } | SessionError::SessionTooLarge { .. } => {
                    "SessionLimitReached"
                }
                SessionError::VersionMismatch { .. } => "PreconditionFailed",
                SessionError::Access(_) => "Forbidden",
            },
            Self::Auth(AuthError::MissingToken) => "Unauthorized",
            Self::Auth(AuthError::InvalidToken(_)) => "TokenException",
            Self::RouteNotFound => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::RequestTooLarge { .. } => "RequestTooLarge",
            Self::Unavailable { .. } => "ServiceUnavailable",
            Self::OutcomeUnknown { .. } => "OutcomeUnknown",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::RequestTimeout { .. } => "RequestTimeout",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::ForbiddenOrigin => "Forbidden",
            Self::IdempotencyKeyReused => "IdempotencyKeyReused",
            Self::IdempotencyKeyInFlight => "IdempotencyKeyInFlight",
            Self::RemovalRefused(_) => "RemovalRefused",
            Self::Internal => "InternalServerError",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(errors) => match errors.first() {
                Some(first) if errors.len() == 1 => {
                    format!("{}: {}", bounded(&first.field), bounded(&first.message))
                }
                Some(first) => {
                    format!(
                        "{}: {} (and {} more invalid fields)",
                        bounded(&first.field),
                        bounded(&first.message),
                        errors.len() - 1
                    )
                }
                None => "the request is invalid".to_owned(),
            },
            // The domain's own words: written for people, and they hold no internal detail.
            Self::Session(error) => error.to_string(),
            Self::Auth(AuthError::MissingToken) => {
                "Authentication required: send a bearer token or the ss-tok cookie".to_owned()
            }
            Self::Auth(AuthError::InvalidToken(reason)) => format!("Invalid token: {reason}"),
            Self::RouteNotFound => "No route matches this path".to_owned(),
            Self::MethodNotAllowed(allowed) => format!("This route allows only {allowed}"),
            Self::RequestTooLarge { limit } => format!("The request body is larger than {limit} bytes"),
            Self::Unavailable { .. } => "The service is temporarily unavailable; retry later".to_owned(),
            Self::OutcomeUnknown { .. } => {
                "The change may or may not have been applied: the database's answer \
                was lost. Retry with the same Idempotency-Key, or read the session, to learn which"
                    .to_owned()
            }
            Self::TooManyRequests { limit, retry_after } => {
                let what = match limit {
                    Limit::Changes => "Too many changes from this caller",
                    Limit::Reads => "Too many reads from this caller",
                    Limit::CallerStreams => "This caller has as many live streams open as it may",
                    Limit::InstanceStreams => "This instance has as many live streams open as it may",
                };
                format!("{what}; retry in {} s", retry_after.as_secs().max(1))
            }
            Self::RequestTimeout { limit } => {
                format!("The request body did not arrive within {} s", limit.as_secs().max(1))
            }
            Self::UnsupportedMediaType => "A request body needs Content-Type: application/json \
                (or application/x-www-form-urlencoded for a form)"
                .to_owned(),
            Self::ForbiddenOrigin => "A change authenticated by the ss-tok cookie must come from an allowed \
                Origin"
                .to_owned(),
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was used for another request; use a new key for a new request"
                    .to_owned()
            }
            Self::IdempotencyKeyInFlight => {
                "A request with this Idempotency-Key is still running; retry once it has answered".to_owned()
            }
            Self::RemovalRefused(Some(message)) => bounded(message),
            Self::RemovalRefused(None) => "The pre-removal hook refused this removal".to_owned(),
            Self::Internal => "An internal error occurred".to_owned(),
        }
    }

    /// The JSON body of this error, under [`MAX_ERROR_BODY_BYTES`] whatever the input.
    pub fn body(&self) -> ErrorResponse {
        let message = self.message();
        let mut errors = Vec::new();
        if let Self::Validation(field_errors) = self {
            // JSON escaping can grow a character to six bytes: count what is really written.
            let mut size = message.len() * 6 + 128;
            for e in field_errors.iter().take(MAX_FIELD_ERRORS) {
                let entry = ResponseFieldError {
                    error_code: e.code.to_owned(),
                    field_name: bounded(&e.field),
                    message: bounded(&e.message),
                };
                size += serde_json::to_vec(&entry).map_or(usize::MAX / 2, |bytes| bytes.len() + 1);
                if size > MAX_ERROR_BODY_BYTES {
                    break;
                }
                errors.push(entry);
            }
        }
        ErrorResponse {
            response_status: ResponseStatus { error_code: self.error_code().to_owned(), message, errors },
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code(), self.message())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::Auth(error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Session(error) => match error {
                SessionError::NotFound | SessionError::MemberNotFound { .. } => StatusCode::NOT_FOUND,
                SessionError::NotAChatSession { .. } => StatusCode::BAD_REQUEST,
                SessionError::SessionEnded
                | SessionError::CannotRemoveOriginalMember { .. }
                | SessionError::MemberAlreadyExists { .. }
                | SessionError::SessionFull { .. }
                | SessionError::SessionLimitReached { .. }
                | SessionError::SessionTooLarge { .. } => StatusCode::CONFLICT,
                SessionError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
                SessionError::Access(_) => StatusCode::FORBIDDEN,
            },
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } | Self::OutcomeUnknown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ForbiddenOrigin => StatusCode::FORBIDDEN,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInFlight | Self::RemovalRefused(_) => StatusCode::CONFLICT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Auth(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::MethodNotAllowed(allowed) => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allowed)));
            }
            Self::Unavailable { retry_after }
            | Self::OutcomeUnknown { retry_after }
            | Self::TooManyRequests { retry_after, .. } => {
                // Whole seconds, at least one: `Retry-After: 0` would invite a tight retry loop.
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evo_domain::AccessError;

    #[test]
    fn every_session_error_has_its_status_and_code() {
        let cases = [
            (SessionError::NotFound, 404, "NotFound"),
            (SessionError::NotAChatSession { channel: evo_domain::Channel::Voice }, 400, "NotAChatSession"),
            (SessionError::SessionEnded, 409, "SessionEnded"),
            (SessionError::MemberNotFound { identity: "+15551234567".into() }, 404, "MemberNotFound"),
            (
                SessionError::CannotRemoveOriginalMember { identity: "+15551234567".into() },
                409,
                "CannotRemoveOriginalMember",
            ),
            (SessionError::MemberAlreadyExists { identity: "a@b".into() }, 409, "MemberAlreadyExists"),
            (SessionError::SessionFull { limit: 100 }, 409, "SessionFull"),
            (SessionError::SessionLimitReached { limit: 1000 }, 409, "SessionLimitReached"),
            (SessionError::SessionTooLarge { max_bytes: 262_144 }, 409, "SessionLimitReached"),
            (SessionError::VersionMismatch { current: 4 }, 412, "PreconditionFailed"),
            (AccessError::MissingRole { role: "User" }.into(), 403, "Forbidden"),
        ];
        for (error, status, code) in cases {
            let api = ApiError::Session(error);
            assert_eq!(api.status_code().as_u16(), status, "{api}");
            assert_eq!(api.error_code(), code);
            assert!(api.body().response_status.errors.is_empty());
        }
    }

    #[test]
    fn field_errors_are_bounded_and_counted() {
        let errors = (0..30_000)
            .map(|i| FieldError {
                field: format!("members[{i}]"),
                code: "InvalidValue",
                message: "must be an object".into(),
            })
            .collect();
        let body = ApiError::Validation(errors).body().response_status;
        assert_eq!(body.errors.len(), MAX_FIELD_ERRORS);
        assert_eq!(body.errors[0].field_name, "members[0]");
        assert_eq!(body.message, "members[0]: must be an object (and 29999 more invalid fields)");
    }

    #[test]
    fn error_bodies_stay_small_whatever_the_field_names() {
        // Client-chosen names (an applicationData key) of 60 KiB, full of characters JSON
        // escapes to six bytes each.
        let huge_name = "\u{1}".repeat(60 * 1024);
        let errors = (0..100)
            .map(|i| FieldError {
                field: format!("members[{i}].applicationData.{huge_name}"),
                code: "InvalidValue",
                message: format!("{huge_name} must be a string"),
            })
            .collect();
        let body = serde_json::to_vec(&ApiError::Validation(errors).body()).unwrap();
        assert!(body.len() < 16 * 1024, "{} bytes", body.len());
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(!parsed["responseStatus"]["errors"].as_array().unwrap().is_empty(), "some fields are named");
    }

    #[test]
    fn validation_lists_each_field() {
        let api = ApiError::Validation(vec![
            FieldError { field: "memberToAdd".into(), code: "NotEmpty", message: "must not be empty".into() },
            FieldError { field: "role".into(), code: "InvalidValue", message: "bad role".into() },
        ]);
        let body = serde_json::to_value(api.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"responseStatus": {
                "errorCode": "ValidationException",
                "message": "memberToAdd: must not be empty (and 1 more invalid fields)",
                "errors": [
                    {"errorCode": "NotEmpty", "fieldName": "memberToAdd", "message": "must not be empty"},
                    {"errorCode": "InvalidValue", "fieldName": "role", "message": "bad role"}
                ]
            }})
        );
    }
}
