//! The outbox read back: live streams ([`EventLog`]) and webhook delivery ([`DeliveryQueue`]).
//! One process owns the file, so a lease is only a guard against a second worker of the
//! same process, and an event's number is its rowid (commit order: one writer at a time).

use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, TimestamptzSqlite};
use diesel::sqlite::Sqlite;
use evo_domain::Timestamp;
use evo_ports::{
    DeliveryCounts, DeliveryQueue, EventFilter, EventId, EventLog, PendingDelivery, RepositoryError,
    StoredEvent,
};
use evo_store_sql::schema::session_events;
use evo_store_sql::{
    AccountTurns, EVENTS_PER_ACCOUNT_TURN, EventRow, NEXT_PENDING_ACCOUNT_SQL,
    NEXT_PENDING_ACCOUNT_UP_TO_SQL, NextAccount, PendingRow, TimestampValue, Turn, delivery,
    events_within_page, octet_length,
};

use crate::SqliteSessionRepository;

fn number(id: EventId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn corrupt(error: evo_store_sql::CorruptRow) -> RepositoryError {
    RepositoryError::Internal(error.to_string())
}

#[async_trait]
impl EventLog for SqliteSessionRepository {
    async fn events_after(
        &self,
        after: EventId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, RepositoryError> {
        let filter = filter.clone();
        let rows = self
            .run(move |connection| {
                // First the sizes, then as many bodies as fit in one page.
                let sizes: Vec<i32> = events_after_query(number(after), &filter, limit)
                    .select(octet_length(session_events::body))
                    .load(connection)?;
                if sizes.is_empty() {
                    return Ok(Vec::new());
                }
                let fit = events_within_page(sizes);
                events_after_query(number(after), &filter, fit).select(EventRow::as_select()).load(connection)
            })
            .await?;
        rows.into_iter().map(|row| StoredEvent::try_from(row).map_err(corrupt)).collect()
    }

    async fn last_event_id(&self) -> Result<EventId, RepositoryError> {
        let last = self
            .run(|connection| {
                session_events::table
                    .select(diesel::dsl::max(session_events::id))
                    .first::<Option<i64>>(connection)
            })
            .await?;
        Ok(last.and_then(|id| EventId::try_from(id).ok()).unwrap_or(0))
    }

    async fn wait_for_events_after(&self, after: EventId, patience: Duration) -> EventId {
        self.signal.wait_after(after, patience).await
    }
}

#[async_trait]
impl DeliveryQueue for SqliteSessionRepository {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, RepositoryError> {
        let start = self.claim_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let (rows, end) = self
            .run_writing(move |connection| {
                connection.immediate_transaction(|connection| {
                    // Accounts take turns (evo_store_sql::AccountTurns); in each, the first
                    // pending event of each session, if due and not leased (a later one waits
                    // until the earlier is delivered or dead), oldest due first.
                    let mut turns = AccountTurns::after_account(start);
                    let mut rows: Vec<PendingRow> = Vec::new();
                    while rows.len() < limit as usize {
                        let after = turns.after().to_owned();
                        let found = match turns.up_to() {
                            None => diesel::sql_query(NEXT_PENDING_ACCOUNT_SQL)
                                .bind::<Text, _>(after)
                                .get_result::<NextAccount>(connection)?,
                            Some(up_to) => diesel::sql_query(NEXT_PENDING_ACCOUNT_UP_TO_SQL)
                                .bind::<Text, _>(after)
                                .bind::<Text, _>(up_to.to_owned())
                                .get_result::<NextAccount>(connection)?,
                        };
                        let account = match turns.next(found.account) {
                            Turn::Claim(account) => account,
                            Turn::LookAgain => continue,
                            Turn::Done => break,
                        };
                        let take = EVENTS_PER_ACCOUNT_TURN.min(limit - rows.len() as u32);
                        let turn = diesel::sql_query(
                                "SELECT e.id, e.event_type, e.account_id, e.session_id, e.body, e.attempts, e.pending_since \
                                 FROM session_events e \
                                 WHERE e.account_id = ?1 AND e.delivery = 1 AND e.next_attempt_at <= ?2 \
                                   AND (e.lease_until IS NULL OR e.lease_until <= ?2) \
                                   AND NOT EXISTS (SELECT 1 FROM session_events p WHERE p.delivery = 1 \
                                       AND p.account_id = e.account_id AND p.session_id = e.session_id AND p.id < e.id) \
                                 ORDER BY e.next_attempt_at, e.id LIMIT ?3",
                            )
                            .bind::<Text, _>(account)
                            .bind::<TimestamptzSqlite, _>(now)
                            .bind::<BigInt, _>(i64::from(take))
                            .load::<PendingRow>(connection)?;
                        // Leased at once: the next round does not take them again.
                        let ids: Vec<i64> = turn.iter().map(|row| row.event.id).collect();
                        diesel::update(session_events::table.filter(session_events::id.eq_any(&ids)))
                            .set(session_events::lease_until.eq(Some(TimestampValue(lease_until))))
                            .execute(connection)?;
                        turns.claimed(turn.len());
                        rows.extend(turn);
                    }
                    Ok((rows, turns.end()))
                })
            })
            .await?;
        *self.claim_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = end;
        let mut claimed = rows
            .into_iter()
            .map(|row| PendingDelivery::try_from(row).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
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
        let renewed = self
            .run_writing(move |connection| {
                // The writer runs one thing at a time: nothing changes between the two.
                let held = session_events::table
                    .filter(session_events::id.eq_any(ids))
                    .filter(session_events::delivery.eq(delivery::PENDING))
                    .filter(session_events::lease_until.eq(Some(TimestampValue(held_until))))
                    .select(session_events::id.assume_not_null())
                    .load::<i64>(connection)?;
                diesel::update(session_events::table.filter(session_events::id.eq_any(&held)))
                    .set(session_events::lease_until.eq(Some(TimestampValue(lease_until))))
                    .execute(connection)?;
                Ok(held)
            })
            .await?;
        Ok(renewed.into_iter().filter_map(|id| EventId::try_from(id).ok()).collect())
    }

    async fn mark_delivered(&self, ids: &[EventId], _now: Timestamp) -> Result<(), RepositoryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = ids.iter().map(|&id| number(id)).collect();
        self.run_writing(move |connection| {
            diesel::update(session_events::table.filter(session_events::id.eq_any(ids)))
                .set((
                    session_events::delivery.eq(delivery::DELIVERED),
                    session_events::lease_until.eq(None::<TimestampValue>),
                ))
                .execute(connection)
                .map(drop)
        })
        .await
    }

    async fn mark_retry(
        &self,
        id: EventId,
        attempts: u32,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), RepositoryError> {
        let error = error.to_owned();
        self.run_writing(move |connection| {
            diesel::update(session_events::table.filter(session_events::id.eq(number(id))))
                .set((
                    session_events::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                    session_events::next_attempt_at.eq(TimestampValue(next_attempt_at)),
                    session_events::last_error.eq(Some(error)),
                    session_events::lease_until.eq(None::<TimestampValue>),
                ))
                .execute(connection)?;
            // The session's later events wait for this one: they are not due before it, so
            // that claims do not look at them meanwhile.
            diesel::sql_query(
                "UPDATE session_events SET next_attempt_at = ?2 WHERE delivery = 1 AND id > ?1 \
                   AND next_attempt_at < ?2 \
                   AND account_id = (SELECT account_id FROM session_events WHERE id = ?1) \
                   AND session_id = (SELECT session_id FROM session_events WHERE id = ?1)",
            )
            .bind::<BigInt, _>(number(id))
            .bind::<TimestamptzSqlite, _>(next_attempt_at)
            .execute(connection)
            .map(drop)
        })
        .await
    }

    async fn mark_dead(&self, id: EventId, attempts: u32, error: &str) -> Result<(), RepositoryError> {
        let error = error.to_owned();
        self.run_writing(move |connection| {
            diesel::update(session_events::table.filter(session_events::id.eq(number(id))))
                .set((
                    session_events::delivery.eq(delivery::DEAD),
                    session_events::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                    session_events::last_error.eq(Some(error)),
                    session_events::lease_until.eq(None::<TimestampValue>),
                ))
                .execute(connection)
                .map(drop)
        })
        .await
    }

    async fn redeliver_dead(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        let sent = self
            .run_writing(move |connection| {
                diesel::update(
                    session_events::table
                        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(delivery::IS_DEAD)),
                )
                .set((
                    session_events::delivery.eq(delivery::PENDING),
                    session_events::attempts.eq(0),
                    session_events::pending_since.eq(TimestampValue(now)),
                    session_events::next_attempt_at.eq(TimestampValue(now)),
                ))
                .execute(connection)
            })
            .await?;
        Ok(sent as u64)
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, RepositoryError> {
        let counts = self
            .run(|connection| {
                diesel::sql_query(delivery::COUNTS_SQL).get_result::<delivery::CountsRow>(connection)
            })
            .await?;
        Ok(counts.into())
    }

    async fn purge_settled_events(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let purged = self
            .run_writing(move |connection| {
                diesel::sql_query(
                    "DELETE FROM session_events WHERE id IN (SELECT id FROM session_events \
                     WHERE delivery IN (0, 2) AND created_at < ? ORDER BY created_at LIMIT ?)",
                )
                .bind::<TimestamptzSqlite, _>(before)
                .bind::<Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
                .execute(connection)
            })
            .await?;
        Ok(purged as u64)
    }

    async fn purge_dead_letters(&self, before: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let purged = self
            .run_writing(move |connection| {
                // Oldest first along the dead letters' own index (their numbers follow their age).
                diesel::sql_query(format!(
                    "DELETE FROM session_events WHERE id IN (SELECT id FROM session_events \
                     WHERE {} AND created_at < ? ORDER BY id LIMIT ?)",
                    delivery::IS_DEAD
                ))
                .bind::<TimestamptzSqlite, _>(before)
                .bind::<Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
                .execute(connection)
            })
            .await?;
        Ok(purged as u64)
    }
}

/// The events numbered after `after` that `filter` lets through, oldest first, at most
/// `limit` (the query of [`EventLog::events_after`], before its select).
fn events_after_query<'a>(
    after: i64,
    filter: &EventFilter,
    limit: u32,
) -> session_events::BoxedQuery<'a, Sqlite> {
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
