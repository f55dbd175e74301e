//! Wire DTOs, named exactly as the Evo Voice API names them (docs/api.md, "Responses:
//! SessionInfo"), and the one place where domain types become wire types.
//!
//! Field order is the order of the Evo Voice API's SessionInfo (docs/api.md, "CSV", lists it):
//! JSON keys, CSV columns and JSV properties all follow it.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use evo_domain::{
    CallState, Channel, CustomerBreadcrumb as DomainBreadcrumb, DialState, Direction, HoldReason, LogEntry,
    Member, MemberCallState, MemberRole, QueueState, Session, Timestamp,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

/// A date on the wire: ISO 8601, UTC, milliseconds, `Z` (`2026-11-26T21:01:49.123Z`).
pub fn wire_date(date: &Timestamp) -> String {
    date.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `SessionInfo`: a session as the API returns it, its fields in the Evo Voice API's order (JSON
/// keys, CSV columns and JSV properties all follow it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    #[schema(schema_with = dial_state_schema)]
    pub dial_state: &'static str,
    #[schema(schema_with = call_state_schema)]
    pub call_state: &'static str,
    #[schema(schema_with = queue_state_schema)]
    pub queue_state: &'static str,
    /// The ID of the account associated with the flow
    pub account_id: String,
    /// The name of the account associated with the session
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// The ID of the customer this session is associated with
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The customer breadcrumb this session is associated with
    pub customer_breadcrumb: Vec<CustomerBreadcrumb>,
    /// The name of the customer this session is associated with
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// The ID of the endpoint associated with this session
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The name of the endpoint associated with this session
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// The date the call completed
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_completed: Option<String>,
    /// The destination of the session (e.g. what was entered into the Dial box)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The to address if any
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_address: Option<String>,
    /// The from address if any
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_address: Option<String>,
    /// The from name if any
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// Answered by name (if any)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by_name: Option<String>,
    /// The ID of the queue member assigned to this call
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_member_id: Option<String>,
    #[schema(schema_with = channel_schema)]
    pub channel: &'static str,
    /// Has the session ended
    pub ended: bool,
    /// The outcome of the call
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The twilio Call SID of this session
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_sid: Option<String>,
    /// Any console data for this session
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_data: Option<String>,
    /// The name of the hold queue for this call
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_queue_name: Option<String>,
    /// The user ID who put this call on hold
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by_user_id: Option<String>,
    #[schema(schema_with = hold_reason_schema)]
    pub hold_reason: &'static str,
    /// The SID of the conference if in a conference call
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference_sid: Option<String>,
    /// The display name for this session
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The log entries for this session (left out of events, which carry `logEntry`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Vec<SessionLogInfo>>,
    /// The members of this session
    pub members: Vec<SessionMemberInfo>,
    /// The callback number (typically used for SIP to User calls)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_number: Option<String>,
    /// The ID of the endpoint that answered
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by_id: Option<String>,
    #[schema(schema_with = direction_schema)]
    pub direction: &'static str,
    /// The phone number that this session is coming from (used with SMS chats)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_phone_number: Option<String>,
    /// The Call SID of the most recently added conference participant
    #[serde(skip_serializing_if = "Option::is_none")]
    pub most_recent_participant_call_sid: Option<String>,
    /// Was this session missed?
    pub was_missed: bool,
    /// The ring queue that the call is currently in
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_queue_id: Option<String>,
    /// The ID of the object
    pub id: String,
    /// The date the object was created
    pub date_created: String,
    /// The date the object was last modified
    pub date_last_modified: String,
    /// The user that created this object
    pub created_by: String,
    /// The user that last modified this object
    pub last_modified_by: String,
}

/// The `SessionInfo` properties in order: the CSV columns (the formats tests check that they
/// are the JSON keys).
pub const SESSION_INFO_FIELDS: &[&str] = &[
    "dialState",
    "callState",
    "queueState",
    "accountId",
    "accountName",
    "customerId",
    "customerBreadcrumb",
    "customerName",
    "endpointId",
    "endpointName",
    "dateCompleted",
    "destination",
    "toAddress",
    "fromAddress",
    "fromName",
    "answeredByName",
    "queueMemberId",
    "channel",
    "ended",
    "outcome",
    "callSid",
    "consoleData",
    "holdQueueName",
    "heldByUserId",
    "holdReason",
    "conferenceSid",
    "displayName",
    "log",
    "members",
    "callbackNumber",
    "answeredById",
    "direction",
    "fromPhoneNumber",
    "mostRecentParticipantCallSid",
    "wasMissed",
    "ringQueueId",
    "id",
    "dateCreated",
    "dateLastModified",
    "createdBy",
    "lastModifiedBy",
];

impl From<&Session> for SessionInfo {
    fn from(session: &Session) -> Self {
        let details = &session.details;
        Self {
            dial_state: session.dial_state.as_str(),
            call_state: session.call_state.as_str(),
            queue_state: session.queue_state.as_str(),
            account_id: session.account_id.as_str().to_owned(),
            account_name: details.account_name.clone(),
            customer_id: details.customer_id.clone(),
            customer_breadcrumb: details.customer_breadcrumb.iter().map(CustomerBreadcrumb::from).collect(),
            customer_name: details.customer_name.clone(),
            endpoint_id: details.endpoint_id.clone(),
            endpoint_name: details.endpoint_name.clone(),
            date_completed: session.date_completed.as_ref().map(wire_date),
            destination: details.destination.clone(),
            to_address: details.to_address.clone(),
            from_address: details.from_address.clone(),
            from_name: details.from_name.clone(),
            answered_by_name: details.answered_by_name.clone(),
            queue_member_id: details.queue_member_id.clone(),
            channel: session.channel.as_str(),
            ended: session.ended,
            outcome: details.outcome.clone(),
            call_sid: details.call_sid.clone(),
            console_data: details.console_data.clone(),
            hold_queue_name: details.hold_queue_name.clone(),
            held_by_user_id: details.held_by_user_id.clone(),
            hold_reason: session.hold_reason.as_str(),
            conference_sid: details.conference_sid.clone(),
            display_name: details.display_name.clone(),
            log: Some(session.log.iter().map(SessionLogInfo::from).collect()),
            members: session.members.iter().map(SessionMemberInfo::from).collect(),
            callback_number: details.callback_number.clone(),
            answered_by_id: details.answered_by_id.clone(),
            direction: session.direction.as_str(),
            from_phone_number: details.from_phone_number.clone(),
            most_recent_participant_call_sid: details.most_recent_participant_call_sid.clone(),
            was_missed: session.was_missed,
            ring_queue_id: details.ring_queue_id.clone(),
            id: session.id.as_str().to_owned(),
            date_created: wire_date(&session.date_created),
            date_last_modified: wire_date(&session.date_last_modified),
            created_by: session.created_by.clone(),
            last_modified_by: session.last_modified_by.clone(),
        }
    }
}

/// `CustomerBreadcrumb`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CustomerBreadcrumb {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub name: Option<String>,
}

