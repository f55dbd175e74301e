//! The session aggregate and its rules: open, invite, remove, end.
//!
//! A [`Session`] can only change through its rule methods; each checks the caller's access,
//! then the rule, and on success changes the session and returns the [`SessionChange`] a
//! store must persist. A rule that fails leaves the session untouched.

use std::collections::BTreeMap;
use std::ops::Deref;

use chrono::{DateTime, SubsecRound, Utc};

use crate::access::{AccessError, Actor};
pub use crate::command::{
    ChangeKind, MAX_REASON_CHARS, ReasonError, RemovalReason, SessionChange, SessionCommand, SessionPatch,
};
use crate::identity::{MemberIdentity, PhoneNumber};
use crate::ids::{AccountId, SessionId};
use crate::states::{
    CallState, Channel, DialState, Direction, HoldReason, MemberCallState, MemberRole, QueueState,
};

/// Most members a session holds at once: a bound on what every change loads under its lock.
pub const MAX_MEMBERS: usize = 100;
/// Most log entries a session gathers; past it only ending the session is allowed.
pub const MAX_LOG_ENTRIES: usize = 1000;

/// A point in time, UTC, kept to the millisecond (the precision the Evo Voice API gives).
pub type Timestamp = DateTime<Utc>;

/// Why a rule refused to change a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such session, or one the caller may not see (the two look the same on purpose).
    #[error("session not found")]
    NotFound,
    /// A chat operation on a Voice or Fax session.
    #[error("this is a {channel} session, not a chat")]
    NotAChatSession {
        /// The session's channel.
        channel: Channel,
    },
    /// The session has ended and changes no more.
    #[error("the session has ended")]
    SessionEnded,
    /// The session has no member with that identity.
    #[error("the session has no member {identity}")]
    MemberNotFound {
        /// The identity that was asked for.
        identity: String,
    },
    /// The member who started the session cannot be removed; end the session instead.
    #[error("{identity} started this session and cannot be removed; end the session instead")]
    CannotRemoveOriginalMember {
        /// The original member's identity.
        identity: String,
    },
    /// The identity is already a member.
    #[error("{identity} is already a member of this session")]
    MemberAlreadyExists {
        /// The identity that was invited.
        identity: String,
    },
    /// The session already has [`MAX_MEMBERS`] members.
    #[error("the session already has the most members it may have ({limit})")]
    SessionFull {
        /// [`MAX_MEMBERS`].
        limit: usize,
    },
    /// The session's log already has [`MAX_LOG_ENTRIES`] entries: it can only be ended.
    #[error("the session has reached its limit of {limit} log entries; end it and start another")]
    SessionLimitReached {
        /// [`MAX_LOG_ENTRIES`].
        limit: usize,
    },
    /// The change would make the session weigh more than its limit, as the edge measures it
    /// (the wire form of the whole session): it can only be ended.
    #[error(
        "the change would make the session larger than its limit of {max_bytes} bytes; end it and start another"
    )]
    SessionTooLarge {
        /// The limit, in bytes.
        max_bytes: usize,
    },
    /// The change was asked for on a version of the session that is no longer current.
    #[error("the session has changed since you read it (version {current} now)")]
    VersionMismatch {
        /// The session's version now.
        current: u64,
    },
    /// The caller may not do this at all.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// The versions a change was decided on: it applies only when the session
/// is at one of them. Checked after visibility, before the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfVersion(pub Vec<u64>);

/// One entry of a customer breadcrumb trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CustomerBreadcrumb {
    /// The customer's ID.
    pub id: Option<String>,
    /// The customer's name.
    pub name: Option<String>,
}

/// One line of a session's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When it happened.
    pub date: Timestamp,
    /// What happened, for people.
    pub message: String,
}

