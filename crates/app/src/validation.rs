//! Field validation: raw request text in, domain values out, every problem named by its
//! wire field so the caller can fix them all at once.

use std::collections::BTreeMap;

use evo_domain::{
    AccountId, Channel, CustomerBreadcrumb, Direction, MemberIdentity, MemberRole, NewMember, NewSession,
    ReasonError, RemovalReason, SessionDetails, SessionId,
};
use evo_ports::{FieldError, NewMemberInput, NewSessionInput};

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

/// Collects field errors while parsing one request.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub(crate) fn fail(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), code, message: message.into() });
    }

    /// `Ok(value)` when no field failed, else every error.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.errors) }
    }

    pub(crate) fn session_id(&mut self, raw: Option<&str>) -> Option<SessionId> {
        let raw = self.required("sessionId", raw)?;
        SessionId::parse(raw).map_err(|e| self.fail("sessionId", "InvalidId", format!("sessionId {e}"))).ok()
    }

    pub(crate) fn account_id(&mut self, raw: Option<&str>) -> Option<AccountId> {
        let raw = self.required("accountId", raw)?;
        AccountId::parse(raw).map_err(|e| self.fail("accountId", "InvalidId", format!("accountId {e}"))).ok()
    }

    pub(crate) fn identity(&mut self, field: &str, raw: Option<&str>) -> Option<MemberIdentity> {
        let raw = self.required(field, raw)?;
        MemberIdentity::parse(raw)
            .map_err(|e| {
                self.fail(
                    field,
                    "InvalidIdentity",
                    format!("{field} must be a cell phone number (E.164) or a user ID (email): {e}"),
                )
            })
            .ok()
    }

    /// An `Idempotency-Key`: 1 to 255 printable ASCII characters (IETF httpapi draft).
    pub(crate) fn idempotency_key(&mut self, raw: &str) -> Option<String> {
        let printable = raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
            self.fail(
                "Idempotency-Key",
                "InvalidValue",
                format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
                ),
            );
            return None;
        }
        Some(raw.to_owned())
    }

    pub(crate) fn reason(&mut self, raw: Option<&str>) -> Option<Option<RemovalReason>> {
        match raw.map(RemovalReason::parse).transpose() {
            Ok(reason) => Some(reason.flatten()),
            Err(e) => {
                let code = if matches!(e, ReasonError::TooLong(_)) { "Length" } else { "InvalidValue" };
                self.fail("reason", code, format!("reason {e}"));
                None
            }
        }
    }

    pub(crate) fn wire_enum<T>(&mut self, field: &str, raw: Option<&str>) -> Option<Option<T>>
    where
        T: std::str::FromStr<Err = evo_domain::UnknownVariant>,
    {
        match raw {
            None => Some(None),
            Some(raw) => match raw.parse::<T>() {
                Ok(value) => Some(Some(value)),
                Err(e) => {
                    self.fail(field, "InvalidValue", format!("{field}: {e}"));
                    None
                }
            },
        }
    }

    /// Optional free text: at most `max` characters, no control characters but tab and
    /// line breaks (free text is shown to people and kept in logs).
    pub(crate) fn text(&mut self, field: &str, raw: Option<String>, max: usize) -> Option<String> {
        let value = raw?;
        let chars = value.chars().count();
        if chars > max {
            self.fail(field, "Length", format!("{field} must be at most {max} characters, not {chars}"));
            return None;
        }
        if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
            self.fail(field, "InvalidValue", format!("{field} cannot contain control characters"));
            return None;
        }
        Some(value)
    }

    fn required<'a>(&mut self, field: &str, raw: Option<&'a str>) -> Option<&'a str> {
        match raw {
            Some(raw) if !raw.trim().is_empty() => Some(raw),
            _ => {
                self.fail(field, "NotEmpty", format!("{field} is required"));
                None
            }
        }
    }
}

