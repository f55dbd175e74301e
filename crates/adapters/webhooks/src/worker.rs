//! The background delivery loop over the outbox ([`DeliveryQueue`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use evo_domain::Timestamp;
use evo_ports::{Clock, DeliveryQueue, EventId, PendingDelivery, RepositoryError};
use futures_util::StreamExt as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::WebhookConfig;
use crate::metrics::{self, Outcome};
use crate::sender::WebhookSender;

/// The delay before the next attempt after the `failures`-th failed one: `first`, doubled
/// for each further failure, never more than `max`.
///
/// A formula rather than a backoff crate: the attempt count lives in the store (it survives
/// restarts), so the delay must be a pure function of it, while the crates (backon,
/// backoff) model an in-process retry loop that owns its state; without jitter (docs/api.md,
/// "Webhooks", fixes the schedule) the crate would add a dependency to compute one line.
pub fn retry_delay(failures: u32, first: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    first.saturating_mul(1 << doublings).min(max)
}

/// How soon a delivery record the store refused is tried again (within the batch's lease).
const RECORD_AGAIN_AFTER: Duration = Duration::from_millis(250);

/// `at` plus `span`, saturating at the end of time.
pub(crate) fn later(at: Timestamp, span: Duration) -> Timestamp {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|span| at.checked_add_signed(span))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Returns once the lease `held` ends (on `clock`) without having been renewed.
async fn lease_lapses(held: &mut tokio::sync::watch::Receiver<Timestamp>, clock: &dyn Clock) {
    loop {
        let left = (*held.borrow_and_update() - clock.now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(left) => {}
            changed = held.changed() => {
                if changed.is_err() {
                    // The renewal is gone (its batch is over): the last end stands.
                    tokio::time::sleep(left).await;
                }
            }
        }
    }
}

/// What one claim came to.
struct Worked {
    claimed: usize,
    delivered: usize,
}

/// Delivers the outbox to the webhook, in the background: claims due events, POSTs them
/// (several sessions at once, each session's events one after the other, in order), and
/// records each outcome (delivered, retry later with backoff, or dead letter once the retry
/// window has passed). Wakes when [`waker`](Self::waker) is notified (the store, after a
/// commit), and otherwise every `poll_interval`. A failing store is waited out.
pub struct DeliveryWorker<Q: DeliveryQueue + ?Sized> {
    queue: Arc<Q>,
    sender: WebhookSender,
    clock: Arc<dyn Clock>,
    config: WebhookConfig,
    wake: Arc<Notify>,
}

impl<Q: DeliveryQueue + ?Sized> fmt::Debug for DeliveryWorker<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryWorker").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How one attempt ended, for the rest of its session's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Delivered (recorded with the batch): the session's next event may go.
    Delivered,
    /// Not delivered: the session's later events wait for the next claim.
    Stopped,
}

impl<Q: DeliveryQueue + ?Sized> DeliveryWorker<Q> {
    /// A worker over `queue`, delivering as `config` says, reading the time from `clock`
    /// (the schedule's time; signatures always carry the wall clock's).
    pub fn new(queue: Arc<Q>, config: WebhookConfig, clock: Arc<dyn Clock>) -> Self {
        Self { sender: WebhookSender::new(&config), queue, clock, config, wake: Arc::new(Notify::new()) }
    }

