//! # evo-store-sql
//!
//! What the SQL session stores share: plain records of the `sessions`, `session_members`
//! and `session_log` tables and their mapping to and from the domain. The records derive
//! diesel's backend-generic `Queryable`, so each store loads them with its own schema
//! (PostgreSQL: `timestamptz` and `jsonb`; SQLite: text timestamps and JSON text) while the
//! mapping is written once.
//!
//! Enums are stored by their wire names; member identities as written plus a comparison key
//! ([`MemberIdentity::key`]) that the stores index uniquely per session.

mod change;
mod events;
mod keys;
mod schema;

use std::collections::BTreeMap;

use diesel::backend::Backend;
use diesel::query_builder::AstPass;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, SqlType, Text, is_nullable};
use diesel::{QueryResult, Queryable};
use evo_domain::{
    AccountId, CustomerBreadcrumb, LogEntry, Member, MemberIdentity, Session, SessionData, SessionDetails,
    SessionId, Timestamp,
};
use serde_json::{Map, Value};

pub use change::{ChangeRequest, ChangeWrites, LoadedSession, MemberWrite, Refusal, decide};
pub use events::{
    ACCOUNTS_PER_CLAIM, AccountTurns, EVENTS_PER_ACCOUNT_TURN, EventRecord, EventRow, EventSignal,
    MAX_EVENTS_PAGE_BYTES, NEXT_PENDING_ACCOUNT_SQL, NEXT_PENDING_ACCOUNT_UP_TO_SQL, NextAccount, Outbox,
    PendingRow, SummaryRenderer, Turn, delivery, events_within_page, octet_length,
};
pub use keys::KeyRecord;

/// A stored row that does not make a valid session: corrupt data or a schema mismatch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored session {session}: column {column}: {problem}")]
pub struct CorruptRow {
    /// The session the row belongs to.
    pub session: String,
    /// The column that holds the bad value.
    pub column: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The `sessions` columns, written once, in order: `column: Rust type [SQL type]`, in two
/// groups (diesel's insert tuples stop at 32 elements). `$callback` (a macro of this crate)
/// gets `{ $args } { first group } { second group }`: [`SessionRecord`], [`session_columns!`],
/// [`session_values!`] and the `sessions` table of [`tables!`] are made from it. `Stamp` and
/// `Document` are the store's own timestamp and JSON types (see [`schema`]).
#[doc(hidden)]
#[macro_export]
macro_rules! with_session_columns {
    ($callback:ident { $($args:tt)* }) => {
        $crate::$callback! { { $($args)* }
        {
            id: String [Text],
            account_id: String [Text],
            channel: String [Text],
            direction: String [Text],
            dial_state: String [Text],
            call_state: String [Text],
            queue_state: String [Text],
            hold_reason: String [Text],
            ended: bool [Bool],
            was_missed: bool [Bool],
            date_completed: Option<Timestamp> [Nullable<Stamp>],
            account_name: Option<String> [Nullable<Text>],
            customer_id: Option<String> [Nullable<Text>],
            customer_breadcrumb: Value [Document],
            customer_name: Option<String> [Nullable<Text>],
            endpoint_id: Option<String> [Nullable<Text>],
            endpoint_name: Option<String> [Nullable<Text>],
            destination: Option<String> [Nullable<Text>],
            to_address: Option<String> [Nullable<Text>],
            from_address: Option<String> [Nullable<Text>],
        }
        {
            from_name: Option<String> [Nullable<Text>],
            answered_by_name: Option<String> [Nullable<Text>],
            queue_member_id: Option<String> [Nullable<Text>],
            outcome: Option<String> [Nullable<Text>],
            call_sid: Option<String> [Nullable<Text>],
            console_data: Option<String> [Nullable<Text>],
            hold_queue_name: Option<String> [Nullable<Text>],
            held_by_user_id: Option<String> [Nullable<Text>],
            conference_sid: Option<String> [Nullable<Text>],
            display_name: Option<String> [Nullable<Text>],
            callback_number: Option<String> [Nullable<Text>],
            answered_by_id: Option<String> [Nullable<Text>],
            from_phone_number: Option<String> [Nullable<Text>],
            most_recent_participant_call_sid: Option<String> [Nullable<Text>],
            ring_queue_id: Option<String> [Nullable<Text>],
            date_created: Timestamp [Stamp],
            created_by: String [Text],
            date_last_modified: Timestamp [Stamp],
            last_modified_by: String [Text],
            version: i64 [BigInt],
        }
        }
    };
}

/// Defines [`SessionRecord`] from [`with_session_columns!`].
#[doc(hidden)]
#[macro_export]
macro_rules! session_record {
    ({} $({ $($column:ident: $rust:ty [$($sql:tt)*],)* })*) => {
        /// One row of `sessions`, in the column order of [`session_columns!`]. `version` is
        /// bumped by every change: a change applies only to the version it was decided on.
        #[derive(Debug, Clone, PartialEq, Queryable)]
        #[allow(missing_docs)] // each field is the column (and SessionInfo field) of the same name
        pub struct SessionRecord {
            $($(pub $column: $rust,)*)*
        }
    };
}

with_session_columns!(session_record {});

/// One row of `session_members` (without its session ID and position).
#[derive(Debug, Clone, PartialEq, Queryable)]
#[allow(missing_docs)] // each field is the column (and SessionMemberInfo field) of the same name
pub struct MemberRecord {
    /// The identity as written.
    pub identity: String,
    /// [`MemberIdentity::key`]: unique per session.
    pub identity_key: String,
    pub endpoint_id: Option<String>,
    pub display_name: Option<String>,
    pub is_original_member: bool,
    pub avatar_url: Option<String>,
    pub application_data: Value,
    pub call_state: String,
    pub role: String,
    pub call_sid: Option<String>,
    pub muted: bool,
}

/// One row of `session_log` (without its session ID and sequence number).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LogRecord {
    /// When it happened.
    pub date: Timestamp,
    /// What happened.
    pub message: String,
}

