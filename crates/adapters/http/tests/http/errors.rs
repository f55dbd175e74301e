//! Every status and error code of docs/api.md, "Errors", with exact bodies and headers.

use evo_ports::ChangeOutcome;
use std::time::Duration;

use actix_web::http::header;
use actix_web::test::TestRequest;
use evo_domain::{AccessError, Channel, SessionError};
use evo_http::HttpOptions;
use evo_ports::{FieldError, MockSessionUseCases, RepositoryError, ServiceError};
use serde_json::json;

use crate::support::*;

fn delete_request() -> TestRequest {
    TestRequest::delete()
        .uri("/sessions/s-1/members/bob@example.com")
        .insert_header((header::AUTHORIZATION, BEARER))
}

fn failing_delete(error: ServiceError) -> MockSessionUseCases {
    let mut mock = mock();
    mock.expect_delete_chat_member().times(1).returning(move |_, _| Err(error.clone()));
    mock
}

#[actix_web::test]
async fn no_token_is_401_unauthorized_with_www_authenticate() {
    let reply = send(mock(), TestRequest::delete().uri("/sessions/s-1/members/bob@example.com")).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        reply.json(),
        error_body("Unauthorized", "Authentication required: send a bearer token or the ss-tok cookie")
    );
}

#[actix_web::test]
async fn a_non_bearer_authorization_is_no_token() {
    let reply = send(
        mock(),
        TestRequest::get().uri("/sessions/s-1").insert_header((header::AUTHORIZATION, "Basic YTpi")),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["responseStatus"]["errorCode"], "Unauthorized");
}

#[actix_web::test]
async fn an_unusable_token_is_401_token_exception() {
    let reply = send(
        mock(),
        TestRequest::get().uri("/sessions/s-1").insert_header((header::AUTHORIZATION, "Bearer forged")),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_eq!(reply.json(), error_body("TokenException", "Invalid token: bad signature"));
    assert!(!reply.body.contains("forged"), "the token is never echoed");
}

#[actix_web::test]
async fn an_unusable_cookie_token_is_401_token_exception() {
    let reply = send(
        mock(),
        TestRequest::get().uri("/sessions/s-1").insert_header((header::COOKIE, "ss-tok=forged")),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["responseStatus"]["errorCode"], "TokenException");
}

#[actix_web::test]
async fn authentication_comes_before_reading_the_body() {
    let reply = send(
        mock(),
        TestRequest::post()
            .uri("/sessions")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{not json"),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["responseStatus"]["errorCode"], "Unauthorized");
}

#[actix_web::test]
async fn a_missing_role_is_403_forbidden() {
    let mock = failing_delete(ServiceError::Session(AccessError::MissingRole { role: "User" }.into()));
    let reply = send(mock, delete_request()).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json(), error_body("Forbidden", "the User role is required"));
}

#[actix_web::test]
async fn every_session_error_has_its_status_code_and_message() {
    let cases = [
        (SessionError::NotFound, 404, "NotFound", "session not found"),
        (
            SessionError::NotAChatSession { channel: Channel::Voice },
            400,
            "NotAChatSession",
            "this is a Voice session, not a chat",
        ),
        (SessionError::SessionEnded, 409, "SessionEnded", "the session has ended"),
        (
            SessionError::MemberNotFound { identity: "bob@example.com".into() },
            404,
            "MemberNotFound",
            "the session has no member bob@example.com",
        ),
        (
            SessionError::CannotRemoveOriginalMember { identity: "+15551234567".into() },
            409,
            "CannotRemoveOriginalMember",
            "+15551234567 started this session and cannot be removed; end the session instead",
        ),
        (
            SessionError::MemberAlreadyExists { identity: "bob@example.com".into() },
            409,
            "MemberAlreadyExists",
            "bob@example.com is already a member of this session",
        ),
        (
            AccessError::AccountNotAllowed { account: evo_domain::AccountId::parse("globex").unwrap() }
                .into(),
            403,
            "Forbidden",
            "you may not create sessions in account globex",
        ),
    ];
    for (error, status, code, message) in cases {
        let reply = send(failing_delete(ServiceError::Session(error)), delete_request()).await;
        assert_eq!(reply.status, status, "{code}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), error_body(code, message), "{code}");
    }
}

#[actix_web::test]
async fn validation_is_400_with_each_field() {
    let mock = failing_delete(ServiceError::Validation(vec![FieldError {
        field: "memberToRemove".into(),
        code: "InvalidIdentity",
        message: "a phone number must start with + or 00 and its country code".into(),
    }]));
    let reply = send(mock, delete_request()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"responseStatus": {
            "errorCode": "ValidationException",
            "message": "memberToRemove: a phone number must start with + or 00 and its country code",
            "errors": [{
                "errorCode": "InvalidIdentity",
                "fieldName": "memberToRemove",
                "message": "a phone number must start with + or 00 and its country code"
            }]
        }})
    );
}

fn post_sessions(body: &'static str) -> TestRequest {
    TestRequest::post()
        .uri("/sessions")
        .insert_header((header::AUTHORIZATION, BEARER))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body)
}

