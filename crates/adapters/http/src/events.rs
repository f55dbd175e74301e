//! Events on the wire (contract section 11): the event body every outlet sends (webhooks,
//! the pre-removal hook, live streams).

use evo_domain::SessionEvent;
use evo_ports::EventRenderer;
use serde::Serialize;

use crate::dto::{SessionInfo, SessionMemberInfo, wire_date};

/// Renders events as the wire says: `type`, `date`, `accountId`, `sessionId`, `actor`,
/// `member` (member events), `reason` and `leave` (removals), `session` (the SessionInfo
/// after the change); the store puts `id` first.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireEventRenderer;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody<'a> {
    #[serde(rename = "type")]
    event_type: &'static str,
    date: String,
    account_id: &'a str,
    session_id: &'a str,
    actor: ActorInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<SessionMemberInfo>,
    /// `Some(None)`: a removal without a reason (`"reason": null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leave: Option<bool>,
    session: SessionInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorInfo<'a> {
    user_id: &'a str,
    name: &'a str,
}

impl EventRenderer for WireEventRenderer {
    fn render(&self, event: &SessionEvent) -> String {
        let body = EventBody {
            event_type: event.event_type.name(),
            date: wire_date(&event.date),
            account_id: event.account_id.as_str(),
            session_id: event.session_id.as_str(),
            actor: ActorInfo { user_id: &event.actor.user_id, name: &event.actor.name },
            member: event.member.as_ref().map(SessionMemberInfo::from),
            reason: event.departure.as_ref().map(|removal| removal.reason.as_ref().map(|r| r.as_str())),
            leave: event.departure.as_ref().map(|removal| removal.leave),
            session: SessionInfo::from(&event.session),
        };
        serde_json::to_string(&body).expect("an event body always serializes")
    }
}
