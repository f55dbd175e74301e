//! Reading a session: its header, members and log.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use evo_domain::VisibleAccounts;
use evo_store_sql::schema::{session_log, session_members, sessions};
use evo_store_sql::{LogRecord, MemberRecord, SessionRecord};

pub(crate) type Loaded = (SessionRecord, Vec<MemberRecord>, Vec<LogRecord>);

/// Loads a session among the accounts in `accounts`: another account's reads as missing.
/// Members and log by their key, account first.
///
/// The accounts are compared on the rows read rather than in an `IN (...)` list: diesel
/// does not cache a statement whose number of binds varies, and SQLite would parse it again
/// on every request (measured: a tenth of the service's CPU per removal). SQLite locks the
/// whole file anyway, so reading a row before dropping it locks nothing more.
pub(crate) fn load(
    connection: &mut SqliteConnection,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> QueryResult<Option<Loaded>> {
    let headers = sessions::table
        .filter(sessions::id.eq(id))
        .select(SessionRecord::as_select())
        .load::<SessionRecord>(connection)?;
    let Some(header) = headers.into_iter().find(|header| accounts.contains_str(&header.account_id)) else {
        return Ok(None);
    };
    let account = header.account_id.as_str();
    let members = session_members::table
        .filter(session_members::account_id.eq(account))
        .filter(session_members::session_id.eq(id))
        .order(session_members::position)
        .select(MemberRecord::as_select())
        .load::<MemberRecord>(connection)?;
    let log = session_log::table
        .filter(session_log::account_id.eq(account))
        .filter(session_log::session_id.eq(id))
        .order(session_log::seq)
        .select(LogRecord::as_select())
        .load::<LogRecord>(connection)?;
    Ok(Some((header, members, log)))
}
