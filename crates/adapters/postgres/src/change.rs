//! One change (two pipelined round trips), and a new session (one).

use std::sync::OnceLock;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use evo_domain::{Session, SessionError, Timestamp, VisibleAccounts};
use evo_ports::Idempotency;
use evo_store_sql::schema::sessions;
use evo_store_sql::{
    ChangeRequest, ChangeWrites, EventRecord, KeptAnswerRow, KeyVerdict, MemberRecord, MemberWrite, Outbox,
    Refusal, SessionRecord, decide,
};
use futures_util::FutureExt;

use crate::error::{Failure, classify, is_unique_violation};
use crate::idempotency::{NO_ACCOUNT, claim_key, keep_answer, key_checks, key_verdict};
use crate::load::{Loads, lock_futures};
use crate::lost_commit::{CommittedRow, ServerTxid, pg_postmaster_start_time, txid_current};
use crate::statements::{
    ChangeHeader, EndSessionWrite, InsertEvent, InsertLog, InsertMembers, InviteMemberWrite,
    RemoveMemberWrite,
};
use crate::transaction::{Control, Protocol, control, rollback, run};

/// The primary key constraint of `sessions`.
pub(crate) const SESSIONS_PKEY: &str = "sessions_pkey";
/// The unique (account, session, identity) constraint of `session_members`.
pub(crate) const MEMBER_UNIQUE: &str = "session_members_identity_key_unique";

/// One change running on this instance, counted while it lives.
pub(crate) struct RunningChange<'a> {
    count: &'a std::sync::atomic::AtomicUsize,
    alone: bool,
}

impl<'a> RunningChange<'a> {
    pub(crate) fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        let before = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { count, alone: before == 0 }
    }

    /// Whether no other change of this instance was in flight when this one began.
    pub(crate) fn alone(&self) -> bool {
        self.alone
    }
}

impl Drop for RunningChange<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How one attempt at a change ended.
pub(crate) enum Attempt {
    /// Committed; with the number its event got in its own transaction, if it got one
    /// (`None` too when that is not known, as after a lost answer to `COMMIT`).
    Done(Box<Session>, Option<i64>),
    Rejected(SessionError),
    Keyed(KeyVerdict),
}

/// What a change had sent when it stopped: once its write and COMMIT may have gone out, the
/// transaction's ID and the session as the change left it, so that a lost answer can be
/// settled by asking the server (see the module docs).
#[derive(Default)]
pub(crate) struct SentCommit {
    pub(crate) xid: Option<ServerTxid>,
    pub(crate) committed_row: Option<CommittedRow>,
    pub(crate) changed: Option<Box<Session>>,
}

