//! The service as ServiceStack describes it: its operations (request DTO, response type,
//! routes, role) and the types they use, read from the two descriptions the service already
//! has: the operations table ([`crate::operations::OPERATIONS`]) and the OpenAPI document
//! made from the handlers' annotations and the DTOs ([`crate::openapi::ApiDoc`]). Every page
//! and every language of docs/api.md, "Add ServiceStack Reference", is rendered from this.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation as OpenApiOperation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi as OpenApiDocument, RefOr};

use crate::operations::{OPERATIONS, ROUTE_ONLY_VARIABLES};

/// The name every page and reference gives the service.
pub const SERVICE_NAME: &str = "Evo Voice";

/// The ServiceStack version the references say they come from: the tools compare it with
/// their own only to warn.
pub const SERVICESTACK_VERSION: &str = "8.91";

/// The service: its operations in the table's order, and every type they use, each after the
/// types it uses (a reference can be read top to bottom).
#[derive(Debug)]
pub struct Service {
    /// The operations.
    pub operations: Vec<OperationDoc>,
    /// The types the requests and responses use, dependencies first.
    pub types: Vec<TypeDoc>,
}

/// One operation.
#[derive(Debug)]
pub struct OperationDoc {
    /// `DeleteChatMember`: also the request DTO's name.
    pub name: &'static str,
    /// One line: `Removes the specified member from the chat`.
    pub description: String,
    /// `GET`, `POST`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The operation's route (`/sessions/{sessionId}/members/{memberId}`).
    pub route: &'static str,
    /// The role the caller needs beyond authentication, if any (`User`).
    pub role: Option<&'static str>,
    /// The request DTO's fields: the route's variables, the query string, the body.
    pub request: Vec<Field>,
    /// The type of a 200 answer.
    pub response: String,
}

impl OperationDoc {
    /// The verb marker ServiceStack's clients read the method from (`IDelete`).
    pub fn verb_marker(&self) -> &'static str {
        match self.method {
            "GET" => "IGet",
            "POST" => "IPost",
            "PATCH" => "IPatch",
            _ => "IDelete",
        }
    }
}

/// A type of the service.
#[derive(Debug)]
pub struct TypeDoc {
    /// `SessionInfo`
    pub name: String,
    /// What it is, if said.
    pub description: Option<String>,
    /// A class's fields, or an enum's values.
    pub kind: TypeKind,
}

/// A class or an enum.
#[derive(Debug)]
pub enum TypeKind {
    /// A class and its fields, in wire order.
    Class(Vec<Field>),
    /// A string enum and its values.
    Enum(Vec<String>),
}

/// A property of a DTO.
#[derive(Debug, Clone)]
pub struct Field {
    /// The wire (camelCase) name: `memberToRemove`.
    pub name: String,
    /// Its type.
    pub ty: TypeRef,
    /// What it is, if said.
    pub description: Option<String>,
    /// Whether a request must carry it (the parser's rule, as the OpenAPI document states it).
    pub required: bool,
    /// Where a request carries it.
    pub location: Location,
}

/// Where a request carries a field (the parameter table's `Parameter` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A route variable.
    Path,
    /// The query string.
    Query,
    /// The JSON body.
    Body,
    /// A field of a response or of a nested type.
    Form,
}

impl Location {
    /// As the parameter table names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Body => "body",
            Self::Form => "form",
        }
    }
}

/// The type of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    /// A string (dates are strings on the wire).
    String,
    /// `true` or `false`.
    Bool,
    /// A 32-bit integer.
    Int,
    /// A list.
    List(Box<TypeRef>),
    /// A map of strings to strings.
    StringMap,
    /// One of the service's types, by name.
    Named(String),
}

impl TypeRef {
    /// Its ServiceStack (C#) name, as the parameter tables and `/types/metadata` write it.
    pub fn csharp(&self) -> String {
        match self {
            Self::String => "string".to_owned(),
            Self::Bool => "bool".to_owned(),
            Self::Int => "int".to_owned(),
            Self::List(item) => format!("List<{}>", item.csharp()),
            Self::StringMap => "Dictionary<string, string>".to_owned(),
            Self::Named(name) => name.clone(),
        }
    }

    /// Whether it is a value type (C#'s `bool`, `int`), that a `?` makes optional.
    pub fn is_value_type(&self) -> bool {
        matches!(self, Self::Bool | Self::Int)
    }

