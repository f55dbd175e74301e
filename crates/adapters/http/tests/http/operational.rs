//! Health probes, metrics, the OpenAPI document, request IDs, CORS and the real server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::test::TestRequest;
use evo_http::HttpOptions;
use evo_ports::{MockSessionUseCases, RepositoryError, ServiceError};
use serde_json::json;

use crate::support::*;

#[actix_web::test]
async fn liveness_is_always_200() {
    let reply = send(MockSessionUseCases::new(), TestRequest::get().uri("/health/live")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "live"}));
}

#[actix_web::test]
async fn readiness_follows_the_use_cases() {
    let mut ready = MockSessionUseCases::new();
    ready.expect_readiness().times(1).returning(|| Ok(()));
    let reply = send(ready, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ready"}));

    for error in [
        ServiceError::Repository(RepositoryError::Unavailable("connection refused".into())),
        ServiceError::Repository(RepositoryError::Internal("boom".into())),
    ] {
        let mut not_ready = MockSessionUseCases::new();
        not_ready.expect_readiness().times(1).returning(move || Err(error.clone()));
        let reply = send(not_ready, TestRequest::get().uri("/health/ready")).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("retry-after"), Some("5"));
        assert_eq!(
            reply.json(),
            error_body("ServiceUnavailable", "The service is temporarily unavailable; retry later")
        );
    }
}

