//! Reading a session: its header (as it is, or locked for a change), members and log, sent
//! together so that they pipeline.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use evo_domain::{Timestamp, VisibleAccounts};
use evo_store_sql::schema::{session_log, session_members, sessions};
use evo_store_sql::{LogRecord, MemberRecord, SessionRecord};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::error::Failure;
use crate::lost_commit::{pg_postmaster_start_time, txid_current};
use crate::transaction::{Control, Protocol, control};

pub(crate) type Loaded = (SessionRecord, Vec<MemberRecord>, Vec<LogRecord>);

/// The three pending loads of one session: header, members, log.
pub(crate) struct Loads<'c, H> {
    pub(crate) header: BoxFuture<'c, QueryResult<Option<H>>>,
    pub(crate) members: BoxFuture<'c, QueryResult<Vec<MemberRecord>>>,
    pub(crate) log: BoxFuture<'c, QueryResult<Vec<LogRecord>>>,
}

/// The header of a locked session and the ID of the transaction that locked it (with its
/// server's start).
pub(crate) type LockedHeader = (SessionRecord, i64, Timestamp);

/// The accounts a store lookup may return, as bound: `None` for every account.
pub(crate) fn account_list(accounts: VisibleAccounts<'_>) -> Option<Vec<String>> {
    match accounts {
        VisibleAccounts::All => None,
        VisibleAccounts::Only(accounts) => Some(accounts.iter().map(|a| a.as_str().to_owned()).collect()),
    }
}

/// The loads of a read: the header as it is, in the read's snapshot, among `accounts`.
pub(crate) fn read_futures<'c>(
    mut connection: &'c AsyncPgConnection,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> Loads<'c, SessionRecord> {
    let by_id = sessions::table.filter(sessions::id.eq(id.to_owned()));
    let columns = SessionRecord::as_select();
    let accounts = account_list(accounts);
    let header = match accounts.clone() {
        None => by_id.select(columns).get_result::<SessionRecord>(&mut connection).boxed(),
        Some(accounts) => by_id
            .filter(sessions::account_id.eq_any(accounts))
            .select(columns)
            .get_result::<SessionRecord>(&mut connection)
            .boxed(),
    };
    let (members, log) = member_and_log_futures(connection, id, accounts);
    Loads { header: header.map(|r| r.optional()).boxed(), members, log }
}

/// The loads of a change: the header locked `FOR UPDATE`, but only among the accounts the
/// actor sees, so that another account's session is never locked (it reads as missing).
pub(crate) fn lock_futures<'c>(
    mut connection: &'c AsyncPgConnection,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> Loads<'c, LockedHeader> {
    let by_id = sessions::table.filter(sessions::id.eq(id.to_owned()));
    let columns = (SessionRecord::as_select(), txid_current(), pg_postmaster_start_time());
    let accounts = account_list(accounts);
    let header = match accounts.clone() {
        None => by_id.select(columns).for_update().get_result::<LockedHeader>(&mut connection).boxed(),
        Some(accounts) => by_id
            .filter(sessions::account_id.eq_any(accounts))
            .select(columns)
            .for_update()
            .get_result::<LockedHeader>(&mut connection)
            .boxed(),
    };
    let (members, log) = member_and_log_futures(connection, id, accounts);
    Loads { header: header.map(|r| r.optional()).boxed(), members, log }
}

/// The members and log of session `id`, sent before its header (and so its account) is known.
/// A caller with one account: by their key's leading column, `account_id = ANY($accounts)`
/// (one index descent; on Citus, one shard). A caller with several accounts, or who sees every
/// account: of the account of the session with that ID among them, a subquery on
/// `sessions (id)` (two descents, where `= ANY` of n accounts would take n; on Citus they fan
/// out either way).
#[allow(clippy::type_complexity)]
pub(crate) fn member_and_log_futures<'c>(
    mut connection: &'c AsyncPgConnection,
    id: &str,
    accounts: Option<Vec<String>>,
) -> (BoxFuture<'c, QueryResult<Vec<MemberRecord>>>, BoxFuture<'c, QueryResult<Vec<LogRecord>>>) {
    let members = session_members::table
        .filter(session_members::session_id.eq(id.to_owned()))
        .order(session_members::position)
        .select(MemberRecord::as_select());
    let log = session_log::table
        .filter(session_log::session_id.eq(id.to_owned()))
        .order(session_log::seq)
        .select(LogRecord::as_select());
    let of_session = || sessions::table.filter(sessions::id.eq(id.to_owned()));
    // Each arm its own query types (a list, or one of two subqueries), so each is written out.
    match accounts {
        Some(accounts) if accounts.len() == 1 => (
            members
                .filter(session_members::account_id.eq_any(accounts.clone()))
                .load(&mut connection)
                .boxed(),
            log.filter(session_log::account_id.eq_any(accounts)).load(&mut connection).boxed(),
        ),
        Some(accounts) => {
            let account = || {
                of_session()
                    .filter(sessions::account_id.eq_any(accounts.clone()))
                    .select(sessions::account_id)
            };
            (
                members.filter(session_members::account_id.eq_any(account())).load(&mut connection).boxed(),
                log.filter(session_log::account_id.eq_any(account())).load(&mut connection).boxed(),
            )
        }
        None => (
            members
                .filter(session_members::account_id.eq_any(of_session().select(sessions::account_id)))
                .load(&mut connection)
                .boxed(),
            log.filter(session_log::account_id.eq_any(of_session().select(sessions::account_id)))
                .load(&mut connection)
                .boxed(),
        ),
    }
}

/// Loads a session, its members and its log in one consistent snapshot: one round trip.
pub(crate) async fn find_session(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> Result<Option<Loaded>, Failure> {
    let Loads { header, members, log } = read_futures(connection, id, accounts);
    let begin = control(connection, protocol, Control::BeginSnapshot);
    let (header, members, log) = match protocol {
        Protocol::Pipelined => {
            let (begin, header, members, log, commit) = futures_util::join!(
                begin,
                header,
                members,
                log,
                control(connection, protocol, Control::Commit)
            );
            begin.map_err(Failure::from)?;
            commit.map_err(Failure::from)?;
            (header, members, log)
        }
        Protocol::Unprepared => {
            let (begin, header, members, log) = futures_util::join!(begin, header, members, log);
            begin.map_err(Failure::from)?;
            control(connection, protocol, Control::Commit).await.map_err(Failure::from)?;
            (header, members, log)
        }
    };
    let header = header.map_err(Failure::from)?;
    let members = members.map_err(Failure::from)?;
    let log = log.map_err(Failure::from)?;
    Ok(header.map(|header| (header, members, log)))
}
