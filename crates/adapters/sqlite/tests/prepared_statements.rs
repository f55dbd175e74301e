//! Every statement of a change is kept prepared by its connection: once a connection has
//! made a change, the next change parses no SQL. diesel caches no `UPDATE`, no upsert and
//! no `IN (...)` list (their SQL can vary), and SQLite parsed each of those again on every
//! removal: a tenth of the service's CPU per removal (docs/performance.md).
//!
//! diesel's instrumentation reports each statement as it starts and each one it puts in a
//! connection's cache; it is set for the whole process, so this file holds one test.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use evo_domain::{NewMember, Session, SessionCommand};
use evo_ports::Applied;
use evo_ports::{Idempotency, SessionRepository};
use evo_sqlite::{SqliteConfig, SqliteSessionRepository};
use evo_store_testkit::fixtures::{agent, at, chat, identity};
use support::temp_folder;

/// What the connections reported: the SQL put in a cache, and the SQL started since the
/// last [`Seen::started`] was taken.
#[derive(Default)]
struct Seen {
    cached: HashSet<String>,
    started: Vec<String>,
}

static SEEN: Mutex<Option<Seen>> = Mutex::new(None);

fn record() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let seen = seen.get_or_insert_with(Seen::default);
        match event {
            InstrumentationEvent::CacheQuery { sql, .. } => {
                seen.cached.insert(sql.to_owned());
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                // `debug_query` shows the SQL, then ` -- binds: [...]`.
                let shown = query.to_string();
                seen.started.push(shown.split(" -- binds: ").next().unwrap_or_default().to_owned());
            }
            _ => {}
        }
    }))
}

/// The SQL started since the last call.
fn started() -> Vec<String> {
    let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut seen.get_or_insert_with(Seen::default).started)
}

fn cached() -> HashSet<String> {
    let seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    seen.as_ref().map(|seen| seen.cached.clone()).unwrap_or_default()
}

fn key(name: &str) -> Idempotency {
    Idempotency {
        scope: "agent@example.com".into(),
        key: name.into(),
        fingerprint: format!("request {name}"),
        expires_at: at(3600),
        renderer: Arc::new(evo_store_testkit::cases::EchoAnswer),
    }
}

/// One of each change: a removal, an invite, a keyed removal and an end.
async fn changes(repository: &SqliteSessionRepository, session: &Session, round: &str) {
    let id = &session.id;
    let remove = |raw: &str| SessionCommand::remove(identity(raw));
    repository
        .update(id, &agent(), &remove("bob@example.com"), None, None, at(10))
        .await
        .applied()
        .expect("remove");
    let invite = SessionCommand::InviteMember(NewMember::new(identity("dan@example.com")));
    repository.update(id, &agent(), &invite, None, None, at(11)).await.applied().expect("invite");
    let keyed = Some(key(&format!("{round}-remove")));
    repository
        .update(id, &agent(), &remove("cy@example.com"), None, keyed, at(12))
        .await
        .applied()
        .expect("keyed");
    repository.update(id, &agent(), &SessionCommand::end(), None, None, at(13)).await.applied().expect("end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_first_change_a_connection_parses_no_sql_for_the_next() {
    set_default_instrumentation(record).expect("instrumentation");
    let folder = temp_folder("prepared");
    let repository =
        SqliteSessionRepository::open(SqliteConfig::new(folder.0.join("sessions.db"))).await.expect("open");
    let people = ["+15551234567", "ann@example.com", "bob@example.com", "cy@example.com"];
    let (first, second) = (chat(&people), chat(&people));
    for session in [&first, &second] {
        repository.insert(session, &agent(), None).await.applied().expect("insert");
    }

    changes(&repository, &first, "first").await;
    let _ = started();
    changes(&repository, &second, "second").await;
    let statements = started();

    // Transaction control goes as plain text (sqlite3_exec): a few bytes to parse.
    let control = ["BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"];
    let cached = cached();
    let parsed: Vec<&String> =
        statements.iter().filter(|sql| !control.contains(&sql.as_str()) && !cached.contains(*sql)).collect();
    assert!(
        statements.iter().any(|sql| sql.starts_with("UPDATE") && sql.contains("sessions")),
        "the second round's statements were not seen: {statements:#?}"
    );
    assert!(
        statements.iter().any(|sql| sql.contains("idempotency_keys")),
        "no keyed statement: {statements:#?}"
    );
    assert!(parsed.is_empty(), "statements parsed again on a warm connection: {parsed:#?}");
}
