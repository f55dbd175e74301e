//! A COMMIT whose answer is lost (docs/api.md, "Durability and several instances": no false
//! failure): the store finds
//! out whether it committed before answering.
//!
//! A deferred constraint trigger makes each COMMIT sleep on the server, so the test can cut
//! the connection (through a proxy) while the COMMIT is known to be running: the client has
//! sent it and will never read its answer. The server finishes it regardless.

mod support;

use std::time::Duration;

use diesel::sql_query;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use evo_domain::SessionCommand;
use evo_ports::Applied;
use evo_ports::{RepositoryError, SessionRepository, UpdateError};
use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;
use evo_store_testkit::fixtures::{agent, at, chat, identity};
use support::{Mode, Proxy, server_address, through};

/// How each COMMIT ends on the server once its trigger has slept.
#[derive(Debug, Clone, Copy)]
enum CommitEnds {
    Committed,
    RolledBack,
}

/// Every COMMIT that appended a log entry sleeps `sleep` first, then commits or fails.
async fn slow_commits(admin: &mut AsyncPgConnection, sleep: Duration, ends: CommitEnds) {
    let fail = match ends {
        CommitEnds::Committed => "",
        CommitEnds::RolledBack => "RAISE EXCEPTION 'refused at commit';",
    };
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_sleep({}); {fail} RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON session_log \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
            sleep.as_secs_f64()
        ))
        .await
        .expect("install the slow commit trigger");
}

/// Waits until a backend of the store sleeps in the commit trigger.
async fn until_a_commit_sleeps(admin: &mut AsyncPgConnection) {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    for _ in 0..200 {
        let sleeping: Count = sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event = 'PgSleep'",
        )
        .get_result(admin)
        .await
        .expect("read pg_stat_activity");
        if sleeping.n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no COMMIT reached the trigger");
}

struct Setup {
    session_id: evo_domain::SessionId,
    database: TestDatabase,
    admin: AsyncPgConnection,
    proxy: Proxy,
    repository: PgSessionRepository,
}

async fn setup(ends: CommitEnds) -> Setup {
    let database = TestDatabase::create().await;
    let proxy = Proxy::start(server_address(&database.url)).await;
    let mut config = database.config();
    config.url = through(&database.url, &proxy.address);
    config.wait_timeout = Duration::from_millis(300);
    config.create_timeout = Duration::from_millis(300);
    config.statement_timeout = Duration::from_secs(2);
    let repository = PgSessionRepository::connect(config).await.expect("connect through the proxy");
    let mut admin = AsyncPgConnection::establish(&database.url).await.expect("admin connection");
    // The session is stored before the trigger exists.
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    repository.insert(&session, &evo_store_testkit::fixtures::agent(), None).await.applied().expect("insert");
    slow_commits(&mut admin, Duration::from_millis(600), ends).await;
    Setup { session_id: session.id.clone(), database, admin, proxy, repository }
}

fn remove_bob() -> SessionCommand {
    SessionCommand::remove(identity("bob@example.com"))
}

/// Runs the removal, cuts the proxy once its COMMIT runs on the server, and restores the proxy
/// `restore_after` later; returns the store's answer.
async fn removal_with_lost_commit_answer(
    setup: &mut Setup,
    restore_after: Duration,
) -> Result<evo_domain::Session, UpdateError> {
    let session_id = setup.session_id.clone();
    let repository = setup.repository.clone();
    let removal = tokio::spawn(async move {
        repository.update(&session_id, &agent(), &remove_bob(), None, None, at(5)).await.applied()
    });
    until_a_commit_sleeps(&mut setup.admin).await;
    setup.proxy.set(Mode::Cut);
    tokio::time::sleep(restore_after).await;
    setup.proxy.set(Mode::Forward);
    removal.await.expect("the removal task")
}

