//! The outbox's contract (docs/api.md, "Events"): every committed change has exactly one
//! event and every refused one none; events read back in change order per session, by
//! account and after a number; webhook delivery hands out a session's events one at a time,
//! in order, to one worker at a time. Stores under test write events for a webhook.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use evo_domain::{AccountId, EventType, Session, SessionCommand, SessionError};
use evo_ports::Applied;
use evo_ports::{EventFilter, EventId, StoredEvent, UpdateError};
use tokio::sync::Barrier;

use crate::cases::{Repo, insert, invite, remove};
use crate::fixtures::{agent, at, chat, chat_with_users, user};

/// Waits (up to 10 s) until `filter` admits `count` readable events; returns them all.
/// Numbering may come after the commit (PostgreSQL numbers in the background).
pub async fn readable_events(repo: &Repo, filter: &EventFilter, count: usize) -> Vec<StoredEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = repo.events_after(0, filter, 1000).await.expect("read the outbox");
        if events.len() >= count || tokio::time::Instant::now() > deadline {
            return events;
        }
        let last = events.last().map_or(0, |e| e.id);
        repo.wait_for_events_after(last, Duration::from_millis(100)).await;
    }
}

fn of_session(session: &Session) -> EventFilter {
    EventFilter::Session { account_id: session.account_id.clone(), session_id: session.id.clone() }
}

fn body(event: &StoredEvent) -> serde_json::Value {
    serde_json::from_str(&event.body).unwrap_or_else(|e| panic!("event {} is not JSON: {e}", event.body))
}

fn assert_increasing(events: &[StoredEvent]) {
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "event numbers rise: {ids:?}");
}

/// Create, remove, invite, a refused removal, end: four events, in that order, each with
/// the session as the change left it; the refusal has none.
pub async fn every_change_has_one_event_and_a_refusal_none(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    repo.update(&session.id, &agent(), &remove("ann@example.com"), None, None, at(1))
        .await
        .applied()
        .expect("remove");
    repo.update(&session.id, &agent(), &invite("bob@example.com"), None, None, at(2))
        .await
        .applied()
        .expect("invite");
    let refused =
        repo.update(&session.id, &agent(), &remove("nobody@example.com"), None, None, at(3)).await.applied();
    assert!(
        matches!(refused, Err(UpdateError::Rejected(SessionError::MemberNotFound { .. }))),
        "{refused:?}"
    );
    let patch =
        evo_domain::SessionPatch { call_state: Some(evo_domain::CallState::Hold), ..Default::default() };
    repo.update(&session.id, &agent(), &SessionCommand::Patch(patch), None, None, at(3))
        .await
        .applied()
        .expect("patch");
    repo.update(&session.id, &agent(), &SessionCommand::end(), None, None, at(4))
        .await
        .applied()
        .expect("end");

    let events = readable_events(&repo, &of_session(&session), 5).await;
    let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            EventType::SessionCreated,
            EventType::ChatMemberRemoved,
            EventType::ChatMemberAdded,
            EventType::SessionInfoChanged,
            EventType::SessionEnded
        ]
    );
    assert_increasing(&events);
    for (version, event) in events.iter().enumerate() {
        let body = body(event);
        assert_eq!(body["id"], event.id.to_string(), "the number leads the body");
        assert_eq!(body["type"], event.event_type.name());
        assert_eq!(body["sessionId"], session.id.as_str());
        assert_eq!(body["version"], version as u64, "the session after its change");
        assert_eq!(
            (event.account_id.as_str(), event.session_id.as_str()),
            (session.account_id.as_str(), session.id.as_str())
        );
    }
    // Nothing more comes later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(repo.events_after(0, &of_session(&session), 100).await.expect("read").len(), 5);
}

