//! The diesel schema of `migrations/postgres`: the tables of [`evo_store_sql::tables!`] with
//! PostgreSQL's timestamp and JSON types.

/// Timestamps: `timestamptz`.
pub(crate) type Stamp = diesel::sql_types::Timestamptz;
/// JSON columns: `jsonb`.
pub(crate) type Document = diesel::sql_types::Jsonb;

evo_store_sql::tables!();
