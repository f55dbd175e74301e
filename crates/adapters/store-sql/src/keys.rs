//! The one rule both stores apply to a keyed request whose key they already hold.

use evo_domain::{Session, SessionError};
use evo_ports::{ChangeOutcome, Idempotency, KeptAnswer, KeyedRefusal, UpdateError};

/// What a keyed request's checks decided, when it is not to be carried out: its earlier
/// answer again, or a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// The same request was answered before: that answer.
    Replay(KeptAnswer),
    /// The key is another request's, or a request with it is still running.
    Refused(KeyedRefusal),
}

impl KeyVerdict {
    /// The port's answer: a replay is an outcome, a refusal an error.
    pub fn into_outcome<T>(self) -> Result<ChangeOutcome<T>, UpdateError> {
        match self {
            Self::Replay(answer) => Ok(ChangeOutcome::Replayed(answer)),
            Self::Refused(refusal) => Err(UpdateError::Keyed(refusal)),
        }
    }
}

/// A live row of `idempotency_keys`: what the first request with the key was, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = crate::schema::idempotency_keys)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct KeptAnswerRow {
    /// The first request's digest.
    pub fingerprint: String,
    /// Its answer's status.
    pub status: i32,
    /// Its answer's content type.
    pub content_type: String,
    /// Its answer's body.
    pub body: Vec<u8>,
}

impl KeptAnswerRow {
    /// What a request with the same key gets: the same request its stored answer, another
    /// request a refusal: a key identifies one request (docs/api.md, "Idempotency-Key").
    pub fn answer_to(self, request: &Idempotency) -> KeyVerdict {
        if self.fingerprint != request.fingerprint {
            return KeyVerdict::Refused(KeyedRefusal::Reused);
        }
        KeyVerdict::Replay(KeptAnswer {
            status: u16::try_from(self.status).unwrap_or(500),
            content_type: self.content_type,
            body: self.body,
        })
    }

    /// The row to keep for `request`, answering `outcome`.
    pub fn of(request: &Idempotency, outcome: Result<&Session, &SessionError>) -> Self {
        Self::of_answer(request, request.renderer.render(outcome))
    }

    /// The row to keep for `request`, whose answer is `answer`.
    pub fn of_answer(request: &Idempotency, answer: KeptAnswer) -> Self {
        Self {
            fingerprint: request.fingerprint.clone(),
            status: i32::from(answer.status),
            content_type: answer.content_type,
            body: answer.body,
        }
    }
}

/// `SessionRepository::kept_answer`'s answer, from the live row under the key (if any).
pub fn kept_answer_of(
    row: Option<KeptAnswerRow>,
    request: &Idempotency,
) -> Result<Option<KeptAnswer>, UpdateError> {
    match row.map(|row| row.answer_to(request)) {
        None => Ok(None),
        Some(KeyVerdict::Replay(answer)) => Ok(Some(answer)),
        Some(KeyVerdict::Refused(refusal)) => Err(UpdateError::Keyed(refusal)),
    }
}