/// One attempt at a change: the two pipelined round trips described in the module docs.
pub(crate) async fn change_session(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    outbox: &Outbox,
    request: ChangeRequest<'_>,
    number_now: bool,
    sent: &mut SentCommit,
) -> Result<Attempt, Failure> {
    let ChangeRequest { id, actor, command, if_version, idempotency, now } = request;
    // A keyed request begins its transaction with the key's checks (one more round trip).
    // A keyed change sends the key's checks in the read's round trip (pipelined, right after
    // `BEGIN`); without the statement cache, where nothing pipelines, in a trip of its own.
    let pipelined_key = idempotency.filter(|_| protocol == Protocol::Pipelined);
    let began = match idempotency.filter(|_| protocol == Protocol::Unprepared) {
        Some(key) => match claim_key(connection, protocol, key, actor.visible_accounts(), now).await? {
            Some(verdict) => return Ok(Attempt::Keyed(verdict)),
            None => true,
        },
        None => false,
    };
    let begin =
        async move { if began { Ok(()) } else { control(connection, protocol, Control::Begin).await } };
    let (locked, stored) = match pipelined_key {
        Some(key) => key_checks(connection, key, actor.visible_accounts(), now),
        None => (async { Ok(true) }.boxed(), async { Ok(None) }.boxed()),
    };
    let Loads { header, members, log } = lock_futures(connection, id.as_str(), actor.visible_accounts());
    let read = futures_util::try_join!(begin, locked, stored, header, members, log);
    let read = read.map(|(begin, locked, stored, header, members, log)| {
        let verdict = pipelined_key.and_then(|key| key_verdict(locked, stored, key));
        (begin, verdict, header, members, log)
    });
    let (_, verdict, header, members, log) = match read {
        Ok(read) => read,
        Err(error) => {
            // The connection is closed after any failure, so a failed rollback changes nothing.
            let _ = rollback(connection, protocol).await;
            return Err(classify(&error));
        }
    };
    if let Some(verdict) = verdict {
        rollback(connection, protocol).await?;
        return Ok(Attempt::Keyed(verdict));
    }
    let xid = header
        .as_ref()
        .map(|(_, xid, server_started)| ServerTxid { xid: *xid, server_started: *server_started });
    // The account a keyed answer is kept under: the session's, or none when none is visible.
    let account = header.as_ref().map_or_else(|| NO_ACCOUNT.to_owned(), |(h, _, _)| h.account_id.clone());
    let loaded = header.map(|(header, _, _)| (header, members, log));
    let (session, writes) = match decide(loaded, actor, command, if_version, now, outbox) {
        Ok(decided) => decided,
        Err(Refusal::Rejected(rejected)) => {
            // A keyed refusal is an answer too: kept, and committed.
            if let Some(key) = idempotency {
                let kept =
                    keep_answer(connection, key, account, KeptAnswerRow::of(key, Err(&rejected))).await;
                kept.map_err(Failure::from)?;
                control(connection, protocol, Control::Commit).await.map_err(Failure::from)?;
            } else {
                rollback(connection, protocol).await?;
            }
            return Ok(Attempt::Rejected(rejected));
        }
        Err(Refusal::Corrupt(corrupt)) => {
            rollback(connection, protocol).await?;
            return Err(Failure::Internal(corrupt.to_string()));
        }
    };
    let answer = idempotency.map(|key| (key, KeptAnswerRow::of(key, Ok(&session))));
    let write = ChangeWrite::of(&writes, number_now);
    // From here on the COMMIT may reach the server whatever happens to its answer.
    sent.xid = xid;
    sent.committed_row = Some(CommittedRow::LogEntry {
        account_id: writes.account_id.clone(),
        session_id: writes.session_id.clone(),
        date: writes.log_entry.date.into(),
        message: writes.log_entry.message.clone(),
    });
    sent.changed = Some(Box::new(session));
    let write = write.execute(connection);
    let kept = async move {
        match answer {
            Some((key, record)) => keep_answer(connection, key, account, record).await,
            None => Ok(0),
        }
    };
    let (written, kept, commit) = match protocol {
        Protocol::Pipelined => {
            futures_util::join!(write, kept, control(connection, protocol, Control::Commit))
        }
        Protocol::Unprepared => {
            let written = write.await;
            let kept = kept.await;
            (written, kept, control(connection, protocol, Control::Commit).await)
        }
    };
    kept.map_err(Failure::from)?;
    // A failed write aborts the transaction, and the pipelined COMMIT then only rolls back.
    let numbered = match written {
        Ok((1, numbered, _)) => numbered,
        Ok(_) => {
            sent.xid = None;
            return Err(Failure::Retry(format!("session {id} changed under its lock")));
        }
        Err(error) if is_unique_violation(&error, MEMBER_UNIQUE) => {
            sent.xid = None;
            commit.map_err(Failure::from)?;
            return Ok(Attempt::Rejected(writes.duplicate_member()));
        }
        Err(error) => return Err(classify(&error)),
    };
    commit.map_err(Failure::from)?;
    let session = sent.changed.take().expect("set before the write");
    Ok(Attempt::Done(session, numbered))
}

/// The one writing statement of a change (already applied to the session in memory): it
/// writes only when the session is still at the version read, and counts 1 if it did.
/// `Numbered` also tries to number the event in its insert (crate::outbox): a second SQL
/// text, so a second type for the statement cache.
pub(crate) enum ChangeWrite {
    Plain(WriteStatement<false>),
    Numbered(WriteStatement<true>),
}

/// A change's writing statement by kind of change.
pub(crate) enum WriteStatement<const NUMBERED: bool> {
    Remove(RemoveMemberWrite<NUMBERED>),
    Invite(Box<InviteMemberWrite<NUMBERED>>),
    End(EndSessionWrite<NUMBERED>),
}

impl ChangeWrite {
    /// `number_now`: the change is alone in flight here, so numbering its own event is worth
    /// trying (under load the lock is mostly taken, and the sequencer's batches cost less).
    pub(crate) fn of(writes: &ChangeWrites, number_now: bool) -> Self {
        if number_now {
            Self::Numbered(WriteStatement::of(writes))
        } else {
            Self::Plain(WriteStatement::of(writes))
        }
    }

    /// Answers (1 if written else 0, the event's number if it got one, notifications queued).
    pub(crate) async fn execute(
        self,
        connection: &AsyncPgConnection,
    ) -> QueryResult<(i64, Option<i64>, i64)> {
        match self {
            Self::Plain(statement) => statement.execute(connection).await,
            Self::Numbered(statement) => statement.execute(connection).await,
        }
    }
}

