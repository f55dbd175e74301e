//! The diesel schema of `migrations/sqlite`: the tables of [`evo_store_sql::tables!`] with
//! SQLite's timestamp and JSON types (both text).

/// Timestamps: text, read and written by diesel's `TimestamptzSqlite`.
pub(crate) type Stamp = diesel::sql_types::TimestamptzSqlite;
/// JSON columns: text.
pub(crate) type Document = diesel::sql_types::Json;

evo_store_sql::tables!(session_events (id) {
    // The event's number, given at insert.
    id -> BigInt,
});
