//! From a request's fields to the use cases' typed commands: raw wire text in, domain values
//! out, every problem named by its wire field so the caller can fix them all at once.
//!
//! Two kinds of problem, answered at two moments. A value of the wrong JSON type (a number
//! where text belongs) makes the request unreadable: 400 at once, as a malformed body is.
//! A value that is text but not a valid one (an identity that is neither a phone number nor
//! a user ID, a name too long) goes to the use case as a [`Parsed`] failure, so that the use
//! case can refuse a caller without the role first (docs/api.md, "Order of checks").

use std::collections::BTreeMap;

use actix_web::HttpRequest;
use evo_domain::{
    AccountId, CallState, Channel, CustomerBreadcrumb, Direction, HoldReason, MemberIdentity, MemberRole,
    NewMember, NewSession, PhoneNumber, QueueState, ReasonError, RemovalReason, SessionDetails, SessionId,
    SessionPatch,
};
use evo_ports::{
    Change, Ending, FieldError, IdempotencyInput, OpenSession, Parsed, Removal, RemovalsOfMember,
};
use serde_json::Value;

use crate::error::ApiError;
use crate::request::{RequestFields, property, string_map, text_value, type_error};
use crate::{etag, idempotency};

/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Longest free text field (names, addresses, IDs of other systems).
pub const MAX_TEXT_CHARS: usize = 1024;
/// Longest `consoleData`.
pub const MAX_CONSOLE_DATA_CHARS: usize = 32 * 1024;
/// Most members a new session may list.
pub const MAX_NEW_MEMBERS: usize = 100;
/// Most breadcrumbs a new session may list.
pub const MAX_BREADCRUMBS: usize = 100;
/// Most application data entries of one member.
pub const MAX_APPLICATION_DATA_ENTRIES: usize = 64;
/// Longest `callSid`.
pub const MAX_CALL_SID_CHARS: usize = 64;
/// Most values of one list field (`accountIds`, `customerIds`...).
pub const MAX_LIST_VALUES: usize = 100;

/// Where a descriptive text field of [`SessionDetails`] goes.
pub(crate) type DetailsField = fn(&mut SessionDetails) -> &mut Option<String>;

/// The descriptive text fields NewSession may set, in the request's order: the wire name, the
/// longest value, and its [`SessionDetails`] field (the other details are not the caller's).
pub(crate) const WRITABLE_TEXTS: [(&str, usize, DetailsField); 10] = [
    ("displayName", MAX_TEXT_CHARS, |d| &mut d.display_name),
    ("customerId", MAX_TEXT_CHARS, |d| &mut d.customer_id),
    ("customerName", MAX_TEXT_CHARS, |d| &mut d.customer_name),
    ("endpointId", MAX_TEXT_CHARS, |d| &mut d.endpoint_id),
    ("endpointName", MAX_TEXT_CHARS, |d| &mut d.endpoint_name),
    ("fromAddress", MAX_TEXT_CHARS, |d| &mut d.from_address),
    ("fromName", MAX_TEXT_CHARS, |d| &mut d.from_name),
    ("toAddress", MAX_TEXT_CHARS, |d| &mut d.to_address),
    ("fromPhoneNumber", MAX_TEXT_CHARS, |d| &mut d.from_phone_number),
    ("consoleData", MAX_CONSOLE_DATA_CHARS, |d| &mut d.console_data),
];

/// A part of a request that failed; its error is already recorded (only [`Check`] makes one).
#[derive(Debug)]
pub(crate) struct Invalid(());

/// A part of a request, checked.
pub(crate) type Checked<T> = Result<T, Invalid>;

/// Reads and checks the fields of one request, collecting every error.
#[derive(Debug)]
pub(crate) struct Check<'a> {
    fields: &'a RequestFields,
    /// Values of the wrong JSON type: the request is answered 400 without the use case.
    unreadable: Vec<FieldError>,
    /// Values that do not parse: handed to the use case.
    invalid: Vec<FieldError>,
}

impl<'a> Check<'a> {
    pub(crate) fn new(fields: &'a RequestFields) -> Self {
        Self { fields, unreadable: Vec::new(), invalid: Vec::new() }
    }