#[actix_web::test]
async fn malformed_json_is_400_validation() {
    let reply = send(mock(), post_sessions(r#"{"accountId": "acme""#)).await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["responseStatus"]["errorCode"], "ValidationException");
    assert_eq!(body["responseStatus"]["errors"][0]["errorCode"], "InvalidJson");
    assert_eq!(body["responseStatus"]["errors"][0]["fieldName"], "body");
    assert_eq!(
        body["responseStatus"]["errors"][0]["message"],
        "malformed JSON: EOF while parsing an object at line 1 column 20"
    );
}

#[actix_web::test]
async fn a_body_that_is_not_an_object_is_400_validation() {
    let reply = send(mock(), post_sessions("[1, 2]")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"responseStatus": {
            "errorCode": "ValidationException",
            "message": "body: the body must be a JSON object",
            "errors": [{"errorCode": "InvalidValue", "fieldName": "body", "message": "the body must be a JSON object"}]
        }})
    );
}

#[actix_web::test]
async fn wrong_json_types_are_400_naming_each_field() {
    let reply = send(
        mock(),
        post_sessions(
            r#"{"accountId": 5, "customerBreadcrumb": {}, "members": [{"identity": 7, "applicationData": {"a": 1}}, "x"]}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"responseStatus": {
            "errorCode": "ValidationException",
            "message": "accountId: must be a string (and 4 more invalid fields)",
            "errors": [
                {"errorCode": "InvalidValue", "fieldName": "accountId", "message": "must be a string"},
                {"errorCode": "InvalidValue", "fieldName": "customerBreadcrumb", "message": "must be an array"},
                {"errorCode": "InvalidValue", "fieldName": "members[0].identity", "message": "must be a string"},
                {"errorCode": "InvalidValue", "fieldName": "members[0].applicationData.a", "message": "must be a string"},
                {"errorCode": "InvalidValue", "fieldName": "members[1]", "message": "must be an object"}
            ]
        }})
    );
}

