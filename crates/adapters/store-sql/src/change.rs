//! The one change algorithm of both SQL stores, as a pure step: what the store read under
//! its lock, the actor, the command and the time in; the rows to write, or the refusal, out.
//! Each store only locks, loads and executes what this decides.

use evo_domain::{
    Actor, ChangeKind, IfVersion, Session, SessionCommand, SessionError, SessionEvent, SessionId, Timestamp,
};
use evo_ports::Idempotency;

use crate::{
    CorruptRow, EventRecord, HeaderChange, LogRecord, MemberRecord, Outbox, SessionRecord, restore_session,
};

/// What one change asks a store for: the arguments of `SessionRepository::update`, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRequest<'a> {
    /// The session.
    pub id: &'a SessionId,
    /// Who changes it.
    pub actor: &'a Actor,
    /// What to do.
    pub command: &'a SessionCommand,
    /// The versions the session must be at (`If-Match`).
    pub if_version: Option<&'a IfVersion>,
    /// The request's key, if any.
    pub idempotency: Option<&'a Idempotency>,
    /// When.
    pub now: Timestamp,
}

/// The rows of one session as a store read them under its lock.
pub type LoadedSession = (SessionRecord, Vec<MemberRecord>, Vec<LogRecord>);

/// What happens to `session_members` in a change.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberWrite {
    /// Delete the member with this identity key.
    Delete {
        /// [`evo_domain::MemberIdentity::key`].
        identity_key: String,
    },
    /// Insert this member after every other.
    Insert(Box<MemberRecord>),
    /// Members stay as they are.
    Unchanged,
}

/// Everything one change writes: the header (only at the version read under the lock, so that
/// a lost lock shows as a conflict instead of a lost update), the member row, one log entry
/// and the change's event (the outbox row).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeWrites {
    /// The session's account: the leading column of every key the writes touch.
    pub account_id: String,
    /// The session's ID.
    pub session_id: String,
    /// The `version` read under the lock; the write sets `version + 1`.
    pub version_read: i64,
    /// The header columns after the change.
    pub header: HeaderChange,
    /// The member row to delete or insert.
    pub member: MemberWrite,
    /// The log entry to append.
    pub log_entry: LogRecord,
    /// The event to append to the outbox.
    pub event: EventRecord,
}

impl ChangeWrites {
    /// The refusal to answer when inserting the member met the `(session, identity_key)`
    /// unique constraint: another change added the same member first.
    pub fn duplicate_member(&self) -> SessionError {
        let identity = match &self.member {
            MemberWrite::Insert(member) => member.identity.clone(),
            _ => String::new(),
        };
        SessionError::MemberAlreadyExists { identity }
    }
}

/// Why a change writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The domain refused (a missing or invisible session is `NotFound`).
    #[error(transparent)]
    Rejected(#[from] SessionError),
    /// The stored rows do not make a session.
    #[error(transparent)]
    Corrupt(#[from] CorruptRow),
}

/// Decides a change: restores the session from `loaded` (`None`: no session visible to the
/// actor), applies `command` in the domain (only at a version of `if_version`, when given)
/// and returns the session after the change with the rows that persist it, its event among them.
pub fn decide(
    loaded: Option<LoadedSession>,
    actor: &Actor,
    command: &SessionCommand,
    if_version: Option<&IfVersion>,
    now: Timestamp,
    outbox: &Outbox,
) -> Result<(Session, ChangeWrites), Refusal> {
    let Some((header, members, log)) = loaded else {
        return Err(SessionError::NotFound.into());
    };
    let version_read = header.version;
    let mut session = restore_session(header, members, log)?;
    let change = session.apply_if(actor, command, if_version, now)?;
    let event = outbox.record(&SessionEvent::of_change(&session, actor, &change));
    outbox.check_size(&session, &change, &event)?;
    let member = match &change.kind {
        ChangeKind::MemberRemoved { member, .. } => {
            MemberWrite::Delete { identity_key: member.identity.key().to_owned() }
        }
        ChangeKind::MemberInvited { member, .. } => MemberWrite::Insert(Box::new(MemberRecord::of(member))),
        ChangeKind::Ended { .. } | ChangeKind::InfoChanged(_) => MemberWrite::Unchanged,
    };
    let writes = ChangeWrites {
        account_id: session.account_id.as_str().to_owned(),
        session_id: session.id.as_str().to_owned(),
        version_read,
        header: HeaderChange::of(&session, &change.kind),
        member,
        log_entry: LogRecord::of(&change.log_entry),
        event,
    };
    Ok((session, writes))
}
