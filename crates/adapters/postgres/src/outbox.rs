//! The outbox read back, and numbered (docs/api.md, "Events").
//!
//! A change writes its event row in its own transaction, unnumbered. Numbers come after the
//! commit, from a sequencer that runs on every instance but numbers only under a
//! transaction-scoped advisory lock, one batch at a time, in insert order: so numbers
//! follow the order in which events become readable, and a reader that has read every event
//! up to `n` never meets a lower one later (a stream resumes with no gap). Within a session
//! insert order is change order (changes to a session are serialized by its row lock).
//!
//! A change that is alone in flight on its instance numbers its own event in the insert,
//! when it can without breaking either order: no earlier event of its session waits for a
//! number, and it gets the same lock, which it then holds until its commit
//! (`statements::ChangeHeader`). Events of other sessions that wait do not matter: they get
//! their numbers later, above this one, and become readable later too. At c=1 this saves the
//! sequencer's transaction per change, which doubled the database's CPU per removal
//! (docs/performance.md). Under load changes leave their events to the sequencer, which
//! numbers them in batches for less.
//!
//! Whoever numbers sends `NOTIFY evo_events, '<last number>'` with its commit; every
//! instance keeps one connection listening (to [`PgConfig::notify_url`], which must reach
//! PostgreSQL itself: PgBouncer in transaction mode does not carry notifications) and wakes
//! its streams. Each instance also reads the newest number once a second, so a lost
//! notification (or a listener that cannot reach PostgreSQL) delays its streams by at most that.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use evo_domain::Timestamp;
use evo_ports::{
    DeliveryCounts, DeliveryQueue, EventFilter, EventId, EventLog, PendingDelivery, RepositoryError,
    StoredEvent,
};
use evo_store_sql::schema::session_events;
use evo_store_sql::{
    AccountTurns, EVENTS_PER_ACCOUNT_TURN, EventRow, EventSignal, NEXT_PENDING_ACCOUNT_SQL,
    NEXT_PENDING_ACCOUNT_UP_TO_SQL, NextAccount, PendingRow, TimestampValue, Turn, delivery,
    events_within_page, octet_length,
};
use tokio::sync::Notify;

use crate::config::PgConfig;
use crate::error::{PgStoreError, classify};
use crate::pool::build_pool;
use crate::repository::PgSessionRepository;

/// The advisory lock the numbering transaction holds.
pub(crate) const SEQUENCER_LOCK: i64 = crate::advisory_locks::NUMBERING;
/// The channel of the numbering notifications.
pub(crate) const CHANNEL: &str = "evo_events";
/// Most events numbered in one transaction.
const BATCH: i64 = 500;
/// How often the sequencer looks without being told (events committed on other instances).
const POLL: Duration = Duration::from_millis(200);
/// Every how many polls the newest number is read (about once a second).
const LOOK_EVERY: u32 = 5;

diesel::define_sql_function! {
    fn pg_try_advisory_xact_lock(key: BigInt) -> diesel::sql_types::Bool;
}

/// The outbox's moving parts of one store: its own small pool (so that delivery and streams
/// never take the requests' connections), the sequencer with a connection of its own, and the
/// listener.
#[derive(Clone)]
pub(crate) struct EventNumbering {
    /// Reading events: the streams' reader and replays.
    pool: Pool<AsyncPgConnection>,
    /// Webhook delivery's own connection: claims, lease renewals and records never wait
    /// behind a burst of stream replays (a lease lapses after 10 s without a renewal).
    delivery: Pool<AsyncPgConnection>,
    signal: EventSignal,
    sequencer: Arc<Notify>,
    /// The account the last delivery claim ended with: the next one starts after it.
    claim_cursor: Arc<std::sync::Mutex<String>>,
    _tasks: Arc<AbortOnDrop>,
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl EventNumbering {
    /// Builds the pool and starts the sequencer and the listener on the current runtime.
    pub(crate) fn start(config: &PgConfig) -> Result<Self, PgStoreError> {
        let pool = build_pool(&PgConfig { pool_size: config.events_pool_size.max(1), ..config.clone() })?;
        // The sequencer's connection is its own, and so is delivery's: reading events for
        // streams, numbering them and delivering them never wait behind each other.
        let numbering = build_pool(&PgConfig { pool_size: 1, ..config.clone() })?;
        let delivery = build_pool(&PgConfig { pool_size: 1, ..config.clone() })?;
        let signal = EventSignal::default();
        let sequencer = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(sequence(numbering, signal.clone(), sequencer.clone())),
            tokio::spawn(listen(
                config.notify_url.clone().unwrap_or_else(|| config.url.clone()),
                signal.clone(),
            )),
        ];
        Ok(Self {
            pool,
            delivery,
            signal,
            sequencer,
            claim_cursor: Arc::default(),
            _tasks: Arc::new(AbortOnDrop(tasks)),
        })
    }

