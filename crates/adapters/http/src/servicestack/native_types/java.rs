//! `/types/java`: static classes in a `dtos` class, with accessors, for ServiceStack's Java
//! `JsonServiceClient` (Gson).

use super::kotlin::{JVM_IMPORTS, api_member, jvm_type};
use super::{Dtos, block_comment, options_header, pascal, quoted};
use crate::servicestack::description::{Field, OperationDoc, TypeKind, TypeRef};

const OPTIONS: &[(&str, &str)] = &[
    ("Package", ""),
    ("GlobalNamespace", "dtos"),
    ("AddPropertyAccessors", "True"),
    ("SettersReturnThis", "True"),
    ("AddServiceStackTypes", "True"),
    ("AddResponseStatus", "False"),
    ("AddDescriptionAsComments", "True"),
    ("AddImplicitVersion", ""),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("TreatTypesAsStrings", ""),
    ("DefaultImports", JVM_IMPORTS),
];

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "", OPTIONS));
        out.push('\n');
    }
    for import in JVM_IMPORTS.split(',') {
        out.push_str(&format!("import {import};\n"));
    }
    out.push_str("\npublic class dtos\n{\n");
    for operation in dtos.operations {
        out.push('\n');
        render_request(&mut out, operation);
    }
    for ty in dtos.types {
        out.push('\n');
        block_comment(&mut out, "    ", ty.description.as_deref());
        match &ty.kind {
            TypeKind::Enum(values) => {
                out.push_str(&format!("    public static enum {}\n    {{\n", ty.name));
                out.push_str(&format!("        {};\n    }}\n", values.join(",\n        ")));
            }
            TypeKind::Class(fields) => {
                out.push_str(&format!("    public static class {}\n    {{\n", ty.name));
                render_fields(&mut out, &ty.name, fields, false);
                out.push_str("    }\n");
            }
        }
    }
    out.push_str("\n}\n");
    out
}

fn render_fields(out: &mut String, owner: &str, fields: &[Field], request: bool) {
    for (index, field) in fields.iter().enumerate() {
        block_comment(out, "        ", field.description.as_deref());
        if request {
            out.push_str(&format!("        {}\n", api_member(field)));
        }
        out.push_str(&format!("        public {} {} = null;\n", jvm_type(&field.ty, false), field.name));
        if (request || field.description.is_some()) && index + 1 < fields.len() {
            out.push('\n');
        }
    }
    out.push_str("        \n");
    for field in fields {
        let ty = jvm_type(&field.ty, false);
        let getter = if field.ty == TypeRef::Bool { "is" } else { "get" };
        let name = pascal(&field.name);
        out.push_str(&format!("        public {ty} {getter}{name}() {{ return {}; }}\n", field.name));
        out.push_str(&format!(
            "        public {owner} set{name}({ty} value) {{ this.{} = value; return this; }}\n",
            field.name
        ));
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    block_comment(out, "    ", Some(&operation.description));
    out.push_str(&format!("    @Route(Path=\"{}\", Verbs=\"{}\")\n", operation.route, operation.method));
    out.push_str(&format!("    @Api(Description=\"{}\")\n", quoted(&operation.description)));
    out.push_str(&format!(
        "    public static class {} implements IReturn<{}>, {}\n    {{\n",
        operation.name,
        operation.response,
        operation.verb_marker()
    ));
    render_fields(out, operation.name, &operation.request, true);
    out.push_str(&format!(
        "        private static Object responseType = {}.class;\n        public Object getResponseType() {{ return responseType; }}\n    }}\n",
        operation.response
    ));
}
