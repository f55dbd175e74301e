//! Each operation's fields, parsed at the edge into the use case's typed command: every invalid
//! field named as on the wire, handed to the use case (which checks the role first; here it
//! answers them as an authorized caller's use case does).

use actix_web::http::header::{self, HeaderValue};
use actix_web::test::TestRequest;
use evo_ports::ChangeOutcome;
use evo_ports::{MockSessionUseCases, ServiceError};
use serde_json::json;

use crate::support::*;

/// Use cases that answer what the edge parsed: the session, or the field errors (400).
fn answering_what_was_parsed() -> MockSessionUseCases {
    let mut mock = mock();
    mock.expect_delete_chat_member().returning(|_, parsed| {
        parsed.map(|_| ChangeOutcome::Applied(sample_session())).map_err(ServiceError::Validation)
    });
    mock.expect_invite_chat_member().returning(|_, parsed| {
        parsed.map(|_| ChangeOutcome::Applied(sample_session())).map_err(ServiceError::Validation)
    });
    mock.expect_new_session().returning(|_, parsed| {
        parsed.map(|_| ChangeOutcome::Applied(sample_session())).map_err(ServiceError::Validation)
    });
    mock
}

/// The `(fieldName, errorCode)` pairs of a 400 answer.
async fn field_errors(request: TestRequest) -> Vec<(String, String)> {
    let reply =
        send(answering_what_was_parsed(), request.insert_header((header::AUTHORIZATION, BEARER))).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["responseStatus"]["errorCode"], "ValidationException");
    body["responseStatus"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["fieldName"].as_str().unwrap().to_owned(), e["errorCode"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(field, code)| ((*field).to_owned(), (*code).to_owned())).collect()
}

#[actix_web::test]
async fn delete_chat_member_names_each_invalid_field() {
    let long_id = "x".repeat(10_000);
    let long_reason = "x".repeat(501);
    let cases = [
        ("/sessions/s-1/members/bob".to_owned(), pairs(&[("memberToRemove", "InvalidIdentity")])),
        (
            "/api/DeleteChatMember".to_owned(),
            pairs(&[("sessionId", "NotEmpty"), ("memberToRemove", "NotEmpty")]),
        ),
        (
            format!("/api/DeleteChatMember?sessionId={long_id}&memberToRemove=bob@example.com"),
            pairs(&[("sessionId", "InvalidId")]),
        ),
        (
            format!("/sessions/s-1/members/bob?reason={long_reason}"),
            pairs(&[("memberToRemove", "InvalidIdentity"), ("reason", "Length")]),
        ),
        (
            "/sessions/s-1/members/bob@example.com?reason=a%00b".to_owned(),
            pairs(&[("reason", "InvalidValue")]),
        ),
    ];
    for (uri, expected) in cases {
        assert_eq!(field_errors(TestRequest::delete().uri(&uri)).await, expected, "{uri}");
    }
}

#[actix_web::test]
async fn inviting_with_a_bad_role_names_the_field() {
    let request = TestRequest::post()
        .uri("/sessions/s-1/members")
        .set_json(json!({"memberToAdd": "dave@example.com", "role": "agent"}));
    assert_eq!(field_errors(request).await, pairs(&[("role", "InvalidValue")]));
}

#[actix_web::test]
async fn new_session_validates_every_field() {
    let request = TestRequest::post().uri("/sessions").set_json(json!({
        "channel": "Sms",
        "consoleData": "a\u{0}b",
        "members": [
            {"identity": "bob@example.com"},
            {"identity": "BOB@example.com"},
            {"identity": "12", "role": "Boss"}
        ]
    }));
    assert_eq!(
        field_errors(request).await,
        pairs(&[
            ("accountId", "NotEmpty"),
            ("channel", "InvalidValue"),
            ("consoleData", "InvalidValue"),
            ("members[1].identity", "Duplicate"),
            ("members[2].identity", "InvalidIdentity"),
            ("members[2].role", "InvalidValue"),
        ])
    );
}

#[actix_web::test]
async fn new_session_needs_an_original_member() {
    let request = TestRequest::post().uri("/sessions").set_json(json!({"accountId": "acme", "members": []}));
    assert_eq!(field_errors(request).await, pairs(&[("members", "NotEmpty")]));
}

#[actix_web::test]
async fn a_malformed_idempotency_key_is_a_field_error() {
    let long = "k".repeat(256);
    let keys = [
        HeaderValue::from_static(""),
        HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        HeaderValue::from_str(&long).unwrap(),
    ];
    for key in keys {
        let request = TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com")
            .insert_header(("Idempotency-Key", key.clone()));
        assert_eq!(field_errors(request).await, pairs(&[("Idempotency-Key", "InvalidValue")]), "{key:?}");
    }
}
