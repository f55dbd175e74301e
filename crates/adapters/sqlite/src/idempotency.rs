//! Keyed requests: the answer kept under a key, looked up and kept in the change's transaction.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use evo_domain::{Session, SessionError, Timestamp, VisibleAccounts};
use evo_ports::Idempotency;
use evo_store_sql::schema::idempotency_keys;
use evo_store_sql::{KeptAnswerRow, KeyVerdict, TimestampValue};

use crate::statements;

/// The account a keyed answer is kept under when its request addressed no session the caller
/// sees (see migrations/sqlite/2026-12-01-000002_keys_lead_with_account_id).
pub(crate) const NO_ACCOUNT: &str = "";

/// The answer a keyed request gets without being carried out, when its key holds a live
/// answer, among the caller's `accounts` and the no-account `''` (a key is the caller's in
/// every account it sees). The write lock of `BEGIN IMMEDIATE` serializes requests, so none
/// is ever found in flight here: a repeat waits for the first, then gets its answer.
pub(crate) fn earlier_answer(
    connection: &mut SqliteConnection,
    idempotency: Option<&Idempotency>,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> QueryResult<Option<KeyVerdict>> {
    let Some(request) = idempotency else { return Ok(None) };
    Ok(kept_answer(connection, request, accounts, now)?.map(|record| record.answer_to(request)))
}

/// The live answer kept under `request`'s key, among `accounts` and the no-account `''`.
pub(crate) fn kept_answer(
    connection: &mut SqliteConnection,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> QueryResult<Option<KeptAnswerRow>> {
    // Filtered by account on the rows read, not in SQL: see [`load`].
    let kept = idempotency_keys::table
        .filter(idempotency_keys::scope.eq(&request.scope))
        .filter(idempotency_keys::key.eq(&request.key))
        .filter(idempotency_keys::expires_at.gt(TimestampValue(now)))
        .select((idempotency_keys::account_id, KeptAnswerRow::as_select()))
        .load::<(String, KeptAnswerRow)>(connection)?;
    Ok(kept
        .into_iter()
        .find(|(account, _)| account == NO_ACCOUNT || accounts.contains_str(account))
        .map(|(_, record)| record))
}

/// Keeps the answer of a keyed request, in the transaction of its change (an expired
/// answer under the same key is replaced).
pub(crate) fn keep_answer(
    connection: &mut SqliteConnection,
    idempotency: Option<&Idempotency>,
    account_id: &str,
    outcome: Result<&Session, &SessionError>,
) -> QueryResult<()> {
    let Some(request) = idempotency else { return Ok(()) };
    let record = KeptAnswerRow::of(request, outcome);
    statements::KeepAnswer {
        account_id,
        scope: &request.scope,
        key: &request.key,
        record: &record,
        expires_at: TimestampValue(request.expires_at),
    }
    .execute(connection)?;
    Ok(())
}
