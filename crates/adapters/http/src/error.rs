//! The one HTTP error type at the edge (contract section 4): every failure becomes
//! `{"responseStatus":{"errorCode","message","errors":[...]}}` with its status code.

use std::fmt;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use evo_domain::SessionError;
use evo_ports::{AuthError, FieldError, ServiceError};
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
    /// 503 `ServiceUnavailable`, with `Retry-After` in seconds.
    Unavailable {
        /// How long clients should wait.
        retry_after: Duration,
    },
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
            ServiceError::Unavailable(cause) => {
                tracing::warn!(request_id, %cause, "service unavailable");
                Self::Unavailable { retry_after }
            }
            ServiceError::Internal(cause) => {
                tracing::error!(request_id, %cause, "internal error");
                Self::Internal
            }
        }
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
                SessionError::Access(_) => "Forbidden",
            },
            Self::Auth(AuthError::MissingToken) => "Unauthorized",
            Self::Auth(AuthError::InvalidToken(_)) => "TokenException",
            Self::RouteNotFound => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::RequestTooLarge { .. } => "RequestTooLarge",
            Self::Unavailable { .. } => "ServiceUnavailable",
            Self::Internal => "InternalServerError",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(errors) => match errors.first() {
                Some(first) if errors.len() == 1 => format!("{}: {}", first.field, first.message),
                Some(first) => {
                    format!(
                        "{}: {} (and {} more invalid fields)",
                        first.field,
                        first.message,
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
            Self::Internal => "An internal error occurred".to_owned(),
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorResponse {
        let errors = match self {
            Self::Validation(errors) => errors
                .iter()
                .take(MAX_FIELD_ERRORS)
                .map(|e| ResponseFieldError {
                    error_code: e.code.to_owned(),
                    field_name: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        ErrorResponse {
            response_status: ResponseStatus {
                error_code: self.error_code().to_owned(),
                message: self.message(),
                errors,
            },
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
                | SessionError::MemberAlreadyExists { .. } => StatusCode::CONFLICT,
                SessionError::Access(_) => StatusCode::FORBIDDEN,
            },
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::Unavailable { retry_after } => {
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