/// `SessionLogInfo`: one line of a session's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionLogInfo {
    /// When it happened.
    pub date: String,
    /// What happened.
    pub message: String,
}

/// `SessionMemberInfo`: a member of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionMemberInfo {
    /// A cell phone number (E.164) or a user ID (email).
    pub identity: String,
    /// The endpoint the member uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The name to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether this member started the session.
    pub is_original_member: bool,
    /// A picture of the member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Free-form data of the client application.
    pub application_data: BTreeMap<String, String>,
    #[schema(schema_with = member_call_state_schema)]
    pub call_state: &'static str,
    #[schema(schema_with = member_role_schema)]
    pub role: &'static str,
    /// The member's call SID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_sid: Option<String>,
    /// Whether the member is muted.
    pub muted: bool,
}

impl From<&DomainBreadcrumb> for CustomerBreadcrumb {
    fn from(crumb: &DomainBreadcrumb) -> Self {
        Self { id: crumb.id.clone(), name: crumb.name.clone() }
    }
}

impl From<&LogEntry> for SessionLogInfo {
    fn from(entry: &LogEntry) -> Self {
        Self { date: wire_date(&entry.date), message: entry.message.clone() }
    }
}

impl From<&Member> for SessionMemberInfo {
    fn from(member: &Member) -> Self {
        Self {
            identity: member.identity.as_str().to_owned(),
            endpoint_id: member.endpoint_id.clone(),
            display_name: member.display_name.clone(),
            is_original_member: member.is_original_member,
            avatar_url: member.avatar_url.clone(),
            application_data: member.application_data.clone(),
            call_state: member.call_state.as_str(),
            role: member.role.as_str(),
            call_sid: member.call_sid.clone(),
            muted: member.muted,
        }
    }
}

// Request DTOs: documentation of what the operations read. The handlers read these fields
// from the path, the query string and the JSON body (see `request`) and parse them (see
// `commands`), so that a wrong type names its field; these types only describe them in the
// OpenAPI document.

/// `NewSession`: opens a session.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct NewSession {
    /// The account the session belongs to (required): 1 to 64 of `A-Z a-z 0-9 - _ .`.
    account_id: String,
    #[schema(schema_with = new_session_channel_schema)]
    channel: Option<String>,
    #[schema(schema_with = new_session_direction_schema)]
    direction: Option<String>,
    customer_breadcrumb: Option<Vec<CustomerBreadcrumb>>,
    // The descriptive text fields (displayName, ... consoleData) are those the parser reads,
    // `commands::WRITABLE_TEXTS`; the OpenAPI document adds them from there.
    /// The members (required, 1 to 100); the first is the original member.
    #[schema(min_items = 1, max_items = 100)]
    members: Vec<NewSessionMember>,
}

/// A member of `NewSession.members`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct NewSessionMember {
    /// A cell phone number (E.164) or a user ID (email) (required). The pattern is the
    /// canonical form; spaces, `-`, `.`, `(` and `)` in a phone number are accepted and dropped.
    #[schema(
        pattern = r"^(?:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}|\+[1-9][0-9]{6,14})$"
    )]
    identity: String,
    display_name: Option<String>,
    #[schema(schema_with = new_member_role_schema)]
    role: Option<String>,
    avatar_url: Option<String>,
    application_data: Option<BTreeMap<String, String>>,
}

