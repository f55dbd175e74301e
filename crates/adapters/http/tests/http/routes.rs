//! Every operation through every route form, and how request fields are read.

use actix_web::http::header;
use actix_web::test::TestRequest;
use evo_domain::{
    AccountId, Channel, CustomerBreadcrumb, Direction, MemberIdentity, MemberRole, NewMember, NewSession,
    RemovalReason, SessionDetails, SessionId,
};
use evo_ports::ChangeOutcome;
use evo_ports::{Change, OpenSession, Parsed, Removal};
use std::collections::BTreeMap;

use crate::support::*;

fn identity(raw: &str) -> MemberIdentity {
    MemberIdentity::parse(raw).unwrap()
}

fn change<C>(session_id: &str, command: C) -> Parsed<Change<C>> {
    Ok(Change {
        session_id: SessionId::parse(session_id).unwrap(),
        command,
        if_version: None,
        idempotency: None,
    })
}

fn expect_delete(mock: &mut evo_ports::MockSessionUseCases, session_id: &str, member: &str) {
    let expected = change(session_id, Removal { identity: identity(member), reason: None });
    mock.expect_delete_chat_member()
        .withf(move |actor, input| actor.user_id == "ann@example.com" && *input == expected)
        .times(1)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
}

#[actix_web::test]
async fn delete_chat_member_answers_the_session_as_json() {
    let mut mock = mock();
    expect_delete(&mut mock, "s-1", "bob@example.com");
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("private, no-cache"), "a session is personal data");
    assert_eq!(reply.body, SAMPLE_JSON);
}

