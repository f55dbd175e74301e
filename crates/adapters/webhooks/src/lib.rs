//! # evo-webhooks
//!
//! Webhook delivery for evo-sessions (docs/api.md, "Webhooks").
//!
//! - [`DeliveryWorker`]: the background loop that delivers the outbox ([`DeliveryQueue`](evo_ports::DeliveryQueue))
//!   to `EVO_WEBHOOK_URL` with [`WebhookSender`], retries failures with capped exponential
//!   backoff ([`retry_delay`]: 1 s, doubling, at most 10 min apart) for
//!   `EVO_WEBHOOK_RETRY_HOURS`, then dead-letters them; it keeps the gauges of
//!   [`metrics`] fresh.
//! - [`RetentionTask`] / [`purge_settled`]: deletes settled events past
//!   `EVO_EVENT_RETENTION_HOURS`, in bounded batches.
//! - [`HttpRemovalHook`]: the pre-removal hook ([`RemovalHook`](evo_ports::RemovalHook)).
//! - [`EventSettings`] → [`EventsConfig`] ([`WebhookConfig`], [`HookConfig`],
//!   [`RetentionConfig`]): the settings, checked once.
//!
//! ## The requests
//!
//! Each event is POSTed as its JSON body (`Content-Type: application/json`), signed as the
//! [Standard Webhooks](https://www.standardwebhooks.com/) specification says, with the
//! key of `EVO_WEBHOOK_SECRET` (`whsec_<base64>`):
//!
//! - `webhook-id`: `evt_` followed by the event's `id` (the body's `id`, the live stream's
//!   `id:`): the same on every attempt and every redelivery of that event. The pre-removal
//!   hook's question is not an outbox event: its body has no `id`, and its `webhook-id` is
//!   `msg_` and a random UUID, new for each question.
//! - `webhook-timestamp`: the attempt's time, in Unix seconds (the wall clock at each
//!   attempt, so that a retry a day later still passes the verifiers' freshness check).
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
//!
//! The standard verification libraries accept these requests as they are (a test checks
//! ours against the `standardwebhooks` crate). A 2xx answer is delivery; any other status
//! (a redirect included: none is followed), no answer within 10 s, or no connection is a
//! failed attempt.
//!
//! ## At-least-once: what receivers must do
//!
//! Every event is delivered **at least once**, not exactly once. The same event comes again
//! when the receiver's 2xx was lost, timed out, or arrived after the instance crashed and
//! before it recorded the delivery, and after `evo-sessions webhooks redeliver`. Receivers
//! must therefore **drop duplicates by `webhook-id`** (or the body's `id`), keeping the ids
//! seen for at least the retry window (24 h) plus the time until an operator might
//! redeliver, and answer 2xx to a duplicate too (otherwise it is retried).
//!
//! Events of one session arrive **in order**: an event is not sent until every earlier event
//! of its session was delivered or dead-lettered. A duplicate may arrive after later events
//! of its session, so a receiver that keeps state should also ignore an event whose `id` is
//! not above the last one it applied for that session. Events of different sessions are
//! delivered concurrently, in no particular order. A receiver that answers non-2xx holds up
//! that session's later events until the event is delivered or dead-lettered.
//!
//! ## Threads
//!
//! ureq makes each request on a tokio blocking thread, so nothing here blocks an async
//! worker; the delivery worker runs beside the request path and never delays it.

pub mod config;
pub mod hook;
pub mod metrics;
pub mod retention;
pub mod sender;
pub mod signing;
mod transport;
pub mod worker;

pub use config::{
    ConfigError, EventSettings, EventsConfig, HookConfig, RetentionConfig, SecretError, WebhookConfig,
    WebhookSecret,
};
pub use hook::HttpRemovalHook;
pub use retention::{RetentionTask, purge_settled};
pub use sender::{DeliveryFailure, WebhookSender};
pub use signing::{
    HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP, SignedHeaders, signature,
};
pub use worker::{DeliveryWorker, retry_delay};

// Re-exported so that the binary needs no direct tokio-util dependency to stop the tasks.
pub use tokio_util::sync::CancellationToken;
