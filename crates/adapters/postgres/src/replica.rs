//! Read replicas for searches (docs/operations.md, "Read replicas"): ListSessions reads a
//! standby while it is fresh enough, and the primary otherwise.
//!
//! Fresh enough is measured in WAL, on this instance's clock, so that it is right when the
//! primary is idle: every `every`, the primary's current WAL position is read and kept with
//! the instant it was asked for; then the standby's replayed position. The standby holds
//! everything the primary had written at the newest kept instant whose position it has
//! replayed: it is as fresh as that instant. An idle primary's position stands still, the
//! standby reaches it, and it stays fresh; a standby that stops replaying (or answering)
//! falls behind from the first write it misses, and is left alone once that is older than
//! the bound. (A replay timestamp alone grows while nothing is written, and would send every
//! read to the primary on a quiet system.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::config::PgConfig;
use crate::error::PgStoreError;
use crate::pool::build_pool;

/// Positions kept at most: older ones no longer matter once the standby is past the bound.
const MOST_SAMPLES: usize = 4096;

/// A standby that serves searches while it is fresh enough.
#[derive(Clone)]
pub(crate) struct Replica {
    pool: Pool<AsyncPgConnection>,
    freshness: Arc<Freshness>,
    _watch: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("pool", &self.pool.status())
            .field("max_lag", &self.freshness.max_lag)
            .finish()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How fresh the standby is: the newest instant at which it held all the primary had written.
#[derive(Debug)]
struct Freshness {
    as_of: Mutex<Option<Instant>>,
    max_lag: Duration,
}

impl Freshness {
    fn is_fresh(&self, now: Instant) -> bool {
        let as_of = *self.as_of.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        as_of.is_some_and(|as_of| now.saturating_duration_since(as_of) <= self.max_lag)
    }

    fn set(&self, as_of: Option<Instant>) {
        *self.as_of.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = as_of;
    }
}

impl Replica {
    /// Builds the standby's pool (sized as the primary's) and starts watching its lag against
    /// the primary of `primary` on the current runtime.
    pub(crate) fn start(primary: &PgConfig, url: &str, max_lag: Duration) -> Result<Self, PgStoreError> {
        let pool = build_pool(&PgConfig { url: url.to_owned(), ..primary.clone() })?;
        let watch_primary = build_pool(&PgConfig { pool_size: 1, ..primary.clone() })?;
        let watch_replica = build_pool(&PgConfig { url: url.to_owned(), pool_size: 1, ..primary.clone() })?;
        let freshness = Arc::new(Freshness { as_of: Mutex::new(None), max_lag });
        // A few looks within the bound, never busier than 20 a second.
        let every = (max_lag / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let task = tokio::spawn(watch(watch_primary, watch_replica, freshness.clone(), every));
        Ok(Self { pool, freshness, _watch: Arc::new(AbortOnDrop(task)) })
    }

    /// The standby's pool, when it is fresh enough to serve a search now.
    pub(crate) fn usable(&self) -> Option<&Pool<AsyncPgConnection>> {
        self.freshness.is_fresh(Instant::now()).then_some(&self.pool)
    }

    /// The standby failed a search: leave it alone until the watch finds it fresh again.
    pub(crate) fn failed(&self) {
        self.freshness.set(None);
    }
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<BigInt>)]
    lsn: Option<i64>,
}

/// The primary's WAL position (`pg_current_wal_lsn`), or the standby's replayed one
/// (`pg_last_wal_replay_lsn`; none once the server is out of recovery: a promoted standby
/// still reports the last position it replayed), as bytes.
async fn position(pool: &Pool<AsyncPgConnection>, sql: &'static str) -> Option<i64> {
    let mut connection = pool.get().await.ok()?;
    let read = diesel::sql_query(sql).get_result::<Position>(&mut connection);
    tokio::time::timeout(Duration::from_secs(2), read).await.ok()?.ok()?.lsn
}

const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn";
const REPLAYED_POSITION: &str =
    "SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END AS lsn";

async fn watch(
    primary: Pool<AsyncPgConnection>,
    replica: Pool<AsyncPgConnection>,
    freshness: Arc<Freshness>,
    every: Duration,
) {
    let mut samples: VecDeque<(Instant, i64)> = VecDeque::new();
    loop {
        let asked = Instant::now();
        if let Some(written) = position(&primary, PRIMARY_POSITION).await {
            samples.push_back((asked, written));
            if samples.len() > MOST_SAMPLES {
                samples.pop_front();
            }
        }
        match position(&replica, REPLAYED_POSITION).await {
            Some(replayed) => {
                if let Some(covered) = samples.iter().rposition(|(_, written)| *written <= replayed) {
                    freshness.set(Some(samples[covered].0));
                    // Older samples can no longer be the newest covered one.
                    samples.drain(..covered);
                }
            }
            // Not a standby any more (promoted), or not answering: it ages out of the bound.
            None => tracing::debug!("cannot read the replica's replayed WAL position"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_within_the_bound_only() {
        let freshness = Freshness { as_of: Mutex::new(None), max_lag: Duration::from_millis(1000) };
        let now = Instant::now();
        assert!(!freshness.is_fresh(now), "never measured: not fresh");
        freshness.set(Some(now));
        assert!(freshness.is_fresh(now + Duration::from_millis(1000)));
        assert!(!freshness.is_fresh(now + Duration::from_millis(1001)));
        freshness.set(None);
        assert!(!freshness.is_fresh(now));
    }
}