impl<const NUMBERED: bool> WriteStatement<NUMBERED> {
    fn of(writes: &ChangeWrites) -> Self {
        let change = ChangeHeader {
            account_id: writes.account_id.clone(),
            session_id: writes.session_id.clone(),
            header: writes.header.clone(),
            version_read: writes.version_read,
            log_date: writes.log_entry.date.into(),
            log_message: writes.log_entry.message.clone(),
            event: writes.event.clone(),
        };
        match &writes.member {
            MemberWrite::Delete { identity_key } => {
                Self::Remove(RemoveMemberWrite { change, identity_key: identity_key.clone() })
            }
            MemberWrite::Insert(member) => {
                Self::Invite(Box::new(InviteMemberWrite { change, member: (**member).clone() }))
            }
            MemberWrite::Unchanged => Self::End(EndSessionWrite { change }),
        }
    }

    async fn execute(self, mut connection: &AsyncPgConnection) -> QueryResult<(i64, Option<i64>, i64)> {
        match self {
            Self::Remove(statement) => statement.get_result(&mut connection).await,
            Self::Invite(statement) => (*statement).get_result(&mut connection).await,
            Self::End(statement) => statement.get_result(&mut connection).await,
        }
    }
}

/// Inserts a session, its members and log in one transaction: one pipelined round trip
/// (`BEGIN`, three inserts, `COMMIT`) with the statement cache, sequential without it.
pub(crate) async fn insert_session(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    session: &Session,
    event: EventRecord,
    idempotency: Option<&Idempotency>,
    xid: &OnceLock<ServerTxid>,
) -> Result<Option<KeyVerdict>, Failure> {
    // A new session's "now" is when it was opened.
    // The store's insert knows no caller: the key is looked up under any account.
    let began = match idempotency {
        Some(key) => {
            match claim_key(connection, protocol, key, VisibleAccounts::All, session.date_created).await? {
                Some(verdict) => return Ok(Some(verdict)),
                None => true,
            }
        }
        None => false,
    };
    let id = session.id.as_str().to_owned();
    let account = session.account_id.as_str().to_owned();
    let members =
        InsertMembers::new(account.clone(), id.clone(), session.members.iter().map(MemberRecord::of));
    let log = InsertLog {
        account_id: account.clone(),
        session_id: id,
        dates: session.log.iter().map(|entry| entry.date).collect(),
        messages: session.log.iter().map(|entry| entry.message.clone()).collect(),
    };
    let begin =
        async move { if began { Ok(()) } else { control(connection, protocol, Control::Begin).await } };
    let kept = async move {
        match idempotency {
            Some(key) => keep_answer(connection, key, account, KeptAnswerRow::of(key, Ok(session))).await,
            None => Ok(0),
        }
    };
    // The transaction's ID, kept as soon as it arrives: it settles a lost answer to COMMIT.
    let mut xid_connection = connection;
    let current_xid = async move {
        let (current, server_started) = diesel::select((txid_current(), pg_postmaster_start_time()))
            .get_result::<(i64, Timestamp)>(&mut xid_connection)
            .await?;
        let _ = xid.set(ServerTxid { xid: current, server_started });
        QueryResult::Ok(())
    };
    let header = run(connection, diesel::insert_into(sessions::table).values(SessionRecord::of(session)));
    let members = run(connection, members);
    let log = run(connection, log);
    let event = run(connection, InsertEvent { event });
    let writes = async move {
        let (header, members, log, event) = futures_util::join!(header, members, log, event);
        (header, members, log.and(event))
    };
    let (begin, current_xid, (header, members, log), kept, commit) = match protocol {
        Protocol::Pipelined => futures_util::join!(
            begin,
            current_xid,
            writes,
            kept,
            control(connection, protocol, Control::Commit)
        ),
        Protocol::Unprepared => {
            let (begin, current_xid, writes, kept) = futures_util::join!(begin, current_xid, writes, kept);
            // After a failure the transaction is aborted and COMMIT only rolls back.
            (begin, current_xid, writes, kept, control(connection, protocol, Control::Commit).await)
        }
    };
    begin.map_err(Failure::from)?;
    current_xid.map_err(Failure::from)?;
    header.map_err(|error| {
        if is_unique_violation(&error, SESSIONS_PKEY) { Failure::AlreadyExists } else { classify(&error) }
    })?;
    members.map_err(Failure::from)?;
    log.map_err(Failure::from)?;
    kept.map_err(Failure::from)?;
    commit.map_err(Failure::from)?;
    Ok(None)
}
