//! The schema, embedded, applied through diesel-async's `AsyncConnectionWrapper` (no libpq).

use diesel::RunQueryDsl;
use diesel::connection::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::PgConfig;
use crate::error::PgStoreError;

/// The migrations of `migrations/postgres`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../../migrations/postgres");

/// The advisory lock that keeps two instances from migrating at once.
const MIGRATION_LOCK_KEY: i64 = crate::advisory_locks::MIGRATIONS;

/// Applies the pending migrations. Safe to run from several instances at once: they take
/// turns under an advisory lock. Needs a multi-threaded Tokio runtime.
pub async fn run_migrations(config: &PgConfig) -> Result<(), PgStoreError> {
    let url = config.url.clone();
    let redacted = config.redacted_url();
    tokio::task::spawn_blocking(move || {
        let mut connection = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| PgStoreError::Connect { url: redacted, reason: e.to_string() })?;
        let migration_error = |e: &dyn std::fmt::Display| PgStoreError::Migration(e.to_string());
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut connection)
            .map_err(|e| migration_error(&e))?;
        let applied = connection.run_pending_migrations(MIGRATIONS).map(|v| v.len());
        // Closing the connection would release the lock too; unlock to be explicit.
        let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .execute(&mut connection);
        let applied = applied.map_err(|e| migration_error(&e))?;
        if applied > 0 {
            tracing::info!(applied, "applied PostgreSQL migrations");
        }
        Ok(())
    })
    .await
    .map_err(|e| PgStoreError::Migration(format!("the migration task failed: {e}")))?
}
