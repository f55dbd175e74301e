//! Every error the ports speak, in one place: what the driven ports return
//! ([`RepositoryError`], [`UpdateError`], [`AuthError`]) and what the driving port returns
//! ([`ServiceError`], [`FieldError`]), with the conversions between them.

use evo_domain::SessionError;

use crate::idempotency::KeyedRefusal;

/// Why a credential did not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token at all.
    #[error("authentication required")]
    MissingToken,
    /// A token that is malformed, wrongly signed, expired, not yet valid, or lacks a
    /// required claim. The reason is safe to show: it never holds the token.
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as named on the wire (`memberToRemove`, `members[1].identity`).
    pub field: String,
    /// A stable code: `NotEmpty`, `InvalidIdentity`, `InvalidId`, `InvalidValue`, `Length`, `Duplicate`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

/// Why a use case did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// One or more fields are missing or malformed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A domain rule or the access policy refused.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The store failed, as it said: unavailable (nothing applied), outcome unknown, or
    /// anything else (whose detail is for the log only).
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// A keyed request whose key is busy or taken.
    #[error(transparent)]
    Keyed(#[from] KeyedRefusal),
    /// The pre-removal hook refused the removal, with its message when it gave one.
    #[error("the pre-removal hook refused the removal")]
    RemovalRefused(Option<String>),
}

/// A store failure, as the use cases see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// The store cannot be reached or is saturated right now (pool timeout, refused or lost
    /// connection, statement timeout). Worth retrying; the edge answers 503.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// The connection was lost (or a deadline passed) after the change's COMMIT was sent, and
    /// the store could not find out whether it committed. Unlike `Unavailable`, the change may
    /// have been applied.
    #[error("the outcome of the change is unknown: {0}")]
    OutcomeUnknown(String),
    /// A session with this ID already exists.
    #[error("a session with this ID already exists")]
    AlreadyExists,
    /// Anything else: a bug or corrupt data. The edge answers 500 and logs the detail.
    #[error("session store failure: {0}")]
    Internal(String),
}

/// Why [`SessionRepository::update`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The domain rule refused the change (including an unknown session: `NotFound`).
    #[error(transparent)]
    Rejected(#[from] SessionError),
    /// The store failed; nothing was committed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// A keyed request whose key is busy or taken.
    #[error(transparent)]
    Keyed(#[from] KeyedRefusal),
}

impl From<UpdateError> for ServiceError {
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::Rejected(rejected) => rejected.into(),
            UpdateError::Repository(failure) => failure.into(),
            UpdateError::Keyed(refusal) => refusal.into(),
        }
    }
}
