//! Locks and pools under contention: another account's session is never locked (docs/api.md,
//! "Roles and accounts"), and readiness does not wait behind requests for a connection.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use evo_domain::{AccountId, Actor, SessionCommand, SessionError};
use evo_ports::Applied;
use evo_ports::{SessionRepository, UpdateError};
use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;
use evo_store_testkit::fixtures::{agent, at, chat, identity};

/// Another connection holds the session's row lock (as a long change would) until dropped.
async fn hold_row_lock(database: &TestDatabase, session_id: &str) -> AsyncPgConnection {
    let mut holder = AsyncPgConnection::establish(&database.url).await.expect("lock holder");
    holder
        .batch_execute(&format!("BEGIN; SELECT 1 FROM sessions WHERE id = '{session_id}' FOR UPDATE;"))
        .await
        .expect("take the row lock");
    holder
}

fn remove_bob() -> SessionCommand {
    SessionCommand::remove(identity("bob@example.com"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_of_another_account_is_not_found_without_waiting_for_its_lock() {
    let database = TestDatabase::create().await;
    let repository = PgSessionRepository::connect(database.config()).await.expect("connect");
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    repository.insert(&session, &evo_store_testkit::fixtures::agent(), None).await.applied().expect("insert");
    let _holder = hold_row_lock(&database, session.id.as_str()).await;

    let stranger = Actor { account_ids: vec![AccountId::parse("globex").unwrap()], ..agent() };
    let foreign = tokio::time::timeout(
        Duration::from_secs(1),
        repository.update(&session.id, &stranger, &remove_bob(), None, None, at(5)),
    )
    .await
    .expect("a foreign session must not wait for the lock");
    assert_eq!(foreign.unwrap_err(), UpdateError::Rejected(SessionError::NotFound));

    // The owner's change does wait: the lock is really held.
    let owner = tokio::time::timeout(
        Duration::from_millis(500),
        repository.update(&session.id, &agent(), &remove_bob(), None, None, at(5)),
    )
    .await;
    assert!(owner.is_err(), "the owner's change waits for the lock: {owner:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_answers_while_every_request_connection_is_busy() {
    let database = TestDatabase::create().await;
    let mut config = database.config();
    config.pool_size = 1;
    config.wait_timeout = Duration::from_millis(300);
    let repository = PgSessionRepository::connect(config).await.expect("connect");
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    repository.insert(&session, &evo_store_testkit::fixtures::agent(), None).await.applied().expect("insert");
    let _holder = hold_row_lock(&database, session.id.as_str()).await;

    // The only request connection waits for the lock...
    let busy = {
        let (repository, id) = (repository.clone(), session.id.clone());
        tokio::spawn(async move {
            repository.update(&id, &agent(), &remove_bob(), None, None, at(5)).await.applied()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!busy.is_finished(), "the change holds the pool's only connection");
    // ...and a request would wait for it in vain...
    assert!(repository.find(&session.id, &agent()).await.is_err(), "the request pool is saturated");
    // ...while readiness has a connection of its own.
    repository.ping().await.expect("ready although the request pool is saturated");
    busy.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_worker_has_its_share_of_the_pool_and_no_other_workers_connections() {
    let database = TestDatabase::create().await;
    let mut config = database.config();
    config.pool_size = 2;
    config.wait_timeout = Duration::from_millis(300);
    let repository = PgSessionRepository::connect(config).await.expect("connect");
    let [first, second]: [PgSessionRepository; 2] =
        repository.per_worker(2).expect("a pool per worker").try_into().expect("one store per worker");
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    first.insert(&session, &agent(), None).await.applied().expect("insert");
    let _holder = hold_row_lock(&database, session.id.as_str()).await;

    // The first worker's change waits for the lock on its only connection (2 shared by 2)...
    let busy = {
        let (first, id) = (first.clone(), session.id.clone());
        tokio::spawn(
            async move { first.update(&id, &agent(), &remove_bob(), None, None, at(5)).await.applied() },
        )
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!busy.is_finished(), "the change holds the first worker's only connection");
    assert!(first.find(&session.id, &agent()).await.is_err(), "the first worker's pool is saturated");
    // ...while the second worker still reads, on a connection of its own pool.
    let found = second.find(&session.id, &agent()).await.expect("the second worker has its own pool");
    assert!(found.is_some());
    busy.abort();
}
