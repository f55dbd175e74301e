//! The repository contract suite against SQLite, one database file per test.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use evo_sqlite::{SqliteConfig, SqliteSessionRepository};

/// A folder of its own for one test, removed when dropped.
#[derive(Debug)]
struct TempFolder(PathBuf);

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_folder() -> TempFolder {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("evo-sqlite-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    TempFolder(std::env::temp_dir().join(name))
}

async fn store() -> (SqliteSessionRepository, TempFolder) {
    let folder = temp_folder();
    // A folder that does not exist yet: `open` creates it, and the file.
    let config = SqliteConfig::new(folder.0.join("nested").join("sessions.db"));
    let repository = SqliteSessionRepository::open(config).await.expect("open the test database");
    (repository, folder)
}

evo_store_testkit::repository_contract_tests!(store());
