//! The outbox both stores write (docs/api.md, "Events"): each change's event is a row of
//! `session_events`, written in the change's own transaction. What the event says is the
//! domain's ([`SessionEvent`]); how its body looks is the edge's ([`EventRenderer`]); this
//! module turns one into the row both stores insert, and rows read back into events.

use std::sync::Arc;

use diesel::dsl::AssumeNotNull;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sqlite::Sqlite;
use evo_domain::{EventType, Session, SessionChange, SessionError, SessionEvent, Timestamp};
use evo_ports::{EventId, EventRenderer, PendingDelivery, StoredEvent};

use crate::schema::session_events;
use crate::{CorruptRow, TimestampValue};

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

/// The insert of an [`EventRecord`] by the query builder: new events are pending (or not) since
/// their change, and due at once.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = session_events, check_for_backend(Pg, Sqlite))]
pub struct NewEvent<'a> {
    #[allow(missing_docs)]
    pub account_id: &'a str,
    #[allow(missing_docs)]
    pub session_id: &'a str,
    #[allow(missing_docs)]
    pub event_type: &'static str,
    #[allow(missing_docs)]
    pub body: &'a str,
    #[allow(missing_docs)]
    pub created_at: TimestampValue,
    #[allow(missing_docs)]
    pub delivery: i16,
    #[allow(missing_docs)]
    pub pending_since: TimestampValue,
    #[allow(missing_docs)]
    pub next_attempt_at: TimestampValue,
}

impl EventRecord {
    /// This row as the query builder inserts it.
    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            account_id: &self.account_id,
            session_id: &self.session_id,
            event_type: self.event_type,
            body: &self.body,
            created_at: self.created_at.into(),
            delivery: self.delivery,
            pending_since: self.created_at.into(),
            next_attempt_at: self.created_at.into(),
        }
    }
}

/// A numbered `session_events` row, read back: by the query builder (`EventRow::as_select()`)
/// or by column name from hand-written SQL.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = session_events, check_for_backend(Pg, Sqlite))]
pub struct EventRow {
    /// The event's number (read only from numbered rows).
    #[diesel(select_expression = session_events::id.assume_not_null())]
    #[diesel(select_expression_type = AssumeNotNull<session_events::id>)]
    #[diesel(sql_type = BigInt)]
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

/// A row due for delivery, as the claims' hand-written SQL reads it (by column name: `id,
/// event_type, account_id, session_id, body, attempts, pending_since`).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
#[diesel(table_name = session_events, check_for_backend(Pg, Sqlite))]
pub struct PendingRow {
    /// The event.
    #[diesel(embed)]
    pub event: EventRow,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Since when it waits.
    pub pending_since: TimestampValue,
}

impl TryFrom<PendingRow> for PendingDelivery {
    type Error = CorruptRow;

    fn try_from(row: PendingRow) -> Result<Self, CorruptRow> {
        Ok(Self {
            event: row.event.try_into()?,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            pending_since: row.pending_since.into(),
        })
    }
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

/// What this instance knows of the outbox: the highest event number it knows to be readable.
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
        let mut numbers = self.0.subscribe();
        let known = *numbers.borrow_and_update();
        if known > after || patience.is_zero() {
            return known;
        }
        let _ = tokio::time::timeout(patience, numbers.changed()).await;
        *numbers.borrow()
    }
}

/// How many due events one claim takes from one account before it turns to the next: an
/// account's backlog cannot fill a claim while another account waits.
pub const EVENTS_PER_ACCOUNT_TURN: u32 = 4;
/// How many accounts one claim looks at, at most (the next claim goes on from there).
pub const ACCOUNTS_PER_CLAIM: usize = 64;

/// The order in which a claim visits the accounts that have pending events: in account order
/// from just after the account the previous claim ended with, wrapping round, so that every
/// account gets its turn (docs/operations.md, "Fair delivery"); a round that claimed anything
/// is followed by another while the claim has room. The store finds each next account (the
/// first with a pending event after [`after`](Self::after), and not past
/// [`up_to`](Self::up_to) when there is one), asks [`next`](Self::next) what to do with it, and
/// says how many events it [`claimed`](Self::claimed) there. Every comparison of accounts is
/// the store's (its collation), none is made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTurns {
    start: String,
    after: String,
    wrapped: bool,
    visited: usize,
    claimed_this_round: usize,
}

/// What a claim does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Claim up to [`EVENTS_PER_ACCOUNT_TURN`] due events of this account.
    Claim(String),
    /// Look for the next account again (the round wrapped to the first account).
    LookAgain,
    /// Every account had its turn, or enough were looked at.
    Done,
}

impl AccountTurns {
    /// A round that starts after `start` (the account the previous claim ended with; empty:
    /// from the first).
    pub fn after_account(start: String) -> Self {
        Self { after: start.clone(), start, wrapped: false, visited: 0, claimed_this_round: 0 }
    }

    /// The last [`Turn::Claim`] took `count` events.
    pub fn claimed(&mut self, count: usize) {
        self.claimed_this_round += count;
    }

    /// The account after which the next account is looked for.
    pub fn after(&self) -> &str {
        &self.after
    }

    /// The last account the next one may be (once the round wrapped: the round's start).
    pub fn up_to(&self) -> Option<&str> {
        self.wrapped.then_some(self.start.as_str())
    }

