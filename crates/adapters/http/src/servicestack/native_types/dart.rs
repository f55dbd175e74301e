//! `/types/dart`: classes for the `servicestack` Dart package's `JsonServiceClient`, with
//! their JSON conversions and the `TypeContext` that names every type.

use super::{Dtos, block_comment, options_header, quoted};
use crate::servicestack::description::{Field, TypeKind, TypeRef};

const OPTIONS: &[(&str, &str)] = &[
    ("GlobalNamespace", ""),
    ("AddServiceStackTypes", "True"),
    ("AddResponseStatus", "False"),
    ("AddImplicitVersion", ""),
    ("AddDescriptionAsComments", "True"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("DefaultImports", "package:servicestack/servicestack.dart"),
];

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "", OPTIONS));
        out.push('\n');
    }
    out.push_str("import 'package:servicestack/servicestack.dart';\n");
    let mut context = Vec::new();
    for ty in dtos.types {
        out.push('\n');
        block_comment(&mut out, "", ty.description.as_deref());
        match &ty.kind {
            TypeKind::Enum(values) => {
                out.push_str(&format!("enum {}\n{{\n", ty.name));
                for value in values {
                    out.push_str(&format!("    {value},\n"));
                }
                out.push_str("}\n");
                context.push(format!("'{0}': TypeInfo(TypeOf.Enum, enumValues:{0}.values),", ty.name));
            }
            TypeKind::Class(fields) => {
                out.push_str(&format!("class {} implements IConvertible\n{{\n", ty.name));
                render_members(&mut out, &ty.name, fields, None);
                context.push(format!("'{0}': TypeInfo(TypeOf.Class, create:() => {0}()),", ty.name));
                for field in fields {
                    if let TypeRef::List(item) = &field.ty
                        && let TypeRef::Named(name) = item.as_ref()
                    {
                        let entry =
                            format!("'List<{name}>': TypeInfo(TypeOf.Class, create:() => <{name}>[]),");
                        if !context.contains(&entry) {
                            context.push(entry);
                        }
                    }
                }
            }
        }
    }
    for operation in dtos.operations {
        out.push('\n');
        block_comment(&mut out, "", Some(&operation.description));
        out.push_str(&format!("// @Route(\"{}\", \"{}\")\n", operation.route, operation.method));
        out.push_str(&format!("// @Api(Description=\"{}\")\n", quoted(&operation.description)));
        out.push_str(&format!(
            "class {} implements IReturn<{}>, IConvertible, {}\n{{\n",
            operation.name,
            operation.response,
            operation.verb_marker()
        ));
        render_members(&mut out, operation.name, &operation.request, Some(&operation.response));
        context.push(format!("'{0}': TypeInfo(TypeOf.Class, create:() => {0}()),", operation.name));
    }
    let library = dtos.library;
    out.push_str(&format!(
        "\nTypeContext _ctx = TypeContext(library: '{library}', types: <String, TypeInfo> {{\n"
    ));
    for entry in context {
        out.push_str(&format!("    {entry}\n"));
    }
    out.push_str("});\n\n");
    out
}

fn dart_type(ty: &TypeRef) -> String {
    match ty {
        TypeRef::String => "String".to_owned(),
        TypeRef::Bool => "bool".to_owned(),
        TypeRef::Int => "int".to_owned(),
        TypeRef::List(item) => format!("List<{}>", dart_type(item)),
        TypeRef::StringMap => "Map<String,String?>".to_owned(),
        TypeRef::Named(name) => name.clone(),
    }
}

/// How a field is read from a JSON map and written to one.
fn conversions(field: &Field) -> (String, String) {
    let name = &field.name;
    match &field.ty {
        TypeRef::String | TypeRef::Bool | TypeRef::Int => (format!("json['{name}']"), name.clone()),
        TypeRef::StringMap => (format!("JsonConverters.toStringMap(json['{name}'])"), name.clone()),
        ty => {
            let ty = dart_type(ty);
            (
                format!("JsonConverters.fromJson(json['{name}'],'{ty}',context!)"),
                format!("JsonConverters.toJson({name},'{ty}',context!)"),
            )
        }
    }
}

fn render_members(out: &mut String, owner: &str, fields: &[Field], response: Option<&str>) {
    for (index, field) in fields.iter().enumerate() {
        block_comment(out, "    ", field.description.as_deref());
        if response.is_some() {
            out.push_str(&format!("    // {}\n", super::kotlin::api_member(field)));
        }
        out.push_str(&format!("    {}? {};\n", dart_type(&field.ty), field.name));
        if (response.is_some() || field.description.is_some()) && index + 1 < fields.len() {
            out.push('\n');
        }
    }
    if fields.is_empty() {
        out.push_str(&format!(
            "    {owner}();\n    {owner}.fromJson(Map<String, dynamic> json) : super();\n    fromMap(Map<String, dynamic> json) {{\n        return this;\n    }}\n\n    Map<String, dynamic> toJson() => {{}};\n"
        ));
    } else {
        let names: Vec<String> = fields.iter().map(|f| format!("this.{}", f.name)).collect();
        out.push_str(&format!("\n    {owner}({{{}}});\n", names.join(",")));
        out.push_str(&format!("    {owner}.fromJson(Map<String, dynamic> json) {{ fromMap(json); }}\n\n"));
        out.push_str("    fromMap(Map<String, dynamic> json) {\n");
        for field in fields {
            out.push_str(&format!("        {} = {};\n", field.name, conversions(field).0));
        }
        out.push_str("        return this;\n    }\n\n    Map<String, dynamic> toJson() => {\n");
        let writes: Vec<String> =
            fields.iter().map(|f| format!("        '{}': {}", f.name, conversions(f).1)).collect();
        out.push_str(&writes.join(",\n"));
        out.push_str("\n    };\n\n");
    }
    if let Some(response) = response {
        out.push_str(&format!(
            "    createResponse() => {response}();\n    getResponseTypeName() => \"{response}\";\n"
        ));
    }
    out.push_str(&format!("    getTypeName() => \"{owner}\";\n    TypeContext? context = _ctx;\n}}\n"));
}
