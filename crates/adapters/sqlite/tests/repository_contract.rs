//! The repository contract suite against SQLite, one database file per test.

mod support;

use evo_sqlite::{SqliteConfig, SqliteSessionRepository};
use support::{TempFolder, temp_folder};

async fn store() -> (SqliteSessionRepository, TempFolder) {
    let folder = temp_folder("test");
    // A folder that does not exist yet: `open` creates it, and the file.
    let config = SqliteConfig::new(folder.0.join("nested").join("sessions.db"));
    let repository = SqliteSessionRepository::open(config)
        .await
        .expect("open the test database")
        .with_outbox(evo_store_testkit::outbox_for_webhooks());
    (repository, folder)
}

evo_store_testkit::repository_contract_tests!(store());
