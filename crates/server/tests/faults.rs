//! Faults, against the built binary: PostgreSQL outages, and crashes on both stores.
//!
//! - **Outage**: the binary reaches a per-test database
//!   (`evo_postgres::test_support::TestDatabase`, cloned from a migrated template) only
//!   through a TCP proxy this test controls.
//!   Under a steady bounded load (client threads creating sessions, inviting, removing,
//!   reading), the proxy is cut for several seconds (existing connections closed, new ones
//!   refused) and then restored. While it is down every request answers 503 with
//!   `Retry-After`, within the wait timeout plus a margin; once it is back requests succeed
//!   again without a restart; and every session is consistent afterwards. The same with a
//!   silent network instead (the proxy holds every byte, closes nothing): 503 within the
//!   store's own deadlines.
//! - **Crash of the service** (PostgreSQL and SQLite): the binary is SIGKILLed in the middle
//!   of concurrent removals and restarted on the same store: every removal answered 200 is
//!   there (member gone, log entry present), and no member is missing without its log entry,
//!   nor a log entry without its removal.
//! - **Crash of PostgreSQL**: a cluster of the test's own (`support/pg_cluster.rs`) is
//!   SIGKILLed, postmaster and children, in the middle of concurrent removals and restarted
//!   on the same data folder; the service, never restarted, answers 200 or 503 with
//!   `Retry-After` throughout, serves again within seconds, and the store holds every 200.
//!
//! The shared PostgreSQL server is never stopped: connectivity is cut inside the test, and
//! the PostgreSQL that is killed is the test's own.
//!
//! The tests take turns (`take_turn`): each runs a server under load, and side by side on
//! 2 cores they would starve each other.

#[path = "support/pg_cluster.rs"]
mod pg_cluster;
mod support;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pg_cluster::PgCluster;
use serde_json::{Value, json};
use support::receiver::{Received, Receiver};
use support::sse::{Frame, Stream};
use support::{Server, Workdir, agent_with_timeout, mint, test_database};

// ---------------------------------------------------------------------------------------
// A TCP proxy that can be cut.

/// Forwards 127.0.0.1:`port` to `upstream`. [`Proxy::cut`] closes every forwarded connection
/// and refuses new ones (accepted, then closed at once) until [`Proxy::restore`].
/// [`Proxy::stall`] is a silent network instead: connections stay open (new ones too) but no
/// byte goes through either way until [`Proxy::restore`], when the held bytes flow on.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accepter: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepter = {
            let (up, stalled, stop, connections) =
                (up.clone(), stalled.clone(), stop.clone(), connections.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(_) => continue,
                    };
                    if !up.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let _ = client.set_nonblocking(false);
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    {
                        let mut open = connections.lock().unwrap();
                        open.push(client.try_clone().unwrap());
                        open.push(server.try_clone().unwrap());
                    }
                    pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), stalled.clone());
                    pipe(server, client, stalled.clone());
                }
            })
        };
        Self { port, up, stalled, stop, connections, accepter: Some(accepter) }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
        self.cut();
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

/// Copies `from` to `to` on a thread of its own until either side closes, holding the bytes
/// while `stalled`.
fn pipe(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    while stalled.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    if std::io::Write::write_all(&mut to, &buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// `url` with its `host:port` replaced by 127.0.0.1:`port`; also returns the original
/// `host:port` (5432 when the URL names none).
fn through_proxy(url: &str, port: u16) -> (String, String) {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (user, host_port) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let upstream = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    let upstream = upstream.replace("localhost", "127.0.0.1");
    (format!("{}{user}127.0.0.1:{port}{}", &url[..scheme_end], &rest[authority_end..]), upstream)
}

// ---------------------------------------------------------------------------------------
// A client of the service that records every answer.

#[derive(Debug, Clone)]
struct Call {
    op: &'static str,
    started: Instant,
    elapsed: Duration,
    /// 0 when no HTTP answer came (connection refused or reset, client timeout).
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct Client {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            auth: format!("Bearer {token}"),
            // Longer than any bound asserted, so that a hang shows as a slow answer.
            agent: agent_with_timeout(Duration::from_secs(20)),
        }
    }

    fn call(&self, op: &'static str, method: &str, path: &str, body: Option<Value>) -> Call {
        self.call_keyed(op, method, path, body, None)
    }

    /// [`call`](Self::call) with an `Idempotency-Key`, when given.
    fn call_keyed(
        &self,
        op: &'static str,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Call {
        let url = format!("{}{path}", self.base);
        let started = Instant::now();
        let key = key.unwrap_or_default();
        let result = match (method, body) {
            ("POST", Some(body)) => self.agent.post(&url).header("Authorization", &self.auth).send_json(body),
            ("DELETE", _) if !key.is_empty() => self
                .agent
                .delete(&url)
                .header("Authorization", &self.auth)
                .header("Idempotency-Key", key)
                .call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &self.auth).call(),
            _ => self.agent.get(&url).header("Authorization", &self.auth).call(),
        };
        let elapsed = started.elapsed();
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let text = response.into_body().read_to_string().unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Call { op, started, elapsed, status, retry_after, body }
            }
            Err(error) => Call {
                op,
                started,
                elapsed,
                status: 0,
                retry_after: None,
                body: Value::String(error.to_string()),
            },
        }
    }
}

/// One session as the load saw it: its ID and, per member display name, whether a removal
/// of it was answered 200.
#[derive(Debug, Default, Clone)]
struct Tracked {
    id: String,
    /// Display names of every member the session may have had: the initial ones, and
    /// invitees whose invitation may have committed.
    members: BTreeSet<String>,
    /// Display names of the members it was created with.
    initial: BTreeSet<String>,
    /// Display names whose removal was answered 200.
    removed_ok: BTreeSet<String>,
}

