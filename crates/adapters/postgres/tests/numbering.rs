//! Event numbers (docs/api.md, "The event body"): a change made alone numbers its own event in its own
//! transaction, never ahead of an earlier event of its session, and under concurrency every
//! event still gets one number, in its session's order.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use evo_domain::{Session, SessionCommand};
use evo_ports::Applied;
use evo_ports::SessionRepository;
use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;
use evo_store_testkit::fixtures::{agent, at, chat, identity};

#[derive(QueryableByName, Debug)]
struct Numbered {
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    /// Whether the event row was written by the transaction that wrote the log entry of the
    /// same change (and never rewritten since: the sequencer's numbering rewrites it).
    #[diesel(sql_type = Bool)]
    written_with_its_change: bool,
}

/// The session's events in insert order, each with its number and whether its row is the
/// one its change wrote (its log entry, the same change's, shares its transaction).
async fn events_of(connection: &mut AsyncPgConnection, session_id: &str) -> Vec<Numbered> {
    diesel::sql_query(
        "SELECT e.event_type, e.id, e.xmin::text = l.xmin::text AS written_with_its_change \
         FROM session_events e \
         JOIN LATERAL (SELECT xmin FROM session_log l WHERE l.session_id = e.session_id \
                       ORDER BY abs(extract(epoch FROM l.date - e.created_at)), l.seq LIMIT 1) l ON true \
         WHERE e.session_id = $1 ORDER BY e.seq",
    )
    .bind::<Text, _>(session_id)
    .load(connection)
    .await
    .expect("read the session's events")
}

/// Waits until every event of the session has its number.
async fn all_numbered(connection: &mut AsyncPgConnection, session_id: &str) -> Vec<Numbered> {
    for _ in 0..100 {
        let events = events_of(connection, session_id).await;
        if events.iter().all(|e| e.id.is_some()) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "events of {session_id} still unnumbered after 5 s: {:?}",
        events_of(connection, session_id).await
    );
}

/// A fresh database with one Chat session (Ann and Bob) whose `SessionCreated` is numbered,
/// the store, and a connection for checks.
async fn numbered_session() -> (TestDatabase, PgSessionRepository, AsyncPgConnection, Session) {
    let database = TestDatabase::create().await;
    let repository = PgSessionRepository::connect(database.config()).await.expect("connect");
    let mut sql = AsyncPgConnection::establish(&database.url).await.expect("connect for checks");
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    repository.insert(&session, &agent(), None).await.applied().expect("insert");
    all_numbered(&mut sql, session.id.as_str()).await;
    (database, repository, sql, session)
}

fn remove(who: &str) -> SessionCommand {
    SessionCommand::remove(identity(who))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_alone_numbers_its_event_in_its_own_transaction() {
    let (_database, repository, mut sql, session) = numbered_session().await;

    repository
        .update(&session.id, &agent(), &remove("bob@example.com"), None, None, at(5))
        .await
        .applied()
        .expect("remove");

    // Read at once: the number came with the change's own commit, in the row it inserted.
    let events = events_of(&mut sql, session.id.as_str()).await;
    let removal = events.last().expect("the removal's event");
    assert_eq!(removal.event_type, "ChatMemberRemoved");
    assert!(removal.id.is_some(), "numbered by its own commit: {events:?}");
    assert!(removal.written_with_its_change, "never rewritten by the sequencer: {events:?}");
    assert!(removal.id > events[0].id, "after the session's creation: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_never_takes_a_number_ahead_of_an_earlier_one_of_its_session() {
    let (_database, repository, mut sql, session) = numbered_session().await;

    // An earlier event of the session still waits for its number, as one does when its
    // change found the numbering lock taken. (Written here, so that no one is told to
    // number it: only the sequencer's poll, up to 200 ms away, could.)
    sql.batch_execute(&format!(
        "INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, \
         pending_since, next_attempt_at) SELECT account_id, id, 'ChatMemberAdded', '{{}}', now(), 0, now(), now() \
         FROM sessions WHERE id = '{}'",
        session.id.as_str()
    ))
    .await
    .expect("an earlier event, unnumbered");

    // The lock is free, but the change must not number its own event ahead of that one.
    repository
        .update(&session.id, &agent(), &remove("bob@example.com"), None, None, at(5))
        .await
        .applied()
        .expect("remove");
    let events = all_numbered(&mut sql, session.id.as_str()).await;
    let numbers: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "numbers follow the session's order: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_give_every_event_one_number_in_its_sessions_order() {
    let database = TestDatabase::create().await;
    let repository = PgSessionRepository::connect(database.config()).await.expect("connect");
    let mut sql = AsyncPgConnection::establish(&database.url).await.expect("connect for checks");
    let others = ["a1@example.com", "a2@example.com", "a3@example.com", "a4@example.com"];
    let mut sessions = Vec::new();
    for _ in 0..12 {
        let mut members = vec!["+15551234567"];
        members.extend(others);
        let session = chat(&members);
        repository.insert(&session, &agent(), None).await.applied().expect("insert");
        sessions.push(session);
    }
    // Every session loses its members one after another, all sessions at once: some changes
    // find the lock free and number their own event, the others leave it to the sequencer.
    let tasks: Vec<_> = sessions
        .iter()
        .map(|session| {
            let (repository, id) = (repository.clone(), session.id.clone());
            tokio::spawn(async move {
                for (n, who) in others.iter().enumerate() {
                    let when = at(10 + n as i64);
                    repository
                        .update(&id, &agent(), &remove(who), None, None, when)
                        .await
                        .applied()
                        .expect("remove");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a session's removals");
    }
    let mut all = Vec::new();
    for session in &sessions {
        let events = all_numbered(&mut sql, session.id.as_str()).await;
        assert_eq!(events.len(), 1 + others.len(), "{events:?}");
        let numbers: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in the session's order: {events:?}");
        all.extend(numbers);
    }
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "every number given once");
}
