//! The pre-removal hook over HTTP (docs/api.md, "The pre-removal hook").

use std::sync::Arc;

use async_trait::async_trait;
use evo_domain::SessionEvent;
use evo_ports::{EventRenderer, HookVerdict, RemovalHook};

use crate::config::HookConfig;
use crate::transport::{PostOutcome, SignedPoster, short};

/// The longest refusal message passed on, in characters.
pub const MAX_REFUSAL_MESSAGE_CHARS: usize = 1000;
/// The most calls to the hook under way at once on an instance: one more waits for a place
/// within the hook's timeout, then counts as a failed call (`EVO_PRE_REMOVE_HOOK_ON_FAILURE`).
pub const MAX_HOOK_CALLS_IN_FLIGHT: usize = 64;

/// POSTs the would-be `ChatMemberRemoving` event to `EVO_PRE_REMOVE_HOOK_URL`, signed like
/// the webhooks, and reads the verdict: 2xx [`Allow`](HookVerdict::Allow); 4xx
/// [`Refuse`](HookVerdict::Refuse) with the answer's JSON `message` when it has a non-empty
/// one; anything else (5xx, 1xx/3xx, no answer within the timeout, no connection)
/// [`Failed`](HookVerdict::Failed), for the caller's `EVO_PRE_REMOVE_HOOK_ON_FAILURE`.
///
/// The body is the event as the [`EventRenderer`] renders it, without `id`: the removal is
/// not made, so the event has no outbox number. Its `webhook-id` is `msg_` and a random
/// UUID, fresh for each question.
pub struct HttpRemovalHook {
    poster: SignedPoster,
    renderer: Arc<dyn EventRenderer>,
    max_answer_bytes: u64,
}

impl std::fmt::Debug for HttpRemovalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRemovalHook").field("poster", &self.poster).finish_non_exhaustive()
    }
}

impl HttpRemovalHook {
    /// The hook `config` describes, rendering events with `renderer`.
    pub fn new(config: &HookConfig, renderer: Arc<dyn EventRenderer>) -> Self {
        Self {
            poster: SignedPoster::new(
                &config.url,
                config.secret.clone(),
                config.timeout,
                MAX_HOOK_CALLS_IN_FLIGHT,
            ),
            renderer,
            max_answer_bytes: config.max_answer_bytes,
        }
    }
}

#[async_trait]
impl RemovalHook for HttpRemovalHook {
    async fn ask(&self, removing: &SessionEvent) -> HookVerdict {
        let body = self.renderer.render(removing);
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        match self.poster.post(id, body, self.max_answer_bytes).await {
            PostOutcome::Answered { status, .. } if (200..300).contains(&status) => HookVerdict::Allow,
            PostOutcome::Answered { status, body } if (400..500).contains(&status) => {
                HookVerdict::Refuse(body.as_deref().and_then(message_of))
            }
            PostOutcome::Answered { status, .. } => {
                HookVerdict::Failed(format!("the hook answered HTTP {status}"))
            }
            PostOutcome::TimedOut => HookVerdict::Failed(format!(
                "no answer from the hook within {} ms",
                self.poster.timeout().as_millis()
            )),
            PostOutcome::Transport(detail) => {
                HookVerdict::Failed(short(&format!("cannot reach the hook: {detail}")))
            }
            PostOutcome::Busy => HookVerdict::Failed(format!(
                "{MAX_HOOK_CALLS_IN_FLIGHT} calls to the hook were already under way for {} ms",
                self.poster.timeout().as_millis()
            )),
        }
    }
}

/// The `message` string of a JSON object, trimmed, when not empty, cut to
/// [`MAX_REFUSAL_MESSAGE_CHARS`].
fn message_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value.get("message")?.as_str()?.trim();
    if message.is_empty() {
        return None;
    }
    Some(message.chars().take(MAX_REFUSAL_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_objects_message_string_is_a_message() {
        assert_eq!(
            message_of(br#"{"message":"  agent is on a call "}"#).as_deref(),
            Some("agent is on a call")
        );
        assert_eq!(message_of(br#"{"message":""}"#), None);
        assert_eq!(message_of(br#"{"message":42}"#), None);
        assert_eq!(message_of(br#"{"error":"no"}"#), None);
        assert_eq!(message_of(b"no"), None);
        assert_eq!(message_of(br#"["message"]"#), None);
        let long = format!(r#"{{"message":"{}"}}"#, "é".repeat(2000));
        assert_eq!(message_of(long.as_bytes()).unwrap().chars().count(), MAX_REFUSAL_MESSAGE_CHARS);
    }
}
