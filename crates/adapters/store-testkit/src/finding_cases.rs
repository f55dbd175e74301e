//! The store contract of finding sessions (docs/api.md, "ListSessions", "GetActiveSessions"):
//! `search`, `sessions_with_member`, and the answer a request of many changes keeps
//! (`keep_answer`).

use evo_domain::{
    AccountId, Actor, Channel, Direction, NewMember, NewSession, Session, SessionCommand, SessionDetails,
    SessionId,
};
use evo_ports::queries::MemberSessions;
use evo_ports::{
    AccountScope, Applied, ChangeOutcome, KeyedRefusal, Paging, SessionFilter, SessionSearch, SortField,
    SortOrder, UpdateError,
};

use crate::cases::{EchoAnswer, Repo, insert, remove};
use crate::fixtures::{agent, at, identity, new_session_id};

fn user_of(accounts: &[&str]) -> Actor {
    Actor {
        user_id: "agent@example.com".into(),
        name: "Agent Smith".into(),
        roles: vec!["User".into()],
        account_ids: accounts.iter().map(|a| AccountId::parse(a).expect("valid account")).collect(),
    }
}

fn accounts(names: &[&str]) -> AccountScope {
    AccountScope::Only(names.iter().map(|a| AccountId::parse(a).expect("valid account")).collect())
}

/// A session of `account` opened `minutes` after the base time, with `details`.
fn session_at(
    account: &str,
    minutes: i64,
    channel: Channel,
    details: SessionDetails,
    members: &[&str],
) -> Session {
    Session::open(
        new_session_id("f"),
        NewSession {
            account_id: AccountId::parse(account).expect("valid account"),
            channel,
            direction: Direction::Incoming,
            details,
            members: members.iter().map(|raw| NewMember::new(identity(raw))).collect(),
        },
        &user_of(&[account]),
        at(minutes * 60),
    )
    .expect("the session opens")
}

fn search(scope: AccountScope, filter: SessionFilter) -> SessionSearch {
    SessionSearch { accounts: scope, filter, paging: Paging::default() }
}

async fn found(repo: &Repo, query: SessionSearch) -> Vec<SessionId> {
    let page = repo.search(&query).await.expect("search");
    page.sessions.into_iter().map(|session| session.id.clone()).collect()
}

/// Each filter alone and combined finds exactly its sessions, only in the accounts searched;
/// "contains" ignores case, and a `LIKE` wildcard in it matches itself.
pub async fn every_filter_finds_its_sessions_alone_and_combined(repo: Repo) {
    let details = |customer: &str, endpoint: &str, from: &str, to: &str| SessionDetails {
        customer_id: Some(customer.into()),
        endpoint_id: Some(endpoint.into()),
        from_name: Some(from.into()),
        destination: Some(to.into()),
        ..SessionDetails::default()
    };
    let a = session_at(
        "acme",
        0,
        Channel::Chat,
        details("c1", "e1", "Ann Lee", "Sales"),
        &["+15551230001", "bob@example.com"],
    );
    let mut b_details = details("c2", "e1", "Zed", "Support 50% off");
    b_details.from_phone_number = Some("+15557778888".into());
    let b = session_at("acme", 60, Channel::Voice, b_details, &["+15551230002"]);
    let c = session_at(
        "acme",
        120,
        Channel::Chat,
        details("c1", "e2", "ann marie", "support_desk"),
        &["+15551230003"],
    );
    let other =
        session_at("globex", 30, Channel::Chat, details("c1", "e1", "Ann Lee", "Sales"), &["+15551230004"]);
    for session in [&a, &b, &c, &other] {
        insert(&repo, session).await;
    }
    repo.update(
        &a.id,
        &agent(),
        &SessionCommand::RemoveMember {
            identity: identity("bob@example.com"),
            reason: evo_domain::RemovalReason::parse("Left For The Day").expect("reason"),
        },
        None,
        None,
        at(7200),
    )
    .await
    .applied()
    .expect("the removal");
    let acme = || accounts(&["acme"]);
    let filter = SessionFilter::default;
    // Newest first: c (2 h), b (1 h), a (0 h).
    assert_eq!(found(&repo, search(acme(), filter())).await, [c.id.clone(), b.id.clone(), a.id.clone()]);
    assert_eq!(found(&repo, search(AccountScope::All, filter())).await.len(), 4, "every account");
    assert_eq!(found(&repo, search(accounts(&["globex"]), filter())).await, std::slice::from_ref(&other.id));
    let cases: Vec<(&str, SessionFilter, Vec<&SessionId>)> = vec![
        ("customerIds", SessionFilter { customer_ids: vec!["c1".into()], ..filter() }, vec![&c.id, &a.id]),
        (
            "endpointIds",
            SessionFilter { endpoint_ids: vec!["e1".into(), "e9".into()], ..filter() },
            vec![&b.id, &a.id],
        ),
        (
            "specificIds",
            SessionFilter { session_ids: vec![a.id.clone(), other.id.clone()], ..filter() },
            vec![&a.id],
        ),
        ("created from", SessionFilter { created_from: Some(at(3599)), ..filter() }, vec![&c.id, &b.id]),
        ("created before", SessionFilter { created_before: Some(at(3599)), ..filter() }, vec![&a.id]),
        ("from, name, any case", SessionFilter { from: Some("ANN".into()), ..filter() }, vec![&c.id, &a.id]),
        ("from, phone", SessionFilter { from: Some("7778".into()), ..filter() }, vec![&b.id]),
        ("to", SessionFilter { to: Some("support".into()), ..filter() }, vec![&c.id, &b.id]),
        ("to, % is itself", SessionFilter { to: Some("50%".into()), ..filter() }, vec![&b.id]),
        ("to, _ is itself", SessionFilter { to: Some("t_d".into()), ..filter() }, vec![&c.id]),
        ("log, any case", SessionFilter { log: Some("left for the".into()), ..filter() }, vec![&a.id]),
        ("log, short", SessionFilter { log: Some("Da".into()), ..filter() }, vec![&a.id]),
        ("log, nowhere", SessionFilter { log: Some("nobody wrote this".into()), ..filter() }, vec![]),
        (
            "combined",
            SessionFilter {
                customer_ids: vec!["c1".into()],
                from: Some("lee".into()),
                log: Some("day".into()),
                ..filter()
            },
            vec![&a.id],
        ),
    ];
    for (name, filter, expected) in cases {
        let expected: Vec<SessionId> = expected.into_iter().cloned().collect();
        assert_eq!(found(&repo, search(acme(), filter)).await, expected, "{name}");
    }
    let page = repo.search(&search(acme(), filter())).await.expect("search");
    assert_eq!(page.sessions[2].members.len(), 1, "members come with each session");
    assert!(page.sessions.iter().all(|session| session.log.is_empty()), "the log does not");
}

