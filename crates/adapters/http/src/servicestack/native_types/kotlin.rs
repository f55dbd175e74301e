//! `/types/kotlin`: open classes for ServiceStack's Kotlin/Android `JsonServiceClient` (Gson).

use super::{Dtos, block_comment, options_header, quoted};
use crate::servicestack::description::{Field, OperationDoc, TypeKind, TypeRef};

const OPTIONS: &[(&str, &str)] = &[
    ("Package", ""),
    ("AddServiceStackTypes", "True"),
    ("AddResponseStatus", "False"),
    ("AddImplicitVersion", ""),
    ("AddDescriptionAsComments", "True"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("InitializeCollections", "False"),
    ("TreatTypesAsStrings", ""),
    ("DefaultImports", JVM_IMPORTS),
];

/// The imports both JVM languages start with, as their `DefaultImports` option lists them.
pub(super) const JVM_IMPORTS: &str = "java.math.*,java.util.*,java.io.InputStream,net.servicestack.client.*,com.google.gson.annotations.*,com.google.gson.reflect.*";

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "", OPTIONS));
        out.push('\n');
    }
    for import in JVM_IMPORTS.split(',') {
        out.push_str(&format!("import {import}\n"));
    }
    out.push('\n');
    // Requests first, then the other types (ServiceStack's order).
    for operation in dtos.operations {
        out.push('\n');
        render_request(&mut out, operation);
    }
    for ty in dtos.types {
        out.push('\n');
        block_comment(&mut out, "", ty.description.as_deref());
        match &ty.kind {
            TypeKind::Enum(values) => {
                out.push_str(&format!("enum class {}\n{{\n", ty.name));
                for value in values {
                    out.push_str(&format!("    {value},\n"));
                }
                out.push_str("}\n");
            }
            TypeKind::Class(fields) => {
                out.push_str(&format!("open class {}\n{{\n", ty.name));
                render_fields(&mut out, fields, false);
                out.push_str("}\n");
            }
        }
    }
    out
}

/// The JVM type of a field (Kotlin and Java write them alike).
pub(super) fn jvm_type(ty: &TypeRef, kotlin: bool) -> String {
    match ty {
        TypeRef::String => "String".to_owned(),
        TypeRef::Bool => "Boolean".to_owned(),
        TypeRef::Int if kotlin => "Int".to_owned(),
        TypeRef::Int => "Integer".to_owned(),
        TypeRef::List(item) => format!("ArrayList<{}>", jvm_type(item, kotlin)),
        TypeRef::StringMap => "HashMap<String,String>".to_owned(),
        TypeRef::Named(name) => name.clone(),
    }
}

/// `@ApiMember(...)` of a request field: where it goes, what it is.
pub(super) fn api_member(field: &Field) -> String {
    format!("@ApiMember({})", super::api_member_args(field))
}

fn render_fields(out: &mut String, fields: &[Field], request: bool) {
    for (index, field) in fields.iter().enumerate() {
        block_comment(out, "    ", field.description.as_deref());
        if request {
            out.push_str(&format!("    {}\n", api_member(field)));
        }
        out.push_str(&format!("    open var {}:{}? = null\n", field.name, jvm_type(&field.ty, true)));
        if (request || field.description.is_some()) && index + 1 < fields.len() {
            out.push('\n');
        }
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    block_comment(out, "", Some(&operation.description));
    out.push_str(&format!("@Route(Path=\"{}\", Verbs=\"{}\")\n", operation.route, operation.method));
    out.push_str(&format!("@Api(Description=\"{}\")\n", quoted(&operation.description)));
    out.push_str(&format!(
        "open class {} : IReturn<{}>, {}\n{{\n",
        operation.name,
        operation.response,
        operation.verb_marker()
    ));
    render_fields(out, &operation.request, true);
    out.push_str(&format!(
        "    companion object {{ private val responseType = {}::class.java }}\n    override fun getResponseType(): Any? = {}.responseType\n}}\n",
        operation.response, operation.name
    ));
}
