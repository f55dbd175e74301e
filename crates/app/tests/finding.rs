//! Finding and steering sessions against mocked ports (docs/api.md, "ListSessions",
//! "GetActiveSessions and GetMySessions", "PatchSession", "RemoveChatMemberFromActiveSessions"):
//! who may ask, which accounts are searched, and how a removal from every active chat goes.

use std::sync::{Arc, Mutex};

use evo_app::SessionService;
use evo_domain::*;
use evo_ports::queries::MAX_ACTIVE;
use evo_ports::*;

mod support;
use support::{actor, agent, now};

type Service = SessionService<MockSessionRepository, MockTokenVerifier, MockClock, MockIdGenerator>;

fn service(repository: MockSessionRepository) -> Service {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    SessionService::new(repository, MockTokenVerifier::new(), clock, MockIdGenerator::new())
}

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn identity(raw: &str) -> MemberIdentity {
    MemberIdentity::parse(raw).unwrap()
}

/// A chat of acme, `id`, whose members are `members` (the first the original member).
fn chat(id: &str, members: &[&str]) -> Session {
    let new = NewSession {
        account_id: account("acme"),
        channel: Channel::Chat,
        direction: Direction::Incoming,
        details: SessionDetails::default(),
        members: members.iter().map(|raw| NewMember::new(identity(raw))).collect(),
    };
    Session::open(SessionId::parse(id).unwrap(), new, &agent(), now()).unwrap()
}

fn empty_page() -> SessionPage {
    SessionPage { sessions: Vec::new(), total_count: Some(0), has_more: false }
}

fn list(account_ids: &[&str]) -> Parsed<ListSessions> {
    let filter =
        SessionFilter { account_ids: account_ids.iter().map(|a| account(a)).collect(), ..Default::default() };
    Ok(ListSessions { filter, paging: Paging::default() })
}

#[tokio::test]
async fn a_list_searches_the_callers_accounts_narrowed_and_needs_no_role() {
    let searched = Arc::new(Mutex::new(Vec::new()));
    let mut repository = MockSessionRepository::new();
    let seen = searched.clone();
    repository.expect_search().returning(move |search| {
        seen.lock().unwrap().push(search.accounts.clone());
        Ok(SessionPage {
            sessions: vec![chat("s-1", &["+15551234567"])],
            total_count: Some(1),
            has_more: false,
        })
    });
    let service = service(repository);
    let roleless = actor(&[], &["acme", "globex"]);

    let page = service.list_sessions(&roleless, list(&[])).await.unwrap();
    assert_eq!(page.sessions.len(), 1, "any authenticated caller");
    service.list_sessions(&roleless, list(&["globex", "initech"])).await.unwrap();
    service.list_sessions(&actor(&["Admin"], &[]), list(&[])).await.unwrap();
    service.list_sessions(&actor(&["SystemAdministrator"], &[]), list(&["initech"])).await.unwrap();
    assert_eq!(
        *searched.lock().unwrap(),
        [
            AccountScope::Only(vec![account("acme"), account("globex")]),
            AccountScope::Only(vec![account("globex")]),
            AccountScope::All,
            AccountScope::Only(vec![account("initech")]),
        ]
    );
}

#[tokio::test]
async fn a_list_that_can_find_nothing_does_not_ask_the_store() {
    let service = service(MockSessionRepository::new());
    let page = service.list_sessions(&agent(), list(&["globex"])).await.unwrap();
    assert_eq!(page, empty_page(), "an account the caller does not see: nothing, and no word of it");
    let mut parent = list(&[]).unwrap();
    parent.filter.parent_session_id = Some("p-1".into());
    assert_eq!(service.list_sessions(&agent(), Ok(parent)).await.unwrap(), empty_page());
    let invalid =
        vec![FieldError { field: "countPerPage".into(), code: "InvalidValue", message: "no".into() }];
    assert_eq!(
        service.list_sessions(&actor(&[], &[]), Err(invalid.clone())).await,
        Err(ServiceError::Validation(invalid))
    );
}

#[tokio::test]
async fn active_sessions_are_the_callers_own_and_need_the_user_role() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut repository = MockSessionRepository::new();
    let seen = asked.clone();
    repository.expect_sessions_with_member().returning(move |query| {
        seen.lock().unwrap().push(query.clone());
        Ok(vec![chat("s-1", &["+15551234567", "ann@example.com"])])
    });
    let service = service(repository);
    assert_eq!(service.active_sessions(&agent()).await.unwrap().len(), 1);
    assert_eq!(
        *asked.lock().unwrap(),
        [MemberSessions {
            accounts: AccountScope::Only(vec![account("acme")]),
            identity: identity("ann@example.com"),
            channel: None,
            limit: MAX_ACTIVE,
        }]
    );
    let refused = service.active_sessions(&actor(&[], &["acme"])).await;
    assert!(matches!(refused, Err(ServiceError::Session(SessionError::Access(_)))), "{refused:?}");
    let mut service_account = agent();
    service_account.user_id = "svc-reporting".into();
    assert_eq!(
        service.active_sessions(&service_account).await,
        Ok(Vec::new()),
        "no identity: a member of nothing"
    );
    assert_eq!(asked.lock().unwrap().len(), 1, "neither asked the store");
}

