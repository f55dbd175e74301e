//! One reader of new events per instance, fanned out in memory to every live stream
//! (docs/api.md, "Live streams (Server-Sent Events)"): however many streams are open, each
//! new event is read from the store once, and an idle stream costs no store read. A stream
//! reads the store itself only to replay what it missed (after `Last-Event-ID`, or after
//! falling behind the fan-out).
//!
//! The hub also counts the open streams, per caller and in all, against their limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use evo_ports::{EventFilter, EventId, EventStreams, StoredEvent};
use tokio::sync::broadcast;

/// Events the fan-out keeps for streams that have not taken them yet; a stream further behind
/// replays from the store.
const FAN_OUT_CAPACITY: usize = 4096;
/// Events the reader takes from the store at a time.
const READ_PAGE: u32 = 500;
/// How long the reader waits for news before it reads anyway (a lost wake-up costs at most
/// this; the stores' own signals already cover a lost notification within a second).
const READ_PATIENCE: Duration = Duration::from_secs(5);
/// The first pause after a failed read; each further failure doubles it, up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between two reads that fail.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long reads may keep failing before the streams that wait on them end.
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// `/metrics`: the live streams open on this instance (gauge).
pub const STREAMS_OPEN: &str = "evo_streams_open";
/// `/metrics`: reads of the outbox for live streams, by who read (`reader`: the instance's one
/// reader of new events; `replay`: a stream catching up).
pub const STREAM_READS_TOTAL: &str = "evo_stream_store_reads_total";

/// [`EventHub::subscribe`]'s number while the reader does not know yet where it starts: every
/// stream replays from the store meanwhile.
pub(crate) const NOT_READY: EventId = EventId::MAX;

/// How many streams may be open on this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// `EVO_STREAMS_PER_CALLER`: per caller (`sub`).
    pub per_caller: usize,
    /// `EVO_STREAMS_MAX`: all callers together.
    pub max: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self { per_caller: 8, max: 10_000 }
    }
}

/// The instance's reader of new events and its fan-out to the streams.
pub(crate) struct EventHub {
    streams: Arc<dyn EventStreams>,
    fan_out: broadcast::Sender<Arc<StoredEvent>>,
    /// The number of the last event handed to the fan-out; [`NOT_READY`] until the reader
    /// knows where it starts.
    published: AtomicU64,
    /// Since when the reader's reads fail (`None`: they work).
    failing_since: Mutex<Option<Instant>>,
    open: Mutex<OpenStreams>,
    limits: StreamLimits,
}

#[derive(Default)]
struct OpenStreams {
    total: usize,
    per_caller: HashMap<String, usize>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamRefused {
    /// The caller holds its limit of streams.
    CallerAtLimit,
    /// The instance holds its limit of streams.
    InstanceAtLimit,
}

/// An open stream's place in the counts; given back when dropped.
pub(crate) struct StreamPermit {
    hub: Arc<EventHub>,
    caller: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        metrics::gauge!(STREAMS_OPEN).set(open.total as f64);
        if let Some(count) = open.per_caller.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                open.per_caller.remove(&self.caller);
            }
        }
    }
}

impl EventHub {
    /// A hub over `streams`; its reader starts on the current Tokio runtime and stops when the
    /// hub is dropped.
    pub(crate) fn start(streams: Arc<dyn EventStreams>, limits: StreamLimits) -> Arc<Self> {
        let (fan_out, _) = broadcast::channel(FAN_OUT_CAPACITY);
        let hub = Arc::new(Self {
            streams,
            fan_out,
            published: AtomicU64::new(NOT_READY),
            failing_since: Mutex::new(None),
            open: Mutex::new(OpenStreams::default()),
            limits,
        });
        tokio::spawn(read_new_events(Arc::downgrade(&hub)));
        hub
    }