async fn members_now(setup: &Setup) -> usize {
    let direct = PgSessionRepository::connect(setup.database.config()).await.expect("direct connection");
    direct.find(&setup.session_id, &agent()).await.expect("find").expect("the session").members.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_change_whose_answer_was_lost_answers_the_changed_session() {
    let mut setup = setup(CommitEnds::Committed).await;
    let answered = removal_with_lost_commit_answer(&mut setup, Duration::from_millis(300)).await;
    let session = answered.expect("the COMMIT went through, so the change succeeds");
    assert_eq!(session.members.len(), 2);
    assert_eq!(
        session.log.last().map(|e| e.message.as_str()),
        Some("Agent Smith removed bob@example.com from the chat")
    );
    assert_eq!(members_now(&setup).await, 2, "and it is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolled_back_change_whose_answer_was_lost_is_unavailable_and_changed_nothing() {
    let mut setup = setup(CommitEnds::RolledBack).await;
    let answered = removal_with_lost_commit_answer(&mut setup, Duration::from_millis(300)).await;
    assert!(
        matches!(answered, Err(UpdateError::Repository(RepositoryError::Unavailable(_)))),
        "{answered:?}"
    );
    assert_eq!(members_now(&setup).await, 3, "Unavailable means nothing was applied");
}

/// Answers as plain text naming the session's version, for the keyed retry below.
struct VersionAnswer;

impl evo_ports::AnswerRenderer for VersionAnswer {
    fn render(
        &self,
        outcome: Result<&evo_domain::Session, &evo_domain::SessionError>,
    ) -> evo_ports::KeptAnswer {
        let body = match outcome {
            Ok(session) => format!("v{}", session.version),
            Err(refusal) => refusal.to_string(),
        };
        evo_ports::KeptAnswer { status: 200, content_type: "text/plain".into(), body: body.into_bytes() }
    }

    fn render_removals(&self, report: &evo_ports::RemovalReport) -> evo_ports::KeptAnswer {
        let body = format!("{} removed", report.removed());
        evo_ports::KeptAnswer { status: 200, content_type: "text/plain".into(), body: body.into_bytes() }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_an_unknown_outcome_a_retry_with_the_same_key_gets_the_real_one() {
    let mut setup = setup(CommitEnds::Committed).await;
    let key = evo_ports::Idempotency {
        scope: "agent@example.com".into(),
        key: "retry-after-unknown".into(),
        fingerprint: "remove bob".into(),
        expires_at: at(3600),
        renderer: std::sync::Arc::new(VersionAnswer),
    };
    let (session_id, repository) = (setup.session_id.clone(), setup.repository.clone());
    let keyed = key.clone();
    let removal = tokio::spawn(async move {
        repository.update(&session_id, &agent(), &remove_bob(), None, Some(keyed), at(5)).await.applied()
    });
    until_a_commit_sleeps(&mut setup.admin).await;
    setup.proxy.set(Mode::Cut);
    tokio::time::sleep(Duration::from_secs(7)).await;
    setup.proxy.set(Mode::Forward);
    let first = removal.await.expect("the removal task");
    assert!(matches!(first, Err(UpdateError::Repository(RepositoryError::OutcomeUnknown(_)))), "{first:?}");
    // The client retries with the same key: it learns the committed outcome, not a 404.
    let retry =
        setup.repository.update(&setup.session_id, &agent(), &remove_bob(), None, Some(key), at(6)).await;
    match retry {
        Ok(evo_ports::ChangeOutcome::Replayed(answer)) => assert_eq!(answer.body, b"v1"),
        other => panic!("expected the stored answer, got {other:?}"),
    }
    assert_eq!(members_now(&setup).await, 2, "removed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_no_connection_can_tell_the_outcome_is_unknown() {
    let mut setup = setup(CommitEnds::Committed).await;
    // Cut for longer than the store's query deadline (2 × 2 s + 1 s): nobody can ask.
    let answered = removal_with_lost_commit_answer(&mut setup, Duration::from_secs(7)).await;
    assert!(
        matches!(answered, Err(UpdateError::Repository(RepositoryError::OutcomeUnknown(_)))),
        "{answered:?}"
    );
    assert_eq!(members_now(&setup).await, 2, "it had in fact committed: the reason for OutcomeUnknown");
}
