//! # evo-store-sql
//!
//! What the SQL session stores (PostgreSQL and SQLite) share: one diesel [`schema`] for both,
//! plain derived records of its tables and their mapping to and from the domain
//! ([`records`]), the decision of a change inside the store's transaction ([`change`]), the
//! outbox rows and the fair order of their delivery ([`events`]), and the rule for a key
//! already held ([`keys`]).

mod change;
mod events;
mod keys;
pub mod records;
pub mod schema;
pub mod search;
mod sql_conversions;

pub use change::{ChangeRequest, ChangeWrites, LoadedSession, MemberWrite, Refusal, decide};
pub use events::{
    ACCOUNTS_PER_CLAIM, AccountTurns, EVENTS_PER_ACCOUNT_TURN, EventRecord, EventRow, EventSignal,
    MAX_EVENTS_PAGE_BYTES, NEXT_PENDING_ACCOUNT_SQL, NEXT_PENDING_ACCOUNT_UP_TO_SQL, NewEvent, NextAccount,
    Outbox, PendingRow, SummaryRenderer, Turn, delivery, events_within_page, octet_length,
};
pub use keys::{KeptAnswerRow, KeyVerdict, kept_answer_of};
pub use records::{
    HeaderChange, LogRecord, MemberRecord, NewMember, SessionRecord, application_data_to_json,
    breadcrumbs_to_json, restore_session,
};
pub use sql_conversions::{JsonValue, TimestampValue};

/// A stored row that does not make a valid session: corrupt data or a schema mismatch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored session {session}: column {column}: {problem}")]
pub struct CorruptRow {
    /// The session the row belongs to.
    pub session: String,
    /// The column that holds the bad value.
    pub column: &'static str,
    /// What is wrong with it.
    pub problem: String,
}
