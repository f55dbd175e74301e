//! Reading a request DTO the ServiceStack way: its fields come from the JSON body (POST), then
//! the route's path segments, then the query string, each overriding the one before. Field
//! names match case-insensitively, as in ServiceStack. Every wrong type is reported under its
//! field name, so a client learns exactly what to fix.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use evo_ports::FieldError;
use serde_json::Value;

use crate::error::ApiError;

/// The member identity fields a query string (or form) may carry, lower-cased.
const IDENTITY_FIELDS: [&str; 2] = ["membertoremove", "membertoadd"];

/// A raw `+` in a query string decodes to a space (docs/api.md, "Member identities"): an
/// identity that
/// starts with spaces and then a digit meant `+` and that number.
fn plus_decoded_as_space(value: String) -> String {
    let rest = value.trim_start_matches(' ');
    if rest.len() < value.len() && rest.starts_with(|c: char| c.is_ascii_digit()) {
        format!("+{rest}")
    } else {
        value
    }
}

/// The largest request body accepted (docs/api.md, "Bounds").
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The `FieldError` code for a value of the wrong JSON type or an unreadable body.
const INVALID_VALUE: &str = "InvalidValue";

/// The raw fields of one request, before the use case validates them.
#[derive(Debug, Default)]
pub struct RequestFields {
    /// Lower-cased name to value.
    values: HashMap<String, Value>,
}

impl RequestFields {
    /// Reads a POST body: empty means no fields; a form body
    /// (`application/x-www-form-urlencoded`) is read like a query string; a JSON body must say
    /// `application/json` (or a `+json` type) and be an object. Any other Content-Type is 415:
    /// a browser can send `text/plain` across origins without asking, JSON it cannot.
    pub fn from_body(request: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = Self::default();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(fields);
        }
        let essence = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        let is_form = essence == "application/x-www-form-urlencoded";
        let is_json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !is_form && !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        if is_form {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::field("body", INVALID_VALUE, "the form body is not UTF-8"))?;
            fields.merge_query(text)?;
            return Ok(fields);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => {
                for (name, value) in object {
                    fields.values.insert(name.to_lowercase(), value);
                }
                Ok(fields)
            }
            Ok(_) => Err(ApiError::field("body", INVALID_VALUE, "the body must be a JSON object")),
            // serde_json's messages name a position and an expectation, never the content.
            Err(error) => Err(ApiError::field("body", "InvalidJson", format!("malformed JSON: {error}"))),
        }
    }

    /// Sets `field` from the route's `{segment}`, fully percent-decoded, when the route has it.
    pub fn set_from_path(
        &mut self,
        request: &HttpRequest,
        segment: &str,
        field: &str,
    ) -> Result<(), ApiError> {
        if let Some(raw) = request.match_info().get(segment) {
            let decoded = percent_decode(raw).ok_or_else(|| {
                ApiError::field(field, INVALID_VALUE, "is not valid UTF-8 once percent-decoded")
            })?;
            self.values.insert(field.to_lowercase(), Value::String(decoded));
        }
        Ok(())
    }

    /// Applies the query string over the fields so far; a `sessionId` that names another
    /// session than the path's `{sessionId}` is refused rather than silently taking over.
    pub fn merge_query_over_path(&mut self, request: &HttpRequest) -> Result<(), ApiError> {
        let path_session = request.match_info().get("sessionId").and(self.get("sessionId").cloned());
        self.merge_query(request.query_string())?;
        if let Some(from_path) = path_session
            && self.get("sessionId") != Some(&from_path)
        {
            return Err(ApiError::field(
                "sessionId",
                INVALID_VALUE,
                "the query's sessionId names another session than the path",
            ));
        }
        Ok(())
    }

    /// Applies `key=value` pairs of a query string (or form body) over the fields so far.
    /// As in any query string, a raw `+` decodes to a space.
    pub fn merge_query(&mut self, query: &str) -> Result<(), ApiError> {
        if query.is_empty() {
            return Ok(());
        }
        let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|_| ApiError::field("query", INVALID_VALUE, "the query string cannot be read"))?;
        for (name, value) in pairs.into_inner() {
            let name = name.to_lowercase();
            let value =
                if IDENTITY_FIELDS.contains(&name.as_str()) { plus_decoded_as_space(value) } else { value };
            self.values.insert(name, Value::String(value));
        }
        Ok(())
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.values.get(&field.to_lowercase()).filter(|v| !v.is_null())
    }

    /// A text field: absent or `null` is `None`; any other type than a string is an error.
    pub fn text(&self, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        text_value(self.get(field), field, errors)
    }

    /// An array field whose items `item` reads; `[]` when absent. In a query string the
    /// array may be given as JSON text.
    pub fn list<T>(
        &self,
        field: &str,
        errors: &mut Vec<FieldError>,
        item: impl Fn(&Value, &str, &mut Vec<FieldError>) -> Option<T>,
    ) -> Vec<T> {
        let parsed;
        let value = match self.get(field) {
            None => return Vec::new(),
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    parsed = value;
                    &parsed
                }
                Err(_) => {
                    errors.push(type_error(field, "an array"));
                    return Vec::new();
                }
            },
            Some(value) => value,
        };
        let Value::Array(items) = value else {
            errors.push(type_error(field, "an array"));
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(index, value)| item(value, &format!("{field}[{index}]"), errors))
            .collect()
    }
}