    /// A change committed here, its event unnumbered: number it soon.
    pub(crate) fn committed(&self) {
        self.sequencer.notify_one();
    }

    /// A change committed here with its event numbered `last`, in its own transaction: wake
    /// the streams here (the other instances heard its notification).
    pub(crate) fn numbered(&self, last: i64) {
        self.signal.raise(EventId::try_from(last).unwrap_or_default());
    }
}

async fn sequence(pool: Pool<AsyncPgConnection>, signal: EventSignal, wake: Arc<Notify>) {
    let mut polls = 0u32;
    loop {
        let _ = tokio::time::timeout(POLL, wake.notified()).await;
        // Once a second, what is numbered anywhere: a lost notification (or a listener that
        // cannot connect) delays streams here by at most that.
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(LOOK_EVERY) {
            match newest_number(&pool).await {
                Ok(newest) => signal.raise(newest),
                Err(reason) => tracing::debug!(%reason, "cannot read the newest event number"),
            }
        }
        loop {
            match number_batch(&pool).await {
                Ok(Some((last, count))) => {
                    signal.raise(last);
                    if count < BATCH {
                        break;
                    }
                }
                Ok(None) => break,
                Err(reason) => {
                    tracing::debug!(%reason, "numbering events failed; trying again");
                    break;
                }
            }
        }
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Numbers the oldest unnumbered events; `None` when another instance holds the lock or
/// nothing waits. Returns the last number given and how many.
async fn number_batch(pool: &Pool<AsyncPgConnection>) -> Result<Option<(EventId, i64)>, String> {
    let mut connection = pool.get().await.map_err(|e| e.to_string())?;
    let numbered = connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            // Look before taking the lock: a change that finds it taken leaves its event
            // for us, so holding it for nothing would only make more work.
            let waits = diesel::select(diesel::dsl::exists(session_events::table.filter(session_events::id.is_null())))
                .get_result::<bool>(connection)
                .await?;
            if !waits || !diesel::select(pg_try_advisory_xact_lock(SEQUENCER_LOCK)).get_result::<bool>(connection).await? {
                return Ok(None);
            }
            let waiting: Vec<(String, String, i64)> = session_events::table
                .filter(session_events::id.is_null())
                .order(session_events::seq)
                .limit(BATCH)
                .select((session_events::account_id, session_events::session_id, session_events::seq))
                .load(connection)
                .await?;
            if waiting.is_empty() {
                return Ok(None);
            }
            let count = waiting.len() as i64;
            let mut numbers: Vec<i64> =
                diesel::sql_query("SELECT nextval('session_event_ids') AS id FROM generate_series(1, $1)")
                    .bind::<Integer, _>(count as i32)
                    .load::<Number>(connection)
                    .await?
                    .into_iter()
                    .map(|n| n.id)
                    .collect();
            numbers.sort_unstable();
            let (accounts, sessions, seqs): (Vec<_>, Vec<_>, Vec<_>) =
                waiting.into_iter().fold((vec![], vec![], vec![]), |mut columns, (a, s, q)| {
                    columns.0.push(a);
                    columns.1.push(s);
                    columns.2.push(q);
                    columns
                });
            diesel::sql_query(
                "UPDATE session_events e SET id = v.id FROM unnest($1, $2, $3, $4) AS v(account_id, session_id, seq, id) \
                 WHERE e.account_id = v.account_id AND e.session_id = v.session_id AND e.seq = v.seq",
            )
            .bind::<Array<Text>, _>(accounts)
            .bind::<Array<Text>, _>(sessions)
            .bind::<Array<BigInt>, _>(seqs)
            .bind::<Array<BigInt>, _>(&numbers)
            .execute(connection)
            .await?;
            let last = *numbers.last().expect("one number per waiting event");
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(last.to_string())
                .execute(connection)
                .await?;
            Ok(Some((EventId::try_from(last).unwrap_or_default(), count)))
        })
        .await;
    numbered.map_err(|e| e.to_string())
}

