//! `/types/python`: dataclasses the `servicestack` package's `JsonServiceClient` sends and
//! fills (`dataclasses_json`, camelCase on the wire, snake_case in Python).

use super::{Dtos, one_line, options_header, snake};
use crate::servicestack::description::{Field, OperationDoc, TypeKind, TypeRef};

const OPTIONS: &[(&str, &str)] = &[
    ("GlobalNamespace", ""),
    ("AddServiceStackTypes", "True"),
    ("AddResponseStatus", "False"),
    ("AddImplicitVersion", ""),
    ("AddDescriptionAsComments", "True"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    (
        "DefaultImports",
        "datetime,decimal,marshmallow.fields:*,servicestack:*,typing:*,dataclasses:dataclass/field,dataclasses_json:dataclass_json/LetterCase/Undefined/config,enum:Enum/IntEnum",
    ),
    ("DataClass", ""),
    ("DataClassJson", ""),
];

const IMPORTS: &str = "import datetime\nimport decimal\nfrom marshmallow.fields import *\nfrom servicestack import *\nfrom typing import *\nfrom dataclasses import dataclass, field\nfrom dataclasses_json import dataclass_json, LetterCase, Undefined, config\nfrom enum import Enum, IntEnum\n";

const DECORATORS: &str =
    "@dataclass_json(letter_case=LetterCase.CAMEL, undefined=Undefined.EXCLUDE)\n@dataclass\n";

/// Python's keywords: a field named so gets a trailing `_` and its wire name in `config`.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
    "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("\"\"\"", "#", "\"\"\""), "", OPTIONS));
        out.push('\n');
        out.push_str(IMPORTS);
    }
    for ty in dtos.types {
        out.push_str("\n\n");
        match &ty.kind {
            TypeKind::Enum(values) => {
                out.push_str(&format!("class {}(str, Enum):\n", ty.name));
                for value in values {
                    out.push_str(&format!("    {} = '{value}'\n", snake(value).to_uppercase()));
                }
            }
            TypeKind::Class(fields) => {
                out.push_str(DECORATORS);
                out.push_str(&format!("class {}:\n", ty.name));
                render_body(&mut out, ty.description.as_deref(), fields);
            }
        }
    }
    for operation in dtos.operations {
        render_request(&mut out, operation);
    }
    out.push('\n');
    out
}

fn python_type(ty: &TypeRef) -> String {
    match ty {
        TypeRef::String => "str".to_owned(),
        TypeRef::Bool => "bool".to_owned(),
        TypeRef::Int => "int".to_owned(),
        TypeRef::List(item) => format!("List[{}]", python_type(item)),
        TypeRef::StringMap => "Dict[str, str]".to_owned(),
        TypeRef::Named(name) => name.clone(),
    }
}

fn docstring(out: &mut String, text: &str) {
    out.push_str(&format!(
        "    \"\"\"\n    {}\n    \"\"\"\n",
        one_line(text).replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"")
    ));
}

fn render_body(out: &mut String, description: Option<&str>, fields: &[Field]) {
    if let Some(text) = description {
        docstring(out, text);
        out.push('\n');
    }
    if fields.is_empty() && description.is_none() {
        out.push_str("    pass\n");
    }
    for (index, field) in fields.iter().enumerate() {
        let name = snake(&field.name);
        let ty = python_type(&field.ty);
        // Value types a caller must send default to their zero; everything else to None.
        let (annotation, default) = match (&field.ty, field.required) {
            (TypeRef::Bool, true) => (ty, "False".to_owned()),
            (TypeRef::Int, true) => (ty, "0".to_owned()),
            _ => (format!("Optional[{ty}]"), "None".to_owned()),
        };
        if KEYWORDS.contains(&name.as_str()) {
            out.push_str(&format!(
                "    {name}_: {annotation} = field(metadata=config(field_name='{}'), default={default})\n",
                field.name
            ));
        } else {
            out.push_str(&format!("    {name}: {annotation} = {default}\n"));
        }
        if let Some(text) = &field.description {
            docstring(out, text);
            if index + 1 < fields.len() {
                out.push('\n');
            }
        }
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    out.push_str(&format!("\n\n# @Route(\"{}\", \"{}\")\n", operation.route, operation.method));
    out.push_str(DECORATORS);
    out.push_str(&format!(
        "class {}(IReturn[{}], {}):\n",
        operation.name,
        operation.response,
        operation.verb_marker()
    ));
    render_body(out, Some(&operation.description), &operation.request);
}
