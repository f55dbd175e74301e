//! The outbox both stores write (contract section 11): each change's event is a row of
//! `session_events`, written in the change's own transaction. What the event says is the
//! domain's ([`SessionEvent`]); how its body looks is the edge's ([`EventRenderer`]); this
//! module turns one into the row both stores insert, and rows read back into events.

use std::sync::Arc;

use diesel::Queryable;
use evo_domain::{EventType, Session, SessionChange, SessionError, SessionEvent, Timestamp};
use evo_ports::{EventId, EventRenderer, PendingDelivery, StoredEvent};

use crate::CorruptRow;

/// `session_events.delivery`: what the webhook worker still has to do with an event.
pub mod delivery {
    /// No webhook is configured: nothing to deliver (kept for live streams until retention).
    pub const NONE: i16 = 0;
    /// Waiting for delivery, or for its next attempt.
    pub const PENDING: i16 = 1;
    /// Delivered (a 2xx answer).
    pub const DELIVERED: i16 = 2;
    /// Dead letter: the retry window passed; kept until redelivered.
    pub const DEAD: i16 = 3;

    /// The dead letters, as SQL with the state written out: a partial index
    /// (`session_events_dead_idx`) is matched only against constants, never a parameter.
    pub const IS_DEAD: &str = "delivery = 3";

    /// The pending and dead-letter gauges, each counted on its partial index
    /// (`session_events_pending_idx`, `session_events_dead_idx`): the same SQL on both stores.
    pub const COUNTS_SQL: &str = "SELECT (SELECT count(*) FROM session_events WHERE delivery = 1) AS pending, \
                                  (SELECT count(*) FROM session_events WHERE delivery = 3) AS dead";

    /// A row of [`COUNTS_SQL`].
    #[derive(Debug, diesel::QueryableByName)]
    pub struct CountsRow {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        pending: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        dead: i64,
    }

    impl From<CountsRow> for evo_ports::DeliveryCounts {
        fn from(row: CountsRow) -> Self {
            Self { pending: row.pending.max(0) as u64, dead: row.dead.max(0) as u64 }
        }
    }
}

/// How a store makes the outbox rows of its changes.
#[derive(Clone)]
pub struct Outbox {
    renderer: Arc<dyn EventRenderer>,
    to_webhook: bool,
    /// The largest a session may be, in the renderer's bytes; `None`: no limit.
    max_session_bytes: Option<usize>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("to_webhook", &self.to_webhook).finish_non_exhaustive()
    }
}

impl Default for Outbox {
    /// Events with a [`SummaryRenderer`] body, none for a webhook: for tools and store tests
    /// that have no edge; the service always sets the wire renderer.
    fn default() -> Self {
        Self::new(Arc::new(SummaryRenderer), false)
    }
}

/// Renders an event as a short JSON summary (`type`, `accountId`, `sessionId`, `version`):
/// enough to tell events apart where the wire body does not matter.
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryRenderer;

impl EventRenderer for SummaryRenderer {
    fn render(&self, event: &SessionEvent) -> String {
        serde_json::json!({
            "type": event.event_type.name(),
            "accountId": event.account_id.as_str(),
            "sessionId": event.session_id.as_str(),
            "version": event.session.version,
        })
        .to_string()
    }
}

impl Outbox {
    /// Whether new events wait for webhook delivery.
    pub fn to_webhook(&self) -> bool {
        self.to_webhook
    }

    /// Events rendered by `renderer`; `to_webhook`: each new event waits for webhook delivery.
    pub fn new(renderer: Arc<dyn EventRenderer>, to_webhook: bool) -> Self {
        Self { renderer, to_webhook, max_session_bytes: None }
    }

    /// Refuses changes that would make a session larger than `max_bytes`, as the renderer
    /// measures it ([`EventRenderer::session_size`]).
    #[must_use]
    pub fn with_session_limit(mut self, max_bytes: usize) -> Self {
        self.max_session_bytes = Some(max_bytes);
        self
    }

    /// Refuses `change` when it leaves `after` over the size limit (the domain says which
    /// changes are exempt); `event` is the change's outbox row, whose body bounds the size
    /// cheaply: the session is measured exactly only when that bound passes the limit.
    pub fn check_size(
        &self,
        after: &Session,
        change: &SessionChange,
        event: &EventRecord,
    ) -> Result<(), SessionError> {
        match self.max_session_bytes {
            Some(max_bytes) if self.renderer.session_size_bound(after, &event.body) > max_bytes => {
                change.check_size(self.renderer.session_size(after), max_bytes)
            }
            _ => Ok(()),
        }
    }

