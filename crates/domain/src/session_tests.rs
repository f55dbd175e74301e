//! The session rules, one outcome a test.

use chrono::{Duration, TimeZone, Utc};

use crate::*;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 26, 21, 1, 49).unwrap() + Duration::microseconds(123_456)
}

fn actor(roles: &[&str], accounts: &[&str]) -> Actor {
    Actor {
        user_id: "ann@example.com".into(),
        name: "Ann".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        account_ids: accounts.iter().map(|a| AccountId::parse(a).unwrap()).collect(),
    }
}

fn agent() -> Actor {
    actor(&["User"], &["acme"])
}

fn id(raw: &str) -> MemberIdentity {
    MemberIdentity::parse(raw).unwrap()
}

fn open(channel: Channel) -> Session {
    let mut bob = NewMember::new(id("bob@example.com"));
    bob.display_name = Some("Bob".into());
    Session::open(
        SessionId::parse("s-1").unwrap(),
        NewSession {
            account_id: AccountId::parse("acme").unwrap(),
            channel,
            direction: Direction::Incoming,
            details: SessionDetails::default(),
            members: vec![NewMember::new(id("+15551234567")), bob, NewMember::new(id("+15557654321"))],
        },
        &agent(),
        t0(),
    )
    .unwrap()
}

/// The defaults of a new session: docs/api.md, "NewSession".
#[test]
fn opening_a_chat_sets_the_contract_defaults() {
    let session = open(Channel::Chat);
    assert_eq!(session.call_state, CallState::Connected);
    assert_eq!(session.dial_state, DialState::None);
    assert_eq!(session.queue_state, QueueState::None);
    assert_eq!(session.hold_reason, HoldReason::None);
    assert!(!session.ended && !session.was_missed);
    assert_eq!(session.date_created.timestamp_subsec_micros(), 123_000, "kept to the millisecond");
    assert_eq!(session.created_by, "ann@example.com");
    let [caller, bob, other] = &session.members[..] else { panic!("three members") };
    assert!(caller.is_original_member && !bob.is_original_member && !other.is_original_member);
    assert_eq!(caller.role, MemberRole::Caller, "original member of an incoming session");
    assert_eq!(bob.role, MemberRole::Agent, "a user ID defaults to Agent");
    assert_eq!(other.role, MemberRole::None, "a phone defaults to None");
    assert!(session.members.iter().all(|m| m.call_state == MemberCallState::Connected && !m.muted));
    assert_eq!(session.log.len(), 1);
}

#[test]
fn opening_in_a_foreign_account_is_refused_unless_administrator() {
    let new = NewSession {
        account_id: AccountId::parse("globex").unwrap(),
        channel: Channel::Chat,
        direction: Direction::Outgoing,
        details: SessionDetails::default(),
        members: vec![NewMember::new(id("+15551234567"))],
    };
    let refused = Session::open(SessionId::parse("s").unwrap(), new.clone(), &agent(), t0());
    assert!(matches!(refused, Err(SessionError::Access(AccessError::AccountNotAllowed { .. }))));
    let admin = actor(&["Admin"], &[]);
    let session = Session::open(SessionId::parse("s").unwrap(), new, &admin, t0()).unwrap();
    assert_eq!(session.members[0].role, MemberRole::None, "outgoing: no Caller default");
}

#[test]
fn opening_with_a_repeated_identity_is_refused() {
    let new = NewSession {
        account_id: AccountId::parse("acme").unwrap(),
        channel: Channel::Chat,
        direction: Direction::Incoming,
        details: SessionDetails::default(),
        members: vec![NewMember::new(id("Bob@example.com")), NewMember::new(id("bob@EXAMPLE.com"))],
    };
    let result = Session::open(SessionId::parse("s").unwrap(), new, &agent(), t0());
    assert!(matches!(result, Err(SessionError::MemberAlreadyExists { .. })));
}

