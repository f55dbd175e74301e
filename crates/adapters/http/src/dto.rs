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

/// Declares [`SessionInfo`], its `From<&Session>` and [`SESSION_INFO_FIELDS`] from one list:
/// each property once, in the Evo Voice API's SessionInfo order (JSON keys, CSV columns and JSV
/// properties all follow it), with its wire name, its type and where its value comes from;
/// `"wireName" field from details` is an optional text of `SessionDetails` of the same name,
/// left out when null. The wire name is the field's camelCase (serde and utoipa derive it: a
/// wire name given as a macro argument is not read by utoipa); the formats tests check the
/// two agree.
macro_rules! session_info {
    (|$session:ident, $details:ident| { $($properties:tt)* }) => {
        session_info!(@munch |$session, $details| [] $($properties)*);
    };
    (@munch |$s:ident, $d:ident| [$($done:tt)*]
        $(#[$attr:meta])* $wire:literal $field:ident from details, $($rest:tt)*) => {
        session_info!(@munch |$s, $d| [$($done)* $(#[$attr])*
            #[serde(skip_serializing_if = "Option::is_none")]
            $wire $field: Option<String> = $d.$field.clone(),] $($rest)*);
    };
    (@munch |$s:ident, $d:ident| [$($done:tt)*]
        $(#[$attr:meta])* $wire:literal $field:ident: $ty:ty = $value:expr, $($rest:tt)*) => {
        session_info!(@munch |$s, $d| [$($done)* $(#[$attr])* $wire $field: $ty = $value,] $($rest)*);
    };
    (@munch |$session:ident, $details:ident|
        [$( $(#[$attr:meta])* $wire:literal $field:ident: $ty:ty = $value:expr, )+]) => {
        /// `SessionInfo`: a session as the API returns it.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct SessionInfo {
            $( $(#[$attr])* pub $field: $ty, )+
        }

        /// The `SessionInfo` properties in the Evo Voice API's order: the CSV columns.
        pub const SESSION_INFO_FIELDS: &[&str] = &[$($wire),+];

        impl From<&Session> for SessionInfo {
            fn from($session: &Session) -> Self {
                let $details = &$session.details;
                Self { $($field: $value,)+ }
            }
        }
    };
}

session_info! {
    |session, details| {
        /// The state of the session
        #[schema(schema_with = dial_state_schema)]
        "dialState" dial_state: &'static str = session.dial_state.as_str(),
        /// The call state of the session
        #[schema(schema_with = call_state_schema)]
        "callState" call_state: &'static str = session.call_state.as_str(),
        /// The queue state of the session
        #[schema(schema_with = queue_state_schema)]
        "queueState" queue_state: &'static str = session.queue_state.as_str(),
        /// The ID of the account associated with the flow
        "accountId" account_id: String = session.account_id.as_str().to_owned(),
        /// The name of the account associated with the session
        "accountName" account_name from details,
        /// The ID of the customer this session is associated with
        "customerId" customer_id from details,
        /// The customer breadcrumb this session is associated with
        "customerBreadcrumb" customer_breadcrumb: Vec<CustomerBreadcrumb> =
            details.customer_breadcrumb.iter().map(CustomerBreadcrumb::from).collect(),
        /// The name of the customer this session is associated with
        "customerName" customer_name from details,
        /// The ID of the endpoint associated with this session
        "endpointId" endpoint_id from details,
        /// The name of the endpoint associated with this session
        "endpointName" endpoint_name from details,
        /// The date the call completed
        #[serde(skip_serializing_if = "Option::is_none")]
        "dateCompleted" date_completed: Option<String> = session.date_completed.as_ref().map(wire_date),
        /// The destination of the session (e.g. what was entered into the Dial box)
        "destination" destination from details,
        /// The to address if any
        "toAddress" to_address from details,
        /// The from address if any
        "fromAddress" from_address from details,
        /// The from name if any
        "fromName" from_name from details,
        /// Answered by name (if any)
        "answeredByName" answered_by_name from details,
        /// The ID of the queue member assigned to this call
        "queueMemberId" queue_member_id from details,
        /// The flow channel
        #[schema(schema_with = channel_schema)]
        "channel" channel: &'static str = session.channel.as_str(),
        /// Has the session ended
        "ended" ended: bool = session.ended,
        /// The outcome of the call
        "outcome" outcome from details,
        /// The twilio Call SID of this session
        "callSid" call_sid from details,
        /// Any console data for this session
        "consoleData" console_data from details,
        /// The name of the hold queue for this call
        "holdQueueName" hold_queue_name from details,
        /// The user ID who put this call on hold
        "heldByUserId" held_by_user_id from details,
        /// The reason for the hold
        #[schema(schema_with = hold_reason_schema)]
        "holdReason" hold_reason: &'static str = session.hold_reason.as_str(),
        /// The SID of the conference if in a conference call
        "conferenceSid" conference_sid from details,
        /// The display name for this session
        "displayName" display_name from details,
        /// The log entries for this session (left out of events, which carry `logEntry`)
        #[serde(skip_serializing_if = "Option::is_none")]
        "log" log: Option<Vec<SessionLogInfo>> = Some(session.log.iter().map(SessionLogInfo::from).collect()),
        /// The members of this session
        "members" members: Vec<SessionMemberInfo> =
            session.members.iter().map(SessionMemberInfo::from).collect(),
        /// The callback number (typically used for SIP to User calls)
        "callbackNumber" callback_number from details,
        /// The ID of the endpoint that answered
        "answeredById" answered_by_id from details,
        /// Is this session incoming or outgoing?
        #[schema(schema_with = direction_schema)]
        "direction" direction: &'static str = session.direction.as_str(),
        /// The phone number that this session is coming from (used with SMS chats)
        "fromPhoneNumber" from_phone_number from details,
        /// The Call SID of the most recently added conference participant
        "mostRecentParticipantCallSid" most_recent_participant_call_sid from details,
        /// Was this session missed?
        "wasMissed" was_missed: bool = session.was_missed,
        /// The ring queue that the call is currently in
        "ringQueueId" ring_queue_id from details,
        /// The ID of the object
        "id" id: String = session.id.as_str().to_owned(),
        /// The date the object was created
        "dateCreated" date_created: String = wire_date(&session.date_created),
        /// The date the object was last modified
        "dateLastModified" date_last_modified: String = wire_date(&session.date_last_modified),
        /// The user that created this object
        "createdBy" created_by: String = session.created_by.clone(),
        /// The user that last modified this object
        "lastModifiedBy" last_modified_by: String = session.last_modified_by.clone(),
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
    /// The member's call state.
    #[schema(schema_with = member_call_state_schema)]
    pub call_state: &'static str,
    /// The member's role.
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
    /// `Chat` by default.
    #[schema(schema_with = channel_schema)]
    channel: Option<String>,
    /// `Incoming` by default.
    #[schema(schema_with = direction_schema)]
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
    /// `Agent` for a user ID and `None` for a phone number by default.
    #[schema(schema_with = member_role_schema)]
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
    #[schema(schema_with = member_role_schema)]
    role: Option<String>,
}

fn enum_schema(names: &'static [&'static str]) -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(names.iter().copied()))
        .into()
}

macro_rules! enum_schemas {
    ($($fn_name:ident => $ty:ty),+ $(,)?) => {
        $(fn $fn_name() -> Schema { enum_schema(<$ty>::NAMES) })+
    };
}

enum_schemas! {
    dial_state_schema => DialState,
    call_state_schema => CallState,
    queue_state_schema => QueueState,
    channel_schema => Channel,
    hold_reason_schema => HoldReason,
    direction_schema => Direction,
    member_call_state_schema => MemberCallState,
    member_role_schema => MemberRole,
}
