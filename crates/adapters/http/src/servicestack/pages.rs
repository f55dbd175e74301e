//! The metadata pages (docs/api.md, "Metadata pages"): `/metadata`, every operation with its
//! routes, and `/{format}/metadata?op=...[&lang=...]`, one operation laid out as ServiceStack
//! lays it out: the auth line, the routes, its DTOs in a language or its parameter tables,
//! the content-type hint and a sample exchange in that format. Plain HTML, no script.

use std::fmt::Write as _;

use super::description::{Field, OperationDoc, SERVICE_NAME, Service, TypeDoc, TypeKind, TypeRef};
use super::native_types::Language;
use crate::format::Format;
use crate::text_formats::OrderedValue;

/// The formats a metadata page can be about (its path's first segment).
pub const PAGE_FORMATS: [Format; 4] = [Format::Json, Format::Jsv, Format::Csv, Format::Jsonl];

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}a{color:#0b57d0}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}pre{background:#f6f8fa;padding:1em;overflow-x:auto}nav a{margin-right:.8em}.routes{font-family:monospace}";

/// `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    // The empty icon keeps a browser from asking for /favicon.ico.
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

fn auth_lines(operation: &OperationDoc) -> String {
    let mut out = String::from("<p class=\"auth\">Requires Authentication</p>\n");
    if let Some(role) = operation.role {
        let _ = writeln!(out, "<p class=\"role\">Required role:{}</p>", escape(role));
    }
    out
}

/// `/metadata`: every operation, its description and routes, each linking to its page.
pub fn index(service: &Service) -> String {
    let mut body = format!(
        "<h1>{SERVICE_NAME}</h1>\n<p>The following operations are supported. For a formal definition, see the <a href=\"/openapi.json\">OpenAPI document</a> or <a href=\"/types/metadata\">/types/metadata</a>.</p>\n"
    );
    body.push_str("<table id=\"operations\">\n<tr><th>Operation</th><th>Description</th><th>Routes</th><th>Formats</th></tr>\n");
    for operation in &service.operations {
        let formats: Vec<String> = PAGE_FORMATS
            .iter()
            .map(|format| {
                let name = format.name();
                format!("<a href=\"/{name}/metadata?op={}\">{}</a>", operation.name, name.to_uppercase())
            })
            .collect();
        let _ = writeln!(
            body,
            "<tr><td><a href=\"/json/metadata?op={0}\">{0}</a></td><td>{1}</td><td class=\"routes\">{2} {3}</td><td>{4}</td></tr>",
            operation.name,
            escape(&operation.description),
            operation.method,
            escape(operation.route),
            formats.join(" ")
        );
    }
    body.push_str("</table>\n<h2>Add ServiceStack Reference</h2>\n<p>The DTOs of every operation, as source for ServiceStack's clients:</p>\n<nav>");
    for language in Language::ALL {
        let _ = write!(body, "<a href=\"/types/{}\">{}</a>", language.name(), language.label());
    }
    body.push_str("<a href=\"/types/metadata\">metadata</a></nav>\n<p>For example <code>npx --package @servicestack/cli typescript-ref {this service's URL}</code> saves <code>dtos.ts</code>; run it again in that folder to update it.</p>\n");
    page(&format!("{SERVICE_NAME} metadata"), &body)
}

/// One operation's page in `format`, its DTOs in `language` or, without one, its tables.
pub fn operation_page(
    service: &Service,
    operation: &OperationDoc,
    format: Format,
    language: Option<Language>,
    host: &str,
) -> String {
    let name = format.name();
    let mut body = format!(
        "<h1>{SERVICE_NAME}</h1>\n<p><a id=\"back\" href=\"/metadata\">&lt;back to all web services</a></p>\n<h2>{0}</h2>\n<p class=\"description\">{1}</p>\n",
        operation.name,
        escape(&operation.description)
    );
    body.push_str(&auth_lines(operation));
    let _ = writeln!(
        body,
        "<p>The following routes are available for this service:</p>\n<table class=\"routes\"><tr><td>{}</td><td>{}</td></tr></table>",
        operation.method,
        escape(operation.route)
    );
    body.push_str("<nav class=\"languages\">");
    let _ = write!(body, "<a href=\"/{name}/metadata?op={}\">Parameters</a>", operation.name);
    for candidate in Language::ALL {
        let _ = write!(
            body,
            "<a href=\"/{name}/metadata?op={}&amp;lang={}\">{}</a>",
            operation.name,
            candidate.name(),
            candidate.label()
        );
    }
    body.push_str("</nav>\n");
    match language {
        Some(language) => {
            let _ = writeln!(
                body,
                "<pre class=\"dtos\"><code>{}</code></pre>\n<p>{} {} DTOs</p>",
                escape(&language.operation_dtos(service, operation, host)),
                language.label(),
                operation.name
            );
        }
        None => tables(&mut body, service, operation),
    }
    let _ = writeln!(
        body,
        "<p class=\"hint\">To override the Content-type in your clients, use the HTTP Accept Header, append the .{name} suffix or ?format={name}</p>"
    );
    if format == Format::Json {
        body.push_str(
            "<p class=\"hint\">To embed the response in a jsonp callback, append ?callback=myCallback</p>\n",
        );
    }
    let _ = writeln!(
        body,
        "<h2>HTTP + {}</h2>\n<p>The following are sample HTTP requests and responses. The placeholders shown need to be replaced with actual values.</p>",
        name.to_uppercase()
    );
    let _ = writeln!(
        body,
        "<pre class=\"sample\">{}</pre>",
        escape(&sample_exchange(service, operation, format, host))
    );
    page(&format!("{} {}", operation.name, SERVICE_NAME), &body)
}

fn table(body: &mut String, title: &str, fields: &[Field]) {
    let _ = writeln!(
        body,
        "<h3>{}</h3>\n<table class=\"parameters\">\n<tr><th>Name</th><th>Parameter</th><th>Data Type</th><th>Required</th><th>Description</th></tr>",
        escape(title)
    );
    for field in fields {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&field.name),
            field.location.as_str(),
            escape(&field.ty.csharp()),
            if field.required { "Yes" } else { "No" },
            escape(field.description.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>\n");
}

/// The parameter tables: the request's, then each type it uses, enums as their values.
fn tables(body: &mut String, service: &Service, operation: &OperationDoc) {
    table(body, &format!("{} Parameters:", operation.name), &operation.request);
    for ty in service.types_of(operation) {
        match &ty.kind {
            TypeKind::Class(fields) => table(body, &format!("{} Parameters:", ty.name), fields),
            TypeKind::Enum(values) => {
                let _ = writeln!(body, "<h3>{} Enum:</h3>\n<ul class=\"enum\">", escape(&ty.name));
                for value in values {
                    let _ = writeln!(body, "<li>{}</li>", escape(value));
                }
                body.push_str("</ul>\n");
            }
        }
    }
}

/// A placeholder value of `ty`, as the samples show it.
fn sample(service: &Service, ty: &TypeRef, depth: usize) -> OrderedValue {
    match ty {
        TypeRef::String => OrderedValue::Text("String".to_owned()),
        TypeRef::Bool => OrderedValue::Bool(false),
        TypeRef::Int => OrderedValue::Number("0".to_owned()),
        TypeRef::List(item) if depth < 3 => OrderedValue::List(vec![sample(service, item, depth + 1)]),
        TypeRef::List(_) => OrderedValue::List(Vec::new()),
        TypeRef::StringMap => {
            OrderedValue::Object(vec![("String".to_owned(), OrderedValue::Text("String".to_owned()))])
        }
        TypeRef::Named(name) => match service.type_named(name) {
            Some(TypeDoc { kind: TypeKind::Enum(values), .. }) => {
                OrderedValue::Text(values.first().cloned().unwrap_or_default())
            }
            Some(TypeDoc { kind: TypeKind::Class(fields), .. }) => sample_object(service, fields, depth + 1),
            None => OrderedValue::Null,
        },
    }
}

fn sample_object(service: &Service, fields: &[Field], depth: usize) -> OrderedValue {
    OrderedValue::Object(
        fields.iter().map(|field| (field.name.clone(), sample(service, &field.ty, depth))).collect(),
    )
}

/// The list a list answer's CSV rows and JSON lines come from: its only list of objects.
fn rows_of<'a>(service: &'a Service, response: &'a TypeDoc) -> Option<(&'a str, Vec<&'a str>)> {
    let TypeKind::Class(fields) = &response.kind else { return None };
    fields.iter().find_map(|field| match &field.ty {
        TypeRef::List(item) => match item.as_ref() {
            TypeRef::Named(name) => match service.type_named(name) {
                Some(TypeDoc { kind: TypeKind::Class(columns), .. }) => {
                    Some((field.name.as_str(), columns.iter().map(|c| c.name.as_str()).collect()))
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

/// The sample request and answer of `operation` in `format`.
fn sample_exchange(service: &Service, operation: &OperationDoc, format: Format, host: &str) -> String {
    let content_type = format.content_type();
    let mut out = format!(
        "{} {} HTTP/1.1 \nHost: {host} \nAccept: {content_type}\n",
        operation.method, operation.route
    );
    let body_fields: Vec<Field> = operation
        .request
        .iter()
        .filter(|field| field.location == super::description::Location::Body)
        .cloned()
        .collect();
    if !body_fields.is_empty() {
        let body = serde_json::to_string_pretty(&sample_object(service, &body_fields, 0)).unwrap_or_default();
        let _ = write!(out, "Content-Type: application/json\nContent-Length: length\n\n{body}\n");
    }
    let Some(response) = service.type_named(&operation.response) else { return out };
    let value = sample(service, &TypeRef::Named(response.name.clone()), 0);
    let rows = rows_of(service, response);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&value).unwrap_or_default(),
        _ => {
            let csv_columns: Vec<&str>;
            let (list, columns) = match &rows {
                Some((list, columns)) => (Some(*list), columns.as_slice()),
                None => {
                    let TypeKind::Class(fields) = &response.kind else { return out };
                    csv_columns = fields.iter().map(|f| f.name.as_str()).collect();
                    (None, csv_columns.as_slice())
                }
            };
            crate::format::render_ordered(format, &value, list, columns)
        }
    };
    let _ = write!(out, "\nHTTP/1.1 200 OK\nContent-Type: {content_type}\nContent-Length: length\n\n{text}");
    out
}
