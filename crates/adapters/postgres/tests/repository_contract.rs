//! The repository contract suite against PostgreSQL, one database per test.

use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;

async fn store() -> (PgSessionRepository, TestDatabase) {
    let database = TestDatabase::create().await;
    let repository = PgSessionRepository::connect(database.config())
        .await
        .expect("connect to the test database")
        .with_outbox(evo_store_testkit::outbox_for_webhooks());
    (repository, database)
}

evo_store_testkit::repository_contract_tests!(store());
