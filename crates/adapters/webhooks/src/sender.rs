//! POSTing one outbox event to the webhook.

use std::time::Duration;

use evo_ports::{EventId, StoredEvent};

use crate::config::WebhookConfig;
use crate::transport::{PostOutcome, SignedPoster, short};

/// How much of a receiver's answer is read (and dropped), so that its connection can be
/// used again.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Why an attempt was not a delivery. Its text is short, and holds nothing of the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailure {
    /// The receiver answered with a status other than 2xx.
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    /// No answer within the request timeout.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// No answer at all (connection refused, reset, TLS failure...).
    #[error("{0}")]
    Transport(String),
}

/// Signs and POSTs outbox events to `EVO_WEBHOOK_URL`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    poster: SignedPoster,
}

impl WebhookSender {
    /// A sender to `config.url`, signing with `config.secret`, each request bounded by
    /// `config.request_timeout`.
    pub fn new(config: &WebhookConfig) -> Self {
        // Twice the worker's concurrency: attempts it stopped waiting for may still hold a thread.
        let max_in_flight = config.concurrency.saturating_mul(2);
        Self {
            poster: SignedPoster::new(
                &config.url,
                config.secret.clone(),
                config.request_timeout,
                max_in_flight,
            ),
        }
    }

    /// The `webhook-id` of an outbox event: `evt_` and its number, the same on every attempt
    /// and redelivery, so that receivers can drop duplicates.
    pub fn webhook_id(event: EventId) -> String {
        format!("evt_{event}")
    }

    /// POSTs `event.body` (`application/json`), signed with the current time. `Ok` on a 2xx.
    pub async fn deliver(&self, event: &StoredEvent) -> Result<(), DeliveryFailure> {
        match self.poster.post(Self::webhook_id(event.id), event.body.clone(), MAX_ANSWER_BYTES).await {
            PostOutcome::Answered { status, .. } if (200..300).contains(&status) => Ok(()),
            PostOutcome::Answered { status, .. } => Err(DeliveryFailure::Status(status)),
            PostOutcome::TimedOut => Err(DeliveryFailure::TimedOut(self.poster.timeout())),
            PostOutcome::Transport(detail) => Err(DeliveryFailure::Transport(short(&detail))),
            PostOutcome::Busy => Err(DeliveryFailure::TimedOut(self.poster.timeout())),
        }
    }
}