#[actix_web::test]
async fn a_body_over_64_kib_is_413() {
    let body = format!(r#"{{"accountId":"acme","consoleData":"{}"}}"#, "x".repeat(64 * 1024));
    let reply = send(
        mock(),
        TestRequest::post()
            .uri("/sessions")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json(), error_body("RequestTooLarge", "The request body is larger than 65536 bytes"));
}

#[actix_web::test]
async fn a_body_of_exactly_64_kib_is_read() {
    let prefix = r#"{"accountId":"acme","consoleData":""#;
    let padding = 64 * 1024 - prefix.len() - 2;
    let body = format!("{prefix}{}\"}}", "x".repeat(padding));
    assert_eq!(body.len(), 64 * 1024);
    let mut mock = mock();
    // Read to its end: the edge saw all of consoleData (too long for a session, which the use
    // case is told).
    mock.expect_new_session()
        .withf(move |_, input| {
            matches!(input, Err(errors) if errors[0].field == "consoleData"
                && errors[0].message.ends_with(&format!("not {padding}")))
        })
        .times(1)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
    let reply = send(
        mock,
        TestRequest::post()
            .uri("/sessions")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn an_unknown_route_is_404_json() {
    for uri in ["/nope", "/api/DeleteEverything", "/sessions/s-1/members/a/b"] {
        let reply = send(mock(), TestRequest::get().uri(uri)).await;
        assert_eq!(reply.status, 404, "{uri}");
        assert_eq!(reply.json(), error_body("NotFound", "No route matches this path"));
    }
}

#[actix_web::test]
async fn a_wrong_method_is_405_json_with_allow() {
    let cases = [
        (TestRequest::put().uri("/sessions"), "GET, POST"),
        (TestRequest::put().uri("/sessions/s-1"), "GET, DELETE, PATCH"),
        (TestRequest::post().uri("/sessions/active"), "GET"),
        (TestRequest::delete().uri("/sessions/my"), "GET"),
        (TestRequest::get().uri("/sessions/active/members/bob@example.com"), "DELETE"),
        (TestRequest::get().uri("/api/PatchSession"), "PATCH"),
        (TestRequest::post().uri("/json/reply/ListSessions"), "GET"),
        (TestRequest::get().uri("/sessions/s-1/members"), "POST"),
        (TestRequest::post().uri("/sessions/s-1/members/bob@example.com"), "DELETE"),
        (TestRequest::get().uri("/api/DeleteChatMember"), "DELETE"),
        (TestRequest::delete().uri("/json/reply/GetSession"), "GET"),
        (TestRequest::post().uri("/health/live"), "GET"),
        // HEAD is not routed (docs/api.md).
        (
            TestRequest::default().method(actix_web::http::Method::HEAD).uri("/sessions/s-1"),
            "GET, DELETE, PATCH",
        ),
    ];
    for (request, allowed) in cases {
        let reply = send(mock(), request).await;
        assert_eq!(reply.status, 405, "{allowed}");
        assert_eq!(reply.header("allow"), Some(allowed));
        assert_eq!(
            reply.json(),
            error_body("MethodNotAllowed", &format!("This route allows only {allowed}"))
        );
    }
}

#[actix_web::test]
async fn an_unavailable_store_is_503_with_retry_after() {
    let reply = send(
        failing_delete(ServiceError::Repository(RepositoryError::Unavailable("pool timed out".into()))),
        delete_request(),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert_eq!(
        reply.json(),
        error_body("ServiceUnavailable", "The service is temporarily unavailable; retry later")
    );

    let options = HttpOptions { retry_after: Duration::from_secs(12), ..HttpOptions::default() };
    let reply = send_with(
        failing_delete(ServiceError::Repository(RepositoryError::Unavailable("pool timed out".into()))),
        options,
        delete_request(),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("12"));
}

#[actix_web::test]
async fn anything_else_is_500_with_a_generic_message() {
    let reply = send(
        failing_delete(ServiceError::Repository(RepositoryError::Internal(
            "relation \"members\" does not exist".into(),
        ))),
        delete_request(),
    )
    .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json(), error_body("InternalServerError", "An internal error occurred"));
    assert!(!reply.body.contains("relation"), "no internal detail leaks");
}

#[actix_web::test]
async fn errors_are_json_whatever_the_format_asked() {
    for uri in
        ["/sessions/s-1/members/bob@example.com.csv", "/sessions/s-1/members/bob@example.com?format=jsv"]
    {
        let reply = send(
            failing_delete(ServiceError::Session(SessionError::SessionEnded)),
            TestRequest::delete()
                .uri(uri)
                .insert_header((header::AUTHORIZATION, BEARER))
                .insert_header((header::ACCEPT, "text/csv")),
        )
        .await;
        assert_eq!(reply.status, 409, "{uri}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), error_body("SessionEnded", "the session has ended"));
    }
}