    fn named(&self) -> Option<&str> {
        match self {
            Self::List(item) => item.named(),
            Self::Named(name) => Some(name),
            _ => None,
        }
    }
}

impl Service {
    /// The service, read once from the operations table and the OpenAPI document.
    pub fn get() -> &'static Service {
        static SERVICE: OnceLock<Service> = OnceLock::new();
        SERVICE.get_or_init(|| Service::from_openapi(&crate::openapi::ApiDoc::openapi()))
    }

    /// An operation by name.
    pub fn operation(&self, name: &str) -> Option<&OperationDoc> {
        self.operations.iter().find(|operation| operation.name == name)
    }

    /// A type by name.
    pub fn type_named(&self, name: &str) -> Option<&TypeDoc> {
        self.types.iter().find(|ty| ty.name == name)
    }

    /// The types an operation's request and response use, directly or not, in [`Self::types`]'
    /// order.
    pub fn types_of(&self, operation: &OperationDoc) -> Vec<&TypeDoc> {
        let mut wanted = BTreeSet::new();
        let mut pending: Vec<String> =
            operation.request.iter().filter_map(|f| f.ty.named()).map(str::to_owned).collect();
        pending.push(operation.response.clone());
        while let Some(name) = pending.pop() {
            if !wanted.insert(name.clone()) {
                continue;
            }
            if let Some(TypeDoc { kind: TypeKind::Class(fields), .. }) = self.type_named(&name) {
                pending.extend(fields.iter().filter_map(|f| f.ty.named()).map(str::to_owned));
            }
        }
        self.types.iter().filter(|ty| wanted.contains(&ty.name)).collect()
    }

    fn from_openapi(document: &OpenApiDocument) -> Service {
        let (mut operations, mut roots, mut enums) = (Vec::new(), Vec::new(), Vec::new());
        for entry in OPERATIONS {
            let Some(item) = document.paths.paths.get(entry.route) else { continue };
            let Some(operation) = operation_in(item, entry.method) else { continue };
            let mut request = Vec::new();
            for parameter in operation.parameters.iter().flatten() {
                let location = match parameter.parameter_in {
                    ParameterIn::Path if ROUTE_ONLY_VARIABLES.contains(&parameter.name.as_str()) => continue,
                    ParameterIn::Path => Location::Path,
                    ParameterIn::Query => Location::Query,
                    _ => continue,
                };
                let ty = parameter.schema.as_ref().map_or(TypeRef::String, type_of);
                request.push(Field {
                    name: parameter.name.clone(),
                    ty,
                    description: parameter.description.clone(),
                    required: location == Location::Path,
                    location,
                });
            }
            if let Some(body) = operation.request_body.as_ref()
                && let Some(content) = body.content.get("application/json")
                && let Some(RefOr::Ref(reference)) = content.schema.as_ref()
                && let Some(Schema::Object(object)) = component(document, ref_name(&reference.ref_location))
            {
                for field in fields_of(object, Location::Body) {
                    if let (Some(name), Some(values)) = (field.ty.named(), inline_enum(object, &field.name)) {
                        enums.push(TypeDoc {
                            name: name.to_owned(),
                            description: None,
                            kind: TypeKind::Enum(values),
                        });
                    }
                    if !request.iter().any(|known| known.name == field.name) {
                        request.push(field);
                    }
                }
            }
            let response = response_type(operation).unwrap_or_else(|| "SessionInfo".to_owned());
            roots.extend(request.iter().filter_map(|f| f.ty.named()).map(str::to_owned));
            roots.push(response.clone());
            operations.push(OperationDoc {
                name: entry.name,
                description: sentence(&doc_comment(operation), entry.name),
                method: method_name(entry.method),
                route: entry.route,
                role: entry.role,
                request,
                response,
            });
        }
        let (mut types, mut visiting) = (Vec::new(), BTreeSet::new());
        for root in roots {
            collect(document, &root, &mut types, &mut visiting);
        }
        // Enums only a request body uses (the others came with the types that use them).
        for found in enums {
            if !types.iter().any(|ty| ty.name == found.name) {
                types.insert(0, found);
            }
        }
        Service { operations, types }
    }
}