    pub(crate) fn fail(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Invalid {
        self.invalid.push(FieldError { field: field.into(), code, message: message.into() });
        Invalid(())
    }

    /// The request: unreadable (`Err`), or what the use case gets: `value` when every part
    /// was checked (`None` only if one failed, so with its error recorded), else the errors.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<Parsed<T>, ApiError> {
        if !self.unreadable.is_empty() {
            return Err(ApiError::Validation(self.unreadable));
        }
        match value {
            Some(value) if self.invalid.is_empty() => Ok(Ok(value)),
            _ => Ok(Err(self.invalid)),
        }
    }

    /// A text field as sent: absent or `null` is `None`; another type than text is unreadable.
    pub(crate) fn raw(&mut self, field: &str) -> Checked<Option<String>> {
        let before = self.unreadable.len();
        let value = self.fields.text(field, &mut self.unreadable);
        if self.unreadable.len() == before { Ok(value) } else { Err(Invalid(())) }
    }

    /// A list field as sent, its items read by `item` (which reports unreadable items).
    fn raw_list<T>(
        &mut self,
        field: &str,
        item: fn(&Value, &str, &mut Vec<FieldError>) -> Option<T>,
    ) -> Vec<T> {
        self.fields.list(field, &mut self.unreadable, item)
    }

    pub(crate) fn session_id(&mut self) -> Checked<SessionId> {
        let raw = self.raw("sessionId")?;
        let raw = self.required("sessionId", raw.as_deref())?;
        SessionId::parse(raw).map_err(|e| self.fail("sessionId", "InvalidId", format!("sessionId {e}")))
    }

    fn account_id(&mut self, raw: Option<&str>) -> Checked<AccountId> {
        let raw = self.required("accountId", raw)?;
        AccountId::parse(raw).map_err(|e| self.fail("accountId", "InvalidId", format!("accountId {e}")))
    }

    pub(crate) fn identity(&mut self, field: &str, raw: Option<&str>) -> Checked<MemberIdentity> {
        let raw = self.required(field, raw)?;
        MemberIdentity::parse(raw).map_err(|e| {
            self.fail(
                field,
                "InvalidIdentity",
                format!("{field} must be a cell phone number (E.164) or a user ID (email): {e}"),
            )
        })
    }

    /// An `Idempotency-Key`: 1 to 255 printable ASCII characters (docs/api.md, "Idempotency-Key").
    pub(crate) fn idempotency(
        &mut self,
        input: Option<IdempotencyInput>,
    ) -> Checked<Option<IdempotencyInput>> {
        let Some(input) = input else { return Ok(None) };
        let raw = &input.key;
        let printable = raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
            return Err(self.fail(
                "Idempotency-Key",
                "InvalidValue",
                format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
                ),
            ));
        }
        Ok(Some(input))
    }

    pub(crate) fn reason(&mut self, raw: Option<&str>) -> Checked<Option<RemovalReason>> {
        match raw.map(RemovalReason::parse).transpose() {
            Ok(reason) => Ok(reason.flatten()),
            Err(e) => {
                let code = if matches!(e, ReasonError::TooLong(_)) { "Length" } else { "InvalidValue" };
                Err(self.fail("reason", code, format!("reason {e}")))
            }
        }
    }

    pub(crate) fn wire_enum<T>(&mut self, field: &str, raw: Option<&str>) -> Checked<Option<T>>
    where
        T: std::str::FromStr<Err = evo_domain::UnknownVariant>,
    {
        raw.map(|raw| raw.parse::<T>().map_err(|e| self.fail(field, "InvalidValue", format!("{field}: {e}"))))
            .transpose()
    }

    /// Optional free text: at most `max` characters, no control characters but tab and
    /// line breaks (free text is shown to people and kept in logs; this also keeps a NUL,
    /// which PostgreSQL cannot store in text, from ever reaching a store from HTTP).
    pub(crate) fn text(&mut self, field: &str, raw: Option<String>, max: usize) -> Checked<Option<String>> {
        let Some(value) = raw else { return Ok(None) };
        let chars = value.chars().count();
        if chars > max {
            return Err(self.fail(
                field,
                "Length",
                format!("{field} must be at most {max} characters, not {chars}"),
            ));
        }
        if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
            return Err(self.fail(
                field,
                "InvalidValue",
                format!("{field} cannot contain control characters"),
            ));
        }
        Ok(Some(value))
    }

    pub(crate) fn required<'r>(&mut self, field: &str, raw: Option<&'r str>) -> Checked<&'r str> {
        match raw {
            Some(raw) if !raw.trim().is_empty() => Ok(raw),
            _ => Err(self.fail(field, "NotEmpty", format!("{field} is required"))),
        }
    }
}

