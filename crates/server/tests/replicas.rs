//! Read replicas (docs/operations.md, "Read replicas"; docs/api.md, "ListSessions"): with a
//! real primary and a hot standby of the test's own (`support/pg_cluster.rs`), ListSessions
//! reads the standby while its replay is within `EVO_REPLICA_MAX_LAG_MS`, the primary
//! otherwise, and never fails for the standby's sake.

#[path = "support/pg_cluster.rs"]
mod pg_cluster;
mod support;

use std::time::{Duration, Instant};

use pg_cluster::PgCluster;
use serde_json::{Value, json};
use support::{Server, Workdir, call, mint};

/// Scans of the `sessions` table the standby has served (its own statistics: only searches
/// read that table there).
fn scans_on(standby: &PgCluster) -> u64 {
    standby
        .sql("SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables WHERE relname = 'sessions'")
        .parse()
        .expect("a count")
}

fn list(server: &Server, token: &str, id: &str) -> (u16, Value) {
    let (status, _, body) =
        call(&server.base, token, "GET", &format!("/sessions?specificIds={id}"), &[], None);
    (status, body)
}

fn listed(body: &Value, id: &str) -> bool {
    body["items"].as_array().is_some_and(|items| items.iter().any(|item| item["id"] == id))
}

fn open(server: &Server, token: &str) -> String {
    let body = json!({"accountId": "acme", "members": [{"identity": "+15550102030"}, {"identity": "ann@example.com"}]});
    let (status, _, session) = call(&server.base, token, "POST", "/sessions", &[], Some(body));
    assert_eq!(status, 200, "{session}");
    session["id"].as_str().expect("an ID").to_owned()
}

#[test]
fn list_sessions_reads_a_fresh_standby_and_the_primary_past_the_bound() {
    let primary = PgCluster::start("replicas-primary");
    let mut standby = PgCluster::standby_of(&primary, "replicas-standby");
    assert_eq!(standby.sql("SELECT pg_is_in_recovery()"), "t", "a standby");
    let dir = Workdir::new("replicas");
    let env = [("EVO_DATABASE_REPLICA_URL", standby.url()), ("EVO_REPLICA_MAX_LAG_MS", "1000".to_owned())];
    let server = Server::start(&dir.0, &primary.url(), &env);
    let token = mint(&dir.0, &primary.url(), "ann@example.com", &["User"], &["acme"]);

    // Replay running: the searches reach the standby. Its statistics are flushed within
    // seconds of a backend going idle, so they are awaited.
    let first = open(&server, &token);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed(&list(&server, &token, &first).1, &first) {
        assert!(Instant::now() < deadline, "a new session is never listed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = scans_on(&standby);
    for _ in 0..20 {
        let (status, body) = list(&server, &token, &first);
        assert_eq!(status, 200, "{body}");
        assert!(listed(&body, &first), "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while scans_on(&standby) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "the searches did not reach the standby: {} scans, {before} before",
            scans_on(&standby)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Replay paused: the standby falls behind from the next write, and a session created on
    // the primary is listed within the bound (read on the primary once the standby is
    // too stale), never later.
    standby.sql("SELECT pg_wal_replay_pause()");
    let paused = open(&server, &token);
    let created = Instant::now();
    let mut looks = 0;
    loop {
        let (status, body) = list(&server, &token, &paused);
        assert_eq!(status, 200, "{body}");
        looks += 1;
        if listed(&body, &paused) {
            break;
        }
        assert!(
            created.elapsed() < Duration::from_millis(1800),
            "not listed within the bound (1 s, and the watch's look)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = created.elapsed();
    assert!(looks > 1, "the first look, on the fresh standby, could not have found it (replay is paused)");
    assert_eq!(
        standby.sql(&format!("SELECT count(*) FROM sessions WHERE id = '{paused}'")),
        "0",
        "replay was paused"
    );
    eprintln!("listed {waited:?} after its creation, at look {looks}, with replay paused");

    // Replay resumed: the standby catches up and serves the searches again.
    standby.sql("SELECT pg_wal_replay_resume()");
    std::thread::sleep(Duration::from_millis(500));
    let before = scans_on(&standby);
    for _ in 0..20 {
        let (status, body) = list(&server, &token, &paused);
        assert_eq!(status, 200, "{body}");
        assert!(listed(&body, &paused), "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while scans_on(&standby) < before + 20 {
        assert!(Instant::now() < deadline, "after resuming, the searches did not go back to the standby");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The standby gone: every search still answers, from the primary.
    standby.crash();
    let started = Instant::now();
    for _ in 0..20 {
        let (status, body) = list(&server, &token, &paused);
        assert_eq!(status, 200, "without the standby: {body}");
        assert!(listed(&body, &paused), "{body}");
    }
    eprintln!("20 searches without the standby in {:?}", started.elapsed());
}
