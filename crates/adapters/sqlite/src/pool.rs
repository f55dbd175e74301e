//! Opening the database file: its folder and file private to their owner, the pragmas every
//! connection runs, the migrations, and the pool of reading connections.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::MigrationHarness;

use crate::{AsyncSqlite, MIGRATIONS, SqliteStoreError};

/// The pragmas every connection runs first.
pub(crate) fn connection_pragmas(busy_timeout: Duration) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = FULL;",
        busy_timeout.as_millis()
    )
}

/// Creates the database's folder (and its missing parents) readable by its owner only, and an
/// empty database file `0600` when there is none: SQLite gives its `-wal` and `-shm` files the
/// database file's mode, so no file of the store is readable by other local users.
pub(crate) fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
}

/// A pool of at most `size` connections to `path`, each set up with `pragmas`; waits (for a
/// free connection, to open one, to recycle one) bounded by `timeout`.
pub(crate) fn build_pool(
    path: &str,
    pragmas: &str,
    size: usize,
    timeout: Duration,
) -> Result<Pool<AsyncSqlite>, SqliteStoreError> {
    let pragmas = pragmas.to_owned();
    let mut manager_config = ManagerConfig::<AsyncSqlite>::default();
    // Local file: nothing to probe before reuse.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let (url, pragmas) = (url.to_owned(), pragmas.clone());
        Box::pin(async move {
            let mut connection = AsyncSqlite::establish(&url).await?;
            connection
                .batch_execute(&pragmas)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(connection)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path, manager_config);
    Pool::builder(manager)
        .max_size(size.max(1))
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| SqliteStoreError::Pool(e.to_string()))
}

/// A connection to `path`, set up with `pragmas` (blocking: off the async workers).
pub(crate) fn connect(path: &str, pragmas: &str) -> Result<SqliteConnection, String> {
    let mut connection = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    connection.batch_execute(pragmas).map_err(|e| e.to_string())?;
    Ok(connection)
}

pub(crate) fn migrate(path: &str, pragmas: &str) -> Result<(), SqliteStoreError> {
    let mut connection =
        connect(path, pragmas).map_err(|reason| SqliteStoreError::Open { path: path.to_owned(), reason })?;
    let applied = connection
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| SqliteStoreError::Migration(e.to_string()))?;
    if !applied.is_empty() {
        tracing::info!(applied = applied.len(), path, "applied SQLite migrations");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_syncs_each_commit_to_disk() {
        #[derive(QueryableByName)]
        struct Synchronous {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let folder = std::env::temp_dir().join(format!("evo-sqlite-pragmas-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("pragmas.db");
        let mut connection = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        connection.batch_execute(&connection_pragmas(Duration::from_secs(1))).unwrap();
        let mode: Synchronous = diesel::sql_query("PRAGMA synchronous").get_result(&mut connection).unwrap();
        // 2 is FULL: in WAL mode NORMAL (1) may lose the last commits on power loss.
        assert_eq!(mode.synchronous, 2);
        drop(connection);
        let _ = std::fs::remove_dir_all(folder);
    }
}
