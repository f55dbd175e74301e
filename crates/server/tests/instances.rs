//! Several instances of the built binary on one PostgreSQL database (docs/api.md, "Durability
//! and several instances"):
//! every promise holds across them, and a rolling restart of one of two instances under load
//! fails no request.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, Workdir, agent, call, create, mint, test_database};

/// Many clients, one token: the per-caller rate is not what these tests are about.
const ENV: [(&str, &str); 2] = [("EVO_RATE_LIMIT_PER_SEC", "0"), ("EVO_DB_POOL_SIZE", "4")];

fn env(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    ENV.iter().chain(extra).map(|(name, value)| (*name, (*value).to_owned())).collect()
}

#[test]
fn three_instances_keep_serialization_and_conditional_changes_together() {
    let database = test_database();
    let dir = Workdir::new("three-instances");
    let servers: Vec<Server> = (0..3).map(|_| Server::start(&dir.0, &database.url, &env(&[]))).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let token = mint(&dir.0, &database.url, "ann@example.com", &["User"], &["acme"]);

    // 24 concurrent removals of distinct members, spread over the three instances: all 200,
    // and the session holds 24 removal entries.
    let id = create(&bases[0], &token, 24);
    let removals: Vec<_> = (0..24)
        .map(|m| {
            let (base, token, id) = (bases[m % 3].clone(), token.clone(), id.clone());
            std::thread::spawn(move || {
                call(
                    &base,
                    &token,
                    "DELETE",
                    &format!("/sessions/{id}/members/agent{m}@example.com"),
                    &[],
                    None,
                )
                .0
            })
        })
        .collect();
    let statuses: Vec<u16> = removals.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let reads: Vec<(u16, Option<String>, Value)> =
        bases.iter().map(|base| call(base, &token, "GET", &format!("/sessions/{id}"), &[], None)).collect();
    for (status, etag, body) in &reads {
        assert_eq!(*status, 200);
        assert_eq!(body["members"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["log"].as_array().unwrap().len(), 1 + 24);
        assert_eq!(etag.as_deref(), Some("\"v24\""), "the same ETag on every instance");
        assert_eq!(body, &reads[0].2, "the same session on every instance");
    }

    // Racing removals of one member across the instances: exactly one 200.
    let id = create(&bases[1], &token, 2);
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let (base, token, id) = (bases[i % 3].clone(), token.clone(), id.clone());
            std::thread::spawn(move || {
                call(
                    &base,
                    &token,
                    "DELETE",
                    &format!("/sessions/{id}/members/agent0@example.com"),
                    &[],
                    None,
                )
            })
        })
        .collect();
    let outcomes: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|(s, _, _)| *s == 200).count(), 1, "{outcomes:?}");
    for (status, _, body) in outcomes.iter().filter(|(s, _, _)| *s != 200) {
        assert_eq!((*status, body["responseStatus"]["errorCode"].as_str()), (404, Some("MemberNotFound")));
    }

    // An ETag read on one instance guards a change made through another, and a third sees it stale.
    let (_, etag, _) = call(&bases[0], &token, "GET", &format!("/sessions/{id}"), &[], None);
    let etag = etag.expect("an ETag");
    let (status, _, body) = call(
        &bases[1],
        &token,
        "DELETE",
        &format!("/sessions/{id}/members/agent1@example.com"),
        &[("If-Match", &etag)],
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, body) =
        call(&bases[2], &token, "DELETE", &format!("/sessions/{id}"), &[("If-Match", &etag)], None);
    assert_eq!((status, body["responseStatus"]["errorCode"].as_str()), (412, Some("PreconditionFailed")));

    // An Idempotency-Key holds across instances: a retry sent to another instance gets the
    // first answer, and the change happened once.
    let members = json!({"accountId": "acme", "members": [{"identity": "+15550001234"}, {"identity": "kim@example.com"}]});
    let keyed = [("Idempotency-Key", "create-once")];
    let (status, _, first) = call(&bases[0], &token, "POST", "/sessions", &keyed, Some(members.clone()));
    assert_eq!(status, 200, "{first}");
    let (status, _, again) = call(&bases[1], &token, "POST", "/sessions", &keyed, Some(members));
    assert_eq!((status, &again), (200, &first), "the same session, not a second one");
    let id = first["id"].as_str().unwrap();
    let remove = format!("/sessions/{id}/members/kim@example.com");
    let keyed = [("Idempotency-Key", "remove-kim")];
    let (status, _, removed) = call(&bases[1], &token, "DELETE", &remove, &keyed, None);
    assert_eq!(status, 200, "{removed}");
    let (status, _, again) = call(&bases[2], &token, "DELETE", &remove, &keyed, None);
    assert_eq!((status, &again), (200, &removed), "replayed by another instance, not 404");
    drop(servers);
}