    /// Uses `wake` as the wake-up handle (one made before the worker, handed to the store).
    #[must_use]
    pub fn with_waker(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// The wake-up handle: `notify_one()` after a commit makes the worker claim at once
    /// (a wake-up while it works is kept for when it is done, so none is lost).
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Runs [`run`](Self::run) on the current tokio runtime.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()>
    where
        Q: 'static,
    {
        tokio::spawn(self.run(shutdown))
    }

    /// Delivers until `shutdown` is cancelled, and keeps the pending and dead-letter gauges
    /// fresh. On shutdown no new attempt starts; attempts under way finish and are recorded
    /// (each is bounded by the request timeout). Events claimed but not attempted are taken
    /// again once their lease ends.
    pub async fn run(self, shutdown: CancellationToken) {
        metrics::describe();
        tracing::info!(url = %self.config.redacted_url(), "webhook delivery started");
        tokio::join!(self.deliver_until(&shutdown), self.count_until(&shutdown));
        tracing::info!("webhook delivery stopped");
    }

    async fn deliver_until(&self, shutdown: &CancellationToken) {
        while !shutdown.is_cancelled() {
            let pause = match self.work_due(shutdown).await {
                // A full batch, or a delivery (its session's next event is due now): more may
                // be due right now.
                Ok(Worked { claimed, delivered })
                    if claimed >= self.config.batch_size as usize || delivered > 0 =>
                {
                    None
                }
                Ok(_) => Some(self.config.poll_interval),
                Err(error) => {
                    tracing::warn!(%error, "cannot claim events for webhook delivery; trying again shortly");
                    Some(self.config.poll_interval)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }

    async fn count_until(&self, shutdown: &CancellationToken) {
        let mut ticks = tokio::time::interval(self.config.counts_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match self.queue.delivery_counts().await {
                Ok(counts) => metrics::counts(counts.pending, counts.dead),
                Err(error) => tracing::debug!(%error, "cannot read the webhook delivery counts"),
            }
        }
    }

    /// Claims one batch of due events and works it; returns how many were claimed. The
    /// background loop calls this; it is public for one-off passes (and tests).
    pub async fn run_once(&self) -> Result<usize, RepositoryError> {
        Ok(self.work_due(&CancellationToken::new()).await?.claimed)
    }

    async fn work_due(&self, shutdown: &CancellationToken) -> Result<Worked, RepositoryError> {
        let lease_until = later(self.clock.now(), self.config.lease);
        let batch = self.queue.claim_due(self.clock.now(), lease_until, self.config.batch_size).await?;
        let claimed = batch.len();
        if claimed == 0 {
            return Ok(Worked { claimed, delivered: 0 });
        }
        let ids: Vec<EventId> = batch.iter().map(|pending| pending.event.id).collect();
        let (held, lease) = tokio::sync::watch::channel(lease_until);
        let delivered = std::sync::Mutex::new(Vec::new());
        let work =
            futures_util::stream::iter(chains(batch)).for_each_concurrent(self.config.concurrency, |chain| {
                let lease = lease.clone();
                let delivered = &delivered;
                async move {
                    let ids = self.work_chain(chain, lease, shutdown).await;
                    delivered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(ids);
                }
            });
        // The lease is renewed while the batch is worked; the renewal never ends by itself.
        tokio::select! {
            () = work => {}
            () = self.keep_lease(&ids, &held) => {}
        }
        let delivered = delivered.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        if delivered.is_empty() {
            return Ok(Worked { claimed, delivered: 0 });
        }
        // One record for the whole batch, within its lease. The lease is this worker's until
        // it ends, so a record the store refused is tried again until then: a database that
        // comes back (a restart, a failover's new primary) takes it, and the sessions' next
        // events need not wait out the lease, nor the receiver get these again.
        let lease_end = *held.borrow();
        loop {
            match self.queue.mark_delivered(&delivered, self.clock.now()).await {
                Ok(()) => {
                    tracing::debug!(events = ?delivered, "webhooks delivered");
                    return Ok(Worked { claimed, delivered: delivered.len() });
                }
                Err(error)
                    if self.clock.now() + RECORD_AGAIN_AFTER >= lease_end || shutdown.is_cancelled() =>
                {
                    // Delivered, but the store does not know: they are sent again after the
                    // lease (at-least-once), and their sessions' next events wait for that.
                    tracing::warn!(events = ?delivered, %error, "webhooks delivered but not recorded");
                    return Ok(Worked { claimed, delivered: 0 });
                }
                Err(error) => {
                    tracing::debug!(%error, "cannot record delivered webhooks yet; trying again within the lease");
                    tokio::time::sleep(RECORD_AGAIN_AFTER).await;
                }
            }
        }
    }

    /// Renews the batch's lease every third of it, publishing each new end in `held`. A
    /// renewal that fails is tried again at the next turn; the attempts stop on their own when
    /// the end they know passes (see [`lease_lapses`]). Never returns.
    async fn keep_lease(&self, ids: &[EventId], held: &tokio::sync::watch::Sender<Timestamp>) {
        let every = self.config.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let (until, renewed_until) = (*held.borrow(), later(self.clock.now(), self.config.lease));
            match self.queue.renew_lease(ids, until, renewed_until).await {
                Ok(renewed) if renewed.is_empty() => tracing::debug!("no claimed event left to renew"),
                Ok(_) => {
                    held.send_replace(renewed_until);
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot renew the lease of claimed webhook events; attempts stop when it ends");
                }
            }
        }
    }

    /// One session's claimed events, in order, up to the first that is not delivered or the
    /// lease's end; returns the delivered ones (recorded by the caller, with the rest of the
    /// batch).
    async fn work_chain(
        &self,
        chain: Vec<PendingDelivery>,
        mut lease: tokio::sync::watch::Receiver<Timestamp>,
        shutdown: &CancellationToken,
    ) -> Vec<EventId> {
        let mut delivered = Vec::new();
        for pending in chain {
            if shutdown.is_cancelled() {
                break;
            }
            // Past the lease's end another worker may hold the event: an attempt then could
            // run beside its attempt, so none starts, and the worker stops waiting for one under
            // way (its POST, on a blocking thread, may still reach the receiver; whoever claims
            // the event next sends it again: at-least-once).
            let attempt = tokio::select! {
                biased;
                () = lease_lapses(&mut lease, self.clock.as_ref()) => Attempt::Stopped,
                attempt = self.attempt(&pending) => attempt,
            };
            if attempt == Attempt::Stopped {
                break;
            }
            delivered.push(pending.event.id);
        }
        delivered
    }

    async fn attempt(&self, pending: &PendingDelivery) -> Attempt {
        let event = &pending.event;
        let result = self.sender.deliver(event).await;
        let now = self.clock.now();
        let failure = match result {
            Ok(()) => {
                metrics::count(Outcome::Delivered);
                let waited = (now - pending.pending_since).to_std().unwrap_or_default();
                metrics::latency(waited.as_secs_f64());
                return Attempt::Delivered;
            }
            Err(failure) => failure.to_string(),
        };
        let attempts = pending.attempts.saturating_add(1);
        let give_up_at = later(pending.pending_since, self.config.retry_window);
        let recorded = if now >= give_up_at {
            metrics::count(Outcome::DeadLettered);
            tracing::warn!(
                event = event.id,
                session = %event.session_id,
                attempts,
                error = %failure,
                "webhook delivery given up: the event is a dead letter"
            );
            self.queue.mark_dead(event.id, attempts, &failure).await
        } else {
            metrics::count(Outcome::Retried);
            // The last attempt falls at the window's end, whatever the backoff says.
            let next =
                later(now, retry_delay(attempts, self.config.first_retry, self.config.max_retry_delay))
                    .min(give_up_at);
            tracing::info!(
                event = event.id,
                session = %event.session_id,
                attempts,
                error = %failure,
                next_attempt_at = %next,
                "webhook delivery failed; will retry"
            );
            self.queue.mark_retry(event.id, attempts, next, &failure).await
        };
        if let Err(error) = recorded {
            tracing::warn!(event = event.id, %error, "cannot record a failed webhook attempt; the lease will end it");
        }
        Attempt::Stopped
    }
}

/// The batch split by session, each session's events in id order, the sessions in the order
/// of their first event.
fn chains(batch: Vec<PendingDelivery>) -> Vec<Vec<PendingDelivery>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut chains: Vec<Vec<PendingDelivery>> = Vec::new();
    let mut batch = batch;
    batch.sort_by_key(|pending| pending.event.id);
    for pending in batch {
        let next = chains.len();
        let slot = *index.entry(pending.event.session_id.clone()).or_insert(next);
        if slot == next {
            chains.push(Vec::new());
        }
        chains[slot].push(pending);
    }
    chains
}

#[cfg(test)]
mod tests {
    use evo_domain::EventType;
    use evo_ports::StoredEvent;

    use super::*;

    #[test]
    fn the_delay_doubles_from_the_first_up_to_the_cap() {
        let delay = |failures| retry_delay(failures, Duration::from_secs(1), Duration::from_secs(600));
        let seconds: Vec<u64> = (1..=12).map(|failures| delay(failures).as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(delay(0), Duration::from_secs(1));
        assert_eq!(delay(u32::MAX), Duration::from_secs(600));
    }

    #[test]
    fn a_batch_splits_into_ordered_chains_per_session() {
        let pending = |id, session: &str| PendingDelivery {
            event: StoredEvent {
                id,
                event_type: EventType::ChatMemberAdded,
                account_id: "acme".into(),
                session_id: session.into(),
                body: "{}".into(),
            },
            attempts: 0,
            pending_since: DateTime::<Utc>::UNIX_EPOCH,
        };
        let batch = vec![pending(5, "b"), pending(3, "a"), pending(4, "b"), pending(1, "a"), pending(9, "c")];
        let ids: Vec<Vec<u64>> = chains(batch)
            .iter()
            .map(|chain| chain.iter().map(|pending| pending.event.id).collect())
            .collect();
        assert_eq!(ids, [vec![1, 3], vec![4, 5], vec![9]]);
    }
}
