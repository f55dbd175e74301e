//! The driving port: the use cases the service offers, with their inputs and errors.
//!
//! Inputs carry raw text as the caller sent it; the use cases validate every field and
//! name each invalid one in [`ServiceError::Validation`].

use async_trait::async_trait;
use evo_domain::{Actor, IfVersion, Session};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::idempotency::AnswerRenderer;

use crate::errors::{AuthError, ServiceError};

/// An `Idempotency-Key` as sent, with what the edge knows of the request: its digest and how
/// its answer looks (the use case checks the key, the store keeps the answer).
#[derive(Clone)]
pub struct IdempotencyInput {
    /// The key, raw.
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

/// A customer breadcrumb as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreadcrumbInput {
    /// The customer's ID.
    pub id: Option<String>,
    /// The customer's name.
    pub name: Option<String>,
}

/// A member of a new session, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMemberInput {
    /// Phone number or user ID (required).
    pub identity: Option<String>,
    /// The name to show.
    pub display_name: Option<String>,
    /// A `SessionMemberRoles` name.
    pub role: Option<String>,
    /// A picture of the member.
    pub avatar_url: Option<String>,
    /// Free-form data of the client application.
    pub application_data: BTreeMap<String, String>,
}

/// NewSession, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is the request field of the same (camelCase) name
pub struct NewSessionInput {
    pub account_id: Option<String>,
    pub channel: Option<String>,
    pub direction: Option<String>,
    pub display_name: Option<String>,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_breadcrumb: Vec<BreadcrumbInput>,
    pub endpoint_id: Option<String>,
    pub endpoint_name: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub to_address: Option<String>,
    pub from_phone_number: Option<String>,
    pub console_data: Option<String>,
    pub members: Vec<NewMemberInput>,
    pub idempotency: Option<IdempotencyInput>,
}

/// InviteChatMember, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteChatMemberInput {
    /// The session's ID.
    pub session_id: Option<String>,
    /// Phone number or user ID to add.
    pub member_to_add: Option<String>,
    /// The name to show.
    pub display_name: Option<String>,
    /// A `SessionMemberRoles` name.
    pub role: Option<String>,
    /// Only at these versions (HTTP `If-Match`); `None`: whatever the version.
    pub if_version: Option<IfVersion>,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency: Option<IdempotencyInput>,
}

/// DeleteChatMember, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteChatMemberInput {
    /// The session's ID.
    pub session_id: Option<String>,
    /// Phone number or user ID to remove.
    pub member_to_remove: Option<String>,
    /// Why (at most 500 characters, no control characters).
    pub reason: Option<String>,
    /// Only at these versions (HTTP `If-Match`); `None`: whatever the version.
    pub if_version: Option<IfVersion>,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency: Option<IdempotencyInput>,
}

/// The use cases of evo-sessions. Every method but [`authenticate`](Self::authenticate) and
/// [`readiness`](Self::readiness) takes the authenticated caller and applies contract
/// section 4's order of checks: role, fields, session visible, then the rule's own.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionUseCases: Send + Sync + 'static {
    /// Verifies a bearer token and returns the caller.
    async fn authenticate(&self, token: &str) -> Result<Actor, AuthError>;
    /// Opens a session (NewSession).
    async fn new_session(&self, actor: &Actor, input: NewSessionInput) -> Result<Session, ServiceError>;
    /// Adds a member to a chat (InviteChatMember).
    async fn invite_chat_member(
        &self,
        actor: &Actor,
        input: InviteChatMemberInput,
    ) -> Result<Session, ServiceError>;
    /// Removes a member from a chat (DeleteChatMember).
    async fn delete_chat_member(
        &self,
        actor: &Actor,
        input: DeleteChatMemberInput,
    ) -> Result<Session, ServiceError>;
    /// Reads a session with its log (GetSession).
    async fn get_session(&self, actor: &Actor, session_id: Option<String>) -> Result<Session, ServiceError>;
    /// Ends a session (EndSession), only at a version of `if_version` when given.
    async fn end_session(
        &self,
        actor: &Actor,
        session_id: Option<String>,
        if_version: Option<IfVersion>,
        idempotency: Option<IdempotencyInput>,
    ) -> Result<Session, ServiceError>;
    /// Whether the service can serve: the store answers.
    async fn readiness(&self) -> Result<(), ServiceError>;
}