#[test]
fn removing_a_member_records_who_removed_whom() {
    let mut session = open(Channel::Chat);
    let later = t0() + Duration::seconds(5);
    let remover = Actor { user_id: "carol@example.com".into(), name: "Carol".into(), ..agent() };
    let change = session.remove_member(&remover, &id("BOB@example.com"), later).unwrap();
    assert!(
        matches!(&change.kind, ChangeKind::MemberRemoved { member, reason: None, leave: false } if member.identity == id("bob@example.com"))
    );
    assert_eq!(change.log_entry.message, "Carol removed Bob from the chat");
    assert_eq!(session.log.last(), Some(&change.log_entry));
    assert_eq!(session.log.len(), 2);
    assert!(session.members.iter().all(|m| m.identity != id("bob@example.com")));
    assert_eq!(session.members.len(), 2);
    assert_eq!(session.last_modified_by, "carol@example.com");
    assert_eq!(session.date_last_modified, later.trunc_subsecs(3));
}

#[test]
fn a_member_without_display_name_is_logged_by_identity() {
    let mut session = open(Channel::Chat);
    let change = session.remove_member(&agent(), &id("+1 555 765 4321"), t0()).unwrap();
    assert_eq!(change.log_entry.message, "Ann removed +15557654321 from the chat");
}

/// Every refusal, and that a refusal leaves the session exactly as it was.
#[test]
fn refused_removals_change_nothing() {
    let mut ended = open(Channel::Chat);
    ended.end(&agent(), t0()).unwrap();
    let cases: Vec<(Session, Actor, &str, SessionError)> = vec![
        (open(Channel::Chat), actor(&["User"], &["globex"]), "bob@example.com", SessionError::NotFound),
        (
            open(Channel::Voice),
            agent(),
            "bob@example.com",
            SessionError::NotAChatSession { channel: Channel::Voice },
        ),
        (
            open(Channel::Fax),
            agent(),
            "bob@example.com",
            SessionError::NotAChatSession { channel: Channel::Fax },
        ),
        (ended, agent(), "bob@example.com", SessionError::SessionEnded),
        (
            open(Channel::Chat),
            agent(),
            "dave@example.com",
            SessionError::MemberNotFound { identity: "dave@example.com".into() },
        ),
        (
            open(Channel::Chat),
            agent(),
            "+15551234567",
            SessionError::CannotRemoveOriginalMember { identity: "+15551234567".into() },
        ),
    ];
    for (mut session, who, member, expected) in cases {
        let before = session.clone();
        let result = session.remove_member(&who, &id(member), t0() + Duration::seconds(1));
        assert_eq!(result, Err(expected));
        assert_eq!(session, before, "a refused change must change nothing");
    }
}

#[test]
fn administrators_act_on_every_account() {
    for role in ["Admin", "SystemAdministrator"] {
        let mut session = open(Channel::Chat);
        let admin = actor(&[role], &[]);
        assert!(session.remove_member(&admin, &id("bob@example.com"), t0()).is_ok(), "{role}");
    }
}

#[test]
fn inviting_adds_a_member_at_the_end_once() {
    let mut session = open(Channel::Chat);
    let mut dave = NewMember::new(id("Dave@example.com"));
    dave.role = Some(MemberRole::Transfer);
    let change = session.invite_member(&agent(), dave.clone(), t0()).unwrap();
    let ChangeKind::MemberInvited { member: added, .. } = &change.kind else { panic!("{change:?}") };
    assert_eq!(added.role, MemberRole::Transfer);
    assert!(!added.is_original_member);
    assert_eq!(session.members.last(), Some(added));
    assert_eq!(change.log_entry.message, "Ann added Dave@example.com to the chat");

    let before = session.clone();
    let again = session.invite_member(&agent(), NewMember::new(id("dave@EXAMPLE.com")), t0());
    assert_eq!(again, Err(SessionError::MemberAlreadyExists { identity: "dave@EXAMPLE.com".into() }));
    assert_eq!(session, before);
}

