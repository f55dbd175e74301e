//! Statements written by hand because diesel would not cache their prepared form, and SQLite
//! would parse them again on every change: diesel caches no `UPDATE` and no upsert's `DO
//! UPDATE` (a changeset may skip its `None` fields, so its SQL can vary). Each is a type of
//! its own, with one fixed SQL text, so that the connection's statement cache keeps it
//! prepared.
//!
//! The cache keys statements by type: never let two SQL texts share a type.

use diesel::QueryResult;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Binary, Integer, Text};
use diesel::sqlite::Sqlite;
use evo_store_sql::{HeaderChange, KeptAnswerRow, TimestampValue};

use evo_store_sql::schema::sql_types::UtcTimestamp;

/// What makes a statement type cacheable and runnable: a static query ID (its type, without
/// the lifetime of the values it binds) and diesel's `execute`.
macro_rules! cached_statement {
    ($name:ident) => {
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> diesel::RunQueryDsl<Conn> for $name<'_> {}
    };
}

/// A change's header write: only at the version read in the change's transaction (which
/// holds SQLite's write lock, so it always applies); counts 1 if it did.
#[derive(Debug)]
pub(crate) struct UpdateHeader<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) session_id: &'a str,
    pub(crate) header: &'a HeaderChange,
    pub(crate) version_read: i64,
}

cached_statement!(UpdateHeader);

impl QueryFragment<Sqlite> for UpdateHeader<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.header.walk_versioned_update::<Sqlite>(
            self.account_id,
            self.session_id,
            &self.version_read,
            &mut out,
        )
    }
}

/// Keeps a keyed request's answer, replacing an expired one under the same key (a live one
/// was answered before the change, in the same transaction).
#[derive(Debug)]
pub(crate) struct KeepAnswer<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) key: &'a str,
    pub(crate) record: &'a KeptAnswerRow,
    pub(crate) expires_at: TimestampValue,
}

cached_statement!(KeepAnswer);

impl QueryFragment<Sqlite> for KeepAnswer<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO idempotency_keys (account_id, scope, key, fingerprint, status, content_type, \
             body, expires_at) VALUES (",
        );
        out.push_bind_param::<Text, _>(&self.account_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.record.fingerprint)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&self.record.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.record.content_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Binary, _>(&self.record.body)?;
        out.push_sql(", ");
        out.push_bind_param::<UtcTimestamp, _>(&self.expires_at)?;
        out.push_sql(
            ") ON CONFLICT (account_id, scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             status = excluded.status, content_type = excluded.content_type, body = excluded.body, \
             expires_at = excluded.expires_at",
        );
        Ok(())
    }
}