    /// What to do with `found`, the first account with a pending event after
    /// [`after`](Self::after) and up to [`up_to`](Self::up_to) (`None`: there is none).
    pub fn next(&mut self, found: Option<String>) -> Turn {
        if self.visited >= ACCOUNTS_PER_CLAIM {
            return Turn::Done;
        }
        match found {
            None if self.wrapped || self.start.is_empty() => self.round_over(),
            None => {
                self.wrapped = true;
                self.after.clear();
                Turn::LookAgain
            }
            Some(account) => {
                self.visited += 1;
                self.after.clone_from(&account);
                Turn::Claim(account)
            }
        }
    }

    /// Every account had its turn: another round if this one claimed anything (the caller
    /// stops when it has enough), else done.
    fn round_over(&mut self) -> Turn {
        if self.claimed_this_round == 0 {
            return Turn::Done;
        }
        let (start, visited) = (std::mem::take(&mut self.after), self.visited);
        *self = Self { visited, ..Self::after_account(start) };
        Turn::LookAgain
    }

    /// Where the next claim starts: after the last account this one visited.
    pub fn end(self) -> String {
        self.after
    }
}

/// The next account with a pending event after `$1`, along `session_events_due_idx` (a literal
/// state: a partial index is matched only against constants).
pub const NEXT_PENDING_ACCOUNT_SQL: &str =
    "SELECT min(account_id) AS account FROM session_events WHERE delivery = 1 AND account_id > $1";
/// [`NEXT_PENDING_ACCOUNT_SQL`], and not past `$2` ([`AccountTurns::up_to`]).
pub const NEXT_PENDING_ACCOUNT_UP_TO_SQL: &str = "SELECT min(account_id) AS account FROM session_events \
     WHERE delivery = 1 AND account_id > $1 AND account_id <= $2";

/// The row of [`NEXT_PENDING_ACCOUNT_SQL`].
#[derive(Debug, diesel::QueryableByName)]
pub struct NextAccount {
    /// The account, when there is one.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub account: Option<String>,
}

#[cfg(test)]
mod turn_tests {
    use super::*;

    /// What the store's query finds: the first of `accounts` (sorted) after `after`, not past
    /// `up_to`.
    fn next_of(accounts: &[&str], turns: &AccountTurns) -> Option<String> {
        accounts
            .iter()
            .find(|a| **a > turns.after() && turns.up_to().is_none_or(|up_to| **a <= up_to))
            .map(|a| (*a).to_owned())
    }

    /// Plays a claim over `accounts` (those with pending events) from `start`, where every
    /// account has `due` events to give, until `limit` are claimed.
    fn claim(accounts: &[&str], start: &str, due: usize, limit: usize) -> (Vec<String>, String) {
        let mut turns = AccountTurns::after_account(start.to_owned());
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            let found = next_of(accounts, &turns);
            match turns.next(found) {
                Turn::Claim(account) => {
                    let taken = claimed.iter().filter(|a| **a == account).count();
                    let take = due.saturating_sub(taken).min(1);
                    claimed.extend(std::iter::repeat_n(account, take));
                    turns.claimed(take);
                }
                Turn::LookAgain => {}
                Turn::Done => break,
            }
        }
        (claimed, turns.end())
    }

    /// One round: every account visited once, none with anything due.
    fn round(accounts: &[&str], start: &str) -> (Vec<String>, String) {
        let mut turns = AccountTurns::after_account(start.to_owned());
        let mut visited = Vec::new();
        loop {
            let found = next_of(accounts, &turns);
            match turns.next(found) {
                Turn::Claim(account) => visited.push(account),
                Turn::LookAgain => {}
                Turn::Done => return (visited, turns.end()),
            }
        }
    }

    #[test]
    fn rounds_go_on_while_they_claim_and_the_claim_has_room() {
        let (claimed, _) = claim(&["a", "b"], "", 3, 10);
        assert_eq!(claimed, ["a", "b", "a", "b", "a", "b"], "one each a round, until none is left");
        let (claimed, end) = claim(&["a", "b", "c"], "a", 5, 4);
        assert_eq!(claimed, ["b", "c", "a", "b"], "stops at the limit");
        assert_eq!(end, "b", "and the next claim goes on after the last account served");
    }

    #[test]
    fn a_round_visits_every_account_once_from_after_the_last_one_served() {
        assert_eq!(round(&["a", "b", "c"], ""), (vec!["a".into(), "b".into(), "c".into()], "c".into()));
        assert_eq!(round(&["a", "b", "c"], "a"), (vec!["b".into(), "c".into(), "a".into()], "a".into()));
        assert_eq!(round(&["a", "b", "c"], "bb"), (vec!["c".into(), "a".into(), "b".into()], "b".into()));
        assert_eq!(round(&[], "b"), (vec![], String::new()));
        let many: Vec<String> = (0..100).map(|n| format!("acct{n:03}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let (first, end) = round(&many, "");
        assert_eq!((first.len(), end.as_str()), (ACCOUNTS_PER_CLAIM, "acct063"), "at most 64 a claim");
        assert_eq!(round(&many, &end).0[0], "acct064", "the next claim goes on from there");
    }
}
