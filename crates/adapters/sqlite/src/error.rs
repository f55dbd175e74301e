//! What SQLite's errors mean for the caller.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use evo_domain::SessionError;
use evo_ports::{ChangeOutcome, RepositoryError, UpdateError};
use evo_store_sql::KeyVerdict;

pub(crate) fn pool_error(error: PoolError) -> RepositoryError {
    match error {
        PoolError::Timeout(kind) => {
            RepositoryError::Unavailable(format!("no database connection within the {kind:?} timeout"))
        }
        PoolError::Backend(error) => {
            RepositoryError::Unavailable(format!("cannot open the database: {error}"))
        }
        other => RepositoryError::Internal(format!("connection pool: {other}")),
    }
}

/// What a SQLite error means. diesel gives a kind for a unique violation but names neither
/// the constraint nor, for a lock held past the busy timeout, anything but the message: this
/// is the one place that reads SQLite's message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorMeaning {
    /// SQLITE_BUSY (5, "database is locked") or SQLITE_LOCKED (6, "database table is
    /// locked"): the lock was still held when the busy timeout ran out.
    Locked,
    /// SQLITE_CONSTRAINT_PRIMARYKEY or _UNIQUE naming `sessions.id`: "UNIQUE constraint failed:
    /// sessions.account_id, sessions.id" (the key) or "... failed: sessions.id" (its index).
    DuplicateSession,
    /// SQLITE_CONSTRAINT_UNIQUE on `session_members`: "UNIQUE constraint failed:
    /// session_members.account_id, session_members.session_id, session_members.identity_key".
    DuplicateMember,
    /// Anything else.
    Other,
}

impl ErrorMeaning {
    pub(crate) fn of(error: &DieselError) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let message = info.message();
                if message.contains(" sessions.id") {
                    Self::DuplicateSession
                } else if message.contains("failed: session_members.") {
                    Self::DuplicateMember
                } else {
                    Self::Other
                }
            }
            // Read from the whole error: a failed COMMIT wraps the database's error.
            other => {
                let text = other.to_string();
                if text.contains("database is locked") || text.contains("database table is locked") {
                    Self::Locked
                } else {
                    Self::Other
                }
            }
        }
    }
}

/// The port's error for a failed statement: a lock held past the busy timeout is
/// `Unavailable` (the client may retry), anything else `Internal`.
pub(crate) fn database_error(error: &DieselError) -> RepositoryError {
    match ErrorMeaning::of(error) {
        ErrorMeaning::Locked => RepositoryError::Unavailable(format!("the database stayed locked: {error}")),
        _ => RepositoryError::Internal(error.to_string()),
    }
}

/// What can end a change's transaction early (and roll it back).
#[derive(Debug)]
pub(crate) enum ChangeFailure {
    Rejected(SessionError),
    Keyed(KeyVerdict),
    Corrupt(String),
    Database(DieselError),
}

impl From<DieselError> for ChangeFailure {
    fn from(error: DieselError) -> Self {
        Self::Database(error)
    }
}

impl ChangeFailure {
    /// The port's answer: a replayed answer is an outcome, everything else an error.
    pub(crate) fn into_outcome<T>(self) -> Result<ChangeOutcome<T>, UpdateError> {
        match self {
            Self::Rejected(refusal) => Err(UpdateError::Rejected(refusal)),
            Self::Keyed(verdict) => verdict.into_outcome(),
            Self::Corrupt(reason) => Err(RepositoryError::Internal(reason).into()),
            Self::Database(error) => Err(database_error(&error).into()),
        }
    }
}

/// Whether a change's outcome is a database error (not a refusal): see `Writer::change`.
pub(crate) fn database_failed<T>(outcome: &Result<T, ChangeFailure>) -> bool {
    matches!(outcome, Err(ChangeFailure::Database(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn sqlite_messages_are_read_in_one_place() {
        let unique = DatabaseErrorKind::UniqueViolation;
        let unknown = DatabaseErrorKind::Unknown;
        let cases = [
            (database(unknown, "database is locked"), ErrorMeaning::Locked),
            (database(unknown, "database table is locked"), ErrorMeaning::Locked),
            (
                database(unique, "UNIQUE constraint failed: sessions.account_id, sessions.id"),
                ErrorMeaning::DuplicateSession,
            ),
            (
                database(
                    unique,
                    "UNIQUE constraint failed: session_members.account_id, session_members.session_id, \
                     session_members.identity_key",
                ),
                ErrorMeaning::DuplicateMember,
            ),
            (database(unique, "UNIQUE constraint failed: idempotency_keys.key"), ErrorMeaning::Other),
            (database(unknown, "no such table: sessions"), ErrorMeaning::Other),
        ];
        for (error, meaning) in cases {
            assert_eq!(ErrorMeaning::of(&error), meaning, "{error}");
        }
        assert!(matches!(
            database_error(&database(unknown, "database is locked")),
            RepositoryError::Unavailable(_)
        ));
        assert!(matches!(database_error(&database(unknown, "disk I/O error")), RepositoryError::Internal(_)));
    }
}
