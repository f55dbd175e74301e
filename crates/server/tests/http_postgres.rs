//! The HTTP API end to end over the real PostgreSQL store and JWT verification, in process:
//! the full lifecycle in JSON and CSV, tenancy, and 32 concurrent removals of one session.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evo_app::{EventStreamService, SessionService, SystemClock, UuidSessionIds};
use evo_jwt::{JwtConfig, JwtVerifier, MintRequest, Secret, mint_hs256};
use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;
use serde_json::{Value, json};

const SECRET: &[u8] = b"http-postgres-tests-secret-0123456789";

struct Api {
    base: String,
    handle: actix_web::dev::ServerHandle,
    _database: TestDatabase,
}

async fn start() -> Api {
    let database = TestDatabase::create().await;
    let repository = PgSessionRepository::connect(database.config()).await.unwrap();
    let verifier = JwtVerifier::new(JwtConfig::hs256(Secret::new(SECRET.to_vec()))).unwrap();
    let streams = Arc::new(EventStreamService::new(repository.clone()));
    let use_cases = Arc::new(SessionService::new(repository, verifier, SystemClock, UuidSessionIds));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = evo_http::HttpOptions { workers: 2, ..Default::default() };
    let server = evo_http::server(listener, use_cases, Some(streams), options).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    Api { base, handle, _database: database }
}

fn token(sub: &str, name: &str, accounts: &[&str]) -> String {
    let mut request = MintRequest::new(sub, Duration::from_secs(600));
    request.name = Some(name.into());
    request.roles = vec!["User".into()];
    request.account_ids = accounts.iter().map(|a| a.to_string()).collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    format!("Bearer {}", mint_hs256(&Secret::new(SECRET.to_vec()), &request, now).unwrap())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn json_of(response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.into_body().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}")))
}

/// Blocking HTTP calls run off the runtime that drives the server.
async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(call).await.unwrap()
}

