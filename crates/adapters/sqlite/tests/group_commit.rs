//! Changes that queue while the writer waits share one transaction and one durable commit
//! (crates/adapters/sqlite/src/writer.rs), and each still gets its own answer: applied,
//! refused, or (a database error among them) run again alone.
//!
//! diesel's instrumentation counts the commits; it is set for the whole process, so this
//! file holds one test.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::connection::{
    Instrumentation, InstrumentationEvent, SimpleConnection, set_default_instrumentation,
};
use diesel::{Connection, SqliteConnection};
use evo_domain::{Session, SessionCommand};
use evo_ports::Applied;
use evo_ports::{RepositoryError, SessionRepository, UpdateError};
use evo_sqlite::{SqliteConfig, SqliteSessionRepository};
use evo_store_testkit::fixtures::{agent, at, chat, identity};
use support::temp_folder;

/// Top-level commits (not savepoints) on every connection.
static COMMITS: AtomicUsize = AtomicUsize::new(0);

fn count_commits() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if matches!(event, InstrumentationEvent::CommitTransaction { depth, .. } if depth.get() == 1) {
            COMMITS.fetch_add(1, Ordering::SeqCst);
        }
    }))
}

/// Holds SQLite's write lock from another connection until dropped, so that the store's
/// writes queue behind it.
struct WriteLock(SqliteConnection);

impl WriteLock {
    fn take(path: &str) -> Self {
        let mut connection = SqliteConnection::establish(path).expect("second connection");
        connection.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE").expect("write lock");
        Self(connection)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("ROLLBACK");
    }
}

fn remove(raw: &str) -> SessionCommand {
    SessionCommand::remove(identity(raw))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_waiting_for_the_writer_share_one_commit_and_keep_their_own_answers() {
    set_default_instrumentation(count_commits).expect("instrumentation");
    let folder = temp_folder("group");
    let path = folder.0.join("sessions.db");
    let repository = SqliteSessionRepository::open(SqliteConfig::new(&path)).await.expect("open");
    let sessions: Vec<Session> =
        (0..16).map(|_| chat(&["+15551234567", "ann@example.com", "bob@example.com"])).collect();
    for session in &sessions {
        repository.insert(session, &agent(), None).await.applied().expect("insert");
    }

    // 16 removals and one refused change queue behind another connection's write lock.
    let lock = WriteLock::take(&path.display().to_string());
    let before = COMMITS.load(Ordering::SeqCst);
    let mut waiting = Vec::new();
    for session in &sessions {
        let (repository, id) = (repository.clone(), session.id.clone());
        waiting.push(tokio::spawn(async move {
            repository.update(&id, &agent(), &remove("bob@example.com"), None, None, at(10)).await.applied()
        }));
    }
    let (refused_repository, refused_id) = (repository.clone(), sessions[0].id.clone());
    let refused = tokio::spawn(async move {
        refused_repository
            .update(&refused_id, &agent(), &remove("zed@example.com"), None, None, at(10))
            .await
            .applied()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(lock);

    let mut answers = Vec::new();
    for removal in waiting {
        answers.push(removal.await.expect("task").expect("the removal applies"));
    }
    let refused = refused.await.expect("task");
    // Read before the checks below: reads commit too.
    let commits = COMMITS.load(Ordering::SeqCst) - before;
    assert!(
        matches!(refused, Err(UpdateError::Rejected(_))),
        "a change refused in a shared transaction is refused alone: {refused:?}"
    );
    for (session, changed) in sessions.iter().zip(answers) {
        assert!(changed.members.iter().all(|m| m.identity.as_str() != "bob@example.com"));
        let stored = repository.find(&session.id, &agent()).await.expect("find").expect("stored");
        assert_eq!(stored, changed, "the answer is what was committed");
    }
    assert!((1..=2).contains(&commits), "17 changes took {commits} commits, not one or two");

    // A database error among them (a session that exists already): the others are run
    // again alone and apply; the failing one gets its own answer.
    let lock = WriteLock::take(&path.display().to_string());
    let mut waiting = Vec::new();
    for session in &sessions[..8] {
        let (repository, id) = (repository.clone(), session.id.clone());
        waiting.push(tokio::spawn(async move {
            repository.update(&id, &agent(), &remove("ann@example.com"), None, None, at(11)).await.applied()
        }));
    }
    let (again_repository, again) = (repository.clone(), sessions[9].clone());
    let duplicate =
        tokio::spawn(async move { again_repository.insert(&again, &agent(), None).await.applied() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(lock);
    for removal in waiting {
        let changed = removal.await.expect("task").expect("the removal applies");
        assert_eq!(changed.members.len(), 1, "only the original member is left");
    }
    assert_eq!(duplicate.await.expect("task"), Err(RepositoryError::AlreadyExists.into()));
    for session in &sessions[..8] {
        let stored = repository.find(&session.id, &agent()).await.expect("find").expect("stored");
        assert_eq!(stored.members.len(), 1, "the removal was committed");
    }
}
