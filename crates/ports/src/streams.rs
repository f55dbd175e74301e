//! The driving port of live streams (docs/api.md, "Live streams (Server-Sent Events)"): which
//! events a caller may watch,
//! and reading them in order, from the outbox, with no gap.

use async_trait::async_trait;
use evo_domain::{Actor, Session};

use crate::errors::ServiceError;
use crate::events::{EventFilter, EventId, StoredEvent};

/// What the `GET /events` and `GET /sessions/{id}/events` streams need.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventStreams: Send + Sync + 'static {
    /// The events of every session `actor` may see (the role GetSession requires, then the
    /// caller's accounts; every account for a caller that sees them all).
    async fn watch_all(&self, actor: &Actor) -> Result<EventFilter, ServiceError>;

    /// The events of `session`, already read for `actor` by GetSession (which checked role
    /// and visibility).
    fn watch_session(&self, session: &Session) -> EventFilter {
        EventFilter::Session { account_id: session.account_id.clone(), session_id: session.id.clone() }
    }

    /// The newest readable event's number: a stream without `Last-Event-ID` starts after it.
    async fn last_event_id(&self) -> Result<EventId, ServiceError>;

    /// At most `limit` events after `after` that `filter` admits, oldest first.
    async fn events_after(
        &self,
        filter: &EventFilter,
        after: EventId,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, ServiceError>;

    /// Waits until an event above `after` may be readable or `patience` passes; returns the
    /// highest number known to be readable.
    async fn wait_for_events_after(&self, after: EventId, patience: std::time::Duration) -> EventId;
}
