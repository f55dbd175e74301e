//! ServiceStack's surface in process: the metadata pages, `/types/*`, and the `jsonl` and JSONP
//! formats (docs/api.md, "Metadata pages", "Add ServiceStack Reference", "Response formats").

use actix_web::test::TestRequest;

use crate::formats::SEED_SAMPLE;
use crate::support::*;

/// The text of an HTML page, entities decoded.
fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[actix_web::test]
async fn the_index_links_every_operation_page_and_every_reference() {
    let reply = send(mock(), TestRequest::get().uri("/metadata")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    for operation in [
        "ListSessions",
        "NewSession",
        "GetActiveSessions",
        "GetMySessions",
        "RemoveChatMemberFromActiveSessions",
        "GetSession",
        "EndSession",
        "PatchSession",
        "InviteChatMember",
        "DeleteChatMember",
    ] {
        assert!(
            reply.body.contains(&format!("<a href=\"/json/metadata?op={operation}\">{operation}</a>")),
            "{operation}"
        );
    }
    for language in ["typescript", "mjs", "csharp", "python", "kotlin", "java", "swift", "dart", "metadata"] {
        assert!(reply.body.contains(&format!("href=\"/types/{language}\"")), "{language}");
    }
}

#[actix_web::test]
async fn the_delete_chat_member_page_carries_the_seed_pages_facts() {
    let reply = send(
        mock(),
        TestRequest::get()
            .uri("/json/metadata?op=DeleteChatMember")
            .insert_header(("Host", "team.evovoice.io")),
    )
    .await;
    assert_eq!(reply.status, 200);
    let text = unescape(&reply.body);
    for fact in [
        "<h1>Evo Voice</h1>",
        "<back to all web services",
        "<h2>DeleteChatMember</h2>",
        "Removes the specified member from the chat",
        "Requires Authentication",
        "Required role:User",
        "The following routes are available for this service:",
        "<td>DELETE</td><td>/sessions/{sessionId}/members/{memberId}</td>",
        "<tr><td>sessionId</td><td>path</td><td>string</td><td>Yes</td>",
        "<tr><td>memberToRemove</td><td>query</td><td>string</td><td>No</td>",
        "SessionDirections Enum:",
        "To override the Content-type in your clients, use the HTTP Accept Header, append the .json suffix or ?format=json",
        "To embed the response in a jsonp callback, append ?callback=myCallback",
        "HTTP + JSON",
        "DELETE /sessions/{sessionId}/members/{memberId} HTTP/1.1 \nHost: team.evovoice.io \nAccept: application/json\n",
    ] {
        assert!(text.contains(fact), "lacks {fact:?}");
    }
    // The sample answer is the Evo Voice API's own sample of SessionInfo.
    let sample = text
        .split("HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: length\n\n")
        .nth(1)
        .expect("a sample answer");
    let sample = sample.split("</pre>").next().unwrap_or_default();
    let sample: serde_json::Value = serde_json::from_str(sample).expect("JSON");
    assert_eq!(sample, serde_json::from_str::<serde_json::Value>(SEED_SAMPLE).unwrap());
}

#[actix_web::test]
async fn a_page_in_a_language_shows_its_dtos_and_a_page_in_csv_its_csv_sample() {
    let reply = send(mock(), TestRequest::get().uri("/jsv/metadata?op=InviteChatMember&lang=python")).await;
    assert_eq!(reply.status, 200);
    let text = unescape(&reply.body);
    assert!(text.contains("class InviteChatMember(IReturn[SessionInfo], IPost):"), "{text}");
    assert!(text.contains("Python InviteChatMember DTOs"));
    assert!(text.contains("append the .jsv suffix or ?format=jsv"));
    assert!(text.contains(
        "Content-Type: application/json\nContent-Length: length\n\n{\n  \"memberToAdd\": \"String\","
    ));
    assert!(!text.contains("jsonp"), "JSONP is JSON's");

    let reply = send(mock(), TestRequest::get().uri("/csv/metadata?op=ListSessions")).await;
    let text = unescape(&reply.body);
    assert!(text.contains("HTTP + CSV"));
    // One row per session, SessionInfo's columns.
    assert!(
        text.contains("Content-Type: text/csv\nContent-Length: length\n\nDialState,CallState,QueueState,"),
        "{text}"
    );

    let reply = send(mock(), TestRequest::get().uri("/jsonl/metadata?op=GetActiveSessions")).await;
    let text = unescape(&reply.body);
    assert!(
        text.contains("Content-Type: application/jsonl\nContent-Length: length\n\n{\"dialState\":\"None\""),
        "{text}"
    );
}

#[actix_web::test]
async fn an_unknown_operation_or_language_is_a_field_error_and_an_unknown_reference_a_404() {
    let reply = send(mock(), TestRequest::get().uri("/json/metadata?op=DropTables")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["responseStatus"]["errors"][0]["fieldName"], "op");
    let reply = send(mock(), TestRequest::get().uri("/json/metadata?op=GetSession&lang=cobol")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["responseStatus"]["errors"][0]["fieldName"], "lang");
    let reply = send(mock(), TestRequest::get().uri("/types/cobol")).await;
    assert_eq!(reply.status, 404);
    let reply = send(mock(), TestRequest::post().uri("/types/typescript")).await;
    assert_eq!((reply.status, reply.header("allow")), (405, Some("GET")));
}

#[actix_web::test]
async fn types_metadata_describes_each_operation_with_its_route_role_and_return_type() {
    let reply =
        send(mock(), TestRequest::get().uri("/types/metadata").insert_header(("Host", "example.com:8080")))
            .await;
    assert_eq!(reply.status, 200);
    let metadata = reply.json();
    assert_eq!(metadata["config"]["baseUrl"], "http://example.com:8080");
    let operations = metadata["operations"].as_array().expect("operations");
    let delete =
        operations.iter().find(|o| o["request"]["name"] == "DeleteChatMember").expect("DeleteChatMember");
    assert_eq!(delete["method"], "DELETE");
    assert_eq!(
        delete["routes"],
        serde_json::json!([{"path": "/sessions/{sessionId}/members/{memberId}", "verbs": "DELETE"}])
    );
    assert_eq!(delete["requiredRoles"], serde_json::json!(["User"]));
    assert_eq!(delete["returnType"]["name"], "SessionInfo");
    assert_eq!(delete["request"]["properties"][1]["name"], "MemberToRemove");
    assert_eq!(delete["request"]["properties"][1]["paramType"], "query");
    let list = operations.iter().find(|o| o["request"]["name"] == "ListSessions").expect("ListSessions");
    assert!(list.get("requiredRoles").is_none(), "ListSessions needs no role");
    let call_state = metadata["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "SessionCallState")
        .expect("the enum");
    assert_eq!(
        call_state["enumNames"],
        serde_json::json!(["Disconnected", "Ringing", "Connected", "Hold", "Passive"])
    );
}

#[actix_web::test]
async fn a_callback_wraps_a_json_answer_as_javascript() {
    let mut mock = mock();
    mock.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
    let reply = send(
        mock,
        TestRequest::get()
            .uri("/sessions/s-1?callback=app.on_session$1")
            .insert_header(("Authorization", BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/javascript"));
    assert_eq!(reply.body, format!("app.on_session$1({SAMPLE_JSON})"));

    // An error is JSON too, and wrapped the same way.
    let reply = send(crate::support::mock(), TestRequest::get().uri("/sessions/s-1?callback=cb")).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.body.starts_with("cb({\"responseStatus\":{\"errorCode\":\"Unauthorized\""),
        "{}",
        reply.body
    );

    // A CSV answer is not JSON: it passes as it is.
    let mut mock_csv = crate::support::mock();
    mock_csv.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
    let reply = send(
        mock_csv,
        TestRequest::get().uri("/sessions/s-1.csv?callback=cb").insert_header(("Authorization", BEARER)),
    )
    .await;
    assert_eq!(reply.header("content-type"), Some("text/csv"));
    assert!(reply.body.starts_with("DialState,"));

    // Nor is a jsonl answer, though its media type begins with the same letters.
    let mut mock_jsonl = crate::support::mock();
    mock_jsonl.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
    let uri = "/sessions/s-1?format=jsonl&callback=cb";
    let reply = send(mock_jsonl, TestRequest::get().uri(uri).insert_header(("Authorization", BEARER))).await;
    assert_eq!(reply.header("content-type"), Some("application/jsonl"));
    assert_eq!(reply.body, format!("{SAMPLE_JSON}\n"));
}

#[actix_web::test]
async fn a_callback_that_is_not_a_name_is_refused_before_anything_runs() {
    // The mock expects nothing: the request never reaches a use case.
    let reply = send(
        mock(),
        TestRequest::get()
            .uri("/sessions/s-1?callback=alert(document.cookie)")
            .insert_header(("Authorization", BEARER)),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json()["responseStatus"]["errors"][0]["fieldName"], "callback");
}

#[actix_web::test]
async fn jsonl_writes_one_object_a_line_and_a_list_answer_one_line_per_item() {
    let mut mock = mock();
    mock.expect_active_sessions().times(1).returning(|_| Ok(vec![sample_session(), sample_session()]));
    let reply = send(
        mock,
        TestRequest::get().uri("/sessions/active?format=jsonl").insert_header(("Authorization", BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/jsonl"));
    let lines: Vec<&str> = reply.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", reply.body);
    for line in lines {
        let session: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(session["id"], "s-1");
    }

    let mut mock = crate::support::mock();
    mock.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
    let reply = send(
        mock,
        TestRequest::get()
            .uri("/sessions/s-1")
            .insert_header(("Authorization", BEARER))
            .insert_header(("Accept", "application/jsonl")),
    )
    .await;
    assert_eq!(reply.header("content-type"), Some("application/jsonl"));
    assert_eq!(reply.body, format!("{SAMPLE_JSON}\n"));
}
