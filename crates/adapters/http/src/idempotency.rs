//! `Idempotency-Key` at the edge (docs/api.md, "Idempotency-Key"): the digest of a keyed request, how its
//! answer renders for the store to keep, and how a stored answer is replayed.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use evo_domain::{Session, SessionError};
use evo_ports::{AnswerRenderer, IdempotencyInput, KeptAnswer, RemovalReport};
use sha2::{Digest, Sha256};

use crate::dto::SessionInfo;
use crate::error::ApiError;
use crate::format::{Format, SESSION_CSV, render_body};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer replayed from the store.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Renders answers as the operation's handler does, in the request's format: a stored answer
/// then equals, byte for byte, the one the first request got.
struct HttpAnswer {
    format: Format,
}

impl AnswerRenderer for HttpAnswer {
    fn render(&self, outcome: Result<&Session, &SessionError>) -> KeptAnswer {
        let rendered = match outcome {
            Ok(session) => render_body(self.format, &SessionInfo::from(session), SESSION_CSV)
                .map(|body| (StatusCode::OK, self.format.content_type(), body.into_bytes())),
            Err(refusal) => Err(ApiError::Session(refusal.clone())),
        };
        let (status, content_type, body) = rendered.unwrap_or_else(|error| {
            use actix_web::ResponseError;
            (error.status_code(), "application/json", serde_json::to_vec(&error.body()).unwrap_or_default())
        });
        KeptAnswer { status: status.as_u16(), content_type: content_type.to_owned(), body }
    }

    fn render_removals(&self, report: &RemovalReport) -> KeptAnswer {
        // Kept only when no store failure is in it: a 503's Retry-After is not rendered here.
        let body = crate::queries::removals_response(report, "", std::time::Duration::from_secs(1));
        match render_body(self.format, &body, crate::queries::REMOVALS_CSV) {
            Ok(body) => KeptAnswer {
                status: 200,
                content_type: self.format.content_type().to_owned(),
                body: body.into_bytes(),
            },
            Err(error) => {
                use actix_web::ResponseError;
                KeptAnswer {
                    status: error.status_code().as_u16(),
                    content_type: "application/json".to_owned(),
                    body: serde_json::to_vec(&error.body()).unwrap_or_default(),
                }
            }
        }
    }
}

/// The request's `Idempotency-Key` with its digest (method, path, query, format, `If-Match`,
/// `Content-Type`, body) and renderer; `None` without the header. The key is checked by the use case (after the role,
/// as docs/api.md, "Order of checks", orders); a value that is not even text is passed on as a
/// key that fails.
pub fn input(request: &HttpRequest, body: &[u8]) -> Option<IdempotencyInput> {
    let value = request.headers().get(IDEMPOTENCY_KEY)?;
    let key = value.to_str().map_or_else(|_| "\u{fffd}".to_owned(), str::to_owned);
    let format = request.extensions().get::<Format>().copied().unwrap_or_default();
    let mut digest = Sha256::new();
    let header = |name| request.headers().get(name).map_or(&b""[..], HeaderValue::as_bytes);
    let parts = [
        request.method().as_str().as_bytes(),
        request.path().as_bytes(),
        request.query_string().as_bytes(),
        format.content_type().as_bytes(),
        // A retry that names another version, or sends its body as another type, is
        // another request.
        header(actix_web::http::header::IF_MATCH),
        header(actix_web::http::header::CONTENT_TYPE),
    ];
    for part in parts {
        digest.update(part);
        digest.update([0]);
    }
    digest.update(body);
    let fingerprint = digest.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
    Some(IdempotencyInput { key, fingerprint, renderer: Arc::new(HttpAnswer { format }) })
}

/// The stored answer, replayed.
pub fn replay(answer: KeptAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Ok(content_type) = HeaderValue::from_str(&answer.content_type) {
        response.insert_header((actix_web::http::header::CONTENT_TYPE, content_type));
    }
    response.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    response.insert_header((
        actix_web::http::header::CACHE_CONTROL,
        HeaderValue::from_static(crate::format::SESSION_CACHE_CONTROL),
    ));
    response.body(answer.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn keyed(uri: &str) -> TestRequest {
        TestRequest::post().uri(uri).insert_header((IDEMPOTENCY_KEY, "k-1"))
    }

    #[test]
    fn the_digest_tells_requests_apart() {
        let digest =
            |request: TestRequest, body: &[u8]| input(&request.to_http_request(), body).unwrap().fingerprint;
        let same = digest(keyed("/sessions"), b"{}");
        assert_eq!(same, digest(keyed("/sessions"), b"{}"), "the same request");
        assert_ne!(same, digest(keyed("/sessions"), b"{ }"), "another body");
        assert_ne!(same, digest(keyed("/sessions?x=1"), b"{}"), "another query");
        assert_ne!(same, digest(keyed("/api/NewSession"), b"{}"), "another path");
        let if_match = |tag: &str| keyed("/sessions").insert_header(("If-Match", tag.to_owned()));
        assert_ne!(digest(if_match("\"v1\""), b"{}"), digest(if_match("\"v2\""), b"{}"), "another If-Match");
        assert_ne!(same, digest(if_match("\"v1\""), b"{}"), "an If-Match against none");
        let typed = |kind: &str| keyed("/sessions").insert_header(("Content-Type", kind.to_owned()));
        assert_ne!(
            digest(typed("application/json"), b"{}"),
            digest(typed("text/plain"), b"{}"),
            "another type"
        );
        assert_eq!(same.len(), 64, "SHA-256 in hex");
        assert!(input(&TestRequest::post().uri("/sessions").to_http_request(), b"{}").is_none());
    }

    #[test]
    fn a_replay_says_so() {
        let answer =
            KeptAnswer { status: 404, content_type: "application/json".into(), body: b"{}".to_vec() };
        let response = replay(answer);
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers().get(IDEMPOTENT_REPLAYED).unwrap(), "true");
        assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
    }
}
