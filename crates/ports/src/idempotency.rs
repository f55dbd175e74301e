//! Keyed requests (docs/api.md, "Idempotency-Key"):
//! what the stores keep so that a retry with the same key gets the first answer back, byte
//! for byte.

use std::fmt;
use std::sync::Arc;

use evo_domain::{Session, SessionError, Timestamp};

/// An answer as it was sent: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

/// Renders the answer a change gets, so that a store can keep it in the change's own
/// transaction (the edge that speaks to the caller knows the format; the store does not).
pub trait AnswerRenderer: Send + Sync {
    /// The answer to `outcome`: the session after the change, or the rule's refusal.
    fn render(&self, outcome: Result<&Session, &SessionError>) -> KeptAnswer;
    /// The answer of RemoveChatMemberFromActiveSessions: every session's outcome.
    fn render_removals(&self, report: &crate::driving::RemovalReport) -> KeptAnswer;
}

/// A request's idempotency, as the use case hands it to the store.
#[derive(Clone)]
pub struct Idempotency {
    /// Whose key it is (the caller's `sub`): keys of different callers never meet.
    pub scope: String,
    /// The `Idempotency-Key`.
    pub key: String,
    /// What the request was (a digest of its method, path, query and body): a reuse of the
    /// key for another request is refused.
    pub fingerprint: String,
    /// Until when the answer is kept.
    pub expires_at: Timestamp,
    /// How the answer looks.
    pub renderer: Arc<dyn AnswerRenderer>,
}

impl fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("scope", &self.scope)
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a change gave: carried out now, or, for a keyed request answered before, that answer
/// again (a success too: the client gets what the first request got, and nothing changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome<T> {
    /// Carried out now.
    Applied(T),
    /// The same request was answered before: its answer, byte for byte.
    Replayed(KeptAnswer),
}

impl<T> ChangeOutcome<T> {
    /// The value carried out now; `None` for a replayed answer.
    pub fn applied(self) -> Option<T> {
        match self {
            Self::Applied(value) => Some(value),
            Self::Replayed(_) => None,
        }
    }

    /// The same outcome with the applied value mapped by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> ChangeOutcome<U> {
        match self {
            Self::Applied(value) => ChangeOutcome::Applied(f(value)),
            Self::Replayed(answer) => ChangeOutcome::Replayed(answer),
        }
    }
}

/// For tests: a change's result as a plain `Result`, where no key was sent (so nothing can
/// be replayed: a replayed answer panics).
#[cfg(feature = "mock")]
pub trait Applied<T, E> {
    /// The value carried out now, or the error.
    fn applied(self) -> Result<T, E>;
}

#[cfg(feature = "mock")]
impl<T, E> Applied<T, E> for Result<ChangeOutcome<T>, E> {
    fn applied(self) -> Result<T, E> {
        self.map(|outcome| match outcome {
            ChangeOutcome::Applied(value) => value,
            ChangeOutcome::Replayed(answer) => {
                panic!("a replayed answer where a change was expected: {answer:?}")
            }
        })
    }
}

/// Why a keyed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyedRefusal {
    /// The key was used for another request.
    #[error("this Idempotency-Key was used for another request")]
    Reused,
    /// The first request with this key is still running.
    #[error("a request with this Idempotency-Key is still running")]
    InProgress,
}
