//! The pre-removal hook (docs/api.md, "The pre-removal hook") against mocked ports: asked with the would-be
//! `ChatMemberRemoving` event before the store's locked change, and only for a removal that
//! passes every check on a read without locks; its verdict decides.

use std::sync::{Arc, Mutex};

use evo_app::{OnHookFailure, SessionService};
use evo_domain::*;
use evo_ports::*;

mod support;
use support::{agent, now};

fn chat() -> Session {
    let members = ["+15551234567", "bob@example.com"]
        .iter()
        .map(|raw| NewMember::new(MemberIdentity::parse(raw).unwrap()))
        .collect();
    let new = NewSession {
        account_id: AccountId::parse("acme").unwrap(),
        channel: Channel::Chat,
        direction: Direction::Incoming,
        details: SessionDetails::default(),
        members,
    };
    Session::open(SessionId::parse("s-1").unwrap(), new, &agent(), now()).unwrap()
}

/// What happened, in order: `ask` (the hook) and `update` (the store's locked change).
type Calls = Arc<Mutex<Vec<&'static str>>>;

fn repository(calls: &Calls) -> MockSessionRepository {
    let mut repository = MockSessionRepository::new();
    repository.expect_find().returning(|_, _| Ok(Some(chat())));
    let log = calls.clone();
    repository.expect_update().returning(move |_, actor, command, _, _, now| {
        log.lock().unwrap().push("update");
        let mut session = chat();
        session.apply(actor, command, now)?;
        Ok(ChangeOutcome::Applied(session))
    });
    repository
}

fn hook_answering(
    calls: &Calls,
    verdict: HookVerdict,
) -> (Arc<MockRemovalHook>, Arc<Mutex<Vec<SessionEvent>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut hook = MockRemovalHook::new();
    let (log, questions) = (calls.clone(), asked.clone());
    hook.expect_ask().returning(move |event| {
        log.lock().unwrap().push("ask");
        questions.lock().unwrap().push(event.clone());
        verdict.clone()
    });
    (Arc::new(hook), asked)
}

fn service(calls: &Calls, hook: Arc<MockRemovalHook>, on_failure: OnHookFailure) -> impl SessionUseCases {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    SessionService::new(repository(calls), MockTokenVerifier::new(), clock, MockIdGenerator::new())
        .with_removal_hook(hook, on_failure)
}

fn remove(member: &str) -> Parsed<Change<Removal>> {
    let identity = MemberIdentity::parse(member).unwrap();
    let reason = RemovalReason::parse("shift over").unwrap();
    Ok(Change {
        session_id: SessionId::parse("s-1").unwrap(),
        command: Removal { identity, reason },
        if_version: None,
        idempotency: None,
    })
}

#[tokio::test]
async fn an_allowing_hook_is_asked_with_the_would_be_event_before_the_change() {
    let calls = Calls::default();
    let (hook, asked) = hook_answering(&calls, HookVerdict::Allow);
    let removed = service(&calls, hook, OnHookFailure::Refuse)
        .delete_chat_member(&agent(), remove("bob@example.com"))
        .await
        .applied();
    assert_eq!(removed.expect("removed").members.len(), 1);
    assert_eq!(*calls.lock().unwrap(), ["ask", "update"], "asked first, then the locked change");
    let asked = asked.lock().unwrap();
    let question = &asked[0];
    assert_eq!(question.event_type, EventType::ChatMemberRemoving);
    assert_eq!(question.member.as_ref().map(|m| m.identity.to_string()), Some("bob@example.com".into()));
    assert_eq!(
        question.departure.as_ref().and_then(|d| d.reason.as_ref()).map(|r| r.as_str()),
        Some("shift over")
    );
    assert_eq!(question.session.members.len(), 1, "the session as the removal would leave it");
}

#[tokio::test]
async fn a_refusing_hook_refuses_with_its_message_and_nothing_changes() {
    let calls = Calls::default();
    let (hook, _) = hook_answering(&calls, HookVerdict::Refuse(Some("Bob is on a call".into())));
    let refused = service(&calls, hook, OnHookFailure::Allow)
        .delete_chat_member(&agent(), remove("bob@example.com"))
        .await
        .applied();
    assert_eq!(refused, Err(ServiceError::RemovalRefused(Some("Bob is on a call".into()))));
    assert_eq!(*calls.lock().unwrap(), ["ask"], "the store was not asked to change anything");
}

