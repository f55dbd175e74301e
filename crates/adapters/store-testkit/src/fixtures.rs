//! Sessions, members and callers for the cases.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{TimeZone, Utc};
use evo_domain::{
    AccountId, Actor, CallState, Channel, CustomerBreadcrumb, DialState, Direction, HoldReason, LogEntry,
    Member, MemberCallState, MemberIdentity, MemberRole, NewMember, NewSession, QueueState, Session,
    SessionData, SessionDetails, SessionId, Timestamp,
};

/// The account every fixture session belongs to.
pub const ACCOUNT: &str = "acme";

/// A caller with the `User` role on [`ACCOUNT`].
pub fn agent() -> Actor {
    Actor {
        user_id: "agent@example.com".into(),
        name: "Agent Smith".into(),
        roles: vec!["User".into()],
        account_ids: vec![AccountId::parse(ACCOUNT).expect("valid account")],
    }
}

/// A session ID not used before in this process.
pub fn new_session_id(prefix: &str) -> SessionId {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    SessionId::parse(&format!("{prefix}-{}-{n}", std::process::id())).expect("valid session ID")
}

/// Parses a member identity.
pub fn identity(raw: &str) -> MemberIdentity {
    MemberIdentity::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
}

/// A fixed time with sub-millisecond digits (which the domain drops), `seconds` after a base.
pub fn at(seconds: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 26, 21, 1, 49).single().expect("valid time")
        + chrono::Duration::seconds(seconds)
        + chrono::Duration::nanoseconds(123_456_789)
}

/// `user{i}@example.com`.
pub fn user(i: usize) -> String {
    format!("user{i}@example.com")
}

/// A chat opened by [`agent`] at [`at(0)`](at) whose members are `identities`, the first of
/// them the original member.
pub fn chat(identities: &[&str]) -> Session {
    open(Channel::Chat, identities)
}

/// Like [`chat`], on `channel`.
pub fn open(channel: Channel, identities: &[&str]) -> Session {
    Session::open(
        new_session_id("s"),
        NewSession {
            account_id: AccountId::parse(ACCOUNT).expect("valid account"),
            channel,
            direction: Direction::Incoming,
            details: SessionDetails::default(),
            members: identities.iter().map(|raw| NewMember::new(identity(raw))).collect(),
        },
        &agent(),
        at(0),
    )
    .expect("the fixture session opens")
}

/// A chat with an original caller and `others` users `user0@…` to `user{others-1}@…`.
pub fn chat_with_users(others: usize) -> Session {
    let users: Vec<String> = (0..others).map(user).collect();
    let mut identities = vec!["+15551230000"];
    identities.extend(users.iter().map(String::as_str));
    chat(&identities)
}