/// The newest event number (0 when there is none).
async fn newest_number(pool: &Pool<AsyncPgConnection>) -> Result<EventId, String> {
    let mut connection = pool.get().await.map_err(|e| e.to_string())?;
    let newest = connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            session_events::table
                .select(diesel::dsl::max(session_events::id))
                .first::<Option<i64>>(connection)
                .await
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(newest.and_then(|id| EventId::try_from(id).ok()).unwrap_or(0))
}

/// Keeps one connection listening on [`CHANNEL`], reconnecting after a failure.
async fn listen(url: String, signal: EventSignal) {
    loop {
        if let Err(reason) = listen_once(&url, &signal).await {
            tracing::debug!(%reason, "the event listener lost its connection; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(url: &str, signal: &EventSignal) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let (notifications, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if notifications.send(notification.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if listening.is_ok() {
        // Anything numbered while no one listened is read now.
        signal.poke();
        while let Some(payload) = received.recv().await {
            match payload.parse::<EventId>() {
                Ok(last) => signal.raise(last),
                Err(_) => signal.poke(),
            }
        }
    }
    driver.abort();
    listening
}

fn number(id: EventId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn failed(error: &diesel::result::Error) -> RepositoryError {
    classify(error).into_repository_error()
}

fn corrupt(error: evo_store_sql::CorruptRow) -> RepositoryError {
    RepositoryError::Internal(error.to_string())
}

/// A connection of `pool` (the streams' or delivery's). Each use runs in a transaction: without
/// the statement cache (PgBouncer in transaction mode) a statement is prepared and then
/// executed, and both must reach the same server.
async fn connection_of(pool: &Pool<AsyncPgConnection>) -> Result<Object<AsyncPgConnection>, RepositoryError> {
    pool.get().await.map_err(|e| crate::error::pool_failure(e).into_repository_error())
}

/// Runs `statement` alone in a transaction on a connection of `pool`; the rows it changed.
async fn execute_alone<S>(pool: &Pool<AsyncPgConnection>, statement: S) -> Result<usize, RepositoryError>
where
    S: diesel_async::methods::ExecuteDsl<AsyncPgConnection> + Send + 'static,
{
    let mut connection = connection_of(pool).await?;
    connection
        .transaction(async |connection| statement.execute(connection).await)
        .await
        .map_err(|e| failed(&e))
}

#[async_trait]
impl EventLog for PgSessionRepository {
    async fn events_after(
        &self,
        after: EventId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, RepositoryError> {
        // First the sizes, then as many bodies as fit in one page.
        let sizes =
            events_after_query(number(after), filter, limit).select(octet_length(session_events::body));
        let bodies = |fit| events_after_query(number(after), filter, fit).select(EventRow::as_select());
        let mut connection = connection_of(&self.events.pool).await?;
        let rows = connection
            .transaction(async |connection| {
                let sizes: Vec<i32> = sizes.load(connection).await?;
                if sizes.is_empty() {
                    return Ok(Vec::new());
                }
                bodies(events_within_page(sizes)).load::<EventRow>(connection).await
            })
            .await
            .map_err(|e| failed(&e))?;
        rows.into_iter().map(|row| StoredEvent::try_from(row).map_err(corrupt)).collect()
    }

    async fn last_event_id(&self) -> Result<EventId, RepositoryError> {
        let mut connection = connection_of(&self.events.pool).await?;
        let last: Option<i64> = connection
            .transaction(async |connection| {
                session_events::table.select(diesel::dsl::max(session_events::id)).first(connection).await
            })
            .await
            .map_err(|e| failed(&e))?;
        Ok(last.and_then(|id| EventId::try_from(id).ok()).unwrap_or(0))
    }

    async fn wait_for_events_after(&self, after: EventId, patience: Duration) -> EventId {
        self.events.signal.wait_after(after, patience).await
    }
}

#[async_trait]
impl DeliveryQueue for PgSessionRepository {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, RepositoryError> {
        // Accounts take turns (evo_store_sql::AccountTurns); in each, the first pending event
        // of each session, numbered, due and not leased, oldest due first, along the partial
        // indexes of pending events. Locked rows (another instance is claiming them right
        // now) are skipped, and the lease keeps them off every other instance until it ends.
        // Each statement in a transaction of its own, on a connection of delivery's pool taken
        // for it alone: the gauges and retention get the pool between two statements.
        let start =
            self.events.claim_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut turns = AccountTurns::after_account(start);
        let mut claimed = Vec::new();
        while claimed.len() < limit as usize {
            let after = turns.after().to_owned();
            let next = match turns.up_to() {
                None => diesel::sql_query(NEXT_PENDING_ACCOUNT_SQL).into_boxed::<Pg>().bind::<Text, _>(after),
                Some(up_to) => diesel::sql_query(NEXT_PENDING_ACCOUNT_UP_TO_SQL)
                    .into_boxed::<Pg>()
                    .bind::<Text, _>(after)
                    .bind::<Text, _>(up_to.to_owned()),
            };
            let found: NextAccount = connection_of(&self.events.delivery)
                .await?
                .transaction(async |connection| next.get_result(connection).await)
                .await
                .map_err(|e| failed(&e))?;
            let account = match turns.next(found.account) {
                Turn::Claim(account) => account,
                Turn::LookAgain => continue,
                Turn::Done => break,
            };
            let take = EVENTS_PER_ACCOUNT_TURN.min(limit - claimed.len() as u32);
            let claim = diesel::sql_query(
                "UPDATE session_events e SET lease_until = $3 FROM ( \
                   SELECT c.account_id, c.session_id, c.seq FROM session_events c \
                   WHERE c.account_id = $1 AND c.delivery = 1 AND c.next_attempt_at <= $2 AND c.id IS NOT NULL \
                     AND (c.lease_until IS NULL OR c.lease_until <= $2) \
                     AND NOT EXISTS (SELECT 1 FROM session_events p WHERE p.account_id = c.account_id \
                         AND p.session_id = c.session_id AND p.delivery = 1 AND p.seq < c.seq) \
                   ORDER BY c.next_attempt_at, c.id LIMIT $4 FOR UPDATE SKIP LOCKED) due \
                 WHERE e.account_id = due.account_id AND e.session_id = due.session_id AND e.seq = due.seq \
                 RETURNING e.id, e.event_type, e.account_id, e.session_id, e.body, e.attempts, e.pending_since",
            )
            .bind::<Text, _>(account)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(lease_until)
            .bind::<BigInt, _>(i64::from(take));
            let rows: Vec<PendingRow> = connection_of(&self.events.delivery)
                .await?
                .transaction(async |connection| claim.load(connection).await)
                .await
                .map_err(|e| failed(&e))?;
            turns.claimed(rows.len());
            for row in rows {
                claimed.push(PendingDelivery::try_from(row).map_err(corrupt)?);
            }
        }
        *self.events.claim_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = turns.end();
        claimed.sort_by_key(|pending| pending.event.id);
        Ok(claimed)
    }

    async fn renew_lease(
        &self,
        ids: &[EventId],
        held_until: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<EventId>, RepositoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|&id| number(id)).collect();
        let renew = diesel::update(
            session_events::table
                .filter(session_events::id.eq_any(ids))
                .filter(session_events::delivery.eq(delivery::PENDING))
                .filter(session_events::lease_until.eq(Some(TimestampValue(held_until)))),
        )
        .set(session_events::lease_until.eq(Some(TimestampValue(lease_until))))
        .returning(session_events::id);
        let mut connection = connection_of(&self.events.delivery).await?;
        let renewed: Vec<Option<i64>> = connection
            .transaction(async |connection| renew.load(connection).await)
            .await
            .map_err(|e| failed(&e))?;
        Ok(renewed.into_iter().flatten().filter_map(|id| EventId::try_from(id).ok()).collect())
    }

    async fn mark_delivered(&self, ids: &[EventId], _now: Timestamp) -> Result<(), RepositoryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = ids.iter().map(|&id| number(id)).collect();
        let update = diesel::update(session_events::table.filter(session_events::id.eq_any(ids))).set((
            session_events::delivery.eq(delivery::DELIVERED),
            session_events::lease_until.eq(None::<TimestampValue>),
        ));
        execute_alone(&self.events.delivery, update).await?;
        Ok(())
    }

    async fn mark_retry(
        &self,
        id: EventId,
        attempts: u32,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), RepositoryError> {
        let update = diesel::update(session_events::table.filter(session_events::id.eq(number(id)))).set((
            session_events::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
            session_events::next_attempt_at.eq(TimestampValue(next_attempt_at)),
            session_events::last_error.eq(Some(error.to_owned())),
            session_events::lease_until.eq(None::<TimestampValue>),
        ));
        // The session's later events wait for this one: they are not due before it, so that
        // claims do not look at them meanwhile (a refused backlog costs claims nothing).
        let later = diesel::sql_query(
            "UPDATE session_events t SET next_attempt_at = $2 FROM session_events h \
             WHERE h.id = $1 AND t.account_id = h.account_id AND t.session_id = h.session_id \
               AND t.delivery = 1 AND t.seq > h.seq AND t.next_attempt_at < $2",
        )
        .bind::<BigInt, _>(number(id))
        .bind::<Timestamptz, _>(next_attempt_at);
        let mut connection = connection_of(&self.events.delivery).await?;
        connection
            .transaction(async |connection| {
                update.execute(connection).await?;
                later.execute(connection).await
            })
            .await
            .map_err(|e| failed(&e))?;
        Ok(())
    }

    async fn mark_dead(&self, id: EventId, attempts: u32, error: &str) -> Result<(), RepositoryError> {
        let update = diesel::update(session_events::table.filter(session_events::id.eq(number(id)))).set((
            session_events::delivery.eq(delivery::DEAD),
            session_events::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
            session_events::last_error.eq(Some(error.to_owned())),
            session_events::lease_until.eq(None::<TimestampValue>),
        ));
        execute_alone(&self.events.delivery, update).await?;
        Ok(())
    }

    async fn redeliver_dead(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        let update = diesel::update(
            session_events::table.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(delivery::IS_DEAD)),
        )
        .set((
            session_events::delivery.eq(delivery::PENDING),
            session_events::attempts.eq(0),
            session_events::pending_since.eq(TimestampValue(now)),
            session_events::next_attempt_at.eq(TimestampValue(now)),
        ));
        let sent = execute_alone(&self.events.delivery, update).await?;
        Ok(sent as u64)
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, RepositoryError> {
        let query = diesel::sql_query(delivery::COUNTS_SQL);
        let mut connection = connection_of(&self.events.delivery).await?;
        let counts: delivery::CountsRow = connection
            .transaction(async |connection| query.get_result(connection).await)
            .await
            .map_err(|e| failed(&e))?;
        Ok(counts.into())
    }

    async fn purge_settled_events(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let purge = diesel::sql_query(
            "DELETE FROM session_events WHERE ctid IN (SELECT ctid FROM session_events \
             WHERE delivery IN (0, 2) AND created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(i64::from(limit));
        let purged = execute_alone(&self.events.delivery, purge).await?;
        Ok(purged as u64)
    }

    async fn purge_dead_letters(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        // Oldest first along the dead letters' own index (their numbers follow their age).
        let purge = diesel::sql_query(format!(
            "DELETE FROM session_events WHERE ctid IN (SELECT ctid FROM session_events \
             WHERE {} AND created_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
            delivery::IS_DEAD
        ))
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(i64::from(limit));
        let purged = execute_alone(&self.events.delivery, purge).await?;
        Ok(purged as u64)
    }
}

/// The events numbered after `after` that `filter` lets through, oldest first, at most
/// `limit` (the query of [`EventLog::events_after`], before its select).
fn events_after_query<'a>(
    after: i64,
    filter: &EventFilter,
    limit: u32,
) -> session_events::BoxedQuery<'a, Pg> {
    let query = session_events::table
        .filter(session_events::id.gt(after))
        .order(session_events::id)
        .limit(i64::from(limit))
        .into_boxed();
    match filter {
        EventFilter::Session { account_id, session_id } => query
            .filter(session_events::account_id.eq(account_id.as_str().to_owned()))
            .filter(session_events::session_id.eq(session_id.as_str().to_owned())),
        EventFilter::Accounts(accounts) => {
            let accounts: Vec<String> = accounts.iter().map(|a| a.as_str().to_owned()).collect();
            query.filter(session_events::account_id.eq_any(accounts))
        }
        EventFilter::All => query,
    }
}