/// A mocked store that applies each change to its copy, recording the order of calls.
fn applying_store(sessions: Vec<Session>, calls: Arc<Mutex<Vec<String>>>) -> MockSessionRepository {
    let store = Arc::new(Mutex::new(sessions));
    let mut repository = MockSessionRepository::new();
    let (shared, log) = (store.clone(), calls.clone());
    repository.expect_update().returning(move |id, actor, command, if_version, idempotency, now| {
        assert!(idempotency.is_none(), "each removal of the batch is unkeyed");
        log.lock().unwrap().push(format!("update {id}"));
        let mut sessions = shared.lock().unwrap();
        let session =
            sessions.iter_mut().find(|s| &s.id == id).ok_or(UpdateError::Rejected(SessionError::NotFound))?;
        let mut changed = session.clone();
        changed.apply_if(actor, command, if_version.as_ref(), now)?;
        *session = changed.clone();
        Ok(ChangeOutcome::Applied(changed))
    });
    let (shared, log) = (store, calls);
    repository.expect_sessions_with_member().returning(move |query| {
        log.lock().unwrap().push(format!("search {} {:?} {}", query.identity, query.channel, query.limit));
        let sessions = shared.lock().unwrap();
        Ok(sessions
            .iter()
            .filter(|s| s.members.iter().any(|m| m.identity == query.identity))
            .cloned()
            .collect())
    });
    repository
}

fn leave_all(member: &str, idempotency: Option<IdempotencyInput>) -> Parsed<RemovalsOfMember> {
    Ok(RemovalsOfMember {
        identity: identity(member),
        reason: RemovalReason::parse("logged out").unwrap(),
        account_ids: Vec::new(),
        idempotency,
    })
}

#[tokio::test]
async fn leaving_every_active_chat_goes_one_session_at_a_time_and_reports_each() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let newer = chat("s-2", &["bob@example.com", "+15551234567"]);
    let older = chat("s-1", &["+15551234567", "bob@example.com"]);
    let service = service(applying_store(vec![newer, older], calls.clone()));
    let outcome = service.remove_from_active_sessions(&agent(), leave_all("bob@example.com", None)).await;
    let ChangeOutcome::Applied(report) = outcome.unwrap() else { panic!("not keyed: nothing to replay") };
    assert_eq!(
        report.results,
        [
            SessionRemoval {
                session_id: SessionId::parse("s-2").unwrap(),
                outcome: Err(ServiceError::Session(SessionError::CannotRemoveOriginalMember {
                    identity: "bob@example.com".into()
                })),
            },
            SessionRemoval { session_id: SessionId::parse("s-1").unwrap(), outcome: Ok(()) },
        ]
    );
    assert_eq!((report.removed(), report.has_more), (1, false));
    assert_eq!(
        *calls.lock().unwrap(),
        ["search bob@example.com Some(Chat) 1001", "update s-2", "update s-1"]
    );
    let refused =
        service.remove_from_active_sessions(&actor(&[], &["acme"]), leave_all("bob@example.com", None)).await;
    assert!(
        matches!(refused, Err(ServiceError::Session(SessionError::Access(_)))),
        "the User role: {refused:?}"
    );
}

#[tokio::test]
async fn leaving_more_chats_than_a_request_holds_says_more_remain() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let sessions: Vec<Session> =
        (0..=MAX_ACTIVE).map(|i| chat(&format!("s-{i}"), &["+15551234567", "bob@example.com"])).collect();
    let service = service(applying_store(sessions, calls.clone()));
    let Ok(ChangeOutcome::Applied(report)) =
        service.remove_from_active_sessions(&agent(), leave_all("bob@example.com", None)).await
    else {
        panic!("a report")
    };
    assert_eq!((report.removed(), report.has_more), (MAX_ACTIVE as usize, true));
    assert_eq!(calls.lock().unwrap().len(), 1 + MAX_ACTIVE as usize, "one search, 1000 removals, no more");
}

