//! Response format negotiation (docs/api.md, "Response formats") and rendering of successful
//! responses.
//!
//! The first match wins: a `.json`/`.csv`/`.jsv` suffix on the last path segment (stripped
//! before routing), `?format=`, a `/json|csv|jsv/reply/` prefix (routed as `/json/reply/`),
//! then the `Accept` header, where JSON wins whenever it is acceptable. Errors are always JSON.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use evo_domain::Session;

use crate::dto::{SESSION_INFO_FIELDS, SessionInfo};
use crate::error::ApiError;
use crate::text_formats::{OrderedValue, to_csv, to_jsv};

/// A response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `application/json`, the default.
    #[default]
    Json,
    /// `text/csv`
    Csv,
    /// `text/jsv`
    Jsv,
    /// `application/jsonl`: one JSON object a line; a list answer's items each on its own.
    Jsonl,
}

impl Format {
    fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "jsv" => Some(Self::Jsv),
            "jsonl" => Some(Self::Jsonl),
            _ => None,
        }
    }

    /// Its name in a suffix, `?format=` and a `/{format}/` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Jsv => "jsv",
            Self::Jsonl => "jsonl",
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv",
            Self::Jsv => "text/jsv",
            Self::Jsonl => "application/jsonl",
        }
    }
}

/// The outcome of negotiation: the format and the path to route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen format.
    pub format: Format,
    /// The path with any format suffix stripped and `/csv|jsv/reply/` routed as `/json/reply/`.
    pub path: String,
}

/// Chooses the format of a request and the path to route, in the order of docs/api.md,
/// "Response formats".
pub fn negotiate(path: &str, query: &str, accept: Option<&str>) -> Negotiated {
    // `/openapi.json` names a document, not a format.
    let (path, by_suffix) = if path == "/openapi.json" { (path, None) } else { strip_format_suffix(path) };
    let by_query = query_format(query);
    let (path, by_prefix) = reply_prefix(path);
    let format = by_suffix.or(by_query).or(by_prefix).unwrap_or_else(|| accept_format(accept));
    Negotiated { format, path }
}

fn strip_format_suffix(path: &str) -> (&str, Option<Format>) {
    let last_segment_start = path.rfind('/').map_or(0, |i| i + 1);
    if let Some(dot) = path[last_segment_start..].rfind('.') {
        let dot = last_segment_start + dot;
        // A suffix alone (`/.json`) is a segment, not a suffix.
        if dot > last_segment_start
            && let Some(format) = Format::from_name(&path[dot + 1..])
        {
            return (&path[..dot], Some(format));
        }
    }
    (path, None)
}

fn query_format(query: &str) -> Option<Format> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if name.eq_ignore_ascii_case("format") { Format::from_name(value) } else { None }
    })
}

fn reply_prefix(path: &str) -> (String, Option<Format>) {
    let mut segments = path.splitn(4, '/');
    if let (Some(""), Some(format), Some("reply"), Some(rest)) =
        (segments.next(), segments.next(), segments.next(), segments.next())
        && let Some(format) = Format::from_name(format)
    {
        return (format!("/json/reply/{rest}"), Some(format));
    }
    (path.to_owned(), None)
}

/// The format the `Accept` header asks for. JSON whenever it is acceptable (including
/// `*/*` and `application/*`), then CSV, then JSV; JSON when none is.
fn accept_format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Json };
    let acceptable: Vec<String> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let refused = parts.any(|param| {
                let param = param.trim();
                param.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (!media.is_empty() && !refused).then_some(media)
        })
        .collect();
    let accepts = |candidates: &[&str]| acceptable.iter().any(|m| candidates.contains(&m.as_str()));
    if accepts(&["application/json", "text/json", "application/*", "*/*"]) {
        Format::Json
    } else if accepts(&["text/csv", "text/*"]) {
        Format::Csv
    } else if accepts(&["text/jsv"]) {
        Format::Jsv
    } else if accepts(&["application/jsonl", "application/x-ndjson"]) {
        Format::Jsonl
    } else {
        Format::Json
    }
}

