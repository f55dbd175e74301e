//! The use cases against mocked ports: every outcome of docs/api.md, "Errors", that they decide,
//! and for each refusal, proof that nothing was persisted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use evo_app::SessionService;
use evo_domain::*;
use evo_ports::*;

mod support;
use support::{actor, agent, now};

type Store = Arc<Mutex<HashMap<SessionId, Session>>>;

fn session(id: &str, channel: Channel) -> Session {
    let members = ["+15551234567", "bob@example.com", "+15557654321"]
        .iter()
        .map(|raw| NewMember::new(MemberIdentity::parse(raw).unwrap()))
        .collect();
    let new = NewSession {
        account_id: AccountId::parse("acme").unwrap(),
        channel,
        direction: Direction::Incoming,
        details: SessionDetails::default(),
        members,
    };
    Session::open(SessionId::parse(id).unwrap(), new, &agent(), now()).unwrap()
}

/// A mocked store that behaves like the port promises: `update` applies the domain rule to
/// its copy and keeps the result only when the rule succeeds.
fn store_with(sessions: Vec<Session>) -> (MockSessionRepository, Store) {
    let store: Store = Arc::new(Mutex::new(sessions.into_iter().map(|s| (s.id.clone(), s)).collect()));
    let mut repository = MockSessionRepository::new();
    let shared = store.clone();
    repository.expect_update().returning(move |id, actor, command, if_version, _idempotency, now| {
        let mut sessions = shared.lock().unwrap();
        let Some(mut session) = sessions.get(id).cloned() else {
            return Err(UpdateError::Rejected(SessionError::NotFound));
        };
        session.apply_if(actor, command, if_version.as_ref(), now)?;
        sessions.insert(id.clone(), session.clone());
        Ok(ChangeOutcome::Applied(session))
    });
    let shared = store.clone();
    repository.expect_find().returning(move |id, _| Ok(shared.lock().unwrap().get(id).cloned()));
    let shared = store.clone();
    repository.expect_insert().returning(move |session, _actor, _idempotency| {
        shared.lock().unwrap().insert(session.id.clone(), session.clone());
        Ok(ChangeOutcome::Applied(()))
    });
    (repository, store)
}

fn clock() -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    clock
}

fn ids() -> MockIdGenerator {
    let mut ids = MockIdGenerator::new();
    ids.expect_new_session_id().returning(|| SessionId::parse("new-1").unwrap());
    ids
}

fn service(
    repository: MockSessionRepository,
) -> SessionService<MockSessionRepository, MockTokenVerifier, MockClock, MockIdGenerator> {
    SessionService::new(repository, MockTokenVerifier::new(), clock(), ids())
}

fn change<C>(session_id: &str, command: C) -> Change<C> {
    Change { session_id: SessionId::parse(session_id).unwrap(), command, if_version: None, idempotency: None }
}

fn identity(raw: &str) -> MemberIdentity {
    MemberIdentity::parse(raw).unwrap()
}

fn removal(session_id: &str, member: &str) -> Change<Removal> {
    change(session_id, Removal { identity: identity(member), reason: None })
}

fn delete(session_id: &str, member: &str) -> Parsed<Change<Removal>> {
    Ok(removal(session_id, member))
}

fn end(session_id: &str) -> Parsed<Change<Ending>> {
    Ok(change(session_id, Ending::default()))
}

fn id(raw: &str) -> Parsed<SessionId> {
    Ok(SessionId::parse(raw).unwrap())
}

fn snapshot(store: &Store) -> HashMap<SessionId, Session> {
    store.lock().unwrap().clone()
}

#[tokio::test]
async fn delete_chat_member_removes_and_returns_the_stored_session() {
    let (repository, store) = store_with(vec![session("s-1", Channel::Chat)]);
    let removed = service(repository)
        .delete_chat_member(&agent(), delete("s-1", "BOB@example.com"))
        .await
        .applied()
        .unwrap();
    assert_eq!(removed.members.len(), 2);
    assert_eq!(removed.log.last().unwrap().message, "Ann removed bob@example.com from the chat");
    let id = SessionId::parse("s-1").unwrap();
    assert_eq!(store.lock().unwrap()[&id], removed, "the answer is what was stored");
}

