//! The pre-removal hook against a real HTTP receiver.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use evo_ports::{HookVerdict, RemovalHook};
use evo_webhooks::{HookConfig, HttpRemovalHook};
use support::{Receiver, Reply, TestRenderer, closed_url, removing, secret};

fn hook(url: &str) -> HttpRemovalHook {
    HttpRemovalHook::new(&HookConfig::new(url, secret()).unwrap(), Arc::new(TestRenderer))
}

#[tokio::test]
async fn a_2xx_allows_and_the_question_is_the_rendered_removing_event() {
    let receiver = Receiver::answering(|_, _| Reply::status(204));
    assert_eq!(hook(&receiver.url).ask(&removing()).await, HookVerdict::Allow);

    let [request] = &receiver.received()[..] else { panic!("one request") };
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "ChatMemberRemoving");
    assert_eq!(body["sessionId"], "s-1");
    assert!(body.get("id").is_none(), "a removal not made has no event number");
    assert!(request.header("webhook-signature").unwrap().starts_with("v1,"));
}

#[tokio::test]
async fn a_4xx_with_a_message_refuses_with_it() {
    let receiver = Receiver::answering(|_, _| Reply::json(409, r#"{"message":"Bob is on a call","code":7}"#));
    assert_eq!(
        hook(&receiver.url).ask(&removing()).await,
        HookVerdict::Refuse(Some("Bob is on a call".into()))
    );
}

#[tokio::test]
async fn a_4xx_without_a_usable_message_refuses_without_one() {
    for body in ["", "not json", r#"{"error":"no"}"#, r#"{"message":""}"#, r#"{"message":{"text":"x"}}"#] {
        let receiver = Receiver::answering(move |_, _| Reply::json(403, body));
        assert_eq!(hook(&receiver.url).ask(&removing()).await, HookVerdict::Refuse(None), "body {body:?}");
    }
}

#[tokio::test]
async fn a_refusal_longer_than_the_limit_gives_no_message() {
    let long = format!(r#"{{"message":"no","padding":"{}"}}"#, "x".repeat(20 * 1024));
    let receiver = Receiver::answering(move |_, _| Reply::json(422, &long));
    assert_eq!(hook(&receiver.url).ask(&removing()).await, HookVerdict::Refuse(None));
}

#[tokio::test]
async fn a_5xx_is_a_failure() {
    let receiver = Receiver::answering(|_, _| Reply::json(503, r#"{"message":"down"}"#));
    let verdict = hook(&receiver.url).ask(&removing()).await;
    assert_eq!(verdict, HookVerdict::Failed("the hook answered HTTP 503".into()));
}

#[tokio::test]
async fn no_answer_within_the_timeout_is_a_failure_on_time() {
    let receiver = Receiver::answering(|_, _| Reply::status(200).after(Duration::from_secs(2)));
    let mut config = HookConfig::new(&receiver.url, secret()).unwrap();
    config.timeout = Duration::from_millis(200);
    let hook = HttpRemovalHook::new(&config, Arc::new(TestRenderer));

    let started = Instant::now();
    let verdict = hook.ask(&removing()).await;
    let took = started.elapsed();

    assert_eq!(verdict, HookVerdict::Failed("no answer from the hook within 200 ms".into()));
    assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(1000), "took {took:?}");
}

/// `EVO_PRE_REMOVE_HOOK_TIMEOUT_MS` defaults to 1000 (docs/api.md, "The pre-removal hook").
#[tokio::test]
async fn the_default_timeout_is_the_contracts_second() {
    let config = HookConfig::new("http://127.0.0.1:9/hook", secret()).unwrap();
    assert_eq!(config.timeout, Duration::from_millis(1000));
}

#[tokio::test]
async fn no_connection_is_a_failure() {
    let HookVerdict::Failed(detail) = hook(&closed_url()).ask(&removing()).await else { panic!("a failure") };
    assert!(detail.starts_with("cannot reach the hook"), "{detail}");
    assert!(!detail.contains("MfKQ9r8"), "{detail}");
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_a_failure() {
    let receiver = Receiver::answering(|_, _| Reply::status(307));
    assert_eq!(
        hook(&receiver.url).ask(&removing()).await,
        HookVerdict::Failed("the hook answered HTTP 307".into())
    );
    assert_eq!(receiver.received().len(), 1);
}

/// However many removals ask at once, at most 64 calls to the hook are under way: the others
/// wait for a place within the hook's timeout, then fail like a hook that did not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_the_hook_are_bounded_in_number() {
    let receiver = Receiver::answering(|_, _| Reply::status(200).after(Duration::from_secs(3)));
    let mut config = HookConfig::new(&receiver.url, secret()).unwrap();
    config.timeout = Duration::from_secs(1);
    let hook = Arc::new(HttpRemovalHook::new(&config, Arc::new(TestRenderer)));
    let asks: Vec<_> = (0..70)
        .map(|_| {
            let hook = Arc::clone(&hook);
            tokio::spawn(async move { hook.ask(&removing()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.received().len(),
        evo_webhooks::hook::MAX_HOOK_CALLS_IN_FLIGHT,
        "64 under way, 6 waiting"
    );
    for ask in asks {
        assert!(matches!(ask.await.unwrap(), HookVerdict::Failed(_)), "no answer within the timeout");
    }
}
