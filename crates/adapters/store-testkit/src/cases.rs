//! The contract cases. Each takes a fresh, empty repository and panics when the store
//! breaks the contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::SubsecRound;
use evo_domain::{
    CallState, Channel, IfVersion, MemberRole, NewMember, Session, SessionCommand, SessionError, SessionId,
};
use evo_ports::{Applied, ChangeOutcome};
use evo_ports::{
    DeliveryQueue, EventLog, Idempotency, KeyedRefusal, RepositoryError, SessionRepository, UpdateError,
};
use tokio::sync::Barrier;

use crate::fixtures::{
    WithMillis, agent, at, chat, chat_with_users, identity, new_session_id, open, session_with_every_field,
    user,
};

/// What a store under test implements: sessions and their outbox.
pub trait Store: SessionRepository + EventLog + DeliveryQueue {}

impl<T: SessionRepository + EventLog + DeliveryQueue> Store for T {}

/// The repository under test.
pub type Repo = Arc<dyn Store>;

pub async fn insert(repo: &Repo, session: &Session) {
    repo.insert(session, &agent(), None)
        .await
        .applied()
        .unwrap_or_else(|e| panic!("insert {}: {e}", session.id));
}

async fn reload(repo: &Repo, id: &SessionId) -> Session {
    repo.find(id, &agent()).await.expect("find").unwrap_or_else(|| panic!("session {id} is missing"))
}

pub fn remove(raw: &str) -> SessionCommand {
    SessionCommand::remove(identity(raw))
}

pub(crate) fn invite(raw: &str) -> SessionCommand {
    SessionCommand::InviteMember(NewMember::new(identity(raw)))
}

fn member_ids(session: &Session) -> Vec<String> {
    session.members.iter().map(|m| m.identity.as_str().to_owned()).collect()
}

fn messages(session: &Session) -> Vec<String> {
    session.log.iter().map(|l| l.message.clone()).collect()
}

/// Applies `command` and expects the rule to refuse it with `expected`, leaving the stored
/// session exactly as it was.
async fn assert_refused_without_change(
    repo: &Repo,
    id: &SessionId,
    command: SessionCommand,
    expected: SessionError,
) {
    let before = repo.find(id, &agent()).await.expect("find");
    let outcome = repo.update(id, &agent(), &command, None, None, at(60)).await.applied();
    match outcome {
        Err(UpdateError::Rejected(error)) => assert_eq!(error, expected, "{command:?}"),
        other => panic!("{command:?}: expected Rejected({expected:?}), got {other:?}"),
    }
    assert_eq!(
        repo.find(id, &agent()).await.expect("find"),
        before,
        "a refused {command:?} changed the session"
    );
}

/// `ping` answers on a working store.
pub async fn ping_answers(repo: Repo) {
    repo.ping().await.expect("ping");
}

/// Every field of a session (breadcrumbs, application data, unicode, quotes, long console
/// data, every enum off its default) survives insert then find.
pub async fn insert_then_find_round_trips_every_field(repo: Repo) {
    let session = session_with_every_field();
    insert(&repo, &session).await;
    assert_eq!(reload(&repo, &session.id).await, session);
    // And a plain new chat, with its defaults and no optional field.
    let plain = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &plain).await;
    assert_eq!(reload(&repo, &plain.id).await, plain);
}

/// `find` of an ID never stored is `None`.
pub async fn find_of_an_unknown_session_is_none(repo: Repo) {
    insert(&repo, &chat(&["+15551234567"])).await;
    assert_eq!(repo.find(&new_session_id("unknown"), &agent()).await.expect("find"), None);
}

/// A second insert of the same ID is `AlreadyExists` and leaves the first untouched.
pub async fn insert_of_an_existing_id_is_already_exists(repo: Repo) {
    let first = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &first).await;
    let mut other = session_with_every_field().into_data();
    other.id = first.id.clone();
    let second = Session::restore(other);
    assert_eq!(
        repo.insert(&second, &agent(), None).await.applied(),
        Err(UpdateError::Repository(RepositoryError::AlreadyExists))
    );
    assert_eq!(reload(&repo, &first.id).await, first);
}

/// A removal takes the member out, appends one log entry, stamps the change, and returns
/// exactly what is stored.
pub async fn remove_member_persists_and_returns_the_stored_state(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    let returned = repo
        .update(&session.id, &agent(), &remove("ann@example.com"), None, None, at(5))
        .await
        .applied()
        .expect("remove");
    assert_eq!(member_ids(&returned), ["+15551234567", "bob@example.com"]);
    assert_eq!(returned.log.len(), 2);
    assert_eq!(returned.log[1].message, "Agent Smith removed ann@example.com from the chat");
    assert_eq!(returned.log[1].date, at(5).trunc_subsecs(3));
    assert_eq!(returned.date_last_modified, at(5).trunc_subsecs(3));
    assert_eq!(returned.last_modified_by, "agent@example.com");
    assert_eq!(reload(&repo, &session.id).await, returned);
}