/// Adds `name` after the types it uses, once (`visiting` guards a type that refers back to
/// itself).
fn collect(
    document: &OpenApiDocument,
    name: &str,
    types: &mut Vec<TypeDoc>,
    visiting: &mut BTreeSet<String>,
) {
    if types.iter().any(|ty| ty.name == name) || !visiting.insert(name.to_owned()) {
        return;
    }
    let Some(Schema::Object(object)) = component(document, name) else { return };
    let fields = fields_of(object, Location::Form);
    for field in &fields {
        let Some(used) = field.ty.named() else { continue };
        match inline_enum(object, &field.name) {
            Some(values) if !types.iter().any(|ty| ty.name == used) => {
                types.push(TypeDoc {
                    name: used.to_owned(),
                    description: None,
                    kind: TypeKind::Enum(values),
                });
            }
            Some(_) => {}
            None => collect(document, used, types, visiting),
        }
    }
    let description = object.description.as_deref().map(|text| sentence(text, name));
    types.push(TypeDoc {
        name: name.to_owned(),
        // A description that only names the type says nothing.
        description: description.filter(|text| *text != format!("`{name}`")),
        kind: TypeKind::Class(fields),
    });
}

/// The values of a property that is a named enum (its schema has a title).
fn inline_enum(object: &utoipa::openapi::schema::Object, property: &str) -> Option<Vec<String>> {
    let Some(RefOr::T(Schema::Object(schema))) = object.properties.get(property) else { return None };
    schema.title.as_ref()?;
    let values = schema.enum_values.as_ref()?;
    Some(values.iter().filter_map(|value| value.as_str().map(str::to_owned)).collect())
}

fn component<'a>(document: &'a OpenApiDocument, name: &str) -> Option<&'a Schema> {
    match document.components.as_ref()?.schemas.get(name)? {
        RefOr::T(schema) => Some(schema),
        RefOr::Ref(_) => None,
    }
}

fn fields_of(object: &utoipa::openapi::schema::Object, location: Location) -> Vec<Field> {
    object
        .properties
        .iter()
        .map(|(name, schema)| Field {
            name: name.clone(),
            ty: type_of(schema),
            description: property_description(schema),
            required: object.required.contains(name),
            location,
        })
        .collect()
}

fn property_description(schema: &RefOr<Schema>) -> Option<String> {
    match schema {
        RefOr::T(Schema::Object(object)) => object.description.clone(),
        RefOr::T(Schema::Array(array)) => array.description.clone(),
        _ => None,
    }
}

fn type_of(schema: &RefOr<Schema>) -> TypeRef {
    match schema {
        RefOr::Ref(reference) => TypeRef::Named(ref_name(&reference.ref_location).to_owned()),
        RefOr::T(Schema::Array(array)) => match &array.items {
            ArrayItems::RefOrSchema(item) => TypeRef::List(Box::new(type_of(item))),
            ArrayItems::False => TypeRef::List(Box::new(TypeRef::String)),
        },
        RefOr::T(Schema::Object(object)) => {
            if let Some(title) = &object.title {
                return TypeRef::Named(title.clone());
            }
            if matches!(object.additional_properties.as_deref(), Some(AdditionalProperties::RefOr(_))) {
                return TypeRef::StringMap;
            }
            let types: Vec<&Type> = match &object.schema_type {
                SchemaType::Type(ty) => vec![ty],
                SchemaType::Array(types) => types.iter().collect(),
                SchemaType::AnyValue => Vec::new(),
            };
            if types.contains(&&Type::Boolean) {
                TypeRef::Bool
            } else if types.contains(&&Type::Integer) || types.contains(&&Type::Number) {
                TypeRef::Int
            } else {
                TypeRef::String
            }
        }
        RefOr::T(_) => TypeRef::String,
    }
}

fn ref_name(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

fn operation_in<'a>(item: &'a PathItem, method: &str) -> Option<&'a OpenApiOperation> {
    match method {
        "get" => item.get.as_ref(),
        "post" => item.post.as_ref(),
        "patch" => item.patch.as_ref(),
        _ => item.delete.as_ref(),
    }
}

fn method_name(method: &str) -> &'static str {
    match method {
        "get" => "GET",
        "post" => "POST",
        "patch" => "PATCH",
        _ => "DELETE",
    }
}

/// The type of the JSON body of a 200 answer.
fn response_type(operation: &OpenApiOperation) -> Option<String> {
    let RefOr::T(ok) = operation.responses.responses.get("200")? else { return None };
    match ok.content.get("application/json")?.schema.as_ref()? {
        RefOr::Ref(reference) => Some(ref_name(&reference.ref_location).to_owned()),
        RefOr::T(_) => None,
    }
}

