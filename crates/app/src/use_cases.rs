//! The use cases: each checks the caller's role, then takes the request the edge parsed,
//! then lets the domain decide, through the repository port when the session must change
//! atomically.

use std::sync::Arc;

use async_trait::async_trait;
use evo_domain::{
    AccountId, Actor, Channel, IfVersion, MemberIdentity, NewMember, Session, SessionCommand, SessionError,
    SessionEvent, SessionId, SessionPatch, Timestamp, USER_ROLE,
};
use evo_ports::queries::MAX_ACTIVE;
use evo_ports::{
    AccountScope, AuthError, Change, ChangeOutcome, Clock, Ending, HookVerdict, IdGenerator, Idempotency,
    IdempotencyInput, ListSessions, MemberSessions, OpenSession, Parsed, Removal, RemovalHook, RemovalReport,
    RemovalsOfMember, RepositoryError, ServiceError, SessionPage, SessionRemoval, SessionRepository,
    SessionSearch, SessionUseCases, TokenVerifier, UpdateError,
};

/// How many times a new session is retried with a fresh ID when the ID already exists.
const NEW_SESSION_ID_ATTEMPTS: usize = 3;

/// How long the answer of a keyed request is kept unless configured otherwise (docs/api.md,
/// "Idempotency-Key": `EVO_IDEMPOTENCY_TTL_SECS`).
pub const DEFAULT_IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// The use cases of evo-sessions over any store, token verifier, clock and ID source.
#[derive(Clone)]
pub struct SessionService<R, T, C, I> {
    repository: R,
    tokens: T,
    clock: C,
    ids: I,
    idempotency_ttl: chrono::Duration,
    removal_hook: Option<(Arc<dyn RemovalHook>, OnHookFailure)>,
}

impl<R, T, C, I> std::fmt::Debug for SessionService<R, T, C, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService")
            .field("idempotency_ttl", &self.idempotency_ttl)
            .field("removal_hook", &self.removal_hook.as_ref().map(|(_, on_failure)| on_failure))
            .finish_non_exhaustive()
    }
}

/// What a pre-removal hook that gave no answer in time, or a 5xx, means
/// (`EVO_PRE_REMOVE_HOOK_ON_FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnHookFailure {
    /// The removal is refused as unavailable (503): nothing changes, the client may retry.
    #[default]
    Refuse,
    /// The removal goes on.
    Allow,
}

/// The order of docs/api.md, "Order of checks", stated once: a caller without the role is refused
/// (403) whatever its request holds; only then do the fields count (400).
fn admit<T>(actor: &Actor, request: Parsed<T>) -> Result<T, ServiceError> {
    actor.require_role(USER_ROLE).map_err(SessionError::from)?;
    request.map_err(ServiceError::Validation)
}

/// The accounts a search looks in (the tenancy rule: `Actor::accounts_to_search`).
fn search_scope(actor: &Actor, named: &[AccountId]) -> AccountScope {
    actor.accounts_to_search(named).map_or(AccountScope::All, AccountScope::Only)
}