/// `InviteChatMember`: adds a member to a chat.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct InviteChatMember {
    /// The ID of the session (the path segment on `/sessions/{sessionId}/members`): 1 to 64
    /// of `A-Z a-z 0-9 - _ .`.
    session_id: Option<String>,
    /// The member to add. This can be a cell phone number, user ID (email). The pattern is the
    /// canonical form; spaces, `-`, `.`, `(` and `)` in a phone number are accepted and dropped.
    #[schema(
        pattern = r"^(?:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}|\+[1-9][0-9]{6,14})$"
    )]
    member_to_add: String,
    display_name: Option<String>,
    #[schema(schema_with = new_member_role_schema)]
    role: Option<String>,
    /// Outbound caller ID to use: a phone number (normalized to E.164), told in the
    /// `ChatMemberAdded` event.
    caller_id: Option<String>,
}

/// `PatchSession`: sets a session's states and screen data (at least one field). Each may
/// also come in the query string.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PatchSession {
    /// Screen data of the agent console: at most 32 768 characters.
    #[schema(max_length = 32768)]
    console_data: Option<String>,
    #[schema(schema_with = call_state_schema)]
    call_state: Option<String>,
    #[schema(schema_with = hold_reason_schema)]
    hold_reason: Option<String>,
    #[schema(schema_with = queue_state_schema)]
    queue_state: Option<String>,
}

/// ListSessions' answer, ServiceStack's `ListResponse<SessionInfo>`. Each session carries its
/// members; its `log` is empty (GetSession gives it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListSessionsResponse {
    /// The page's sessions.
    pub items: Vec<SessionInfo>,
    /// Every match (left out with `simplifiedPaging`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
    /// Pages of `countPerPage` (left out with `simplifiedPaging`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// Whether a page follows this one.
    pub has_more_pages: bool,
}

/// GetActiveSessions' and GetMySessions' answer. Each session carries its members; its `log`
/// is empty (GetSession gives it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSessionsResponse {
    /// The caller's active sessions, newest first.
    pub sessions: Vec<SessionInfo>,
}

/// RemoveChatMemberFromActiveSessions' answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovalsResponse {
    /// Each session tried, newest first.
    pub results: Vec<RemovalResult>,
    /// How many sessions the member was removed from.
    pub removed: usize,
    /// Whether active sessions with the member remain untried: call again.
    pub has_more: bool,
}

/// One session's outcome in [`RemovalsResponse`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovalResult {
    /// The session.
    pub session_id: String,
    /// 200 when removed; else the status DeleteChatMember would have answered.
    pub status: u16,
    /// DeleteChatMember's `errorCode`, when not removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// The columns of a [`RemovalsResponse`] as CSV: one row per session.
pub const REMOVAL_RESULT_FIELDS: &[&str] = &["sessionId", "status", "errorCode"];

/// A string enum, named as the Evo Voice API names it (the title names the type in the
/// ServiceStack references, docs/api.md, "Add ServiceStack Reference"). The description is the
/// field's: utoipa does not read a doc comment beside `schema_with`, so the enum fields of the
/// DTOs are described here, once each.
fn enum_schema(name: &str, names: &'static [&'static str], description: &str) -> Schema {
    ObjectBuilder::new()
        .title(Some(name))
        .description(Some(description))
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(names.iter().copied()))
        .into()
}

fn dial_state_schema() -> Schema {
    enum_schema("SessionDialState", DialState::NAMES, "The state of the session")
}
fn call_state_schema() -> Schema {
    enum_schema("SessionCallState", CallState::NAMES, "The call state of the session")
}
fn queue_state_schema() -> Schema {
    enum_schema("SessionQueueStates", QueueState::NAMES, "The queue state of the session")
}
fn channel_schema() -> Schema {
    enum_schema("FlowChannels", Channel::NAMES, "The flow channel")
}
fn new_session_channel_schema() -> Schema {
    enum_schema("FlowChannels", Channel::NAMES, "The flow channel: `Chat` by default")
}
fn hold_reason_schema() -> Schema {
    enum_schema("SessionHoldReasons", HoldReason::NAMES, "The reason for the hold")
}
fn direction_schema() -> Schema {
    enum_schema("SessionDirections", Direction::NAMES, "Is this session incoming or outgoing?")
}
fn new_session_direction_schema() -> Schema {
    enum_schema(
        "SessionDirections",
        Direction::NAMES,
        "Is this session incoming or outgoing? `Incoming` by default",
    )
}
fn member_call_state_schema() -> Schema {
    enum_schema("SessionMemberCallState", MemberCallState::NAMES, "The member's call state")
}
fn member_role_schema() -> Schema {
    enum_schema("SessionMemberRoles", MemberRole::NAMES, "The member's role")
}
fn new_member_role_schema() -> Schema {
    enum_schema(
        "SessionMemberRoles",
        MemberRole::NAMES,
        "The member's role: `Agent` for a user ID and `None` for a phone number by default",
    )
}