/// An invite adds the member last with the rules' defaults and the caller's choices.
pub async fn invite_member_persists_and_returns_the_stored_state(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let mut wanted = NewMember::new(identity("Carol@Example.com"));
    wanted.display_name = Some("Carol «C» O'Neil".into());
    wanted.role = Some(MemberRole::Transfer);
    wanted.avatar_url = Some("https://example.com/c.png".into());
    wanted.application_data = [("k".to_owned(), "v \"q\"".to_owned())].into();
    let returned = repo
        .update(&session.id, &agent(), &SessionCommand::InviteMember(wanted), None, None, at(7))
        .await
        .applied()
        .expect("invite");
    assert_eq!(member_ids(&returned), ["+15551234567", "ann@example.com", "Carol@Example.com"]);
    let carol = &returned.members[2];
    assert_eq!(carol.role, MemberRole::Transfer);
    assert_eq!(carol.display_name.as_deref(), Some("Carol «C» O'Neil"));
    assert!(!carol.is_original_member);
    assert_eq!(returned.log[1].message, "Agent Smith added Carol «C» O'Neil to the chat");
    assert_eq!(reload(&repo, &session.id).await, returned);
}

/// Ending sets `ended`, `dateCompleted` and the call state, and logs it.
pub async fn end_session_persists_and_returns_the_stored_state(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let returned = repo
        .update(&session.id, &agent(), &SessionCommand::end(), None, None, at(9))
        .await
        .applied()
        .expect("end");
    assert!(returned.ended);
    assert_eq!(returned.date_completed, Some(at(9).trunc_subsecs(3)));
    assert_eq!(returned.call_state, CallState::Disconnected);
    assert_eq!(returned.log.last().map(|l| l.message.as_str()), Some("Agent Smith ended the session"));
    assert_eq!(reload(&repo, &session.id).await, returned);
}

/// Any change of an unknown session is `Rejected(NotFound)`.
pub async fn update_of_an_unknown_session_is_not_found(repo: Repo) {
    let unknown = new_session_id("unknown");
    for command in [remove("ann@example.com"), invite("ann@example.com"), SessionCommand::end()] {
        let outcome = repo.update(&unknown, &agent(), &command, None, None, at(1)).await.applied();
        assert_eq!(outcome.err(), Some(UpdateError::Rejected(SessionError::NotFound)));
    }
    assert_eq!(repo.find(&unknown, &agent()).await.expect("find"), None);
}

/// Chat operations on a Voice session are refused and change nothing.
pub async fn chat_changes_to_a_voice_session_are_refused_and_change_nothing(repo: Repo) {
    let voice = open(Channel::Voice, &["+15551234567", "ann@example.com"]);
    insert(&repo, &voice).await;
    let refusal = SessionError::NotAChatSession { channel: Channel::Voice };
    assert_refused_without_change(&repo, &voice.id, remove("ann@example.com"), refusal.clone()).await;
    assert_refused_without_change(&repo, &voice.id, invite("bob@example.com"), refusal).await;
}

/// Every change of an ended session is refused and changes nothing.
pub async fn changes_to_an_ended_session_are_refused_and_change_nothing(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    repo.update(&session.id, &agent(), &SessionCommand::end(), None, None, at(1))
        .await
        .applied()
        .expect("end");
    for command in [remove("ann@example.com"), invite("bob@example.com"), SessionCommand::end()] {
        assert_refused_without_change(&repo, &session.id, command, SessionError::SessionEnded).await;
    }
}

/// Removing someone who is not a member is refused and changes nothing.
pub async fn removing_a_missing_member_is_refused_and_changes_nothing(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let refusal = SessionError::MemberNotFound { identity: "bob@example.com".into() };
    assert_refused_without_change(&repo, &session.id, remove("bob@example.com"), refusal).await;
}

/// Removing the original member is refused and changes nothing.
pub async fn removing_the_original_member_is_refused_and_changes_nothing(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let refusal = SessionError::CannotRemoveOriginalMember { identity: "+15551234567".into() };
    assert_refused_without_change(&repo, &session.id, remove("+1 (555) 123-4567"), refusal).await;
}

/// Inviting a current member (whatever the case of the user ID) is refused and changes nothing.
pub async fn inviting_a_current_member_is_refused_and_changes_nothing(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let refusal = SessionError::MemberAlreadyExists { identity: "ANN@example.com".into() };
    assert_refused_without_change(&repo, &session.id, invite("ANN@example.com"), refusal).await;
}

/// Members come back in the order they joined, whatever their identities sort as; a member
/// who leaves and comes back is last.
pub async fn members_keep_join_order(repo: Repo) {
    let session = chat(&["+15551234567", "zed@example.com", "amy@example.com", "+4420794609"]);
    insert(&repo, &session).await;
    let id = &session.id;
    repo.update(id, &agent(), &invite("bob@example.com"), None, None, at(1)).await.applied().expect("invite");
    repo.update(id, &agent(), &remove("zed@example.com"), None, None, at(2)).await.applied().expect("remove");
    repo.update(id, &agent(), &invite("aaron@example.com"), None, None, at(3))
        .await
        .applied()
        .expect("invite");
    let returned = repo
        .update(id, &agent(), &invite("zed@example.com"), None, None, at(4))
        .await
        .applied()
        .expect("invite");
    let expected = [
        "+15551234567",
        "amy@example.com",
        "+4420794609",
        "bob@example.com",
        "aaron@example.com",
        "zed@example.com",
    ];
    assert_eq!(member_ids(&returned), expected);
    assert_eq!(member_ids(&reload(&repo, id).await), expected);
}

