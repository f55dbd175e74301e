//! Every operation of the service, once (docs/api.md, "Routes"): its name, method and route,
//! and the handler that serves it. The routes (with ServiceStack's pre-defined `/api/{name}`
//! and `/json/reply/{name}`), their 405 answers and the OpenAPI document's pre-defined routes
//! are all made from this table.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::web;
use evo_domain::USER_ROLE;

use crate::{handlers, queries};

/// An operation: what the Evo Voice API calls it, how it is reached, who serves it.
#[derive(Clone, Copy)]
pub(crate) struct Operation {
    /// The ServiceStack operation name (`DeleteChatMember`).
    pub(crate) name: &'static str,
    /// The HTTP method, as the OpenAPI document spells it (`get`, `post`, `patch`, `delete`).
    pub(crate) method: &'static str,
    /// The operation's own route.
    pub(crate) route: &'static str,
    /// The role the caller needs beyond authentication, as the use case checks it (the
    /// metadata pages say it; a test holds the two together).
    pub(crate) role: Option<&'static str>,
    /// The actix route: the method's guard and the handler.
    pub(crate) handler: fn() -> actix_web::Route,
}

/// The route variables that are not a property of their request DTO: `{memberId}` is the
/// route's name for `memberToRemove` (the Evo Voice API's DTO has no `memberId`), so the
/// pre-defined routes and the typed clients send `memberToRemove`.
pub(crate) const ROUTE_ONLY_VARIABLES: &[&str] = &["memberId"];

/// The operations, in the order their routes are registered: a route with a literal segment
/// before the `{sessionId}` one that would take it (no session has the ID `active` or `my`: the
/// service makes UUIDs).
pub(crate) const OPERATIONS: &[Operation] = &[
    Operation {
        name: "ListSessions",
        method: "get",
        route: "/sessions",
        role: None,
        handler: || web::get().to(queries::list_sessions_handler),
    },
    Operation {
        name: "NewSession",
        method: "post",
        route: "/sessions",
        role: Some(USER_ROLE),
        handler: || web::post().to(handlers::new_session),
    },
    Operation {
        name: "GetActiveSessions",
        method: "get",
        route: "/sessions/active",
        role: Some(USER_ROLE),
        handler: || web::get().to(queries::get_active_sessions),
    },
    Operation {
        name: "GetMySessions",
        method: "get",
        route: "/sessions/my",
        role: Some(USER_ROLE),
        handler: || web::get().to(queries::get_my_sessions),
    },
    Operation {
        name: "RemoveChatMemberFromActiveSessions",
        method: "delete",
        route: "/sessions/active/members/{memberId}",
        role: Some(USER_ROLE),
        handler: || web::delete().to(queries::remove_chat_member_from_active_sessions),
    },
    Operation {
        name: "GetSession",
        method: "get",
        route: "/sessions/{sessionId}",
        role: Some(USER_ROLE),
        handler: || web::get().to(handlers::get_session),
    },
    Operation {
        name: "EndSession",
        method: "delete",
        route: "/sessions/{sessionId}",
        role: Some(USER_ROLE),
        handler: || web::delete().to(handlers::end_session),
    },
    Operation {
        name: "PatchSession",
        method: "patch",
        route: "/sessions/{sessionId}",
        role: None,
        handler: || web::patch().to(handlers::patch_session),
    },
    Operation {
        name: "InviteChatMember",
        method: "post",
        route: "/sessions/{sessionId}/members",
        role: Some(USER_ROLE),
        handler: || web::post().to(handlers::invite_chat_member),
    },
    Operation {
        name: "DeleteChatMember",
        method: "delete",
        route: "/sessions/{sessionId}/members/{memberId}",
        role: Some(USER_ROLE),
        handler: || web::delete().to(handlers::delete_chat_member),
    },
];

/// The operations' routes in registration order, each with its operations.
pub(crate) fn by_route() -> Vec<(&'static str, Vec<Operation>)> {
    let mut routes: Vec<(&'static str, Vec<Operation>)> = Vec::new();
    for operation in OPERATIONS {
        match routes.iter_mut().find(|(route, _)| *route == operation.route) {
            Some((_, operations)) => operations.push(*operation),
            None => routes.push((operation.route, vec![*operation])),
        }
    }
    routes
}

/// What a route's 405 answer says it allows (`GET, DELETE, PATCH`), in the table's order.
pub(crate) fn allowed_methods(route: &str) -> &'static str {
    static ALLOWED: OnceLock<BTreeMap<&'static str, String>> = OnceLock::new();
    let allowed = ALLOWED.get_or_init(|| {
        by_route()
            .into_iter()
            .map(|(route, operations)| {
                let methods: Vec<String> = operations.iter().map(|o| o.method.to_uppercase()).collect();
                (route, methods.join(", "))
            })
            .collect()
    });
    allowed.get(route).map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_each_route_allows_its_methods() {
        let mut names: Vec<&str> = OPERATIONS.iter().map(|o| o.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPERATIONS.len(), "an operation name twice");
        assert_eq!(allowed_methods("/sessions"), "GET, POST");
        assert_eq!(allowed_methods("/sessions/{sessionId}"), "GET, DELETE, PATCH");
        assert_eq!(allowed_methods("/sessions/active"), "GET");
    }
}
