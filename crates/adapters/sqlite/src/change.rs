//! One change, and a new session, each in one `BEGIN IMMEDIATE` transaction on the writer
//! connection.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use evo_domain::{Session, VisibleAccounts};
use evo_ports::{EventId, Idempotency};
use evo_store_sql::schema::{session_events, session_log, session_members, sessions};
use evo_store_sql::{
    ChangeRequest, ChangeWrites, EventRecord, MemberRecord, MemberWrite, NewMember, Outbox, Refusal,
    SessionRecord, TimestampValue, decide,
};

use crate::error::{ChangeFailure, ErrorMeaning};
use crate::idempotency::{NO_ACCOUNT, earlier_answer, keep_answer};
use crate::load::load;
use crate::statements;
use crate::writer::write_transaction;

diesel::define_sql_function! {
    /// The rowid of the last row this connection inserted.
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

pub(crate) fn insert_session(
    connection: &mut SqliteConnection,
    session: &Session,
    event: EventRecord,
    idempotency: Option<&Idempotency>,
) -> Result<EventId, ChangeFailure> {
    let id = session.id.as_str().to_owned();
    let account = session.account_id.as_str().to_owned();
    write_transaction(connection, |connection| {
        // A new session's "now" is when it was opened. The store's insert knows no caller:
        // the key is looked up under any account.
        if let Some(verdict) =
            earlier_answer(connection, idempotency, VisibleAccounts::All, session.date_created)?
        {
            return Err(ChangeFailure::Keyed(verdict));
        }
        diesel::insert_into(sessions::table).values(SessionRecord::of(session)).execute(connection)?;
        // `position` and `seq` are numbered per session, from 1, in join and log order.
        for (position, member) in (1_i64..).zip(&session.members) {
            let member = MemberRecord::of(member);
            let row = NewMember { account_id: &account, session_id: &id, position, member };
            diesel::insert_into(session_members::table).values(row).execute(connection)?;
        }
        for (seq, entry) in (1_i64..).zip(&session.log) {
            diesel::insert_into(session_log::table)
                .values((
                    session_log::account_id.eq(account.clone()),
                    session_log::session_id.eq(id.clone()),
                    session_log::seq.eq(seq),
                    session_log::date.eq(TimestampValue(entry.date)),
                    session_log::message.eq(entry.message.clone()),
                ))
                .execute(connection)?;
        }
        let event_id = append_event(connection, event)?;
        keep_answer(connection, idempotency, &account, Ok(session))?;
        Ok(event_id)
    })
}

/// Appends an event to the outbox; returns its number.
fn append_event(connection: &mut SqliteConnection, event: EventRecord) -> QueryResult<EventId> {
    diesel::insert_into(session_events::table).values(event.as_new()).execute(connection)?;
    let id = diesel::select(last_insert_rowid()).get_result::<i64>(connection)?;
    Ok(EventId::try_from(id).unwrap_or_default())
}

/// One change in one `BEGIN IMMEDIATE` transaction: load, decide (evo-store-sql's
/// [`decide`], the same step as PostgreSQL's), execute the writes.
pub(crate) fn change_session(
    connection: &mut SqliteConnection,
    outbox: &Outbox,
    request: ChangeRequest<'_>,
) -> Result<(Session, EventId), ChangeFailure> {
    let ChangeRequest { id, actor, command, if_version, idempotency, now } = request;
    // A keyed refusal is committed with its answer; the closure returns it as `Ok(Err(..))`.
    let outcome = write_transaction(connection, |connection| {
        if let Some(verdict) = earlier_answer(connection, idempotency, actor.visible_accounts(), now)? {
            return Err(ChangeFailure::Keyed(verdict));
        }
        let loaded = load(connection, id.as_str(), actor.visible_accounts())?;
        // The account a keyed answer is kept under: the session's, or none when none is visible.
        let account = loaded.as_ref().map_or_else(|| NO_ACCOUNT.to_owned(), |(h, _, _)| h.account_id.clone());
        match decide(loaded, actor, command, if_version, now, outbox) {
            Ok((session, writes)) => {
                let event_id = write_change(connection, writes)?;
                keep_answer(connection, idempotency, &account, Ok(&session))?;
                Ok(Ok((session, event_id)))
            }
            Err(Refusal::Rejected(rejected)) => {
                keep_answer(connection, idempotency, &account, Err(&rejected))?;
                Ok(Err(rejected))
            }
            Err(Refusal::Corrupt(corrupt)) => Err(ChangeFailure::Corrupt(corrupt.to_string())),
        }
    })?;
    outcome.map_err(ChangeFailure::Rejected)
}

/// The writes of a change, each row by its key (account first). `position` and `seq` go on
/// from the session's last (the write lock of `BEGIN IMMEDIATE` is held).
fn write_change(connection: &mut SqliteConnection, writes: ChangeWrites) -> Result<EventId, ChangeFailure> {
    let (account, id) = (writes.account_id.as_str(), writes.session_id.as_str());
    statements::UpdateHeader {
        account_id: account,
        session_id: id,
        header: &writes.header,
        version_read: writes.version_read,
    }
    .execute(connection)?;
    match &writes.member {
        MemberWrite::Delete { identity_key } => {
            diesel::delete(
                session_members::table
                    .filter(session_members::account_id.eq(account))
                    .filter(session_members::session_id.eq(id))
                    .filter(session_members::identity_key.eq(identity_key)),
            )
            .execute(connection)?;
        }
        MemberWrite::Insert(member) => {
            let last = session_members::table
                .filter(session_members::account_id.eq(account))
                .filter(session_members::session_id.eq(id))
                .select(diesel::dsl::max(session_members::position))
                .get_result::<Option<i64>>(connection)?;
            let position = last.unwrap_or(0) + 1;
            let row = NewMember { account_id: account, session_id: id, position, member: (**member).clone() };
            let inserted = diesel::insert_into(session_members::table).values(row).execute(connection);
            match inserted {
                Err(error) if ErrorMeaning::of(&error) == ErrorMeaning::DuplicateMember => {
                    return Err(ChangeFailure::Rejected(writes.duplicate_member()));
                }
                other => {
                    other?;
                }
            }
        }
        MemberWrite::Unchanged => {}
    }
    let last = session_log::table
        .filter(session_log::account_id.eq(account))
        .filter(session_log::session_id.eq(id))
        .select(diesel::dsl::max(session_log::seq))
        .get_result::<Option<i64>>(connection)?;
    diesel::insert_into(session_log::table)
        .values((
            session_log::account_id.eq(account),
            session_log::session_id.eq(id),
            session_log::seq.eq(last.unwrap_or(0) + 1),
            session_log::date.eq(writes.log_entry.date),
            session_log::message.eq(&writes.log_entry.message),
        ))
        .execute(connection)?;
    Ok(append_event(connection, writes.event)?)
}
