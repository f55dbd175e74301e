//! Plain records of the `sessions`, `session_members` and `session_log` tables, derived for
//! diesel (loaded with `as_select()`, inserted with `insert_into(..).values(..)`), and their
//! mapping to and from the domain, written once for both stores.
//!
//! Enums are stored by their wire names; member identities as written plus a comparison key
//! ([`MemberIdentity::key`]) that the stores index uniquely per session.

use std::collections::BTreeMap;

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, Text};
use diesel::sqlite::Sqlite;
use evo_domain::{
    AccountId, ChangeKind, CustomerBreadcrumb, LogEntry, Member, MemberIdentity, Session, SessionData,
    SessionDetails, SessionId, Timestamp,
};
use serde_json::{Map, Value};

use crate::CorruptRow;
use crate::schema::sql_types;
use crate::schema::{session_log, session_members, sessions};
use crate::sql_conversions::{JsonValue, TimestampValue};

/// One row of `sessions`. `version` is bumped by every change: a change applies only to the
/// version it was decided on.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(Pg, Sqlite))]
// `None` is bound as NULL, not written as DEFAULT: one SQL text, so the insert stays prepared.
#[diesel(treat_none_as_default_value = false)]
#[allow(missing_docs)] // each field is the column (and SessionInfo field) of the same name
pub struct SessionRecord {
    pub id: String,
    pub account_id: String,
    pub channel: String,
    pub direction: String,
    pub dial_state: String,
    pub call_state: String,
    pub queue_state: String,
    pub hold_reason: String,
    pub ended: bool,
    pub was_missed: bool,
    pub date_completed: Option<TimestampValue>,
    pub account_name: Option<String>,
    pub customer_id: Option<String>,
    pub customer_breadcrumb: JsonValue,
    pub customer_name: Option<String>,
    pub endpoint_id: Option<String>,
    pub endpoint_name: Option<String>,
    pub destination: Option<String>,
    pub to_address: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub answered_by_name: Option<String>,
    pub queue_member_id: Option<String>,
    pub outcome: Option<String>,
    pub call_sid: Option<String>,
    pub console_data: Option<String>,
    pub hold_queue_name: Option<String>,
    pub held_by_user_id: Option<String>,
    pub conference_sid: Option<String>,
    pub display_name: Option<String>,
    pub callback_number: Option<String>,
    pub answered_by_id: Option<String>,
    pub from_phone_number: Option<String>,
    pub most_recent_participant_call_sid: Option<String>,
    pub ring_queue_id: Option<String>,
    pub date_created: TimestampValue,
    pub created_by: String,
    pub date_last_modified: TimestampValue,
    pub last_modified_by: String,
    pub version: i64,
}

/// One row of `session_members` (without its account, session and position).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = session_members, check_for_backend(Pg, Sqlite))]
#[diesel(treat_none_as_default_value = false)]
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
    pub application_data: JsonValue,
    pub call_state: String,
    pub role: String,
    pub call_sid: Option<String>,
    pub muted: bool,
}

/// A new row of `session_members` as SQLite inserts it, numbering `position` per session
/// itself (PostgreSQL's is generated, and its insert is a hand-written statement).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = session_members, check_for_backend(Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct NewMember<'a> {
    /// The session's account.
    pub account_id: &'a str,
    /// The session.
    pub session_id: &'a str,
    /// Join order in the session.
    pub position: i64,
    /// The member's columns.
    #[diesel(embed)]
    pub member: MemberRecord,
}

/// One row of `session_log` (without its account, session and sequence number).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = session_log, check_for_backend(Pg, Sqlite))]
pub struct LogRecord {
    /// When it happened.
    pub date: TimestampValue,
    /// What happened.
    pub message: String,
}

/// The `sessions` header columns a change rewrites, read from the session after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderChange {
    /// `dateLastModified`.
    pub date_last_modified: TimestampValue,
    /// `lastModifiedBy`.
    pub last_modified_by: String,
    /// `ended`.
    pub ended: bool,
    /// `dateCompleted`.
    pub date_completed: Option<TimestampValue>,
    /// `callState`, by name.
    pub call_state: &'static str,
    /// `queueState`, by name.
    pub queue_state: &'static str,
    /// `holdReason`, by name.
    pub hold_reason: &'static str,
    /// `consoleData`, when the change set it; `None` leaves it as it is (so that a change
    /// does not send up to 32 KiB of screen data back to the database for nothing).
    pub console_data: Option<String>,
}

