//! The migration that makes every key lead with `account_id` keeps the data written under
//! the schema before it: rows inserted with the first migrations' columns only (as the
//! store wrote them then) read back, change and replay through the repository afterwards;
//! and its down.sql takes them back to the old schema without a loss.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;
use evo_domain::{AccountId, Actor, NewMember, SessionCommand, SessionError, SessionId};
use evo_ports::Applied;
use evo_ports::{Idempotency, SessionRepository, UpdateError};
use evo_postgres::test_support::TestDatabase;
use evo_postgres::{MIGRATIONS, PgSessionRepository, run_migrations};
use evo_store_testkit::fixtures::{agent, at, identity};

type Blocking = AsyncConnectionWrapper<AsyncPgConnection>;

/// Rows as the store wrote them before `2026-12-01-000002`: two accounts, the members of
/// the two sessions interleaved (positions are global), a log, and a kept answer.
const OLD_ROWS: &str = r#"
INSERT INTO sessions (id, account_id, channel, direction, dial_state, call_state, queue_state,
                      hold_reason, ended, was_missed, customer_breadcrumb, customer_name,
                      display_name, date_created, created_by, date_last_modified, last_modified_by,
                      version)
VALUES ('old-acme', 'acme', 'Chat', 'Incoming', 'None', 'Connected', 'None', 'None', false, false,
        '[{"id": "c1", "name": "Ann"}]', 'Customer Ann', 'Old chat', '2026-11-30 10:00:00.123+00',
        'agent@example.com', '2026-11-30 10:05:00.456+00', 'agent@example.com', 2),
       ('old-globex', 'globex', 'Chat', 'Incoming', 'None', 'Connected', 'None', 'None', false,
        false, '[]', NULL, NULL, '2026-11-30 11:00:00+00', 'cy@example.com',
        '2026-11-30 11:00:00+00', 'cy@example.com', 0);
INSERT INTO session_members (session_id, identity, identity_key, display_name, is_original_member,
                             application_data, call_state, role, muted)
VALUES ('old-acme', '+15551234567', '+15551234567', 'Customer Ann', true, '{}', 'Connected', 'Caller', false),
       ('old-globex', '+15557654321', '+15557654321', NULL, true, '{}', 'Connected', 'Caller', false),
       ('old-acme', 'Ann@Example.com', 'ann@example.com', 'Ann', false, '{"desk": "7"}', 'Connected', 'Agent', true),
       ('old-globex', 'cy@example.com', 'cy@example.com', NULL, false, '{}', 'Connected', 'Agent', false),
       ('old-acme', 'bob@example.com', 'bob@example.com', NULL, false, '{}', 'Connected', 'Agent', false);
INSERT INTO session_log (session_id, date, message)
VALUES ('old-acme', '2026-11-30 10:00:00.123+00', 'Agent Smith started the session'),
       ('old-globex', '2026-11-30 11:00:00+00', 'Cy started the session'),
       ('old-acme', '2026-11-30 10:05:00.456+00', 'Agent Smith invited bob@example.com');
INSERT INTO idempotency_keys (scope, key, fingerprint, status, content_type, body, expires_at)
VALUES ('agent@example.com', 'old-key', 'remove bob', 200, 'text/plain', 'the old answer', '2999-01-01 00:00:00+00');
"#;

fn admin() -> Actor {
    Actor {
        user_id: "root@example.com".into(),
        name: "Root".into(),
        roles: vec!["Admin".into()],
        account_ids: Vec::new(),
    }
}

fn globex_user() -> Actor {
    Actor { account_ids: vec![AccountId::parse("globex").expect("valid account")], ..agent() }
}

fn id(raw: &str) -> SessionId {
    SessionId::parse(raw).expect("valid session ID")
}

