//! `/types/csharp`: partial classes for ServiceStack's C# `JsonApiClient`. Each property names
//! its camelCase wire name (`[DataMember(Name=...)]`), so the client sends what the service
//! reads whatever its serializer's casing.

use super::{Dtos, options_header, pascal, quoted};
use crate::servicestack::description::{Field, OperationDoc, TypeDoc, TypeKind, TypeRef};

/// The namespace of the Evo Voice API's session DTOs.
const NAMESPACE: &str = "Voice.Api.Sessions";

const OPTIONS: &[(&str, &str)] = &[
    ("GlobalNamespace", ""),
    ("MakePartial", "True"),
    ("MakeVirtual", "True"),
    ("MakeInternal", "False"),
    ("MakeDataContractsExtensible", "False"),
    ("AddNullableAnnotations", "False"),
    ("AddReturnMarker", "True"),
    ("AddDescriptionAsComments", "True"),
    ("AddDataContractAttributes", "False"),
    ("AddIndexesToDataMembers", "False"),
    ("AddGeneratedCodeAttributes", "False"),
    ("AddResponseStatus", "False"),
    ("AddImplicitVersion", ""),
    ("InitializeCollections", "False"),
    ("ExportValueTypes", "False"),
    ("IncludeTypes", ""),
    ("ExcludeTypes", ""),
    ("AddNamespaces", ""),
    ("AddDefaultXmlNamespace", "http://schemas.servicestack.net/types"),
];

const USINGS: &[&str] = &[
    "System",
    "System.IO",
    "System.Collections",
    "System.Collections.Generic",
    "System.Runtime.Serialization",
    "ServiceStack",
    "ServiceStack.DataAnnotations",
];

/// A class, request or not: ServiceStack's C# generator sorts them by name.
enum Item<'a> {
    Type(&'a TypeDoc),
    Request(&'a OperationDoc),
}

pub(super) fn render(dtos: &Dtos<'_>) -> String {
    let mut out = String::new();
    if let Some(header) = dtos.header {
        out.push_str(&options_header(header, ("/*", "//", "*/"), "", OPTIONS));
        out.push('\n');
    }
    for using in USINGS {
        out.push_str(&format!("using {using};\n"));
    }
    out.push_str(&format!("using {NAMESPACE};\n\nnamespace {NAMESPACE}\n{{\n"));
    let mut items: Vec<(&str, Item<'_>)> =
        dtos.types.iter().map(|ty| (ty.name.as_str(), Item::Type(ty))).collect();
    items.extend(dtos.operations.iter().map(|operation| (operation.name, Item::Request(operation))));
    items.sort_by(|a, b| a.0.cmp(b.0));
    for (index, (_, item)) in items.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        match item {
            Item::Type(ty) => render_type(&mut out, ty),
            Item::Request(operation) => render_request(&mut out, operation),
        }
    }
    out.push_str("\n}\n\n");
    out
}

fn cs_type(ty: &TypeRef, optional: bool) -> String {
    match ty {
        TypeRef::Bool | TypeRef::Int if optional => format!("{}?", ty.csharp()),
        TypeRef::List(item) => format!("List<{}>", cs_type(item, false)),
        _ => ty.csharp(),
    }
}

fn summary(out: &mut String, indent: &str, description: Option<&str>) {
    if let Some(text) = description {
        out.push_str(&format!(
            "{indent}///<summary>\n{indent}///{}\n{indent}///</summary>\n",
            super::one_line(text)
        ));
    }
}

fn render_type(out: &mut String, ty: &TypeDoc) {
    summary(out, "    ", ty.description.as_deref());
    match &ty.kind {
        TypeKind::Enum(values) => {
            out.push_str(&format!("    public enum {}\n    {{\n", ty.name));
            for value in values {
                out.push_str(&format!("        {value},\n"));
            }
            out.push_str("    }\n");
        }
        TypeKind::Class(fields) => {
            out.push_str(&format!("    [DataContract]\n    public partial class {}\n    {{\n", ty.name));
            render_fields(out, fields, false);
            out.push_str("    }\n");
        }
    }
}

fn render_fields(out: &mut String, fields: &[Field], request: bool) {
    for field in fields {
        summary(out, "        ", field.description.as_deref());
        out.push_str(&format!("        [DataMember(Name=\"{}\")]\n", field.name));
        if request {
            out.push_str(&format!("        [ApiMember({})]\n", super::api_member_args(field)));
        }
        out.push_str(&format!(
            "        public virtual {} {} {{ get; set; }}\n",
            cs_type(&field.ty, !field.required),
            pascal(&field.name)
        ));
    }
}

fn render_request(out: &mut String, operation: &OperationDoc) {
    summary(out, "    ", Some(&operation.description));
    out.push_str(&format!("    [Route(\"{}\", \"{}\")]\n", operation.route, operation.method));
    out.push_str(&format!("    [Api(Description=\"{}\")]\n", quoted(&operation.description)));
    if let Some(role) = operation.role {
        out.push_str(&format!("    [ValidateRequest(\"HasRole(`{role}`)\")]\n"));
    }
    out.push_str(&format!(
        "    [DataContract]\n    public partial class {}\n        : IReturn<{}>, {}\n    {{\n",
        operation.name,
        operation.response,
        operation.verb_marker()
    ));
    render_fields(out, &operation.request, true);
    out.push_str("    }\n");
}