/// Parses a NewSession request and its `Idempotency-Key`, if any.
pub(crate) fn new_session(
    input: NewSessionInput,
    idempotency_key: Option<&str>,
) -> Result<(NewSession, Option<String>), Vec<FieldError>> {
    let mut fields = Fields::default();
    let account_id = fields.account_id(input.account_id.as_deref());
    let channel = fields.wire_enum::<Channel>("channel", input.channel.as_deref());
    let direction = fields.wire_enum::<Direction>("direction", input.direction.as_deref());
    // Over a cap, one error for the list and none per item: a 64 KiB body must not become
    // an error body of thousands of entries (found by tests/hostile_input.rs).
    let mut breadcrumbs = input.customer_breadcrumb;
    if breadcrumbs.len() > MAX_BREADCRUMBS {
        fields.fail("customerBreadcrumb", "Length", format!("at most {MAX_BREADCRUMBS} breadcrumbs"));
        breadcrumbs.clear();
    }
    let customer_breadcrumb = breadcrumbs
        .into_iter()
        .enumerate()
        .map(|(i, crumb)| CustomerBreadcrumb {
            id: fields.text(&format!("customerBreadcrumb[{i}].id"), crumb.id, MAX_TEXT_CHARS),
            name: fields.text(&format!("customerBreadcrumb[{i}].name"), crumb.name, MAX_TEXT_CHARS),
        })
        .collect();
    let details = SessionDetails {
        display_name: fields.text("displayName", input.display_name, MAX_TEXT_CHARS),
        customer_id: fields.text("customerId", input.customer_id, MAX_TEXT_CHARS),
        customer_name: fields.text("customerName", input.customer_name, MAX_TEXT_CHARS),
        customer_breadcrumb,
        endpoint_id: fields.text("endpointId", input.endpoint_id, MAX_TEXT_CHARS),
        endpoint_name: fields.text("endpointName", input.endpoint_name, MAX_TEXT_CHARS),
        from_address: fields.text("fromAddress", input.from_address, MAX_TEXT_CHARS),
        from_name: fields.text("fromName", input.from_name, MAX_TEXT_CHARS),
        to_address: fields.text("toAddress", input.to_address, MAX_TEXT_CHARS),
        from_phone_number: fields.text("fromPhoneNumber", input.from_phone_number, MAX_TEXT_CHARS),
        console_data: fields.text("consoleData", input.console_data, MAX_CONSOLE_DATA_CHARS),
        ..SessionDetails::default()
    };
    let mut new_members = input.members;
    if new_members.is_empty() {
        // Every session has an original member (contract section 2): the one who started it.
        fields.fail(
            "members",
            "NotEmpty",
            "members must list at least one member; the first is the original member",
        );
    } else if new_members.len() > MAX_NEW_MEMBERS {
        fields.fail("members", "Length", format!("at most {MAX_NEW_MEMBERS} members"));
        new_members.clear();
    }
    let mut members: Vec<NewMember> = Vec::with_capacity(new_members.len());
    for (i, member) in new_members.into_iter().enumerate() {
        if let Some(member) = new_member(&mut fields, &format!("members[{i}]"), member) {
            if members.iter().any(|m| m.identity == member.identity) {
                fields.fail(
                    format!("members[{i}].identity"),
                    "Duplicate",
                    format!("{} is listed twice", member.identity),
                );
            } else {
                members.push(member);
            }
        }
    }
    let key = idempotency_key.and_then(|raw| fields.idempotency_key(raw));
    let (Some(account_id), Some(channel), Some(direction)) = (account_id, channel, direction) else {
        return Err(fields.errors);
    };
    let new = NewSession {
        account_id,
        channel: channel.unwrap_or(Channel::Chat),
        direction: direction.unwrap_or(Direction::Incoming),
        details,
        members,
    };
    fields.finish((new, key))
}

fn new_member(fields: &mut Fields, prefix: &str, input: NewMemberInput) -> Option<NewMember> {
    let identity = fields.identity(&format!("{prefix}.identity"), input.identity.as_deref());
    let role = fields.wire_enum::<MemberRole>(&format!("{prefix}.role"), input.role.as_deref());
    let display_name = fields.text(&format!("{prefix}.displayName"), input.display_name, MAX_TEXT_CHARS);
    let avatar_url = fields.text(&format!("{prefix}.avatarUrl"), input.avatar_url, MAX_TEXT_CHARS);
    let application_data =
        application_data(fields, &format!("{prefix}.applicationData"), input.application_data);
    Some(NewMember { identity: identity?, display_name, role: role?, avatar_url, application_data })
}

fn application_data(
    fields: &mut Fields,
    field: &str,
    data: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    if data.len() > MAX_APPLICATION_DATA_ENTRIES {
        fields.fail(field, "Length", format!("{field} holds at most {MAX_APPLICATION_DATA_ENTRIES} entries"));
        return BTreeMap::new();
    }
    data.into_iter()
        .filter_map(|(key, value)| {
            let key = fields.text(&format!("{field}.key"), Some(key), MAX_TEXT_CHARS)?;
            let value = fields.text(&format!("{field}[{key}]"), Some(value), MAX_TEXT_CHARS)?;
            Some((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use evo_ports::BreadcrumbInput;

    use super::*;

    /// Regression (tests/hostile_input.rs): 3 500 invalid members in a 60 KiB body gave 3 500
    /// field errors, an 800 KB error body. Over the cap there is one error for the list.
    #[test]
    fn too_many_members_or_breadcrumbs_is_one_error_not_one_per_item() {
        let input = NewSessionInput {
            account_id: Some("demo".to_owned()),
            members: vec![NewMemberInput { identity: Some("x".to_owned()), ..Default::default() }; 3_500],
            customer_breadcrumb: vec![BreadcrumbInput { id: Some("\u{1}".to_owned()), name: None }; 3_500],
            ..Default::default()
        };
        let errors = new_session(input, None).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["customerBreadcrumb", "members"]);
    }
}
