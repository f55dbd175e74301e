//! The repository contract suite against PostgreSQL with the prepared statement cache
//! turned off (the PgBouncer transaction mode setting), where transactions are driven
//! differently.

use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;

async fn store() -> (PgSessionRepository, TestDatabase) {
    let database = TestDatabase::create().await;
    let mut config = database.config();
    config.prepared_statement_cache = false;
    let repository = PgSessionRepository::connect(config)
        .await
        .expect("connect to the test database")
        .with_outbox(evo_store_testkit::outbox_for_webhooks());
    (repository, database)
}

evo_store_testkit::repository_contract_tests!(store());
