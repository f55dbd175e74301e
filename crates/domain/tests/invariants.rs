//! Property tests: any sequence of invites, removals and ends, by callers with any roles and
//! accounts, keeps the session's invariants.

use chrono::{Duration, TimeZone, Utc};
use evo_domain::*;
use proptest::prelude::*;

const IDENTITIES: &[&str] = &[
    "+15551234567",
    "+15557654321",
    "+442079460958",
    "ann@example.com",
    "Ann@Example.com",
    "bob@example.com",
    "carol@example.com",
];

fn identity(index: usize) -> MemberIdentity {
    MemberIdentity::parse(IDENTITIES[index % IDENTITIES.len()]).unwrap()
}

#[derive(Debug, Clone)]
enum Step {
    Invite(usize),
    Remove(usize),
    End,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..IDENTITIES.len()).prop_map(Step::Invite),
        4 => (0..IDENTITIES.len()).prop_map(Step::Remove),
        1 => Just(Step::End),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    let roles = prop::sample::subsequence(vec!["User", "Admin", "SystemAdministrator", "Viewer"], 0..=2);
    let accounts = prop::sample::subsequence(vec!["acme", "globex"], 0..=2);
    (roles, accounts).prop_map(|(roles, accounts)| Actor {
        user_id: "someone@example.com".into(),
        name: "Someone".into(),
        roles: roles.into_iter().map(String::from).collect(),
        account_ids: accounts.into_iter().map(|a| AccountId::parse(a).unwrap()).collect(),
    })
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![6 => Just(Channel::Chat), 1 => Just(Channel::Voice), 1 => Just(Channel::Fax)]
}

fn opened(channel: Channel, first: usize, others: Vec<usize>) -> Session {
    let creator = Actor {
        user_id: "admin@example.com".into(),
        name: "Admin".into(),
        roles: vec!["Admin".into()],
        account_ids: vec![],
    };
    let mut members: Vec<NewMember> = vec![NewMember::new(identity(first))];
    for index in others {
        if members.iter().all(|m| m.identity != identity(index)) {
            members.push(NewMember::new(identity(index)));
        }
    }
    let new = NewSession {
        account_id: AccountId::parse("acme").unwrap(),
        channel,
        direction: Direction::Incoming,
        details: SessionDetails::default(),
        members,
    };
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    Session::open(SessionId::parse("s").unwrap(), new, &creator, t0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_sequence_keeps_the_invariants(
        channel in channel(),
        first in 0..IDENTITIES.len(),
        others in prop::collection::vec(0..IDENTITIES.len(), 0..4),
        steps in prop::collection::vec((actor(), step(), 0i64..5_000), 0..40),
    ) {
        let mut session = opened(channel, first, others);
        let original = session.members[0].identity.clone();
        let mut now = session.date_created;
        for (actor, step, advance_ms) in steps {
            // Clocks may disagree: time sometimes runs backwards between calls.
            now += Duration::milliseconds(advance_ms - 1_000);
            let before = session.clone();
            let result = match &step {
                Step::Invite(i) => session.invite_member(&actor, NewMember::new(identity(*i)), now),
                Step::Remove(i) => session.remove_member(&actor, &identity(*i), now),
                Step::End => session.end(&actor, now),
            };
            match result {
                Ok(change) => {
                    prop_assert!(!before.ended, "an ended session changed: {step:?}");
                    prop_assert_eq!(session.log.len(), before.log.len() + 1, "one log entry per change");
                    prop_assert_eq!(session.log.last(), Some(&change.log_entry));
                    prop_assert!(actor.can_access(&session.account_id), "changed by a stranger");
                    prop_assert_eq!(&session.last_modified_by, &actor.user_id);
                }
                Err(_) => prop_assert_eq!(&session, &before, "a failed change changed something"),
            }
            // No duplicate members, ever.
            for (i, a) in session.members.iter().enumerate() {
                prop_assert!(session.members[i + 1..].iter().all(|b| b.identity != a.identity));
            }
            // The original member never leaves, and is the only original member.
            prop_assert_eq!(&session.members[0].identity, &original);
            prop_assert_eq!(session.members.iter().filter(|m| m.is_original_member).count(), 1);
            // The log reads in order.
            prop_assert!(session.log.windows(2).all(|pair| pair[0].date <= pair[1].date));
            // Only chats change members.
            if session.channel != Channel::Chat {
                prop_assert_eq!(&session.members, &before.members);
            }
        }
    }
}
