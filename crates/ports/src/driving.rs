//! The driving port: the use cases the service offers, with their typed requests and errors.
//!
//! The edge that speaks to callers parses their requests into domain values before it calls
//! a use case, naming every invalid field as its callers name it. It hands over what it
//! parsed as a [`Parsed`] request, the command or the field errors, and the use case decides
//! what comes first: the caller's role, then the fields (docs/api.md, "Order of checks").

use async_trait::async_trait;
use evo_domain::{
    AccountId, Actor, IfVersion, MemberIdentity, NewMember, NewSession, RemovalReason, Session, SessionId,
    SessionPatch,
};
use std::sync::Arc;

use crate::idempotency::{AnswerRenderer, ChangeOutcome};

use crate::errors::{AuthError, FieldError, ServiceError};
use crate::queries::{ListSessions, SessionPage};

/// A request as the edge parsed it: the typed command, or every invalid field (never an
/// empty list). A use case checks the caller's role before it looks at which.
pub type Parsed<T> = Result<T, Vec<FieldError>>;

/// A request's `Idempotency-Key`, checked by the edge, with what the edge knows of the
/// request: its digest and how its answer looks (the use case scopes the key to the caller,
/// the store keeps the answer).
#[derive(Clone)]
pub struct IdempotencyInput {
    /// The key.
    pub key: String,
    /// A digest of the request (method, path, query, body and format).
    pub fingerprint: String,
    /// Renders the answer to keep.
    pub renderer: Arc<dyn AnswerRenderer>,
}

impl std::fmt::Debug for IdempotencyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyInput")
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for IdempotencyInput {
    /// Two inputs are the same request under the same key; how answers render is not compared.
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.fingerprint == other.fingerprint
    }
}

impl Eq for IdempotencyInput {}

/// NewSession: the session to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// What the caller asks for.
    pub session: NewSession,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency: Option<IdempotencyInput>,
}

/// A change to an existing session: which session, the change, and its conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<C> {
    /// The session to change.
    pub session_id: SessionId,
    /// What to do: a member to invite ([`NewMember`]), a [`Removal`], an [`Ending`], or a
    /// [`SessionPatch`].
    pub command: C,
    /// Only at these versions (the edge's `If-Match`); `None`: whatever the version.
    pub if_version: Option<IfVersion>,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency: Option<IdempotencyInput>,
}

/// DeleteChatMember's command: who leaves, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The member to remove.
    pub identity: MemberIdentity,
    /// Why, when the remover said.
    pub reason: Option<RemovalReason>,
}

/// EndSession's command: the call SID the caller names, told in the `SessionEnded` event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ending {
    /// `callSid`: at most 64 characters, no control characters.
    pub call_sid: Option<String>,
}

/// RemoveChatMemberFromActiveSessions: who leaves every active chat, why, in which accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalsOfMember {
    /// The member to remove.
    pub identity: MemberIdentity,
    /// Why, when the remover said (each removal's log entry says it).
    pub reason: Option<RemovalReason>,
    /// Narrows to these of the caller's accounts; empty: all of them.
    pub account_ids: Vec<AccountId>,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency: Option<IdempotencyInput>,
}

/// One session's outcome in a [`RemovalReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRemoval {
    /// The session.
    pub session_id: SessionId,
    /// Removed, or why not: what DeleteChatMember would have answered.
    pub outcome: Result<(), ServiceError>,
}

/// What RemoveChatMemberFromActiveSessions did, session by session, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovalReport {
    /// Each session tried, in the order tried.
    pub results: Vec<SessionRemoval>,
    /// Whether sessions remain that were not tried (more than a request's bound, or the
    /// store failed on the way).
    pub has_more: bool,
}

impl RemovalReport {
    /// How many sessions the member was removed from.
    pub fn removed(&self) -> usize {
        self.results.iter().filter(|result| result.outcome.is_ok()).count()
    }
}

/// The use cases of evo-sessions. Every method but [`authenticate`](Self::authenticate) and
/// [`readiness`](Self::readiness) takes the authenticated caller and a [`Parsed`] request,
/// and applies the order of docs/api.md, "Order of checks": role, fields, session visible, then
/// the rule's own.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionUseCases: Send + Sync + 'static {
    /// Verifies a bearer token and returns the caller.
    async fn authenticate(&self, token: &str) -> Result<Actor, AuthError>;
    /// Until when an authenticated token stays acceptable (`None`: it does not say); a live
    /// stream ends then.
    fn token_valid_until(&self, _token: &str) -> Option<evo_domain::Timestamp> {
        None
    }
    /// Opens a session (NewSession).
    async fn new_session(
        &self,
        actor: &Actor,
        request: Parsed<OpenSession>,
    ) -> Result<ChangeOutcome<Session>, ServiceError>;
    /// Adds a member to a chat (InviteChatMember).
    async fn invite_chat_member(
        &self,
        actor: &Actor,
        request: Parsed<Change<NewMember>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError>;
    /// Removes a member from a chat (DeleteChatMember).
    async fn delete_chat_member(
        &self,
        actor: &Actor,
        request: Parsed<Change<Removal>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError>;
    /// Reads a session with its log (GetSession).
    async fn get_session(&self, actor: &Actor, request: Parsed<SessionId>) -> Result<Session, ServiceError>;
    /// Ends a session (EndSession).
    async fn end_session(
        &self,
        actor: &Actor,
        request: Parsed<Change<Ending>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError>;
    /// Sets a session's states and screen data (PatchSession): any authenticated caller.
    async fn patch_session(
        &self,
        actor: &Actor,
        request: Parsed<Change<SessionPatch>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError>;
    /// Finds sessions (ListSessions): any authenticated caller, in its accounts.
    async fn list_sessions(
        &self,
        actor: &Actor,
        request: Parsed<ListSessions>,
    ) -> Result<SessionPage, ServiceError>;
    /// The caller's active sessions (GetActiveSessions, GetMySessions): not ended, in its
    /// accounts, with the caller (`sub`) a member; newest first, at most
    /// [`MAX_ACTIVE`](crate::queries::MAX_ACTIVE).
    async fn active_sessions(&self, actor: &Actor) -> Result<Vec<Session>, ServiceError>;
    /// Removes a member from every active chat of the caller's accounts, one session at a
    /// time, each as DeleteChatMember would (RemoveChatMemberFromActiveSessions).
    async fn remove_from_active_sessions(
        &self,
        actor: &Actor,
        request: Parsed<RemovalsOfMember>,
    ) -> Result<ChangeOutcome<RemovalReport>, ServiceError>;
    /// Whether the service can serve: the store answers.
    async fn readiness(&self) -> Result<(), ServiceError>;
}
