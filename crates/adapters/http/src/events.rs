//! Events on the wire (contract section 11): the event body every outlet sends (webhooks,
//! the pre-removal hook, live streams), and the Server-Sent Events streams
//! `GET /sessions/{sessionId}/events` and `GET /events`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use evo_domain::{Session, SessionEvent};
use evo_ports::{EventFilter, EventId, EventRenderer, EventStreams, FieldError, StoredEvent};
use serde::Serialize;

use crate::dto::{SessionInfo, SessionLogInfo, SessionMemberInfo, wire_date};
use crate::error::ApiError;
use crate::handlers::AppState;

/// Renders events as the wire says: `type`, `date`, `accountId`, `sessionId`, `actor`,
/// `member` (member events), `reason` and `leave` (removals), `logEntry` (the entry the change
/// appended), `session` (the SessionInfo after the change, without its `log`: an event's size
/// is bounded by the members, not by the session's age); the store puts `id` first.
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
    /// The entry this change appended; the session's log itself is left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_entry: Option<SessionLogInfo>,
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
            log_entry: event.log_entry.as_ref().map(SessionLogInfo::from),
            session: SessionInfo { log: None, ..SessionInfo::from(&event.session) },
        };
        serde_json::to_string(&body).expect("an event body always serializes")
    }

    fn session_size(&self, session: &Session) -> usize {
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, &SessionInfo::from(session))
            .expect("a session always serializes");
        counter.0
    }
}

/// Counts what is written to it, keeping nothing.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A comment line every this often keeps proxies from closing an idle stream.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events read from the store at a time.
const BATCH: u32 = 100;

/// `GET /sessions/{sessionId}/events`: GetSession's checks (role, field, visibility), then
/// the session's events.
pub(crate) async fn session_events(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(streams) = state.streams.clone() else { return Err(ApiError::RouteNotFound) };
    let session = state.read_session(&request).await?;
    let filter = streams.watch_session(&session);
    open(&request, &state, streams, filter).await
}

/// `GET /events`: the events of every session the caller may see.
pub(crate) async fn all_events(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(streams) = state.streams.clone() else { return Err(ApiError::RouteNotFound) };
    let actor = state.authenticate(&request).await?;
    let filter = streams.watch_all(&actor).await.map_err(|error| state.fail(&request, error))?;
    open(&request, &state, streams, filter).await
}

/// `Last-Event-ID`: the number of the last event the client has (decimal digits).
fn last_event_id(request: &HttpRequest) -> Result<Option<EventId>, ApiError> {
    let Some(value) = request.headers().get("Last-Event-ID") else { return Ok(None) };
    let parsed =
        value.to_str().ok().map(str::trim).filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    match parsed.and_then(|v| v.parse::<EventId>().ok()) {
        Some(id) => Ok(Some(id)),
        None => Err(ApiError::Validation(vec![FieldError {
            field: "Last-Event-ID".into(),
            code: "InvalidValue",
            message: "must be an event id: decimal digits".into(),
        }])),
    }
}

async fn open(
    request: &HttpRequest,
    state: &AppState,
    streams: Arc<dyn EventStreams>,
    filter: EventFilter,
) -> Result<HttpResponse, ApiError> {
    let start = match last_event_id(request)? {
        Some(resume) => resume,
        None => streams.last_event_id().await.map_err(|error| state.fail(request, error))?,
    };
    let cursor = Cursor {
        streams,
        filter,
        sent: start,
        scanned: start,
        pending: VecDeque::new(),
        draining: state.draining.clone(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(cursor, Cursor::next_frame)))
}

/// Where one stream is: the last event sent, and how far the outbox was scanned (every
/// event up to `scanned` that the filter admits has been sent or is pending).
struct Cursor {
    streams: Arc<dyn EventStreams>,
    filter: EventFilter,
    sent: EventId,
    scanned: EventId,
    pending: VecDeque<StoredEvent>,
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Cursor {
    async fn next_frame(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(frame(&event)), self));
            }
            if self.draining.load(Ordering::SeqCst) {
                return None;
            }
            // What is known readable before the read: the read then covers at least that.
            let known = self.streams.wait_for_events_after(EventId::MAX, Duration::ZERO).await;
            match self.streams.events_after(&self.filter, self.sent, BATCH).await {
                Ok(batch) => {
                    let full = batch.len() == BATCH as usize;
                    if let Some(last) = batch.last() {
                        self.sent = last.id;
                    }
                    self.pending.extend(batch);
                    if full {
                        continue;
                    }
                    self.scanned = self.scanned.max(known).max(self.sent);
                    if !self.pending.is_empty() {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "a live stream could not read the outbox; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            let news = self.streams.wait_for_events_after(self.scanned, HEARTBEAT).await;
            if news <= self.scanned {
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
            }
        }
    }
}

/// One Server-Sent Event: `id`, `event` (the type), `data` (the JSON body, one line).
fn frame(event: &StoredEvent) -> Bytes {
    Bytes::from(format!("id: {}\nevent: {}\ndata: {}\n\n", event.id, event.event_type.name(), event.body))
}

#[cfg(test)]
mod tests {
    use evo_domain::{AccountId, Actor, MemberIdentity, NewMember, NewSession, SessionDetails, SessionId};

    use super::*;

    fn at() -> evo_domain::Timestamp {
        chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap()
    }

    fn chat() -> (Session, Actor) {
        let actor = Actor {
            user_id: "ann@example.com".into(),
            name: "Ann".into(),
            roles: vec!["User".into()],
            account_ids: vec![AccountId::parse("acme").unwrap()],
        };
        let members = ["+15551234567", "bob@example.com"]
            .map(|raw| NewMember::new(MemberIdentity::parse(raw).unwrap()))
            .to_vec();
        let new = NewSession {
            account_id: AccountId::parse("acme").unwrap(),
            channel: evo_domain::Channel::Chat,
            direction: evo_domain::Direction::Incoming,
            members,
            details: SessionDetails::default(),
        };
        let session = Session::open(SessionId::parse("s-1").unwrap(), new, &actor, at()).unwrap();
        (session, actor)
    }

    #[test]
    fn an_event_carries_its_log_entry_and_the_session_without_its_log() {
        let (mut session, actor) = chat();
        let change =
            session.remove_member(&actor, &MemberIdentity::parse("bob@example.com").unwrap(), at()).unwrap();
        let body: serde_json::Value = serde_json::from_str(
            &WireEventRenderer.render(&SessionEvent::of_change(&session, &actor, &change)),
        )
        .unwrap();
        assert_eq!(body["logEntry"]["message"], change.log_entry.message.as_str());
        assert_eq!(body["logEntry"]["date"], wire_date(&change.log_entry.date).as_str());
        assert!(body["session"].get("log").is_none(), "{body}");
        assert_eq!(body["session"]["members"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_session_measures_as_its_session_info_json() {
        let (session, _) = chat();
        let json = serde_json::to_string(&SessionInfo::from(&session)).unwrap();
        assert!(json.contains("\"log\":["), "GetSession's form, log included: {json}");
        assert_eq!(WireEventRenderer.session_size(&session), json.len());
    }
}
