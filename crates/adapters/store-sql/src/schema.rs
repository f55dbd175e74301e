//! The diesel schema of both stores, written once: [`tables!`](crate::tables) expands the
//! `table!` blocks in the store's own `schema` module, whose `Stamp` (a timestamp) and
//! `Document` (JSON) type aliases name the two column types the SQL dialects spell apart
//! (PostgreSQL: `timestamptz`, `jsonb`; SQLite: text of both). Every other column type is the
//! same in `migrations/postgres` and `migrations/sqlite`.
//!
//! Every table's key leads with `account_id` (contract section 14).

/// The `sessions`, `session_members`, `session_log`, `idempotency_keys` and `session_events`
/// tables, for a module that defines `Stamp` and `Document` (see the module docs).
///
/// The outbox is numbered differently by the dialects (PostgreSQL after commit, by a
/// sequencer; SQLite at insert), so the store names its key and numbering columns:
/// `tables!(session_events (id) { id -> BigInt, })`.
#[macro_export]
macro_rules! tables {
    (session_events ($($event_key:ident),+) { $($numbering:tt)* }) => {
        $crate::with_session_columns!(sessions_table {});

        ::diesel::table! {
            use ::diesel::sql_types::*;
            use super::{Document, Stamp};

            session_members (account_id, session_id, position) {
                account_id -> Text,
                session_id -> Text,
                position -> BigInt,
                identity -> Text,
                identity_key -> Text,
                endpoint_id -> Nullable<Text>,
                display_name -> Nullable<Text>,
                is_original_member -> Bool,
                avatar_url -> Nullable<Text>,
                application_data -> Document,
                call_state -> Text,
                role -> Text,
                call_sid -> Nullable<Text>,
                muted -> Bool,
            }
        }

        ::diesel::table! {
            use ::diesel::sql_types::*;
            use super::{Document, Stamp};

            session_log (account_id, session_id, seq) {
                account_id -> Text,
                session_id -> Text,
                seq -> BigInt,
                date -> Stamp,
                message -> Text,
            }
        }

        ::diesel::table! {
            use ::diesel::sql_types::*;
            use super::{Document, Stamp};

            idempotency_keys (account_id, scope, key) {
                account_id -> Text,
                scope -> Text,
                key -> Text,
                fingerprint -> Text,
                status -> Integer,
                content_type -> Text,
                body -> Binary,
                expires_at -> Stamp,
            }
        }

        ::diesel::table! {
            use ::diesel::sql_types::*;
            use super::Stamp;

            session_events ($($event_key),+) {
                $($numbering)*
                account_id -> Text,
                session_id -> Text,
                event_type -> Text,
                body -> Text,
                created_at -> Stamp,
                delivery -> SmallInt,
                attempts -> Integer,
                pending_since -> Stamp,
                next_attempt_at -> Stamp,
                lease_until -> Nullable<Stamp>,
                last_error -> Nullable<Text>,
            }
        }

        ::diesel::allow_tables_to_appear_in_same_query!(
            sessions,
            session_members,
            session_log,
            idempotency_keys,
            session_events
        );
    };
}

/// The `sessions` table from [`with_session_columns!`](crate::with_session_columns).
#[doc(hidden)]
#[macro_export]
macro_rules! sessions_table {
    ({} $({ $($column:ident: $rust:ty [$($sql:tt)*],)* })*) => {
        ::diesel::table! {
            use ::diesel::sql_types::*;
            use super::{Document, Stamp};

            sessions (account_id, id) {
                $($($column -> $($sql)*,)*)*
            }
        }
    };
}