/// Checks one session as stored against what the clients were told:
/// - every removal answered 200 is there: the member is gone and its log entry present;
/// - every member that is gone has exactly one removal entry, and every removal entry names
///   a member that is gone (the member list and the log agree).
fn check_consistency(session: &Value, tracked: &Tracked, actor: &str) {
    let id = &tracked.id;
    let present: BTreeSet<String> = session["members"]
        .as_array()
        .unwrap_or_else(|| panic!("{id}: no members in {session}"))
        .iter()
        .map(|m| m["displayName"].as_str().unwrap_or_default().to_owned())
        .collect();
    let log: Vec<String> = session["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    let removal = |name: &str| format!("{actor} removed {name} from the chat");
    let addition = |name: &str| format!("{actor} added {name} to the chat");
    for name in &tracked.removed_ok {
        assert!(!present.contains(name), "{id}: {name} removed (200) but still a member: {session}");
        assert_eq!(
            log.iter().filter(|m| **m == removal(name)).count(),
            1,
            "{id}: {name} removed (200) needs exactly one log entry: {log:?}"
        );
    }
    for name in &tracked.members {
        let added = tracked.initial.contains(name) || log.iter().any(|m| *m == addition(name));
        let removals = log.iter().filter(|m| **m == removal(name)).count();
        match (added, present.contains(name)) {
            // Never became a member (an invitation that did not commit): no removal either.
            (false, false) => assert_eq!(removals, 0, "{id}: {name} removed without being added: {log:?}"),
            (true, true) => assert_eq!(removals, 0, "{id}: {name} is a member with a removal entry: {log:?}"),
            (true, false) => {
                assert_eq!(removals, 1, "{id}: {name} is gone with {removals} removal entries: {log:?}")
            }
            (false, true) => panic!("{id}: {name} is a member without its addition: {log:?}"),
        }
    }
    for message in &log {
        if let Some(name) =
            message.strip_prefix(&format!("{actor} removed ")).and_then(|m| m.strip_suffix(" from the chat"))
        {
            assert!(!present.contains(name), "{id}: log says {name} was removed, but it is a member");
            assert!(tracked.members.contains(name), "{id}: a removal of an unknown member {name}");
        }
    }
}

fn get_session(client: &Client, id: &str) -> Value {
    let call = client.call("get", "GET", &format!("/sessions/{id}"), None);
    assert_eq!(call.status, 200, "GET {id}: {}", call.body);
    call.body
}

// ---------------------------------------------------------------------------------------
// The outage.

const WAIT_TIMEOUT_MS: u64 = 1_000;
const STATEMENT_TIMEOUT_MS: u64 = 1_000;

/// The tests of this file each run a server under load; run side by side on a 2-core CI
/// machine they starve each other until a healthy request waits out the 1 s pool timeout
/// (a correct 503, but not what "before the cut" asserts). So they take turns.
static ONE_LOAD_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_LOAD_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How the database goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Connections closed, new ones refused: PostgreSQL restarting, a firewall's reset.
    Cut,
    /// Nothing answers, nothing is closed: a network partition, a hung server.
    Stall,
}

#[test]
fn a_database_outage_answers_503_fast_and_recovers_without_a_restart() {
    outage(Fault::Cut);
}

/// A silent network is worse than a refused one: nothing fails fast, so only the store's own
/// deadlines (pool wait, connection creation, the per-operation deadline of twice the
/// statement timeout plus 1 s) stand between a request and a hang.
#[test]
fn a_silent_database_network_answers_503_within_its_deadlines_and_recovers() {
    outage(Fault::Stall);
}

