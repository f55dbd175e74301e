//! The migration that makes every key lead with `account_id` (a rebuild of every table in
//! SQLite) keeps the data written under the schema before it: rows inserted with the first
//! migrations' columns only read back, change and replay through the store afterwards; and
//! its down.sql takes them back to the old schema without a loss.

mod support;

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_migrations::MigrationHarness;
use evo_domain::{AccountId, Actor, NewMember, SessionCommand, SessionError, SessionId};
use evo_ports::Applied;
use evo_ports::{Idempotency, SessionRepository, UpdateError};
use evo_sqlite::{MIGRATIONS, SqliteConfig, SqliteSessionRepository};
use evo_store_testkit::fixtures::{agent, at, identity};
use support::temp_folder;

/// Rows as the store wrote them before `2026-12-01-000002`: two accounts, the members of the
/// two sessions interleaved (positions were global row IDs), a log, and a kept answer.
const OLD_ROWS: &str = r#"
INSERT INTO sessions (id, account_id, channel, direction, dial_state, call_state, queue_state,
                      hold_reason, ended, was_missed, customer_breadcrumb, customer_name,
                      display_name, date_created, created_by, date_last_modified, last_modified_by,
                      version)
VALUES ('old-acme', 'acme', 'Chat', 'Incoming', 'None', 'Connected', 'None', 'None', 0, 0,
        '[{"id":"c1","name":"Ann"}]', 'Customer Ann', 'Old chat', '2026-11-30 10:00:00.123+00:00',
        'agent@example.com', '2026-11-30 10:05:00.456+00:00', 'agent@example.com', 2),
       ('old-globex', 'globex', 'Chat', 'Incoming', 'None', 'Connected', 'None', 'None', 0, 0,
        '[]', NULL, NULL, '2026-11-30 11:00:00.000+00:00', 'cy@example.com',
        '2026-11-30 11:00:00.000+00:00', 'cy@example.com', 0);
INSERT INTO session_members (session_id, identity, identity_key, display_name, is_original_member,
                             application_data, call_state, role, muted)
VALUES ('old-acme', '+15551234567', '+15551234567', 'Customer Ann', 1, '{}', 'Connected', 'Caller', 0),
       ('old-globex', '+15557654321', '+15557654321', NULL, 1, '{}', 'Connected', 'Caller', 0),
       ('old-acme', 'Ann@Example.com', 'ann@example.com', 'Ann', 0, '{"desk":"7"}', 'Connected', 'Agent', 1),
       ('old-globex', 'cy@example.com', 'cy@example.com', NULL, 0, '{}', 'Connected', 'Agent', 0),
       ('old-acme', 'bob@example.com', 'bob@example.com', NULL, 0, '{}', 'Connected', 'Agent', 0);
INSERT INTO session_log (session_id, date, message)
VALUES ('old-acme', '2026-11-30 10:00:00.123+00:00', 'Agent Smith started the session'),
       ('old-globex', '2026-11-30 11:00:00.000+00:00', 'Cy started the session'),
       ('old-acme', '2026-11-30 10:05:00.456+00:00', 'Agent Smith invited bob@example.com');
INSERT INTO idempotency_keys (scope, key, fingerprint, status, content_type, body, expires_at)
VALUES ('agent@example.com', 'old-key', 'remove bob', 200, 'text/plain', CAST('the old answer' AS BLOB),
        '2999-01-01 00:00:00.000+00:00');
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

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(connection: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(connection).expect(sql).n
}

fn connect(path: &std::path::Path) -> SqliteConnection {
    let mut connection = SqliteConnection::establish(&path.display().to_string()).expect("connect");
    // busy_timeout: a dropped store's writer connection closes just after its last answer.
    connection.batch_execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;").expect("pragmas");
    connection
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_keys_migration_keeps_existing_data() {
    let folder = temp_folder("migrations");
    std::fs::create_dir_all(&folder.0).expect("folder");
    let path = folder.0.join("sessions.db");
    {
        let mut connection = connect(&path);
        for _ in 0..2 {
            connection.run_next_migration(MIGRATIONS).expect("an old migration");
        }
        assert_eq!(connection.applied_migrations().expect("applied").len(), 2);
        connection.batch_execute(OLD_ROWS).expect("rows in the old schema");
    }

    let repository = SqliteSessionRepository::open(SqliteConfig::new(&path)).await.expect("open and migrate");
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

    assert_eq!(repository.find(&id("old-globex"), &agent()).await.expect("find"), None);
    let globex = repository.find(&id("old-globex"), &globex_user()).await.expect("find").expect("globex");
    assert_eq!((globex.members.len(), globex.log.len()), (2, 1), "each child row kept its session's account");
    assert_eq!(repository.find(&id("old-globex"), &admin()).await.expect("find"), Some(globex.clone()));

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
    assert_eq!(members, ["+15551234567", "Ann@Example.com", "dee@example.com"], "after the old members");
    assert_eq!(invited.log.len(), 4);
    let again = repository.update(&acme.id, &agent(), &invite, None, None, at(40)).await.applied();
    assert!(
        matches!(again, Err(UpdateError::Rejected(SessionError::MemberAlreadyExists { .. }))),
        "{again:?}"
    );
    drop(repository);

    {
        let mut connection = connect(&path);
        // The later migrations first (the outbox...), then the account keys.
        while connection.revert_last_migration(MIGRATIONS).expect("down.sql").to_string() != "20261201000002"
        {
        }
        assert_eq!(count(&mut connection, "SELECT count(*) AS n FROM session_members"), 5);
        assert_eq!(count(&mut connection, "SELECT count(*) AS n FROM session_log"), 5);
        assert_eq!(count(&mut connection, "SELECT count(*) AS n FROM idempotency_keys"), 1);
        let columns =
            "SELECT count(*) AS n FROM pragma_table_info('session_members') WHERE name = 'account_id'";
        assert_eq!(count(&mut connection, columns), 0, "the old schema");
    }
    let repository = SqliteSessionRepository::open(SqliteConfig::new(&path)).await.expect("up again");
    assert_eq!(repository.find(&acme.id, &agent()).await.expect("find"), Some(invited));
    assert_eq!(repository.find(&globex.id, &admin()).await.expect("find"), Some(globex));
}
