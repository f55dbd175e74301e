//! # evo-domain
//!
//! The rules of evo-sessions' chat sessions, free of I/O: no runtime, no database, no HTTP,
//! no clock (callers pass `now`). Other services may depend on this crate alone.
//!
//! - [`identity`]: member identities (E.164 phone numbers and user IDs) and why one is invalid.
//! - [`ids`]: typed session and account IDs.
//! - [`states`]: the named states (dial, call, queue state, channel, roles...).
//! - [`access`]: the caller ([`Actor`]) and the role and tenancy policy.
//! - [`session`]: the [`Session`] aggregate and its rules: open, invite, remove, end.
//! - [`command`]: what a command asks ([`SessionCommand`]) and what a change did ([`SessionChange`]).
//! - [`events`]: what each change tells the world ([`SessionEvent`]).
//!
//! Enable the `serde` feature to (de)serialize IDs, enums and breadcrumbs.

pub mod access;
pub mod command;
pub mod events;
pub mod identity;
pub mod ids;
pub mod session;
pub mod states;

pub use access::{ADMIN_ROLE, AccessError, Actor, SYSTEM_ADMINISTRATOR_ROLE, USER_ROLE, VisibleAccounts};
pub use events::{Departure, EventActor, EventType, SessionEvent};
pub use identity::{IdentityError, MemberIdentity, PhoneNumber, UserId};
pub use ids::{AccountId, IdError, SessionId};
pub use session::{
    ChangeKind, CustomerBreadcrumb, IfVersion, LogEntry, MAX_LOG_ENTRIES, MAX_MEMBERS, MAX_REASON_CHARS,
    Member, NewMember, NewSession, ReasonError, RemovalReason, Session, SessionChange, SessionCommand,
    SessionData, SessionDetails, SessionError, SessionPatch, Timestamp,
};
pub use states::{
    CallState, Channel, DialState, Direction, HoldReason, MemberCallState, MemberRole, QueueState,
    UnknownVariant,
};

#[cfg(test)]
mod session_tests;
