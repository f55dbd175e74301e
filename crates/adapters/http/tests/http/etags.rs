//! ETag, If-None-Match and If-Match (docs/api.md, "ETag, If-None-Match, If-Match").

use actix_web::http::header;
use actix_web::test::TestRequest;
use evo_domain::{IfVersion, SessionError};
use evo_ports::ChangeOutcome;
use evo_ports::ServiceError;

use crate::support::*;

fn get() -> TestRequest {
    TestRequest::get().uri("/sessions/s-1").insert_header((header::AUTHORIZATION, BEARER))
}

fn expect_get(mock: &mut evo_ports::MockSessionUseCases) {
    mock.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
}

#[actix_web::test]
async fn every_session_answer_carries_its_etag() {
    let mut mock = crate::support::mock();
    expect_get(&mut mock);
    let reply = send(mock, get()).await;
    assert_eq!(reply.status, 200);
    // The sample session has had two changes.
    assert_eq!(reply.header("etag"), Some("\"v2\""));
    let mut mock = crate::support::mock();
    mock.expect_delete_chat_member().times(1).returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com.csv")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.header("etag"), Some("\"v2\""), "the same tag whatever the format");
}

#[actix_web::test]
async fn a_matching_if_none_match_answers_304_without_a_body() {
    for tag in ["\"v2\"", "W/\"v2\"", "\"v1\", \"v2\"", "*"] {
        let mut mock = crate::support::mock();
        expect_get(&mut mock);
        let reply = send(mock, get().insert_header((header::IF_NONE_MATCH, tag))).await;
        assert_eq!(reply.status, 304, "{tag}");
        assert_eq!(reply.body, "", "{tag}");
        assert_eq!(reply.header("etag"), Some("\"v2\""));
    }
    let mut mock = crate::support::mock();
    expect_get(&mut mock);
    let reply = send(mock, get().insert_header((header::IF_NONE_MATCH, "\"v1\""))).await;
    assert_eq!(reply.status, 200, "a stale tag gets the session");
}

#[actix_web::test]
async fn if_match_reaches_the_use_cases_and_a_mismatch_is_412() {
    let mut mock = crate::support::mock();
    mock.expect_delete_chat_member()
        .withf(|_, input| input.as_ref().is_ok_and(|change| change.if_version == Some(IfVersion(vec![1]))))
        .times(1)
        .returning(|_, _| Err(ServiceError::Session(SessionError::VersionMismatch { current: 2 })));
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::IF_MATCH, "\"v1\"")),
    )
    .await;
    assert_eq!(reply.status, 412, "{}", reply.body);
    assert_eq!(reply.json()["responseStatus"]["errorCode"], "PreconditionFailed");

    let mut mock = crate::support::mock();
    mock.expect_end_session()
        .withf(|_, input| input.as_ref().is_ok_and(|change| change.if_version.is_none()))
        .times(1)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::IF_MATCH, "*")),
    )
    .await;
    assert_eq!(reply.status, 200, "`*` passes for any visible session: {}", reply.body);
}
