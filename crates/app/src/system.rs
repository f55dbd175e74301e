//! The plainest driven adapters: the system clock and random session IDs.

use evo_domain::{SessionId, Timestamp};
use evo_ports::{Clock, IdGenerator};

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// Random (v4) UUIDs as session IDs: unguessable, so an ID alone reveals nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidSessionIds;

impl IdGenerator for UuidSessionIds {
    fn new_session_id(&self) -> SessionId {
        SessionId::parse(&uuid::Uuid::new_v4().to_string()).expect("a UUID is a valid session ID")
    }
}
