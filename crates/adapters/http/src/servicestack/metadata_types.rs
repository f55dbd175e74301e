//! `/types/metadata`: ServiceStack's `MetadataTypes` JSON, the description the ServiceStack
//! tools and UIs read (docs/api.md, "Add ServiceStack Reference").

use serde::Serialize;

use super::description::{Field, Location, OperationDoc, Service, TypeDoc, TypeKind, TypeRef};

/// The namespace of the Evo Voice API's session DTOs.
const NAMESPACE: &str = "Voice.Api.Sessions";

/// `MetadataTypes`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataTypes {
    config: Config,
    namespaces: Vec<&'static str>,
    types: Vec<MetadataType>,
    operations: Vec<MetadataOperationType>,
}

/// `MetadataTypesConfig`: the options the references' headers echo.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    base_url: String,
    add_return_marker: bool,
    add_description_as_comments: bool,
    add_service_stack_types: bool,
    add_response_status: bool,
    make_properties_optional: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataOperationType {
    request: MetadataType,
    response: TypeName,
    actions: Vec<&'static str>,
    method: &'static str,
    return_type: TypeName,
    routes: Vec<Route>,
    requires_auth: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required_roles: Vec<&'static str>,
    tags: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Route {
    path: &'static str,
    verbs: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TypeName {
    name: String,
    namespace: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    generic_args: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataType {
    name: String,
    namespace: &'static str,
    implements: Vec<TypeName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_enum: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enum_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Vec<Property>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Property {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    generic_args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_value_type: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_enum: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    param_type: Option<&'static str>,
    data_member: DataMember,
}

#[derive(Debug, Serialize)]
struct DataMember {
    name: String,
}

impl MetadataTypes {
    /// The description of `service`, served from `base_url`.
    pub fn of(service: &Service, base_url: String) -> Self {
        let is_enum =
            |name: &str| service.type_named(name).is_some_and(|ty| matches!(ty.kind, TypeKind::Enum(_)));
        MetadataTypes {
            config: Config {
                base_url,
                add_return_marker: true,
                add_description_as_comments: true,
                add_service_stack_types: true,
                add_response_status: false,
                make_properties_optional: false,
            },
            namespaces: vec!["System", "System.Collections.Generic", "ServiceStack", NAMESPACE],
            types: service.types.iter().map(|ty| metadata_type(ty, &is_enum)).collect(),
            operations: service
                .operations
                .iter()
                .map(|operation| metadata_operation(operation, &is_enum))
                .collect(),
        }
    }
}

fn type_name(name: &str) -> TypeName {
    TypeName { name: name.to_owned(), namespace: NAMESPACE, generic_args: Vec::new() }
}

fn metadata_operation(operation: &OperationDoc, is_enum: &dyn Fn(&str) -> bool) -> MetadataOperationType {
    let request = MetadataType {
        name: operation.name.to_owned(),
        namespace: NAMESPACE,
        implements: vec![
            TypeName {
                name: "IReturn`1".to_owned(),
                namespace: "ServiceStack",
                generic_args: vec![operation.response.clone()],
            },
            TypeName {
                name: operation.verb_marker().to_owned(),
                namespace: "ServiceStack",
                generic_args: Vec::new(),
            },
        ],
        description: Some(operation.description.clone()),
        is_enum: None,
        enum_names: None,
        properties: Some(operation.request.iter().map(|field| property(field, is_enum)).collect()),
    };
    MetadataOperationType {
        request,
        response: type_name(&operation.response),
        actions: vec![operation.method],
        method: operation.method,
        return_type: type_name(&operation.response),
        routes: vec![Route { path: operation.route, verbs: operation.method }],
        requires_auth: true,
        required_roles: operation.role.into_iter().collect(),
        tags: vec!["sessions"],
    }
}

fn metadata_type(ty: &TypeDoc, is_enum: &dyn Fn(&str) -> bool) -> MetadataType {
    let (is_enum_type, enum_names, properties) = match &ty.kind {
        TypeKind::Enum(values) => (Some(true), Some(values.clone()), None),
        TypeKind::Class(fields) => {
            (None, None, Some(fields.iter().map(|field| property(field, is_enum)).collect()))
        }
    };
    MetadataType {
        name: ty.name.clone(),
        namespace: NAMESPACE,
        implements: Vec::new(),
        description: ty.description.clone(),
        is_enum: is_enum_type,
        enum_names,
        properties,
    }
}

/// A field as `MetadataPropertyType`: the CLR type name with its generic arguments.
fn property(field: &Field, is_enum: &dyn Fn(&str) -> bool) -> Property {
    let optional_value = field.ty.is_value_type() && !field.required;
    let (ty, namespace, generic_args) = match &field.ty {
        TypeRef::String => ("String".to_owned(), Some("System"), Vec::new()),
        TypeRef::Bool if optional_value => {
            ("Nullable`1".to_owned(), Some("System"), vec!["Boolean".to_owned()])
        }
        TypeRef::Bool => ("Boolean".to_owned(), Some("System"), Vec::new()),
        TypeRef::Int if optional_value => ("Nullable`1".to_owned(), Some("System"), vec!["Int32".to_owned()]),
        TypeRef::Int => ("Int32".to_owned(), Some("System"), Vec::new()),
        TypeRef::List(item) => {
            ("List`1".to_owned(), Some("System.Collections.Generic"), vec![clr_name(item)])
        }
        TypeRef::StringMap => (
            "Dictionary`2".to_owned(),
            Some("System.Collections.Generic"),
            vec!["String".to_owned(), "String".to_owned()],
        ),
        TypeRef::Named(name) => (name.clone(), Some(NAMESPACE), Vec::new()),
    };
    let named_enum = matches!(&field.ty, TypeRef::Named(name) if is_enum(name));
    Property {
        name: super::native_types::pascal(&field.name),
        ty,
        namespace,
        generic_args,
        is_value_type: (field.ty.is_value_type() || named_enum).then_some(true),
        is_enum: named_enum.then_some(true),
        is_required: field.required.then_some(true),
        description: field.description.clone(),
        param_type: (field.location != Location::Form).then(|| field.location.as_str()),
        data_member: DataMember { name: field.name.clone() },
    }
}

fn clr_name(ty: &TypeRef) -> String {
    match ty {
        TypeRef::String => "String".to_owned(),
        TypeRef::Bool => "Boolean".to_owned(),
        TypeRef::Int => "Int32".to_owned(),
        TypeRef::List(item) => format!("List<{}>", clr_name(item)),
        TypeRef::StringMap => "Dictionary<String,String>".to_owned(),
        TypeRef::Named(name) => name.clone(),
    }
}
