//! Events on the wire (docs/api.md, "Events"): the event body every outlet sends (webhooks,
//! the pre-removal hook, live streams), and the Server-Sent Events streams
//! `GET /sessions/{sessionId}/events` and `GET /events`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use evo_domain::{Actor, Session, SessionEvent};
use evo_ports::{EventFilter, EventId, EventRenderer, FieldError, StoredEvent};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::dto::{SessionInfo, SessionLogInfo, SessionMemberInfo, wire_date};
use crate::error::{ApiError, Limit};
use crate::event_hub::{EventHub, FIRST_BACKOFF, GIVE_UP_AFTER, MAX_BACKOFF, StreamPermit, StreamRefused};
use crate::handlers::AppState;

/// Renders events as the wire says: `type`, `date`, `accountId`, `sessionId`, `actor`,
/// `member` (member events), `reason` and `leave` (removals), `logEntry` (the entry the change
/// appended), `callerId` (`ChatMemberAdded`, when given), `callSid` (`SessionEnded`, when given),
/// `changes` (`SessionInfoChanged`), `session` (the SessionInfo after the change, without its `log`: an event's size
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
    /// `ChatMemberAdded`: the outbound caller ID the inviter asked for, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_id: Option<&'a str>,
    /// `SessionEnded`: the call SID the caller named, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    call_sid: Option<&'a str>,
    /// `SessionInfoChanged`: the names of the fields set.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    changes: &'a [&'static str],
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
            caller_id: event.caller_id.as_ref().map(|number| number.as_str()),
            call_sid: event.call_sid.as_deref(),
            changes: &event.changes,
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

    /// The event's body holds the session without its log, whole: add the most the log can
    /// take as JSON (`,"log":[...]`), each entry `{"date":"...","message":"..."}` with its
    /// message escaped at worst (a control character becomes six bytes).
    fn session_size_bound(&self, session: &Session, rendered_event: &str) -> usize {
        const LOG_KEY_AND_BRACKETS: usize = r#","log":[]"#.len();
        // Braces, keys, quotes, a date of up to 32 characters, a comma.
        const ENTRY_FRAME: usize = r#"{"date":"","message":""},"#.len() + 32;
        let log: usize = session.log.iter().map(|entry| ENTRY_FRAME + 6 * entry.message.len()).sum();
        rendered_event.len() + LOG_KEY_AND_BRACKETS + log
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

/// The longest a stream goes without a frame: then a comment line keeps proxies from closing it.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events a replay reads from the store at a time (each page is also at most 1 MiB: the
/// stores cut it there).
const REPLAY_PAGE: u32 = 100;

/// `GET /sessions/{sessionId}/events`: GetSession's checks (role, field, visibility), then
/// the session's events.
pub(crate) async fn session_events(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(hub) = state.event_hub.clone() else { return Err(ApiError::RouteNotFound) };
    let (actor, session) = state.read_session_as(&request).await?;
    let filter = hub.store().watch_session(&session);
    open(&request, &state, &hub, &actor, filter).await
}

/// `GET /events`: the events of every session the caller may see.
pub(crate) async fn all_events(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(hub) = state.event_hub.clone() else { return Err(ApiError::RouteNotFound) };
    let actor = state.authenticate(&request).await?;
    let filter = hub.store().watch_all(&actor).await.map_err(|error| state.fail(&request, error))?;
    open(&request, &state, &hub, &actor, filter).await
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
    hub: &Arc<EventHub>,
    actor: &Actor,
    filter: EventFilter,
) -> Result<HttpResponse, ApiError> {
    let resume = last_event_id(request)?;
    let permit = hub.admit(&actor.user_id).map_err(|refused| {
        tracing::info!(caller = %actor.user_id, ?refused, "a live stream was refused: too many open");
        let limit = match refused {
            StreamRefused::CallerAtLimit => Limit::CallerStreams,
            StreamRefused::InstanceAtLimit => Limit::InstanceStreams,
        };
        ApiError::TooManyRequests { limit, retry_after: Duration::from_secs(5) }
    })?;
    // Subscribed before the start is read: every event after the start then comes either
    // from the fan-out or from the replay (see `event_hub`).
    let (live, published) = hub.subscribe();
    let start = match resume {
        Some(resume) => resume,
        None => hub.store().last_event_id().await.map_err(|error| state.fail(request, error))?,
    };
    let ends_at = state.token_valid_until(request).map(|until| {
        let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let cursor = Cursor {
        hub: Arc::clone(hub),
        filter,
        sent: start,
        replaying: start < published,
        live,
        pending: VecDeque::new(),
        last_frame: tokio::time::Instant::now(),
        ends_at,
        failing_since: None,
        retry_at: None,
        backoff: FIRST_BACKOFF,
        draining: state.draining.clone(),
        opened: std::time::Instant::now(),
        _permit: permit,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, crate::format::SESSION_CACHE_CONTROL))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(cursor, Cursor::next_frame)))
}