async fn create(api: &Api, auth: &str, members: Value) -> Value {
    let (url, auth) = (format!("{}/sessions", api.base), auth.to_owned());
    let body = json!({"accountId": "acme", "displayName": "Support, \"urgent\"", "members": members});
    let (status, session) =
        blocking(move || json_of(agent().post(&url).header("Authorization", &auth).send_json(body).unwrap()))
            .await;
    assert_eq!(status, 200, "{session}");
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_lifecycle_in_json_and_csv() {
    let api = start().await;
    let ann = token("ann@example.com", "Ann", &["acme"]);
    let session = create(
        &api,
        &ann,
        json!([{"identity": "+1 555 010 4477", "displayName": "Maria"}, {"identity": "bob@example.com"}]),
    )
    .await;
    let id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(session["members"][0]["role"], json!("Caller"));
    assert_eq!(session["members"][1]["role"], json!("Agent"));

    let (base, auth, sid) = (api.base.clone(), ann.clone(), id.clone());
    let (status, invited) = blocking(move || {
        json_of(
            agent()
                .post(&format!("{base}/sessions/{sid}/members"))
                .header("Authorization", &auth)
                .send_json(json!({"memberToAdd": "+44 20 7946 0958", "displayName": "Sam"}))
                .unwrap(),
        )
    })
    .await;
    assert_eq!(status, 200, "{invited}");
    assert_eq!(invited["members"].as_array().unwrap().len(), 3);

    // Removal through the ServiceStack pre-defined route, identity from the query string.
    let (base, auth, sid) = (api.base.clone(), ann.clone(), id.clone());
    let (status, removed) = blocking(move || {
        json_of(
            agent()
                .delete(&format!(
                    "{base}/json/reply/DeleteChatMember?sessionId={sid}&memberToRemove=%2B442079460958"
                ))
                .header("Authorization", &auth)
                .call()
                .unwrap(),
        )
    })
    .await;
    assert_eq!(status, 200, "{removed}");
    let identities: Vec<_> =
        removed["members"].as_array().unwrap().iter().map(|m| m["identity"].clone()).collect();
    assert_eq!(identities, [json!("+15550104477"), json!("bob@example.com")]);
    assert_eq!(
        removed["log"].as_array().unwrap().last().unwrap()["message"],
        json!("Ann removed Sam from the chat")
    );
    assert_eq!(removed["lastModifiedBy"], json!("ann@example.com"));

    // The same session as CSV: a header row and one data row, CRLF, quoted nested values.
    let (base, auth, sid) = (api.base.clone(), ann.clone(), id.clone());
    let (status, content_type, csv) = blocking(move || {
        let response =
            agent().get(&format!("{base}/sessions/{sid}.csv")).header("Authorization", &auth).call().unwrap();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        (response.status().as_u16(), content_type, response.into_body().read_to_string().unwrap())
    })
    .await;
    assert_eq!((status, content_type.as_str()), (200, "text/csv"));
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("DialState,CallState,QueueState,AccountId,"), "{}", lines[0]);
    assert!(lines[0].ends_with(",LastModifiedBy"), "{}", lines[0]);
    assert!(lines[1].starts_with("None,Connected,None,acme,"), "{}", lines[1]);
    assert!(lines[1].contains("\"Support, \"\"urgent\"\"\""), "commas and quotes are escaped: {}", lines[1]);

    // End it; afterwards changes are refused with 409 SessionEnded.
    let (base, auth, sid) = (api.base.clone(), ann.clone(), id.clone());
    let (status, ended) = blocking(move || {
        json_of(
            agent().delete(&format!("{base}/sessions/{sid}")).header("Authorization", &auth).call().unwrap(),
        )
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(ended["ended"], json!(true));
    assert!(ended["dateCompleted"].as_str().unwrap().ends_with('Z'));
    let (base, auth, sid) = (api.base.clone(), ann.clone(), id.clone());
    let (status, refused) = blocking(move || {
        json_of(
            agent()
                .delete(&format!("{base}/sessions/{sid}/members/bob%40example.com"))
                .header("Authorization", &auth)
                .call()
                .unwrap(),
        )
    })
    .await;
    assert_eq!(status, 409);
    assert_eq!(refused["responseStatus"]["errorCode"], json!("SessionEnded"));
    api.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_session_is_not_found() {
    let api = start().await;
    let ann = token("ann@example.com", "Ann", &["acme"]);
    let session =
        create(&api, &ann, json!([{"identity": "+15550104477"}, {"identity": "bob@example.com"}])).await;
    let id = session["id"].as_str().unwrap().to_owned();
    let stranger = token("eve@globex.example", "Eve", &["globex"]);
    for (method, path) in
        [("GET", format!("/sessions/{id}")), ("DELETE", format!("/sessions/{id}/members/bob%40example.com"))]
    {
        let (url, auth) = (format!("{}{path}", api.base), stranger.clone());
        let (status, body) = blocking(move || {
            let agent = agent();
            let request = if method == "GET" { agent.get(&url) } else { agent.delete(&url) };
            json_of(request.header("Authorization", &auth).call().unwrap())
        })
        .await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["responseStatus"]["errorCode"], json!("NotFound"));
    }
    // Nothing changed for the owner.
    let (url, auth) = (format!("{}/sessions/{id}", api.base), ann.clone());
    let (_, unchanged) =
        blocking(move || json_of(agent().get(&url).header("Authorization", &auth).call().unwrap())).await;
    assert_eq!(unchanged["members"].as_array().unwrap().len(), 2);
    api.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_removals_all_succeed_and_are_all_logged() {
    let api = start().await;
    let ann = token("ann@example.com", "Ann", &["acme"]);
    let mut members = vec![json!({"identity": "+15550104477"})];
    members.extend((0..32).map(|i| json!({"identity": format!("agent{i}@example.com")})));
    let session = create(&api, &ann, Value::Array(members)).await;
    let id = session["id"].as_str().unwrap().to_owned();

    let removals: Vec<_> = (0..32)
        .map(|i| {
            let (url, auth) =
                (format!("{}/sessions/{id}/members/agent{i}%40example.com", api.base), ann.clone());
            std::thread::spawn(move || {
                agent().delete(&url).header("Authorization", &auth).call().unwrap().status()
            })
        })
        .collect();
    let statuses =
        blocking(move || removals.into_iter().map(|t| t.join().unwrap().as_u16()).collect::<Vec<_>>()).await;
    assert_eq!(statuses, vec![200; 32]);

    let (url, auth) = (format!("{}/sessions/{id}", api.base), ann.clone());
    let (_, after) =
        blocking(move || json_of(agent().get(&url).header("Authorization", &auth).call().unwrap())).await;
    assert_eq!(after["members"].as_array().unwrap().len(), 1, "only the original member is left");
    let removal_entries = after["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["message"].as_str().unwrap().starts_with("Ann removed agent"))
        .count();
    assert_eq!(removal_entries, 32);
    api.handle.stop(true).await;
}