#[tokio::test]
async fn a_store_failure_stops_the_batch_and_its_answer_is_not_kept() {
    let mut repository = MockSessionRepository::new();
    repository.expect_kept_answer().returning(|_, _, _| Ok(None));
    repository.expect_sessions_with_member().returning(|_| {
        Ok(vec![
            chat("s-2", &["+15551234567", "bob@example.com"]),
            chat("s-1", &["+15551234567", "bob@example.com"]),
        ])
    });
    repository.expect_update().times(1).returning(|_, _, _, _, _, _| {
        Err(UpdateError::Repository(RepositoryError::Unavailable("down".into())))
    });
    // No keep_answer expectation: keeping the answer would panic.
    let service = service(repository);
    let key =
        Some(IdempotencyInput { key: "k".into(), fingerprint: "f".into(), renderer: Arc::new(Rendered) });
    let Ok(ChangeOutcome::Applied(report)) =
        service.remove_from_active_sessions(&agent(), leave_all("bob@example.com", key)).await
    else {
        panic!("a report")
    };
    assert_eq!(report.results.len(), 1, "the rest waits for a retry");
    assert!(matches!(
        report.results[0].outcome,
        Err(ServiceError::Repository(RepositoryError::Unavailable(_)))
    ));
    assert!(report.has_more);
}

/// Renders a removal report as the count it removed.
struct Rendered;

impl AnswerRenderer for Rendered {
    fn render(&self, _: Result<&Session, &SessionError>) -> KeptAnswer {
        unreachable!("a batch keeps its report, not a session")
    }

    fn render_removals(&self, report: &RemovalReport) -> KeptAnswer {
        KeptAnswer {
            status: 200,
            content_type: "text/plain".into(),
            body: report.removed().to_string().into_bytes(),
        }
    }
}

#[tokio::test]
async fn a_keyed_batch_keeps_its_answer_and_a_repeat_gets_it_without_changing_anything() {
    let kept = Arc::new(Mutex::new(None::<KeptAnswer>));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut repository =
        applying_store(vec![chat("s-1", &["+15551234567", "bob@example.com"])], calls.clone());
    let shared = kept.clone();
    repository.expect_kept_answer().returning(move |key, actor, at| {
        assert_eq!(
            (key.scope.as_str(), actor.user_id.as_str(), at),
            ("ann@example.com", "ann@example.com", now())
        );
        Ok(shared.lock().unwrap().clone())
    });
    let shared = kept.clone();
    repository.expect_keep_answer().returning(move |_, answer, _| {
        *shared.lock().unwrap() = Some(answer.clone());
        Ok(ChangeOutcome::Applied(()))
    });
    let service = service(repository);
    let key =
        || Some(IdempotencyInput { key: "k".into(), fingerprint: "f".into(), renderer: Arc::new(Rendered) });
    let first =
        service.remove_from_active_sessions(&agent(), leave_all("bob@example.com", key())).await.unwrap();
    assert!(matches!(first, ChangeOutcome::Applied(ref report) if report.removed() == 1), "{first:?}");
    assert_eq!(kept.lock().unwrap().as_ref().map(|a| a.body.clone()), Some(b"1".to_vec()), "its answer kept");
    let repeat =
        service.remove_from_active_sessions(&agent(), leave_all("bob@example.com", key())).await.unwrap();
    assert_eq!(repeat, ChangeOutcome::Replayed(kept.lock().unwrap().clone().unwrap()));
    assert_eq!(calls.lock().unwrap().len(), 2, "the repeat neither searched nor removed");
}

fn change<C>(command: C) -> Change<C> {
    Change { session_id: SessionId::parse("s-1").unwrap(), command, if_version: None, idempotency: None }
}

#[tokio::test]
async fn a_patch_needs_no_role_and_an_end_carries_its_call_sid() {
    let commands = Arc::new(Mutex::new(Vec::new()));
    let mut repository = MockSessionRepository::new();
    let seen = commands.clone();
    repository.expect_update().returning(move |_, _, command, _, _, _| {
        seen.lock().unwrap().push(command.clone());
        Ok(ChangeOutcome::Applied(chat("s-1", &["+15551234567"])))
    });
    let service = service(repository);
    let patch = SessionPatch { call_state: Some(CallState::Hold), ..Default::default() };
    let roleless = actor(&[], &["acme"]);
    assert!(service.patch_session(&roleless, Ok(change(patch.clone()))).await.is_ok());
    let ending = Ending { call_sid: Some("CA123".into()) };
    assert!(service.end_session(&agent(), Ok(change(ending.clone()))).await.is_ok());
    assert!(
        matches!(
            service.end_session(&roleless, Ok(change(ending))).await,
            Err(ServiceError::Session(SessionError::Access(_)))
        ),
        "EndSession keeps its role"
    );
    assert_eq!(
        *commands.lock().unwrap(),
        [SessionCommand::Patch(patch), SessionCommand::End { call_sid: Some("CA123".into()) }]
    );
}
