//! Live streams over the outbox: who may watch what, and reading it back.

use std::time::Duration;

use async_trait::async_trait;
use evo_domain::{Actor, SessionError, USER_ROLE};
use evo_ports::{EventFilter, EventId, EventLog, EventStreams, ServiceError, StoredEvent};

/// [`EventStreams`] over any outbox.
#[derive(Debug, Clone)]
pub struct EventStreamService<L> {
    log: L,
}

impl<L: EventLog> EventStreamService<L> {
    /// Streams read from `log`.
    pub fn new(log: L) -> Self {
        Self { log }
    }
}

#[async_trait]
impl<L: EventLog> EventStreams for EventStreamService<L> {
    async fn watch_all(&self, actor: &Actor) -> Result<EventFilter, ServiceError> {
        actor.require_role(USER_ROLE).map_err(SessionError::from)?;
        Ok(if actor.sees_every_account() {
            EventFilter::All
        } else {
            EventFilter::Accounts(actor.account_ids.clone())
        })
    }

    async fn last_event_id(&self) -> Result<EventId, ServiceError> {
        Ok(self.log.last_event_id().await?)
    }

    async fn events_after(
        &self,
        filter: &EventFilter,
        after: EventId,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, ServiceError> {
        Ok(self.log.events_after(after, filter, limit).await?)
    }

    async fn wait_for_events_after(&self, after: EventId, patience: Duration) -> EventId {
        self.log.wait_for_events_after(after, patience).await
    }
}
