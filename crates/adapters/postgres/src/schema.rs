//! The diesel schema of `migrations/postgres`: the tables of [`evo_store_sql::tables!`] with
//! PostgreSQL's timestamp and JSON types.

/// Timestamps: `timestamptz`.
pub(crate) type Stamp = diesel::sql_types::Timestamptz;
/// JSON columns: `jsonb`.
pub(crate) type Document = diesel::sql_types::Jsonb;

evo_store_sql::tables!(session_events (account_id, session_id, seq) {
    // Insert order; the event's number, given after commit.
    seq -> BigInt,
    id -> Nullable<BigInt>,
});