#[tokio::test]
async fn a_change_on_a_version_that_is_not_current_is_refused() {
    let (repository, store) = store_with(vec![session("s-1", Channel::Chat)]);
    let service = service(repository);
    let stale = Ok(Change { if_version: Some(IfVersion(vec![7])), ..removal("s-1", "bob@example.com") });
    let before = snapshot(&store);
    assert_eq!(
        service.delete_chat_member(&agent(), stale).await.applied(),
        Err(ServiceError::Session(SessionError::VersionMismatch { current: 0 }))
    );
    assert_eq!(snapshot(&store), before, "nothing changed");
    let current = Ok(Change { if_version: Some(IfVersion(vec![0])), ..removal("s-1", "bob@example.com") });
    assert_eq!(service.delete_chat_member(&agent(), current).await.applied().unwrap().version, 1);
    let ended = service
        .end_session(
            &agent(),
            Ok(Change { if_version: Some(IfVersion(vec![0])), ..change("s-1", Ending::default()) }),
        )
        .await
        .applied();
    assert_eq!(ended, Err(ServiceError::Session(SessionError::VersionMismatch { current: 1 })));
}

#[tokio::test]
async fn a_removal_reason_reaches_the_log_and_a_member_removing_itself_leaves() {
    let (repository, _) = store_with(vec![session("s-1", Channel::Chat)]);
    let service = service(repository);
    let reason = RemovalReason::parse("left for the day").unwrap();
    let input = Ok(change("s-1", Removal { identity: identity("bob@example.com"), reason }));
    let removed = service.delete_chat_member(&agent(), input).await.applied().unwrap();
    assert_eq!(
        removed.log.last().unwrap().message,
        "Ann removed bob@example.com from the chat: left for the day"
    );

    let dave = Actor { user_id: "Dave@Example.com".into(), name: "Dave".into(), ..agent() };
    let mut dave_d = NewMember::new(identity("dave@example.com"));
    dave_d.display_name = Some("Dave D.".into());
    service.invite_chat_member(&agent(), Ok(change("s-1", dave_d))).await.applied().unwrap();
    let left = service.delete_chat_member(&dave, delete("s-1", "dave@example.com")).await.applied().unwrap();
    assert_eq!(left.log.last().unwrap().message, "Dave D. left the chat");
}

#[tokio::test]
async fn domain_refusals_persist_nothing() {
    let mut ended = session("ended", Channel::Chat);
    ended.end(&agent(), now()).unwrap();
    let mut foreign = session("foreign", Channel::Chat);
    foreign = Session::restore(SessionData {
        account_id: AccountId::parse("globex").unwrap(),
        ..foreign.into_data()
    });
    let sessions = vec![session("chat", Channel::Chat), session("voice", Channel::Voice), ended, foreign];
    let cases = [
        (delete("missing", "bob@example.com"), SessionError::NotFound),
        (delete("foreign", "bob@example.com"), SessionError::NotFound),
        (delete("voice", "bob@example.com"), SessionError::NotAChatSession { channel: Channel::Voice }),
        (delete("ended", "bob@example.com"), SessionError::SessionEnded),
        (
            delete("chat", "dave@example.com"),
            SessionError::MemberNotFound { identity: "dave@example.com".into() },
        ),
        (
            delete("chat", "+1 555 123 4567"),
            SessionError::CannotRemoveOriginalMember { identity: "+15551234567".into() },
        ),
    ];
    for (input, expected) in cases {
        let (repository, store) = store_with(sessions.clone());
        let before = snapshot(&store);
        let result = service(repository).delete_chat_member(&agent(), input.clone()).await.applied();
        assert_eq!(result, Err(ServiceError::Session(expected)), "{input:?}");
        assert_eq!(snapshot(&store), before, "{input:?} persisted something");
    }
}