    /// Counts one more stream of `caller`, unless that passes a limit.
    pub(crate) fn admit(self: &Arc<Self>, caller: &str) -> Result<StreamPermit, StreamRefused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.limits.max {
            return Err(StreamRefused::InstanceAtLimit);
        }
        let count = open.per_caller.entry(caller.to_owned()).or_default();
        if *count >= self.limits.per_caller {
            return Err(StreamRefused::CallerAtLimit);
        }
        *count += 1;
        open.total += 1;
        metrics::gauge!(STREAMS_OPEN).set(open.total as f64);
        Ok(StreamPermit { hub: Arc::clone(self), caller: caller.to_owned() })
    }

    /// A receiver of every event the reader hands out from now on, and the number of the last
    /// event handed out before it: what is at or below that number a stream must replay from
    /// the store, what is above comes through the receiver ([`NOT_READY`]: replay everything,
    /// and go on replaying until the reader is ready).
    pub(crate) fn subscribe(&self) -> (broadcast::Receiver<Arc<StoredEvent>>, EventId) {
        let receiver = self.fan_out.subscribe();
        (receiver, self.published.load(Ordering::SeqCst))
    }

    /// Whether the reader knows where it starts (before, a stream cannot rely on it).
    pub(crate) fn is_ready(&self) -> bool {
        self.published.load(Ordering::SeqCst) != NOT_READY
    }

    /// How long the reader's reads have been failing.
    pub(crate) fn failing_for(&self) -> Duration {
        self.failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// The store the streams replay from.
    pub(crate) fn store(&self) -> &Arc<dyn EventStreams> {
        &self.streams
    }

    fn set_failing(&self, failing: bool) {
        let mut since = self.failing_since.lock().unwrap_or_else(PoisonError::into_inner);
        match (failing, *since) {
            (true, None) => *since = Some(Instant::now()),
            (false, Some(_)) => *since = None,
            _ => {}
        }
    }
}

/// The reader: waits for news of events, reads them once, hands each to the fan-out. Ends
/// when the hub is gone.
async fn read_new_events(hub: std::sync::Weak<EventHub>) {
    let mut backoff = FIRST_BACKOFF;
    // Where to start: the newest event now (streams replay anything older themselves).
    let mut last = loop {
        let Some(strong) = hub.upgrade() else { return };
        let newest = strong.streams.last_event_id().await;
        strong.set_failing(newest.is_err());
        match newest {
            Ok(newest) => break newest,
            Err(error) => tracing::warn!(%error, "the live streams cannot read the newest event; retrying"),
        }
        drop(strong);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    };
    let mut known = last;
    loop {
        let Some(strong) = hub.upgrade() else { return };
        // No stream open: nothing to read. What is known readable counts as handed out (a
        // stream that opens later starts after the store's newest event, or replays from the
        // store), unless a stream subscribed meanwhile: then it is read after all. Published
        // before the second look, so that a stream subscribing after that look starts at or
        // after it (see `subscribe`).
        if strong.fan_out.receiver_count() == 0 && known > last {
            strong.published.store(known, Ordering::SeqCst);
            if strong.fan_out.receiver_count() == 0 {
                last = known;
            }
        }
        strong.published.store(last, Ordering::SeqCst);
        if strong.fan_out.receiver_count() == 0 {
            // Failures are measured while reading: an idle reader knows of none.
            strong.set_failing(false);
        } else {
            let read = strong.streams.events_after(&EventFilter::All, last, READ_PAGE).await;
            metrics::counter!(STREAM_READS_TOTAL, "by" => "reader").increment(1);
            strong.set_failing(read.is_err());
            match read {
                Ok(events) => {
                    backoff = FIRST_BACKOFF;
                    // A page is cut at its count or at 1 MiB: read on while it brought
                    // anything and more is known to be readable.
                    let more = events.len() == READ_PAGE as usize;
                    let read_any = !events.is_empty();
                    for event in events {
                        last = event.id;
                        strong.published.store(last, Ordering::SeqCst);
                        // No stream listening is no error: the event is in the store.
                        let _ = strong.fan_out.send(Arc::new(event));
                    }
                    if more || (read_any && last < known) {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the live streams cannot read new events; retrying");
                    drop(strong);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let streams = Arc::clone(&strong.streams);
        drop(strong);
        // Waits past what is known already, so that a number the read did not reach yet
        // (not readable yet) does not make it read again at once.
        known = streams.wait_for_events_after(known.max(last), READ_PATIENCE).await.max(known);
    }
}
