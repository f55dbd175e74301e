//! Driven ports: what the use cases need from the world.

use async_trait::async_trait;
use evo_domain::{Actor, IfVersion, Session, SessionCommand, SessionId, Timestamp};

use crate::errors::{AuthError, RepositoryError, UpdateError};
use crate::idempotency::{ChangeOutcome, Idempotency, KeptAnswer};
use crate::queries::{MemberSessions, SessionPage, SessionSearch};

/// Where sessions live.
///
/// Every change goes through [`update`](Self::update): the store loads the session under a
/// per-session lock, applies the domain rule ([`Session::apply`]), persists the
/// resulting [`evo_domain::SessionChange`] and commits, all in one transaction. So the rule
/// stays in the domain while the store alone decides how to make it atomic and serialized.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Saves a new session, opened by `actor`, with its members, log and `SessionCreated`
    /// event. With `idempotency`, first looks the key up (`Replayed`: the stored answer;
    /// `Keyed`: the key busy or taken) and keeps the answer in the same transaction.
    /// `Repository(AlreadyExists)` when the ID is taken.
    async fn insert(
        &self,
        session: &Session,
        actor: &Actor,
        idempotency: Option<Idempotency>,
    ) -> Result<ChangeOutcome<()>, UpdateError>;

    /// Loads a session with its members and log, or `None`. Looks it up among the accounts
    /// `actor` sees ([`visible_accounts`](Actor::visible_accounts)), so that every lookup
    /// carries the leading column of the session's key: another account's session is `None`.
    async fn find(&self, id: &SessionId, actor: &Actor) -> Result<Option<Session>, RepositoryError>;

    /// Atomically, and serialized with every other change to the same session: loads it,
    /// applies `command` for `actor` at `now`, persists the change with its event (the
    /// outbox row of [`evo_domain::SessionEvent::of_change`]) and commits. Returns the
    /// session as stored after the change. A missing session is `Rejected(NotFound)`, and so
    /// is a session of an account the actor does not see: the store looks it up with the
    /// actor's [`visible_accounts`](Actor::visible_accounts), so it never locks it.
    ///
    /// `Repository(Unavailable)` means nothing was applied; when the answer to the COMMIT is
    /// lost the store finds out before answering, and says `OutcomeUnknown` only when it
    /// cannot tell.
    ///
    /// With `if_version`, the change applies only when the session is at one of those
    /// versions (checked under the lock, after visibility): otherwise
    /// `Rejected(VersionMismatch)` and nothing changes.
    ///
    /// With `idempotency`, the key is looked up first: a stored answer of the same request is
    /// `Replayed` (nothing changes), another request's `Keyed(Reused)`, a request still
    /// running with it `Keyed(InProgress)`. Otherwise the answer (to the change, or to the
    /// rule's refusal) is stored in the change's transaction, with the change.
    async fn update(
        &self,
        id: &SessionId,
        actor: &Actor,
        command: &SessionCommand,
        if_version: Option<IfVersion>,
        idempotency: Option<Idempotency>,
        now: Timestamp,
    ) -> Result<ChangeOutcome<Session>, UpdateError>;

    /// The live answer (unexpired at `now`) kept under `idempotency`'s key among the keys
    /// [`update`](Self::update) would look at for `actor`: `Some` for the same request's
    /// answer, `Keyed(Reused)` for another request's, `None` when the key holds none. The use
    /// cases ask before calling the pre-removal hook, which docs/api.md ("Order of checks")
    /// orders after the idempotency checks, and before a request of many changes.
    async fn kept_answer(
        &self,
        idempotency: &Idempotency,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Option<KeptAnswer>, UpdateError>;

    /// Keeps `answer` under `idempotency`'s key, for a request that is not one change (its
    /// changes were each committed on their own), unless a live answer is kept there already:
    /// then that one is `Replayed` (or `Keyed(Reused)`, another request's) and `answer` is
    /// dropped, so that concurrent repeats all answer as the first that finished.
    async fn keep_answer(
        &self,
        idempotency: &Idempotency,
        answer: &KeptAnswer,
        now: Timestamp,
    ) -> Result<ChangeOutcome<()>, UpdateError>;

    /// One page of the sessions `search` finds (ListSessions), with their members and without
    /// their log, and the count of every match when asked.
    async fn search(&self, search: &SessionSearch) -> Result<SessionPage, RepositoryError>;

    /// The sessions, not ended, in which `query.identity` is a member, newest first, at most
    /// `query.limit`, with their members and without their log.
    async fn sessions_with_member(&self, query: &MemberSessions) -> Result<Vec<Session>, RepositoryError>;

    /// Deletes at most `limit` idempotency records that expired before `now`; returns how
    /// many it deleted (bounded work, short locks: call it again while it returns `limit`).
    async fn purge_expired_keys(&self, now: Timestamp, limit: u32) -> Result<u64, RepositoryError>;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// Turns a bearer token into the caller it proves.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies signature, algorithm and claims; returns the caller or why the token is unusable.
    async fn verify(&self, token: &str) -> Result<Actor, AuthError>;

    /// Until when a token that [`verify`](Self::verify) accepted stays acceptable (its expiry
    /// plus the clock leeway the verifier allows); `None` when it does not say. A live stream
    /// opened with the token ends then.
    fn valid_until(&self, _token: &str) -> Option<evo_domain::Timestamp> {
        None
    }
}

/// One verifier shared by several use-case instances (one per HTTP worker).
#[async_trait]
impl<T: TokenVerifier + ?Sized> TokenVerifier for std::sync::Arc<T> {
    async fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        (**self).verify(token).await
    }

    fn valid_until(&self, token: &str) -> Option<evo_domain::Timestamp> {
        (**self).valid_until(token)
    }
}

/// The current time. The domain never reads a clock; the use cases ask this port.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, UTC.
    fn now(&self) -> Timestamp;
}

/// Makes IDs for new sessions.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait IdGenerator: Send + Sync + 'static {
    /// A fresh, unique session ID.
    fn new_session_id(&self) -> SessionId;
}
