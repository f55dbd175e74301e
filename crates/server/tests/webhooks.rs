//! Webhooks end to end (docs/api.md, "Webhooks"): the built binary POSTs every change's event,
//! signed as Standard Webhooks says, in order per session, retried until a 2xx; an instance
//! killed during delivery loses no event; dead letters go back to delivery with
//! `evo-sessions webhooks redeliver`.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use support::receiver::{Received, Receiver};
use support::{Server, Workdir, call, create, mint};

/// `whsec_` and the base64 of 32 bytes.
const WEBHOOK_SECRET: &str = "whsec_ZXZvLXNlc3Npb25zLXdlYmhvb2stdGVzdC1rZXktMDEyMzQ1Njc=";

fn webhook_env(receiver: &Receiver, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("EVO_WEBHOOK_URL", receiver.url.clone()),
        ("EVO_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("EVO_RATE_LIMIT_PER_SEC", "0".to_owned()),
    ];
    env.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
    env
}

/// The standard verifier accepts the request as it came.
fn assert_signed(request: &Received) {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let value = request.header(name).unwrap_or_else(|| panic!("no {name} header"));
        headers.insert(name, value.parse().unwrap());
    }
    let verifier = standardwebhooks::Webhook::new(WEBHOOK_SECRET).expect("the secret");
    verifier
        .verify(&request.body, &headers)
        .unwrap_or_else(|e| panic!("the signature does not verify: {e:?}"));
}

/// The events answered 2xx, by `webhook-id`, in the order delivered.
fn delivered(received: &[Received]) -> Vec<&Received> {
    received.iter().filter(|r| (200..300).contains(&r.answered)).collect()
}

fn distinct_delivered(received: &[Received]) -> BTreeSet<String> {
    delivered(received).iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect()
}

