//! The store answers `Unavailable`, within its configured timeouts, while PostgreSQL cannot
//! be reached, and works again once it is back, with the same repository.
//!
//! A small TCP proxy sits between the pool and PostgreSQL: it can cut every connection and
//! refuse new ones (a server that went away), or stall them (a network that silently drops
//! everything, where only client-side deadlines help).

mod support;

use std::time::{Duration, Instant};

use evo_domain::{NewMember, SessionCommand};
use evo_ports::Applied;
use evo_ports::{RepositoryError, SessionRepository, UpdateError};
use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;
use evo_store_testkit::fixtures::{agent, at, chat, identity};
use support::{Mode, Proxy, server_address, through};

async fn assert_unavailable_within(
    what: &str,
    limit: Duration,
    call: impl std::future::Future<Output = Result<(), RepositoryError>>,
) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit + Duration::from_secs(5), call).await.expect("the store hung");
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(RepositoryError::Unavailable(_))),
        "{what}: expected Unavailable, got {outcome:?}"
    );
    assert!(took <= limit, "{what}: answered after {took:?}, more than {limit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unavailable_while_postgres_is_unreachable_then_back_without_rebuilding() {
    let database = TestDatabase::create().await;
    let proxy = Proxy::start(server_address(&database.url)).await;
    let mut config = database.config();
    config.url = through(&database.url, &proxy.address);
    config.pool_size = 4;
    config.wait_timeout = Duration::from_millis(500);
    config.create_timeout = Duration::from_millis(500);
    config.recycle_timeout = Duration::from_millis(500);
    config.statement_timeout = Duration::from_millis(500);
    // Pool wait or connection creation, then a deadline of 2 × statement timeout + 1 s.
    let limit =
        config.wait_timeout + config.create_timeout + config.statement_timeout * 2 + Duration::from_secs(1);
    let repository = PgSessionRepository::connect(config).await.expect("connect through the proxy");

    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    repository.insert(&session, &agent(), None).await.applied().expect("insert");
    assert!(repository.find(&session.id, &agent()).await.expect("find").is_some());

    for mode in [Mode::Cut, Mode::Stall] {
        proxy.set(mode);
        assert_unavailable_within(&format!("{mode:?} ping"), limit, repository.ping()).await;
        assert_unavailable_within(&format!("{mode:?} find"), limit, async {
            repository.find(&session.id, &agent()).await.map(|_| ())
        })
        .await;
        assert_unavailable_within(&format!("{mode:?} update"), limit, async {
            let command = SessionCommand::InviteMember(NewMember::new(identity("carol@example.com")));
            match repository.update(&session.id, &agent(), &command, None, None, at(5)).await.applied() {
                Err(UpdateError::Repository(error)) => Err(error),
                other => panic!("expected a store failure, got {other:?}"),
            }
        })
        .await;

        proxy.set(Mode::Forward);
        // The same repository recovers: dead connections are replaced, not reused.
        let mut recovered = repository.ping().await;
        for _ in 0..10 {
            if recovered.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            recovered = repository.ping().await;
        }
        recovered.unwrap_or_else(|e| panic!("no recovery after {mode:?}: {e}"));
        let stored =
            repository.find(&session.id, &agent()).await.expect("find after recovery").expect("the session");
        assert_eq!(stored.members.len(), 3, "a failed change was committed after {mode:?}");
    }
    let removed = repository
        .update(
            &session.id,
            &agent(),
            &SessionCommand::remove(identity("bob@example.com")),
            None,
            None,
            at(9),
        )
        .await
        .applied()
        .expect("a change after recovery");
    assert_eq!(removed.members.len(), 2);
}