/// A change to the session the request names: its ID, then `command`'s fields, then the
/// `Idempotency-Key`, errors in that order; `If-Match` as sent.
fn change<C>(
    fields: &RequestFields,
    request: &HttpRequest,
    body: &[u8],
    command: impl FnOnce(&mut Check<'_>) -> Checked<C>,
) -> Result<Parsed<Change<C>>, ApiError> {
    let mut check = Check::new(fields);
    let session_id = check.session_id();
    let command = command(&mut check);
    let idempotency = check.idempotency(idempotency::input(request, body));
    let change = match (session_id, command, idempotency) {
        (Ok(session_id), Ok(command), Ok(idempotency)) => {
            Some(Change { session_id, command, if_version: etag::if_match(request), idempotency })
        }
        _ => None,
    };
    check.finish(change)
}

/// DeleteChatMember: `sessionId`, `memberToRemove`, `reason`.
pub(crate) fn delete_chat_member(
    fields: &RequestFields,
    request: &HttpRequest,
) -> Result<Parsed<Change<Removal>>, ApiError> {
    change(fields, request, b"", |check| {
        let member = check.raw("memberToRemove");
        let reason = check.raw("reason");
        let identity = member.and_then(|raw| check.identity("memberToRemove", raw.as_deref()));
        let reason = reason.and_then(|raw| check.reason(raw.as_deref()));
        Ok(Removal { identity: identity?, reason: reason? })
    })
}

/// InviteChatMember: `sessionId`, `memberToAdd`, `displayName`, `role`, `callerId`.
pub(crate) fn invite_chat_member(
    fields: &RequestFields,
    request: &HttpRequest,
    body: &[u8],
) -> Result<Parsed<Change<NewMember>>, ApiError> {
    change(fields, request, body, |check| {
        let member = check.raw("memberToAdd");
        let display_name = check.raw("displayName");
        let role = check.raw("role");
        let caller_id = check.raw("callerId");
        let identity = member.and_then(|raw| check.identity("memberToAdd", raw.as_deref()));
        let role = role.and_then(|raw| check.wire_enum("role", raw.as_deref()));
        let display_name = display_name.and_then(|raw| check.text("displayName", raw, MAX_TEXT_CHARS));
        let caller_id = caller_id.and_then(|raw| check.caller_id(raw.as_deref()));
        let mut member = NewMember::new(identity?);
        member.role = role?;
        member.display_name = display_name?;
        member.caller_id = caller_id?;
        Ok(member)
    })
}

/// NewSession: `accountId`, `channel`, `direction`, the descriptive fields, `members`.
pub(crate) fn new_session(
    fields: &RequestFields,
    request: &HttpRequest,
    body: &[u8],
) -> Result<Parsed<OpenSession>, ApiError> {
    let mut check = Check::new(fields);
    let account_id = check.raw("accountId");
    let channel = check.raw("channel");
    let direction = check.raw("direction");
    // customerBreadcrumb comes after customerName: unreadable values are named in this order.
    let (before, after) = WRITABLE_TEXTS.split_at(3);
    let mut texts: Vec<_> = before.iter().map(|(field, ..)| check.raw(field)).collect();
    let breadcrumbs = check.raw_list("customerBreadcrumb", breadcrumb_input);
    texts.extend(after.iter().map(|(field, ..)| check.raw(field)));
    let members = check.raw_list("members", member_input);

    let account_id = account_id.and_then(|raw| check.account_id(raw.as_deref()));
    let channel = channel.and_then(|raw| check.wire_enum::<Channel>("channel", raw.as_deref()));
    let direction = direction.and_then(|raw| check.wire_enum::<Direction>("direction", raw.as_deref()));
    let customer_breadcrumb = check.breadcrumbs(breadcrumbs);
    let mut details = SessionDetails { customer_breadcrumb, ..SessionDetails::default() };
    for ((field, max, place), raw) in WRITABLE_TEXTS.iter().zip(texts) {
        *place(&mut details) = raw.and_then(|raw| check.text(field, raw, *max)).ok().flatten();
    }
    let members = check.new_members(members);
    let idempotency = check.idempotency(idempotency::input(request, body));
    let open = match (account_id, channel, direction, idempotency) {
        (Ok(account_id), Ok(channel), Ok(direction), Ok(idempotency)) => Some(OpenSession {
            session: NewSession {
                account_id,
                channel: channel.unwrap_or(Channel::Chat),
                direction: direction.unwrap_or(Direction::Incoming),
                details,
                members,
            },
            idempotency,
        }),
        _ => None,
    };
    check.finish(open)
}

/// A breadcrumb as sent.
#[derive(Debug)]
struct RawBreadcrumb {
    id: Option<String>,
    name: Option<String>,
}

/// A member of a new session as sent.
#[derive(Debug)]
struct RawMember {
    identity: Option<String>,
    display_name: Option<String>,
    role: Option<String>,
    avatar_url: Option<String>,
    application_data: BTreeMap<String, String>,
}

fn breadcrumb_input(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<RawBreadcrumb> {
    let Value::Object(object) = value else {
        errors.push(type_error(path, "an object"));
        return None;
    };
    Some(RawBreadcrumb {
        id: text_value(property(object, "id"), &format!("{path}.id"), errors),
        name: text_value(property(object, "name"), &format!("{path}.name"), errors),
    })
}

fn member_input(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<RawMember> {
    let Value::Object(object) = value else {
        errors.push(type_error(path, "an object"));
        return None;
    };
    let text = |name: &str, errors: &mut Vec<FieldError>| {
        text_value(property(object, name), &format!("{path}.{name}"), errors)
    };
    Some(RawMember {
        identity: text("identity", errors),
        display_name: text("displayName", errors),
        role: text("role", errors),
        avatar_url: text("avatarUrl", errors),
        application_data: string_map(
            property(object, "applicationData"),
            &format!("{path}.applicationData"),
            errors,
        ),
    })
}

impl Check<'_> {
    // Over a cap, one error for the list and none per item: a 64 KiB body must not become
    // an error body of thousands of entries (found by tests/hostile_input.rs).
    fn breadcrumbs(&mut self, mut breadcrumbs: Vec<RawBreadcrumb>) -> Vec<CustomerBreadcrumb> {
        if breadcrumbs.len() > MAX_BREADCRUMBS {
            self.fail("customerBreadcrumb", "Length", format!("at most {MAX_BREADCRUMBS} breadcrumbs"));
            breadcrumbs.clear();
        }
        breadcrumbs
            .into_iter()
            .enumerate()
            .map(|(i, crumb)| CustomerBreadcrumb {
                id: self
                    .text(&format!("customerBreadcrumb[{i}].id"), crumb.id, MAX_TEXT_CHARS)
                    .ok()
                    .flatten(),
                name: self
                    .text(&format!("customerBreadcrumb[{i}].name"), crumb.name, MAX_TEXT_CHARS)
                    .ok()
                    .flatten(),
            })
            .collect()
    }

    /// The members, the first of them the original member; each identity once.
    fn new_members(&mut self, mut new_members: Vec<RawMember>) -> Vec<NewMember> {
        if new_members.is_empty() {
            // Every session has an original member (docs/api.md, "NewSession"): the one who
            // started it.
            self.fail(
                "members",
                "NotEmpty",
                "members must list at least one member; the first is the original member",
            );
        } else if new_members.len() > MAX_NEW_MEMBERS {
            self.fail("members", "Length", format!("at most {MAX_NEW_MEMBERS} members"));
            new_members.clear();
        }
        let mut members: Vec<NewMember> = Vec::with_capacity(new_members.len());
        for (i, member) in new_members.into_iter().enumerate() {
            let Ok(member) = self.new_member(&format!("members[{i}]"), member) else { continue };
            if members.iter().any(|m| m.identity == member.identity) {
                self.fail(
                    format!("members[{i}].identity"),
                    "Duplicate",
                    format!("{} is listed twice", member.identity),
                );
            } else {
                members.push(member);
            }
        }
        members
    }

    fn new_member(&mut self, prefix: &str, raw: RawMember) -> Checked<NewMember> {
        let identity = self.identity(&format!("{prefix}.identity"), raw.identity.as_deref());
        let role = self.wire_enum::<MemberRole>(&format!("{prefix}.role"), raw.role.as_deref());
        let display_name = self.text(&format!("{prefix}.displayName"), raw.display_name, MAX_TEXT_CHARS);
        let avatar_url = self.text(&format!("{prefix}.avatarUrl"), raw.avatar_url, MAX_TEXT_CHARS);
        let application_data =
            self.application_data(&format!("{prefix}.applicationData"), raw.application_data);
        Ok(NewMember {
            identity: identity?,
            display_name: display_name.ok().flatten(),
            role: role?,
            avatar_url: avatar_url.ok().flatten(),
            application_data,
            caller_id: None,
        })
    }

    fn application_data(&mut self, field: &str, data: BTreeMap<String, String>) -> BTreeMap<String, String> {
        if data.len() > MAX_APPLICATION_DATA_ENTRIES {
            self.fail(
                field,
                "Length",
                format!("{field} holds at most {MAX_APPLICATION_DATA_ENTRIES} entries"),
            );
            return BTreeMap::new();
        }
        data.into_iter()
            .filter_map(|(key, value)| {
                let key = self.text(&format!("{field}.key"), Some(key), MAX_TEXT_CHARS).ok().flatten()?;
                let value =
                    self.text(&format!("{field}[{key}]"), Some(value), MAX_TEXT_CHARS).ok().flatten()?;
                Some((key, value))
            })
            .collect()
    }
}

/// EndSession: `sessionId`, `callSid`.
pub(crate) fn end_session(
    fields: &RequestFields,
    request: &HttpRequest,
) -> Result<Parsed<Change<Ending>>, ApiError> {
    change(fields, request, b"", |check| {
        let call_sid = check.raw("callSid")?;
        Ok(Ending { call_sid: check.call_sid(call_sid)? })
    })
}

/// PatchSession: `sessionId`, then `consoleData`, `callState`, `holdReason`, `queueState`, at
/// least one of them.
pub(crate) fn patch_session(
    fields: &RequestFields,
    request: &HttpRequest,
    body: &[u8],
) -> Result<Parsed<Change<SessionPatch>>, ApiError> {
    change(fields, request, body, |check| {
        let console_data = check.raw("consoleData");
        let call_state = check.raw("callState");
        let hold_reason = check.raw("holdReason");
        let queue_state = check.raw("queueState");
        let console_data =
            console_data.and_then(|raw| check.text("consoleData", raw, MAX_CONSOLE_DATA_CHARS));
        let call_state = call_state.and_then(|raw| check.wire_enum::<CallState>("callState", raw.as_deref()));
        let hold_reason =
            hold_reason.and_then(|raw| check.wire_enum::<HoldReason>("holdReason", raw.as_deref()));
        let queue_state =
            queue_state.and_then(|raw| check.wire_enum::<QueueState>("queueState", raw.as_deref()));
        let patch = SessionPatch {
            console_data: console_data?,
            call_state: call_state?,
            hold_reason: hold_reason?,
            queue_state: queue_state?,
        };
        if patch.is_empty() {
            return Err(check.fail(
                "consoleData",
                "NotEmpty",
                "give at least one of consoleData, callState, holdReason, queueState",
            ));
        }
        Ok(patch)
    })
}

/// RemoveChatMemberFromActiveSessions: `memberToRemove`, `reason`, `accountIds`, then the
/// `Idempotency-Key`.
pub(crate) fn remove_from_active_sessions(
    fields: &RequestFields,
    request: &HttpRequest,
) -> Result<Parsed<RemovalsOfMember>, ApiError> {
    let mut check = Check::new(fields);
    let member = check.raw("memberToRemove");
    let reason = check.raw("reason");
    let accounts = check.raw("accountIds");
    let identity = member.and_then(|raw| check.identity("memberToRemove", raw.as_deref()));
    let reason = reason.and_then(|raw| check.reason(raw.as_deref()));
    let account_ids = accounts.and_then(|raw| check.account_ids(raw));
    let idempotency = check.idempotency(idempotency::input(request, b""));
    let removals = match (identity, reason, account_ids, idempotency) {
        (Ok(identity), Ok(reason), Ok(account_ids), Ok(idempotency)) => {
            Some(RemovalsOfMember { identity, reason, account_ids, idempotency })
        }
        _ => None,
    };
    check.finish(removals)
}

/// The values of a list field as ServiceStack writes them in a query string: comma-separated
/// (`a,b`), or bracketed (`[a,b]`, `["a","b"]`); blanks dropped.
pub(crate) fn comma_list(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    let inner = raw.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(raw);
    inner
        .split(',')
        .map(|item| item.trim().trim_matches('"').trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

impl Check<'_> {
    /// `callerId`: a phone number, normalized to E.164.
    fn caller_id(&mut self, raw: Option<&str>) -> Checked<Option<PhoneNumber>> {
        let Some(raw) = raw.filter(|raw| !raw.trim().is_empty()) else { return Ok(None) };
        PhoneNumber::parse(raw).map(Some).map_err(|e| {
            self.fail("callerId", "InvalidValue", format!("callerId must be a phone number (E.164): {e}"))
        })
    }

    /// `callSid`: at most [`MAX_CALL_SID_CHARS`] characters, no control characters.
    fn call_sid(&mut self, raw: Option<String>) -> Checked<Option<String>> {
        let Some(raw) = raw.filter(|raw| !raw.is_empty()) else { return Ok(None) };
        let chars = raw.chars().count();
        if chars > MAX_CALL_SID_CHARS {
            return Err(self.fail(
                "callSid",
                "Length",
                format!("callSid must be at most {MAX_CALL_SID_CHARS} characters, not {chars}"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(self.fail("callSid", "InvalidValue", "callSid cannot contain control characters"));
        }
        Ok(Some(raw))
    }

    /// A list field's values (see [`comma_list`]): at most [`MAX_LIST_VALUES`].
    pub(crate) fn list_values(&mut self, field: &str, raw: Option<String>) -> Checked<Vec<String>> {
        let values = raw.as_deref().map(comma_list).unwrap_or_default();
        if values.len() > MAX_LIST_VALUES {
            return Err(self.fail(
                field,
                "Length",
                format!("{field} lists at most {MAX_LIST_VALUES} values"),
            ));
        }
        Ok(values)
    }

    /// `accountIds`: account IDs.
    pub(crate) fn account_ids(&mut self, raw: Option<String>) -> Checked<Vec<AccountId>> {
        self.list_values("accountIds", raw)?
            .iter()
            .map(|raw| {
                AccountId::parse(raw)
                    .map_err(|e| self.fail("accountIds", "InvalidId", format!("accountIds {e}")))
            })
            .collect()
    }
}

/// GetSession: `sessionId`.
pub(crate) fn get_session(fields: &RequestFields) -> Result<Parsed<SessionId>, ApiError> {
    let mut check = Check::new(fields);
    let id = check.session_id().ok();
    check.finish(id)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// Regression (tests/hostile_input.rs): 3 500 invalid members in a 60 KiB body gave 3 500
    /// field errors, an 800 KB error body. Over the cap there is one error for the list.
    #[test]
    fn too_many_members_or_breadcrumbs_is_one_error_not_one_per_item() {
        let body = serde_json::json!({
            "accountId": "demo",
            "members": vec![serde_json::json!({"identity": "x"}); 3_500],
            "customerBreadcrumb": vec![serde_json::json!({"id": "\u{1}"}); 3_500],
        });
        let request =
            TestRequest::post().insert_header(("content-type", "application/json")).to_http_request();
        let fields = RequestFields::from_body(&request, body.to_string().as_bytes()).unwrap();
        let errors = new_session(&fields, &request, b"").unwrap().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["customerBreadcrumb", "members"]);
    }
}