/// 16 concurrent removals of distinct members and 8 racing removals of one member: one
/// event per success, none per refusal, numbered in change order (the versions rise).
pub async fn concurrent_changes_have_one_event_each_in_change_order(repo: Repo) {
    let session = chat_with_users(17);
    insert(&repo, &session).await;
    let mut commands: Vec<SessionCommand> = (0..16).map(|i| remove(&user(i))).collect();
    commands.extend((0..8).map(|_| remove(&user(16))));
    let barrier = Arc::new(Barrier::new(commands.len()));
    let tasks: Vec<_> = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| {
            let (repo, id, barrier) = (Arc::clone(&repo), session.id.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                repo.update(&id, &agent(), &command, None, None, at(10 + i as i64)).await.applied()
            })
        })
        .collect();
    let mut successes = 0;
    for task in tasks {
        match task.await.expect("the task ran") {
            Ok(_) => successes += 1,
            Err(UpdateError::Rejected(SessionError::MemberNotFound { .. })) => {}
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(successes, 17, "16 distinct removals and one of the racing eight");
    let events = readable_events(&repo, &of_session(&session), 18).await;
    assert_eq!(events.len(), 18, "the creation and one event per removal");
    assert_increasing(&events);
    let versions: Vec<u64> = events.iter().map(|e| body(e)["version"].as_u64().expect("version")).collect();
    assert_eq!(versions, (0..18).collect::<Vec<u64>>(), "numbers follow change order");
}

/// Events are read after a number, by account, and the newest number is known.
pub async fn events_read_after_a_number_and_by_account(repo: Repo) {
    let ours = chat(&["+15551234567", "ann@example.com"]);
    let mut theirs = chat(&["+15557654321", "bob@example.com"]).into_data();
    theirs.account_id = AccountId::parse("other").expect("account");
    let theirs = Session::restore(theirs);
    insert(&repo, &ours).await;
    insert(&repo, &theirs).await;
    repo.update(&ours.id, &agent(), &remove("ann@example.com"), None, None, at(1))
        .await
        .applied()
        .expect("remove");

    let all = readable_events(&repo, &EventFilter::All, 3).await;
    assert_eq!(all.len(), 3);
    assert_increasing(&all);
    assert_eq!(repo.last_event_id().await.expect("last"), all[2].id);
    let after_first = repo.events_after(all[0].id, &EventFilter::All, 100).await.expect("read");
    assert_eq!(after_first, all[1..].to_vec(), "strictly after the number given");
    let limited = repo.events_after(0, &EventFilter::All, 2).await.expect("read");
    assert_eq!(limited, all[..2].to_vec(), "at most the limit, oldest first");
    let accounts = EventFilter::Accounts(vec![ours.account_id.clone()]);
    let ours_only = repo.events_after(0, &accounts, 100).await.expect("read");
    assert_eq!(ours_only.len(), 2);
    assert!(ours_only.iter().all(|e| e.account_id == ours.account_id.as_str()), "{ours_only:?}");
    let none = repo.events_after(0, &EventFilter::Accounts(vec![]), 100).await.expect("read");
    assert!(none.is_empty(), "no account, no events");
}

/// A session's events are handed out one at a time in order, each to one claimer; a retry
/// holds its session's later events back, a dead letter does not; redelivery and retention.
pub async fn delivery_hands_out_each_sessions_events_in_order(repo: Repo) {
    let first = chat(&["+15551234567", "ann@example.com", "bob@example.com"]);
    let second = chat(&["+15557654321", "cat@example.com"]);
    insert(&repo, &first).await;
    repo.update(&first.id, &agent(), &remove("ann@example.com"), None, None, at(1))
        .await
        .applied()
        .expect("remove ann");
    repo.update(&first.id, &agent(), &remove("bob@example.com"), None, None, at(2))
        .await
        .applied()
        .expect("remove bob");
    insert(&repo, &second).await;
    let all = readable_events(&repo, &EventFilter::All, 4).await;
    let [a1, a2, a3, b1] = [&all[0], &all[1], &all[2], &all[3]];
    assert_eq!(b1.session_id, second.id.as_str());

    let now = at(100);
    let lease = at(130);
    let claimed = repo.claim_due(now, lease, 10).await.expect("claim");
    let ids: Vec<EventId> = claimed.iter().map(|p| p.event.id).collect();
    assert_eq!(ids, [a1.id, b1.id], "the first event of each session");
    assert_eq!(claimed[0].event, *a1);
    assert_eq!(claimed[0].attempts, 0);
    assert!(
        repo.claim_due(now, lease, 10).await.expect("claim").is_empty(),
        "leased events are not handed out twice"
    );
    // A renewal keeps the claim past its first end; one naming another end renews nothing
    // (the claim lapsed and may be another worker's).
    let renewed = repo.renew_lease(&[a1.id, b1.id], lease, at(160)).await.expect("renew");
    assert_eq!(renewed.len(), 2, "{renewed:?}");
    assert!(
        repo.renew_lease(&[a1.id], lease, at(999)).await.expect("renew").is_empty(),
        "not the held lease"
    );
    assert!(
        repo.claim_due(at(140), at(170), 10).await.expect("claim").is_empty(),
        "renewed: still held at 140"
    );
    let taken_over = repo.claim_due(at(160), at(190), 10).await.expect("claim");
    assert_eq!(taken_over.len(), 2, "an unrenewed lease lapses and the events go to the next claimer");
    let lease = at(190);

    repo.mark_delivered(&[a1.id], now).await.expect("delivered");
    let next = repo.claim_due(now, lease, 10).await.expect("claim");
    assert_eq!(next.iter().map(|p| p.event.id).collect::<Vec<_>>(), [a2.id], "then the session's next");

    repo.mark_retry(a2.id, 1, at(200), "HTTP 500").await.expect("retry");
    assert!(
        repo.claim_due(at(150), at(180), 10).await.expect("claim").iter().all(|p| p.event.id == b1.id),
        "a2 is not due yet and holds a3 back"
    );
    let retried = repo.claim_due(at(200), at(230), 10).await.expect("claim");
    let retried: Vec<_> = retried.into_iter().filter(|p| p.event.session_id == first.id.as_str()).collect();
    assert_eq!(retried.iter().map(|p| (p.event.id, p.attempts)).collect::<Vec<_>>(), [(a2.id, 1)]);

    repo.mark_dead(a2.id, 2, "gave up").await.expect("dead");
    let after_dead = repo.claim_due(at(300), at(330), 10).await.expect("claim");
    assert!(after_dead.iter().any(|p| p.event.id == a3.id), "a dead letter no longer holds its session back");
    let counts = repo.delivery_counts().await.expect("counts");
    assert_eq!((counts.pending, counts.dead), (2, 1), "a3 and b1 pending, a2 dead");

    assert_eq!(repo.redeliver_dead(at(400)).await.expect("redeliver"), 1);
    let counts = repo.delivery_counts().await.expect("counts");
    assert_eq!((counts.pending, counts.dead), (3, 0));

    // Dead letters have a retention of their own, counted from their creation.
    repo.mark_dead(a2.id, 3, "gave up again").await.expect("dead");
    assert_eq!(repo.purge_dead_letters(at(-1000), 100).await.expect("purge"), 0, "younger than the cut");
    assert_eq!(repo.purge_dead_letters(at(1_000_000), 100).await.expect("purge"), 1);
    // Retention: only the delivered event is settled.
    assert_eq!(repo.purge_settled_events(at(1_000_000), 100).await.expect("purge"), 1);
    let left: Vec<EventId> =
        repo.events_after(0, &EventFilter::All, 100).await.expect("read").iter().map(|e| e.id).collect();
    assert_eq!(left, [a3.id, b1.id]);
}

/// Two workers claiming at once over eight sessions get disjoint events, all of them.
pub async fn concurrent_claims_never_hand_out_one_event_twice(repo: Repo) {
    for _ in 0..8 {
        insert(&repo, &chat(&["+15551234567", "ann@example.com"])).await;
    }
    readable_events(&repo, &EventFilter::All, 8).await;
    let barrier = Arc::new(Barrier::new(2));
    let claims: Vec<_> = (0..2)
        .map(|_| {
            let (repo, barrier) = (Arc::clone(&repo), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let mut mine = Vec::new();
                for _ in 0..10 {
                    let claimed = repo.claim_due(at(100), at(130), 2).await.expect("claim");
                    if claimed.is_empty() {
                        break;
                    }
                    mine.extend(claimed.into_iter().map(|p| p.event.id));
                }
                mine
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for claim in claims {
        let mine = claim.await.expect("the claim ran");
        total += mine.len();
        seen.extend(mine);
    }
    assert_eq!((total, seen.len()), (8, 8), "each of the eight events exactly once");
}

/// A read of events returns at most 1 MiB of bodies (one event more only when it alone is
/// larger), whatever its count limit: a replay reads in bounded pages.
pub async fn events_are_read_in_pages_of_at_most_a_mebibyte(repo: Repo) {
    let session = chat(&["+15551234567", "ann@example.com"]);
    insert(&repo, &session).await;
    let created = readable_events(&repo, &EventFilter::All, 1).await[0].id;
    for n in 0..3 {
        let mut member =
            evo_domain::NewMember::new(crate::fixtures::identity(&format!("guest{n}@example.com")));
        member.application_data.insert("pad".into(), "x".repeat(600 * 1024));
        repo.update(&session.id, &agent(), &SessionCommand::InviteMember(member), None, None, at(n + 1))
            .await
            .applied()
            .expect("invite");
    }
    repo.update(&session.id, &agent(), &remove("ann@example.com"), None, None, at(9))
        .await
        .applied()
        .expect("remove");
    readable_events(&repo, &EventFilter::All, 5).await;
    let mut after = created;
    let mut pages = Vec::new();
    loop {
        let page = repo.events_after(after, &EventFilter::All, 100).await.expect("read");
        let Some(last) = page.last() else { break };
        after = last.id;
        assert!(
            page.len() == 1 || page.iter().map(|e| e.body.len()).sum::<usize>() <= 1 << 20,
            "{}",
            page.len()
        );
        pages.push(page.len());
    }
    assert_eq!(pages, [1, 1, 2], "600 KiB, 600 KiB, then 600 KiB with the small removal");
}

/// Accounts take turns: a backlog of due events in one account does not fill a claim while
/// another account has a due event (a round takes at most 4 events of one account), a claim
/// still fills up from the backlog when there is room, and the next claims go on until every
/// event was claimed once.
pub async fn delivery_takes_turns_between_accounts(repo: Repo) {
    for _ in 0..12 {
        insert(&repo, &chat(&["+15551234567", "ann@example.com"])).await;
    }
    let mut late = chat(&["+15557654321", "bob@example.com"]).into_data();
    late.account_id = AccountId::parse("zz-late").expect("account");
    let late = Session::restore(late);
    insert(&repo, &late).await;
    readable_events(&repo, &EventFilter::All, 13).await;

    let first = repo.claim_due(at(100), at(130), 8).await.expect("claim");
    assert!(
        first.iter().any(|p| p.event.session_id == late.id.as_str()),
        "the other account's event is in the first claim, though 12 older events wait"
    );
    assert_eq!(first.len(), 8, "rounds go on while the claim has room");
    let mut claimed: Vec<EventId> = first.iter().map(|p| p.event.id).collect();
    for _ in 0..5 {
        claimed.extend(repo.claim_due(at(100), at(130), 8).await.expect("claim").iter().map(|p| p.event.id));
    }
    let distinct: BTreeSet<EventId> = claimed.iter().copied().collect();
    assert_eq!((claimed.len(), distinct.len()), (13, 13), "every event claimed once");
}