fn outage(fault: Fault) {
    let _turn = take_turn();
    let database = test_database();
    let (_, upstream) = through_proxy(&database.url, 0);
    let proxy = Proxy::start(upstream);
    let (url, _) = through_proxy(&database.url, proxy.port);
    let dir = Workdir::new(&format!("outage-{fault:?}"));
    let server = Server::start(
        &dir.0,
        &url,
        &[
            ("EVO_DB_POOL_SIZE", "4".to_owned()),
            ("EVO_DB_WAIT_TIMEOUT_MS", WAIT_TIMEOUT_MS.to_string()),
            ("EVO_DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS.to_string()),
            // Four clients make far more than 100 changes a second: the rate limit is not
            // under test here.
            ("EVO_RATE_LIMIT_PER_SEC", "0".to_owned()),
        ],
    );
    let token = mint(&dir.0, &url, "ann@example.com", &["User"], &["acme"]);
    let client = Client::new(&server.base, &token);

    // The timeline: 3 s of load, 6 s down (a stall 10 s: each call then waits out a deadline
    // of 3 s, and a change caught with its COMMIT in flight another 3 s settling it, so a
    // shorter stall sees too few calls start and end inside it), 6 s back up. At most 4
    // clients, 5 000 calls each.
    let start = Instant::now();
    let cut_at = Duration::from_secs(3);
    let down_for = if fault == Fault::Stall { Duration::from_secs(10) } else { Duration::from_secs(6) };
    let restore_at = cut_at + down_for;
    let end_at = restore_at + Duration::from_secs(6);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (client, stop) = (client.clone(), stop.clone());
            std::thread::spawn(move || load(&client, worker, &stop, 5_000))
        })
        .collect();
    std::thread::sleep(cut_at.saturating_sub(start.elapsed()));
    // Taken before cutting: a call that failed during the cut itself must not count as
    // "finished before the cut".
    let cut = Instant::now();
    match fault {
        Fault::Cut => proxy.cut(),
        Fault::Stall => proxy.stall(),
    }
    std::thread::sleep(restore_at.saturating_sub(start.elapsed()));
    proxy.restore();
    let restored = Instant::now();
    std::thread::sleep(end_at.saturating_sub(start.elapsed()));
    stop.store(true, Ordering::SeqCst);
    let mut calls = Vec::new();
    let mut sessions = Vec::new();
    for worker in workers {
        let (worker_calls, worker_sessions) = worker.join().unwrap();
        calls.extend(worker_calls);
        sessions.extend(worker_sessions);
    }

    // No answer is a 5xx other than 503; every 503 says when to retry; nothing hangs.
    // Cut: the pool wait plus a margin. Stall: a request may hold a connection whose query
    // never returns, so the store's per-operation deadline (2 x statement timeout + 1 s)
    // plus the pool wait, plus the margin.
    // A change whose COMMIT may have been sent when the connection went also asks the server
    // how it ended, for at most one more per-operation deadline, rather than answer a
    // false 503 (docs/api.md, "Durability and several instances": no false failure).
    let wait = Duration::from_millis(WAIT_TIMEOUT_MS);
    let per_operation = Duration::from_millis(2 * STATEMENT_TIMEOUT_MS) + Duration::from_secs(1);
    let read_bound = match fault {
        Fault::Cut => wait + Duration::from_secs(2),
        Fault::Stall => wait + per_operation + Duration::from_secs(2),
    };
    let bound_of = |op: &str| if op == "get" { read_bound } else { read_bound + per_operation };
    for call in &calls {
        assert_ne!(call.status, 0, "{}: no answer: {}", call.op, call.body);
        assert!(call.status < 500 || call.status == 503, "{}: {} {}", call.op, call.status, call.body);
        if call.status == 503 {
            assert!(
                call.retry_after.as_deref().is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)),
                "Retry-After"
            );
            // OutcomeUnknown: a COMMIT sent whose answer was lost (docs/api.md, "Durability and
            // several instances").
            let code = &call.body["responseStatus"]["errorCode"];
            assert!(
                code == "ServiceUnavailable" || code == "OutcomeUnknown",
                "{}: 503 {}",
                call.op,
                call.body
            );
        }
        let bound = bound_of(call.op);
        assert!(
            call.elapsed <= bound,
            "{} took {:?}, over {bound:?} ({})",
            call.op,
            call.elapsed,
            call.status
        );
    }
    // While down (after a moment for calls in flight at the cut): 503 and only 503.
    let down: Vec<&Call> = calls
        .iter()
        .filter(|c| c.started >= cut + Duration::from_millis(200) && c.started + c.elapsed <= restored)
        .collect();
    // Cut: answers come at once, many per client. Stall: each takes up to the deadline.
    let enough = if fault == Fault::Cut { 8 } else { 2 };
    assert!(down.len() >= enough, "only {} calls while down", down.len());
    let down_statuses: BTreeSet<u16> = down.iter().map(|c| c.status).collect();
    assert_eq!(down_statuses, BTreeSet::from([503]), "while down");
    // Back up: without a restart, everything succeeds again once the pool has reconnected.
    let after: Vec<&Call> = calls.iter().filter(|c| c.started >= restored + Duration::from_secs(2)).collect();
    assert!(after.len() >= 8, "only {} calls after the restore", after.len());
    let failed: Vec<_> = after.iter().filter(|c| c.status != 200).map(|c| (c.op, c.status)).collect();
    assert!(failed.is_empty(), "after the restore: {failed:?}");
    let before: Vec<&Call> = calls.iter().filter(|c| c.started + c.elapsed < cut).collect();
    let failed_before: Vec<_> =
        before.iter().filter(|c| c.status != 200).map(|c| (c.op, c.status, c.elapsed, &c.body)).collect();
    assert!(failed_before.is_empty(), "before the cut every call succeeds: {failed_before:?}");

    // Every session is consistent: members and log agree with every 200.
    for tracked in &sessions {
        check_consistency(&get_session(&client, &tracked.id), tracked, "ann");
    }
    let count = |status: u16| calls.iter().filter(|c| c.status == status).count();
    eprintln!(
        "outage ({fault:?}): {} calls ({} before the cut, {} while down, {} after +2 s), {} sessions checked; 200: {}, 503: {}, other: {}; slowest {:?}",
        calls.len(),
        before.len(),
        down.len(),
        after.len(),
        sessions.len(),
        count(200),
        count(503),
        calls.len() - count(200) - count(503),
        calls.iter().map(|c| c.elapsed).max().unwrap_or_default(),
    );
    drop(server);
    drop(proxy);
}

/// One client's loop: create a session (original member `-o`, two more `-a` and `-b`),
/// invite `-c`, remove `-a` and `-c`, read it back; until `stop` or `max_calls`.
fn load(client: &Client, worker: usize, stop: &AtomicBool, max_calls: usize) -> (Vec<Call>, Vec<Tracked>) {
    let mut calls = Vec::new();
    let mut sessions = Vec::new();
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) && calls.len() < max_calls {
        round += 1;
        let name = |suffix: &str| format!("w{worker}-{round}-{suffix}");
        let email = |suffix: &str| format!("w{worker}.{round}.{suffix}@example.com");
        let create = client.call(
            "create",
            "POST",
            "/sessions",
            Some(json!({
                "accountId": "acme",
                "members": [
                    {"identity": format!("+1555{:03}{:04}", worker, round % 10_000), "displayName": name("o")},
                    {"identity": email("a"), "displayName": name("a")},
                    {"identity": email("b"), "displayName": name("b")}
                ]
            })),
        );
        let created = create.status == 200;
        let id = create.body["id"].as_str().unwrap_or_default().to_owned();
        calls.push(create);
        if !created {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut tracked = Tracked { id: id.clone(), ..Tracked::default() };
        for suffix in ["o", "a", "b", "c"] {
            tracked.members.insert(name(suffix));
        }
        for suffix in ["o", "a", "b"] {
            tracked.initial.insert(name(suffix));
        }
        let invite = client.call(
            "invite",
            "POST",
            &format!("/sessions/{id}/members"),
            Some(json!({"memberToAdd": email("c"), "displayName": name("c")})),
        );
        calls.push(invite);
        for suffix in ["a", "c"] {
            let remove =
                client.call("remove", "DELETE", &format!("/sessions/{id}/members/{}", email(suffix)), None);
            if remove.status == 200 {
                tracked.removed_ok.insert(name(suffix));
            }
            calls.push(remove);
        }
        calls.push(client.call("get", "GET", &format!("/sessions/{id}"), None));
        sessions.push(tracked);
    }
    (calls, sessions)
}