/// The `sessions` header columns a change rewrites, read from the session after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderChange {
    /// `dateLastModified`.
    pub date_last_modified: Timestamp,
    /// `lastModifiedBy`.
    pub last_modified_by: String,
    /// `ended`.
    pub ended: bool,
    /// `dateCompleted`.
    pub date_completed: Option<Timestamp>,
    /// `callState`, by name.
    pub call_state: &'static str,
}

impl HeaderChange {
    /// The header of `session` as it stands (after a change).
    pub fn of(session: &SessionData) -> Self {
        Self {
            date_last_modified: session.date_last_modified,
            last_modified_by: session.last_modified_by.clone(),
            ended: session.ended,
            date_completed: session.date_completed,
            call_state: session.call_state.as_str(),
        }
    }
}

impl HeaderChange {
    /// Writes `UPDATE sessions SET <these columns>, version = version + 1 WHERE account_id =
    /// $ AND id = $ AND version = $` into a hand-written statement (both stores: SQLite alone,
    /// PostgreSQL inside its change's CTE): the header is rewritten only at the version it was
    /// decided on. `Stamp` is the store's timestamp SQL type.
    pub fn walk_versioned_update<'b, DB, Stamp>(
        &'b self,
        account_id: &'b str,
        session_id: &'b str,
        version_read: &'b i64,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        DB: Backend + HasSqlType<Stamp> + HasSqlType<Text> + HasSqlType<Bool> + HasSqlType<BigInt>,
        Stamp: SqlType<IsNull = is_nullable::NotNull>,
        Timestamp: ToSql<Stamp, DB>,
        str: ToSql<Text, DB>,
        bool: ToSql<Bool, DB>,
        i64: ToSql<BigInt, DB>,
    {
        out.push_sql("UPDATE sessions SET date_last_modified = ");
        out.push_bind_param::<Stamp, _>(&self.date_last_modified)?;
        out.push_sql(", last_modified_by = ");
        out.push_bind_param::<Text, str>(self.last_modified_by.as_str())?;
        out.push_sql(", ended = ");
        out.push_bind_param::<Bool, _>(&self.ended)?;
        out.push_sql(", date_completed = ");
        out.push_bind_param::<Nullable<Stamp>, _>(&self.date_completed)?;
        out.push_sql(", call_state = ");
        out.push_bind_param::<Text, str>(self.call_state)?;
        out.push_sql(", version = version + 1 WHERE account_id = ");
        out.push_bind_param::<Text, str>(account_id)?;
        out.push_sql(" AND id = ");
        out.push_bind_param::<Text, str>(session_id)?;
        out.push_sql(" AND version = ");
        out.push_bind_param::<BigInt, _>(version_read)?;
        Ok(())
    }
}