#[actix_web::test]
async fn path_segments_are_percent_decoded() {
    for (path, member) in [
        ("/sessions/s-1/members/%2B15551234567", "+15551234567"),
        ("/sessions/s-1/members/ann%40example.com", "ann@example.com"),
        ("/sessions/s-1/members/%2B1%20(555)%20123-4567", "+1 (555) 123-4567"),
        // In a path, `+` is a plus, not a space.
        ("/sessions/s-1/members/+15551234567", "+15551234567"),
    ] {
        let mut mock = mock();
        expect_delete(&mut mock, "s-1", member);
        let reply =
            send(mock, TestRequest::delete().uri(path).insert_header((header::AUTHORIZATION, BEARER))).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
}

#[actix_web::test]
async fn member_to_remove_in_the_query_overrides_the_path() {
    let mut mock = mock();
    expect_delete(&mut mock, "s-1", "carol@example.com");
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com?memberToRemove=carol%40example.com")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn a_raw_plus_in_the_query_reaches_the_use_case_as_a_plus() {
    // A query string decodes a raw `+` to a space; the edge reads " digits" back as
    // "+digits" (docs/api.md, "Member identities"), so the domain never sees the query's encoding.
    let mut mock = mock();
    expect_delete(&mut mock, "s-1", "+15551234567");
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/api/DeleteChatMember?sessionId=s-1&memberToRemove=+15551234567")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn delete_chat_member_through_the_predefined_routes() {
    for uri in [
        "/api/DeleteChatMember?sessionId=s-1&memberToRemove=%2B15551234567",
        "/json/reply/DeleteChatMember?sessionId=s-1&memberToRemove=%2B15551234567",
        // Field names match case-insensitively, as in ServiceStack.
        "/json/reply/DeleteChatMember?SessionId=s-1&MemberToRemove=%2B15551234567",
    ] {
        let mut mock = mock();
        expect_delete(&mut mock, "s-1", "+15551234567");
        let reply =
            send(mock, TestRequest::delete().uri(uri).insert_header((header::AUTHORIZATION, BEARER))).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
        assert_eq!(reply.body, SAMPLE_JSON);
    }
}

#[actix_web::test]
async fn the_ss_tok_cookie_authenticates() {
    let mut mock = mock();
    expect_delete(&mut mock, "s-1", "bob@example.com");
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com")
            .insert_header((header::COOKIE, format!("other=1; ss-tok={GOOD_TOKEN}"))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn the_authorization_header_wins_over_the_cookie() {
    let mut mock = mock();
    expect_delete(&mut mock, "s-1", "bob@example.com");
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::COOKIE, "ss-tok=stale")),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn invite(
    session_id: &str,
    member: &str,
    display_name: Option<&str>,
    role: Option<MemberRole>,
) -> Parsed<Change<NewMember>> {
    let mut new = NewMember::new(identity(member));
    new.display_name = display_name.map(str::to_owned);
    new.role = role;
    change(session_id, new)
}

fn expect_invite(mock: &mut evo_ports::MockSessionUseCases, expected: Parsed<Change<NewMember>>) {
    mock.expect_invite_chat_member()
        .withf(move |_, input| *input == expected)
        .times(1)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
}

#[actix_web::test]
async fn invite_chat_member_reads_the_json_body_and_the_path() {
    let mut mock = mock();
    expect_invite(&mut mock, invite("s-1", "+15557654321", Some("Dan"), Some(MemberRole::Agent)));
    let reply = send(
        mock,
        TestRequest::post()
            .uri("/sessions/s-1/members")
            .insert_header((header::AUTHORIZATION, BEARER))
            // The path's sessionId overrides the body's.
            .set_json(serde_json::json!({
                "sessionId": "other",
                "memberToAdd": "+15557654321",
                "displayName": "Dan",
                "role": "Agent"
            })),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, SAMPLE_JSON);
}

#[actix_web::test]
async fn invite_chat_member_through_the_predefined_routes() {
    for uri in ["/api/InviteChatMember", "/json/reply/InviteChatMember"] {
        let mut mock = mock();
        expect_invite(&mut mock, invite("s-1", "dan@example.com", None, None));
        let reply = send(
            mock,
            TestRequest::post().uri(uri).insert_header((header::AUTHORIZATION, BEARER)).set_json(
                serde_json::json!({"sessionId": "s-1", "memberToAdd": "dan@example.com", "role": null}),
            ),
        )
        .await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
    }
}

#[actix_web::test]
async fn invite_chat_member_with_fields_in_the_query_string() {
    let mut mock = mock();
    expect_invite(&mut mock, invite("s-1", "dan@example.com", Some("Dan D"), None));
    let reply = send(
        mock,
        TestRequest::post()
            .uri("/api/InviteChatMember?sessionId=s-1&memberToAdd=dan%40example.com&displayName=Dan+D")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn new_session_reads_members_and_breadcrumbs() {
    let mut mock = mock();
    let expected: Parsed<OpenSession> = Ok(OpenSession {
        session: NewSession {
            account_id: AccountId::parse("acme").unwrap(),
            channel: Channel::Chat,
            direction: Direction::Incoming,
            details: SessionDetails {
                display_name: Some("Support".into()),
                customer_breadcrumb: vec![CustomerBreadcrumb {
                    id: Some("c1".into()),
                    name: Some("Acme".into()),
                }],
                from_phone_number: Some("+15551234567".into()),
                ..SessionDetails::default()
            },
            members: vec![
                NewMember {
                    display_name: Some("Caller".into()),
                    application_data: BTreeMap::from([("crm".to_owned(), "42".to_owned())]),
                    ..NewMember::new(identity("+15551234567"))
                },
                NewMember {
                    role: Some(MemberRole::Agent),
                    avatar_url: Some("https://example.com/bob.png".into()),
                    ..NewMember::new(identity("bob@example.com"))
                },
            ],
        },
        idempotency: None,
    });
    mock.expect_new_session()
        .withf(move |_, input| *input == expected)
        .times(1)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
    let reply = send(
        mock,
        TestRequest::post().uri("/sessions").insert_header((header::AUTHORIZATION, BEARER)).set_json(
            serde_json::json!({
                "accountId": "acme",
                "channel": "Chat",
                "displayName": "Support",
                "customerBreadcrumb": [{"id": "c1", "name": "Acme"}],
                "fromPhoneNumber": "+15551234567",
                "members": [
                    {"identity": "+15551234567", "displayName": "Caller", "applicationData": {"crm": "42"}},
                    {"identity": "bob@example.com", "role": "Agent", "avatarUrl": "https://example.com/bob.png"}
                ],
                "unknownField": 1
            }),
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, SAMPLE_JSON);
}

#[actix_web::test]
async fn new_session_through_the_predefined_routes() {
    for uri in ["/api/NewSession", "/json/reply/NewSession"] {
        let mut mock = mock();
        mock.expect_new_session()
            .withf(|_, input| {
                input.as_ref().is_ok_and(|open| {
                    open.session.account_id.as_str() == "acme" && open.session.members.len() == 1
                })
            })
            .times(1)
            .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
        let reply = send(
            mock,
            TestRequest::post().uri(uri).insert_header((header::AUTHORIZATION, BEARER)).set_json(
                serde_json::json!({"accountId": "acme", "members": [{"identity": "+15551234567"}]}),
            ),
        )
        .await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
    }
}

#[actix_web::test]
async fn get_session_through_every_route_form() {
    for uri in ["/sessions/s-1", "/api/GetSession?sessionId=s-1", "/json/reply/GetSession?sessionId=s-1"] {
        let mut mock = mock();
        mock.expect_get_session()
            .withf(|_, id| id.as_ref().is_ok_and(|id| id.as_str() == "s-1"))
            .times(1)
            .returning(|_, _| Ok(sample_session()));
        let reply =
            send(mock, TestRequest::get().uri(uri).insert_header((header::AUTHORIZATION, BEARER))).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
        assert_eq!(reply.body, SAMPLE_JSON);
    }
}

#[actix_web::test]
async fn end_session_through_every_route_form() {
    for uri in ["/sessions/s-1", "/api/EndSession?sessionId=s-1", "/json/reply/EndSession?sessionId=s-1"] {
        let mut mock = mock();
        mock.expect_end_session()
            .withf(|_, input| input.as_ref().is_ok_and(|change| change.session_id.as_str() == "s-1"))
            .times(1)
            .returning(|_, _| {
                let mut data = sample_session().into_data();
                data.ended = true;
                data.call_state = evo_domain::CallState::Disconnected;
                data.date_completed = Some(at(21, 5, 0, 7));
                Ok(ChangeOutcome::Applied(evo_domain::Session::restore(data)))
            });
        let reply =
            send(mock, TestRequest::delete().uri(uri).insert_header((header::AUTHORIZATION, BEARER))).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["ended"], true);
        assert_eq!(body["callState"], "Disconnected");
        assert_eq!(body["dateCompleted"], "2026-11-26T21:05:00.007Z");
    }
}

#[actix_web::test]
async fn a_missing_session_id_reaches_the_use_case_as_a_field_error() {
    // The use case checks the role before field errors, so the edge passes them on.
    let mut mock = mock();
    mock.expect_get_session()
        .withf(|_, id| {
            matches!(id, Err(errors) if errors.len() == 1
                && errors[0].field == "sessionId" && errors[0].code == "NotEmpty")
        })
        .times(1)
        .returning(|_, _| {
            Err(evo_ports::ServiceError::Validation(vec![evo_ports::FieldError {
                field: "sessionId".into(),
                code: "NotEmpty",
                message: "must not be empty".into(),
            }]))
        });
    let reply =
        send(mock, TestRequest::get().uri("/api/GetSession").insert_header((header::AUTHORIZATION, BEARER)))
            .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        serde_json::json!({"responseStatus": {
            "errorCode": "ValidationException",
            "message": "sessionId: must not be empty",
            "errors": [{"errorCode": "NotEmpty", "fieldName": "sessionId", "message": "must not be empty"}]
        }})
    );
}

#[actix_web::test]
async fn a_form_body_is_read_like_a_query_string() {
    let mut mock = mock();
    expect_invite(&mut mock, invite("s-1", "+15557654321", Some("Dan D"), None));
    let reply = send(
        mock,
        TestRequest::post()
            .uri("/sessions/s-1/members")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("memberToAdd=%2B15557654321&displayName=Dan+D"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn arrays_in_a_query_string_are_read_as_json() {
    let mut mock = mock();
    mock.expect_new_session()
        .withf(|_, input| {
            input
                .as_ref()
                .is_ok_and(|open| open.session.members == vec![NewMember::new(identity("+15551234567"))])
        })
        .times(1)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
    let reply = send(
        mock,
        TestRequest::post()
            .uri("/api/NewSession?accountId=acme&members=%5B%7B%22identity%22%3A%22%2B15551234567%22%7D%5D")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn a_query_array_that_is_not_json_is_400() {
    let reply = send(
        mock(),
        TestRequest::post()
            .uri("/api/NewSession?accountId=acme&members=oops")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["responseStatus"]["errors"][0]["fieldName"], "members");
}

#[actix_web::test]
async fn a_removal_reason_comes_from_the_query_on_every_route_form() {
    for uri in [
        "/sessions/s-1/members/bob@example.com?reason=left%20for%20the%20day",
        "/api/DeleteChatMember?sessionId=s-1&memberToRemove=bob@example.com&reason=left+for+the+day",
        "/json/reply/DeleteChatMember?sessionId=s-1&memberToRemove=bob@example.com&reason=left%20for%20the%20day",
    ] {
        let mut mock = mock();
        mock.expect_delete_chat_member()
            .withf(|_, input| {
                input.as_ref().is_ok_and(|change| {
                    change.command.reason.as_ref().map(RemovalReason::as_str) == Some("left for the day")
                })
            })
            .times(1)
            .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
        let reply =
            send(mock, TestRequest::delete().uri(uri).insert_header((header::AUTHORIZATION, BEARER))).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
    }
}
