//! Keyed requests: the key's advisory lock and its kept answer, checked in the change's
//! transaction, and the answer kept with the change.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use evo_domain::{Timestamp, VisibleAccounts};
use evo_ports::{Idempotency, KeyedRefusal};
use evo_store_sql::schema::idempotency_keys;
use evo_store_sql::{KeptAnswerRow, KeyVerdict, TimestampValue};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::error::{Failure, classify};
use crate::load::account_list;
use crate::statements::KeepAnswer;
use crate::transaction::{Control, Protocol, control, rollback, run};

#[diesel::declare_sql_function]
extern "SQL" {
    /// Takes the advisory lock of two numbers until the transaction ends, or answers false at
    /// once: the lock of an Idempotency-Key ([`crate::advisory_locks`]).
    #[sql_name = "pg_try_advisory_xact_lock"]
    fn try_key_lock(
        high: diesel::sql_types::Integer,
        low: diesel::sql_types::Integer,
    ) -> diesel::sql_types::Bool;
}

/// The account a keyed answer is kept under when its request addressed no session the caller
/// sees (see migrations/postgres/2026-12-01-000002_keys_lead_with_account_id).
pub(crate) const NO_ACCOUNT: &str = "";

/// The pending checks of a keyed request, to send right after `BEGIN`: the key's advisory
/// lock (held by whichever request runs the key, across instances, until its transaction
/// ends) and the key's live answer, among `accounts` (and the no-account `''`, see
/// [`NO_ACCOUNT`]) when the caller's accounts are known; else under any account.
#[allow(clippy::type_complexity)]
pub(crate) fn key_checks<'c>(
    mut connection: &'c AsyncPgConnection,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> (BoxFuture<'c, QueryResult<bool>>, BoxFuture<'c, QueryResult<Option<KeptAnswerRow>>>) {
    let (high, low) = crate::advisory_locks::key_lock(&request.scope, &request.key);
    let locked = diesel::select(try_key_lock(high, low)).get_result::<bool>(&mut connection).boxed();
    (locked, kept_answer(connection, request, accounts, now))
}

/// The live answer kept under `request`'s key, among `accounts` and the no-account `''` when
/// the caller's accounts are known; else under any account.
pub(crate) fn kept_answer<'c>(
    mut connection: &'c AsyncPgConnection,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> BoxFuture<'c, QueryResult<Option<KeptAnswerRow>>> {
    let by_key = idempotency_keys::table
        .filter(idempotency_keys::scope.eq(request.scope.clone()))
        .filter(idempotency_keys::key.eq(request.key.clone()))
        .filter(idempotency_keys::expires_at.gt(TimestampValue(now)))
        .select(KeptAnswerRow::as_select());
    let stored = match account_list(accounts) {
        None => by_key.get_result::<KeptAnswerRow>(&mut connection).boxed(),
        Some(mut accounts) => {
            accounts.push(NO_ACCOUNT.to_owned());
            by_key
                .filter(idempotency_keys::account_id.eq_any(accounts))
                .get_result::<KeptAnswerRow>(&mut connection)
                .boxed()
        }
    };
    stored.map(|r| r.optional()).boxed()
}

/// What the key checks say: `Some` is the answer to give instead of carrying the request
/// out (another request runs the key, or it was answered before); `None`: go on.
pub(crate) fn key_verdict(
    locked: bool,
    stored: Option<KeptAnswerRow>,
    request: &Idempotency,
) -> Option<KeyVerdict> {
    match (locked, stored) {
        (false, _) => Some(KeyVerdict::Refused(KeyedRefusal::InProgress)),
        (true, Some(record)) => Some(record.answer_to(request)),
        (true, None) => None,
    }
}

/// A keyed request's checks as a round trip of their own (`BEGIN` included): for the insert
/// of a new session, and for changes without the statement cache. When they refuse, the
/// transaction is rolled back.
pub(crate) async fn claim_key(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> Result<Option<KeyVerdict>, Failure> {
    let (locked, stored) = key_checks(connection, request, accounts, now);
    let claimed = futures_util::try_join!(control(connection, protocol, Control::Begin), locked, stored);
    let verdict = match claimed {
        Ok((_, locked, stored)) => match key_verdict(locked, stored, request) {
            Some(verdict) => verdict,
            None => return Ok(None),
        },
        Err(error) => {
            let _ = rollback(connection, protocol).await;
            return Err(classify(&error));
        }
    };
    rollback(connection, protocol).await?;
    Ok(Some(verdict))
}

/// Keeps a keyed request's answer in its change's transaction. The key's lock is held and no
/// live answer was found, so a row under the key can only be an expired one: replaced.
pub(crate) async fn keep_answer(
    connection: &AsyncPgConnection,
    request: &Idempotency,
    account_id: String,
    record: KeptAnswerRow,
) -> QueryResult<usize> {
    let statement = KeepAnswer {
        account_id,
        scope: request.scope.clone(),
        key: request.key.clone(),
        fingerprint: record.fingerprint,
        status: record.status,
        content_type: record.content_type,
        body: record.body,
        expires_at: request.expires_at,
    };
    run(connection, statement).await
}

/// Keeps the answer of a request that is not one change, under the key's lock (waited for:
/// the request's changes are done), unless a live answer is kept under the key already: then
/// that one's verdict. Kept under no account ([`NO_ACCOUNT`]): such a request spans sessions.
pub(crate) async fn keep_answer_once(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    request: &Idempotency,
    answer: &evo_ports::KeptAnswer,
    now: Timestamp,
) -> Result<Option<KeyVerdict>, Failure> {
    control(connection, protocol, Control::Begin).await?;
    let kept = async {
        let (high, low) = crate::advisory_locks::key_lock(&request.scope, &request.key);
        let mut locking = connection;
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(high)
            .bind::<diesel::sql_types::Integer, _>(low)
            .execute(&mut locking)
            .await?;
        if let Some(earlier) = kept_answer(connection, request, VisibleAccounts::All, now).await? {
            return Ok(Some(earlier.answer_to(request)));
        }
        let row = KeptAnswerRow::of_answer(request, answer.clone());
        keep_answer(connection, request, NO_ACCOUNT.to_owned(), row).await?;
        QueryResult::Ok(None)
    }
    .await;
    match kept {
        Ok(verdict) => {
            control(connection, protocol, Control::Commit).await?;
            Ok(verdict)
        }
        Err(error) => {
            let _ = rollback(connection, protocol).await;
            Err(classify(&error))
        }
    }
}
