//! What each change tells the world: one [`SessionEvent`] per committed change, decided
//! here so that every store and every outlet (webhooks, live streams, the pre-removal hook)
//! says the same thing.

use crate::access::Actor;
use crate::identity::PhoneNumber;
use crate::ids::{AccountId, SessionId};
use crate::session::{ChangeKind, LogEntry, Member, RemovalReason, Session, SessionChange, Timestamp};

/// The kinds of [`SessionEvent`]. [`name`](Self::name) is the type's stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A session was opened.
    SessionCreated,
    /// A member joined a chat.
    ChatMemberAdded,
    /// A member left a chat or was removed from it.
    ChatMemberRemoved,
    /// A session ended.
    SessionEnded,
    /// A removal about to be applied, not yet made (the pre-removal hook's question).
    ChatMemberRemoving,
    /// Some of a session's states or screen data were set (PatchSession).
    SessionInfoChanged,
}

impl EventType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::SessionCreated,
        Self::ChatMemberAdded,
        Self::ChatMemberRemoved,
        Self::SessionEnded,
        Self::ChatMemberRemoving,
        Self::SessionInfoChanged,
    ];

    /// The type's stable name: `SessionCreated`, `ChatMemberAdded`...
    pub const fn name(self) -> &'static str {
        match self {
            Self::SessionCreated => "SessionCreated",
            Self::ChatMemberAdded => "ChatMemberAdded",
            Self::ChatMemberRemoved => "ChatMemberRemoved",
            Self::SessionEnded => "SessionEnded",
            Self::ChatMemberRemoving => "ChatMemberRemoving",
            Self::SessionInfoChanged => "SessionInfoChanged",
        }
    }

    /// The type of this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who made the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventActor {
    /// The caller's user ID.
    pub user_id: String,
    /// The caller's name, as the log shows it.
    pub name: String,
}

/// How a member left: why, and whether by its own hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    /// The remover's reason, when one was given.
    pub reason: Option<RemovalReason>,
    /// The member removed itself.
    pub leave: bool,
}

/// One change, told: what happened, when, by whom, to which member, and the session as
/// the change left it. Built from the change itself, so it cannot disagree with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// What happened.
    pub event_type: EventType,
    /// When: the change's log entry's time.
    pub date: Timestamp,
    /// The session's account.
    pub account_id: AccountId,
    /// The session.
    pub session_id: SessionId,
    /// Who made the change.
    pub actor: EventActor,
    /// The member added or removed (member events only).
    pub member: Option<Member>,
    /// Why and how the member left (removals only).
    pub departure: Option<Departure>,
    /// The outbound caller ID the inviter asked for (`ChatMemberAdded` only, when given).
    pub caller_id: Option<PhoneNumber>,
    /// The call SID the caller named (`SessionEnded` only, when given).
    pub call_sid: Option<String>,
    /// The names of the fields set (`SessionInfoChanged` only): `consoleData`, `callState`,
    /// `holdReason`, `queueState`.
    pub changes: Vec<&'static str>,
    /// The log entry this change appended (`None` for a change that appends none). Outlets
    /// send it instead of the session's whole log, so that an event's size does not grow
    /// with the session's age.
    pub log_entry: Option<LogEntry>,
    /// The session after the change.
    pub session: Session,
}

impl SessionEvent {
    /// `SessionCreated` for a session just opened by `actor`.
    pub fn session_created(session: &Session, actor: &Actor) -> Self {
        let mut event =
            Self::new(EventType::SessionCreated, session.date_created, session, actor, None, None);
        event.log_entry = session.log.last().cloned();
        event
    }

    /// The event of `change`, which `actor` just made, leaving the session as `after`.
    pub fn of_change(after: &Session, actor: &Actor, change: &SessionChange) -> Self {
        let date = change.log_entry.date;
        let mut event = match &change.kind {
            ChangeKind::MemberInvited { member, caller_id } => {
                let mut event =
                    Self::new(EventType::ChatMemberAdded, date, after, actor, Some(member.clone()), None);
                event.caller_id = caller_id.clone();
                event
            }
            ChangeKind::MemberRemoved { member, reason, leave } => {
                let departure = Departure { reason: reason.clone(), leave: *leave };
                Self::new(
                    EventType::ChatMemberRemoved,
                    date,
                    after,
                    actor,
                    Some(member.clone()),
                    Some(departure),
                )
            }
            ChangeKind::Ended { call_sid } => {
                let mut event = Self::new(EventType::SessionEnded, date, after, actor, None, None);
                event.call_sid = call_sid.clone();
                event
            }
            ChangeKind::InfoChanged(patch) => {
                let mut event = Self::new(EventType::SessionInfoChanged, date, after, actor, None, None);
                event.changes = patch.fields();
                event
            }
        };
        event.log_entry = Some(change.log_entry.clone());
        event
    }

    /// The would-be event of a removal not yet made: `ChatMemberRemoving`, otherwise what
    /// [`of_change`](Self::of_change) would say. Any other event is returned as it is.
    pub fn into_removing(self) -> Self {
        if self.event_type == EventType::ChatMemberRemoved {
            Self { event_type: EventType::ChatMemberRemoving, ..self }
        } else {
            self
        }
    }

    fn new(
        event_type: EventType,
        date: Timestamp,
        session: &Session,
        actor: &Actor,
        member: Option<Member>,
        departure: Option<Departure>,
    ) -> Self {
        Self {
            event_type,
            date,
            account_id: session.account_id.clone(),
            session_id: session.id.clone(),
            actor: EventActor { user_id: actor.user_id.clone(), name: actor.name.clone() },
            member,
            departure,
            caller_id: None,
            call_sid: None,
            changes: Vec::new(),
            log_entry: None,
            session: session.clone(),
        }
    }
}
