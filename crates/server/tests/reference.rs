//! The ServiceStack surface through the binary (docs/api.md, "Metadata pages" and "Add
//! ServiceStack Reference"): what `/types/metadata` says of each operation's role is what the
//! service does, and every reference is served with the options header its tools read back.
//! ServiceStack's own clients drive the references in scripts/clients.sh.

mod support;

use serde_json::{Value, json};
use support::{Server, Workdir, agent, call, create, mint};

#[test]
fn the_role_each_operation_is_documented_to_need_is_the_role_it_needs() {
    let dir = Workdir::new("reference-roles");
    let database_url = format!("sqlite://{}/roles.db", dir.0.display());
    let server = Server::start(&dir.0, &database_url, &[]);
    let user = mint(&dir.0, &database_url, "ann@example.com", &["User"], &["acme"]);
    // Authenticated, in the account, but without the User role.
    let guest = mint(&dir.0, &database_url, "gus@example.com", &["Guest"], &["acme"]);

    let metadata: Value = agent()
        .get(&format!("{}/types/metadata", server.base))
        .call()
        .expect("/types/metadata answers")
        .into_body()
        .read_json()
        .expect("JSON");
    let operations = metadata["operations"].as_array().expect("operations");
    assert_eq!(operations.len(), 10, "every operation is described");
    for operation in operations {
        let name = operation["request"]["name"].as_str().expect("a name");
        let method = operation["method"].as_str().expect("a method");
        let needs_user =
            operation["requiredRoles"].as_array().is_some_and(|roles| roles.contains(&json!("User")));
        let session = create(&server.base, &user, 1);
        // The pre-defined route with the fields the operation reads; a body for POST and PATCH.
        let (query, body) = match name {
            "NewSession" => {
                (String::new(), Some(json!({"accountId": "acme", "members": [{"identity": "+15550001111"}]})))
            }
            "InviteChatMember" => {
                (String::new(), Some(json!({"sessionId": session, "memberToAdd": "bob@example.com"})))
            }
            "PatchSession" => (String::new(), Some(json!({"sessionId": session, "callState": "Hold"}))),
            "DeleteChatMember" => (format!("?sessionId={session}&memberToRemove=agent0%40example.com"), None),
            "RemoveChatMemberFromActiveSessions" => ("?memberToRemove=agent0%40example.com".to_owned(), None),
            "GetSession" | "EndSession" => (format!("?sessionId={session}"), None),
            _ => (String::new(), None),
        };
        let (status, _, answer) =
            call(&server.base, &guest, method, &format!("/api/{name}{query}"), &[], body);
        if needs_user {
            assert_eq!(status, 403, "{name} without the User role: {answer}");
            assert_eq!(answer["responseStatus"]["errorCode"], "Forbidden", "{name}");
        } else {
            assert_eq!(status, 200, "{name} needs no role: {answer}");
        }
    }
}

#[test]
fn every_reference_carries_the_options_header_with_the_address_it_was_fetched_from() {
    let dir = Workdir::new("reference-headers");
    let database_url = format!("sqlite://{}/headers.db", dir.0.display());
    let server = Server::start(&dir.0, &database_url, &[]);
    for language in ["typescript", "mjs", "js", "csharp", "python", "kotlin", "java", "swift", "dart"] {
        let response = agent().get(&format!("{}/types/{language}", server.base)).call().expect(language);
        assert_eq!(response.status().as_u16(), 200, "{language}");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(content_type, "text/plain; charset=utf-8", "{language}");
        let source = response.into_body().read_to_string().expect("text");
        assert!(source.contains(" Options:\nDate: "), "{language}");
        assert!(source.contains(&format!("\nBaseUrl: {}\n", server.base)), "{language}");
        assert!(source.contains("DeleteChatMember"), "{language}");
    }
    let missing = agent().get(&format!("{}/types/cobol", server.base)).call().expect("an answer");
    assert_eq!(missing.status().as_u16(), 404);
}
