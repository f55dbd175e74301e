//! What the tests share: an HTTP receiver on a free 127.0.0.1 port, an in-memory outbox
//! that keeps the [`DeliveryQueue`] promises (leases, per-session order), a clock the test
//! moves, and a renderer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};
use evo_domain::{
    AccountId, Actor, Channel, Direction, EventType, MemberIdentity, NewMember, NewSession, Session,
    SessionDetails, SessionEvent, SessionId, Timestamp,
};
use evo_ports::{
    Clock, DeliveryCounts, DeliveryQueue, EventId, EventRenderer, PendingDelivery, RepositoryError,
    StoredEvent,
};
use evo_webhooks::{WebhookConfig, WebhookSecret};

/// A test-only signing secret (24 bytes).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn secret() -> WebhookSecret {
    WebhookSecret::parse(SECRET).unwrap()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// The receiver

/// One request as the receiver read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id").unwrap_or_default()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// The request's headers as an `http::HeaderMap`, for the standard verifier.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in &self.headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }
}

/// What the receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self { status, body: String::new(), delay: Duration::ZERO }
    }

    pub fn json(status: u16, body: &str) -> Self {
        Self { status, body: body.to_owned(), delay: Duration::ZERO }
    }

    pub fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

type Script = Arc<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

/// An HTTP/1.1 server on a free 127.0.0.1 port: answers each request as its script says
/// (given the request and how many came before it) and keeps every request, in arrival order.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn start() -> Self {
        Self::answering(|_, _| Reply::status(200))
    }

    pub fn answering(script: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/evo", listener.local_addr().unwrap());
        let receiver = Self {
            url,
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(Arc::new(script))),
        };
        let server = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        receiver
    }

    /// Answers from now on as `script` says.
    pub fn set_script(&self, script: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) {
        *lock(&self.script) = Arc::new(script);
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.received).clone()
    }

    /// The `webhook-id`s received, in arrival order.
    pub fn ids(&self) -> Vec<String> {
        self.received().iter().map(|request| request.webhook_id().to_owned()).collect()
    }

    /// Waits (at most `patience`) until `count` requests have arrived.
    pub fn wait_for(&self, count: usize, patience: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count || started.elapsed() > patience {
                return received;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Received { method, path, headers, body };
        let index = {
            let mut received = lock(&self.received);
            received.push(request.clone());
            received.len() - 1
        };
        let script = Arc::clone(&lock(&self.script));
        let reply = script(&request, index);
        std::thread::sleep(reply.delay);
        let mut stream = stream;
        let answer = format!(
            "HTTP/1.1 {} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            reply.status,
            reply.body.len(),
            reply.body
        );
        let _ = stream.write_all(answer.as_bytes());
        let _ = stream.flush();
    }
}

/// A URL on which nothing listens.
pub fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/hooks/evo")
}

// ---------------------------------------------------------------------------------------
// The clock

/// A clock that moves only when told.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap())))
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += TimeDelta::from_std(by).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock(&self.0)
    }
}

pub fn after(at: Timestamp, seconds: i64) -> Timestamp {
    at + TimeDelta::seconds(seconds)
}

// ---------------------------------------------------------------------------------------
// The outbox

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Delivered,
    Dead,
}

