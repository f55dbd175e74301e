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
use evo_domain::SessionEvent;
use evo_ports::{EventFilter, EventId, EventRenderer, EventStreams, FieldError, StoredEvent};
use serde::Serialize;

use crate::dto::{SessionInfo, SessionMemberInfo, wire_date};
use crate::error::ApiError;
use crate::handlers::AppState;

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