/// The handler's doc comment, which utoipa splits after its first line.
fn doc_comment(operation: &OpenApiOperation) -> String {
    [operation.summary.as_deref(), operation.description.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A doc comment as one ServiceStack description: `DeleteChatMember: removes the specified
/// member from the chat.` is `Removes the specified member from the chat`; a type's
/// `` `SessionMemberInfo`: a member of a session. `` is `A member of a session`.
fn sentence(text: &str, name: &str) -> String {
    let text = text.split("\n\n").next().unwrap_or(text).replace('\n', " ");
    let text = text.trim();
    let text = [format!("{name}: "), format!("`{name}`: "), format!("`{name}`, ")]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix.as_str()))
        .unwrap_or(text);
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut characters = text.chars();
    characters.next().map_or_else(String::new, |first| first.to_uppercase().chain(characters).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_table_is_described_with_its_request_and_response() {
        let service = Service::get();
        let names: Vec<&str> = service.operations.iter().map(|o| o.name).collect();
        let table: Vec<&str> = OPERATIONS.iter().map(|o| o.name).collect();
        assert_eq!(names, table);
        let delete = service.operation("DeleteChatMember").expect("described");
        assert_eq!(delete.description, "Removes the specified member from the chat");
        assert_eq!(
            (delete.method, delete.route, delete.role),
            ("DELETE", "/sessions/{sessionId}/members/{memberId}", Some("User"))
        );
        let fields: Vec<(&str, Location)> =
            delete.request.iter().map(|f| (f.name.as_str(), f.location)).collect();
        assert_eq!(
            fields,
            [("sessionId", Location::Path), ("memberToRemove", Location::Query), ("reason", Location::Query)]
        );
        assert_eq!(delete.response, "SessionInfo");
        let invite = service.operation("InviteChatMember").expect("described");
        let fields: Vec<(&str, Location)> =
            invite.request.iter().map(|f| (f.name.as_str(), f.location)).collect();
        assert_eq!(
            &fields[..3],
            [("sessionId", Location::Path), ("memberToAdd", Location::Body), ("displayName", Location::Body)]
        );
        assert_eq!(
            service.operation("ListSessions").map(|o| (o.role, o.response.as_str())),
            Some((None, "ListSessionsResponse"))
        );
    }

    #[test]
    fn types_come_after_the_types_they_use_with_their_enums_named() {
        let service = Service::get();
        let position = |name: &str| service.types.iter().position(|ty| ty.name == name).unwrap_or(usize::MAX);
        assert!(position("SessionMemberRoles") < position("SessionMemberInfo"));
        assert!(position("SessionMemberInfo") < position("SessionInfo"));
        assert!(position("SessionInfo") < position("ListSessionsResponse"));
        let Some(TypeDoc { kind: TypeKind::Enum(values), .. }) = service.type_named("SessionCallState")
        else {
            panic!("SessionCallState is an enum")
        };
        assert_eq!(values, &["Disconnected", "Ringing", "Connected", "Hold", "Passive"]);
        let Some(TypeDoc { kind: TypeKind::Class(fields), .. }) = service.type_named("SessionInfo") else {
            panic!("SessionInfo is a class")
        };
        // The Evo Voice API's order, not the alphabet's.
        assert_eq!(fields.first().map(|f| f.name.as_str()), Some("dialState"));
        assert_eq!(
            fields.iter().find(|f| f.name == "members").map(|f| &f.ty),
            Some(&TypeRef::List(Box::new(TypeRef::Named("SessionMemberInfo".into()))))
        );
        assert_eq!(
            fields.iter().find(|f| f.name == "callState").map(|f| &f.ty),
            Some(&TypeRef::Named("SessionCallState".into()))
        );
    }

    #[test]
    fn a_doc_comment_becomes_one_sentence() {
        assert_eq!(
            sentence("DeleteChatMember: removes the specified member from the chat.", "DeleteChatMember"),
            "Removes the specified member from the chat"
        );
        assert_eq!(
            sentence("`SessionMemberInfo`: a member of a session.", "SessionMemberInfo"),
            "A member of a session"
        );
        assert_eq!(sentence("`CustomerBreadcrumb`", "CustomerBreadcrumb"), "`CustomerBreadcrumb`");
    }
}
