//! `/types/swift`: Codable classes for ServiceStack's Swift `JsonServiceClient`.

use super::{Dtos, block_comment, options_header, quoted};
use crate::servicestack::description::{Field, OperationDoc, TypeKind, TypeRef};

const OPTIONS: &[(&str, &str)] = &[
    ("BaseClass", ""),
    ("AddModelExtensions", "True"),
    ("AddServiceStackTypes", "True"),
    ("MakePropertiesOptional", "True"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("ExcludeGenericBaseTypes", "False"),
    ("AddResponseStatus", "False"),
    ("AddImplicitVersion", ""),
    ("AddDescriptionAsComments", "True"),
    ("InitializeCollections", "False"),
    ("TreatTypesAsStrings", ""),
    ("DefaultImports", "Foundation,ServiceStack"),
];

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "SwiftVersion: 6.0\n", OPTIONS));
        out.push('\n');
    }
    out.push_str("import Foundation\nimport ServiceStack\n");
    for operation in dtos.operations {
        out.push('\n');
        render_request(&mut out, operation);
    }
    for ty in dtos.types {
        out.push('\n');
        block_comment(&mut out, "", ty.description.as_deref());
        match &ty.kind {
            TypeKind::Enum(values) => {
                out.push_str(&format!("public enum {} : String, Codable\n{{\n", ty.name));
                for value in values {
                    out.push_str(&format!("    case {value}\n"));
                }
                out.push_str("}\n");
            }
            TypeKind::Class(fields) => {
                out.push_str(&format!("public class {} : Codable\n{{\n", ty.name));
                render_fields(&mut out, fields, false);
                out.push_str("\n    required public init(){}\n}\n");
            }
        }
    }
    out.push('\n');
    out
}

fn swift_type(ty: &TypeRef) -> String {
    match ty {
        TypeRef::String => "String".to_owned(),
        TypeRef::Bool => "Bool".to_owned(),
        TypeRef::Int => "Int".to_owned(),
        TypeRef::List(item) => format!("[{}]", swift_type(item)),
        TypeRef::StringMap => "[String:String]".to_owned(),
        TypeRef::Named(name) => name.clone(),
    }
}

fn render_fields(out: &mut String, fields: &[Field], request: bool) {
    for (index, field) in fields.iter().enumerate() {
        block_comment(out, "    ", field.description.as_deref());
        if request {
            out.push_str(&format!("    // {}\n", super::kotlin::api_member(field)));
        }
        out.push_str(&format!("    public var {}:{}?\n", field.name, swift_type(&field.ty)));
        if (request || field.description.is_some()) && index + 1 < fields.len() {
            out.push('\n');
        }
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    block_comment(out, "", Some(&operation.description));
    out.push_str(&format!("// @Route(\"{}\", \"{}\")\n", operation.route, operation.method));
    out.push_str(&format!("// @Api(Description=\"{}\")\n", quoted(&operation.description)));
    out.push_str(&format!(
        "public class {} : IReturn, {}, Codable\n{{\n    public typealias Return = {}\n\n",
        operation.name,
        operation.verb_marker(),
        operation.response
    ));
    render_fields(out, &operation.request, true);
    out.push_str("\n    required public init(){}\n}\n");
}