/// A member of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who the member is.
    pub identity: MemberIdentity,
    /// The endpoint the member uses, if known.
    pub endpoint_id: Option<String>,
    /// The name to show.
    pub display_name: Option<String>,
    /// Whether this member started the session (and so cannot be removed).
    pub is_original_member: bool,
    /// A picture of the member.
    pub avatar_url: Option<String>,
    /// Free-form data of the client application.
    pub application_data: BTreeMap<String, String>,
    /// The member's call state.
    pub call_state: MemberCallState,
    /// The member's role.
    pub role: MemberRole,
    /// The member's call SID, if on a call.
    pub call_sid: Option<String>,
    /// Whether the member is muted.
    pub muted: bool,
}

impl Member {
    /// How the log names this member: its display name, or its identity.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(self.identity.as_str())
    }
}

/// A member to add: what the caller chose; the rules fill in the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// Who the member is.
    pub identity: MemberIdentity,
    /// The name to show.
    pub display_name: Option<String>,
    /// The role; when absent, `Agent` for a user ID and `None` for a phone number.
    pub role: Option<MemberRole>,
    /// A picture of the member.
    pub avatar_url: Option<String>,
    /// Free-form data of the client application.
    pub application_data: BTreeMap<String, String>,
    /// The outbound caller ID to use when reaching the member (InviteChatMember's
    /// `callerId`): not kept with the member, told in the `ChatMemberAdded` event.
    pub caller_id: Option<PhoneNumber>,
}

impl NewMember {
    /// A member with nothing but an identity.
    pub fn new(identity: MemberIdentity) -> Self {
        Self {
            identity,
            display_name: None,
            role: None,
            avatar_url: None,
            application_data: BTreeMap::new(),
            caller_id: None,
        }
    }
}

/// The descriptive fields of a session: the rules carry them but never decide on them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is the Evo Voice API session field of the same name
pub struct SessionDetails {
    pub account_name: Option<String>,
    pub customer_id: Option<String>,
    pub customer_breadcrumb: Vec<CustomerBreadcrumb>,
    pub customer_name: Option<String>,
    pub endpoint_id: Option<String>,
    pub endpoint_name: Option<String>,
    pub destination: Option<String>,
    pub to_address: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub answered_by_name: Option<String>,
    pub queue_member_id: Option<String>,
    pub outcome: Option<String>,
    pub call_sid: Option<String>,
    pub console_data: Option<String>,
    pub hold_queue_name: Option<String>,
    pub held_by_user_id: Option<String>,
    pub conference_sid: Option<String>,
    pub display_name: Option<String>,
    pub callback_number: Option<String>,
    pub answered_by_id: Option<String>,
    pub from_phone_number: Option<String>,
    pub most_recent_participant_call_sid: Option<String>,
    pub ring_queue_id: Option<String>,
}

/// What a caller asks for when opening a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The account the session belongs to.
    pub account_id: AccountId,
    /// `Chat` unless another channel is asked for.
    pub channel: Channel,
    /// `Incoming` unless given.
    pub direction: Direction,
    /// Descriptive fields.
    pub details: SessionDetails,
    /// The members, the first of them the original member. Identities must be distinct.
    pub members: Vec<NewMember>,
}

/// Everything a session holds: the read-only view of a [`Session`], and what a store saves
/// and restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionData {
    /// The session's ID.
    pub id: SessionId,
    /// The account (tenant) it belongs to.
    pub account_id: AccountId,
    /// Its medium.
    pub channel: Channel,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// Dial state.
    pub dial_state: DialState,
    /// Call state of the session.
    pub call_state: CallState,
    /// Queue state.
    pub queue_state: QueueState,
    /// Why it is on hold.
    pub hold_reason: HoldReason,
    /// Whether it has ended; an ended session changes no more.
    pub ended: bool,
    /// Whether it was missed.
    pub was_missed: bool,
    /// When it ended.
    pub date_completed: Option<Timestamp>,
    /// Descriptive fields.
    pub details: SessionDetails,
    /// Current members, in the order they joined.
    pub members: Vec<Member>,
    /// The log, oldest first.
    pub log: Vec<LogEntry>,
    /// When it was created.
    pub date_created: Timestamp,
    /// Who created it (a user ID).
    pub created_by: String,
    /// When it last changed.
    pub date_last_modified: Timestamp,
    /// Who changed it last (a user ID).
    pub last_modified_by: String,
    /// How many changes it has had since it was opened (0 when new): it changes exactly when
    /// the session does, so it identifies which state of the session a caller saw.
    pub version: u64,
}