impl HeaderChange {
    /// The header of `session` as `change` left it.
    pub fn of(session: &SessionData, change: &ChangeKind) -> Self {
        let console_data = match change {
            ChangeKind::InfoChanged(patch) => patch.console_data.clone(),
            _ => None,
        };
        Self {
            date_last_modified: session.date_last_modified.into(),
            last_modified_by: session.last_modified_by.clone(),
            ended: session.ended,
            date_completed: session.date_completed.map(TimestampValue),
            call_state: session.call_state.as_str(),
            queue_state: session.queue_state.as_str(),
            hold_reason: session.hold_reason.as_str(),
            console_data,
        }
    }
}

impl HeaderChange {
    /// Writes `UPDATE sessions SET <these columns>, version = version + 1 WHERE account_id =
    /// $ AND id = $ AND version = $` into a hand-written statement (both stores: SQLite alone,
    /// PostgreSQL inside its change's CTE): the header is rewritten only at the version it was
    /// decided on.
    pub fn walk_versioned_update<'b, DB>(
        &'b self,
        account_id: &'b str,
        session_id: &'b str,
        version_read: &'b i64,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        DB: Backend
            + HasSqlType<sql_types::UtcTimestamp>
            + HasSqlType<Text>
            + HasSqlType<Bool>
            + HasSqlType<BigInt>,
        TimestampValue: ToSql<sql_types::UtcTimestamp, DB>,
        str: ToSql<Text, DB>,
        bool: ToSql<Bool, DB>,
        i64: ToSql<BigInt, DB>,
    {
        out.push_sql("UPDATE sessions SET date_last_modified = ");
        out.push_bind_param::<sql_types::UtcTimestamp, _>(&self.date_last_modified)?;
        out.push_sql(", last_modified_by = ");
        out.push_bind_param::<Text, str>(self.last_modified_by.as_str())?;
        out.push_sql(", ended = ");
        out.push_bind_param::<Bool, _>(&self.ended)?;
        out.push_sql(", date_completed = ");
        out.push_bind_param::<Nullable<sql_types::UtcTimestamp>, _>(&self.date_completed)?;
        out.push_sql(", call_state = ");
        out.push_bind_param::<Text, str>(self.call_state)?;
        out.push_sql(", queue_state = ");
        out.push_bind_param::<Text, str>(self.queue_state)?;
        out.push_sql(", hold_reason = ");
        out.push_bind_param::<Text, str>(self.hold_reason)?;
        out.push_sql(", console_data = COALESCE(");
        out.push_bind_param::<Nullable<Text>, _>(&self.console_data)?;
        out.push_sql(", console_data), version = version + 1 WHERE account_id = ");
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
            date_completed: session.date_completed.map(TimestampValue),
            account_name: d.account_name.clone(),
            customer_id: d.customer_id.clone(),
            customer_breadcrumb: JsonValue(breadcrumbs_to_json(&d.customer_breadcrumb)),
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
            date_created: session.date_created.into(),
            created_by: session.created_by.clone(),
            date_last_modified: session.date_last_modified.into(),
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
            application_data: JsonValue(application_data_to_json(&member.application_data)),
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
        Self { date: entry.date.into(), message: entry.message.clone() }
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
    let customer_breadcrumb = breadcrumbs_from_json(session.customer_breadcrumb.0)
        .map_err(|p| corrupt("customer_breadcrumb", p))?;
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
        date_completed: session.date_completed.map(Timestamp::from),
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
        log: log.into_iter().map(|l| LogEntry { date: l.date.into(), message: l.message }).collect(),
        date_created: session.date_created.into(),
        created_by: session.created_by,
        date_last_modified: session.date_last_modified.into(),
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
        application_data: application_data_from_json(record.application_data.0)
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