/// Where one stream is: the last event it sent, and whether it reads the store to catch up
/// (a resume, or after falling behind the fan-out) or takes events from the fan-out.
struct Cursor {
    hub: Arc<EventHub>,
    filter: EventFilter,
    sent: EventId,
    replaying: bool,
    live: broadcast::Receiver<Arc<StoredEvent>>,
    pending: VecDeque<Arc<StoredEvent>>,
    last_frame: tokio::time::Instant,
    /// When the token the stream was opened with stops being acceptable.
    ends_at: Option<tokio::time::Instant>,
    /// Since when the replay's reads fail.
    failing_since: Option<tokio::time::Instant>,
    /// When a failed replay reads again.
    retry_at: Option<tokio::time::Instant>,
    backoff: Duration,
    draining: Arc<std::sync::atomic::AtomicBool>,
    /// When the stream opened (the reader's failures are timed on the same clock).
    opened: std::time::Instant,
    _permit: StreamPermit,
}

/// What a stream does next.
enum Step {
    /// Send this frame.
    Frame(Bytes),
    /// End the stream.
    End,
    /// Look again.
    Again,
}

impl Cursor {
    async fn next_frame(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        loop {
            let step = self.step().await;
            match step {
                Step::Frame(frame) => {
                    self.last_frame = tokio::time::Instant::now();
                    return Some((Ok(frame), self));
                }
                Step::End => return None,
                Step::Again => {}
            }
        }
    }

