//! What a command asks of a session ([`SessionCommand`]), and what a successful one changed
//! ([`SessionChange`]), for a store to persist and an event to tell.

use crate::identity::MemberIdentity;
use crate::session::{LogEntry, Member, NewMember, SessionError};

/// What a successful rule changed, for a store to persist: the kind of change and the one
/// log entry it appended. The session header (`date_last_modified`, `last_modified_by`,
/// `ended`, `date_completed`, `call_state`, `version`) is read from the session after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChange {
    /// What happened to the members or the session.
    pub kind: ChangeKind,
    /// The log entry appended by the change (also the last entry of the session's log).
    pub log_entry: LogEntry,
}

/// The kinds of [`SessionChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// This member joined, after all current members.
    MemberInvited(Member),
    /// This member left, or was removed.
    MemberRemoved {
        /// The member as it was before it left.
        member: Member,
        /// Why, when the remover said.
        reason: Option<RemovalReason>,
        /// Whether the member removed itself (a leave) rather than being removed by another.
        leave: bool,
    },
    /// The session ended.
    Ended,
}

impl SessionChange {
    /// Refuses the change when it leaves the session `size` bytes large, more than
    /// `max_bytes` (as the edge measures a session): every change but the end, which is always
    /// allowed, so that a session at its limit can still be closed.
    pub fn check_size(&self, size: usize, max_bytes: usize) -> Result<(), SessionError> {
        if size > max_bytes && self.kind != ChangeKind::Ended {
            return Err(SessionError::SessionTooLarge { max_bytes });
        }
        Ok(())
    }
}

/// Longest [`RemovalReason`], in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a member is removed, in the remover's words: at most [`MAX_REASON_CHARS`] characters,
/// no control characters (it goes into the log, one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalReason(String);

/// Why a text is not a [`RemovalReason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// Longer than [`MAX_REASON_CHARS`].
    #[error("must be at most {MAX_REASON_CHARS} characters, not {0}")]
    TooLong(usize),
    /// Holds a control character (a line break, a NUL...).
    #[error("cannot contain control characters")]
    ControlCharacter,
}

impl RemovalReason {
    /// Checks a reason; surrounding white space is dropped, and an empty one is no reason.
    pub fn parse(raw: &str) -> Result<Option<Self>, ReasonError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(ReasonError::TooLong(chars));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ReasonError::ControlCharacter);
        }
        Ok((!trimmed.is_empty()).then(|| Self(trimmed.to_owned())))
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A change a caller asks for on an existing session: data, so that a store can apply it
/// inside its own transaction with [`Session::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// Add a member to a chat.
    InviteMember(NewMember),
    /// Remove a member from a chat, perhaps saying why.
    RemoveMember {
        /// The member to remove.
        identity: MemberIdentity,
        /// Why, when the remover said.
        reason: Option<RemovalReason>,
    },
    /// End the session.
    End,
}

impl SessionCommand {
    /// Remove `identity`, giving no reason.
    pub fn remove(identity: MemberIdentity) -> Self {
        Self::RemoveMember { identity, reason: None }
    }
}