/// Runs `work` on a blocking connection to `url` (diesel's migration harness is synchronous).
async fn blocking<T: Send + 'static>(url: &str, work: impl FnOnce(&mut Blocking) -> T + Send + 'static) -> T {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut connection = Blocking::establish(&url).expect("connect");
        work(&mut connection)
    })
    .await
    .expect("the blocking task")
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(connection: &mut Blocking, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(connection).expect(sql).n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_keys_migration_keeps_existing_data() {
    let database = TestDatabase::create_empty().await;
    // The schema as it was: the two migrations before the account keys, then rows in it.
    blocking(&database.url, |connection| {
        for _ in 0..2 {
            connection.run_next_migration(MIGRATIONS).expect("an old migration");
        }
        let applied = connection.applied_migrations().expect("applied");
        assert_eq!(applied.len(), 2, "{applied:?}");
        connection.batch_execute(OLD_ROWS).expect("rows in the old schema");
    })
    .await;

    run_migrations(&database.config()).await.expect("the remaining migrations");
    let repository = PgSessionRepository::connect(database.config()).await.expect("connect");

    let acme = repository.find(&id("old-acme"), &agent()).await.expect("find").expect("the acme session");
    assert_eq!(acme.account_id.as_str(), "acme");
    let members: Vec<&str> = acme.members.iter().map(|m| m.identity.as_str()).collect();
    assert_eq!(members, ["+15551234567", "Ann@Example.com", "bob@example.com"], "join order kept");
    assert!(acme.members[1].muted);
    assert_eq!(acme.members[1].application_data.get("desk").map(String::as_str), Some("7"));
    let log: Vec<&str> = acme.log.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(log, ["Agent Smith started the session", "Agent Smith invited bob@example.com"]);
    assert_eq!(acme.version, 2);
    assert_eq!(acme.details.customer_breadcrumb.len(), 1);
    assert_eq!(acme.details.display_name.as_deref(), Some("Old chat"));

    // Each child row went with its session's account.
    assert_eq!(repository.find(&id("old-globex"), &agent()).await.expect("find"), None);
    let globex = repository.find(&id("old-globex"), &globex_user()).await.expect("find").expect("globex");
    assert_eq!(globex.members.len(), 2);
    assert_eq!(globex.log.len(), 1);
    assert_eq!(repository.find(&id("old-globex"), &admin()).await.expect("find"), Some(globex.clone()));

    // An answer kept before the migration is still replayed.
    let old_key = Idempotency {
        scope: "agent@example.com".into(),
        key: "old-key".into(),
        fingerprint: "remove bob".into(),
        expires_at: at(3600),
        renderer: std::sync::Arc::new(evo_store_testkit::cases::EchoAnswer),
    };
    let remove_bob = SessionCommand::remove(identity("bob@example.com"));
    let replayed = repository.update(&acme.id, &agent(), &remove_bob, None, Some(old_key), at(10)).await;
    match replayed {
        Ok(evo_ports::ChangeOutcome::Replayed(answer)) => assert_eq!(answer.body, b"the old answer"),
        other => panic!("expected the old answer replayed, got {other:?}"),
    }

    // Migrated rows change like new ones; new members and log entries go after the old.
    let removed = repository
        .update(&acme.id, &agent(), &remove_bob, None, None, at(20))
        .await
        .applied()
        .expect("remove");
    assert_eq!(removed.version, 3);
    let invite = SessionCommand::InviteMember(NewMember::new(identity("dee@example.com")));
    let invited =
        repository.update(&acme.id, &agent(), &invite, None, None, at(30)).await.applied().expect("invite");
    let members: Vec<&str> = invited.members.iter().map(|m| m.identity.as_str()).collect();
    assert_eq!(members, ["+15551234567", "Ann@Example.com", "dee@example.com"]);
    assert_eq!(invited.log.len(), 4);
    let again = repository.update(&acme.id, &agent(), &invite, None, None, at(40)).await.applied();
    assert!(
        matches!(again, Err(UpdateError::Rejected(SessionError::MemberAlreadyExists { .. }))),
        "{again:?}"
    );
    assert_eq!(repository.find(&acme.id, &agent()).await.expect("find"), Some(invited.clone()));

    // down.sql: back to the old keys with every row, then up again: the same sessions.
    drop(repository);
    blocking(&database.url, |connection| {
        // The later migrations first (the outbox...), then the account keys.
        while !connection.revert_last_migration(MIGRATIONS).expect("down.sql").to_string().ends_with("000002")
        {
        }
        assert_eq!(count(connection, "SELECT count(*) AS n FROM session_members"), 5);
        assert_eq!(count(connection, "SELECT count(*) AS n FROM session_log"), 5);
        assert_eq!(count(connection, "SELECT count(*) AS n FROM idempotency_keys"), 1);
        let old_columns = "SELECT count(*) AS n FROM information_schema.columns \
                           WHERE table_name IN ('session_members', 'session_log', 'idempotency_keys') \
                           AND column_name = 'account_id'";
        assert_eq!(count(connection, old_columns), 0, "the old schema has no account_id in those");
    })
    .await;
    run_migrations(&database.config()).await.expect("up again");
    let repository = PgSessionRepository::connect(database.config()).await.expect("connect");
    assert_eq!(repository.find(&acme.id, &agent()).await.expect("find"), Some(invited));
    assert_eq!(repository.find(&globex.id, &admin()).await.expect("find"), Some(globex));
    drop(repository);
    database.drop_database().await;
}