/// Refusals decided before the store is touched: the store must not even be asked. The edge
/// parsed the fields; the use case checks the role first, then answers their errors.
#[tokio::test]
async fn role_and_field_refusals_never_reach_the_store() {
    fn field_errors(fields: &[&str]) -> Vec<FieldError> {
        fields
            .iter()
            .map(|field| FieldError {
                field: (*field).into(),
                code: "InvalidValue",
                message: "invalid".into(),
            })
            .collect()
    }
    type IsExpected = fn(&ServiceError) -> bool;
    let cases: Vec<(Actor, Parsed<Change<Removal>>, IsExpected)> = vec![
        (actor(&["Viewer"], &["acme"]), delete("s-1", "bob@example.com"), |e| {
            matches!(
                e,
                ServiceError::Session(SessionError::Access(AccessError::MissingRole { role: "User" }))
            )
        }),
        (agent(), Err(field_errors(&["sessionId", "memberToRemove"])), |e| {
            matches!(e, ServiceError::Validation(errors)
                if errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>() == ["sessionId", "memberToRemove"])
        }),
        (
            agent(),
            Err(field_errors(&["Idempotency-Key"])),
            |e| matches!(e, ServiceError::Validation(errors) if errors.len() == 1 && errors[0].field == "Idempotency-Key"),
        ),
        // Role (403) is checked before fields (400), the Idempotency-Key's included.
        (actor(&[], &["acme"]), Err(field_errors(&["sessionId", "memberToRemove"])), |e| {
            matches!(e, ServiceError::Session(SessionError::Access(_)))
        }),
        (actor(&["Viewer"], &["acme"]), Err(field_errors(&["Idempotency-Key"])), |e| {
            matches!(e, ServiceError::Session(SessionError::Access(_)))
        }),
    ];
    for (who, input, expected) in cases {
        let mut repository = MockSessionRepository::new();
        repository.expect_update().never();
        repository.expect_find().never();
        let result = service(repository).delete_chat_member(&who, input.clone()).await.applied();
        let error = result.expect_err("must be refused");
        assert!(expected(&error), "{input:?}: {error:?}");
    }
}

/// Every use case checks the role before the fields.
#[tokio::test]
async fn every_use_case_checks_the_role_before_the_fields() {
    let errors = vec![FieldError { field: "sessionId".into(), code: "NotEmpty", message: "required".into() }];
    let viewer = actor(&["Viewer"], &["acme"]);
    let forbidden = |result: Result<Session, ServiceError>| {
        assert!(matches!(result, Err(ServiceError::Session(SessionError::Access(_)))), "{result:?}")
    };
    let refused = || {
        let mut repository = MockSessionRepository::new();
        repository.expect_update().never();
        repository.expect_find().never();
        repository.expect_insert().never();
        service(repository)
    };
    forbidden(refused().new_session(&viewer, Err(errors.clone())).await.applied());
    forbidden(refused().invite_chat_member(&viewer, Err(errors.clone())).await.applied());
    forbidden(refused().get_session(&viewer, Err(errors.clone())).await);
    forbidden(refused().end_session(&viewer, Err(errors.clone())).await.applied());
    let invalid = Err(ServiceError::Validation(errors.clone()));
    assert_eq!(refused().new_session(&agent(), Err(errors.clone())).await.applied(), invalid);
    assert_eq!(refused().invite_chat_member(&agent(), Err(errors.clone())).await.applied(), invalid);
    assert_eq!(refused().get_session(&agent(), Err(errors.clone())).await, invalid);
    assert_eq!(refused().end_session(&agent(), Err(errors)).await.applied(), invalid);
}

#[tokio::test]
async fn administrators_remove_members_in_any_account() {
    for role in ["Admin", "SystemAdministrator"] {
        let (repository, _) = store_with(vec![session("s-1", Channel::Chat)]);
        let admin = actor(&[role, "User"], &[]);
        let result =
            service(repository).delete_chat_member(&admin, delete("s-1", "bob@example.com")).await.applied();
        assert!(result.is_ok(), "{role}: {result:?}");
    }
}

#[tokio::test]
async fn store_outages_become_unavailable() {
    let mut repository = MockSessionRepository::new();
    repository.expect_update().returning(|_, _, _, _, _, _| {
        Err(UpdateError::Repository(RepositoryError::Unavailable("pool timeout".into())))
    });
    let result =
        service(repository).delete_chat_member(&agent(), delete("s-1", "bob@example.com")).await.applied();
    assert_eq!(result, Err(ServiceError::Repository(RepositoryError::Unavailable("pool timeout".into()))));
}