/// The log comes back oldest first, in the order of the changes, even when their times tie.
pub async fn log_keeps_order(repo: Repo) {
    let session = chat_with_users(0);
    insert(&repo, &session).await;
    let mut expected = messages(&session);
    for i in 0..12 {
        // Same time for every change: order must come from the store, not from the dates.
        let stored = repo
            .update(&session.id, &agent(), &invite(&user(i)), None, None, at(1))
            .await
            .applied()
            .expect("invite");
        expected.push(format!("Agent Smith added {} to the chat", user(i)));
        assert_eq!(messages(&stored), expected);
    }
    let reloaded = reload(&repo, &session.id).await;
    assert_eq!(messages(&reloaded), expected);
    assert!(reloaded.log.windows(2).all(|w| w[0].date <= w[1].date));
}

/// Times are stored to the millisecond: `.001` and `.999` come back as they went in, and a
/// change at a time with sub-millisecond digits is stored truncated to the millisecond.
pub async fn timestamps_round_trip_to_the_millisecond(repo: Repo) {
    let mut data = chat(&["+15551234567", "ann@example.com"]).into_data();
    data.date_created = at(0).with_nanosecond_ms(1);
    data.date_last_modified = at(0).with_nanosecond_ms(999);
    data.log[0].date = at(0).with_nanosecond_ms(1);
    let session = Session::restore(data);
    insert(&repo, &session).await;
    assert_eq!(reload(&repo, &session.id).await, session);
    let changed = repo
        .update(&session.id, &agent(), &SessionCommand::end(), None, None, at(3))
        .await
        .applied()
        .expect("end");
    let reloaded = reload(&repo, &session.id).await;
    assert_eq!(reloaded.date_completed, Some(at(3).trunc_subsecs(3)));
    assert_eq!(reloaded.date_last_modified, at(3).trunc_subsecs(3));
    assert_eq!(reloaded, changed);
}