impl SessionRecord {
    /// The `sessions` row of `session`.
    pub fn of(session: &SessionData) -> Self {
        let d = &session.details;
        Self {
            id: session.id.as_str().to_owned(),
            account_id: session.account_id.as_str().to_owned(),
            channel: session.channel.as_str().to_owned(),
            direction: session.direction.as_str().to_owned(),
            dial_state: session.dial_state.as_str().to_owned(),
            call_state: session.call_state.as_str().to_owned(),
            queue_state: session.queue_state.as_str().to_owned(),
            hold_reason: session.hold_reason.as_str().to_owned(),
            ended: session.ended,
            was_missed: session.was_missed,
            date_completed: session.date_completed,
            account_name: d.account_name.clone(),
            customer_id: d.customer_id.clone(),
            customer_breadcrumb: breadcrumbs_to_json(&d.customer_breadcrumb),
            customer_name: d.customer_name.clone(),
            endpoint_id: d.endpoint_id.clone(),
            endpoint_name: d.endpoint_name.clone(),
            destination: d.destination.clone(),
            to_address: d.to_address.clone(),
            from_address: d.from_address.clone(),
            from_name: d.from_name.clone(),
            answered_by_name: d.answered_by_name.clone(),
            queue_member_id: d.queue_member_id.clone(),
            outcome: d.outcome.clone(),
            call_sid: d.call_sid.clone(),
            console_data: d.console_data.clone(),
            hold_queue_name: d.hold_queue_name.clone(),
            held_by_user_id: d.held_by_user_id.clone(),
            conference_sid: d.conference_sid.clone(),
            display_name: d.display_name.clone(),
            callback_number: d.callback_number.clone(),
            answered_by_id: d.answered_by_id.clone(),
            from_phone_number: d.from_phone_number.clone(),
            most_recent_participant_call_sid: d.most_recent_participant_call_sid.clone(),
            ring_queue_id: d.ring_queue_id.clone(),
            date_created: session.date_created,
            created_by: session.created_by.clone(),
            date_last_modified: session.date_last_modified,
            last_modified_by: session.last_modified_by.clone(),
            version: i64::try_from(session.version).unwrap_or(i64::MAX),
        }
    }
}

impl MemberRecord {
    /// The `session_members` row of `member`.
    pub fn of(member: &Member) -> Self {
        Self {
            identity: member.identity.as_str().to_owned(),
            identity_key: member.identity.key().to_owned(),
            endpoint_id: member.endpoint_id.clone(),
            display_name: member.display_name.clone(),
            is_original_member: member.is_original_member,
            avatar_url: member.avatar_url.clone(),
            application_data: application_data_to_json(&member.application_data),
            call_state: member.call_state.as_str().to_owned(),
            role: member.role.as_str().to_owned(),
            call_sid: member.call_sid.clone(),
            muted: member.muted,
        }
    }
}

impl LogRecord {
    /// The `session_log` row of `entry`.
    pub fn of(entry: &LogEntry) -> Self {
        Self { date: entry.date, message: entry.message.clone() }
    }
}