#[test]
fn every_change_reaches_the_webhook_signed_in_order_and_is_retried_until_delivered() {
    let dir = Workdir::new("webhooks-order");
    let db = format!("sqlite://{}/evo.db", dir.0.display());
    // The first two attempts fail: the first event is retried (1 s, then 2 s later).
    let receiver = Receiver::start(|n, _| (if n < 2 { 500 } else { 200 }, Duration::ZERO));
    let server = Server::start(&dir.0, &db, &webhook_env(&receiver, &[]));
    let token = mint(&dir.0, &db, "ann@example.com", &["User"], &["acme"]);
    let id = create(&server.base, &token, 2);
    let removal = format!("/sessions/{id}/members/agent0@example.com?reason=left%20for%20the%20day");
    let (status, _, _) = call(&server.base, &token, "DELETE", &removal, &[], None);
    assert_eq!(status, 200);
    let invite = json!({"memberToAdd": "kim@example.com"});
    let (status, _, _) =
        call(&server.base, &token, "POST", &format!("/sessions/{id}/members"), &[], Some(invite));
    assert_eq!(status, 200);
    let (status, _, _) = call(&server.base, &token, "DELETE", &format!("/sessions/{id}"), &[], None);
    assert_eq!(status, 200);

    let received = receiver.wait_until(Duration::from_secs(30), |r| distinct_delivered(r).len() >= 4);
    for request in &received {
        assert_signed(request);
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    let delivered = delivered(&received);
    let bodies: Vec<serde_json::Value> = delivered.iter().map(|r| r.json()).collect();
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["SessionCreated", "ChatMemberRemoved", "ChatMemberAdded", "SessionEnded"],
        "in change order"
    );
    let ids: Vec<u64> = bodies.iter().map(|b| b["id"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "numbers rise: {ids:?}");
    for (request, body) in delivered.iter().zip(&bodies) {
        assert_eq!(
            request.header("webhook-id"),
            Some(format!("evt_{}", body["id"].as_str().unwrap()).as_str())
        );
        assert_eq!(body["sessionId"], id.as_str());
        assert_eq!(body["accountId"], "acme");
        assert_eq!(body["actor"], json!({"userId": "ann@example.com", "name": "ann"}));
        assert_eq!(body["session"]["id"], id.as_str(), "the session after the change");
    }
    let removed = &bodies[1];
    assert_eq!(removed["member"]["identity"], "agent0@example.com");
    assert_eq!(
        (removed["reason"].as_str(), removed["leave"].as_bool()),
        (Some("left for the day"), Some(false))
    );
    assert!(
        !removed["session"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["identity"] == "agent0@example.com")
    );
    assert_eq!(bodies[2]["member"]["identity"], "kim@example.com");
    assert!(bodies[2].get("reason").is_none() && bodies[2].get("leave").is_none(), "only removals say why");
    assert_eq!(bodies[3]["session"]["ended"], true);
    // The first event failed twice and was then delivered, under the same webhook-id.
    let first_id = delivered[0].header("webhook-id").unwrap();
    let attempts: Vec<u16> =
        received.iter().filter(|r| r.header("webhook-id") == Some(first_id)).map(|r| r.answered).collect();
    assert_eq!(attempts, [500, 500, 200], "retried until delivered, then not again");

    // /metrics counts what happened.
    let metrics = support::agent().get(&format!("{}/metrics", server.base)).call().unwrap();
    let metrics = metrics.into_body().read_to_string().unwrap();
    assert!(metrics.contains(r#"evo_webhook_deliveries_total{outcome="delivered"} 4"#), "{metrics}");
    assert!(metrics.contains(r#"evo_webhook_deliveries_total{outcome="retried"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"evo_webhook_delivery_latency_seconds_bucket{le="#), "a histogram: {metrics}");
    assert!(
        metrics.contains("evo_webhook_pending") && metrics.contains("evo_webhook_dead_letters"),
        "{metrics}"
    );
}

#[test]
fn an_instance_killed_during_delivery_loses_no_event() {
    let dir = Workdir::new("webhooks-kill");
    killed_during_delivery(&dir, &format!("sqlite://{}/evo.db", dir.0.display()), Takeover::Restart);
}

#[test]
fn an_instance_killed_during_delivery_loses_no_event_on_postgresql() {
    let database = support::test_database();
    let dir = Workdir::new("webhooks-kill-pg");
    killed_during_delivery(&dir, &database.config().url, Takeover::Restart);
}

/// Two instances on one PostgreSQL: the one killed held claims, and the survivor delivers
/// them, without a restart of the dead one.
#[test]
fn the_survivor_delivers_the_events_a_killed_instance_had_claimed() {
    let database = support::test_database();
    let dir = Workdir::new("webhooks-kill-survivor");
    killed_during_delivery(&dir, &database.config().url, Takeover::Survivor);
}

/// Who delivers what the killed instance had claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takeover {
    /// The same instance, restarted on the same store and port.
    Restart,
    /// A second instance, started before the kill.
    Survivor,
}

/// How long after the death every event must have arrived (docs/api.md, "Webhooks"): the
/// dead instance's claims end within one lease (10 s by default) of its last renewal.
const TAKEOVER_WITHIN: Duration = Duration::from_secs(15);

/// Sixteen changes, the instance SIGKILLed while their events are being delivered: every
/// event reaches the receiver at least once, in order per session, within 15 s of the death.
fn killed_during_delivery(dir: &Workdir, db: &str, takeover: Takeover) {
    let db = db.to_owned();
    // A slow receiver: the kill lands while deliveries are in flight.
    let receiver = Receiver::start(|_, _| (200, Duration::from_millis(200)));
    // The default lease: the point is that no setting is needed for a quick takeover.
    let env = webhook_env(&receiver, &[]);
    let server = Server::start(&dir.0, &db, &env);
    let token = mint(&dir.0, &db, "ann@example.com", &["User"], &["acme"]);
    let mut expected = 0;
    for _ in 0..4 {
        let id = create(&server.base, &token, 3);
        expected += 1;
        for m in 0..3 {
            let (status, _, body) = call(
                &server.base,
                &token,
                "DELETE",
                &format!("/sessions/{id}/members/agent{m}@example.com"),
                &[],
                None,
            );
            assert_eq!(status, 200, "{body}");
            expected += 1;
        }
    }
    receiver.wait_until(Duration::from_secs(10), |r| !r.is_empty());
    // The survivor starts while the first instance holds its claims.
    let survivor = (takeover == Takeover::Survivor).then(|| Server::start(&dir.0, &db, &env));
    let port = server.port;
    server.kill();
    let died = std::time::Instant::now();
    let before_kill = distinct_delivered(&receiver.received()).len();
    assert!(
        before_kill < expected,
        "the kill came before every event was delivered ({before_kill}/{expected})"
    );

    let _restarted = (takeover == Takeover::Restart).then(|| Server::start_on(&dir.0, &db, port, &env));
    let received = receiver.wait_until(TAKEOVER_WITHIN, |r| distinct_delivered(r).len() >= expected);
    let took = died.elapsed();
    let seen = distinct_delivered(&received);
    assert_eq!(
        seen.len(),
        expected,
        "every event, at least once, within {TAKEOVER_WITHIN:?} of the death: {seen:?}"
    );
    eprintln!(
        "{takeover:?}: {before_kill}/{expected} delivered before the kill, the rest within {took:?} of it"
    );
    for request in &received {
        assert_signed(request);
    }
    // In order per session: each event's first delivery comes after its session's earlier ones.
    let mut first_time = BTreeSet::new();
    let mut last_per_session = std::collections::HashMap::<String, u64>::new();
    for body in delivered(&received).iter().map(|r| r.json()) {
        let number: u64 = body["id"].as_str().unwrap().parse().unwrap();
        if !first_time.insert(number) {
            continue;
        }
        let last = last_per_session.entry(body["sessionId"].as_str().unwrap().to_owned()).or_default();
        assert!(number > *last, "event {number} delivered after its session's later event {last}");
        *last = number;
    }
    drop(survivor);
}

#[test]
fn the_pre_removal_hook_allows_refuses_with_its_message_and_fails_closed() {
    let dir = Workdir::new("webhooks-hook");
    let db = format!("sqlite://{}/evo.db", dir.0.display());
    // First question refused, second allowed, third answered too late.
    let hook = Receiver::start(|n, _| match n {
        0 => (409, Duration::ZERO),
        1 => (204, Duration::ZERO),
        _ => (200, Duration::from_millis(1500)),
    });
    let env = vec![
        ("EVO_PRE_REMOVE_HOOK_URL", hook.url.clone()),
        ("EVO_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("EVO_PRE_REMOVE_HOOK_TIMEOUT_MS", "500".to_owned()),
    ];
    let server = Server::start(&dir.0, &db, &env);
    let token = mint(&dir.0, &db, "ann@example.com", &["User"], &["acme"]);
    let id = create(&server.base, &token, 3);
    let remove = |member: &str| {
        call(&server.base, &token, "DELETE", &format!("/sessions/{id}/members/{member}"), &[], None)
    };

    let (status, _, body) = remove("agent0@example.com");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["responseStatus"]["errorCode"], "RemovalRefused");
    assert_eq!(body["responseStatus"]["message"], "Bob is still on a call", "the hook's message");
    let (status, _, body) = remove("agent0@example.com");
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = remove("agent1@example.com");
    assert_eq!((status, body["responseStatus"]["errorCode"].as_str()), (503, Some("ServiceUnavailable")));
    // A removal refused by the rules is not asked about.
    let (status, _, _) = remove("nobody@example.com");
    assert_eq!(status, 404);

    // The late answer is recorded once it is sent.
    let asked = hook.wait_until(Duration::from_secs(5), |r| r.len() >= 3);
    assert_eq!(asked.len(), 3, "three questions: refused, allowed, timed out");
    for question in &asked {
        assert_signed(question);
        let body = question.json();
        assert_eq!(body["type"], "ChatMemberRemoving");
        assert!(body.get("id").is_none(), "a would-be event has no number");
        assert!(question.header("webhook-id").is_some_and(|id| id.starts_with("msg_")));
    }
    let (_, _, session) = call(&server.base, &token, "GET", &format!("/sessions/{id}"), &[], None);
    let members: Vec<&str> =
        session["members"].as_array().unwrap().iter().filter_map(|m| m["identity"].as_str()).collect();
    assert!(!members.contains(&"agent0@example.com"), "the allowed removal was made");
    assert!(members.contains(&"agent1@example.com"), "the refused ones were not");
}

#[test]
fn dead_letters_go_back_to_delivery_with_webhooks_redeliver() {
    let dir = Workdir::new("webhooks-redeliver");
    let path = dir.0.join("evo.db");
    let db = format!("sqlite://{}", path.display());
    // A receiver that is down for good: nothing is delivered.
    let down = Receiver::start(|_, _| (503, Duration::ZERO));
    let server = Server::start(&dir.0, &db, &webhook_env(&down, &[]));
    let token = mint(&dir.0, &db, "ann@example.com", &["User"], &["acme"]);
    let id = create(&server.base, &token, 2);
    let (status, _, _) = call(
        &server.base,
        &token,
        "DELETE",
        &format!("/sessions/{id}/members/agent0@example.com"),
        &[],
        None,
    );
    assert_eq!(status, 200);
    down.wait_until(Duration::from_secs(10), |r| !r.is_empty());
    server.kill();

    // The retry window passing is the worker's to decide (tested in evo-webhooks with a test
    // clock); here the store dead-letters both events as the worker would.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use evo_ports::DeliveryQueue;
        let store =
            evo_sqlite::SqliteSessionRepository::open(evo_sqlite::SqliteConfig::new(&path)).await.unwrap();
        let far = chrono::Utc::now() + chrono::Duration::days(2);
        for _ in 0..2 {
            for pending in store.claim_due(far, far + chrono::Duration::minutes(2), 10).await.unwrap() {
                store.mark_dead(pending.event.id, 30, "gave up").await.unwrap();
            }
        }
        assert_eq!(store.delivery_counts().await.unwrap().dead, 2, "both events are dead letters");
    });

    let output = support::evo(&dir.0, &db).args(["webhooks", "redeliver"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "2 dead-lettered events sent back to delivery"
    );

    let up = Receiver::start(|_, _| (200, Duration::ZERO));
    let _server = Server::start(&dir.0, &db, &webhook_env(&up, &[]));
    let received = up.wait_until(Duration::from_secs(15), |r| distinct_delivered(r).len() >= 2);
    let types: Vec<String> =
        delivered(&received).iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["SessionCreated", "ChatMemberRemoved"], "redelivered, in order");
    let again = support::evo(&dir.0, &db).args(["webhooks", "redeliver"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "0 dead-lettered events sent back to delivery");
}