/// Pages follow each other without overlap in either order, on either field; the count is
/// of every match, and only when asked.
pub async fn pages_follow_each_other_in_the_order_asked(repo: Repo) {
    let sessions: Vec<Session> = (0..5)
        .map(|i| session_at("acme", i, Channel::Chat, SessionDetails::default(), &["+15551230001"]))
        .collect();
    for session in &sessions {
        insert(&repo, session).await;
    }
    // The oldest changes last: it sorts first by dateLastModified.
    repo.update(&sessions[0].id, &agent(), &SessionCommand::end(), None, None, at(3600))
        .await
        .applied()
        .expect("end");
    let ids = |range: &[usize]| range.iter().map(|&i| sessions[i].id.clone()).collect::<Vec<_>>();
    let page_of = |page, order, sort, count| SessionSearch {
        accounts: accounts(&["acme"]),
        filter: SessionFilter::default(),
        paging: Paging { page, per_page: 2, all: false, sort, order, count },
    };
    let first =
        repo.search(&page_of(0, SortOrder::Descend, SortField::DateCreated, true)).await.expect("page 0");
    assert_eq!(first.sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids(&[4, 3]));
    assert_eq!((first.total_count, first.has_more), (Some(5), true));
    let last =
        repo.search(&page_of(2, SortOrder::Descend, SortField::DateCreated, false)).await.expect("page 2");
    assert_eq!(last.sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids(&[0]));
    assert_eq!((last.total_count, last.has_more), (None, false));
    let past =
        repo.search(&page_of(3, SortOrder::Descend, SortField::DateCreated, true)).await.expect("page 3");
    assert_eq!((past.sessions.len(), past.total_count, past.has_more), (0, Some(5), false));
    assert_eq!(found(&repo, page_of(0, SortOrder::Ascend, SortField::DateCreated, true)).await, ids(&[0, 1]));
    assert_eq!(
        found(&repo, page_of(0, SortOrder::Descend, SortField::DateLastModified, true)).await,
        ids(&[0, 4])
    );
    assert_eq!(
        found(&repo, page_of(1, SortOrder::Ascend, SortField::DateLastModified, true)).await,
        ids(&[3, 4])
    );
    let mut everything = page_of(7, SortOrder::Descend, SortField::DateCreated, true);
    everything.paging.all = true;
    assert_eq!(found(&repo, everything).await, ids(&[4, 3, 2, 1, 0]), "all ignores the page");
}

