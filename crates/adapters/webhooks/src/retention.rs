//! Outbox retention: settled events (delivered, or never to be delivered) older than
//! `EVO_EVENT_RETENTION_HOURS` are deleted in bounded batches, and so are dead letters older
//! than `EVO_DEAD_LETTER_RETENTION_DAYS`. Pending events are kept whatever their age.

use std::fmt;
use std::sync::Arc;

use evo_domain::Timestamp;
use evo_ports::{Clock, DeliveryQueue, RepositoryError};
use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;

/// Deletes the settled events created before `now - config.retention`, then the dead letters
/// created before `now - config.dead_letter_retention`, `config.batch` at a time until a batch
/// comes back short; returns how many. Stops early (between batches) when `shutdown` is
/// cancelled.
pub async fn purge_settled<Q: DeliveryQueue + ?Sized>(
    queue: &Q,
    now: Timestamp,
    config: &RetentionConfig,
    shutdown: &CancellationToken,
) -> Result<u64, RepositoryError> {
    let settled = purge_in_batches(config, shutdown, |batch| {
        queue.purge_settled_events(earlier(now, config.retention), batch)
    })
    .await?;
    let dead = purge_in_batches(config, shutdown, |batch| {
        queue.purge_dead_letters(earlier(now, config.dead_letter_retention), batch)
    })
    .await?;
    Ok(settled + dead)
}

/// `at` minus `span`, saturating at the beginning of time.
fn earlier(at: Timestamp, span: std::time::Duration) -> Timestamp {
    chrono::TimeDelta::from_std(span)
        .ok()
        .and_then(|span| at.checked_sub_signed(span))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

async fn purge_in_batches<F: Future<Output = Result<u64, RepositoryError>>>(
    config: &RetentionConfig,
    shutdown: &CancellationToken,
    purge: impl Fn(u32) -> F,
) -> Result<u64, RepositoryError> {
    let mut purged = 0;
    loop {
        let deleted = purge(config.batch).await?;
        purged += deleted;
        if deleted < u64::from(config.batch) || shutdown.is_cancelled() {
            return Ok(purged);
        }
        // Let the requests that share the store go between two batches.
        tokio::task::yield_now().await;
    }
}

/// Runs [`purge_settled`] every `config.interval` (the first time at once) until shutdown.
/// Needed with or without a webhook: the outbox is written either way.
pub struct RetentionTask<Q: DeliveryQueue + ?Sized> {
    queue: Arc<Q>,
    clock: Arc<dyn Clock>,
    config: RetentionConfig,
}

impl<Q: DeliveryQueue + ?Sized> fmt::Debug for RetentionTask<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetentionTask").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<Q: DeliveryQueue + ?Sized> RetentionTask<Q> {
    /// The task over `queue`, with the time from `clock`.
    pub fn new(queue: Arc<Q>, config: RetentionConfig, clock: Arc<dyn Clock>) -> Self {
        Self { queue, clock, config }
    }

    /// Runs [`run`](Self::run) on the current tokio runtime.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()>
    where
        Q: 'static,
    {
        tokio::spawn(self.run(shutdown))
    }

    /// Purges now and then every interval, until `shutdown` is cancelled. A store failure
    /// is logged and tried again at the next interval.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match purge_settled(self.queue.as_ref(), self.clock.now(), &self.config, &shutdown).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "settled events purged from the outbox"),
                Err(error) => tracing::warn!(%error, "cannot purge settled events; trying again later"),
            }
        }
    }
}