/// A session and its rules. Read it through [`Deref`] to [`SessionData`]; change it only
/// through the rule methods.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use evo_domain::*;
///
/// let agent = Actor {
///     user_id: "ann@example.com".into(),
///     name: "Ann".into(),
///     roles: vec!["User".into()],
///     account_ids: vec![AccountId::parse("acme").unwrap()],
/// };
/// let now = Utc.with_ymd_and_hms(2026, 11, 26, 21, 1, 49).unwrap();
/// let caller = MemberIdentity::parse("+15551234567").unwrap();
/// let bob = MemberIdentity::parse("bob@example.com").unwrap();
/// let mut session = Session::open(
///     SessionId::parse("s-1").unwrap(),
///     NewSession {
///         account_id: AccountId::parse("acme").unwrap(),
///         channel: Channel::Chat,
///         direction: Direction::Incoming,
///         details: SessionDetails::default(),
///         members: vec![NewMember::new(caller), NewMember::new(bob.clone())],
///     },
///     &agent,
///     now,
/// )
/// .unwrap();
///
/// let change = session.remove_member(&agent, &bob, now).unwrap();
/// assert_eq!(change.log_entry.message, "Ann removed bob@example.com from the chat");
/// assert_eq!(session.members.len(), 1);
/// assert_eq!(session.last_modified_by, "ann@example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session(SessionData);

impl Deref for Session {
    type Target = SessionData;

    fn deref(&self) -> &SessionData {
        &self.0
    }
}

impl Session {
    /// Rebuilds a session from what a store saved. Stores only: it trusts `data`.
    pub fn restore(data: SessionData) -> Self {
        Self(data)
    }

    /// Gives up the rules and returns the data.
    pub fn into_data(self) -> SessionData {
        self.0
    }

    /// Opens a session. The first member is the original member. Fails when the caller may
    /// not act on the account. Member identities must be distinct (the caller checks that
    /// as field validation; here a repeat is refused as [`SessionError::MemberAlreadyExists`]).
    pub fn open(id: SessionId, new: NewSession, actor: &Actor, now: Timestamp) -> Result<Self, SessionError> {
        if !actor.can_access(&new.account_id) {
            return Err(AccessError::AccountNotAllowed { account: new.account_id }.into());
        }
        if new.members.len() > MAX_MEMBERS {
            return Err(SessionError::SessionFull { limit: MAX_MEMBERS });
        }
        let now = now.trunc_subsecs(3);
        let mut members: Vec<Member> = Vec::with_capacity(new.members.len());
        for (index, wanted) in new.members.into_iter().enumerate() {
            if members.iter().any(|m| m.identity == wanted.identity) {
                return Err(SessionError::MemberAlreadyExists { identity: wanted.identity.to_string() });
            }
            let is_original = index == 0;
            let default_role = if is_original && new.direction == Direction::Incoming {
                MemberRole::Caller
            } else {
                default_role(&wanted.identity)
            };
            members.push(new_member(wanted, is_original, default_role, new.channel));
        }
        let call_state =
            if new.channel == Channel::Chat { CallState::Connected } else { CallState::Disconnected };
        Ok(Self(SessionData {
            id,
            account_id: new.account_id,
            channel: new.channel,
            direction: new.direction,
            dial_state: DialState::None,
            call_state,
            queue_state: QueueState::None,
            hold_reason: HoldReason::None,
            ended: false,
            was_missed: false,
            date_completed: None,
            details: new.details,
            members,
            log: vec![LogEntry { date: now, message: format!("{} started the session", actor.name) }],
            date_created: now,
            created_by: actor.user_id.clone(),
            date_last_modified: now,
            last_modified_by: actor.user_id.clone(),
            version: 0,
        }))
    }

    /// Whether `actor` may see this session at all.
    pub fn is_visible_to(&self, actor: &Actor) -> bool {
        actor.can_access(&self.account_id)
    }