/// Middleware, outermost: negotiates the format, stores it in the request's extensions and
/// rewrites the path before routing.
pub async fn negotiate_format(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let negotiated = negotiate(request.path(), request.query_string(), accept);
    if negotiated.path != request.path() {
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{}?{query}", negotiated.path),
            None => negotiated.path.clone(),
        };
        // The rewritten path is a prefix of, or a substitution in, a valid path: it parses.
        if let Ok(uri) = path_and_query.parse::<Uri>() {
            request.match_info_mut().get_mut().update(&uri);
            request.head_mut().uri = uri;
        }
    }
    request.extensions_mut().insert(negotiated.format);
    next.call(request).await
}

/// Renders a session in the request's negotiated format. `operation` names the CSV file.
pub fn render_session(
    request: &HttpRequest,
    operation: &str,
    session: &Session,
) -> Result<HttpResponse, ApiError> {
    let format = request.extensions().get::<Format>().copied().unwrap_or_default();
    let info = SessionInfo::from(session);
    let mut response = render(format, operation, &info, SESSION_CSV)?;
    response.headers_mut().insert(header::ETAG, crate::etag::etag(session));
    Ok(response)
}

/// The `Cache-Control` of every answer that carries a session: personal data, for the caller
/// only, never reused by a cache without asking again.
pub const SESSION_CACHE_CONTROL: &str = "private, no-cache";

/// How a body is written as CSV: its rows and their columns.
#[derive(Debug, Clone, Copy)]
pub struct CsvRows {
    /// The list property whose items are the rows; `None`: the body itself is the one row.
    pub list: Option<&'static str>,
    /// The columns, in order (a header row of them in PascalCase comes first).
    pub columns: &'static [&'static str],
}

/// A `SessionInfo` as CSV: one row.
pub const SESSION_CSV: CsvRows = CsvRows { list: None, columns: SESSION_INFO_FIELDS };

/// Renders `body` in `format`, a CSV of `csv`'s rows.
pub fn render(
    format: Format,
    operation: &str,
    body: &impl serde::Serialize,
    csv: CsvRows,
) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())));
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static(SESSION_CACHE_CONTROL)));
    if format == Format::Csv {
        let disposition = format!("attachment;filename=\"{operation}.csv\"");
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response.insert_header((header::CONTENT_DISPOSITION, value));
        }
    }
    Ok(response.body(render_body(format, body, csv)?))
}

/// The body of `body` in `format`: what [`render`] answers, and what a keyed request keeps to
/// answer its retries byte for byte.
pub fn render_body(format: Format, body: &impl serde::Serialize, csv: CsvRows) -> Result<String, ApiError> {
    let failed = |error: serde_json::Error| {
        tracing::error!(%error, "cannot serialize an answer");
        ApiError::Internal
    };
    Ok(match format {
        Format::Json => serde_json::to_string(body).map_err(failed)?,
        _ => render_ordered(format, &OrderedValue::of(body).map_err(failed)?, csv.list, csv.columns),
    })
}

/// A body already read in order, in `format`: a CSV of `columns` with one row per item of the
/// `list` property (the body itself when `None`), JSON lines of the same items.
pub fn render_ordered(format: Format, body: &OrderedValue, list: Option<&str>, columns: &[&str]) -> String {
    const DICTIONARIES: &[&str] = &["applicationData"];
    let rows = || match list.map(|list| body.property(list)) {
        None => std::slice::from_ref(body),
        Some(Some(OrderedValue::List(items))) => items.as_slice(),
        Some(_) => &[],
    };
    match format {
        Format::Json => serde_json::to_string(body).unwrap_or_default(),
        Format::Csv => to_csv(rows(), columns, DICTIONARIES),
        Format::Jsv => to_jsv(body, DICTIONARIES),
        Format::Jsonl => {
            let mut lines = String::new();
            for row in rows() {
                lines.push_str(&serde_json::to_string(row).unwrap_or_default());
                lines.push('\n');
            }
            lines
        }
    }
}