/// A session with every field set to something other than its default, with unicode,
/// quotes and a long console data text.
pub fn session_with_every_field() -> Session {
    let text = |field: &str| Some(format!("{field}: Ünïcødé 'single' \"double\" \\ ; -- 😀"));
    let application_data: BTreeMap<String, String> = [
        ("locale".to_owned(), "fr-CA".to_owned()),
        ("quote's \"key\"".to_owned(), "välue ✓".to_owned()),
        ("empty".to_owned(), String::new()),
    ]
    .into();
    let member = |raw: &str, original: bool, role: MemberRole| Member {
        identity: identity(raw),
        endpoint_id: text("endpoint"),
        display_name: text(raw),
        is_original_member: original,
        avatar_url: Some("https://example.com/a.png?x=1&y='2'".into()),
        application_data: application_data.clone(),
        call_state: MemberCallState::Hold,
        role,
        call_sid: text("callSid"),
        muted: true,
    };
    let console_data: String = "console «data» \"quoted\" 'single'\n".repeat(1000);
    Session::restore(SessionData {
        id: new_session_id("full"),
        account_id: AccountId::parse(ACCOUNT).expect("valid account"),
        channel: Channel::Chat,
        direction: Direction::Outgoing,
        dial_state: DialState::Active,
        call_state: CallState::Hold,
        queue_state: QueueState::Queued,
        hold_reason: HoldReason::Transferring,
        ended: true,
        was_missed: true,
        date_completed: Some(
            Utc.with_ymd_and_hms(2026, 11, 26, 22, 0, 0).single().expect("time")
                + chrono::Duration::milliseconds(999),
        ),
        details: SessionDetails {
            account_name: text("accountName"),
            customer_id: text("customerId"),
            customer_breadcrumb: vec![
                CustomerBreadcrumb { id: Some("c-1".into()), name: text("crumb") },
                CustomerBreadcrumb { id: None, name: Some("名前".into()) },
                CustomerBreadcrumb { id: Some("c-3".into()), name: None },
            ],
            customer_name: text("customerName"),
            endpoint_id: text("endpointId"),
            endpoint_name: text("endpointName"),
            destination: text("destination"),
            to_address: text("toAddress"),
            from_address: text("fromAddress"),
            from_name: text("fromName"),
            answered_by_name: text("answeredByName"),
            queue_member_id: text("queueMemberId"),
            outcome: text("outcome"),
            call_sid: text("callSid"),
            console_data: Some(console_data),
            hold_queue_name: text("holdQueueName"),
            held_by_user_id: text("heldByUserId"),
            conference_sid: text("conferenceSid"),
            display_name: text("displayName"),
            callback_number: text("callbackNumber"),
            answered_by_id: text("answeredById"),
            from_phone_number: text("fromPhoneNumber"),
            most_recent_participant_call_sid: text("mostRecentParticipantCallSid"),
            ring_queue_id: text("ringQueueId"),
        },
        members: vec![
            member("+442079460958", true, MemberRole::Caller),
            member("Zoë.O'Brien@Example.COM", false, MemberRole::Transfer),
            member("+15551234567", false, MemberRole::None),
        ],
        log: vec![
            LogEntry { date: at(0).with_nanosecond_ms(1), message: "started «ü» 'x' \"y\"".into() },
            LogEntry { date: at(1).with_nanosecond_ms(999), message: String::new() },
        ],
        date_created: at(0).with_nanosecond_ms(1),
        created_by: "Creator@Example.com".into(),
        date_last_modified: at(1).with_nanosecond_ms(999),
        last_modified_by: "agent@example.com".into(),
        version: 0,
    })
}

/// Sets the sub-second part of a timestamp to a whole number of milliseconds.
pub trait WithMillis {
    /// This time with its sub-second part replaced by `millis` milliseconds.
    fn with_nanosecond_ms(self, millis: u32) -> Self;
}

impl WithMillis for Timestamp {
    fn with_nanosecond_ms(self, millis: u32) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(millis * 1_000_000).expect("valid milliseconds")
    }
}

/// The session size limit of the stores under test, as [`SizedSummaryRenderer`] measures.
pub const MAX_SESSION_BYTES: usize = 64 * 1024;

/// The summary renderer, with a size measure of its own: the bytes of the members' identities
/// and display names and of the log's messages (the wire renderer measures the whole
/// SessionInfo; the stores only compare what the renderer says with the limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct SizedSummaryRenderer;

impl evo_ports::EventRenderer for SizedSummaryRenderer {
    /// The summary, and the `pad` of the member's application data when it has one (events
    /// as large as a test needs).
    fn render(&self, event: &evo_domain::SessionEvent) -> String {
        let summary = evo_store_sql::SummaryRenderer.render(event);
        match event.member.as_ref().and_then(|member| member.application_data.get("pad")) {
            Some(pad) => format!("{},\"pad\":{}}}", summary.trim_end_matches('}'), serde_json::json!(pad)),
            None => summary,
        }
    }

    fn session_size(&self, session: &Session) -> usize {
        let members: usize = session
            .members
            .iter()
            .map(|m| m.identity.as_str().len() + m.display_name.as_ref().map_or(0, String::len))
            .sum();
        members + session.log.iter().map(|entry| entry.message.len()).sum::<usize>()
    }
}
