//! The edges of docs/api.md, "Bounds" and "Cookies and cross-site requests": bounded
//! metrics, the change rate, cookie-borne changes from other origins, media types, a body
//! that never arrives, a query that contradicts the path, and the codes of the new refusals.

use evo_ports::ChangeOutcome;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::test::TestRequest;
use evo_domain::SessionError;
use evo_http::HttpOptions;
use evo_ports::{MockSessionUseCases, RepositoryError, ServiceError};

use crate::support::*;

fn expect_deletes(mock: &mut MockSessionUseCases, times: usize) {
    mock.expect_delete_chat_member()
        .times(times)
        .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
}

fn delete_bob() -> TestRequest {
    TestRequest::delete().uri("/sessions/s-1/members/bob@example.com")
}

#[actix_web::test]
async fn metrics_stay_bounded_whatever_the_methods() {
    let service =
        actix_web::test::init_service(evo_http::app(Arc::new(mock()), HttpOptions::default())).await;
    // Extension methods of any spelling reach the app; each must not become a series.
    for n in 0..50 {
        let method = actix_web::http::Method::from_bytes(format!("PROBE{n}X").as_bytes()).unwrap();
        let request = TestRequest::default().method(method).uri("/sessions/s-1").to_request();
        let response = actix_web::test::call_service(&service, request).await;
        assert_eq!(response.status(), 405);
    }
    let response =
        actix_web::test::call_service(&service, TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(actix_web::test::read_body(response).await.to_vec()).unwrap();
    assert!(!text.contains("PROBE"), "a client-chosen method became a label:\n{text}");
    assert!(
        text.lines().any(|line| line.starts_with("http_requests_total{")
            && line.contains(r#"method="other""#)
            && line.contains(r#"status="405""#)),
        "{text}"
    );
}

#[actix_web::test]
async fn changes_beyond_the_callers_rate_answer_429_with_retry_after() {
    let mut mock = mock();
    // A rate of 1 a second allows a burst of 2.
    expect_deletes(&mut mock, 2);
    mock.expect_get_session().times(3).returning(|_, _| Ok(sample_session()));
    let options = HttpOptions { rate_limit_per_sec: 1, ..HttpOptions::default() };
    let service = actix_web::test::init_service(evo_http::app(Arc::new(mock), options)).await;
    let call = |request: TestRequest| {
        let service = &service;
        async move {
            let response = actix_web::test::call_service(
                service,
                request.insert_header((header::AUTHORIZATION, BEARER)).to_request(),
            )
            .await;
            let retry_after =
                response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            let body = String::from_utf8(actix_web::test::read_body(response).await.to_vec()).unwrap();
            (status, retry_after, body)
        }
    };
    assert_eq!(call(delete_bob()).await.0, 200);
    assert_eq!(call(delete_bob()).await.0, 200);
    let (status, retry_after, body) = call(delete_bob()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body.contains(r#""errorCode":"TooManyRequests""#), "{body}");
    // Reads are not counted.
    for _ in 0..3 {
        assert_eq!(call(TestRequest::get().uri("/sessions/s-1")).await.0, 200);
    }
    // Unauthenticated requests are refused before they count (401 comes first).
    let anonymous = actix_web::test::call_service(&service, delete_bob().to_request()).await;
    assert_eq!(anonymous.status(), 401);
}

fn cookie_options() -> HttpOptions {
    HttpOptions { cors_allowed_origins: vec!["https://console.example.com".into()], ..HttpOptions::default() }
}

#[actix_web::test]
async fn a_cookie_borne_change_from_another_origin_is_403() {
    let cookie = format!("ss-tok={GOOD_TOKEN}");
    // No change reaches the use cases: the mock expects none.
    for origin in ["https://evil.example.net", "null"] {
        let reply = send_with(
            mock(),
            cookie_options(),
            delete_bob()
                .insert_header((header::COOKIE, cookie.clone()))
                .insert_header((header::ORIGIN, origin)),
        )
        .await;
        assert_eq!(reply.status, 403, "{origin}: {}", reply.body);
        assert_eq!(reply.json()["responseStatus"]["errorCode"], "Forbidden");
    }
    // `*` opens CORS for reads but never trusts an origin for cookie-borne changes.
    let options = HttpOptions { cors_allowed_origins: vec!["*".into()], ..HttpOptions::default() };
    let reply = send_with(
        mock(),
        options,
        delete_bob()
            .insert_header((header::COOKIE, cookie.clone()))
            .insert_header((header::ORIGIN, "https://evil.example.net")),
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
}

#[actix_web::test]
async fn a_cookie_borne_change_from_a_trusted_origin_or_none_passes() {
    let cookie = format!("ss-tok={GOOD_TOKEN}");
    for origin in [Some("https://console.example.com"), None] {
        let mut mock = mock();
        expect_deletes(&mut mock, 1);
        let mut request = delete_bob().insert_header((header::COOKIE, cookie.clone()));
        if let Some(origin) = origin {
            request = request.insert_header((header::ORIGIN, origin));
        }
        let reply = send_with(mock, cookie_options(), request).await;
        assert_eq!(reply.status, 200, "{origin:?}: {}", reply.body);
    }
    // A bearer header is never sent by a browser on its own: any origin may use it.
    let mut mock = mock();
    expect_deletes(&mut mock, 1);
    let request = delete_bob()
        .insert_header((header::AUTHORIZATION, BEARER))
        .insert_header((header::ORIGIN, "https://elsewhere.example.org"));
    assert_eq!(send_with(mock, cookie_options(), request).await.status, 200);
}

#[actix_web::test]
async fn a_body_needs_a_json_or_form_content_type() {
    for content_type in [None, Some("text/plain"), Some("multipart/form-data; boundary=x")] {
        let mut request = TestRequest::post()
            .uri("/sessions/s-1/members")
            .insert_header((header::AUTHORIZATION, BEARER))
            .set_payload(r#"{"memberToAdd":"dave@example.com"}"#);
        if let Some(content_type) = content_type {
            request = request.insert_header((header::CONTENT_TYPE, content_type));
        }
        let reply = send(mock(), request).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.body);
        assert_eq!(reply.json()["responseStatus"]["errorCode"], "UnsupportedMediaType");
    }
    for content_type in ["application/json; charset=utf-8", "application/vnd.evo+json"] {
        let mut mock = mock();
        mock.expect_invite_chat_member()
            .times(1)
            .returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
        let request = TestRequest::post()
            .uri("/sessions/s-1/members")
            .insert_header((header::AUTHORIZATION, BEARER))
            .insert_header((header::CONTENT_TYPE, content_type))
            .set_payload(r#"{"memberToAdd":"dave@example.com"}"#);
        assert_eq!(send(mock, request).await.status, 200, "{content_type}");
    }
}

#[actix_web::test]
async fn a_query_session_id_that_contradicts_the_path_is_400() {
    let reply = send(
        mock(),
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com?sessionId=s-2")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let status = &reply.json()["responseStatus"];
    assert_eq!(status["errorCode"], "ValidationException");
    assert_eq!(status["errors"][0]["fieldName"], "sessionId");
    // The same ID again is no contradiction.
    let mut mock = mock();
    expect_deletes(&mut mock, 1);
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/bob@example.com?sessionId=s-1")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn the_new_refusals_have_their_codes() {
    let cases = [
        (ServiceError::Session(SessionError::SessionFull { limit: 100 }), 409, "SessionFull", None),
        (
            ServiceError::Session(SessionError::SessionLimitReached { limit: 1000 }),
            409,
            "SessionLimitReached",
            None,
        ),
        (
            ServiceError::Repository(RepositoryError::OutcomeUnknown("backend 4711 vanished".into())),
            503,
            "OutcomeUnknown",
            Some("5"),
        ),
        (ServiceError::Keyed(evo_ports::KeyedRefusal::Reused), 422, "IdempotencyKeyReused", None),
        (ServiceError::Keyed(evo_ports::KeyedRefusal::InProgress), 409, "IdempotencyKeyInFlight", None),
    ];
    for (error, status, code, retry_after) in cases {
        let mut mock = mock();
        mock.expect_delete_chat_member().times(1).return_once(move |_, _| Err(error));
        let reply = send(mock, delete_bob().insert_header((header::AUTHORIZATION, BEARER))).await;
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        assert_eq!(reply.json()["responseStatus"]["errorCode"], code);
        assert_eq!(reply.header("retry-after"), retry_after, "{code}");
        assert!(!reply.body.contains("4711"), "no internal detail: {}", reply.body);
    }
}

#[actix_web::test]
async fn a_body_that_does_not_arrive_in_time_is_408() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let options =
        HttpOptions { workers: 1, body_read_timeout: Duration::from_millis(500), ..HttpOptions::default() };
    let server = evo_http::server(listener, Arc::new(mock()), None, options).unwrap();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let (response, took) = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        // The head promises 100 bytes; only 10 ever come.
        write!(
            stream,
            "POST /sessions/s-1/members HTTP/1.1\r\nHost: localhost\r\nAuthorization: {BEARER}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"member\""
        )
        .unwrap();
        let mut response = vec![0; 4096];
        let read = stream.read(&mut response).unwrap_or(0);
        (String::from_utf8_lossy(&response[..read]).into_owned(), started.elapsed())
    })
    .await
    .unwrap();
    handle.stop(false).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains(r#""errorCode":"RequestTimeout""#), "{response}");
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(5), "{took:?}");
}

#[actix_web::test]
async fn a_replayed_answer_is_sent_as_stored() {
    let mut mock = mock();
    mock.expect_delete_chat_member()
        .withf(|_, input| {
            input
                .as_ref()
                .is_ok_and(|change| change.idempotency.as_ref().is_some_and(|keyed| keyed.key == "k-7"))
        })
        .times(1)
        .returning(|_, _| {
            Ok(ChangeOutcome::Replayed(evo_ports::KeptAnswer {
                status: 404,
                content_type: "application/json".into(),
                body: br#"{"stored":true}"#.to_vec(),
            }))
        });
    let reply = send(
        mock,
        delete_bob().insert_header((header::AUTHORIZATION, BEARER)).insert_header(("Idempotency-Key", "k-7")),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, r#"{"stored":true}"#, "byte for byte");
    assert_eq!(reply.header("idempotent-replayed"), Some("true"));
    assert_eq!(reply.header("cache-control"), Some("private, no-cache"), "a replayed session too");
}