    async fn step(&mut self) -> Step {
        if let Some(event) = self.pending.pop_front() {
            return Step::Frame(frame(&event));
        }
        let now = tokio::time::Instant::now();
        if self.draining.load(Ordering::SeqCst) || self.ends_at.is_some_and(|end| now >= end) {
            return Step::End;
        }
        // The reader's failures count only from this stream's opening on.
        if self.hub.failing_for().min(self.opened.elapsed()) >= GIVE_UP_AFTER {
            tracing::info!("a live stream ends: its events could not be read for 2 minutes");
            return Step::End;
        }
        // Whatever happens, a frame by the heartbeat's deadline (or the token's end).
        let deadline = (self.last_frame + HEARTBEAT).min(self.ends_at.unwrap_or(now + HEARTBEAT));
        if self.replaying {
            // A failed read waits out its backoff; a keep-alive falls due meanwhile.
            if let Some(retry_at) = self.retry_at.filter(|at| *at > now) {
                if retry_at >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    return self.quiet();
                }
                tokio::time::sleep_until(retry_at).await;
            }
            return self.replay().await;
        }
        tokio::select! {
            received = self.live.recv() => match received {
                Ok(event) => {
                    if event.id > self.sent && self.filter.admits(&event) {
                        self.sent = event.id;
                        self.pending.push_back(event);
                    }
                    Step::Again
                }
                // Fallen behind the fan-out: read the store from where the stream is.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.replaying = true;
                    Step::Again
                }
                Err(broadcast::error::RecvError::Closed) => Step::End,
            },
            () = tokio::time::sleep_until(deadline) => self.quiet(),
        }
    }

    /// One page of the store after the last event sent; back to the fan-out once a page read
    /// after the reader was ready is empty (before, the reader might start after events this
    /// stream has not read: it reads again a second later). Failing reads back off (1 s,
    /// doubling, up to 30 s) and end the stream after 2 minutes.
    async fn replay(&mut self) -> Step {
        let hub_ready = self.hub.is_ready();
        let page = self.hub.store().events_after(&self.filter, self.sent, REPLAY_PAGE).await;
        metrics::counter!(crate::event_hub::STREAM_READS_TOTAL, "by" => "replay").increment(1);
        match page {
            Ok(page) if page.is_empty() => {
                self.replaying = !hub_ready;
                let again = (!hub_ready).then(|| tokio::time::Instant::now() + FIRST_BACKOFF);
                (self.failing_since, self.retry_at, self.backoff) = (None, again, FIRST_BACKOFF);
                Step::Again
            }
            Ok(page) => {
                (self.failing_since, self.retry_at, self.backoff) = (None, None, FIRST_BACKOFF);
                self.sent = page.last().map_or(self.sent, |event| event.id);
                self.pending.extend(page.into_iter().map(Arc::new));
                Step::Again
            }
            Err(error) => {
                let now = tokio::time::Instant::now();
                let since = *self.failing_since.get_or_insert(now);
                if now - since >= GIVE_UP_AFTER {
                    tracing::info!(%error, "a live stream ends: its replay failed for 2 minutes");
                    return Step::End;
                }
                tracing::debug!(%error, "a live stream could not read the outbox; backing off");
                self.retry_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                Step::Again
            }
        }
    }

    /// The deadline passed with nothing to send: the end of the token's time, or a keep-alive.
    fn quiet(&self) -> Step {
        if self.ends_at.is_some_and(|end| tokio::time::Instant::now() >= end) {
            tracing::debug!("a live stream ends with its token");
            return Step::End;
        }
        Step::Frame(Bytes::from_static(b": keep-alive\n\n"))
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

    /// docs/api.md, "Events": `callerId` on `ChatMemberAdded`, `callSid` on `SessionEnded`,
    /// `changes` on `SessionInfoChanged`, each only where it belongs.
    #[test]
    fn caller_id_call_sid_and_changes_are_told_where_they_belong() {
        let (mut session, actor) = chat();
        let render = |session: &Session, change: &evo_domain::SessionChange| -> serde_json::Value {
            serde_json::from_str(&WireEventRenderer.render(&SessionEvent::of_change(session, &actor, change)))
                .unwrap()
        };
        let mut carol = NewMember::new(MemberIdentity::parse("carol@example.com").unwrap());
        carol.caller_id = Some(evo_domain::PhoneNumber::parse("+1 555 010 9999").unwrap());
        let added = render(&session.clone(), &session.invite_member(&actor, carol, at()).unwrap());
        assert_eq!(
            (added["type"].as_str(), added["callerId"].as_str()),
            (Some("ChatMemberAdded"), Some("+15550109999"))
        );
        assert!(added.get("callSid").is_none() && added.get("changes").is_none(), "{added}");
        let patch = evo_domain::SessionPatch {
            call_state: Some(evo_domain::CallState::Hold),
            console_data: Some("x".into()),
            ..Default::default()
        };
        let change = session.patch(&actor, patch, at()).unwrap();
        let changed = render(&session, &change);
        assert_eq!(changed["type"], "SessionInfoChanged");
        assert_eq!(changed["changes"], serde_json::json!(["consoleData", "callState"]));
        assert_eq!(changed["session"]["callState"], "Hold");
        assert!(changed.get("callerId").is_none(), "{changed}");
        let change = session.end_with(&actor, Some("CA123".into()), at()).unwrap();
        let ended = render(&session, &change);
        assert_eq!(
            (ended["type"].as_str(), ended["callSid"].as_str()),
            (Some("SessionEnded"), Some("CA123"))
        );
        assert!(ended.get("changes").is_none(), "{ended}");
    }

    #[test]
    fn the_cheap_bound_is_never_below_the_exact_size() {
        let (mut session, actor) = chat();
        let mut last = None;
        for (n, name) in
            ["plain", "quote \" and \\ back", "control \u{1} \u{1f}", "ünïcödé ✓", ""].iter().enumerate()
        {
            let mut member = NewMember::new(MemberIdentity::parse(&format!("guest{n}@example.com")).unwrap());
            member.display_name = Some((*name).repeat(40));
            let change = session.invite_member(&actor, member, at()).unwrap();
            last = Some(WireEventRenderer.render(&SessionEvent::of_change(&session, &actor, &change)));
        }
        let exact = WireEventRenderer.session_size(&session);
        let bound = WireEventRenderer.session_size_bound(&session, &last.unwrap());
        assert!(bound >= exact, "bound {bound} < exact {exact}");
        assert!(bound < 12 * exact, "and not far off: {bound} for {exact}");
    }

    #[test]
    fn a_session_measures_as_its_session_info_json() {
        let (session, _) = chat();
        let json = serde_json::to_string(&SessionInfo::from(&session)).unwrap();
        assert!(json.contains("\"log\":["), "GetSession's form, log included: {json}");
        assert_eq!(WireEventRenderer.session_size(&session), json.len());
    }
}
