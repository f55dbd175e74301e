//! Shared fixtures of the HTTP tests: a mock of the use cases, a sample session and helpers
//! to call the app in process.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::HeaderMap;
use actix_web::test;
use chrono::{TimeZone, Utc};
use evo_domain::{
    AccountId, Actor, CallState, Channel, CustomerBreadcrumb, DialState, Direction, HoldReason, LogEntry,
    Member, MemberCallState, MemberIdentity, MemberRole, QueueState, Session, SessionData, SessionDetails,
    SessionId, Timestamp,
};
use evo_http::{HttpOptions, app};
use evo_ports::{AuthError, MockSessionUseCases};

/// The token the mock accepts.
pub const GOOD_TOKEN: &str = "good-token";
/// `Authorization` header value with [`GOOD_TOKEN`].
pub const BEARER: &str = "Bearer good-token";

pub fn actor() -> Actor {
    Actor {
        user_id: "ann@example.com".into(),
        name: "Ann".into(),
        roles: vec!["User".into()],
        account_ids: vec![AccountId::parse("acme").unwrap()],
    }
}

/// A mock that authenticates [`GOOD_TOKEN`] only and expects nothing else.
pub fn mock() -> MockSessionUseCases {
    let mut mock = MockSessionUseCases::new();
    mock.expect_authenticate().returning(|token| {
        if token == GOOD_TOKEN { Ok(actor()) } else { Err(AuthError::InvalidToken("bad signature".into())) }
    });
    mock
}

pub fn at(h: u32, m: u32, s: u32, ms: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, s).unwrap() + chrono::Duration::milliseconds(ms)
}

/// A chat with two members, breadcrumbs, application data, and quotes, commas and newlines
/// in values.
pub fn sample_session() -> Session {
    let caller = Member {
        identity: MemberIdentity::parse("+15551234567").unwrap(),
        endpoint_id: None,
        display_name: Some("Caller, Jr.".into()),
        is_original_member: true,
        avatar_url: None,
        application_data: BTreeMap::from([
            ("crm".to_owned(), "x,y".to_owned()),
            ("note".to_owned(), "say \"hi\"".to_owned()),
        ]),
        call_state: MemberCallState::Connected,
        role: MemberRole::Caller,
        call_sid: None,
        muted: false,
    };
    let agent = Member {
        identity: MemberIdentity::parse("bob@example.com").unwrap(),
        endpoint_id: None,
        display_name: Some("Bob".into()),
        is_original_member: false,
        avatar_url: None,
        application_data: BTreeMap::new(),
        call_state: MemberCallState::Connected,
        role: MemberRole::Agent,
        call_sid: None,
        muted: false,
    };
    Session::restore(SessionData {
        id: SessionId::parse("s-1").unwrap(),
        account_id: AccountId::parse("acme").unwrap(),
        channel: Channel::Chat,
        direction: Direction::Incoming,
        dial_state: DialState::None,
        call_state: CallState::Connected,
        queue_state: QueueState::None,
        hold_reason: HoldReason::None,
        ended: false,
        was_missed: false,
        date_completed: None,
        details: SessionDetails {
            customer_breadcrumb: vec![
                CustomerBreadcrumb { id: Some("c1".into()), name: Some("Acme, Inc.".into()) },
                CustomerBreadcrumb { id: Some("c2".into()), name: None },
            ],
            customer_name: Some("Ann \"The Boss\" Smith".into()),
            display_name: Some("Line1\nLine2".into()),
            ..SessionDetails::default()
        },
        members: vec![caller, agent],
        log: vec![
            LogEntry { date: at(21, 1, 49, 123), message: "Ann started the session".into() },
            LogEntry { date: at(21, 2, 0, 0), message: "Ann added Bob to the chat".into() },
        ],
        date_created: at(21, 1, 49, 123),
        created_by: "ann@example.com".into(),
        date_last_modified: at(21, 2, 0, 0),
        last_modified_by: "ann@example.com".into(),
        version: 2,
    })
}

/// The sample session as JSON, byte for byte (key order included).
pub const SAMPLE_JSON: &str = r##"{"dialState":"None","callState":"Connected","queueState":"None","accountId":"acme","customerBreadcrumb":[{"id":"c1","name":"Acme, Inc."},{"id":"c2"}],"customerName":"Ann \"The Boss\" Smith","channel":"Chat","ended":false,"holdReason":"None","displayName":"Line1\nLine2","log":[{"date":"2026-11-26T21:01:49.123Z","message":"Ann started the session"},{"date":"2026-11-26T21:02:00.000Z","message":"Ann added Bob to the chat"}],"members":[{"identity":"+15551234567","displayName":"Caller, Jr.","isOriginalMember":true,"applicationData":{"crm":"x,y","note":"say \"hi\""},"callState":"Connected","role":"Caller","muted":false},{"identity":"bob@example.com","displayName":"Bob","isOriginalMember":false,"applicationData":{},"callState":"Connected","role":"Agent","muted":false}],"direction":"Incoming","wasMissed":false,"id":"s-1","dateCreated":"2026-11-26T21:01:49.123Z","dateLastModified":"2026-11-26T21:02:00.000Z","createdBy":"ann@example.com","lastModifiedBy":"ann@example.com"}"##;

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to a fresh app around `mock`.
pub async fn send(mock: MockSessionUseCases, request: test::TestRequest) -> Reply {
    send_with(mock, HttpOptions::default(), request).await
}

/// Sends one request to a fresh app around `mock` with `options`.
pub async fn send_with(mock: MockSessionUseCases, options: HttpOptions, request: test::TestRequest) -> Reply {
    let service = test::init_service(app(Arc::new(mock), options)).await;
    let response: ServiceResponse<_> = test::call_service(&service, request.to_request()).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = test::read_body(response).await;
    Reply { status, headers, body: String::from_utf8(body.to_vec()).expect("UTF-8 body") }
}

/// The exact error body of docs/api.md, "Errors", without field errors.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"responseStatus": {"errorCode": code, "message": message, "errors": []}})
}