#[test]
fn inviting_follows_the_check_order() {
    let mut voice = open(Channel::Voice);
    voice.end(&agent(), t0()).unwrap();
    // the channel is checked before the end
    let result = voice.invite_member(&agent(), NewMember::new(id("dave@example.com")), t0());
    assert_eq!(result, Err(SessionError::NotAChatSession { channel: Channel::Voice }));
    let mut chat = open(Channel::Chat);
    chat.end(&agent(), t0()).unwrap();
    let result = chat.invite_member(&agent(), NewMember::new(id("bob@example.com")), t0());
    assert_eq!(result, Err(SessionError::SessionEnded), "ended before already a member");
}

#[test]
fn ending_completes_the_session_once() {
    let mut session = open(Channel::Voice);
    let change = session.end(&agent(), t0()).unwrap();
    assert_eq!(change.kind, ChangeKind::Ended { call_sid: None });
    assert!(session.ended);
    assert_eq!(session.call_state, CallState::Disconnected);
    assert_eq!(session.date_completed, Some(t0().trunc_subsecs(3)));
    let before = session.clone();
    assert_eq!(session.end(&agent(), t0()), Err(SessionError::SessionEnded));
    assert_eq!(session, before);
    let mut foreign = open(Channel::Chat);
    assert_eq!(foreign.end(&actor(&["User"], &["globex"]), t0()), Err(SessionError::NotFound));
}

#[test]
fn apply_runs_the_named_rule() {
    let mut session = open(Channel::Chat);
    let change = session.apply(&agent(), &SessionCommand::remove(id("bob@example.com")), t0()).unwrap();
    assert!(matches!(change.kind, ChangeKind::MemberRemoved { .. }));
    let change = session.apply(&agent(), &SessionCommand::end(), t0()).unwrap();
    assert_eq!(change.kind, ChangeKind::Ended { call_sid: None });
}

use chrono::SubsecRound;

#[test]
fn a_change_is_never_dated_before_the_previous_one() {
    let mut session = open(Channel::Chat);
    let earlier = t0() - Duration::seconds(30);
    let change = session.remove_member(&agent(), &id("bob@example.com"), earlier).unwrap();
    assert_eq!(change.log_entry.date, t0().trunc_subsecs(3));
    assert!(session.log.windows(2).all(|pair| pair[0].date <= pair[1].date));
}

#[test]
fn a_session_holds_at_most_max_members() {
    let mut session = open(Channel::Chat);
    for n in session.members.len()..MAX_MEMBERS {
        session.invite_member(&agent(), NewMember::new(id(&format!("agent{n}@example.com"))), t0()).unwrap();
    }
    assert_eq!(session.members.len(), MAX_MEMBERS);
    let before = session.clone();
    let full = session.invite_member(&agent(), NewMember::new(id("one.more@example.com")), t0());
    assert_eq!(full, Err(SessionError::SessionFull { limit: MAX_MEMBERS }));
    assert_eq!(session, before, "a refused invite changes nothing");
    // The rule checks come before the bound: a current member is still MemberAlreadyExists.
    let again = session.invite_member(&agent(), NewMember::new(id("bob@example.com")), t0());
    assert!(matches!(again, Err(SessionError::MemberAlreadyExists { .. })), "{again:?}");

    let too_many = (0..=MAX_MEMBERS).map(|n| NewMember::new(id(&format!("m{n}@example.com")))).collect();
    let opened = Session::open(
        SessionId::parse("s-2").unwrap(),
        NewSession {
            account_id: AccountId::parse("acme").unwrap(),
            channel: Channel::Chat,
            direction: Direction::Incoming,
            details: SessionDetails::default(),
            members: too_many,
        },
        &agent(),
        t0(),
    );
    assert_eq!(opened, Err(SessionError::SessionFull { limit: MAX_MEMBERS }));
}