/// A member's sessions: not ended, in the accounts searched, of the channel asked, newest
/// first, at most the limit; the identity compared as identities are.
pub async fn a_members_active_sessions_are_found_by_identity(repo: Repo) {
    let member = |minutes, account: &str, channel, members: &[&str]| {
        session_at(account, minutes, channel, SessionDetails::default(), members)
    };
    let older = member(0, "acme", Channel::Chat, &["+15551230001", "Ann@Example.com"]);
    let voice = member(10, "acme", Channel::Voice, &["+15551230002", "ann@example.com"]);
    let ended = member(20, "acme", Channel::Chat, &["+15551230003", "ann@example.com"]);
    let elsewhere = member(30, "globex", Channel::Chat, &["+15551230004", "ann@example.com"]);
    let without = member(40, "acme", Channel::Chat, &["+15551230005", "bob@example.com"]);
    let newer = member(50, "acme", Channel::Chat, &["ann@example.com", "bob@example.com"]);
    for session in [&older, &voice, &ended, &elsewhere, &without, &newer] {
        insert(&repo, session).await;
    }
    repo.update(&ended.id, &agent(), &SessionCommand::end(), None, None, at(3600))
        .await
        .applied()
        .expect("end");
    let query = |scope, channel, limit| MemberSessions {
        accounts: scope,
        identity: identity("ANN@example.com"),
        channel,
        limit,
    };
    let ids = |sessions: Vec<Session>| sessions.into_iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let acme = repo.sessions_with_member(&query(accounts(&["acme"]), None, 10)).await.expect("acme");
    assert_eq!(ids(acme.clone()), [newer.id.clone(), voice.id.clone(), older.id.clone()]);
    assert_eq!(acme[0].members.len(), 2, "with their members");
    let chats =
        repo.sessions_with_member(&query(accounts(&["acme"]), Some(Channel::Chat), 10)).await.expect("chats");
    assert_eq!(ids(chats), [newer.id.clone(), older.id.clone()]);
    let everywhere = repo.sessions_with_member(&query(AccountScope::All, None, 2)).await.expect("all");
    assert_eq!(ids(everywhere), [newer.id.clone(), elsewhere.id.clone()], "newest first, at most the limit");
    let none = repo.sessions_with_member(&query(accounts(&["initech"]), None, 10)).await.expect("none");
    assert!(none.is_empty());
    repo.update(&newer.id, &agent(), &remove("bob@example.com"), None, None, at(3700))
        .await
        .applied()
        .expect("remove");
    let after =
        repo.sessions_with_member(&query(accounts(&["acme"]), Some(Channel::Chat), 10)).await.expect("after");
    assert_eq!(ids(after), [newer.id.clone(), older.id.clone()], "another member's removal changes nothing");
}

/// The answer of a request of many changes is kept once: a repeat gets the first answer, a
/// reuse for another request is refused, and the key is the caller's in every account.
pub async fn an_answer_kept_for_many_changes_is_kept_once(repo: Repo) {
    let key = |fingerprint: &str| evo_ports::Idempotency {
        scope: "agent@example.com".into(),
        key: "leave-all-1".into(),
        fingerprint: fingerprint.into(),
        expires_at: at(3600),
        renderer: std::sync::Arc::new(EchoAnswer),
    };
    let answer = |body: &str| evo_ports::KeptAnswer {
        status: 200,
        content_type: "application/json".into(),
        body: body.as_bytes().to_vec(),
    };
    assert_eq!(repo.kept_answer(&key("f"), &agent(), at(0)).await, Ok(None));
    assert_eq!(repo.keep_answer(&key("f"), &answer("first"), at(1)).await, Ok(ChangeOutcome::Applied(())));
    assert_eq!(
        repo.keep_answer(&key("f"), &answer("second"), at(2)).await,
        Ok(ChangeOutcome::Replayed(answer("first"))),
        "a concurrent repeat that finished later answers as the first"
    );
    assert_eq!(repo.kept_answer(&key("f"), &agent(), at(2)).await, Ok(Some(answer("first"))));
    assert_eq!(
        repo.kept_answer(&key("f"), &user_of(&["globex"]), at(2)).await,
        Ok(Some(answer("first"))),
        "kept under no account: the caller's wherever it acts"
    );
    assert_eq!(
        repo.keep_answer(&key("g"), &answer("other"), at(2)).await,
        Err(UpdateError::Keyed(KeyedRefusal::Reused))
    );
    assert_eq!(
        repo.kept_answer(&key("g"), &agent(), at(2)).await,
        Err(UpdateError::Keyed(KeyedRefusal::Reused))
    );
    assert_eq!(repo.kept_answer(&key("f"), &agent(), at(3600)).await, Ok(None), "expired");
    assert_eq!(
        repo.keep_answer(&key("g"), &answer("afresh"), at(3600)).await,
        Ok(ChangeOutcome::Applied(()))
    );
}
