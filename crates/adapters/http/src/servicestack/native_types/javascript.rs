//! `/types/mjs` (and `/types/js`): ES module classes with JSDoc types, as the seed page of
//! DeleteChatMember shows them; `@servicestack/client` sends and fills them as it does the
//! TypeScript ones.

use super::{Dtos, one_line, options_header};
use crate::servicestack::description::{Field, OperationDoc, TypeKind};

const OPTIONS: &[(&str, &str)] = &[
    ("AddServiceStackTypes", "True"),
    ("AddDocAnnotations", "True"),
    ("AddDescriptionAsComments", "True"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("DefaultImports", ""),
];

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "", OPTIONS));
        out.push('\n');
    }
    out.push_str("\"use strict\";\n");
    for ty in dtos.types {
        match &ty.kind {
            TypeKind::Enum(values) => render_enum(&mut out, &ty.name, values),
            TypeKind::Class(fields) => {
                render_class_start(&mut out, &ty.name, fields);
                out.push_str("}\n");
            }
        }
    }
    for operation in dtos.operations {
        render_request(&mut out, operation);
    }
    out
}

fn js_type(field: &Field) -> String {
    let ty = super::typescript::ts_type(&field.ty);
    if field.ty.is_value_type() && !field.required { format!("?{ty}") } else { ty }
}

fn render_enum(out: &mut String, name: &str, values: &[String]) {
    let quoted: Vec<String> = values.iter().map(|value| format!("'{value}'")).collect();
    out.push_str(&format!(
        "/** @typedef {{{}}} */\nexport var {name};\n(function ({name}) {{\n",
        quoted.join("|")
    ));
    for value in values {
        out.push_str(&format!("    {name}[\"{value}\"] = \"{value}\"\n"));
    }
    out.push_str(&format!("}})({name} || ({name} = {{}}));\n"));
}

fn render_class_start(out: &mut String, name: &str, fields: &[Field]) {
    out.push_str(&format!("export class {name} {{\n"));
    if !fields.is_empty() {
        let init: Vec<String> =
            fields.iter().map(|f| format!("{}?:{}", f.name, super::typescript::ts_type(&f.ty))).collect();
        out.push_str(&format!("    /** @param {{{{{}}}}} [init] */\n", init.join(",")));
    }
    out.push_str("    constructor(init) { Object.assign(this, init) }\n");
    for field in fields {
        match &field.description {
            Some(text) => out.push_str(&format!(
                "    /**\n     * @type {{{}}}\n     * @description {} */\n",
                js_type(field),
                one_line(text)
            )),
            None => out.push_str(&format!("    /** @type {{{}}} */\n", js_type(field))),
        }
        out.push_str(&format!("    {};\n", field.name));
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    render_class_start(out, operation.name, &operation.request);
    out.push_str(&format!(
        "    getTypeName() {{ return '{}' }}\n    getMethod() {{ return '{}' }}\n    createResponse() {{ return new {}() }}\n}}\n",
        operation.name, operation.method, operation.response
    ));
}