// ---------------------------------------------------------------------------------------
// The crashes.
//
// Sessions of one original member and `MEMBERS` members to remove; clients remove them
// concurrently; something is killed in the middle. Afterwards every session is read back
// and checked against what the clients were told ([`check_consistency`]).

const SESSIONS: usize = 4;
const MEMBERS: usize = 40;

/// `SESSIONS` sessions of `s{s}-o` (the original member) and `s{s}-m{m}`
/// (`s{s}.m{m}@example.com`) for `m` below `MEMBERS`.
fn create_crowded_sessions(client: &Client) -> Vec<Tracked> {
    let mut sessions = Vec::new();
    for s in 0..SESSIONS {
        let mut members =
            vec![json!({"identity": format!("+1555000{s:04}"), "displayName": format!("s{s}-o")})];
        for m in 0..MEMBERS {
            members.push(
                json!({"identity": format!("s{s}.m{m}@example.com"), "displayName": format!("s{s}-m{m}")}),
            );
        }
        let create = client.call(
            "create",
            "POST",
            "/sessions",
            Some(json!({"accountId": "acme", "members": members})),
        );
        assert_eq!(create.status, 200, "{}", create.body);
        let mut tracked =
            Tracked { id: create.body["id"].as_str().unwrap().to_owned(), ..Tracked::default() };
        tracked.members.insert(format!("s{s}-o"));
        for m in 0..MEMBERS {
            tracked.members.insert(format!("s{s}-m{m}"));
        }
        tracked.initial = tracked.members.clone();
        sessions.push(tracked);
    }
    sessions
}

/// The members worker `worker` of eight removes: session `worker % SESSIONS`, every other
/// member (each session's members split over two workers, so that removals of one session
/// race each other).
fn share(worker: usize) -> (usize, impl Iterator<Item = usize>) {
    (worker % SESSIONS, (worker / SESSIONS..MEMBERS).step_by(2))
}

fn member_path(session: &Tracked, s: usize, m: usize) -> String {
    format!("/sessions/{}/members/s{s}.m{m}%40example.com", session.id)
}

/// Reads every session back and checks it against the answers ([`check_consistency`]):
/// every removal answered 200 is there with its log entry, and nothing is half-done.
/// Returns how many members are gone.
fn check_after_crash(client: &Client, sessions: &[Tracked]) -> usize {
    let mut gone = 0;
    for tracked in sessions {
        let session = get_session(client, &tracked.id);
        check_consistency(&session, tracked, "ann");
        check_events(client, &session);
        gone += MEMBERS + 1 - session["members"].as_array().unwrap().len();
    }
    gone
}

/// The session's events, replayed from the outbox from the start, match its log one to one
/// (no change without its event, no event without its change, docs/api.md "Events"): event
/// `i` carries log entry `i` as its `logEntry`, and the session without its log.
fn check_events(client: &Client, session: &Value) {
    let id = session["id"].as_str().unwrap();
    let log = session["log"].as_array().unwrap();
    let port = client.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the base URL");
    let token = client.auth.trim_start_matches("Bearer ");
    let stream = Stream::open(port, &format!("/sessions/{id}/events"), token, Some(0));
    let events = stream.events(log.len(), Duration::from_secs(5));
    assert_eq!(events.len(), log.len(), "{id}: one event per log entry");
    assert_eq!(events[0].1, "SessionCreated", "{id}");
    for (i, (_, kind, event)) in events.iter().enumerate() {
        assert_eq!(event["logEntry"], log[i], "{id}: event {i} ({kind}) is log entry {i}'s change");
        assert!(event["session"].get("log").is_none(), "{id}: event {i} carries no log: {event}");
    }
    assert!(
        !matches!(stream.next(Duration::from_millis(200)), Some(Frame::Event { .. })),
        "{id}: an event without its change"
    );
    stream.close();
}

/// Eight clients remove every member of `sessions` ([`share`]); a removal answered 503 is
/// tried again every 200 ms until it gets another answer, with the same `Idempotency-Key`
/// (`{keys}-s{s}-m{m}`) when `keys` is given. Bounded: 60 s in all, 300 tries per member.
/// Returns once a third of the removals are acknowledged (or 20 s passed), with the clients'
/// threads and the count of removals answered 200 so far.
fn remove_every_member(
    client: &Client,
    sessions: &[Tracked],
    keys: Option<String>,
) -> (Vec<JoinHandle<Vec<Removal>>>, Arc<AtomicUsize>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let (client, acknowledged, keys) = (client.clone(), acknowledged.clone(), keys.clone());
            let (s, members) = share(worker);
            let session = sessions[s].clone();
            std::thread::spawn(move || {
                let mut removals = Vec::new();
                for m in members {
                    let key = keys.as_ref().map(|keys| format!("{keys}-s{s}-m{m}"));
                    let mut calls = Vec::new();
                    while calls.len() < 300 && Instant::now() < deadline {
                        let path = member_path(&session, s, m);
                        let call = client.call_keyed("remove", "DELETE", &path, None, key.as_deref());
                        let status = call.status;
                        calls.push(call);
                        match status {
                            503 => std::thread::sleep(Duration::from_millis(200)),
                            200 => {
                                acknowledged.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            _ => break,
                        }
                    }
                    removals.push(Removal { session: s, member: m, calls });
                }
                removals
            })
        })
        .collect();
    let wait = Instant::now() + Duration::from_secs(20);
    while acknowledged.load(Ordering::SeqCst) < SESSIONS * MEMBERS / 3 && Instant::now() < wait {
        std::thread::sleep(Duration::from_millis(2));
    }
    (workers, acknowledged)
}