/// A load balancer in miniature: routes each request to an instance that was ready at its
/// last probe (every 100 ms), as an orchestrator's readiness checks do.
struct Balancer {
    ready: Arc<Mutex<Vec<bool>>>,
    stop: Arc<AtomicBool>,
}

impl Balancer {
    fn start(bases: Vec<String>) -> Self {
        let ready = Arc::new(Mutex::new(vec![true; bases.len()]));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (ready.clone(), stop.clone());
        std::thread::spawn(move || {
            let probe = support::agent_with_timeout(Duration::from_millis(500));
            while !stopping.load(Ordering::SeqCst) {
                for (i, base) in bases.iter().enumerate() {
                    let up =
                        probe.get(&format!("{base}/health/ready")).call().is_ok_and(|r| r.status() == 200);
                    shared.lock().unwrap()[i] = up;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { ready, stop }
    }

    fn pick(&self, turn: usize) -> Option<usize> {
        let ready = self.ready.lock().unwrap();
        let up: Vec<usize> = (0..ready.len()).filter(|i| ready[*i]).collect();
        (!up.is_empty()).then(|| up[turn % up.len()])
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_rolling_restart_of_one_of_two_instances_fails_no_request() {
    let database = test_database();
    let dir = Workdir::new("rolling-restart");
    let drain = [("EVO_SHUTDOWN_DRAIN_SECS", "2")];
    let mut servers: Vec<Server> =
        (0..2).map(|_| Server::start(&dir.0, &database.url, &env(&drain))).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let token = mint(&dir.0, &database.url, "ann@example.com", &["User"], &["acme"]);
    let balancer = Arc::new(Balancer::start(bases.clone()));

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (balancer, stop, sent, failures, bases, token) =
                (balancer.clone(), stop.clone(), sent.clone(), failures.clone(), bases.clone(), token.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut turn = c;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    turn += 1;
                    let Some(instance) = balancer.pick(turn) else { continue };
                    // A bounded round: open a chat of 2 agents and remove one, both through
                    // the instance the balancer chose.
                    let url = format!("{}/sessions", bases[instance]);
                    let created = agent()
                        .post(&url)
                        .header("Authorization", &format!("Bearer {token}"))
                        .send_json(json!({"accountId": "acme", "members": [{"identity": "+15550001111"}, {"identity": "a@example.com"}, {"identity": "b@example.com"}]}));
                    sent.fetch_add(1, Ordering::SeqCst);
                    match created {
                        Ok(response) if response.status() == 200 => {
                            let body: Value = serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
                            let id = body["id"].as_str().unwrap().to_owned();
                            let removed = agent()
                                .delete(&format!("{url}/{id}/members/a@example.com"))
                                .header("Authorization", &format!("Bearer {token}"))
                                .call();
                            sent.fetch_add(1, Ordering::SeqCst);
                            match removed {
                                Ok(response) if response.status() == 200 => {}
                                other => failures.lock().unwrap().push(format!("remove via {instance}: {other:?}")),
                            }
                        }
                        other => failures.lock().unwrap().push(format!("create via {instance}: {other:?}")),
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(1));
    // Restart instance 1: SIGTERM, wait for it to exit (drain, then a graceful stop), start
    // it again on the same port, as an orchestrator rolls one instance.
    let stopping = servers.remove(1);
    let port = stopping.port;
    let signalled = Instant::now();
    assert!(
        Command::new("kill").arg("-TERM").arg(stopping.child.id().to_string()).status().unwrap().success()
    );
    let mut stopping = stopping;
    let exit = loop {
        if let Some(status) = stopping.child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(30), "the stopping instance did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    servers.push(Server::start_on(&dir.0, &database.url, port, &env(&drain)));
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    let sent = sent.load(Ordering::SeqCst);
    eprintln!(
        "rolling restart: {sent} requests, {} failed; the stopping instance exited after {:?}",
        failures.len(),
        signalled.elapsed()
    );
    assert!(sent > 40, "the load ran: {sent}");
    assert!(failures.is_empty(), "{failures:?}");
}
