//! # evo-ports
//!
//! The boundary of the hexagon.
//!
//! - [`driving`]: what the service offers ([`SessionUseCases`]); the HTTP adapter calls
//!   only this and [`streams`] ([`EventStreams`], the live streams).
//! - [`errors`]: every error the ports return, and the conversions between them.
//! - [`events`]: the outbox read back (streams, webhook delivery) and the pre-removal hook.
//! - [`queries`]: finding sessions (ListSessions' filters and pages, a member's sessions).
//! - [`driven`]: what the use cases need ([`SessionRepository`], [`TokenVerifier`],
//!   [`Clock`], [`IdGenerator`]); the store and JWT adapters implement these.
//!
//! With the `mock` feature every trait has a mockall `Mock*` twin.

pub mod driven;
pub mod driving;
pub mod errors;
pub mod events;
pub mod idempotency;
pub mod queries;
pub mod streams;

pub use driven::{Clock, IdGenerator, SessionRepository, TokenVerifier};
pub use driving::{
    Change, Ending, IdempotencyInput, OpenSession, Parsed, Removal, RemovalReport, RemovalsOfMember,
    SessionRemoval, SessionUseCases,
};
pub use errors::{AuthError, FieldError, RepositoryError, ServiceError, UpdateError};
pub use events::{
    DeliveryCounts, DeliveryQueue, EventFilter, EventId, EventLog, EventRenderer, HookVerdict,
    PendingDelivery, RemovalHook, StoredEvent,
};
#[cfg(feature = "mock")]
pub use idempotency::Applied;
pub use idempotency::{AnswerRenderer, ChangeOutcome, Idempotency, KeptAnswer, KeyedRefusal};
pub use queries::{
    AccountScope, ListSessions, MemberSessions, Paging, SessionFilter, SessionPage, SessionSearch, SortField,
    SortOrder,
};
pub use streams::EventStreams;

#[cfg(feature = "mock")]
pub use driven::{MockClock, MockIdGenerator, MockSessionRepository, MockTokenVerifier};
#[cfg(feature = "mock")]
pub use driving::MockSessionUseCases;
#[cfg(feature = "mock")]
pub use events::{MockDeliveryQueue, MockEventLog, MockRemovalHook};
#[cfg(feature = "mock")]
pub use streams::MockEventStreams;