    /// Refuses a new session over the size limit; `event` is its `SessionCreated` row.
    pub fn check_new_session(&self, session: &Session, event: &EventRecord) -> Result<(), SessionError> {
        match self.max_session_bytes {
            Some(max_bytes)
                if self.renderer.session_size_bound(session, &event.body) > max_bytes
                    && self.renderer.session_size(session) > max_bytes =>
            {
                Err(SessionError::SessionTooLarge { max_bytes })
            }
            _ => Ok(()),
        }
    }

    /// The row of `event`.
    pub fn record(&self, event: &SessionEvent) -> EventRecord {
        EventRecord {
            account_id: event.account_id.as_str().to_owned(),
            session_id: event.session_id.as_str().to_owned(),
            event_type: event.event_type.name(),
            body: self.renderer.render(event),
            created_at: event.date,
            delivery: if self.to_webhook { delivery::PENDING } else { delivery::NONE },
        }
    }
}

/// One new row of `session_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The session's account.
    pub account_id: String,
    /// The session.
    pub session_id: String,
    /// [`EventType::name`].
    pub event_type: &'static str,
    /// The rendered body, without its `id`.
    pub body: String,
    /// The change's time.
    pub created_at: Timestamp,
    /// A [`delivery`] state.
    pub delivery: i16,
}

/// A numbered `session_events` row, read back: `id, event_type, account_id, session_id, body`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct EventRow {
    /// The event's number.
    pub id: i64,
    /// [`EventType::name`].
    pub event_type: String,
    /// The session's account.
    pub account_id: String,
    /// The session.
    pub session_id: String,
    /// The body without its `id`.
    pub body: String,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = CorruptRow;

    fn try_from(row: EventRow) -> Result<Self, CorruptRow> {
        let corrupt =
            |column, problem: String| CorruptRow { session: row.session_id.clone(), column, problem };
        let id = EventId::try_from(row.id).map_err(|_| corrupt("id", format!("negative: {}", row.id)))?;
        let event_type = EventType::from_name(&row.event_type)
            .ok_or_else(|| corrupt("event_type", format!("unknown: {}", row.event_type)))?;
        Ok(Self {
            id,
            event_type,
            body: StoredEvent::body_with_id(id, &row.body),
            account_id: row.account_id,
            session_id: row.session_id,
        })
    }
}

/// A row due for delivery: [`EventRow`]'s columns, then `attempts, pending_since`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct PendingRow {
    /// The event.
    #[diesel(embed)]
    pub event: EventRow,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Since when it waits.
    pub pending_since: Timestamp,
}

impl TryFrom<PendingRow> for PendingDelivery {
    type Error = CorruptRow;

    fn try_from(row: PendingRow) -> Result<Self, CorruptRow> {
        Ok(Self {
            event: row.event.try_into()?,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            pending_since: row.pending_since,
        })
    }
}

/// `PendingSqlRow`: a [`PendingRow`] as `diesel::sql_query` loads it (by column name: `id,
/// event_type, account_id, session_id, body, attempts, pending_since`), for a store whose
/// timestamps are the SQL type `$stamp`; `From` makes it a [`PendingRow`].
#[macro_export]
macro_rules! pending_sql_row {
    ($stamp:ty) => {
        #[derive(::diesel::QueryableByName)]
        struct PendingSqlRow {
            #[diesel(sql_type = ::diesel::sql_types::BigInt)]
            id: i64,
            #[diesel(sql_type = ::diesel::sql_types::Text)]
            event_type: String,
            #[diesel(sql_type = ::diesel::sql_types::Text)]
            account_id: String,
            #[diesel(sql_type = ::diesel::sql_types::Text)]
            session_id: String,
            #[diesel(sql_type = ::diesel::sql_types::Text)]
            body: String,
            #[diesel(sql_type = ::diesel::sql_types::Integer)]
            attempts: i32,
            #[diesel(sql_type = $stamp)]
            pending_since: ::evo_domain::Timestamp,
        }

        impl From<PendingSqlRow> for $crate::PendingRow {
            fn from(row: PendingSqlRow) -> Self {
                let event = $crate::EventRow {
                    id: row.id,
                    event_type: row.event_type,
                    account_id: row.account_id,
                    session_id: row.session_id,
                    body: row.body,
                };
                Self { event, attempts: row.attempts, pending_since: row.pending_since }
            }
        }
    };
}