/// One event as the fake outbox keeps it.
#[derive(Debug, Clone)]
pub struct Row {
    pub event: StoredEvent,
    pub created: Timestamp,
    pub state: State,
    pub attempts: u32,
    pub pending_since: Timestamp,
    pub next_attempt_at: Timestamp,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// The outbox in memory, keeping the port's promises: a claim takes due, unleased pending
/// events whose session has no earlier pending event, and leases them.
#[derive(Debug, Default)]
pub struct FakeQueue {
    rows: Mutex<BTreeMap<EventId, Row>>,
    next_id: Mutex<EventId>,
    /// Every call fails with `Unavailable` while set.
    pub failing: AtomicBool,
    /// A claim may also take a session's later events behind an event it takes (as a store
    /// that claims a session's run of events at once would): the worker must still send
    /// them one after the other.
    pub runs_per_session: AtomicBool,
    /// The `limit` of each purge call.
    pub purges: Mutex<Vec<u64>>,
    /// The ids of each `mark_delivered` call.
    pub marks_delivered: Mutex<Vec<Vec<EventId>>>,
    /// The new end of each lease renewal asked for.
    pub renewals: Mutex<Vec<Timestamp>>,
}

impl FakeQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Commits an event of `session` at `now`; returns its id.
    pub fn commit(&self, session: &str, now: Timestamp) -> EventId {
        let id = {
            let mut next = lock(&self.next_id);
            *next += 1;
            *next
        };
        let body = StoredEvent::body_with_id(
            id,
            &format!(r#"{{"type":"ChatMemberAdded","accountId":"acme","sessionId":"{session}"}}"#),
        );
        let event = StoredEvent {
            id,
            event_type: EventType::ChatMemberAdded,
            account_id: "acme".into(),
            session_id: session.into(),
            body,
        };
        let row = Row {
            event,
            created: now,
            state: State::Pending,
            attempts: 0,
            pending_since: now,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            delivered_at: None,
        };
        lock(&self.rows).insert(id, row);
        id
    }

    /// Puts an event in a given state directly (for retention tests).
    pub fn set_state(&self, id: EventId, state: State) {
        lock(&self.rows).get_mut(&id).unwrap().state = state;
    }

    pub fn row(&self, id: EventId) -> Row {
        lock(&self.rows).get(&id).cloned().unwrap()
    }

    pub fn state(&self, id: EventId) -> State {
        self.row(id).state
    }

    pub fn ids(&self) -> Vec<EventId> {
        lock(&self.rows).keys().copied().collect()
    }

    fn check(&self) -> Result<(), RepositoryError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(RepositoryError::Unavailable("the test store is down".into()))
        } else {
            Ok(())
        }
    }

    fn update(&self, id: EventId, change: impl FnOnce(&mut Row)) -> Result<(), RepositoryError> {
        self.check()?;
        let mut rows = lock(&self.rows);
        let row = rows.get_mut(&id).ok_or_else(|| RepositoryError::Internal(format!("no event {id}")))?;
        change(row);
        Ok(())
    }
}

#[async_trait]
impl DeliveryQueue for FakeQueue {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, RepositoryError> {
        self.check()?;
        let runs = self.runs_per_session.load(Ordering::SeqCst);
        let mut rows = lock(&self.rows);
        let mut blocked: Vec<String> = Vec::new();
        let mut claimed = Vec::new();
        for row in rows.values_mut().filter(|row| row.state == State::Pending) {
            let session = row.event.session_id.clone();
            if blocked.contains(&session) {
                continue;
            }
            let due = row.next_attempt_at <= now && row.lease_until.is_none_or(|lease| lease <= now);
            if !due || claimed.len() >= limit as usize {
                // An earlier pending event of the session that is not handed out holds back
                // every later one.
                blocked.push(session);
                continue;
            }
            row.lease_until = Some(lease_until);
            claimed.push(PendingDelivery {
                event: row.event.clone(),
                attempts: row.attempts,
                pending_since: row.pending_since,
            });
            if !runs {
                blocked.push(session);
            }
        }
        Ok(claimed)
    }