#[test]
fn a_full_log_refuses_every_change_but_ending() {
    let mut session = open(Channel::Chat);
    // Invite and remove one member until the log is full.
    let dave = id("dave@example.com");
    while session.log.len() < MAX_LOG_ENTRIES {
        if session.members.iter().any(|m| m.identity == dave) {
            session.remove_member(&agent(), &dave, t0()).unwrap();
        } else {
            session.invite_member(&agent(), NewMember::new(dave.clone()), t0()).unwrap();
        }
    }
    let before = session.clone();
    let limit = Err(SessionError::SessionLimitReached { limit: MAX_LOG_ENTRIES });
    assert_eq!(session.remove_member(&agent(), &id("bob@example.com"), t0()), limit);
    assert_eq!(session.invite_member(&agent(), NewMember::new(id("eve@example.com")), t0()), limit);
    assert_eq!(session, before, "refusals change nothing");
    // Rule checks first: an unknown member is still MemberNotFound.
    let missing = session.remove_member(&agent(), &id("nobody@example.com"), t0());
    assert!(matches!(missing, Err(SessionError::MemberNotFound { .. })), "{missing:?}");
    session.end(&agent(), t0()).expect("ending is always allowed");
    assert_eq!(session.log.len(), MAX_LOG_ENTRIES + 1);
}

#[test]
fn a_reason_is_written_in_the_log() {
    let mut session = open(Channel::Chat);
    let reason = RemovalReason::parse("  left for the day ").unwrap();
    let change =
        session.remove_member_because(&agent(), &id("bob@example.com"), reason.as_ref(), t0()).unwrap();
    assert_eq!(change.log_entry.message, "Ann removed Bob from the chat: left for the day");
    assert_eq!(RemovalReason::parse("   "), Ok(None), "blank is no reason");
    assert_eq!(RemovalReason::parse(&"x".repeat(501)), Err(ReasonError::TooLong(501)));
    assert!(RemovalReason::parse(&"x".repeat(500)).unwrap().is_some());
    assert_eq!(RemovalReason::parse("two\nlines"), Err(ReasonError::ControlCharacter));
}

#[test]
fn a_member_removing_itself_leaves() {
    let mut session = open(Channel::Chat);
    // Bob's token says BOB@example.com: identities compare as docs/api.md, "Member identities",
    // says.
    let bob = Actor { user_id: "BOB@example.com".into(), name: "Bob B.".into(), ..agent() };
    let command = SessionCommand::RemoveMember {
        identity: id("bob@example.com"),
        reason: RemovalReason::parse("shift over").unwrap(),
    };
    let change = session.apply(&bob, &command, t0()).unwrap();
    assert_eq!(change.log_entry.message, "Bob left the chat: shift over");
    assert_eq!(session.last_modified_by, "BOB@example.com");
    // The original member cannot leave either: the session has to be ended.
    let caller = Actor { user_id: "+15551234567".into(), name: "Caller".into(), ..agent() };
    let refused = session.remove_member(&caller, &id("+15551234567"), t0());
    assert!(matches!(refused, Err(SessionError::CannotRemoveOriginalMember { .. })), "{refused:?}");
}

#[test]
fn versions_count_changes_and_guard_them() {
    let mut session = open(Channel::Chat);
    assert_eq!(session.version, 0);
    session.remove_member(&agent(), &id("bob@example.com"), t0()).unwrap();
    assert_eq!(session.version, 1, "each change counts");
    let before = session.clone();
    let stale = IfVersion(vec![0]);
    let refused = session.apply_if(&agent(), &SessionCommand::end(), Some(&stale), t0());
    assert_eq!(refused, Err(SessionError::VersionMismatch { current: 1 }));
    assert_eq!(session, before, "a mismatch changes nothing");
    // Visibility comes first: a foreign session is NotFound whatever the version.
    let stranger = actor(&["User"], &["globex"]);
    assert_eq!(
        session.apply_if(&stranger, &SessionCommand::end(), Some(&stale), t0()),
        Err(SessionError::NotFound)
    );
    // The rules come after: at the current version an ended session is still SessionEnded.
    session.apply_if(&agent(), &SessionCommand::end(), Some(&IfVersion(vec![1])), t0()).unwrap();
    let again = session.apply_if(&agent(), &SessionCommand::end(), Some(&IfVersion(vec![2])), t0());
    assert_eq!(again, Err(SessionError::SessionEnded));
    // Refusals never count.
    assert_eq!(session.version, 2);
}

