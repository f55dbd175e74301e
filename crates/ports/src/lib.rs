//! # evo-ports
//!
//! The boundary of the hexagon.
//!
//! - [`driving`]: what the service offers ([`SessionUseCases`]); the HTTP adapter calls
//!   only this.
//! - [`driven`]: what the use cases need ([`SessionRepository`], [`TokenVerifier`],
//!   [`Clock`], [`IdGenerator`]); the store and JWT adapters implement these.
//!
//! With the `mock` feature every trait has a mockall `Mock*` twin.

pub mod driven;
pub mod driving;

pub use driven::{Clock, IdGenerator, RepositoryError, SessionRepository, TokenVerifier, UpdateError};
pub use driving::{
    AuthError, BreadcrumbInput, DeleteChatMemberInput, FieldError, InviteChatMemberInput, NewMemberInput,
    NewSessionInput, ServiceError, SessionUseCases,
};

#[cfg(feature = "mock")]
pub use driven::{MockClock, MockIdGenerator, MockSessionRepository, MockTokenVerifier};
#[cfg(feature = "mock")]
pub use driving::MockSessionUseCases;