/// Rebuilds a session from its rows: members in join order, log oldest first.
pub fn restore_session(
    session: SessionRecord,
    members: Vec<MemberRecord>,
    log: Vec<LogRecord>,
) -> Result<Session, CorruptRow> {
    let id = session.id.clone();
    let corrupt = |column: &'static str, problem: String| CorruptRow { session: id.clone(), column, problem };
    let members = members
        .into_iter()
        .map(|m| restore_member(m).map_err(|(column, problem)| corrupt(column, problem)))
        .collect::<Result<Vec<_>, _>>()?;
    let customer_breadcrumb =
        breadcrumbs_from_json(session.customer_breadcrumb).map_err(|p| corrupt("customer_breadcrumb", p))?;
    let data = SessionData {
        id: SessionId::parse(&session.id).map_err(|e| corrupt("id", e.to_string()))?,
        account_id: AccountId::parse(&session.account_id)
            .map_err(|e| corrupt("account_id", e.to_string()))?,
        channel: session
            .channel
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| corrupt("channel", e.to_string()))?,
        direction: session
            .direction
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| corrupt("direction", e.to_string()))?,
        dial_state: session
            .dial_state
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| corrupt("dial_state", e.to_string()))?,
        call_state: session
            .call_state
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| corrupt("call_state", e.to_string()))?,
        queue_state: session
            .queue_state
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| corrupt("queue_state", e.to_string()))?,
        hold_reason: session
            .hold_reason
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| corrupt("hold_reason", e.to_string()))?,
        ended: session.ended,
        was_missed: session.was_missed,
        date_completed: session.date_completed,
        details: SessionDetails {
            account_name: session.account_name,
            customer_id: session.customer_id,
            customer_breadcrumb,
            customer_name: session.customer_name,
            endpoint_id: session.endpoint_id,
            endpoint_name: session.endpoint_name,
            destination: session.destination,
            to_address: session.to_address,
            from_address: session.from_address,
            from_name: session.from_name,
            answered_by_name: session.answered_by_name,
            queue_member_id: session.queue_member_id,
            outcome: session.outcome,
            call_sid: session.call_sid,
            console_data: session.console_data,
            hold_queue_name: session.hold_queue_name,
            held_by_user_id: session.held_by_user_id,
            conference_sid: session.conference_sid,
            display_name: session.display_name,
            callback_number: session.callback_number,
            answered_by_id: session.answered_by_id,
            from_phone_number: session.from_phone_number,
            most_recent_participant_call_sid: session.most_recent_participant_call_sid,
            ring_queue_id: session.ring_queue_id,
        },
        members,
        log: log.into_iter().map(|l| LogEntry { date: l.date, message: l.message }).collect(),
        date_created: session.date_created,
        created_by: session.created_by,
        date_last_modified: session.date_last_modified,
        last_modified_by: session.last_modified_by,
        version: u64::try_from(session.version).map_err(|e| corrupt("version", e.to_string()))?,
    };
    Ok(Session::restore(data))
}

fn restore_member(record: MemberRecord) -> Result<Member, (&'static str, String)> {
    let identity = MemberIdentity::parse(&record.identity).map_err(|e| ("identity", e.to_string()))?;
    Ok(Member {
        identity,
        endpoint_id: record.endpoint_id,
        display_name: record.display_name,
        is_original_member: record.is_original_member,
        avatar_url: record.avatar_url,
        application_data: application_data_from_json(record.application_data)
            .map_err(|p| ("application_data", p))?,
        call_state: record
            .call_state
            .parse()
            .map_err(|e: evo_domain::UnknownVariant| ("member call_state", e.to_string()))?,
        role: record.role.parse().map_err(|e: evo_domain::UnknownVariant| ("role", e.to_string()))?,
        call_sid: record.call_sid,
        muted: record.muted,
    })
}

/// Breadcrumbs as a JSON array of `{"id": .., "name": ..}` (absent fields left out).
pub fn breadcrumbs_to_json(breadcrumbs: &[CustomerBreadcrumb]) -> Value {
    Value::Array(
        breadcrumbs
            .iter()
            .map(|b| {
                let mut object = Map::new();
                if let Some(id) = &b.id {
                    object.insert("id".into(), Value::String(id.clone()));
                }
                if let Some(name) = &b.name {
                    object.insert("name".into(), Value::String(name.clone()));
                }
                Value::Object(object)
            })
            .collect(),
    )
}

fn breadcrumbs_from_json(value: Value) -> Result<Vec<CustomerBreadcrumb>, String> {
    let Value::Array(items) = value else {
        return Err("expected a JSON array".into());
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut object) = item else {
                return Err("expected JSON objects in the array".into());
            };
            let mut text = |key: &str| match object.remove(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!("{key} is not a string: {other}")),
            };
            Ok(CustomerBreadcrumb { id: text("id")?, name: text("name")? })
        })
        .collect()
}