// Events: what each change tells the world.

#[test]
fn opening_a_session_is_told_as_session_created() {
    let session = open(Channel::Chat);
    let event = SessionEvent::session_created(&session, &agent());
    assert_eq!(event.event_type, EventType::SessionCreated);
    assert_eq!(event.date, session.date_created);
    assert_eq!(event.account_id.as_str(), "acme");
    assert_eq!(event.session_id.as_str(), "s-1");
    assert_eq!(event.actor, EventActor { user_id: "ann@example.com".into(), name: "Ann".into() });
    assert_eq!((event.member, event.departure), (None, None));
    assert_eq!(event.session, session);
}

#[test]
fn an_invite_is_told_with_the_member_added_and_the_session_after_it() {
    let mut session = open(Channel::Chat);
    let change = session.invite_member(&agent(), NewMember::new(id("cat@example.com")), t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!(event.event_type, EventType::ChatMemberAdded);
    assert_eq!(event.date, change.log_entry.date);
    assert_eq!(event.member.as_ref().map(|m| m.identity.clone()), Some(id("cat@example.com")));
    assert_eq!(event.departure, None);
    assert_eq!(event.session.members.len(), 4, "the session after the change");
}

#[test]
fn a_removal_is_told_with_the_member_as_it_was_the_reason_and_not_a_leave() {
    let mut session = open(Channel::Chat);
    let reason = RemovalReason::parse("left for the day").unwrap();
    let change =
        session.remove_member_because(&agent(), &id("bob@example.com"), reason.as_ref(), t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!(event.event_type, EventType::ChatMemberRemoved);
    let member = event.member.expect("the removed member");
    assert_eq!((member.identity, member.display_name.as_deref()), (id("bob@example.com"), Some("Bob")));
    assert_eq!(event.departure, Some(Departure { reason, leave: false }));
    assert!(!event.session.members.iter().any(|m| m.identity == id("bob@example.com")));
    assert_eq!(event.session.version, 1);
}

#[test]
fn a_member_removing_itself_is_told_as_a_leave() {
    let mut session = open(Channel::Chat);
    let bob = Actor { user_id: "Bob@Example.com".into(), name: "Bob".into(), ..agent() };
    let change = session.remove_member(&bob, &id("bob@example.com"), t0()).unwrap();
    let event = SessionEvent::of_change(&session, &bob, &change);
    assert_eq!(event.departure, Some(Departure { reason: None, leave: true }));
    assert_eq!(event.actor.user_id, "Bob@Example.com");
}

#[test]
fn ending_is_told_as_session_ended_and_a_removal_to_come_as_removing() {
    let mut session = open(Channel::Chat);
    let change = session.end(&agent(), t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!(event.event_type, EventType::SessionEnded);
    assert!(event.session.ended && event.member.is_none() && event.departure.is_none());
    assert_eq!(event.clone().into_removing(), event, "only a removal becomes a would-be removal");

    let mut session = open(Channel::Chat);
    let change = session.remove_member(&agent(), &id("bob@example.com"), t0()).unwrap();
    let removing = SessionEvent::of_change(&session, &agent(), &change).into_removing();
    assert_eq!(removing.event_type, EventType::ChatMemberRemoving);
    assert_eq!(removing.event_type.name(), "ChatMemberRemoving");
    assert_eq!(EventType::from_name("ChatMemberRemoving"), Some(EventType::ChatMemberRemoving));
}

#[test]
fn a_change_past_the_size_limit_is_refused_but_an_end_is_not() {
    let mut session = open(Channel::Chat);
    let removal = session.remove_member(&agent(), &id("bob@example.com"), t0()).unwrap();
    let too_large = Err(SessionError::SessionTooLarge { max_bytes: 1000 });
    assert_eq!(removal.check_size(1001, 1000), too_large);
    assert_eq!(removal.check_size(1000, 1000), Ok(()), "the limit itself is allowed");
    let end = session.end(&agent(), t0()).unwrap();
    assert_eq!(end.check_size(1_000_000, 1000), Ok(()), "ending is always allowed");
}

#[test]
fn an_event_carries_the_entry_its_change_appended() {
    let mut session = open(Channel::Chat);
    let change = session.remove_member(&agent(), &id("bob@example.com"), t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!(event.log_entry.as_ref(), Some(&change.log_entry));
    assert_eq!(event.log_entry.as_ref(), session.log.last());
    let created = SessionEvent::session_created(&open(Channel::Chat), &agent());
    assert_eq!(created.log_entry.as_ref(), open(Channel::Chat).log.last(), "creation's own entry");
}

/// PatchSession: docs/api.md, "PatchSession".
#[test]
fn a_patch_sets_the_given_fields_on_any_channel_and_logs_who_set_what() {
    let mut voice = open(Channel::Voice);
    let patch = SessionPatch {
        call_state: Some(CallState::Hold),
        hold_reason: Some(HoldReason::Transferring),
        ..SessionPatch::default()
    };
    let change = voice.apply(&agent(), &SessionCommand::Patch(patch.clone()), t0()).unwrap();
    assert_eq!(change.kind, ChangeKind::InfoChanged(patch));
    assert_eq!(change.log_entry.message, "Ann set callState to Hold, holdReason to Transferring");
    assert_eq!((voice.call_state, voice.hold_reason), (CallState::Hold, HoldReason::Transferring));
    assert_eq!(voice.queue_state, QueueState::None, "a field not given is left alone");
    assert_eq!(voice.details.console_data, None);
    assert_eq!(voice.version, 1);

    let mut chat = open(Channel::Chat);
    let screen = SessionPatch {
        console_data: Some("{\"step\":2}".into()),
        queue_state: Some(QueueState::Queued),
        ..SessionPatch::default()
    };
    let change = chat.patch(&agent(), screen, t0()).unwrap();
    assert_eq!(
        change.log_entry.message, "Ann set consoleData, queueState to Queued",
        "data named, not copied"
    );
    assert_eq!(chat.details.console_data.as_deref(), Some("{\"step\":2}"));
    assert_eq!(chat.queue_state, QueueState::Queued);
}

#[test]
fn a_patch_is_refused_on_an_ended_or_invisible_session_and_changes_nothing() {
    let patch = SessionPatch { call_state: Some(CallState::Hold), ..SessionPatch::default() };
    let mut ended = open(Channel::Chat);
    ended.end(&agent(), t0()).unwrap();
    let before = ended.clone();
    assert_eq!(ended.patch(&agent(), patch.clone(), t0()), Err(SessionError::SessionEnded));
    assert_eq!(ended, before);
    let mut foreign = open(Channel::Chat);
    let stranger = actor(&["User"], &["globex"]);
    assert_eq!(foreign.patch(&stranger, patch, t0()), Err(SessionError::NotFound));
}

#[test]
fn caller_id_call_sid_and_patched_fields_reach_the_events_only() {
    let mut session = open(Channel::Chat);
    let mut carol = NewMember::new(id("carol@example.com"));
    carol.caller_id = Some(PhoneNumber::parse("+15550001111").unwrap());
    let change = session.invite_member(&agent(), carol, t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!(event.caller_id.as_ref().map(PhoneNumber::as_str), Some("+15550001111"));
    assert_eq!(event.event_type, EventType::ChatMemberAdded);

    let patch = SessionPatch { queue_state: Some(QueueState::Hold), ..SessionPatch::default() };
    let change = session.patch(&agent(), patch, t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!(
        (event.event_type, event.changes.clone()),
        (EventType::SessionInfoChanged, vec!["queueState"])
    );
    assert_eq!(event.caller_id, None);

    let command = SessionCommand::End { call_sid: Some("CA123".into()) };
    let change = session.apply(&agent(), &command, t0()).unwrap();
    let event = SessionEvent::of_change(&session, &agent(), &change);
    assert_eq!((event.event_type, event.call_sid.as_deref()), (EventType::SessionEnded, Some("CA123")));
    assert!(session.ended);
}
