//! What a command asks of a session ([`SessionCommand`]), and what a successful one changed
//! ([`SessionChange`]), for a store to persist and an event to tell.

use crate::identity::{MemberIdentity, PhoneNumber};
use crate::session::{LogEntry, Member, NewMember, SessionError};
use crate::states::{CallState, HoldReason, QueueState};

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
    MemberInvited {
        /// The member as it joined.
        member: Member,
        /// The outbound caller ID the inviter asked to use, if any (told in the event only).
        caller_id: Option<PhoneNumber>,
    },
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
    Ended {
        /// The call SID the caller named, if any (told in the event only).
        call_sid: Option<String>,
    },
    /// Some of the session's states and screen data were set.
    InfoChanged(SessionPatch),
}

impl SessionChange {
    /// Refuses the change when it leaves the session `size` bytes large, more than
    /// `max_bytes` (as the edge measures a session): every change but the end, which is always
    /// allowed, so that a session at its limit can still be closed.
    pub fn check_size(&self, size: usize, max_bytes: usize) -> Result<(), SessionError> {
        if size > max_bytes && !matches!(self.kind, ChangeKind::Ended { .. }) {
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
    End {
        /// The call SID the caller named, if any: told in the `SessionEnded` event.
        call_sid: Option<String>,
    },
    /// Set some of the session's states and screen data.
    Patch(SessionPatch),
}

impl SessionCommand {
    /// Remove `identity`, giving no reason.
    pub fn remove(identity: MemberIdentity) -> Self {
        Self::RemoveMember { identity, reason: None }
    }

    /// End the session, naming no call SID.
    pub fn end() -> Self {
        Self::End { call_sid: None }
    }
}

/// The session fields PatchSession sets: those that are `Some`, in one change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPatch {
    /// Screen data of the agent console.
    pub console_data: Option<String>,
    /// The session's call state.
    pub call_state: Option<CallState>,
    /// Why the session is on hold.
    pub hold_reason: Option<HoldReason>,
    /// The session's queue state.
    pub queue_state: Option<QueueState>,
}

impl SessionPatch {
    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// The names of the fields it sets, as the Evo Voice API names them, in this order:
    /// `consoleData`, `callState`, `holdReason`, `queueState`.
    pub fn fields(&self) -> Vec<&'static str> {
        self.settings().into_iter().map(|(field, _)| field).collect()
    }

    /// What the log says it set: `callState to Hold, queueState to Queued`; console data is
    /// named, not copied (it can be 32 KiB).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .settings()
            .into_iter()
            .map(|(field, value)| match value {
                Some(value) => format!("{field} to {value}"),
                None => field.to_owned(),
            })
            .collect();
        parts.join(", ")
    }

    /// Each field set, with the value the log shows (none for console data).
    fn settings(&self) -> Vec<(&'static str, Option<&'static str>)> {
        let mut settings = Vec::with_capacity(4);
        if self.console_data.is_some() {
            settings.push(("consoleData", None));
        }
        if let Some(state) = self.call_state {
            settings.push(("callState", Some(state.as_str())));
        }
        if let Some(reason) = self.hold_reason {
            settings.push(("holdReason", Some(reason.as_str())));
        }
        if let Some(state) = self.queue_state {
            settings.push(("queueState", Some(state.as_str())));
        }
        settings
    }
}