#[tokio::test]
async fn a_failed_hook_refuses_as_unavailable_unless_failures_allow() {
    let calls = Calls::default();
    let (hook, _) = hook_answering(&calls, HookVerdict::Failed("timed out after 1000 ms".into()));
    let refused = service(&calls, hook, OnHookFailure::Refuse)
        .delete_chat_member(&agent(), remove("bob@example.com"))
        .await
        .applied();
    assert!(matches!(refused, Err(ServiceError::Repository(RepositoryError::Unavailable(_)))), "{refused:?}");
    assert_eq!(*calls.lock().unwrap(), ["ask"]);

    let calls = Calls::default();
    let (hook, _) = hook_answering(&calls, HookVerdict::Failed("HTTP 502".into()));
    let allowed = service(&calls, hook, OnHookFailure::Allow)
        .delete_chat_member(&agent(), remove("bob@example.com"))
        .await
        .applied();
    assert!(allowed.is_ok(), "{allowed:?}");
    assert_eq!(*calls.lock().unwrap(), ["ask", "update"]);
}

#[tokio::test]
async fn a_removal_the_read_refuses_is_left_to_the_store_and_the_hook_is_not_asked() {
    let calls = Calls::default();
    let (hook, _) = hook_answering(&calls, HookVerdict::Allow);
    let service = service(&calls, hook, OnHookFailure::Refuse);
    // Not a member; then the original member: refused by the rule, answered by the store.
    let missing = service.delete_chat_member(&agent(), remove("nobody@example.com")).await.applied();
    assert!(
        matches!(missing, Err(ServiceError::Session(SessionError::MemberNotFound { .. }))),
        "{missing:?}"
    );
    let original = service.delete_chat_member(&agent(), remove("+15551234567")).await.applied();
    assert!(
        matches!(original, Err(ServiceError::Session(SessionError::CannotRemoveOriginalMember { .. }))),
        "{original:?}"
    );
    assert_eq!(*calls.lock().unwrap(), ["update", "update"], "never asked");
}

#[tokio::test]
async fn other_changes_do_not_ask_the_hook() {
    let calls = Calls::default();
    let (hook, _) = hook_answering(&calls, HookVerdict::Refuse(None));
    let service = service(&calls, hook, OnHookFailure::Refuse);
    let end = Ok(Change {
        session_id: SessionId::parse("s-1").unwrap(),
        command: evo_ports::Ending::default(),
        if_version: None,
        idempotency: None,
    });
    assert!(service.end_session(&agent(), end).await.applied().is_ok());
    assert_eq!(*calls.lock().unwrap(), ["update"]);
}

struct NoAnswer;

impl AnswerRenderer for NoAnswer {
    fn render(&self, _: Result<&Session, &SessionError>) -> KeptAnswer {
        KeptAnswer { status: 200, content_type: "application/json".into(), body: Vec::new() }
    }

    fn render_removals(&self, _: &evo_ports::RemovalReport) -> KeptAnswer {
        KeptAnswer { status: 200, content_type: "application/json".into(), body: Vec::new() }
    }
}

fn keyed_removal(key: &str) -> Parsed<Change<Removal>> {
    let mut change = remove("bob@example.com")?;
    change.idempotency = Some(IdempotencyInput {
        key: key.into(),
        fingerprint: "remove bob".into(),
        renderer: Arc::new(NoAnswer),
    });
    Ok(change)
}

/// docs/api.md, "Order of checks": the idempotency checks come before the hook. A key that already holds
/// an answer (a repeat, or a reuse with another request) is answered by the store without the
/// hook being asked again; a new key is asked about as usual.
#[tokio::test]
async fn a_key_that_holds_an_answer_goes_to_the_store_without_asking_the_hook() {
    let calls = Calls::default();
    let (hook, _) = hook_answering(&calls, HookVerdict::Allow);
    let mut repository = repository(&calls);
    let log = calls.clone();
    repository.expect_kept_answer().returning(move |key, actor, at| {
        assert_eq!(
            (key.scope.as_str(), actor.user_id.as_str(), at),
            ("ann@example.com", "ann@example.com", now())
        );
        log.lock().unwrap().push("lookup");
        Ok((key.key == "answered").then(|| NoAnswer.render(Err(&SessionError::NotFound))))
    });
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let service = SessionService::new(repository, MockTokenVerifier::new(), clock, MockIdGenerator::new())
        .with_removal_hook(hook, OnHookFailure::Refuse);

    assert!(service.delete_chat_member(&agent(), keyed_removal("answered")).await.applied().is_ok());
    assert_eq!(*calls.lock().unwrap(), ["lookup", "update"], "the repeat is not asked about");

    calls.lock().unwrap().clear();
    assert!(service.delete_chat_member(&agent(), keyed_removal("new")).await.applied().is_ok());
    assert_eq!(*calls.lock().unwrap(), ["lookup", "ask", "update"]);
}
