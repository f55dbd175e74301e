//! `/types/typescript`: classes `@servicestack/client`'s `JsonServiceClient` sends and fills.

use super::{Dtos, one_line, options_header};
use crate::servicestack::description::{Field, OperationDoc, TypeDoc, TypeKind, TypeRef};

const OPTIONS: &[(&str, &str)] = &[
    ("GlobalNamespace", ""),
    ("MakePropertiesOptional", "False"),
    ("AddServiceStackTypes", "True"),
    ("AddResponseStatus", "False"),
    ("AddImplicitVersion", ""),
    ("AddDescriptionAsComments", "True"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("DefaultImports", ""),
];

/// The marker interfaces the request classes implement (ServiceStack's `AddServiceStackTypes`).
const INTERFACES: &str = "export interface IReturn<T>\n{\n    createResponse(): T;\n}\n\nexport interface IReturnVoid\n{\n    createResponse(): void;\n}\n\nexport interface IGet\n{\n}\n\nexport interface IPost\n{\n}\n\nexport interface IDelete\n{\n}\n\nexport interface IPatch\n{\n}\n\n";

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "", OPTIONS));
        out.push_str("\n\n");
        out.push_str(INTERFACES);
    }
    for ty in dtos.types {
        render_type(&mut out, ty);
    }
    for operation in dtos.operations {
        render_request(&mut out, operation);
    }
    out
}

/// The TypeScript type of a field.
pub(super) fn ts_type(ty: &TypeRef) -> String {
    match ty {
        TypeRef::String => "string".to_owned(),
        TypeRef::Bool => "boolean".to_owned(),
        TypeRef::Int => "number".to_owned(),
        TypeRef::List(item) => format!("{}[]", ts_type(item)),
        TypeRef::StringMap => "{ [index:string]: string; }".to_owned(),
        TypeRef::Named(name) => name.clone(),
    }
}

fn description_line(out: &mut String, indent: &str, description: Option<&str>) {
    if let Some(text) = description {
        out.push_str(&format!("{indent}/** @description {} */\n", one_line(text)));
    }
}

fn render_type(out: &mut String, ty: &TypeDoc) {
    match &ty.kind {
        TypeKind::Enum(values) => {
            out.push_str(&format!("export enum {}\n{{\n", ty.name));
            for value in values {
                out.push_str(&format!("    {value} = '{value}',\n"));
            }
            out.push_str("}\n\n");
        }
        TypeKind::Class(fields) => {
            description_line(out, "", ty.description.as_deref());
            out.push_str(&format!("export class {}\n{{\n", ty.name));
            render_fields(out, fields);
            out.push_str(&format!(
                "    public constructor(init?: Partial<{0}>) {{ (Object as any).assign(this, init); }}\n}}\n\n",
                ty.name
            ));
        }
    }
}

fn render_fields(out: &mut String, fields: &[Field]) {
    for field in fields {
        description_line(out, "    ", field.description.as_deref());
        // Value types the caller may leave out are optional, as ServiceStack writes `int?`.
        let optional = if field.ty.is_value_type() && !field.required { "?" } else { "" };
        out.push_str(&format!("    public {}{optional}: {};\n", field.name, ts_type(&field.ty)));
        if field.description.is_some() {
            out.push('\n');
        }
    }
    if fields.last().is_some_and(|field| field.description.is_none()) {
        out.push('\n');
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    description_line(out, "", Some(&operation.description));
    out.push_str(&format!("// @Route(\"{}\", \"{}\")\n", operation.route, operation.method));
    out.push_str(&format!("// @Api(Description=\"{}\")\n", super::quoted(&operation.description)));
    out.push_str(&format!(
        "export class {} implements IReturn<{}>, {}\n{{\n",
        operation.name,
        operation.response,
        operation.verb_marker()
    ));
    render_fields(out, &operation.request);
    out.push_str(&format!(
        "    public constructor(init?: Partial<{0}>) {{ (Object as any).assign(this, init); }}\n    public getTypeName() {{ return '{0}'; }}\n    public getMethod() {{ return '{1}'; }}\n    public createResponse() {{ return new {2}(); }}\n}}\n\n",
        operation.name, operation.method, operation.response
    ));
}