#[tokio::test]
async fn inviting_adds_once_then_refuses_an_existing_member() {
    let (repository, store) = store_with(vec![session("s-1", Channel::Chat)]);
    let service = service(repository);
    let mut member = NewMember::new(identity("Dave@example.com"));
    member.display_name = Some("Dave".into());
    member.role = Some(MemberRole::Transfer);
    let input = change("s-1", member);
    let invited = service.invite_chat_member(&agent(), Ok(input.clone())).await.applied().unwrap();
    let dave = invited.members.last().unwrap();
    assert_eq!((dave.identity.as_str(), dave.role), ("Dave@example.com", MemberRole::Transfer));
    let before = snapshot(&store);
    let again =
        Change { command: NewMember { identity: identity("dave@EXAMPLE.com"), ..input.command }, ..input };
    let result = service.invite_chat_member(&agent(), Ok(again)).await.applied();
    assert_eq!(
        result,
        Err(ServiceError::Session(SessionError::MemberAlreadyExists { identity: "dave@EXAMPLE.com".into() }))
    );
    assert_eq!(snapshot(&store), before);
}

#[tokio::test]
async fn get_session_hides_other_accounts() {
    let (repository, _) = store_with(vec![session("s-1", Channel::Chat)]);
    let service = service(repository);
    assert_eq!(service.get_session(&agent(), id("s-1")).await.unwrap().id.as_str(), "s-1");
    let stranger = actor(&["User"], &["globex"]);
    assert_eq!(
        service.get_session(&stranger, id("s-1")).await,
        Err(ServiceError::Session(SessionError::NotFound))
    );
    assert_eq!(
        service.get_session(&agent(), id("nope")).await,
        Err(ServiceError::Session(SessionError::NotFound))
    );
}

#[tokio::test]
async fn end_session_ends_once() {
    let (repository, store) = store_with(vec![session("s-1", Channel::Voice)]);
    let service = service(repository);
    let ended = service.end_session(&agent(), end("s-1")).await.applied().unwrap();
    assert!(ended.ended);
    assert_eq!(ended.date_completed, Some(now()));
    let before = snapshot(&store);
    assert_eq!(
        service.end_session(&agent(), end("s-1")).await.applied(),
        Err(ServiceError::Session(SessionError::SessionEnded))
    );
    assert_eq!(snapshot(&store), before);
}

fn new_session_input() -> Parsed<OpenSession> {
    let session = NewSession {
        account_id: AccountId::parse("acme").unwrap(),
        channel: Channel::Chat,
        direction: Direction::Incoming,
        details: SessionDetails { display_name: Some("Support chat".into()), ..SessionDetails::default() },
        members: vec![
            NewMember::new(identity("+1 (555) 123-4567")),
            NewMember::new(identity("bob@example.com")),
        ],
    };
    Ok(OpenSession { session, idempotency: None })
}

#[tokio::test]
async fn new_session_opens_a_chat_and_stores_it() {
    let (repository, store) = store_with(vec![]);
    let created = service(repository).new_session(&agent(), new_session_input()).await.applied().unwrap();
    assert_eq!(created.id.as_str(), "new-1");
    assert_eq!(created.channel, Channel::Chat);
    assert_eq!(created.members[0].identity.as_str(), "+15551234567");
    assert!(created.members[0].is_original_member);
    assert_eq!(store.lock().unwrap().get(&created.id), Some(&created));
}

#[tokio::test]
async fn new_session_in_a_foreign_account_is_forbidden() {
    let mut repository = MockSessionRepository::new();
    repository.expect_insert().never();
    let mut input = new_session_input().unwrap();
    input.session.account_id = AccountId::parse("globex").unwrap();
    let result = service(repository).new_session(&agent(), Ok(input)).await.applied();
    assert!(matches!(
        result,
        Err(ServiceError::Session(SessionError::Access(AccessError::AccountNotAllowed { .. })))
    ));
}

#[tokio::test]
async fn new_session_retries_a_taken_id() {
    let mut repository = MockSessionRepository::new();
    let mut calls = 0;
    repository.expect_insert().times(2).returning(move |_, _, _| {
        calls += 1;
        if calls == 1 {
            Err(UpdateError::Repository(RepositoryError::AlreadyExists))
        } else {
            Ok(ChangeOutcome::Applied(()))
        }
    });
    assert!(service(repository).new_session(&agent(), new_session_input()).await.applied().is_ok());
}