/// User IDs are found whatever their case, and kept as first written.
pub async fn user_ids_compare_case_insensitively_and_keep_their_case(repo: Repo) {
    let session = chat(&["+15551234567", "Ann.Lee@Example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    let id = &session.id;
    assert_eq!(member_ids(&reload(&repo, id).await)[1], "Ann.Lee@Example.com");
    let refused =
        repo.update(id, &agent(), &invite("ann.lee@EXAMPLE.com"), None, None, at(1)).await.applied();
    assert!(
        matches!(refused, Err(UpdateError::Rejected(SessionError::MemberAlreadyExists { .. }))),
        "{refused:?}"
    );
    let returned = repo
        .update(id, &agent(), &remove("BOB@EXAMPLE.COM"), None, None, at(2))
        .await
        .applied()
        .expect("remove by other case");
    assert_eq!(member_ids(&returned), ["+15551234567", "Ann.Lee@Example.com"]);
    let returned = repo
        .update(id, &agent(), &remove("ann.lee@example.com"), None, None, at(3))
        .await
        .applied()
        .expect("remove by other case");
    assert_eq!(member_ids(&returned), ["+15551234567"]);
    assert_eq!(reload(&repo, id).await, returned);
}

/// Runs `commands` on one session at once (all released together) and returns their outcomes
/// in the same order.
async fn run_concurrently(
    repo: &Repo,
    id: &SessionId,
    commands: Vec<SessionCommand>,
) -> Vec<Result<Session, UpdateError>> {
    let barrier = Arc::new(Barrier::new(commands.len()));
    let tasks: Vec<_> = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| {
            let (repo, id, barrier) = (Arc::clone(repo), id.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                repo.update(&id, &agent(), &command, None, None, at(10 + i as i64)).await.applied()
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("the task ran to completion"));
    }
    outcomes
}

/// 32 concurrent removals of 32 distinct members all succeed: none of them is left and the
/// log has one entry per removal.
pub async fn concurrent_removals_of_distinct_members_all_succeed(repo: Repo) {
    let session = chat_with_users(32);
    insert(&repo, &session).await;
    let outcomes = run_concurrently(&repo, &session.id, (0..32).map(|i| remove(&user(i))).collect()).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        assert!(outcome.is_ok(), "removal of {} failed: {outcome:?}", user(i));
    }
    let stored = reload(&repo, &session.id).await;
    assert_eq!(member_ids(&stored), ["+15551230000"]);
    assert_eq!(stored.log.len(), 1 + 32);
    let removed: BTreeSet<String> = stored.log[1..].iter().map(|l| l.message.clone()).collect();
    let expected: BTreeSet<String> =
        (0..32).map(|i| format!("Agent Smith removed {} from the chat", user(i))).collect();
    assert_eq!(removed, expected);
}

/// 16 concurrent removals of one member: exactly one succeeds, the rest are `MemberNotFound`.
pub async fn concurrent_removals_of_the_same_member_succeed_once(repo: Repo) {
    let session = chat_with_users(2);
    insert(&repo, &session).await;
    let outcomes = run_concurrently(&repo, &session.id, (0..16).map(|_| remove(&user(0))).collect()).await;
    let successes = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(successes, 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter(|o| o.is_err()) {
        assert_eq!(
            outcome.as_ref().err(),
            Some(&UpdateError::Rejected(SessionError::MemberNotFound { identity: user(0) }))
        );
    }
    let stored = reload(&repo, &session.id).await;
    assert_eq!(member_ids(&stored), ["+15551230000".to_owned(), user(1)]);
    assert_eq!(stored.log.len(), 2);
}

/// Removals racing an end: each removal either committed before the end (its log entry comes
/// first) or failed with `SessionEnded` (and its member is still there).
pub async fn removals_racing_an_end_either_precede_it_or_see_it_ended(repo: Repo) {
    let session = chat_with_users(16);
    insert(&repo, &session).await;
    let mut commands: Vec<SessionCommand> = (0..16).map(|i| remove(&user(i))).collect();
    commands.insert(8, SessionCommand::end());
    let outcomes = run_concurrently(&repo, &session.id, commands).await;
    assert!(outcomes[8].is_ok(), "the end failed: {:?}", outcomes[8]);
    let stored = reload(&repo, &session.id).await;
    assert!(stored.ended);
    let log = messages(&stored);
    let end_at = log.iter().position(|m| m == "Agent Smith ended the session").expect("the end is logged");
    assert_eq!(end_at, log.len() - 1, "nothing may be logged after the end: {log:?}");
    let removal_outcomes = outcomes.iter().enumerate().filter(|(i, _)| *i != 8).map(|(_, o)| o);
    for (i, outcome) in removal_outcomes.enumerate() {
        let entry = format!("Agent Smith removed {} from the chat", user(i));
        let logged = log.iter().position(|m| *m == entry);
        match outcome {
            Ok(_) => {
                assert!(
                    logged.is_some_and(|at| at < end_at),
                    "{entry} succeeded but is not logged before the end"
                );
                assert!(!member_ids(&stored).contains(&user(i)));
            }
            Err(UpdateError::Rejected(SessionError::SessionEnded)) => {
                assert_eq!(logged, None, "{entry} failed but is logged");
                assert!(member_ids(&stored).contains(&user(i)));
            }
            Err(other) => panic!("removal of {} failed with {other:?}", user(i)),
        }
    }
}

/// Concurrent invites of one identity: exactly one succeeds, the rest are
/// `MemberAlreadyExists` (never a store failure).
pub async fn concurrent_invites_of_the_same_identity_succeed_once(repo: Repo) {
    let session = chat_with_users(0);
    insert(&repo, &session).await;
    let spellings = ["new@example.com", "NEW@example.com", "New@Example.com", "new@EXAMPLE.COM"];
    let commands = (0..16).map(|i| invite(spellings[i % spellings.len()])).collect();
    let outcomes = run_concurrently(&repo, &session.id, commands).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(
            matches!(outcome, UpdateError::Rejected(SessionError::MemberAlreadyExists { .. })),
            "{outcome:?}"
        );
    }
    let stored = reload(&repo, &session.id).await;
    assert_eq!(stored.members.len(), 2);
    assert_eq!(stored.log.len(), 2);
}

/// Invites and removals interleaved on one session: every success is one log entry, and the
/// members are what the successes imply.
pub async fn interleaved_invites_and_removals_stay_consistent(repo: Repo) {
    let session = chat_with_users(8);
    insert(&repo, &session).await;
    // Remove user0..7, re-invite user0..7 (succeeds only after its removal) and invite
    // fresh users 100..107, all at once.
    let mut commands = Vec::new();
    for i in 0..8 {
        commands.push(remove(&user(i)));
        commands.push(invite(&user(i)));
        commands.push(invite(&user(100 + i)));
    }
    let outcomes = run_concurrently(&repo, &session.id, commands).await;
    let mut expected_members: BTreeSet<String> = (100..108).map(user).collect();
    expected_members.insert("+15551230000".into());
    let mut successes = 0;
    for i in 0..8 {
        let (removal, reinvite, fresh) = (&outcomes[3 * i], &outcomes[3 * i + 1], &outcomes[3 * i + 2]);
        assert!(removal.is_ok(), "removal of {}: {removal:?}", user(i));
        assert!(fresh.is_ok(), "invite of {}: {fresh:?}", user(100 + i));
        successes += 2;
        match reinvite {
            Ok(_) => {
                successes += 1;
                expected_members.insert(user(i));
            }
            Err(UpdateError::Rejected(SessionError::MemberAlreadyExists { .. })) => {}
            Err(other) => panic!("re-invite of {}: {other:?}", user(i)),
        }
    }
    let stored = reload(&repo, &session.id).await;
    assert_eq!(stored.log.len(), 1 + successes);
    assert_eq!(member_ids(&stored).into_iter().collect::<BTreeSet<_>>(), expected_members);
    assert_eq!(stored.members.len(), expected_members.len(), "a member is listed twice");
    // Replaying the log over the initial members gives the stored members, in order.
    let mut replayed = member_ids(&session);
    for message in &stored.log[1..] {
        let message = message.message.strip_prefix("Agent Smith ").expect("the agent's change");
        if let Some(who) = message.strip_prefix("added ").and_then(|m| m.strip_suffix(" to the chat")) {
            replayed.push(who.to_owned());
        } else if let Some(who) =
            message.strip_prefix("removed ").and_then(|m| m.strip_suffix(" from the chat"))
        {
            replayed.retain(|m| m != who);
        } else {
            panic!("unexpected log entry {message:?}");
        }
    }
    assert_eq!(replayed, member_ids(&stored));
}

/// Every change bumps the stored version by one, and `find` returns it.
pub async fn every_change_bumps_the_stored_version(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    assert_eq!(reload(&repo, &session.id).await.version, 0);
    let changed = repo
        .update(&session.id, &agent(), &remove("bob@example.com"), None, None, at(1))
        .await
        .applied()
        .expect("remove");
    assert_eq!(changed.version, 1);
    assert_eq!(reload(&repo, &session.id).await.version, 1, "the version is stored");
    let ended = repo
        .update(&session.id, &agent(), &SessionCommand::end(), None, None, at(2))
        .await
        .applied()
        .expect("end");
    assert_eq!((ended.version, reload(&repo, &session.id).await.version), (2, 2));
}

/// A change asked for on an old version is refused under the lock and changes nothing; at
/// the current version it applies; a foreign session is still `NotFound` first.
pub async fn a_change_on_an_old_version_is_refused_and_changes_nothing(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    repo.update(&session.id, &agent(), &remove("bob@example.com"), None, None, at(1))
        .await
        .applied()
        .expect("remove");
    let before = reload(&repo, &session.id).await;
    let stale = Some(IfVersion(vec![0]));
    let outcome = repo
        .update(&session.id, &agent(), &remove("ann@example.com"), stale.clone(), None, at(2))
        .await
        .applied();
    assert_eq!(outcome, Err(UpdateError::Rejected(SessionError::VersionMismatch { current: 1 })));
    assert_eq!(reload(&repo, &session.id).await, before, "nothing changed");
    let stranger = evo_domain::Actor {
        account_ids: vec![evo_domain::AccountId::parse("globex").expect("valid account")],
        ..agent()
    };
    let foreign =
        repo.update(&session.id, &stranger, &remove("ann@example.com"), stale, None, at(2)).await.applied();
    assert_eq!(foreign, Err(UpdateError::Rejected(SessionError::NotFound)), "visibility comes first");
    let current = Some(IfVersion(vec![0, 1]));
    let applied =
        repo.update(&session.id, &agent(), &remove("ann@example.com"), current, None, at(3)).await.applied();
    assert_eq!(applied.expect("at the current version it applies").version, 2);
}

/// Eight concurrent changes all made on version 0: exactly one applies, the others are told
/// the session moved on (what two supervisors editing one chat need to notice each other).
pub async fn concurrent_changes_on_one_version_apply_once(repo: Repo) {
    let session = chat_with_users(8);
    insert(&repo, &session).await;
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (repo, id, barrier) = (Arc::clone(&repo), session.id.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                repo.update(&id, &agent(), &remove(&user(i)), Some(IfVersion(vec![0])), None, at(5))
                    .await
                    .applied()
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("the task ran") {
            Ok(_) => applied += 1,
            Err(UpdateError::Rejected(SessionError::VersionMismatch { current: 1 })) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(applied, 1);
    let stored = reload(&repo, &session.id).await;
    assert_eq!((stored.members.len(), stored.log.len(), stored.version), (8, 2, 1));
}

// ---------------------------------------------------------------------------------------
// Keyed requests (docs/api.md, "Idempotency-Key"): the answer is kept with the change.

/// Renders answers as plain text naming the session and its version (or the refusal), so
/// that a replay shows which change it answers.
#[derive(Debug)]
pub struct EchoAnswer;

impl evo_ports::AnswerRenderer for EchoAnswer {
    fn render(&self, outcome: Result<&Session, &SessionError>) -> evo_ports::KeptAnswer {
        let (status, body) = match outcome {
            Ok(session) => (200, format!("{} v{}", session.id, session.version)),
            Err(refusal) => (404, refusal.to_string()),
        };
        evo_ports::KeptAnswer { status, content_type: "text/plain".into(), body: body.into_bytes() }
    }

    fn render_removals(&self, report: &evo_ports::RemovalReport) -> evo_ports::KeptAnswer {
        let body = format!("{} removed", report.removed());
        evo_ports::KeptAnswer { status: 200, content_type: "text/plain".into(), body: body.into_bytes() }
    }
}

fn keyed(scope: &str, key: &str, fingerprint: &str, expires_at: evo_domain::Timestamp) -> Idempotency {
    Idempotency {
        scope: scope.into(),
        key: key.into(),
        fingerprint: fingerprint.into(),
        expires_at,
        renderer: Arc::new(EchoAnswer),
    }
}

fn replay_of(outcome: Result<ChangeOutcome<Session>, UpdateError>) -> String {
    match outcome {
        Ok(ChangeOutcome::Replayed(answer)) => String::from_utf8(answer.body).expect("text"),
        other => panic!("expected a replay, got {other:?}"),
    }
}

/// A keyed change, repeated: the repeat gets the first answer and changes nothing; a refusal
/// is kept and replayed too.
pub async fn a_repeated_keyed_change_replays_its_answer_and_changes_nothing(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    let key = keyed("agent@example.com", "k-1", "remove bob", at(3600));
    let first = repo
        .update(&session.id, &agent(), &remove("bob@example.com"), None, Some(key.clone()), at(1))
        .await
        .applied();
    assert_eq!(first.expect("the first removal").version, 1);
    let stored = reload(&repo, &session.id).await;
    let again = repo.update(&session.id, &agent(), &remove("bob@example.com"), None, Some(key), at(2)).await;
    assert_eq!(replay_of(again), format!("{} v1", session.id), "the first answer, byte for byte");
    assert_eq!(reload(&repo, &session.id).await, stored, "a replay changes nothing");

    let refused_key = keyed("agent@example.com", "k-2", "remove zed", at(3600));
    let refused = repo
        .update(&session.id, &agent(), &remove("zed@example.com"), None, Some(refused_key.clone()), at(3))
        .await
        .applied();
    assert!(
        matches!(refused, Err(UpdateError::Rejected(SessionError::MemberNotFound { .. }))),
        "{refused:?}"
    );
    let again =
        repo.update(&session.id, &agent(), &remove("zed@example.com"), None, Some(refused_key), at(4)).await;
    assert_eq!(replay_of(again), "the session has no member zed@example.com", "a refusal is an answer too");
}

/// The same key for another request is refused, another caller's key never meets it, and
/// nothing changes.
pub async fn a_key_reused_for_another_request_is_refused(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    let first = keyed("agent@example.com", "k-1", "remove bob", at(3600));
    repo.update(&session.id, &agent(), &remove("bob@example.com"), None, Some(first), at(1))
        .await
        .applied()
        .expect("first");
    let stored = reload(&repo, &session.id).await;
    let other = keyed("agent@example.com", "k-1", "remove ann", at(3600));
    let reused = repo
        .update(&session.id, &agent(), &remove("ann@example.com"), None, Some(other), at(2))
        .await
        .applied();
    assert_eq!(reused.err(), Some(UpdateError::Keyed(KeyedRefusal::Reused)));
    assert_eq!(reload(&repo, &session.id).await, stored, "nothing changed");
    let someone_else = keyed("other@example.com", "k-1", "remove ann", at(3600));
    let theirs = repo
        .update(&session.id, &agent(), &remove("ann@example.com"), None, Some(someone_else), at(3))
        .await
        .applied();
    assert_eq!(theirs.expect("keys are per caller").members.len(), 1);
}

/// Eight identical keyed removals at once: exactly one change; every other gets its answer
/// replayed or is told the key is busy.
pub async fn concurrent_repeats_of_one_keyed_change_apply_once(repo: Repo) {
    let session = chat_with_users(2);
    insert(&repo, &session).await;
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (repo, id, barrier) = (Arc::clone(&repo), session.id.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let key = keyed("agent@example.com", "retry-7", "remove user0", at(3600));
                repo.update(&id, &agent(), &remove(&user(0)), None, Some(key), at(5)).await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("the task ran") {
            Ok(ChangeOutcome::Applied(_)) => applied += 1,
            Ok(ChangeOutcome::Replayed(answer)) => {
                assert_eq!(answer.body, format!("{} v1", session.id).into_bytes());
            }
            Err(UpdateError::Keyed(KeyedRefusal::InProgress)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(applied, 1);
    let stored = reload(&repo, &session.id).await;
    assert_eq!((stored.members.len(), stored.log.len()), (2, 2), "one removal, one log entry");
}

/// A keyed new session: the repeat (with a new ID, as the use case would make) gets the first
/// answer and stores nothing.
pub async fn a_repeated_keyed_new_session_replays_its_answer(repo: Repo) {
    let first = chat(&["+15551234567", "ann@example.com"]);
    let key = keyed("agent@example.com", "new-1", "create", at(3600));
    repo.insert(&first, &agent(), Some(key.clone())).await.applied().expect("the first insert");
    let second = chat(&["+15551234567", "ann@example.com"]);
    let again = repo.insert(&second, &agent(), Some(key)).await;
    match again {
        Ok(ChangeOutcome::Replayed(answer)) => {
            assert_eq!(answer.body, format!("{} v0", first.id).into_bytes());
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(repo.find(&second.id, &agent()).await.expect("find"), None, "the repeat stored no session");
}

/// An expired key is used afresh; expired answers are purged in bounded batches.
pub async fn expired_keys_are_used_afresh_and_purged(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    insert(&repo, &session).await;
    let early = keyed("agent@example.com", "k-1", "remove bob", at(6));
    repo.update(&session.id, &agent(), &remove("bob@example.com"), None, Some(early), at(5))
        .await
        .applied()
        .expect("first");
    // At 10 s the answer (kept until 6 s) has expired: the request runs again, and now finds
    // no Bob.
    let late = keyed("agent@example.com", "k-1", "remove bob", at(11));
    let again = repo
        .update(&session.id, &agent(), &remove("bob@example.com"), None, Some(late), at(10))
        .await
        .applied();
    assert!(matches!(again, Err(UpdateError::Rejected(SessionError::MemberNotFound { .. }))), "{again:?}");
    for key in ["k-2", "k-3"] {
        let request = keyed("agent@example.com", key, key, at(7));
        let refused = repo
            .update(&session.id, &agent(), &remove("zed@example.com"), None, Some(request), at(6))
            .await
            .applied();
        assert!(refused.is_err());
    }
    assert_eq!(repo.purge_expired_keys(at(8), 1).await.expect("purge"), 1, "a bounded batch");
    assert_eq!(repo.purge_expired_keys(at(8), 10).await.expect("purge"), 1, "the other expired one");
    assert_eq!(repo.purge_expired_keys(at(8), 10).await.expect("purge"), 0, "the live one stays");
    assert_eq!(repo.purge_expired_keys(at(20), 10).await.expect("purge"), 1);
}

/// A caller with `roles` on `accounts`.
fn caller(roles: &[&str], accounts: &[&str]) -> evo_domain::Actor {
    evo_domain::Actor {
        user_id: "agent@example.com".into(),
        name: "Agent Smith".into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        account_ids: accounts
            .iter()
            .map(|a| evo_domain::AccountId::parse(a).expect("valid account"))
            .collect(),
    }
}

/// [`chat`] in `account` instead of the fixtures' account.
fn chat_in(account: &str, identities: &[&str]) -> Session {
    let mut data = chat(identities).into_data();
    data.account_id = evo_domain::AccountId::parse(account).expect("valid account");
    Session::restore(data)
}

/// A lookup by session ID carries the caller's accounts: another account's session is not
/// found, nor changed, by a caller who does not see it; a caller who sees both accounts, and an
/// administrator (every account), find and change either.
pub async fn sessions_are_found_and_changed_only_among_the_callers_accounts(repo: Repo) {
    let ours = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    let theirs = chat_in("globex", &["+15557654321", "cy@example.com", "dee@example.com"]);
    insert(&repo, &ours).await;
    insert(&repo, &theirs).await;

    assert_eq!(repo.find(&theirs.id, &agent()).await.expect("find"), None, "another account's session");
    assert_eq!(repo.find(&ours.id, &agent()).await.expect("find"), Some(ours.clone()));
    let refused =
        repo.update(&theirs.id, &agent(), &remove("cy@example.com"), None, None, at(1)).await.applied();
    assert_eq!(refused.err(), Some(UpdateError::Rejected(SessionError::NotFound)));

    let both = caller(&["User"], &["acme", "globex"]);
    assert_eq!(repo.find(&theirs.id, &both).await.expect("find"), Some(theirs.clone()));
    let admin = caller(&["Admin"], &[]);
    assert_eq!(repo.find(&theirs.id, &admin).await.expect("find"), Some(theirs.clone()));
    assert_eq!(repo.find(&ours.id, &admin).await.expect("find"), Some(ours.clone()));

    let changed =
        repo.update(&theirs.id, &admin, &remove("cy@example.com"), None, None, at(2)).await.applied();
    let changed = changed.expect("an administrator changes any account's session");
    assert_eq!(member_ids(&changed), ["+15557654321", "dee@example.com"]);
    assert_eq!(repo.find(&theirs.id, &both).await.expect("find"), Some(changed.clone()));
    let invited =
        repo.update(&theirs.id, &both, &invite("eve@example.com"), None, None, at(3)).await.applied();
    let invited = invited.expect("a caller who sees the account invites");
    assert_eq!(member_ids(&invited), ["+15557654321", "dee@example.com", "eve@example.com"]);
    assert_eq!(messages(&invited).len(), 3);
    assert_eq!(repo.find(&theirs.id, &admin).await.expect("find"), Some(invited));
    assert_eq!(reload(&repo, &ours.id).await, ours, "the other account's session is untouched");
}

/// A caller's key is one key in every account it sees (it is kept under the account of the
/// session it addressed): reused on another account's session it is refused; a keyed
/// change answered NotFound (no session, so no account) is replayed all the same.
pub async fn a_key_is_the_callers_across_its_accounts(repo: Repo) {
    let ours = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    let theirs = chat_in("globex", &["+15557654321", "cy@example.com", "dee@example.com"]);
    insert(&repo, &ours).await;
    insert(&repo, &theirs).await;
    let both = caller(&["User"], &["acme", "globex"]);

    let first = keyed("agent@example.com", "k-1", "remove bob", at(3600));
    repo.update(&ours.id, &both, &remove("bob@example.com"), None, Some(first), at(1))
        .await
        .applied()
        .expect("first");
    let other = keyed("agent@example.com", "k-1", "remove cy", at(3600));
    let reused =
        repo.update(&theirs.id, &both, &remove("cy@example.com"), None, Some(other), at(2)).await.applied();
    assert_eq!(reused.err(), Some(UpdateError::Keyed(KeyedRefusal::Reused)));
    assert_eq!(reload_as(&repo, &theirs.id, &both).await, theirs, "nothing changed");

    let unseen = keyed("agent@example.com", "k-2", "remove cy as acme", at(3600));
    let refused = repo
        .update(&theirs.id, &agent(), &remove("cy@example.com"), None, Some(unseen.clone()), at(3))
        .await
        .applied();
    assert_eq!(refused.err(), Some(UpdateError::Rejected(SessionError::NotFound)));
    let again = repo.update(&theirs.id, &agent(), &remove("cy@example.com"), None, Some(unseen), at(4)).await;
    assert_eq!(replay_of(again), SessionError::NotFound.to_string(), "the NotFound answer is kept");
}

async fn reload_as(repo: &Repo, id: &SessionId, actor: &evo_domain::Actor) -> Session {
    repo.find(id, actor).await.expect("find").unwrap_or_else(|| panic!("session {id} is missing"))
}

/// `kept_answer` sees a key exactly where `update` would answer from it: the same caller's
/// key, live, among the accounts it sees (and the no-account answers of NotFound), whatever
/// the request (a reuse is an answer too: a 422).
pub async fn a_kept_answer_is_seen_where_update_would_answer_from_it(repo: Repo) {
    let ours = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    let theirs = chat_in("globex", &["+15557654321", "cy@example.com", "dee@example.com"]);
    insert(&repo, &ours).await;
    insert(&repo, &theirs).await;
    let (acme_only, globex_only) = (agent(), caller(&["User"], &["globex"]));
    let admin = caller(&["Admin"], &[]);
    let key = keyed("agent@example.com", "k-1", "remove bob", at(3600));
    // A repeat's answer, or a reuse's refusal: either is an answer `update` would give.
    let kept = async |key: &Idempotency, actor: &evo_domain::Actor, now| match repo
        .kept_answer(key, actor, now)
        .await
    {
        Ok(found) => found.is_some(),
        Err(UpdateError::Keyed(KeyedRefusal::Reused)) => true,
        Err(other) => panic!("kept_answer: {other}"),
    };
    assert!(!kept(&key, &acme_only, at(0)).await, "nothing kept yet");

    repo.update(&ours.id, &acme_only, &remove("bob@example.com"), None, Some(key.clone()), at(1))
        .await
        .applied()
        .expect("the keyed removal");
    assert!(kept(&key, &acme_only, at(2)).await, "a repeat");
    assert!(
        kept(&keyed("agent@example.com", "k-1", "remove ann", at(3600)), &acme_only, at(2)).await,
        "a reuse"
    );
    assert!(kept(&key, &admin, at(2)).await, "an Admin sees every account");
    assert!(!kept(&keyed("agent@example.com", "k-2", "remove bob", at(3600)), &acme_only, at(2)).await);
    assert!(!kept(&keyed("other@example.com", "k-1", "remove bob", at(3600)), &acme_only, at(2)).await);
    assert!(!kept(&key, &globex_only, at(2)).await, "kept under acme, which that caller does not see");
    assert!(!kept(&key, &acme_only, at(3600)).await, "expired");
    // And update agrees: the same key on a session that caller sees is carried out.
    let carried = repo
        .update(&theirs.id, &globex_only, &remove("cy@example.com"), None, Some(key), at(3))
        .await
        .applied();
    assert_eq!(carried.expect("not a repeat for that caller").members.len(), 2);

    // A NotFound answer has no account: every caller of that scope meets it.
    let unseen = keyed("agent@example.com", "k-3", "remove cy as acme", at(3600));
    let refused = repo
        .update(&theirs.id, &acme_only, &remove("cy@example.com"), None, Some(unseen.clone()), at(4))
        .await
        .applied();
    assert_eq!(refused.err(), Some(UpdateError::Rejected(SessionError::NotFound)));
    assert!(kept(&unseen, &globex_only, at(5)).await);
}

/// A change that would make the session larger than the store's limit is refused and changes
/// nothing (no row, no event); ending the session is allowed whatever its size.
pub async fn a_change_past_the_size_limit_is_refused_and_an_end_is_not(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let id = &session.id;
    let large = |n: usize| {
        let mut member = NewMember::new(identity(&format!("guest{n}@example.com")));
        member.display_name = Some("x".repeat(10 * 1024));
        SessionCommand::InviteMember(member)
    };
    // Each invite adds 10 KiB or more (the name, and the log message naming the member).
    let mut refused_at = None;
    for n in 1..=10 {
        match repo.update(id, &agent(), &large(n), None, None, at(n as i64)).await.applied() {
            Ok(_) => {}
            Err(UpdateError::Rejected(SessionError::SessionTooLarge { .. })) => {
                refused_at = Some(n);
                break;
            }
            Err(other) => panic!("invite {n}: {other:?}"),
        }
    }
    let refused_at = refused_at.expect("the limit is reached within 10 invites of 10 KiB");
    assert!(refused_at >= 2, "the first invite fits");
    assert_refused_without_change(
        &repo,
        id,
        large(refused_at),
        SessionError::SessionTooLarge { max_bytes: crate::fixtures::MAX_SESSION_BYTES },
    )
    .await;
    let ended = repo
        .update(id, &agent(), &SessionCommand::end(), None, None, at(4))
        .await
        .applied()
        .expect("an end is allowed");
    assert!(ended.ended);
}

/// PatchSession's change persists the fields it sets and keeps the others (console data
/// included: a change that does not set it leaves it as it is), on any channel.
pub async fn a_patch_persists_the_fields_it_sets_and_keeps_the_others(repo: Repo) {
    let session = open(Channel::Voice, &["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let screen = evo_domain::SessionPatch {
        console_data: Some("{\"step\":1}".into()),
        call_state: Some(CallState::Hold),
        hold_reason: Some(evo_domain::HoldReason::Transferring),
        ..Default::default()
    };
    let changed = repo
        .update(&session.id, &agent(), &SessionCommand::Patch(screen), None, None, at(1))
        .await
        .applied()
        .expect("the patch");
    assert_eq!(reload(&repo, &session.id).await, changed, "returns the stored state");
    let queued =
        evo_domain::SessionPatch { queue_state: Some(evo_domain::QueueState::Queued), ..Default::default() };
    repo.update(&session.id, &agent(), &SessionCommand::Patch(queued), None, None, at(2))
        .await
        .applied()
        .expect("the second patch");
    let stored = reload(&repo, &session.id).await;
    assert_eq!(stored.details.console_data.as_deref(), Some("{\"step\":1}"), "kept: not set by the second");
    assert_eq!(
        (stored.call_state, stored.hold_reason, stored.queue_state),
        (CallState::Hold, evo_domain::HoldReason::Transferring, evo_domain::QueueState::Queued)
    );
    assert_eq!(stored.version, 2);
    assert_eq!(
        messages(&stored)[1..],
        [
            "Agent Smith set consoleData, callState to Hold, holdReason to Transferring".to_owned(),
            "Agent Smith set queueState to Queued".to_owned(),
        ]
    );
    // A removal after it rewrites the header too, and keeps what the patches set.
    repo.update(&session.id, &agent(), &SessionCommand::end(), None, None, at(3))
        .await
        .applied()
        .expect("end");
    let ended = reload(&repo, &session.id).await;
    assert_eq!(
        (ended.queue_state, ended.details.console_data.as_deref()),
        (evo_domain::QueueState::Queued, Some("{\"step\":1}"))
    );
}
