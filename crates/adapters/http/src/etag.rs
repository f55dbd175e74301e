//! Entity tags of sessions (docs/api.md, "ETag, If-None-Match, If-Match"): `ETag` on every
//! SessionInfo answer,
//! `If-None-Match` on reads (304), `If-Match` on changes (412 when it does not match).
//!
//! The tag is the session's version, which changes exactly when the stored session does and
//! is the same on every instance: `"v<version>"`, a strong validator of the session whatever
//! the format it is rendered in (a changed format is not a changed session).

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use evo_domain::{IfVersion, SessionData};

/// The `ETag` of `session`.
pub fn etag(session: &SessionData) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{}\"", session.version)).expect("digits are a valid header value")
}

/// The version an entity tag names: strong tags of our form only (a weak `W/` tag never
/// matches in the strong comparison `If-Match` asks for).
fn version_of(tag: &str) -> Option<u64> {
    tag.trim().strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()
}

/// The entity tags of a header, comma-separated; `None` for `*` (any current session).
fn tags(request: &HttpRequest, name: header::HeaderName) -> Option<Option<Vec<String>>> {
    let mut tags = Vec::new();
    for value in request.headers().get_all(&name) {
        // A value that is not text matches nothing.
        let Ok(text) = value.to_str() else { continue };
        for tag in text.split(',') {
            if tag.trim() == "*" {
                return Some(None);
            }
            tags.push(tag.trim().to_owned());
        }
    }
    if tags.is_empty() && !request.headers().contains_key(&name) { None } else { Some(Some(tags)) }
}

/// `If-Match` as a condition on the session's version: `None` without the header or with
/// `*` (which any visible session passes); otherwise the versions it names (perhaps none, so
/// that nothing matches).
pub fn if_match(request: &HttpRequest) -> Option<IfVersion> {
    match tags(request, header::IF_MATCH) {
        None | Some(None) => None,
        Some(Some(tags)) => Some(IfVersion(tags.iter().filter_map(|tag| version_of(tag)).collect())),
    }
}

/// Whether `If-None-Match` matches `session` (so a read answers 304): `*`, or one of its tags
/// is the session's (compared weakly, as the header asks).
pub fn none_match(request: &HttpRequest, session: &SessionData) -> bool {
    match tags(request, header::IF_NONE_MATCH) {
        None => false,
        Some(None) => true,
        Some(Some(tags)) => {
            tags.iter().any(|tag| version_of(tag.strip_prefix("W/").unwrap_or(tag)) == Some(session.version))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_match_reads_strong_tags_of_ours() {
        let request =
            |value: &str| TestRequest::default().insert_header((header::IF_MATCH, value)).to_http_request();
        assert_eq!(if_match(&TestRequest::default().to_http_request()), None);
        assert_eq!(if_match(&request("*")), None);
        assert_eq!(if_match(&request("\"v3\"")), Some(IfVersion(vec![3])));
        assert_eq!(if_match(&request("\"v3\", \"v7\"")), Some(IfVersion(vec![3, 7])));
        assert_eq!(if_match(&request("W/\"v3\"")), Some(IfVersion(vec![])), "weak tags never match");
        assert_eq!(if_match(&request("\"something-else\"")), Some(IfVersion(vec![])));
    }
}