    async fn renew_lease(
        &self,
        ids: &[EventId],
        held_until: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<EventId>, RepositoryError> {
        self.check()?;
        lock(&self.renewals).push(lease_until);
        let mut rows = lock(&self.rows);
        Ok(ids
            .iter()
            .filter(|id| {
                rows.get_mut(id)
                    .filter(|row| row.state == State::Pending && row.lease_until == Some(held_until))
                    .map(|row| row.lease_until = Some(lease_until))
                    .is_some()
            })
            .copied()
            .collect())
    }

    async fn mark_delivered(&self, ids: &[EventId], now: Timestamp) -> Result<(), RepositoryError> {
        self.check()?;
        lock(&self.marks_delivered).push(ids.to_vec());
        for &id in ids {
            self.update(id, |row| {
                row.state = State::Delivered;
                row.lease_until = None;
                row.delivered_at = Some(now);
            })?;
        }
        Ok(())
    }

    async fn mark_retry(
        &self,
        id: EventId,
        attempts: u32,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), RepositoryError> {
        self.update(id, |row| {
            row.attempts = attempts;
            row.next_attempt_at = next_attempt_at;
            row.lease_until = None;
            row.last_error = Some(error.to_owned());
        })
    }

    async fn mark_dead(&self, id: EventId, attempts: u32, error: &str) -> Result<(), RepositoryError> {
        self.update(id, |row| {
            row.state = State::Dead;
            row.attempts = attempts;
            row.lease_until = None;
            row.last_error = Some(error.to_owned());
        })
    }

    async fn redeliver_dead(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        self.check()?;
        let mut count = 0;
        for row in lock(&self.rows).values_mut().filter(|row| row.state == State::Dead) {
            row.state = State::Pending;
            row.attempts = 0;
            row.pending_since = now;
            row.next_attempt_at = now;
            row.lease_until = None;
            count += 1;
        }
        Ok(count)
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, RepositoryError> {
        self.check()?;
        let rows = lock(&self.rows);
        let count = |state| rows.values().filter(|row| row.state == state).count() as u64;
        Ok(DeliveryCounts { pending: count(State::Pending), dead: count(State::Dead) })
    }

    async fn purge_dead_letters(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        self.check()?;
        let mut rows = lock(&self.rows);
        let old: Vec<EventId> = rows
            .iter()
            .filter(|(_, row)| row.state == State::Dead && row.created < before)
            .map(|(id, _)| *id)
            .take(limit as usize)
            .collect();
        for id in &old {
            rows.remove(id);
        }
        Ok(old.len() as u64)
    }

    async fn purge_settled_events(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        self.check()?;
        lock(&self.purges).push(u64::from(limit));
        let mut rows = lock(&self.rows);
        let doomed: Vec<EventId> = rows
            .values()
            .filter(|row| row.state == State::Delivered && row.created < before)
            .map(|row| row.event.id)
            .take(limit as usize)
            .collect();
        for id in &doomed {
            rows.remove(id);
        }
        Ok(doomed.len() as u64)
    }
}

// ---------------------------------------------------------------------------------------
// Configuration, events, rendering

/// Delivery to `url` with the defaults, polling briskly.
pub fn config(url: &str) -> WebhookConfig {
    let mut config = WebhookConfig::new(url, secret()).unwrap();
    config.poll_interval = Duration::from_millis(20);
    config.counts_interval = Duration::from_millis(20);
    config
}

/// Renders the fields the tests look at.
#[derive(Debug)]
pub struct TestRenderer;

impl EventRenderer for TestRenderer {
    fn render(&self, event: &SessionEvent) -> String {
        serde_json::json!({
            "type": event.event_type.name(),
            "accountId": event.account_id.as_str(),
            "sessionId": event.session_id.as_str(),
            "actor": { "userId": event.actor.user_id, "name": event.actor.name },
        })
        .to_string()
    }
}

/// A would-be removal's event.
pub fn removing() -> SessionEvent {
    let actor = Actor {
        user_id: "ann@example.com".into(),
        name: "Ann".into(),
        roles: vec!["User".into()],
        account_ids: vec![AccountId::parse("acme").unwrap()],
    };
    let session = Session::open(
        SessionId::parse("s-1").unwrap(),
        NewSession {
            account_id: AccountId::parse("acme").unwrap(),
            channel: Channel::Chat,
            direction: Direction::Incoming,
            details: SessionDetails::default(),
            members: vec![
                NewMember::new(MemberIdentity::parse("+15551234567").unwrap()),
                NewMember::new(MemberIdentity::parse("bob@example.com").unwrap()),
            ],
        },
        &actor,
        Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap(),
    )
    .unwrap();
    let mut event = SessionEvent::session_created(&session, &actor);
    event.event_type = EventType::ChatMemberRemoving;
    event.member = Some(session.members[1].clone());
    event
}