/// Whether a search in `scope` cannot find anything (the caller sees none of the accounts).
fn finds_nothing(scope: &AccountScope) -> bool {
    matches!(scope, AccountScope::Only(accounts) if accounts.is_empty())
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
        Self { repository, tokens, clock, ids, idempotency_ttl, removal_hook: None }
    }

    /// The same use cases, asking `hook` before every removal (docs/api.md, "The pre-removal
    /// hook").
    pub fn with_removal_hook(self, hook: Arc<dyn RemovalHook>, on_failure: OnHookFailure) -> Self {
        Self { removal_hook: Some((hook, on_failure)), ..self }
    }

    /// Asks the pre-removal hook, if any, about a removal that passes every check on a read
    /// without locks: the would-be `ChatMemberRemoving` event goes out before any lock is
    /// taken. A removal the read already refuses is left to the store, which answers it under
    /// its lock (the hook is not asked about a change that will not happen), and so is a
    /// keyed request whose key already holds an answer (a repeat gets that answer, a reuse its
    /// 422: docs/api.md, "Order of checks", puts the idempotency checks before the hook).
    async fn ask_before_removal(
        &self,
        actor: &Actor,
        id: &SessionId,
        command: &SessionCommand,
        if_version: Option<&IfVersion>,
        idempotency: Option<&Idempotency>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let Some((hook, on_failure)) = &self.removal_hook else { return Ok(()) };
        if let Some(key) = idempotency {
            match self.repository.kept_answer(key, actor, now).await {
                // A repeat gets its kept answer and a reuse its refusal, from the store.
                Ok(Some(_)) | Err(UpdateError::Keyed(_)) => return Ok(()),
                Ok(None) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let Some(mut session) = self.repository.find(id, actor).await? else { return Ok(()) };
        if !session.is_visible_to(actor) {
            return Ok(());
        }
        let Ok(change) = session.apply_if(actor, command, if_version, now) else { return Ok(()) };
        let removing = SessionEvent::of_change(&session, actor, &change).into_removing();
        match hook.ask(&removing).await {
            HookVerdict::Allow => Ok(()),
            HookVerdict::Refuse(message) => Err(ServiceError::RemovalRefused(message)),
            HookVerdict::Failed(detail) if *on_failure == OnHookFailure::Allow => {
                tracing::warn!(%detail, "the pre-removal hook failed; removing anyway (EVO_PRE_REMOVE_HOOK_ON_FAILURE=allow)");
                Ok(())
            }
            HookVerdict::Failed(detail) => {
                Err(RepositoryError::Unavailable(format!("the pre-removal hook failed: {detail}")).into())
            }
        }
    }

    /// The store's form of a request's key: scoped to the caller, kept until the TTL ends.
    fn idempotency(&self, actor: &Actor, input: IdempotencyInput, now: Timestamp) -> Idempotency {
        Idempotency {
            scope: actor.user_id.clone(),
            key: input.key,
            fingerprint: input.fingerprint,
            expires_at: now.checked_add_signed(self.idempotency_ttl).unwrap_or(now),
            renderer: input.renderer,
        }
    }

    /// Applies the change's command, made a [`SessionCommand`] by `command`, to the session
    /// atomically, through the store; the caller's role and the fields were checked.
    async fn change<X>(
        &self,
        actor: &Actor,
        change: Change<X>,
        command: impl FnOnce(X) -> SessionCommand,
    ) -> Result<ChangeOutcome<Session>, ServiceError> {
        let now = self.clock.now();
        let command = command(change.command);
        let idempotency = change.idempotency.map(|input| self.idempotency(actor, input, now));
        if matches!(command, SessionCommand::RemoveMember { .. }) {
            let (id, if_version) = (&change.session_id, change.if_version.as_ref());
            self.ask_before_removal(actor, id, &command, if_version, idempotency.as_ref(), now).await?;
        }
        Ok(self
            .repository
            .update(&change.session_id, actor, &command, change.if_version, idempotency, now)
            .await?)
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

    fn token_valid_until(&self, token: &str) -> Option<Timestamp> {
        self.tokens.valid_until(token)
    }

    async fn new_session(
        &self,
        actor: &Actor,
        request: Parsed<OpenSession>,
    ) -> Result<ChangeOutcome<Session>, ServiceError> {
        let OpenSession { session: new, idempotency } = admit(actor, request)?;
        let now = self.clock.now();
        let idempotency = idempotency.map(|input| self.idempotency(actor, input, now));
        let mut attempts = 1;
        loop {
            let session = Session::open(self.ids.new_session_id(), new.clone(), actor, now)?;
            match self.repository.insert(&session, actor, idempotency.clone()).await {
                Ok(outcome) => return Ok(outcome.map(|()| session)),
                // Every attempt's ID taken: the store's AlreadyExists is the answer (a 500).
                Err(UpdateError::Repository(RepositoryError::AlreadyExists))
                    if attempts < NEW_SESSION_ID_ATTEMPTS =>
                {
                    attempts += 1;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    async fn invite_chat_member(
        &self,
        actor: &Actor,
        request: Parsed<Change<NewMember>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError> {
        self.change(actor, admit(actor, request)?, SessionCommand::InviteMember).await
    }

    async fn delete_chat_member(
        &self,
        actor: &Actor,
        request: Parsed<Change<Removal>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError> {
        let removal = admit(actor, request)?;
        self.change(actor, removal, |Removal { identity, reason }| SessionCommand::RemoveMember {
            identity,
            reason,
        })
        .await
    }

    async fn get_session(&self, actor: &Actor, request: Parsed<SessionId>) -> Result<Session, ServiceError> {
        let id = admit(actor, request)?;
        match self.repository.find(&id, actor).await? {
            Some(session) if session.is_visible_to(actor) => Ok(session),
            // Another account's session answers exactly like a missing one.
            _ => Err(SessionError::NotFound.into()),
        }
    }

    async fn end_session(
        &self,
        actor: &Actor,
        request: Parsed<Change<Ending>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError> {
        let ending = admit(actor, request)?;
        self.change(actor, ending, |Ending { call_sid }| SessionCommand::End { call_sid }).await
    }

    async fn patch_session(
        &self,
        actor: &Actor,
        request: Parsed<Change<SessionPatch>>,
    ) -> Result<ChangeOutcome<Session>, ServiceError> {
        // Any authenticated caller (docs/api.md, "PatchSession"): no role to check.
        let patch = request.map_err(ServiceError::Validation)?;
        self.change(actor, patch, SessionCommand::Patch).await
    }

    async fn list_sessions(
        &self,
        actor: &Actor,
        request: Parsed<ListSessions>,
    ) -> Result<SessionPage, ServiceError> {
        // Any authenticated caller; what it finds is bounded by the accounts it sees.
        let ListSessions { filter, paging } = request.map_err(ServiceError::Validation)?;
        let accounts = search_scope(actor, &filter.account_ids);
        if finds_nothing(&accounts) || filter.parent_session_id.is_some() {
            let total_count = paging.count.then_some(0);
            return Ok(SessionPage { sessions: Vec::new(), total_count, has_more: false });
        }
        Ok(self.repository.search(&SessionSearch { accounts, filter, paging }).await?)
    }

    async fn active_sessions(&self, actor: &Actor) -> Result<Vec<Session>, ServiceError> {
        admit(actor, Ok(()))?;
        // A caller whose `sub` is no member identity is a member of nothing.
        let Ok(identity) = MemberIdentity::parse(&actor.user_id) else { return Ok(Vec::new()) };
        let accounts = search_scope(actor, &[]);
        if finds_nothing(&accounts) {
            return Ok(Vec::new());
        }
        let query = MemberSessions { accounts, identity, channel: None, limit: MAX_ACTIVE };
        Ok(self.repository.sessions_with_member(&query).await?)
    }

    async fn remove_from_active_sessions(
        &self,
        actor: &Actor,
        request: Parsed<RemovalsOfMember>,
    ) -> Result<ChangeOutcome<RemovalReport>, ServiceError> {
        let request = admit(actor, request)?;
        let now = self.clock.now();
        let idempotency = request.idempotency.map(|input| self.idempotency(actor, input, now));
        if let Some(key) = &idempotency
            && let Some(answer) = self.repository.kept_answer(key, actor, now).await?
        {
            return Ok(ChangeOutcome::Replayed(answer));
        }
        let accounts = search_scope(actor, &request.account_ids);
        let sessions = if finds_nothing(&accounts) {
            Vec::new()
        } else {
            let identity = request.identity.clone();
            // One more than a request's bound: whether more remain.
            let query =
                MemberSessions { accounts, identity, channel: Some(Channel::Chat), limit: MAX_ACTIVE + 1 };
            self.repository.sessions_with_member(&query).await?
        };
        let mut report =
            RemovalReport { results: Vec::new(), has_more: sessions.len() > MAX_ACTIVE as usize };
        let mut store_failed = false;
        // One session at a time: each removal takes and releases its own session's lock.
        for session in sessions.into_iter().take(MAX_ACTIVE as usize) {
            let removal = Removal { identity: request.identity.clone(), reason: request.reason.clone() };
            let change = Change {
                session_id: session.id.clone(),
                command: removal,
                if_version: None,
                idempotency: None,
            };
            let outcome = self
                .change(actor, change, |Removal { identity, reason }| SessionCommand::RemoveMember {
                    identity,
                    reason,
                })
                .await;
            store_failed = matches!(outcome, Err(ServiceError::Repository(_)));
            report
                .results
                .push(SessionRemoval { session_id: session.id.clone(), outcome: outcome.map(|_| ()) });
            if store_failed {
                // The store is failing: the rest waits for a retry rather than each failing too.
                report.has_more = true;
                break;
            }
        }
        // An answer with a store failure is not kept: a retry with the key carries on.
        if let Some(key) = &idempotency
            && !store_failed
        {
            let answer = key.renderer.render_removals(&report);
            if let ChangeOutcome::Replayed(first) = self.repository.keep_answer(key, &answer, now).await? {
                return Ok(ChangeOutcome::Replayed(first));
            }
        }
        Ok(ChangeOutcome::Applied(report))
    }

    async fn readiness(&self) -> Result<(), ServiceError> {
        Ok(self.repository.ping().await?)
    }
}