/// The name of a JSONP callback: letters, digits, `_`, `.` and `$` (docs/api.md, "JSONP"),
/// never a script of the caller's choosing.
fn is_callback_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// Middleware: `?callback=name` wraps a JSON answer as `name(...)`, `application/javascript`
/// (docs/api.md, "JSONP"). Other answers (CSV, a stream) pass as they are.
pub async fn jsonp(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let callback = request.query_string().split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "callback")
            .then(|| percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned())
    });
    let Some(callback) = callback else { return Ok(next.call(request).await?.map_into_boxed_body()) };
    if !is_callback_name(&callback) {
        let error = ApiError::field(
            "callback",
            "InvalidCallback",
            "A JSONP callback is letters, digits, `_`, `.` and `$`",
        );
        let (request, _) = request.into_parts();
        return Ok(ServiceResponse::new(request, actix_web::ResponseError::error_response(&error)));
    }
    let response = next.call(request).await?;
    let is_json =
        response.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(
            |value| value.split(';').next().is_some_and(|media| media.trim() == "application/json"),
        );
    if !is_json {
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|error| {
        let error: Box<dyn std::error::Error> = error.into();
        actix_web::error::ErrorInternalServerError(error.to_string())
    })?;
    let mut wrapped = Vec::with_capacity(bytes.len() + callback.len() + 2);
    wrapped.extend_from_slice(callback.as_bytes());
    wrapped.push(b'(');
    wrapped.extend_from_slice(&bytes);
    wrapped.push(b')');
    head.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript"));
    let response = head.set_body(BoxBody::new(wrapped));
    Ok(ServiceResponse::new(request, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_of(path: &str, query: &str, accept: Option<&str>) -> (Format, String) {
        let negotiated = negotiate(path, query, accept);
        (negotiated.format, negotiated.path)
    }

    #[test]
    fn suffix_wins_and_is_stripped() {
        assert_eq!(
            format_of("/sessions/s1.csv", "format=jsv", Some("application/json")),
            (Format::Csv, "/sessions/s1".into())
        );
        assert_eq!(
            format_of("/jsv/reply/GetSession.json", "", None),
            (Format::Json, "/json/reply/GetSession".into())
        );
        assert_eq!(format_of("/sessions/s1.xml", "", None), (Format::Json, "/sessions/s1.xml".into()));
        assert_eq!(format_of("/sessions/.csv", "", None), (Format::Json, "/sessions/.csv".into()));
    }

    #[test]
    fn query_then_prefix_then_accept() {
        assert_eq!(
            format_of("/csv/reply/GetSession", "format=jsv", None),
            (Format::Jsv, "/json/reply/GetSession".into())
        );
        assert_eq!(
            format_of("/csv/reply/GetSession", "", Some("text/jsv")),
            (Format::Csv, "/json/reply/GetSession".into())
        );
        assert_eq!(format_of("/sessions/s1", "a=1&Format=CSV", None).0, Format::Csv);
        assert_eq!(format_of("/sessions/s1", "", Some("text/jsv")).0, Format::Jsv);
    }

    #[test]
    fn accept_prefers_json_when_acceptable() {
        assert_eq!(accept_format(Some("text/csv")), Format::Csv);
        assert_eq!(accept_format(Some("text/csv, */*;q=0.1")), Format::Json);
        assert_eq!(accept_format(Some("text/csv;q=1, application/json;q=0.5")), Format::Json);
        assert_eq!(accept_format(Some("text/csv, application/json;q=0")), Format::Csv);
        assert_eq!(accept_format(Some("text/jsv, text/csv")), Format::Csv);
        assert_eq!(accept_format(Some("image/png")), Format::Json);
        assert_eq!(accept_format(None), Format::Json);
    }
}
