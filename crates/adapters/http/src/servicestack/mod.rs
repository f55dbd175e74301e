//! ServiceStack's own surface (docs/api.md, "Metadata pages" and "Add ServiceStack
//! Reference"): the metadata pages, `/types/metadata` and the DTOs as source in each language,
//! all rendered from one description of the service ([`description::Service`]), itself read
//! from the operations table and the OpenAPI document.

pub mod description;
mod metadata_types;
pub mod native_types;
pub mod pages;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::format::Format;
use description::Service;
use native_types::{Header, Language};

/// The page formats' names, each a `/{format}/metadata` route.
pub(crate) fn page_routes() -> impl Iterator<Item = (String, Format)> {
    pages::PAGE_FORMATS.into_iter().map(|format| (format!("/{}/metadata", format.name()), format))
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}

/// `scheme://host` as the caller reached the service.
fn base_url(request: &HttpRequest) -> String {
    let info = request.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn host(request: &HttpRequest) -> String {
    request.connection_info().host().to_owned()
}

/// The value of `name` in the query string, decoded.
fn query_value(request: &HttpRequest, name: &str) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(request.query_string())
        .ok()?
        .into_inner()
        .into_iter()
        .find_map(|(key, value)| key.eq_ignore_ascii_case(name).then_some(value))
}

/// The metadata index: every operation with its routes and pages, and the references.
#[utoipa::path(
    get,
    path = "/metadata",
    operation_id = "Metadata",
    tag = "metadata",
    responses((status = 200, description = "An HTML page: every operation, its description and route, links to its pages and to /types/*", content_type = "text/html; charset=utf-8"))
)]
pub async fn metadata_index() -> HttpResponse {
    html(pages::index(Service::get()))
}

/// One operation's metadata page in a format; without `op`, the index.
#[utoipa::path(
    get,
    path = "/{format}/metadata",
    operation_id = "OperationMetadata",
    tag = "metadata",
    params(
        ("format" = String, Path, description = "The format the page's hint and samples are about", pattern = "^(json|jsv|csv|jsonl)$"),
        ("op" = Option<String>, Query, description = "The operation (`DeleteChatMember`); without it, the index"),
        ("lang" = Option<String>, Query, description = "Show the DTOs in this language (typescript, mjs, csharp, python, kotlin, java, swift, dart) rather than the parameter tables"),
    ),
    responses(
        (status = 200, description = "An HTML page: the operation, its auth line, routes, DTOs or parameter tables, content-type hint and sample exchange", content_type = "text/html; charset=utf-8"),
        (status = 400, description = "`ValidationException`: no such operation (`op`) or language (`lang`)", body = crate::error::ErrorResponse),
        (status = 404, description = "`NotFound`: not a page format", body = crate::error::ErrorResponse),
    )
)]
pub async fn operation_page(
    request: HttpRequest,
    format: web::Data<Format>,
) -> Result<HttpResponse, ApiError> {
    let service = Service::get();
    let Some(name) = query_value(&request, "op") else { return Ok(html(pages::index(service))) };
    let operation = service.operation(&name).ok_or_else(|| {
        ApiError::field("op", "NotFound", format!("No operation is named {name}: see /metadata"))
    })?;
    let language = match query_value(&request, "lang") {
        None => None,
        Some(lang) => Some(Language::from_name(&lang).ok_or_else(|| {
            ApiError::field("lang", "NotSupported", format!("No reference in {lang}: see /metadata"))
        })?),
    };
    Ok(html(pages::operation_page(service, operation, **format, language, &host(&request))))
}

/// The reference in a language, or `MetadataTypes` JSON for `metadata`. The options a tool
/// sends back when updating (`?IncludeTypes=...`) are accepted; every type is always included.
#[utoipa::path(
    get,
    path = "/types/{language}",
    operation_id = "Types",
    tag = "metadata",
    params(("language" = String, Path, description = "typescript, mjs (or js), csharp, python, kotlin, java, swift, dart, or metadata")),
    responses(
        (status = 200, description = "The DTOs as source, headed by ServiceStack's options comment (`Options:`, `BaseUrl:`); `MetadataTypes` JSON for `metadata`", content((String = "text/plain; charset=utf-8"), (String = "application/json"))),
        (status = 404, description = "`NotFound`: no reference in that language", body = crate::error::ErrorResponse),
    )
)]
pub async fn types(request: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let service = Service::get();
    let name = path.into_inner();
    if name.eq_ignore_ascii_case("metadata") {
        let body = metadata_types::MetadataTypes::of(service, base_url(&request));
        let json = serde_json::to_string(&body).map_err(|_| ApiError::Internal)?;
        return Ok(HttpResponse::Ok().content_type("application/json").body(json));
    }
    let language = Language::from_name(&name).ok_or(ApiError::RouteNotFound)?;
    let header = Header {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        base_url: base_url(&request),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(language.reference(service, &header)))
}