#[tokio::test]
async fn authenticate_delegates_to_the_token_port() {
    let mut tokens = MockTokenVerifier::new();
    tokens.expect_verify().withf(|token| token == "good").returning(|_| Ok(agent()));
    tokens
        .expect_verify()
        .withf(|token| token == "bad")
        .returning(|_| Err(AuthError::InvalidToken("expired".into())));
    let service = SessionService::new(MockSessionRepository::new(), tokens, clock(), ids());
    assert_eq!(service.authenticate("good").await, Ok(agent()));
    assert_eq!(service.authenticate("bad").await, Err(AuthError::InvalidToken("expired".into())));
    assert_eq!(service.authenticate("  ").await, Err(AuthError::MissingToken));
}

#[tokio::test]
async fn readiness_reflects_the_store() {
    let mut repository = MockSessionRepository::new();
    repository.expect_ping().returning(|| Err(RepositoryError::Unavailable("connection refused".into())));
    assert_eq!(
        service(repository).readiness().await,
        Err(ServiceError::Repository(RepositoryError::Unavailable("connection refused".into())))
    );
}

/// Renders nothing: these tests look at what the use case hands the store.
struct NoAnswer;

impl AnswerRenderer for NoAnswer {
    fn render(&self, _: Result<&Session, &SessionError>) -> KeptAnswer {
        KeptAnswer { status: 200, content_type: String::new(), body: Vec::new() }
    }

    fn render_removals(&self, _: &evo_ports::RemovalReport) -> KeptAnswer {
        KeptAnswer { status: 200, content_type: String::new(), body: Vec::new() }
    }
}

fn with_key(key: &str) -> Option<IdempotencyInput> {
    Some(IdempotencyInput { key: key.into(), fingerprint: "digest".into(), renderer: Arc::new(NoAnswer) })
}

#[tokio::test]
async fn a_key_is_scoped_to_the_caller_and_kept_for_the_ttl() {
    let mut repository = MockSessionRepository::new();
    repository
        .expect_update()
        .withf(|_, _, _, _, idempotency, at| {
            idempotency.as_ref().is_some_and(|keyed| {
                keyed.scope == "ann@example.com"
                    && keyed.key == "retry-1"
                    && keyed.fingerprint == "digest"
                    && keyed.expires_at == *at + chrono::Duration::hours(2)
            })
        })
        .times(1)
        .returning(|_, _, _, _, _, _| Err(UpdateError::Keyed(KeyedRefusal::InProgress)));
    let service = SessionService::with_idempotency_ttl(
        repository,
        MockTokenVerifier::new(),
        clock(),
        ids(),
        std::time::Duration::from_secs(7200),
    );
    let input = Ok(Change { idempotency: with_key("retry-1"), ..removal("s-1", "bob@example.com") });
    assert_eq!(
        service.delete_chat_member(&agent(), input).await.applied(),
        Err(ServiceError::Keyed(KeyedRefusal::InProgress))
    );
}

#[tokio::test]
async fn a_replayed_answer_reaches_the_edge_as_it_is() {
    let stored = KeptAnswer { status: 404, content_type: "application/json".into(), body: b"{}".to_vec() };
    let mut repository = MockSessionRepository::new();
    let returned = stored.clone();
    repository
        .expect_update()
        .times(1)
        .returning(move |_, _, _, _, _, _| Ok(ChangeOutcome::Replayed(returned.clone())));
    let input = Ok(Change { idempotency: with_key("k"), ..removal("s-1", "bob@example.com") });
    assert_eq!(
        service(repository).delete_chat_member(&agent(), input).await,
        Ok(ChangeOutcome::Replayed(stored))
    );
}

#[tokio::test]
async fn the_stores_keyed_refusals_reach_the_edge_as_they_are() {
    for refusal in [KeyedRefusal::Reused, KeyedRefusal::InProgress] {
        let mut repository = MockSessionRepository::new();
        let returned = refusal.clone();
        repository
            .expect_update()
            .times(1)
            .returning(move |_, _, _, _, _, _| Err(UpdateError::Keyed(returned.clone())));
        let input = Ok(Change { idempotency: with_key("k"), ..removal("s-1", "bob@example.com") });
        assert_eq!(
            service(repository).delete_chat_member(&agent(), input).await.applied(),
            Err(ServiceError::Keyed(refusal))
        );
    }
}