/// Reads session `id` every 50 ms until it answers 200 (at most 30 s after `since`, when
/// `what` happened); returns how long after `since` that was, and every answer.
fn read_until_served(client: &Client, id: &str, since: Instant, what: &str) -> (Duration, Vec<Call>) {
    let mut probes = Vec::new();
    loop {
        let probe = client.call("get", "GET", &format!("/sessions/{id}"), None);
        let status = probe.status;
        probes.push(probe);
        if status == 200 {
            return (since.elapsed(), probes);
        }
        assert!(since.elapsed() < Duration::from_secs(30), "no 200 within 30 s of {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_retry_after(call: &Call) -> bool {
    call.retry_after.as_deref().is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1))
}

#[test]
fn a_sigkill_during_concurrent_removals_loses_no_acknowledged_removal() {
    let _turn = take_turn();
    let database = test_database();
    let dir = Workdir::new("crash");
    sigkill_the_service_during_removals("PostgreSQL", &dir, &database.url);
}

/// The embedded default: the killed process itself was writing the file (WAL mode).
#[test]
fn a_sigkill_during_concurrent_removals_on_sqlite_loses_no_acknowledged_removal() {
    let _turn = take_turn();
    let dir = Workdir::new("crash-sqlite");
    let url = format!("sqlite://{}", dir.0.join("x.db").display());
    sigkill_the_service_during_removals("SQLite", &dir, &url);
}

