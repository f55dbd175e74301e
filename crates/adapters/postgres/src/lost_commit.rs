//! A COMMIT whose answer was lost: finding out whether it went through (see the module docs of
//! [`crate::repository`], "A lost answer to COMMIT").

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use evo_domain::{Session, Timestamp, VisibleAccounts};
use evo_store_sql::TimestampValue;
use evo_store_sql::schema::{session_log, sessions};

use crate::error::Failure;
use crate::repository::PgSessionRepository;
use crate::transaction::{Control, control};

/// How often the status of a transaction whose COMMIT's answer was lost is asked.
pub(crate) const STATUS_POLL_INTERVAL: Duration = Duration::from_millis(50);
#[diesel::declare_sql_function]
extern "SQL" {
    /// The current transaction's ID (assigning one): what [`txid_status`] is asked about
    /// when the answer to the COMMIT is lost.
    fn txid_current() -> diesel::sql_types::BigInt;
    /// `committed`, `aborted` or `in progress` for a recent transaction ID (PostgreSQL 10+),
    /// made for exactly this: finding out whether a COMMIT whose answer was lost went through.
    fn txid_status(xid: diesel::sql_types::BigInt) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
    /// When the server started: a transaction ID is only unique between two restarts (after a
    /// crash, an ID whose commit never reached the disk is handed out again).
    fn pg_postmaster_start_time() -> diesel::sql_types::Timestamptz;
}

/// A transaction's ID, with the start of the server that gave it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerTxid {
    pub(crate) xid: i64,
    pub(crate) server_started: Timestamp,
}

/// What a committed change left in the data, to look for when the server restarted after
/// the COMMIT was sent (its transaction ID then proves nothing).
#[derive(Debug, Clone)]
pub(crate) enum CommittedRow {
    /// The change's log entry.
    LogEntry { account_id: String, session_id: String, date: Timestamp, message: String },
    /// A new session's row.
    Session { account_id: String, id: String },
}

/// What the server says of a transaction whose COMMIT's answer was lost.
pub(crate) enum CommitStatus {
    Committed,
    RolledBack,
    InProgress,
    Unknown,
}

impl PgSessionRepository {
    /// Finds out whether the transaction `txid`, whose COMMIT's answer was lost, committed:
    /// `Ok` if it did, `Unavailable` if it rolled back, `OutcomeUnknown` if no connection
    /// could tell within one query deadline. `lost` says what happened to the answer.
    ///
    /// While the server that gave out the ID runs, `txid_status` is the truth. Once it has
    /// restarted, the ID may belong to another transaction, but recovery has settled every
    /// transaction of the old server: what the change wrote (`committed_row`) is there or not.
    pub(crate) async fn settle_lost_commit(
        &self,
        txid: ServerTxid,
        committed_row: CommittedRow,
        lost: String,
    ) -> Result<(), Failure> {
        let xid = txid.xid;
        let asking = async {
            loop {
                match self.commit_status(txid, &committed_row).await {
                    Ok(CommitStatus::Committed) => return Ok(()),
                    Ok(CommitStatus::RolledBack) => {
                        return Err(Failure::Unavailable(format!("{lost}; the change was rolled back")));
                    }
                    // "in progress": the server has not finished the COMMIT (or not yet seen
                    // the connection drop, after which it rolls back).
                    Ok(CommitStatus::InProgress) => {}
                    Ok(CommitStatus::Unknown) => {
                        return Err(Failure::OutcomeUnknown(format!("{lost}; transaction {xid} is unknown")));
                    }
                    Err(failure) => {
                        tracing::debug!(?failure, xid, "cannot ask for a transaction's status yet")
                    }
                }
                tokio::time::sleep(STATUS_POLL_INTERVAL).await;
            }
        };
        tokio::time::timeout(self.query_deadline, asking).await.unwrap_or_else(|_| {
            Err(Failure::OutcomeUnknown(format!(
                "{lost}; no answer about transaction {xid} within {:?}",
                self.query_deadline
            )))
        })
    }

    /// Settles a new session's lost COMMIT: by its transaction ID when that arrived, else by
    /// whether the session is there (its ID is new, so only this insert could have made it).
    pub(crate) async fn settle_lost_insert(
        &self,
        session: &Session,
        txid: Option<ServerTxid>,
        lost: String,
    ) -> Result<(), Failure> {
        let committed_row = CommittedRow::Session {
            account_id: session.account_id.as_str().to_owned(),
            id: session.id.as_str().to_owned(),
        };
        if let Some(txid) = txid {
            return self.settle_lost_commit(txid, committed_row, lost).await;
        }
        let account = VisibleAccounts::Only(std::slice::from_ref(&session.account_id));
        match self.find_among(&session.id, account).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(Failure::OutcomeUnknown(format!("{lost}; whether the session was stored is not known"))),
        }
    }

    async fn commit_status(
        &self,
        txid: ServerTxid,
        committed_row: &CommittedRow,
    ) -> Result<CommitStatus, Failure> {
        let guard = self.checkout().await?;
        let protocol = self.protocol;
        let status = async {
            let connection = guard.connection();
            // In a transaction: behind PgBouncer a prepared statement must stay on one server.
            control(connection, protocol, Control::Begin).await.map_err(Failure::from)?;
            let status = Self::ask_commit_status(connection, txid, committed_row).await;
            control(connection, protocol, Control::Commit).await.map_err(Failure::from)?;
            status
        }
        .await;
        guard.settle(status)
    }

    async fn ask_commit_status(
        mut connection: &AsyncPgConnection,
        txid: ServerTxid,
        committed_row: &CommittedRow,
    ) -> Result<CommitStatus, Failure> {
        {
            let started = diesel::select(pg_postmaster_start_time())
                .get_result::<Timestamp>(&mut connection)
                .await
                .map_err(Failure::from)?;
            if started != txid.server_started {
                return Ok(if committed_row_exists(connection, committed_row).await? {
                    CommitStatus::Committed
                } else {
                    CommitStatus::RolledBack
                });
            }
            let status = diesel::select(txid_status(txid.xid))
                .get_result::<Option<String>>(&mut connection)
                .await
                .map_err(Failure::from)?;
            Ok(match status.as_deref() {
                Some("committed") => CommitStatus::Committed,
                Some("aborted") => CommitStatus::RolledBack,
                Some(_) => CommitStatus::InProgress,
                None => CommitStatus::Unknown,
            })
        }
    }
}

/// Whether what a change wrote is in the database (asked after a server restart).
pub(crate) async fn committed_row_exists(
    mut connection: &AsyncPgConnection,
    committed_row: &CommittedRow,
) -> Result<bool, Failure> {
    let count = match committed_row {
        CommittedRow::LogEntry { account_id, session_id, date, message } => {
            session_log::table
                .filter(session_log::account_id.eq(account_id))
                .filter(session_log::session_id.eq(session_id))
                .filter(session_log::date.eq(TimestampValue(*date)))
                .filter(session_log::message.eq(message))
                .count()
                .get_result::<i64>(&mut connection)
                .await
        }
        CommittedRow::Session { account_id, id } => {
            sessions::table
                .filter(sessions::account_id.eq(account_id))
                .filter(sessions::id.eq(id))
                .count()
                .get_result::<i64>(&mut connection)
                .await
        }
    };
    count.map(|n| n > 0).map_err(Failure::from)
}
