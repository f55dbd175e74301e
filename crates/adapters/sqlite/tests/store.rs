//! What the SQLite store does beyond the shared contract: creating and reopening its file,
//! its pragmas, and answering `Unavailable` while another writer holds the lock.

mod support;

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use evo_domain::SessionCommand;
use evo_ports::Applied;
use evo_ports::{RepositoryError, SessionRepository, UpdateError};
use evo_sqlite::{SqliteConfig, SqliteSessionRepository};
use evo_store_testkit::fixtures::{agent, at, chat, identity};
use support::temp_folder;

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_the_file_in_wal_mode_and_reopening_keeps_the_sessions() {
    let folder = temp_folder("store");
    let path = folder.0.join("a").join("b").join("sessions.db");
    let repository = SqliteSessionRepository::open(SqliteConfig::new(&path)).await.expect("open");
    assert!(path.exists(), "the database file was not created");
    let session = chat(&["+15551234567", "ann@example.com"]);
    repository.insert(&session, &evo_store_testkit::fixtures::agent(), None).await.applied().expect("insert");
    drop(repository);

    let mut raw = SqliteConnection::establish(&path.display().to_string()).expect("raw connection");
    // The writer's connection closes (and checkpoints) just after its last answer, on the
    // writer's thread: wait for that instead of failing on the lock.
    raw.batch_execute("PRAGMA busy_timeout = 5000").expect("busy timeout");
    let mode: JournalMode =
        diesel::sql_query("PRAGMA journal_mode").get_result(&mut raw).expect("journal mode");
    assert_eq!(mode.journal_mode, "wal");
    drop(raw);

    let reopened = SqliteSessionRepository::open(SqliteConfig::new(&path)).await.expect("reopen");
    assert_eq!(reopened.find(&session.id, &agent()).await.expect("find"), Some(session));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_waits_for_another_writer_then_answers_unavailable() {
    let folder = temp_folder("store");
    let path = folder.0.join("sessions.db");
    let mut config = SqliteConfig::new(&path);
    config.busy_timeout = Duration::from_millis(300);
    let repository = SqliteSessionRepository::open(config).await.expect("open");
    let session = chat(&["+15551234567", "ann@example.com"]);
    repository.insert(&session, &evo_store_testkit::fixtures::agent(), None).await.applied().expect("insert");

    // Another process holds the write lock.
    let mut other = SqliteConnection::establish(&path.display().to_string()).expect("raw connection");
    other.batch_execute("BEGIN IMMEDIATE").expect("take the write lock");
    let remove = SessionCommand::remove(identity("ann@example.com"));
    let started = Instant::now();
    let outcome = repository.update(&session.id, &agent(), &remove, None, None, at(1)).await.applied();
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(UpdateError::Repository(RepositoryError::Unavailable(_)))),
        "expected Unavailable, got {outcome:?}"
    );
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(3), "answered after {took:?}");
    // Readers are not blocked by the writer (WAL).
    assert_eq!(repository.find(&session.id, &agent()).await.expect("find").map(|s| s.members.len()), Some(2));

    other.batch_execute("ROLLBACK").expect("release the lock");
    let changed = repository
        .update(&session.id, &agent(), &remove, None, None, at(2))
        .await
        .applied()
        .expect("remove after release");
    assert_eq!(changed.members.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_request_is_dropped_before_its_turn_is_not_made() {
    let folder = temp_folder("store");
    let path = folder.0.join("sessions.db");
    let repository = SqliteSessionRepository::open(SqliteConfig::new(&path)).await.expect("open");
    let (first, second) =
        (chat(&["+15551234567", "ann@example.com"]), chat(&["+15551234567", "ann@example.com"]));
    for session in [&first, &second] {
        repository.insert(session, &agent(), None).await.applied().expect("insert");
    }

    // Another process holds the write lock: the first change takes the writer and waits for
    // it; the second queues behind, and its request goes away.
    let mut other = SqliteConnection::establish(&path.display().to_string()).expect("raw connection");
    other.batch_execute("BEGIN IMMEDIATE").expect("take the write lock");
    let remove = SessionCommand::remove(identity("ann@example.com"));
    let (waiting, id) = (repository.clone(), first.id.clone());
    let (command, removal) = (remove.clone(), remove.clone());
    let made =
        tokio::spawn(
            async move { waiting.update(&id, &agent(), &command, None, None, at(1)).await.applied() },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (dropped_repository, id) = (repository.clone(), second.id.clone());
    let dropped = tokio::spawn(async move {
        dropped_repository.update(&id, &agent(), &removal, None, None, at(1)).await.applied()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    dropped.abort();
    assert!(dropped.await.expect_err("aborted").is_cancelled());
    other.batch_execute("ROLLBACK").expect("release the lock");

    assert_eq!(made.await.expect("task").expect("the waiting change is made").members.len(), 1);
    // The next change runs after the dropped one's turn: had it been made, it would be there.
    repository
        .update(&first.id, &agent(), &SessionCommand::end(), None, None, at(2))
        .await
        .applied()
        .expect("end");
    let kept = repository.find(&second.id, &agent()).await.expect("find").expect("stored");
    assert_eq!(kept.members.len(), 2, "the dropped request's removal was not made");
}
