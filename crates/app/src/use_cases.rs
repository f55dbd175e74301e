//! The use cases: each checks the caller's role, validates the request, then lets the
//! domain decide, through the repository port when the session must change atomically.

use async_trait::async_trait;
use evo_domain::{Actor, IfVersion, NewMember, Session, SessionCommand, SessionError, Timestamp, USER_ROLE};
use evo_ports::{
    AuthError, Clock, DeleteChatMemberInput, IdGenerator, Idempotency, IdempotencyInput,
    InviteChatMemberInput, NewSessionInput, RepositoryError, ServiceError, SessionRepository,
    SessionUseCases, TokenVerifier, UpdateError,
};

use crate::validation::{self, Fields, MAX_TEXT_CHARS};

/// How many times a new session is retried with a fresh ID when the ID already exists.
const NEW_SESSION_ID_ATTEMPTS: usize = 3;

/// How long the answer of a keyed request is kept unless configured otherwise (contract
/// section 9: `EVO_IDEMPOTENCY_TTL_SECS`).
pub const DEFAULT_IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// The use cases of evo-sessions over any store, token verifier, clock and ID source.
#[derive(Debug, Clone)]
pub struct SessionService<R, T, C, I> {
    repository: R,
    tokens: T,
    clock: C,
    ids: I,
    idempotency_ttl: chrono::Duration,
}

impl<R, T, C, I> SessionService<R, T, C, I>
where
    R: SessionRepository,
    T: TokenVerifier,
    C: Clock,
    I: IdGenerator,
{
    /// Wires the use cases to their driven ports; keyed answers are kept for
    /// [`DEFAULT_IDEMPOTENCY_TTL`].
    pub fn new(repository: R, tokens: T, clock: C, ids: I) -> Self {
        Self::with_idempotency_ttl(repository, tokens, clock, ids, DEFAULT_IDEMPOTENCY_TTL)
    }

    /// [`new`](Self::new), keeping keyed answers for `ttl`.
    pub fn with_idempotency_ttl(
        repository: R,
        tokens: T,
        clock: C,
        ids: I,
        ttl: std::time::Duration,
    ) -> Self {
        let idempotency_ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        Self { repository, tokens, clock, ids, idempotency_ttl }
    }

    /// The store's form of a checked key: scoped to the caller, kept until the TTL ends.
    fn idempotency(
        &self,
        actor: &Actor,
        key: String,
        input: IdempotencyInput,
        now: Timestamp,
    ) -> Idempotency {
        Idempotency {
            scope: actor.user_id.clone(),
            key,
            fingerprint: input.fingerprint,
            expires_at: now.checked_add_signed(self.idempotency_ttl).unwrap_or(now),
            renderer: input.renderer,
        }
    }

    /// Applies `command` to the session atomically, through the store.
    async fn change(
        &self,
        actor: &Actor,
        session_id: Option<String>,
        if_version: Option<IfVersion>,
        idempotency: Option<IdempotencyInput>,
        build: impl FnOnce(&mut Fields) -> Option<SessionCommand>,
    ) -> Result<Session, ServiceError> {
        actor.require_role(USER_ROLE).map_err(SessionError::from)?;
        let mut fields = Fields::default();
        let id = fields.session_id(session_id.as_deref());
        let command = build(&mut fields);
        let key = idempotency.map(|input| (fields.idempotency_key(&input.key), input));
        let (id, command) = fields.finish((id, command)).map_err(ServiceError::Validation)?;
        let (Some(id), Some(command)) = (id, command) else {
            return Err(ServiceError::Internal("a field failed without a validation error".into()));
        };
        let now = self.clock.now();
        let idempotency =
            key.and_then(|(key, input)| key.map(|key| self.idempotency(actor, key, input, now)));
        Ok(self.repository.update(&id, actor, &command, if_version, idempotency, now).await?)
    }
}

#[async_trait]
impl<R, T, C, I> SessionUseCases for SessionService<R, T, C, I>
where
    R: SessionRepository,
    T: TokenVerifier,
    C: Clock,
    I: IdGenerator,
{
    async fn authenticate(&self, token: &str) -> Result<Actor, AuthError> {
        if token.trim().is_empty() {
            return Err(AuthError::MissingToken);
        }
        self.tokens.verify(token).await
    }

    async fn new_session(&self, actor: &Actor, input: NewSessionInput) -> Result<Session, ServiceError> {
        actor.require_role(USER_ROLE).map_err(SessionError::from)?;
        let keyed = input.idempotency.clone();
        let (new, key) = validation::new_session(input, keyed.as_ref().map(|k| k.key.as_str()))
            .map_err(ServiceError::Validation)?;
        let now = self.clock.now();
        let idempotency = keyed.zip(key).map(|(input, key)| self.idempotency(actor, key, input, now));
        for _ in 0..NEW_SESSION_ID_ATTEMPTS {
            let session = Session::open(self.ids.new_session_id(), new.clone(), actor, now)?;
            match self.repository.insert(&session, idempotency.clone()).await {
                Ok(()) => return Ok(session),
                Err(UpdateError::Repository(RepositoryError::AlreadyExists)) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Internal("could not find a free session ID".into()))
    }

    async fn invite_chat_member(
        &self,
        actor: &Actor,
        input: InviteChatMemberInput,
    ) -> Result<Session, ServiceError> {
        self.change(actor, input.session_id, input.if_version, input.idempotency, |fields| {
            let identity = fields.identity("memberToAdd", input.member_to_add.as_deref());
            let role = fields.wire_enum("role", input.role.as_deref());
            let display_name = fields.text("displayName", input.display_name, MAX_TEXT_CHARS);
            let mut member = NewMember::new(identity?);
            member.role = role?;
            member.display_name = display_name;
            Some(SessionCommand::InviteMember(member))
        })
        .await
    }

    async fn delete_chat_member(
        &self,
        actor: &Actor,
        input: DeleteChatMemberInput,
    ) -> Result<Session, ServiceError> {
        self.change(actor, input.session_id, input.if_version, input.idempotency, |fields| {
            let identity = fields.identity("memberToRemove", input.member_to_remove.as_deref());
            let reason = fields.reason(input.reason.as_deref());
            Some(SessionCommand::RemoveMember { identity: identity?, reason: reason? })
        })
        .await
    }

    async fn get_session(&self, actor: &Actor, session_id: Option<String>) -> Result<Session, ServiceError> {
        actor.require_role(USER_ROLE).map_err(SessionError::from)?;
        let mut fields = Fields::default();
        let id = fields.session_id(session_id.as_deref());
        let Some(id) = fields.finish(id).map_err(ServiceError::Validation)? else {
            return Err(ServiceError::Internal("a field failed without a validation error".into()));
        };
        match self.repository.find(&id, actor).await? {
            Some(session) if session.is_visible_to(actor) => Ok(session),
            // Another account's session answers exactly like a missing one.
            _ => Err(SessionError::NotFound.into()),
        }
    }

    async fn end_session(
        &self,
        actor: &Actor,
        session_id: Option<String>,
        if_version: Option<IfVersion>,
        idempotency: Option<IdempotencyInput>,
    ) -> Result<Session, ServiceError> {
        self.change(actor, session_id, if_version, idempotency, |_| Some(SessionCommand::End)).await
    }

    async fn readiness(&self) -> Result<(), ServiceError> {
        Ok(self.repository.ping().await?)
    }
}