/// Application data as a JSON object of strings.
pub fn application_data_to_json(data: &BTreeMap<String, String>) -> Value {
    Value::Object(data.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn application_data_from_json(value: Value) -> Result<BTreeMap<String, String>, String> {
    let Value::Object(object) = value else {
        return Err("expected a JSON object".into());
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            other => Err(format!("{key} is not a string: {other}")),
        })
        .collect()
}

/// The `sessions` columns in [`SessionRecord`] order, as a select clause, for the `table!`
/// module named `$t`.
#[macro_export]
macro_rules! session_columns {
    ($t:ident) => {
        $crate::with_session_columns!(session_select { $t })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! session_select {
    ({ $t:ident } $({ $($column:ident: $rust:ty [$($sql:tt)*],)* })*) => {
        ($($($t::$column,)*)*)
    };
}

/// The `idempotency_keys` columns in [`KeyRecord`] order, as a select clause.
#[macro_export]
macro_rules! key_columns {
    ($t:ident) => {
        ($t::fingerprint, $t::status, $t::content_type, $t::body)
    };
}

/// The `session_members` columns in [`MemberRecord`] order, as a select clause.
#[macro_export]
macro_rules! member_columns {
    ($t:ident) => {
        (
            $t::identity,
            $t::identity_key,
            $t::endpoint_id,
            $t::display_name,
            $t::is_original_member,
            $t::avatar_url,
            $t::application_data,
            $t::call_state,
            $t::role,
            $t::call_sid,
            $t::muted,
        )
    };
}

/// The insert values of a [`SessionRecord`] `$s` into the `sessions` table module `$t`
/// (two nested tuples: diesel's tuples stop at 32 elements for inserts).
#[macro_export]
macro_rules! session_values {
    ($t:ident, $s:expr) => {{
        use ::diesel::ExpressionMethods as _;
        let s: $crate::SessionRecord = $s;
        $crate::with_session_columns!(session_insert { $t, s })
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! session_insert {
    ({ $t:ident, $s:ident } $({ $($column:ident: $rust:ty [$($sql:tt)*],)* })*) => {
        ($(($($t::$column.eq($s.$column),)*),)*)
    };
}

/// The insert values of a [`MemberRecord`] `$m` of session `$session_id` of account
/// `$account_id` into the `session_members` table module `$t`.
#[macro_export]
macro_rules! member_values {
    ($t:ident, $account_id:expr, $session_id:expr, $m:expr) => {{
        use ::diesel::ExpressionMethods as _;
        let m: $crate::MemberRecord = $m;
        (
            $t::account_id.eq($account_id),
            $t::session_id.eq($session_id),
            $t::identity.eq(m.identity),
            $t::identity_key.eq(m.identity_key),
            $t::endpoint_id.eq(m.endpoint_id),
            $t::display_name.eq(m.display_name),
            $t::is_original_member.eq(m.is_original_member),
            $t::avatar_url.eq(m.avatar_url),
            $t::application_data.eq(m.application_data),
            $t::call_state.eq(m.call_state),
            $t::role.eq(m.role),
            $t::call_sid.eq(m.call_sid),
            $t::muted.eq(m.muted),
        )
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_columns_round_trip() {
        let crumbs = vec![
            CustomerBreadcrumb { id: Some("c1".into()), name: Some("Ann \"Q\" Ünïcødé".into()) },
            CustomerBreadcrumb { id: None, name: Some("only name".into()) },
            CustomerBreadcrumb::default(),
        ];
        assert_eq!(breadcrumbs_from_json(breadcrumbs_to_json(&crumbs)), Ok(crumbs));
        let data: BTreeMap<String, String> = [("k".to_string(), "v'\"".to_string())].into();
        assert_eq!(application_data_from_json(application_data_to_json(&data)), Ok(data));
        assert!(breadcrumbs_from_json(Value::Bool(true)).is_err());
        assert!(application_data_from_json(serde_json::json!({"k": 1})).is_err());
    }
}