    /// Applies a [`SessionCommand`] with the matching rule method.
    pub fn apply(
        &mut self,
        actor: &Actor,
        command: &SessionCommand,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        self.apply_if(actor, command, None, now)
    }

    /// [`apply`](Self::apply), but only when the session is at a version of `if_version`:
    /// a visible session at another version is [`SessionError::VersionMismatch`], and nothing
    /// changes.
    pub fn apply_if(
        &mut self,
        actor: &Actor,
        command: &SessionCommand,
        if_version: Option<&IfVersion>,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        if let Some(IfVersion(versions)) = if_version {
            self.check_visible(actor)?;
            if !versions.contains(&self.version) {
                return Err(SessionError::VersionMismatch { current: self.version });
            }
        }
        match command {
            SessionCommand::InviteMember(member) => self.invite_member(actor, member.clone(), now),
            SessionCommand::RemoveMember { identity, reason } => {
                self.remove_member_because(actor, identity, reason.as_ref(), now)
            }
            SessionCommand::End { call_sid } => self.end_with(actor, call_sid.clone(), now),
            SessionCommand::Patch(patch) => self.patch(actor, patch.clone(), now),
        }
    }

    /// Adds a member to a chat. Checks, in order: visible, chat, not ended, not a member,
    /// then the bounds: fewer than [`MAX_MEMBERS`] members, room in the log.
    pub fn invite_member(
        &mut self,
        actor: &Actor,
        wanted: NewMember,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        self.check_changeable_chat(actor)?;
        if self.members.iter().any(|m| m.identity == wanted.identity) {
            return Err(SessionError::MemberAlreadyExists { identity: wanted.identity.to_string() });
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(SessionError::SessionFull { limit: MAX_MEMBERS });
        }
        self.check_log_room()?;
        let role = default_role(&wanted.identity);
        let caller_id = wanted.caller_id.clone();
        let member = new_member(wanted, false, role, self.channel);
        let message = format!("{} added {} to the chat", actor.name, member.label());
        self.0.members.push(member.clone());
        Ok(self.record(actor, ChangeKind::MemberInvited { member, caller_id }, message, now))
    }

    /// Removes a member from a chat, giving no reason: [`remove_member_because`](Self::remove_member_because).
    pub fn remove_member(
        &mut self,
        actor: &Actor,
        identity: &MemberIdentity,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        self.remove_member_because(actor, identity, None, now)
    }

    /// Removes a member from a chat. Checks, in order: visible, chat, not ended, a member,
    /// not the original member, room in the log. A member removing itself (the actor's user
    /// ID is the member's identity, compared as identities are) leaves: the log says
    /// `Bob left the chat`; otherwise `Ann removed Bob from the chat`; a reason follows
    /// after a colon.
    pub fn remove_member_because(
        &mut self,
        actor: &Actor,
        identity: &MemberIdentity,
        reason: Option<&RemovalReason>,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        self.check_changeable_chat(actor)?;
        let Some(position) = self.members.iter().position(|m| &m.identity == identity) else {
            return Err(SessionError::MemberNotFound { identity: identity.to_string() });
        };
        let member = &self.members[position];
        if member.is_original_member {
            return Err(SessionError::CannotRemoveOriginalMember { identity: member.identity.to_string() });
        }
        self.check_log_room()?;
        let removed = self.0.members.remove(position);
        let leave = MemberIdentity::parse(&actor.user_id).is_ok_and(|actor| actor == removed.identity);
        let mut message = if leave {
            format!("{} left the chat", removed.label())
        } else {
            format!("{} removed {} from the chat", actor.name, removed.label())
        };
        if let Some(reason) = reason {
            message.push_str(": ");
            message.push_str(reason.as_str());
        }
        let kind = ChangeKind::MemberRemoved { member: removed, reason: reason.cloned(), leave };
        Ok(self.record(actor, kind, message, now))
    }

    /// Ends the session, whatever its channel. Checks: visible, not ended. Always allowed
    /// past the log's bound, so that a full session can still be closed.
    pub fn end(&mut self, actor: &Actor, now: Timestamp) -> Result<SessionChange, SessionError> {
        self.end_with(actor, None, now)
    }

