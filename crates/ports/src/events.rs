//! Events (docs/api.md, "Events"): how a store keeps each change's event in the change's own
//! transaction (the outbox), how outlets read it back (live streams, webhooks), and the
//! pre-removal hook that may veto a removal before it is made.

use async_trait::async_trait;
use evo_domain::{AccountId, EventType, Session, SessionEvent, SessionId, Timestamp};

use crate::errors::RepositoryError;

/// Renders an event as its wire body, so that a store can keep it in the change's own
/// transaction (the edge knows the wire format; the store does not). The body is a JSON
/// object without its `id`, which the store assigns: see [`StoredEvent::body`].
pub trait EventRenderer: Send + Sync + 'static {
    /// `event` as a JSON object, without the `id` member.
    fn render(&self, event: &SessionEvent) -> String;

    /// How many bytes `session` takes on the wire, whole (log and members included): what a
    /// session's size limit is measured in. `0` where the renderer does not know the wire
    /// (such a store has no size limit).
    fn session_size(&self, _session: &Session) -> usize {
        0
    }

    /// At least [`session_size`](Self::session_size), found cheaply from `rendered_event`,
    /// the body this renderer just rendered for the change that left `session` so: a store
    /// measures exactly only when this passes its limit.
    fn session_size_bound(&self, session: &Session, _rendered_event: &str) -> usize {
        self.session_size(session)
    }
}

/// An event's number: unique, and greater for every later event of the same session; the
/// order of the numbers is the order in which events become readable, so that a reader that
/// has seen every event up to `n` never meets one below `n` later (no gap on resume).
pub type EventId = u64;

/// An event as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its number.
    pub id: EventId,
    /// What happened.
    pub event_type: EventType,
    /// The session's account.
    pub account_id: String,
    /// The session.
    pub session_id: String,
    /// The complete JSON body, `id` first.
    pub body: String,
}

impl StoredEvent {
    /// Puts the `id` member at the front of a body rendered by an [`EventRenderer`].
    pub fn body_with_id(id: EventId, rendered: &str) -> String {
        let rest = rendered.strip_prefix('{').unwrap_or(rendered).trim_start();
        if rest.starts_with('}') {
            format!("{{\"id\":\"{id}\"{rest}")
        } else {
            format!("{{\"id\":\"{id}\",{rest}")
        }
    }
}

/// Which events a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// One session's events (already checked visible to the reader).
    Session {
        /// The session's account.
        account_id: AccountId,
        /// The session.
        session_id: SessionId,
    },
    /// Events of sessions of these accounts.
    Accounts(Vec<AccountId>),
    /// Every event (a reader that sees every account).
    All,
}

impl EventFilter {
    /// Whether `event` passes.
    pub fn admits(&self, event: &StoredEvent) -> bool {
        match self {
            Self::Session { account_id, session_id } => {
                session_id.as_str() == event.session_id && account_id.as_str() == event.account_id
            }
            Self::Accounts(accounts) => accounts.iter().any(|account| account.as_str() == event.account_id),
            Self::All => true,
        }
    }
}

/// Reading the outbox back, for live streams.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// At most `limit` readable events numbered above `after` that `filter` admits, in order.
    async fn events_after(
        &self,
        after: EventId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, RepositoryError>;

    /// The number of the newest readable event (0 when there is none).
    async fn last_event_id(&self) -> Result<EventId, RepositoryError>;

    /// Waits until an event numbered above `after` may be readable, or `patience` passes
    /// (a hint, not a promise: readers read again either way); returns the highest number
    /// this instance knows to be readable. Wake-ups come from this instance's own commits
    /// and, across instances, from the store's notifications.
    async fn wait_for_events_after(&self, after: EventId, patience: std::time::Duration) -> EventId;
}

/// An event due for delivery to the webhook, with how often it was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The event.
    pub event: StoredEvent,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the event was committed (or sent back to delivery by a redelivery): retries
    /// stop once the retry window since then has passed.
    pub pending_since: Timestamp,
}

/// The outbox as the webhook worker sees it. Each pending event is worked on by one worker
/// at a time (a lease, short and renewed while the work goes on, so that the events of a
/// worker that died go to another within one lease), and an event waits until its session's earlier events are delivered
/// or dead-lettered.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DeliveryQueue: Send + Sync + 'static {
    /// Takes up to `limit` events due at `now` whose session has no earlier pending event,
    /// leasing each until `lease_until` (no other worker takes it before then).
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, RepositoryError>;

    /// Extends the lease of those of `ids` still leased until `held_until` (the claim's own
    /// lease, or its last renewal) to `lease_until`; returns the ids renewed. An event whose
    /// attempt was recorded, or whose lease lapsed and was claimed by another worker, is not
    /// renewed: the lease's end is the claim's token.
    async fn renew_lease(
        &self,
        ids: &[EventId],
        held_until: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<EventId>, RepositoryError>;

    /// These events were delivered (one statement for a worker's whole batch: a commit per
    /// event would cost the database a WAL flush each).
    async fn mark_delivered(&self, ids: &[EventId], now: Timestamp) -> Result<(), RepositoryError>;

    /// The attempt failed: try again at `next_attempt_at`.
    async fn mark_retry(
        &self,
        id: EventId,
        attempts: u32,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), RepositoryError>;

    /// The retry window passed: keep the event as a dead letter.
    async fn mark_dead(&self, id: EventId, attempts: u32, error: &str) -> Result<(), RepositoryError>;

    /// Sends every dead letter back to delivery (a fresh retry window from `now`); returns
    /// how many.
    async fn redeliver_dead(&self, now: Timestamp) -> Result<u64, RepositoryError>;

    /// How many events wait for delivery, and how many are dead letters.
    async fn delivery_counts(&self) -> Result<DeliveryCounts, RepositoryError>;

    /// Deletes at most `limit` events created before `before` that need no more delivery
    /// (delivered, or never to be delivered); returns how many (call again while it returns
    /// `limit`). Pending events and dead letters are kept.
    async fn purge_settled_events(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError>;

    /// Deletes at most `limit` dead letters created before `before`; returns how many (call
    /// again while it returns `limit`).
    async fn purge_dead_letters(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError>;
}

/// The outbox's delivery state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Waiting for delivery (including those being retried).
    pub pending: u64,
    /// Dead letters.
    pub dead: u64,
}

/// What the pre-removal hook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookVerdict {
    /// 2xx: go on.
    Allow,
    /// 4xx: refuse, with the hook's message when it gave one.
    Refuse(Option<String>),
    /// No answer in time, a 5xx or a transport failure (the detail is for the log).
    Failed(String),
}

/// Asks an outside service whether a removal may go ahead (docs/api.md, "The pre-removal
/// hook"). Called
/// before any lock is taken.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RemovalHook: Send + Sync + 'static {
    /// Posts the would-be `ChatMemberRemoving` event and reads the verdict.
    async fn ask(&self, removing: &SessionEvent) -> HookVerdict;
}