/// Eight clients remove members concurrently; once a third of the removals are answered the
/// service gets SIGKILL; it is restarted on the same store and port, and every session is
/// checked.
fn sigkill_the_service_during_removals(store: &str, dir: &Workdir, database_url: &str) {
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    // 164 changes in a second or two: within the rate limit's burst, but it is not under test.
    let env = [
        ("EVO_DB_POOL_SIZE", "8".to_owned()),
        ("EVO_RATE_LIMIT_PER_SEC", "0".to_owned()),
        ("EVO_WEBHOOK_URL", receiver.url.clone()),
        ("EVO_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
    ];
    let server = Server::start(&dir.0, database_url, &env);
    let token = mint(&dir.0, database_url, "ann@example.com", &["User"], &["acme"]);
    let client = Client::new(&server.base, &token);
    let mut sessions = create_crowded_sessions(&client);

    let answered = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let (client, answered) = (client.clone(), answered.clone());
            let (s, members) = share(worker);
            let session = sessions[s].clone();
            std::thread::spawn(move || {
                let mut ok = Vec::new();
                let mut unknown = 0;
                for m in members {
                    let call = client.call("remove", "DELETE", &member_path(&session, s, m), None);
                    match call.status {
                        200 => ok.push(format!("s{s}-m{m}")),
                        // Refused or reset by the kill: the outcome is unknown.
                        0 => unknown += 1,
                        other => panic!("a removal answered {other}: {}", call.body),
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                (s, ok, unknown)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::SeqCst) < SESSIONS * MEMBERS / 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let port = server.port;
    server.kill();
    let killed_after = answered.load(Ordering::SeqCst);
    let mut unknown = 0;
    for worker in workers {
        let (s, ok, lost) = worker.join().unwrap();
        sessions[s].removed_ok.extend(ok);
        unknown += lost;
    }
    let acknowledged: usize = sessions.iter().map(|s| s.removed_ok.len()).sum();
    assert!(acknowledged > 0, "some removals were answered before the kill");
    assert!(acknowledged < SESSIONS * MEMBERS, "the kill came before the end");

    // Restart on the same store (same port), and check every session.
    let restarted = Instant::now();
    let server = Server::start_on(&dir.0, database_url, port, &env);
    let ready_after = restarted.elapsed();
    let client = Client::new(&server.base, &token);
    let gone = check_after_crash(&client, &sessions);
    assert!(gone >= acknowledged);
    // Every acknowledged removal's event reaches the webhook within 15 s of the restart, even
    // those the killed instance had claimed (docs/api.md, "Webhooks").
    let removed_ok: BTreeSet<String> = sessions.iter().flat_map(|s| s.removed_ok.iter().cloned()).collect();
    let heard = |received: &[Received]| -> BTreeSet<String> {
        received
            .iter()
            .filter(|r| r.answered == 200)
            .map(Received::json)
            .filter(|event| event["type"] == "ChatMemberRemoved")
            .filter_map(|event| event["member"]["displayName"].as_str().map(str::to_owned))
            .collect()
    };
    let received = receiver.wait_until(Duration::from_secs(15).saturating_sub(restarted.elapsed()), |r| {
        heard(r).is_superset(&removed_ok)
    });
    let delivered = heard(&received);
    let missing: Vec<&String> = removed_ok.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "acknowledged removals not delivered within 15 s of the restart: {missing:?}"
    );
    eprintln!(
        "crash ({store}): killed after {killed_after} answers; {acknowledged} removals acknowledged, \
         {unknown} unanswered, {gone} members gone after the restart (ready in {ready_after:?}), \
         all {SESSIONS} sessions consistent, every acknowledged removal delivered {:?} after the restart",
        restarted.elapsed()
    );
}

/// `whsec_` and the base64 of 32 bytes.
const WEBHOOK_SECRET: &str = "whsec_ZXZvLXNlc3Npb25zLXdlYmhvb2stdGVzdC1rZXktMDEyMzQ1Njc=";

/// Every answer one member's removal got, in order (503s are retried).
#[derive(Debug)]
struct Removal {
    session: usize,
    member: usize,
    calls: Vec<Call>,
}

/// How long after PostgreSQL is back every request must succeed again. The pool replaces
/// the connections that died with the server as it meets them; this is a margin for a
/// debug build on 2 busy cores.
const RECOVERY: Duration = Duration::from_secs(5);

/// PostgreSQL itself is killed (a cluster of the test's own; `synchronous_commit=on`,
/// `fsync=on`) while the service removes members; the service stays up throughout.
#[test]
fn a_sigkill_of_postgresql_during_concurrent_removals_loses_no_acknowledged_removal() {
    let _turn = take_turn();
    let mut cluster = PgCluster::start("crash");
    let url = cluster.url();
    let dir = Workdir::new("crash-of-postgres");
    let env = [
        ("EVO_DB_POOL_SIZE", "8".to_owned()),
        ("EVO_DB_WAIT_TIMEOUT_MS", WAIT_TIMEOUT_MS.to_string()),
        ("EVO_DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS.to_string()),
        // Retries during the outage are changes too; the rate limit is not under test here.
        ("EVO_RATE_LIMIT_PER_SEC", "0".to_owned()),
    ];
    let mut server = Server::start(&dir.0, &url, &env);
    let token = mint(&dir.0, &url, "ann@example.com", &["User"], &["acme"]);
    let client = Client::new(&server.base, &token);
    let mut sessions = create_crowded_sessions(&client);

    let (workers, acknowledged) = remove_every_member(&client, &sessions, None);
    let acknowledged_before = acknowledged.load(Ordering::SeqCst);
    let killing = Instant::now();
    let killed = cluster.crash();
    let dead = Instant::now();
    // Held down a while, so that requests meet a dead server and not only one coming back.
    std::thread::sleep(Duration::from_secs(2));
    assert!(server.is_running(), "the service outlives its database");
    let crash_recovery = cluster.launch();
    let back = Instant::now();

    // The same process, never restarted, serves again.
    let (recovered_after, probes) = read_until_served(&client, &sessions[0].id, back, "PostgreSQL's return");
    let removals: Vec<Removal> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(server.is_running(), "the service is the one started before the crash");

    // Every answer: a 200, or a 503 with Retry-After that says whether anything may have
    // been applied; a 404 only where the removal may have gone through unanswered.
    let mut violations = Vec::new();
    // A 503 ServiceUnavailable then a 200 on retry: the member was still there.
    let mut refused_then_removed = 0;
    let mut outcome_unknown_count = 0;
    for removal in &removals {
        let name = format!("s{}-m{}", removal.session, removal.member);
        let (mut unavailable, mut outcome_unknown) = (false, false);
        for call in &removal.calls {
            let code = call.body["responseStatus"]["errorCode"].as_str().unwrap_or_default();
            match call.status {
                200 => {
                    sessions[removal.session].removed_ok.insert(name.clone());
                }
                503 => {
                    if !has_retry_after(call) {
                        violations.push(format!("{name}: 503 without Retry-After ({:?})", call.retry_after));
                    }
                    match code {
                        "ServiceUnavailable" => unavailable = true,
                        "OutcomeUnknown" => {
                            outcome_unknown = true;
                            outcome_unknown_count += 1;
                        }
                        _ => violations.push(format!("{name}: 503 {}", call.body)),
                    }
                }
                // An earlier try may have committed with its answer lost: only
                // OutcomeUnknown says so. After ServiceUnavailable ("nothing was applied")
                // a retry must find the member.
                404 if code == "MemberNotFound" && outcome_unknown => {}
                404 if code == "MemberNotFound" && unavailable => violations.push(format!(
                    "{name}: answered 503 ServiceUnavailable, yet applied: the retry found it gone \
                     (404 MemberNotFound)"
                )),
                0 => violations.push(format!("{name}: no answer within {:?}: {}", call.elapsed, call.body)),
                other => violations.push(format!("{name}: {other} {}", call.body)),
            }
        }
        if removal.calls.last().is_none_or(|c| c.status == 503) {
            violations.push(format!("{name}: still 503 at the end ({} tries)", removal.calls.len()));
        }
        if unavailable && removal.calls.last().is_some_and(|c| c.status == 200) {
            refused_then_removed += 1;
        }
    }
    for probe in &probes {
        if !(probe.status == 200 || probe.status == 503 && has_retry_after(probe)) {
            violations.push(format!("a read after the restart: {} {}", probe.status, probe.body));
        }
    }
    let calls: Vec<&Call> = removals.iter().flat_map(|r| &r.calls).chain(&probes).collect();
    let down: Vec<&&Call> =
        calls.iter().filter(|c| c.started >= dead && c.started + c.elapsed <= back).collect();
    let late_503: Vec<&&Call> =
        calls.iter().filter(|c| c.started >= back + RECOVERY && c.status == 503).collect();
    let count = |status: u16| calls.iter().filter(|c| c.status == status).count();
    let acknowledged: usize = sessions.iter().map(|s| s.removed_ok.len()).sum();
    eprintln!(
        "crash of PostgreSQL: {killed} processes killed after {acknowledged_before} removals acknowledged; \
         crash recovery {crash_recovery:?}; service serving {recovered_after:?} after PostgreSQL was back; \
         {} calls (200: {}, 503: {}, 404: {}, other: {}), {} while down, {outcome_unknown_count} \
         OutcomeUnknown; {acknowledged} removals acknowledged in all; slowest: {}",
        calls.len(),
        count(200),
        count(503),
        count(404),
        calls.len() - count(200) - count(503) - count(404),
        down.len(),
        calls.iter().max_by_key(|c| c.elapsed).map_or_else(String::new, |c| format!(
            "{:?}, a {} {} {}, started {} ms from the kill",
            c.elapsed,
            c.op,
            c.status,
            c.body["responseStatus"]["errorCode"],
            if c.started >= killing {
                c.started.duration_since(killing).as_millis() as i128
            } else {
                -(killing.duration_since(c.started).as_millis() as i128)
            }
        )),
    );
    assert!(violations.is_empty(), "{} bad answers:\n{}", violations.len(), violations.join("\n"));
    assert!(down.len() >= 8, "only {} calls while PostgreSQL was down", down.len());
    assert!(down.iter().all(|c| c.status == 503), "while PostgreSQL was down every answer is a 503");
    assert!(recovered_after <= RECOVERY, "serving again only {recovered_after:?} after PostgreSQL's return");
    assert!(late_503.is_empty(), "{} answers of 503 from {RECOVERY:?} after the return", late_503.len());

    // What the store holds: every 200 with its log entry, nothing half-done. (That a 503
    // ServiceUnavailable applied nothing was checked by its retry: a 200, not a 404.)
    let gone = check_after_crash(&client, &sessions);
    assert_eq!(gone, SESSIONS * MEMBERS, "once PostgreSQL was back every removal went through");
    eprintln!(
        "crash of PostgreSQL: {gone} members gone, {refused_then_removed} removals answered \
         ServiceUnavailable then 200 on retry, all {SESSIONS} sessions consistent"
    );
    drop(server);
    drop(cluster);
}

// ---------------------------------------------------------------------------------------
// Failover: the primary lost, its synchronous standby promoted.

/// How long after the promotion the service must answer 200 again (docs/operations.md,
/// "Failover").
const FAILOVER_RECOVERY: Duration = Duration::from_secs(10);
/// How long after the promotion every acknowledged removal's webhook must have arrived.
const FAILOVER_DELIVERY: Duration = Duration::from_secs(30);

#[test]
fn a_failover_to_a_synchronous_standby_loses_no_acknowledged_removal() {
    let _turn = take_turn();
    for run in 1..=3 {
        failover_run(run);
    }
}

/// One failover: a primary and its synchronous standby of the test's own; the service on a
/// multi-host URL (`target_session_attrs=read-write`), a webhook receiver and a live stream
/// attached; eight clients remove members with an `Idempotency-Key` each, a 503 tried again
/// with the same key; the primary is SIGKILLed mid-load and the standby promoted.
fn failover_run(run: usize) {
    let mut primary = PgCluster::start(&format!("failover-primary-{run}"));
    let standby = PgCluster::standby_of(&primary, &format!("failover_standby_{run}"));
    primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'");
    primary.sql("SELECT pg_reload_conf()");
    let deadline = Instant::now() + Duration::from_secs(20);
    while primary.sql("SELECT string_agg(sync_state, ',') FROM pg_stat_replication") != "sync" {
        assert!(Instant::now() < deadline, "the standby never became synchronous");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );
    // A receiver that takes a while, so that deliveries are under way (claimed, leased) when
    // the primary dies.
    let receiver = Receiver::start(|_, _| (200, Duration::from_millis(25)));
    let dir = Workdir::new(&format!("failover-{run}"));
    let env = [
        ("EVO_DB_POOL_SIZE", "8".to_owned()),
        ("EVO_DB_WAIT_TIMEOUT_MS", WAIT_TIMEOUT_MS.to_string()),
        ("EVO_DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS.to_string()),
        ("EVO_RATE_LIMIT_PER_SEC", "0".to_owned()),
        ("EVO_WEBHOOK_URL", receiver.url.clone()),
        ("EVO_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        // The live stream, its resumption and one stream per session read back.
        ("EVO_STREAMS_PER_CALLER", "20".to_owned()),
    ];
    let mut server = Server::start(&dir.0, &url, &env);
    let token = mint(&dir.0, &url, "ann@example.com", &["User"], &["acme"]);
    let client = Client::new(&server.base, &token);
    let mut sessions = create_crowded_sessions(&client);
    // From the first event on (`Last-Event-ID: 0`), so that it must hold the whole outbox.
    let live = Stream::open(server.port, "/events", &token, Some(0));
    assert_eq!(live.status, 200);

    let (workers, acknowledged) = remove_every_member(&client, &sessions, Some(format!("failover-{run}")));
    let acknowledged_before = acknowledged.load(Ordering::SeqCst);
    let killing = Instant::now();
    primary.crash();
    // What the live stream had received; it is dropped at the kill, as a client's connection
    // would be, and resumed after the promotion with Last-Event-ID.
    let mut streamed: Vec<u64> = Vec::new();
    while let Some(frame) = live.next(Duration::ZERO) {
        if let Frame::Event { id, .. } = frame {
            streamed.push(id);
        }
    }
    live.close();
    // What a failover manager does: promote the standby (pg_promote waits until it is done).
    assert_eq!(standby.sql("SELECT pg_promote()"), "t", "the standby is promoted");
    let promoted = Instant::now();
    let (recovered_after, probes) = read_until_served(&client, &sessions[0].id, promoted, "the promotion");
    let removals: Vec<Removal> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(server.is_running(), "the service is the one started before the failover");
    // Readiness has a connection of its own: it too reaches the new primary.
    let ready = client.call("ready", "GET", "/health/ready", None);
    assert_eq!(ready.status, 200, "readiness after the promotion: {}", ready.body);

    // Every answer: a 200, or a 503 (with Retry-After) that says whether anything may have
    // been applied; a keyed retry settles an OutcomeUnknown with the first answer or its own.
    let mut violations = Vec::new();
    let mut outcome_unknown_count = 0;
    for removal in &removals {
        let name = format!("s{}-m{}", removal.session, removal.member);
        for call in &removal.calls {
            let code = call.body["responseStatus"]["errorCode"].as_str().unwrap_or_default();
            match (call.status, code) {
                (200, _) => {
                    sessions[removal.session].removed_ok.insert(name.clone());
                }
                (503, "ServiceUnavailable" | "OutcomeUnknown") if has_retry_after(call) => {
                    outcome_unknown_count += usize::from(code == "OutcomeUnknown");
                }
                // The connection reset while the service itself... never: the service lives.
                (status, _) => violations.push(format!("{name}: {status} {}", call.body)),
            }
        }
        if removal.calls.last().is_none_or(|c| c.status != 200) {
            violations.push(format!("{name}: not settled with a 200 ({} tries)", removal.calls.len()));
        }
    }
    for probe in &probes {
        if !(probe.status == 200 || probe.status == 503 && has_retry_after(probe)) {
            violations.push(format!("a read after the promotion: {} {}", probe.status, probe.body));
        }
    }
    let calls: Vec<&Call> = removals.iter().flat_map(|r| &r.calls).chain(&probes).collect();
    let count = |status: u16| calls.iter().filter(|c| c.status == status).count();
    let late_503 =
        calls.iter().filter(|c| c.started >= promoted + FAILOVER_RECOVERY && c.status == 503).count();
    eprintln!(
        "failover run {run}: primary killed after {acknowledged_before} removals acknowledged; promotion took {:?}; \
         200 again {recovered_after:?} after it; {} calls (200: {}, 503: {}, other: {}), {outcome_unknown_count} OutcomeUnknown",
        promoted.duration_since(killing),
        calls.len(),
        count(200),
        count(503),
        calls.len() - count(200) - count(503),
    );
    assert!(violations.is_empty(), "{} bad answers:\n{}", violations.len(), violations.join("\n"));
    assert!(
        recovered_after <= FAILOVER_RECOVERY,
        "serving again only {recovered_after:?} after the promotion"
    );
    assert_eq!(late_503, 0, "503s from {FAILOVER_RECOVERY:?} after the promotion");

    // The new primary holds every 200 with its log entry and its event.
    let gone = check_after_crash(&client, &sessions);
    assert_eq!(gone, SESSIONS * MEMBERS, "every removal went through");
    assert_eq!(standby.sql("SELECT pg_is_in_recovery()"), "f", "read from the promoted standby");

    // Every event of the outbox, numbered in increasing order across the failover, reached
    // the live stream (resumed with Last-Event-ID where it broke off) and the webhook.
    let outbox: Vec<u64> = standby
        .sql("SELECT id FROM session_events WHERE id IS NOT NULL ORDER BY id")
        .lines()
        .map(|id| id.parse().expect("an event number"))
        .collect();
    let expected = SESSIONS * (1 + MEMBERS);
    assert_eq!(outbox.len(), expected, "one event per session created and per removal");
    let streamed_before = streamed.len();
    let mut stream = Stream::open(server.port, "/events", &token, streamed.last().copied().or(Some(0)));
    assert_eq!(stream.status, 200, "the stream resumes after the promotion");
    let mut resumptions = 0;
    while streamed.len() < expected && resumptions < 3 {
        match stream.next(Duration::from_secs(5)) {
            Some(Frame::Event { id, .. }) => streamed.push(id),
            Some(Frame::Comment(_)) => {}
            // The stream ended or stalled: resume after the last event seen.
            other => {
                eprintln!(
                    "failover run {run}: the live stream gave {other:?} after {} events; resuming",
                    streamed.len()
                );
                resumptions += 1;
                stream.close();
                stream = Stream::open(server.port, "/events", &token, streamed.last().copied().or(Some(0)));
                assert_eq!(stream.status, 200, "the stream resumes");
            }
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(60),
            "the stream got {} of {expected} events",
            streamed.len()
        );
    }
    let unseen: Vec<&u64> = outbox.iter().filter(|id| !streamed.contains(id)).collect();
    let unknown: Vec<&u64> = streamed.iter().filter(|id| !outbox.contains(id)).collect();
    assert!(
        unseen.is_empty() && unknown.is_empty(),
        "the stream missed {unseen:?} of the outbox and saw {unknown:?} that it does not hold; streamed {streamed:?}"
    );
    assert!(streamed.windows(2).all(|pair| pair[0] < pair[1]), "event numbers increase: {streamed:?}");
    assert_eq!(streamed, outbox, "the stream saw every event of the outbox, once, in order");
    let expected_ids: BTreeSet<String> = outbox.iter().map(|id| format!("evt_{id}")).collect();
    let delivery_deadline = promoted + FAILOVER_DELIVERY;
    let received =
        receiver.wait_until(delivery_deadline.saturating_duration_since(Instant::now()), |received| {
            let delivered: BTreeSet<&str> = received
                .iter()
                .filter(|r| (200..300).contains(&r.answered))
                .filter_map(|r| r.header("webhook-id"))
                .collect();
            expected_ids.iter().all(|id| delivered.contains(id.as_str()))
        });
    let delivered: BTreeSet<String> = received
        .iter()
        .filter(|r| (200..300).contains(&r.answered))
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect();
    let delivered_after = promoted.elapsed();
    let missing: Vec<&String> = expected_ids.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "{} events not delivered within {FAILOVER_DELIVERY:?} of the promotion: {missing:?}",
        missing.len()
    );
    eprintln!(
        "failover run {run}: {gone} members gone, {} events streamed ({streamed_before} before the kill, the rest after \
         resuming), all delivered {delivered_after:?} after the promotion ({} deliveries in all)",
        outbox.len(),
        received.len()
    );
    stream.close();
    drop(server);
    drop(standby);
    drop(primary);
}
