//! "Add ServiceStack Reference": the DTOs of the service as source in each language
//! ServiceStack's tools and clients know (docs/api.md, "Add ServiceStack Reference"), laid out
//! as ServiceStack's own generators lay them out, so that `npx @servicestack/cli` and the
//! `x` tool accept the options header and ServiceStack's typed clients accept the classes.
//!
//! One renderer per language, each a plain function over [`Service`]; what they share (the
//! options header, names, comments) is here.

mod csharp;
mod dart;
mod java;
mod javascript;
mod kotlin;
mod python;
mod swift;
mod typescript;

use super::description::{OperationDoc, SERVICESTACK_VERSION, Service, TypeDoc};

/// A language of the references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `/types/typescript`
    TypeScript,
    /// `/types/mjs` (also `/types/js`): JavaScript ES modules with JSDoc types.
    JavaScript,
    /// `/types/csharp`
    CSharp,
    /// `/types/python`
    Python,
    /// `/types/kotlin`
    Kotlin,
    /// `/types/java`
    Java,
    /// `/types/swift`
    Swift,
    /// `/types/dart`
    Dart,
}

impl Language {
    /// Every language, in the order the metadata pages list them.
    pub const ALL: [Language; 8] = [
        Self::TypeScript,
        Self::JavaScript,
        Self::CSharp,
        Self::Python,
        Self::Kotlin,
        Self::Java,
        Self::Swift,
        Self::Dart,
    ];

    /// The language a `/types/{name}` path or a `lang=` names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "typescript" | "ts" => Some(Self::TypeScript),
            "mjs" | "js" | "javascript" => Some(Self::JavaScript),
            "csharp" | "cs" => Some(Self::CSharp),
            "python" | "py" => Some(Self::Python),
            "kotlin" | "kt" => Some(Self::Kotlin),
            "java" => Some(Self::Java),
            "swift" => Some(Self::Swift),
            "dart" => Some(Self::Dart),
            _ => None,
        }
    }

    /// The name in paths and `lang=` (`typescript`, `mjs`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::TypeScript => "typescript",
            Self::JavaScript => "mjs",
            Self::CSharp => "csharp",
            Self::Python => "python",
            Self::Kotlin => "kotlin",
            Self::Java => "java",
            Self::Swift => "swift",
            Self::Dart => "dart",
        }
    }

    /// The name people read (`TypeScript`, `C#`).
    pub fn label(self) -> &'static str {
        match self {
            Self::TypeScript => "TypeScript",
            Self::JavaScript => "JavaScript",
            Self::CSharp => "C#",
            Self::Python => "Python",
            Self::Kotlin => "Kotlin",
            Self::Java => "Java",
            Self::Swift => "Swift",
            Self::Dart => "Dart",
        }
    }

    /// The whole reference: the options header, then every type and every operation.
    pub fn reference(self, service: &Service, header: &Header) -> String {
        let types: Vec<&TypeDoc> = service.types.iter().collect();
        let operations: Vec<&OperationDoc> = service.operations.iter().collect();
        let library = header.base_url.split("://").nth(1).unwrap_or(&header.base_url);
        let library = library.split([':', '/']).next().unwrap_or(library);
        self.render(Dtos { header: Some(header), library, types: &types, operations: &operations })
    }

    /// One operation's DTOs and the types they use, as its metadata page shows them (no
    /// header); `host` names Dart's type library.
    pub fn operation_dtos(self, service: &Service, operation: &OperationDoc, host: &str) -> String {
        let types = service.types_of(operation);
        self.render(Dtos { header: None, library: host, types: &types, operations: &[operation] })
    }

    fn render(self, dtos: Dtos<'_>) -> String {
        match self {
            Self::TypeScript => typescript::render(&dtos),
            Self::JavaScript => javascript::render(&dtos),
            Self::CSharp => csharp::render(&dtos),
            Self::Python => python::render(&dtos),
            Self::Kotlin => kotlin::render(&dtos),
            Self::Java => java::render(&dtos),
            Self::Swift => swift::render(&dtos),
            Self::Dart => dart::render(&dtos),
        }
    }
}

/// What a reference's options header says beyond the options: when and from where.
#[derive(Debug, Clone)]
pub struct Header {
    /// `2026-12-05 13:00:00` (UTC).
    pub date: String,
    /// The service's address, which the tools call again to update the reference.
    pub base_url: String,
}

/// What one rendering covers.
struct Dtos<'a> {
    header: Option<&'a Header>,
    /// Dart's type library: the service's host.
    library: &'a str,
    types: &'a [&'a TypeDoc],
    operations: &'a [&'a OperationDoc],
}

/// ServiceStack's options comment: `open`, the date, version, tip and base URL, then each
/// option commented out with `prefix` (`//`, `#`), then `close`. `extra` goes after the date
/// (Swift's `SwiftVersion`).
fn options_header(
    header: &Header,
    (open, prefix, close): (&str, &str, &str),
    extra: &str,
    options: &[(&str, &str)],
) -> String {
    let mut out = format!("{open} Options:\nDate: {}\n{extra}Version: {SERVICESTACK_VERSION}\n", header.date);
    out.push_str(&format!("Tip: To override a DTO option, remove \"{prefix}\" prefix before updating\n"));
    out.push_str(&format!("BaseUrl: {}\n\n", header.base_url));
    for (name, value) in options {
        out.push_str(&format!("{prefix}{name}: {value}\n"));
    }
    out.push_str(close);
    out.push('\n');
    out
}

/// `memberToRemove` as `MemberToRemove` (C#'s property names).
pub(crate) fn pascal(name: &str) -> String {
    let mut characters = name.chars();
    characters.next().map_or_else(String::new, |first| first.to_uppercase().chain(characters).collect())
}

/// `memberToRemove` as `member_to_remove`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for character in name.chars() {
        if character.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(character.to_ascii_lowercase());
        } else {
            out.push(character);
        }
    }
    out
}

/// A description as a block comment (`/**`, `* text`, `*/`), each line indented by `indent`.
fn block_comment(out: &mut String, indent: &str, description: Option<&str>) {
    if let Some(text) = description {
        out.push_str(&format!("{indent}/**\n{indent}* {}\n{indent}*/\n", one_line(text)));
    }
}

/// A description on one line, safe inside any comment: no comment end, no line break.
fn one_line(text: &str) -> String {
    text.replace("*/", "* /").replace(['\n', '\r'], " ")
}

/// The arguments of a request field's `ApiMember` attribute (`Description="...",
/// ParameterType="path", IsRequired=true`): each language writes the attribute its own way.
fn api_member_args(field: &crate::servicestack::description::Field) -> String {
    let description = field
        .description
        .as_deref()
        .map(|text| format!("Description=\"{}\", ", quoted(text)))
        .unwrap_or_default();
    let required = if field.required { ", IsRequired=true" } else { "" };
    format!("{description}ParameterType=\"{}\"{required}", field.location.as_str())
}

/// A string literal's content for C-like languages and Python: `\` and `"` escaped.
fn quoted(text: &str) -> String {
    one_line(text).replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests;