    /// [`end`](Self::end), naming the call SID the `SessionEnded` event tells.
    pub fn end_with(
        &mut self,
        actor: &Actor,
        call_sid: Option<String>,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        self.check_visible(actor)?;
        if self.ended {
            return Err(SessionError::SessionEnded);
        }
        self.0.ended = true;
        self.0.call_state = CallState::Disconnected;
        self.0.date_completed = Some(self.change_time(now));
        let message = format!("{} ended the session", actor.name);
        Ok(self.record(actor, ChangeKind::Ended { call_sid }, message, now))
    }

    /// Sets the fields `patch` gives (PatchSession), on a session of any channel. Checks, in
    /// order: visible, not ended, room in the log. The log says who set what:
    /// `Ann set callState to Hold, queueState to Queued` (console data is named, not copied).
    /// An empty patch changes nothing but still records who asked (the edge refuses one).
    pub fn patch(
        &mut self,
        actor: &Actor,
        patch: SessionPatch,
        now: Timestamp,
    ) -> Result<SessionChange, SessionError> {
        self.check_visible(actor)?;
        if self.ended {
            return Err(SessionError::SessionEnded);
        }
        self.check_log_room()?;
        if let Some(data) = &patch.console_data {
            self.0.details.console_data = Some(data.clone());
        }
        if let Some(state) = patch.call_state {
            self.0.call_state = state;
        }
        if let Some(reason) = patch.hold_reason {
            self.0.hold_reason = reason;
        }
        if let Some(state) = patch.queue_state {
            self.0.queue_state = state;
        }
        let message = format!("{} set {}", actor.name, patch.describe());
        Ok(self.record(actor, ChangeKind::InfoChanged(patch), message, now))
    }

    fn check_visible(&self, actor: &Actor) -> Result<(), SessionError> {
        if self.is_visible_to(actor) { Ok(()) } else { Err(SessionError::NotFound) }
    }

    fn check_log_room(&self) -> Result<(), SessionError> {
        if self.log.len() >= MAX_LOG_ENTRIES {
            return Err(SessionError::SessionLimitReached { limit: MAX_LOG_ENTRIES });
        }
        Ok(())
    }

    fn check_changeable_chat(&self, actor: &Actor) -> Result<(), SessionError> {
        self.check_visible(actor)?;
        if self.channel != Channel::Chat {
            return Err(SessionError::NotAChatSession { channel: self.channel });
        }
        if self.ended {
            return Err(SessionError::SessionEnded);
        }
        Ok(())
    }

    /// The time a change is recorded at: `now` to the millisecond, but never before the
    /// session's last change, so that the log reads in order even when clocks of several
    /// servers disagree.
    fn change_time(&self, now: Timestamp) -> Timestamp {
        now.trunc_subsecs(3).max(self.date_last_modified)
    }

    fn record(&mut self, actor: &Actor, kind: ChangeKind, message: String, now: Timestamp) -> SessionChange {
        let now = self.change_time(now);
        let log_entry = LogEntry { date: now, message };
        self.0.log.push(log_entry.clone());
        self.0.date_last_modified = now;
        self.0.last_modified_by = actor.user_id.clone();
        self.0.version += 1;
        SessionChange { kind, log_entry }
    }
}

fn default_role(identity: &MemberIdentity) -> MemberRole {
    if identity.is_user() { MemberRole::Agent } else { MemberRole::None }
}

fn new_member(wanted: NewMember, is_original: bool, default_role: MemberRole, channel: Channel) -> Member {
    Member {
        identity: wanted.identity,
        endpoint_id: None,
        display_name: wanted.display_name,
        is_original_member: is_original,
        avatar_url: wanted.avatar_url,
        application_data: wanted.application_data,
        call_state: if channel == Channel::Chat { MemberCallState::Connected } else { MemberCallState::None },
        role: wanted.role.unwrap_or(default_role),
        call_sid: None,
        muted: false,
    }
}