/// Reads a text value of a nested object; `path` names it in errors.
pub fn text_value(value: Option<&Value>, path: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors.push(type_error(path, "a string"));
            None
        }
    }
}

/// The property `name` of a JSON object, matched case-insensitively.
pub fn property<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// Reads a `{ "key": "value" }` object; `path` names it in errors.
pub fn string_map(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    match value {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(object)) => object
            .iter()
            .filter_map(|(key, value)| {
                text_value(Some(value), &format!("{path}.{key}"), errors).map(|v| (key.clone(), v))
            })
            .collect(),
        Some(_) => {
            errors.push(type_error(path, "an object of strings"));
            BTreeMap::new()
        }
    }
}

/// The error for a value of the wrong JSON type.
pub fn type_error(field: &str, expected: &str) -> FieldError {
    FieldError { field: field.to_owned(), code: INVALID_VALUE, message: format!("must be {expected}") }
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] (413) before buffering it all, and
/// a body that has not arrived within `timeout` (408): actix times the head and keep-alive,
/// not the body, so a client trickling bytes would otherwise hold a worker's slot forever.
pub async fn read_body(payload: web::Payload, timeout: Duration) -> Result<Bytes, ApiError> {
    let Ok(read) = tokio::time::timeout(timeout, payload.to_bytes_limited(MAX_BODY_BYTES)).await else {
        return Err(ApiError::RequestTimeout { limit: timeout });
    };
    match read {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::field("body", INVALID_VALUE, "the body could not be read")),
        Err(_) => Err(ApiError::RequestTooLarge { limit: MAX_BODY_BYTES }),
    }
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`: a browser never adds it by itself.
    Header,
    /// The `ss-tok` cookie: a browser sends it with any request to us, so changes need an
    /// allowed `Origin` (docs/api.md, "Cookies and cross-site requests").
    Cookie,
}

/// The bearer token and where it came from: `Authorization: Bearer <token>`, or else the
/// `ss-tok` cookie.
pub fn bearer_token(request: &HttpRequest) -> Option<(String, TokenSource)> {
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("Bearer").then(|| token.trim().to_owned())
        })
        .filter(|token| !token.is_empty());
    if let Some(token) = from_header {
        return Some((token, TokenSource::Header));
    }
    request
        .cookie("ss-tok")
        .map(|cookie| cookie.value().trim().to_owned())
        .filter(|token| !token.is_empty())
        .map(|token| (token, TokenSource::Cookie))
}

/// Fully percent-decodes a path segment. actix leaves `%2F`, `%2B` and `%25` encoded in
/// path segments; everything else is already decoded, so one more full pass is exact.
/// Unlike a query string, `+` stays `+`. `None` when the result is not UTF-8.
pub fn percent_decode(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw).decode_utf8().ok().map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plus_decoded_as_a_space_is_read_back_in_identities_only() {
        assert_eq!(plus_decoded_as_space(" 15551234567".into()), "+15551234567");
        assert_eq!(plus_decoded_as_space("  44 20 7946 0958".into()), "+44 20 7946 0958");
        assert_eq!(plus_decoded_as_space(" ann@example.com".into()), " ann@example.com");
        assert_eq!(plus_decoded_as_space("15551234567".into()), "15551234567");
        let mut fields = RequestFields::default();
        fields.merge_query("memberToAdd=+15551234567&displayName=+1%20Fan").unwrap();
        assert_eq!(fields.text("memberToAdd", &mut Vec::new()).as_deref(), Some("+15551234567"));
        assert_eq!(
            fields.text("displayName", &mut Vec::new()).as_deref(),
            Some(" 1 Fan"),
            "other fields as sent"
        );
    }

    #[test]
    fn percent_decoding_of_path_segments() {
        assert_eq!(percent_decode("%2B15551234567").as_deref(), Some("+15551234567"));
        assert_eq!(percent_decode("ann%40example.com").as_deref(), Some("ann@example.com"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("100%25").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%2").as_deref(), Some("%2"));
        assert_eq!(percent_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%FF"), None);
    }
}
