//! Our signatures, as a receiver checks them with the standard verifier (the
//! `standardwebhooks` crate of the Standard Webhooks project).

mod support;

use std::sync::Arc;

use evo_ports::{Clock, HookVerdict, RemovalHook};
use evo_webhooks::{DeliveryWorker, HookConfig, HttpRemovalHook, WebhookSecret};
use standardwebhooks::Webhook;
use support::{FakeQueue, ManualClock, Receiver, SECRET, TestRenderer, config, removing, secret};

#[tokio::test]
async fn the_standard_verifier_accepts_a_delivered_event_as_it_is() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let id = queue.commit("s-1", clock.now());
    let worker = DeliveryWorker::new(Arc::clone(&queue), config(&receiver.url), clock as Arc<dyn Clock>);
    worker.run_once().await.unwrap();

    let [request] = &receiver.received()[..] else { panic!("one request") };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let timestamp: u64 = request.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(now.abs_diff(timestamp) <= 5, "the wall clock's time, in seconds: {timestamp} vs {now}");
    assert_eq!(request.body_text(), queue.row(id).event.body);
    Webhook::new(SECRET)
        .unwrap()
        .verify(&request.body, &request.header_map())
        .expect("the standard verifier accepts it");

    // The verifier does check: another key, or a changed body, fails.
    let other = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
    assert!(WebhookSecret::parse(other).is_ok());
    assert!(Webhook::new(other).unwrap().verify(&request.body, &request.header_map()).is_err());
    let mut tampered = request.body.clone();
    tampered[1] ^= 1;
    assert!(Webhook::new(SECRET).unwrap().verify(&tampered, &request.header_map()).is_err());
}

#[tokio::test]
async fn the_standard_verifier_accepts_the_hooks_question() {
    let receiver = Receiver::start();
    let hook =
        HttpRemovalHook::new(&HookConfig::new(&receiver.url, secret()).unwrap(), Arc::new(TestRenderer));
    assert_eq!(hook.ask(&removing()).await, HookVerdict::Allow);
    assert_eq!(hook.ask(&removing()).await, HookVerdict::Allow);

    let received = receiver.received();
    for request in &received {
        Webhook::new(SECRET).unwrap().verify(&request.body, &request.header_map()).expect("accepted");
        assert!(request.webhook_id().starts_with("msg_"), "{}", request.webhook_id());
    }
    assert_ne!(received[0].webhook_id(), received[1].webhook_id(), "a fresh id for each question");
}

#[test]
fn our_signature_is_the_one_the_standard_library_computes() {
    let body = br#"{"id":"7","type":"SessionEnded"}"#;
    let ours = evo_webhooks::signature(&secret(), "evt_7", 1_767_225_600, body);
    let theirs = Webhook::new(SECRET).unwrap().sign("evt_7", 1_767_225_600, body).unwrap();
    assert_eq!(ours, theirs);
}
