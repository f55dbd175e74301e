//! One signed POST, made with ureq on a blocking thread (as evo-jwt fetches a JWKS): ureq
//! blocks, an async worker must not.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

use crate::config::WebhookSecret;
use crate::signing::{HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP, SignedHeaders};

/// Slack beyond ureq's own timeout before the caller stops waiting for the blocking thread
/// (a resolver that ignores the deadline must not hold a removal).
const GRACE: Duration = Duration::from_millis(250);

/// How one POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PostOutcome {
    /// The receiver answered: its status, and its body when it fitted the limit.
    Answered { status: u16, body: Option<Vec<u8>> },
    /// No complete answer within the timeout.
    TimedOut,
    /// No answer: the connection failed (refused, reset, TLS, name not found...).
    Transport(String),
    /// Not sent: as many POSTs as allowed were under way for the whole timeout.
    Busy,
}

/// Signs and POSTs JSON bodies to one URL, at most `max_in_flight` at once (each POST holds a
/// blocking thread until ureq gives up, even after its caller stopped waiting).
#[derive(Debug, Clone)]
pub(crate) struct SignedPoster {
    agent: ureq::Agent,
    url: String,
    secret: WebhookSecret,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
}

impl SignedPoster {
    pub(crate) fn new(url: &str, secret: WebhookSecret, timeout: Duration, max_in_flight: usize) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // A redirect is an answer like any other non-2xx: the receiver is misconfigured,
            // and a signed event must not be carried to wherever a 3xx points.
            .max_redirects(0)
            .user_agent(concat!("evo-sessions-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            agent,
            url: url.trim().to_owned(),
            secret,
            timeout,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` as message `id`, signed now, and reads at most `read_limit` bytes of
    /// the answer; all within the timeout, waiting for a free place included.
    pub(crate) async fn post(&self, id: String, body: String, read_limit: u64) -> PostOutcome {
        let asked = tokio::time::Instant::now();
        let Ok(Ok(place)) =
            tokio::time::timeout(self.timeout, Arc::clone(&self.in_flight).acquire_owned()).await
        else {
            return PostOutcome::Busy;
        };
        let left = self.timeout.saturating_sub(asked.elapsed());
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let signed = SignedHeaders::sign(
            &self.secret,
            &id,
            i64::try_from(timestamp).unwrap_or(i64::MAX),
            body.as_bytes(),
        );
        let agent = self.agent.clone();
        let url = self.url.clone();
        let blocking = tokio::task::spawn_blocking(move || {
            let outcome = send(&agent, &url, &signed, &body, read_limit);
            drop(place);
            outcome
        });
        match tokio::time::timeout(left + GRACE, blocking).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => PostOutcome::Transport("the request's thread was lost".to_owned()),
            Err(_) => PostOutcome::TimedOut,
        }
    }
}

fn send(agent: &ureq::Agent, url: &str, signed: &SignedHeaders, body: &str, read_limit: u64) -> PostOutcome {
    let sent = agent
        .post(url)
        .header("content-type", "application/json")
        .header(HEADER_WEBHOOK_ID, &signed.id)
        .header(HEADER_WEBHOOK_TIMESTAMP, signed.timestamp.to_string())
        .header(HEADER_WEBHOOK_SIGNATURE, &signed.signature)
        .send(body);
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => return failure(&error),
    };
    let status = response.status().as_u16();
    // The status is the answer; a body too long, slow or cut short only loses the message.
    let body = response.body_mut().with_config().limit(read_limit).read_to_vec().ok();
    PostOutcome::Answered { status, body }
}

fn failure(error: &ureq::Error) -> PostOutcome {
    match error {
        ureq::Error::Timeout(_) => PostOutcome::TimedOut,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => PostOutcome::TimedOut,
        other => PostOutcome::Transport(short(&other.to_string())),
    }
}

/// At most 200 characters of a detail (it ends up in the store and the log).
pub(crate) fn short(detail: &str) -> String {
    const MAX: usize = 200;
    match detail.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None => detail.to_owned(),
    }
}
