//! What the delivery worker tells `/metrics` (the `metrics` facade; the binary installs the
//! Prometheus recorder). Label values come from fixed sets only.

/// Counter, label `outcome` = `delivered` | `retried` | `dead_lettered`: attempts by outcome.
pub const DELIVERIES_TOTAL: &str = "evo_webhook_deliveries_total";
/// Histogram, seconds from an event's `pending_since` to its delivery.
pub const DELIVERY_LATENCY: &str = "evo_webhook_delivery_latency_seconds";
/// Gauge: events waiting for delivery, retries included (read from the store).
pub const PENDING: &str = "evo_webhook_pending";
/// Gauge: dead letters kept (read from the store).
pub const DEAD_LETTERS: &str = "evo_webhook_dead_letters";

/// Buckets that suit [`DELIVERY_LATENCY`], from a prompt delivery to the end of a day of
/// retries: for the binary's `PrometheusBuilder::set_buckets_for_metric`.
pub const DELIVERY_LATENCY_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0];

/// The `outcome` of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    Retried,
    DeadLettered,
}

impl Outcome {
    const fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retried => "retried",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

pub(crate) fn describe() {
    metrics::describe_counter!(DELIVERIES_TOTAL, "Webhook delivery attempts, by outcome.");
    metrics::describe_histogram!(
        DELIVERY_LATENCY,
        metrics::Unit::Seconds,
        "Time from an event's commit (or redelivery) to its delivery."
    );
    metrics::describe_gauge!(PENDING, "Events waiting for webhook delivery, retries included.");
    metrics::describe_gauge!(DEAD_LETTERS, "Events whose webhook delivery was given up (dead letters).");
    // Every outcome shows from the start, at zero, so that rates work before the first failure.
    for outcome in [Outcome::Delivered, Outcome::Retried, Outcome::DeadLettered] {
        metrics::counter!(DELIVERIES_TOTAL, "outcome" => outcome.label()).increment(0);
    }
}

pub(crate) fn count(outcome: Outcome) {
    metrics::counter!(DELIVERIES_TOTAL, "outcome" => outcome.label()).increment(1);
}

pub(crate) fn latency(seconds: f64) {
    metrics::histogram!(DELIVERY_LATENCY).record(seconds);
}

pub(crate) fn counts(pending: u64, dead: u64) {
    // Gauges are f64; counts beyond 2^53 lose precision, which no outbox reaches.
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!(PENDING).set(pending as f64);
        metrics::gauge!(DEAD_LETTERS).set(dead as f64);
    }
}