/// The most bytes of event bodies one read of `EventLog::events_after` returns (more only when
/// a single event is larger): a replay reads in pages of at most this.
pub const MAX_EVENTS_PAGE_BYTES: usize = 1 << 20;

diesel::define_sql_function! {
    /// The bytes of a text (PostgreSQL, and SQLite from 3.43).
    fn octet_length(text: diesel::sql_types::Text) -> diesel::sql_types::Integer;
}

/// How many of the events whose bodies are `sizes` bytes (in order) fit in one page of
/// [`MAX_EVENTS_PAGE_BYTES`]: at least one.
pub fn events_within_page(sizes: impl IntoIterator<Item = i32>) -> u32 {
    let mut total = 0usize;
    let mut count = 0u32;
    for size in sizes {
        total += usize::try_from(size).unwrap_or(0);
        if count > 0 && total > MAX_EVENTS_PAGE_BYTES {
            break;
        }
        count += 1;
    }
    count
}

/// The query of `EventLog::events_after` on the `session_events` table module `$t`, boxed:
/// the events numbered after `$after`, oldest first, at most `$limit`, among those
/// `$filter` (an `&EventFilter`) lets through, selecting `$select`.
#[macro_export]
macro_rules! events_after_query {
    ($t:ident, $after:expr, $filter:expr, $limit:expr, $select:expr) => {{
        use ::diesel::{ExpressionMethods as _, QueryDsl as _};
        let mut query = $t::table
            .filter($t::id.gt($after))
            .order($t::id)
            .limit(i64::from($limit))
            .select($select)
            .into_boxed();
        match $filter {
            ::evo_ports::EventFilter::Session { account_id, session_id } => {
                query = query
                    .filter($t::account_id.eq(account_id.as_str().to_owned()))
                    .filter($t::session_id.eq(session_id.as_str().to_owned()));
            }
            ::evo_ports::EventFilter::Accounts(accounts) => {
                let accounts: Vec<String> = accounts.iter().map(|a| a.as_str().to_owned()).collect();
                query = query.filter($t::account_id.eq_any(accounts));
            }
            ::evo_ports::EventFilter::All => {}
        }
        query
    }};
}

/// The `session_events` columns of an [`EventRow`], as a select clause.
#[macro_export]
macro_rules! event_columns {
    ($t:ident) => {
        ($t::id, $t::event_type, $t::account_id, $t::session_id, $t::body)
    };
}

/// The insert values of an [`EventRecord`] for the `session_events` table `$t`.
#[macro_export]
macro_rules! event_values {
    ($t:ident, $e:expr) => {{
        use ::diesel::ExpressionMethods as _;
        let e: $crate::EventRecord = $e;
        (
            $t::account_id.eq(e.account_id),
            $t::session_id.eq(e.session_id),
            $t::event_type.eq(e.event_type),
            $t::body.eq(e.body),
            $t::created_at.eq(e.created_at),
            $t::delivery.eq(e.delivery),
            $t::pending_since.eq(e.created_at),
            $t::next_attempt_at.eq(e.created_at),
        )
    }};
}

/// This instance's news of the outbox: the highest event number it knows to be readable.
/// Commits made here raise it at once; a store's cross-instance notifications raise it too.
/// Live streams wait on it instead of polling the store.
#[derive(Debug, Clone)]
pub struct EventSignal(Arc<tokio::sync::watch::Sender<EventId>>);

impl Default for EventSignal {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl EventSignal {
    /// Events up to `id` are readable.
    pub fn raise(&self, id: EventId) {
        self.0.send_if_modified(|known| {
            let newer = id > *known;
            if newer {
                *known = id;
            }
            newer
        });
    }

    /// Wakes every waiter, whatever the number: something may have changed (used where a
    /// notification does not say how far).
    pub fn poke(&self) {
        self.0.send_modify(|_| {});
    }

    /// Returns once an event above `after` is known, or something poked, or `patience`
    /// passed; with the highest number known then.
    pub async fn wait_after(&self, after: EventId, patience: std::time::Duration) -> EventId {
        let mut news = self.0.subscribe();
        let known = *news.borrow_and_update();
        if known > after || patience.is_zero() {
            return known;
        }
        let _ = tokio::time::timeout(patience, news.changed()).await;
        *news.borrow()
    }
}
