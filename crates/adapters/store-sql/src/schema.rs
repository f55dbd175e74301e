//! The diesel schema of both stores, `migrations/postgres` and `migrations/sqlite`: the same
//! tables and columns. Two column types are spelled apart by the SQL dialects, and have a SQL
//! type of their own here ([`sql_types`]): timestamps ([`UtcTimestamp`](sql_types::UtcTimestamp):
//! PostgreSQL `timestamptz`, SQLite text) and JSON ([`Json`](sql_types::Json): PostgreSQL
//! `jsonb`, SQLite text), whose values are [`TimestampValue`](crate::TimestampValue) and
//! [`JsonValue`](crate::JsonValue). Every other column is the same type in both.
//!
//! Every table's key leads with `account_id` (docs/api.md, "Durability and several instances").
//!
//! Adding a column: the migration of each store, its line here, its field in the record of
//! [`crate::records`] (docs/architecture.md, "Adding a column to `sessions`").

pub mod sql_types {
    //! The SQL types of the two column kinds the dialects spell apart.

    /// A point in time: PostgreSQL `timestamptz`; SQLite text
    /// (`YYYY-MM-DD HH:MM:SS.ffffff+00:00`, diesel's `TimestamptzSqlite`).
    #[derive(Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(oid = 1184, array_oid = 1185))]
    #[diesel(sqlite_type(name = "Text"))]
    pub struct UtcTimestamp;

    /// A JSON document: PostgreSQL `jsonb`; SQLite text.
    #[derive(Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(oid = 3802, array_oid = 3807))]
    #[diesel(sqlite_type(name = "Text"))]
    pub struct Json;
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::{Json, UtcTimestamp};

    /// One row per session: every SessionInfo field but the members and the log.
    sessions (account_id, id) {
        id -> Text,
        account_id -> Text,
        channel -> Text,
        direction -> Text,
        dial_state -> Text,
        call_state -> Text,
        queue_state -> Text,
        hold_reason -> Text,
        ended -> Bool,
        was_missed -> Bool,
        date_completed -> Nullable<UtcTimestamp>,
        account_name -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        customer_breadcrumb -> Json,
        customer_name -> Nullable<Text>,
        endpoint_id -> Nullable<Text>,
        endpoint_name -> Nullable<Text>,
        destination -> Nullable<Text>,
        to_address -> Nullable<Text>,
        from_address -> Nullable<Text>,
        from_name -> Nullable<Text>,
        answered_by_name -> Nullable<Text>,
        queue_member_id -> Nullable<Text>,
        outcome -> Nullable<Text>,
        call_sid -> Nullable<Text>,
        console_data -> Nullable<Text>,
        hold_queue_name -> Nullable<Text>,
        held_by_user_id -> Nullable<Text>,
        conference_sid -> Nullable<Text>,
        display_name -> Nullable<Text>,
        callback_number -> Nullable<Text>,
        answered_by_id -> Nullable<Text>,
        from_phone_number -> Nullable<Text>,
        most_recent_participant_call_sid -> Nullable<Text>,
        ring_queue_id -> Nullable<Text>,
        date_created -> UtcTimestamp,
        created_by -> Text,
        date_last_modified -> UtcTimestamp,
        last_modified_by -> Text,
        /// Bumped by every change: a change applies only to the version it was decided on.
        version -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Json;

    /// A session's current members; `position` (given by the database) keeps join order.
    session_members (account_id, session_id, position) {
        account_id -> Text,
        session_id -> Text,
        position -> BigInt,
        identity -> Text,
        /// `MemberIdentity::key`: unique per session.
        identity_key -> Text,
        endpoint_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        is_original_member -> Bool,
        avatar_url -> Nullable<Text>,
        application_data -> Json,
        call_state -> Text,
        role -> Text,
        call_sid -> Nullable<Text>,
        muted -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::UtcTimestamp;

    /// A session's log, append-only; `seq` (given by the database) keeps order.
    session_log (account_id, session_id, seq) {
        account_id -> Text,
        session_id -> Text,
        seq -> BigInt,
        date -> UtcTimestamp,
        message -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::UtcTimestamp;

    /// The kept answers of keyed requests (docs/api.md, "Idempotency-Key").
    idempotency_keys (account_id, scope, key) {
        account_id -> Text,
        scope -> Text,
        key -> Text,
        fingerprint -> Text,
        status -> Integer,
        content_type -> Text,
        body -> Binary,
        expires_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::UtcTimestamp;

    /// The outbox: one row per committed change, written in its transaction.
    session_events (account_id, session_id, seq) {
        /// Insert order. On SQLite the same as `id` (a virtual column).
        seq -> BigInt,
        /// The event's number. PostgreSQL numbers events after they commit (NULL until then,
        /// `crate::events`); SQLite at insert (its row ID, in commit order: one writer).
        id -> Nullable<BigInt>,
        account_id -> Text,
        session_id -> Text,
        event_type -> Text,
        body -> Text,
        created_at -> UtcTimestamp,
        /// A `crate::delivery` state.
        delivery -> SmallInt,
        attempts -> Integer,
        pending_since -> UtcTimestamp,
        next_attempt_at -> UtcTimestamp,
        lease_until -> Nullable<UtcTimestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    sessions,
    session_members,
    session_log,
    idempotency_keys,
    session_events
);