/// Probes as fast as they come ask the store at most once a second.
#[actix_web::test]
async fn readiness_asks_the_store_at_most_once_a_second() {
    let mut ready = MockSessionUseCases::new();
    ready.expect_readiness().times(2).returning(|| Ok(()));
    let service =
        actix_web::test::init_service(evo_http::app(std::sync::Arc::new(ready), HttpOptions::default()))
            .await;
    let probe = || TestRequest::get().uri("/health/ready").to_request();
    for _ in 0..50 {
        assert_eq!(actix_web::test::call_service(&service, probe()).await.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..50 {
        assert_eq!(actix_web::test::call_service(&service, probe()).await.status(), 200);
    }
}

#[actix_web::test]
async fn the_request_id_is_echoed_when_sane() {
    let reply = send(
        MockSessionUseCases::new(),
        TestRequest::get().uri("/health/live").insert_header(("X-Request-Id", "client-id-42")),
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("client-id-42"));
}

#[actix_web::test]
async fn the_request_id_is_generated_when_absent_or_insane() {
    let mut seen = std::collections::HashSet::new();
    for request in [
        TestRequest::get().uri("/health/live"),
        TestRequest::get().uri("/health/live").insert_header(("X-Request-Id", "bad id with spaces")),
        // Errors carry it too, including those of unknown routes.
        TestRequest::get().uri("/no/such/route"),
    ] {
        let reply = send(MockSessionUseCases::new(), request).await;
        let id = reply.header("x-request-id").expect("a request ID").to_owned();
        // A per-process random prefix and a counter: 16 hex digits, '-', 12 hex digits.
        let (prefix, counter) = id.split_once('-').unwrap_or_else(|| panic!("{id}"));
        assert_eq!((prefix.len(), counter.len()), (16, 12), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "{id}");
        assert!(seen.insert(id.clone()), "request IDs repeat: {id}");
    }
}

#[actix_web::test]
async fn the_request_id_is_on_error_responses() {
    let reply =
        send(mock(), TestRequest::get().uri("/sessions/s-1").insert_header(("X-Request-Id", "abc-123")))
            .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("x-request-id"), Some("abc-123"));
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let mut mock = mock();
    mock.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
    let service = actix_web::test::init_service(evo_http::app(Arc::new(mock), HttpOptions::default())).await;
    let request = TestRequest::get()
        .uri("/sessions/metrics-probe-session")
        .insert_header((header::AUTHORIZATION, BEARER))
        .to_request();
    let response = actix_web::test::call_service(&service, request).await;
    assert_eq!(response.status(), 200);
    // A method the route does not serve is still counted under the route; a path no route
    // matches, under `unmatched`.
    let wrong_method = TestRequest::put().uri("/sessions/metrics-probe-session").to_request();
    assert_eq!(actix_web::test::call_service(&service, wrong_method).await.status(), 405);
    let nowhere = TestRequest::get().uri("/metrics-probe/nowhere").to_request();
    assert_eq!(actix_web::test::call_service(&service, nowhere).await.status(), 404);
    let response =
        actix_web::test::call_service(&service, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(actix_web::test::read_body(response).await.to_vec()).unwrap();
    let count_line = text
        .lines()
        .find(|line| {
            line.starts_with("http_requests_total{")
                && line.contains(r#"route="/sessions/{sessionId}""#)
                && line.contains(r#"method="GET""#)
                && line.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no count for the route:\n{text}"));
    let count: f64 = count_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{count_line}");
    for (method, route, status) in [("PUT", "/sessions/{sessionId}", "405"), ("GET", "unmatched", "404")] {
        assert!(
            text.lines().any(|line| line.starts_with("http_requests_total{")
                && line.contains(&format!(r#"route="{route}""#))
                && line.contains(&format!(r#"method="{method}""#))
                && line.contains(&format!(r#"status="{status}""#))),
            "no count for {method} {route} {status}:\n{text}"
        );
    }
    assert!(text.contains("http_request_duration_seconds_bucket{"), "{text}");
    assert!(!text.contains("metrics-probe-session"), "raw paths are never labels");
}

#[actix_web::test]
async fn openapi_lists_every_route() {
    let reply = send(MockSessionUseCases::new(), TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let document = reply.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{}", document["openapi"]);
    let paths = document["paths"].as_object().unwrap();
    let mut expected = vec![
        ("/sessions", "post"),
        ("/sessions", "get"),
        ("/sessions/active", "get"),
        ("/sessions/my", "get"),
        ("/sessions/active/members/{memberId}", "delete"),
        ("/sessions/{sessionId}", "get"),
        ("/sessions/{sessionId}", "delete"),
        ("/sessions/{sessionId}", "patch"),
        ("/sessions/{sessionId}/members", "post"),
        ("/sessions/{sessionId}/members/{memberId}", "delete"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/metadata", "get"),
        ("/{format}/metadata", "get"),
        ("/types/{language}", "get"),
    ];
    let predefined = ["/api", "/json/reply", "/csv/reply", "/jsv/reply"].into_iter().flat_map(|prefix| {
        [
            ("NewSession", "post"),
            ("GetSession", "get"),
            ("EndSession", "delete"),
            ("InviteChatMember", "post"),
            ("DeleteChatMember", "delete"),
            ("PatchSession", "patch"),
            ("ListSessions", "get"),
            ("GetActiveSessions", "get"),
            ("GetMySessions", "get"),
            ("RemoveChatMemberFromActiveSessions", "delete"),
        ]
        .map(|(operation, method)| (format!("{prefix}/{operation}"), method))
    });
    let predefined: Vec<(String, &str)> = predefined.collect();
    expected.extend(predefined.iter().map(|(path, method)| (path.as_str(), *method)));
    for (path, method) in &expected {
        assert!(paths.get(*path).and_then(|item| item.get(*method)).is_some(), "{method} {path} missing");
    }
    assert_eq!(paths.len(), 14 + predefined.len(), "{:?}", paths.keys().collect::<Vec<_>>());

    let delete = &paths["/sessions/{sessionId}/members/{memberId}"]["delete"];
    assert_eq!(delete["operationId"], "DeleteChatMember");
    for status in [
        "200", "400", "401", "403", "404", "405", "408", "409", "412", "413", "415", "422", "429", "500",
        "503",
    ] {
        assert!(delete["responses"].get(status).is_some(), "DeleteChatMember lacks {status}");
    }
    let ok_headers = &delete["responses"]["200"]["headers"];
    assert!(ok_headers["ETag"].is_object() && ok_headers["Idempotent-Replayed"].is_object(), "{ok_headers}");
    assert!(ok_headers["Cache-Control"].is_object(), "{ok_headers}");
    let identity_pattern =
        delete["parameters"][1]["schema"]["pattern"].as_str().expect("memberId has a pattern");
    assert!(
        identity_pattern.contains('@') && identity_pattern.contains("[1-9][0-9]{6,14}"),
        "{identity_pattern}"
    );
    let parameters: Vec<&str> =
        delete["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        parameters,
        ["sessionId", "memberId", "memberToRemove", "reason", "If-Match", "Idempotency-Key"]
    );
    let api_delete = &paths["/api/DeleteChatMember"]["delete"];
    let api_parameters: Vec<(&str, &str)> = api_delete["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
        .collect();
    assert_eq!(
        api_parameters,
        [
            ("sessionId", "query"),
            ("memberToRemove", "query"),
            ("reason", "query"),
            ("If-Match", "header"),
            ("Idempotency-Key", "header")
        ]
    );

    let components = &document["components"];
    assert_eq!(components["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(components["securitySchemes"]["ss-tok"]["in"], "cookie");
    assert!(components["schemas"]["SessionInfo"]["properties"]["members"].is_object());
    assert_eq!(
        components["schemas"]["SessionInfo"]["properties"]["dialState"]["enum"],
        json!(["None", "Active"])
    );
    assert!(components["schemas"]["ErrorResponse"].is_object());
    assert_eq!(
        components["responses"]["ServiceUnavailable"]["headers"]["Retry-After"]["schema"]["type"],
        "integer"
    );
}

#[actix_web::test]
async fn cors_answers_preflights_of_allowed_origins() {
    let options = HttpOptions {
        cors_allowed_origins: vec!["https://app.example.com".into()],
        ..HttpOptions::default()
    };
    let preflight = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/sessions/s-1")
        .insert_header((header::ORIGIN, "https://app.example.com"))
        .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "DELETE"));
    let reply = send_with(MockSessionUseCases::new(), options.clone(), preflight).await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(reply.header("access-control-allow-methods"), Some("GET, POST, PATCH, DELETE, OPTIONS"));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));

    let simple =
        TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://app.example.com"));
    let reply = send_with(MockSessionUseCases::new(), options.clone(), simple).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(reply.header("vary"), Some("Origin"));

    let other =
        TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://evil.example.com"));
    let reply = send_with(MockSessionUseCases::new(), options, other).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

/// `*` lets any origin read, answered `*` and never with credentials: no site can use a
/// visitor's `ss-tok` cookie; an origin listed beside it keeps its credentials.
#[actix_web::test]
async fn a_star_origin_never_answers_with_credentials() {
    let options = HttpOptions {
        cors_allowed_origins: vec!["*".into(), "https://app.example.com".into()],
        ..HttpOptions::default()
    };
    for preflight in [false, true] {
        let mut request =
            TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://any.example.net"));
        if preflight {
            request = request
                .method(actix_web::http::Method::OPTIONS)
                .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "GET"));
        }
        let reply = send_with(MockSessionUseCases::new(), options.clone(), request).await;
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "preflight {preflight}");
        assert_eq!(reply.header("access-control-allow-credentials"), None, "preflight {preflight}");
        assert_eq!(reply.header("vary"), Some("Origin"), "preflight {preflight}");
    }
    let listed =
        TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://app.example.com"));
    let reply = send_with(MockSessionUseCases::new(), options, listed).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
}

#[actix_web::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let request =
        TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://app.example.com"));
    let reply = send(MockSessionUseCases::new(), request).await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

#[actix_web::test]
async fn the_server_serves_on_a_bound_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let options = HttpOptions { workers: 1, ..HttpOptions::default() };
    let server = evo_http::server(listener, Arc::new(MockSessionUseCases::new()), None, options).unwrap();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let response = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    handle.stop(true).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id: "), "{response}");
    assert!(response.ends_with(r#"{"status":"live"}"#), "{response}");
}
