//! Store errors and how database failures map to the port's errors.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use evo_ports::RepositoryError;

/// Why the PostgreSQL store could not be set up or migrated. Never holds the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    /// The pool could not be built from the configuration.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    /// No connection could be opened.
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A migration failed.
    #[error("migrating the database failed: {0}")]
    Migration(String),
}

/// What a failed statement means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A transient conflict (serialization failure, deadlock, a changed version): run the
    /// whole change again.
    Retry(String),
    /// The database is unreachable or saturated; nothing was applied.
    Unavailable(String),
    /// A COMMIT was sent and whether it went through is not known.
    OutcomeUnknown(String),
    /// A session with this ID already exists.
    AlreadyExists,
    /// Anything else.
    Internal(String),
}

impl Failure {
    pub(crate) fn into_repository_error(self) -> RepositoryError {
        match self {
            Failure::Retry(reason) => {
                RepositoryError::Unavailable(format!("gave up after retries: {reason}"))
            }
            Failure::Unavailable(reason) => RepositoryError::Unavailable(reason),
            Failure::OutcomeUnknown(reason) => RepositoryError::OutcomeUnknown(reason),
            Failure::AlreadyExists => RepositoryError::AlreadyExists,
            Failure::Internal(reason) => RepositoryError::Internal(reason),
        }
    }
}

/// The start of the messages of server errors that mean the server cannot serve right now,
/// each with its SQLSTATE. PgBouncer's own refusals (SQLSTATE 08P01) are among them.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    // 57014 query_canceled (statement timeout, an operator's cancel, a conflict with
    // recovery on a standby) and 55P03 lock_not_available (lock timeout): every wording.
    "canceling statement",
    // 57P01 admin_shutdown, 57P02 crash_shutdown, 25P03 idle_in_transaction_session_timeout.
    "terminating connection",
    // 57P03 cannot_connect_now: starting up, shutting down, in recovery.
    "the database system is",
    // 53300 too_many_connections.
    "sorry, too many clients already",
    "too many connections",
    "remaining connection slots are reserved",
    // XX000 from Citus (docs/operations.md): a worker node cannot be reached.
    "connection to the remote node",
    // 08P01 from PgBouncer: no server connection to be had.
    "no more connections allowed",
    "pgbouncer cannot connect to server",
    "query_wait_timeout",
    "server conn crashed",
    "server login has been failing",
];

/// The start of the message of 40P01 deadlock_detected: the change is run again.
const DEADLOCK_MESSAGE: &str = "deadlock detected";

impl From<DieselError> for Failure {
    fn from(error: DieselError) -> Self {
        classify(&error)
    }
}

/// What a failed statement means. diesel gives a kind for a lost connection, a serialization
/// failure and a unique violation; for the rest it gives PostgreSQL's message only (no
/// SQLSTATE), and this is the one place that reads it.
pub(crate) fn classify(error: &DieselError) -> Failure {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
            Failure::Retry(info.message().to_owned())
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            info,
        ) => Failure::Unavailable(format!("lost the connection to PostgreSQL: {}", info.message())),
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            if message.starts_with(DEADLOCK_MESSAGE) {
                Failure::Retry(message.to_owned())
            } else if UNAVAILABLE_MESSAGES.iter().any(|m| message.starts_with(m)) {
                Failure::Unavailable(message.to_owned())
            } else {
                Failure::Internal(message.to_owned())
            }
        }
        other => Failure::Internal(other.to_string()),
    }
}

/// Whether `error` is a unique violation of the constraint `constraint`.
pub(crate) fn is_unique_violation(error: &DieselError, constraint: &str) -> bool {
    matches!(error, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some(constraint))
}

pub(crate) fn pool_failure(error: PoolError) -> Failure {
    match error {
        PoolError::Timeout(kind) => {
            Failure::Unavailable(format!("no database connection within the {kind:?} timeout"))
        }
        PoolError::Backend(error) => Failure::Unavailable(format!("cannot connect to PostgreSQL: {error}")),
        PoolError::Closed => Failure::Unavailable("the connection pool is closed".into()),
        other => Failure::Internal(format!("connection pool: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_classified() {
        let unknown = |message: &str| {
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
        };
        assert!(matches!(
            classify(&unknown("canceling statement due to statement timeout")),
            Failure::Unavailable(_)
        ));
        // Real messages of the server, Citus and PgBouncer that mean "not now".
        for message in [
            "canceling statement due to user request",
            "canceling statement due to lock timeout",
            "canceling statement due to conflict with recovery",
            "terminating connection due to administrator command",
            "terminating connection due to idle-in-transaction timeout",
            "the database system is shutting down",
            "the database system is in recovery mode",
            "sorry, too many clients already",
            "remaining connection slots are reserved for roles with the SUPERUSER attribute",
            "connection to the remote node 10.0.0.7:5432 failed with the following error: timeout",
            "no more connections allowed (max_client_conn)",
            "pgbouncer cannot connect to server",
            "query_wait_timeout",
            "server conn crashed?",
            "server login has been failing, try again later (server_login_retry)",
        ] {
            assert!(matches!(classify(&unknown(message)), Failure::Unavailable(_)), "{message}");
        }
        assert!(matches!(classify(&unknown("deadlock detected")), Failure::Retry(_)));
        assert!(matches!(classify(&unknown("syntax error at or near")), Failure::Internal(_)));
        // Narrow: a message that merely mentions a connection is not an outage.
        assert!(matches!(
            classify(&unknown("permission denied for function pg_terminate_backend: other connection")),
            Failure::Internal(_)
        ));
        assert!(matches!(
            classify(&DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new(String::new())
            )),
            Failure::Unavailable(_)
        ));
        assert!(matches!(classify(&DieselError::NotFound), Failure::Internal(_)));
    }
}
