//! The delivery worker against a real HTTP receiver and an in-memory outbox.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use evo_ports::{Clock, DeliveryQueue};
use evo_webhooks::{CancellationToken, DeliveryWorker, WebhookSender};
use support::{FakeQueue, ManualClock, Receiver, Reply, State, after, closed_url, config};

const PATIENCE: Duration = Duration::from_secs(3);

fn worker(
    queue: &Arc<FakeQueue>,
    config: evo_webhooks::WebhookConfig,
    clock: &Arc<ManualClock>,
) -> DeliveryWorker<FakeQueue> {
    DeliveryWorker::new(Arc::clone(queue), config, Arc::clone(clock) as Arc<dyn Clock>)
}

#[tokio::test]
async fn a_2xx_marks_the_event_delivered_and_the_body_is_posted_as_json() {
    let receiver = Receiver::answering(|_, _| Reply::status(204));
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let id = queue.commit("s-1", clock.now());
    let worker = worker(&queue, config(&receiver.url), &clock);

    assert_eq!(worker.run_once().await.unwrap(), 1);

    assert_eq!(queue.state(id), State::Delivered);
    assert_eq!(queue.row(id).delivered_at, Some(clock.now()));
    let [request] = &receiver.received()[..] else { panic!("one request: {:?}", receiver.ids()) };
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hooks/evo"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.webhook_id(), WebhookSender::webhook_id(id));
    assert_eq!(request.webhook_id(), format!("evt_{id}"));
    assert_eq!(request.body_text(), queue.row(id).event.body);
    assert!(request.header("webhook-signature").unwrap().starts_with("v1,"));
    assert_eq!(worker.run_once().await.unwrap(), 0, "nothing left to deliver");
}

#[tokio::test]
async fn a_500_then_a_200_is_retried_after_a_second_and_delivered_once() {
    let receiver = Receiver::answering(|_, index| Reply::status(if index == 0 { 500 } else { 200 }));
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let t0 = clock.now();
    let id = queue.commit("s-1", t0);
    let worker = worker(&queue, config(&receiver.url), &clock);

    worker.run_once().await.unwrap();
    let row = queue.row(id);
    assert_eq!((row.state, row.attempts, row.next_attempt_at), (State::Pending, 1, after(t0, 1)));
    assert_eq!(row.last_error.as_deref(), Some("the receiver answered HTTP 500"));

    assert_eq!(worker.run_once().await.unwrap(), 0, "not due before its retry time");
    clock.advance(Duration::from_millis(999));
    assert_eq!(worker.run_once().await.unwrap(), 0, "not due before its retry time");
    clock.advance(Duration::from_millis(1));
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(queue.state(id), State::Delivered);
    worker.run_once().await.unwrap();

    let ids = receiver.ids();
    assert_eq!(ids, [format!("evt_{id}"), format!("evt_{id}")], "the retry has the same webhook-id");
}

#[tokio::test]
async fn the_backoff_doubles_from_one_second_and_is_capped_at_ten_minutes() {
    let receiver = Receiver::answering(|_, _| Reply::status(503));
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let id = queue.commit("s-1", clock.now());
    let worker = worker(&queue, config(&receiver.url), &clock);

    let mut delays = Vec::new();
    for _ in 0..12 {
        let before = clock.now();
        assert_eq!(worker.run_once().await.unwrap(), 1);
        let next = queue.row(id).next_attempt_at;
        delays.push((next - before).num_seconds());
        clock.advance((next - before).to_std().unwrap());
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
    assert_eq!(queue.row(id).attempts, 12);
    assert_eq!(receiver.received().len(), 12);
}

#[tokio::test]
async fn a_failing_event_holds_back_its_sessions_later_events_but_not_other_sessions() {
    let receiver = Receiver::answering(|request, _| {
        Reply::status(if request.webhook_id() == "evt_1" { 500 } else { 200 })
    });
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let first = queue.commit("s-a", clock.now());
    let second = queue.commit("s-a", clock.now());
    let other = queue.commit("s-b", clock.now());
    let worker = worker(&queue, config(&receiver.url), &clock);

    worker.run_once().await.unwrap();
    assert_eq!(queue.state(first), State::Pending);
    assert_eq!(queue.state(other), State::Delivered, "another session is not held back");
    assert_eq!(queue.state(second), State::Pending);

    clock.advance(Duration::from_secs(5));
    worker.run_once().await.unwrap();
    assert_eq!(queue.state(first), State::Pending, "still failing");
    assert_eq!(queue.state(second), State::Pending, "waits for the earlier event");
    assert!(!receiver.ids().contains(&format!("evt_{second}")));

    receiver.set_script(|_, _| Reply::status(200));
    clock.advance(Duration::from_secs(5));
    worker.run_once().await.unwrap();
    worker.run_once().await.unwrap();
    assert_eq!((queue.state(first), queue.state(second)), (State::Delivered, State::Delivered));
    let session_a: Vec<String> =
        receiver.ids().into_iter().filter(|id| id != &format!("evt_{other}")).collect();
    assert_eq!(session_a, ["evt_1", "evt_1", "evt_1", "evt_2"]);
}

#[tokio::test]
async fn within_one_batch_a_sessions_events_go_one_by_one_and_stop_at_the_first_failure() {
    // The second event answers slowly, so that sending a session's events side by side
    // would show as the third arriving before the second's answer.
    let receiver = Receiver::answering(|request, _| match request.webhook_id() {
        "evt_2" => Reply::status(500).after(Duration::from_millis(200)),
        _ => Reply::status(200).after(Duration::from_millis(20)),
    });
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    queue.runs_per_session.store(true, Ordering::SeqCst);
    for session in ["s-a", "s-a", "s-a", "s-b", "s-b"] {
        queue.commit(session, clock.now());
    }
    let worker = worker(&queue, config(&receiver.url), &clock);

    assert_eq!(worker.run_once().await.unwrap(), 5, "the queue handed out every event");

    let session_a: Vec<String> =
        receiver.ids().into_iter().filter(|id| ["evt_1", "evt_2", "evt_3"].contains(&id.as_str())).collect();
    assert_eq!(session_a, ["evt_1", "evt_2"], "in order, and nothing after the failure");
    assert_eq!(queue.state(1), State::Delivered);
    assert_eq!((queue.state(2), queue.row(2).attempts), (State::Pending, 1));
    assert_eq!((queue.state(3), queue.row(3).attempts), (State::Pending, 0));
    assert_eq!((queue.state(4), queue.state(5)), (State::Delivered, State::Delivered));
    let session_b: Vec<String> =
        receiver.ids().into_iter().filter(|id| id == "evt_4" || id == "evt_5").collect();
    assert_eq!(session_b, ["evt_4", "evt_5"]);
}

#[tokio::test]
async fn no_attempt_starts_once_the_lease_has_passed_unrenewed() {
    let clock = ManualClock::new();
    let moved = Arc::clone(&clock);
    // Answering the first event takes (on the test's clock) longer than the lease, and no
    // renewal lands meanwhile (the renewal runs every third of the lease in real time).
    let receiver = Receiver::answering(move |_, index| {
        if index == 0 {
            moved.advance(Duration::from_secs(25));
        }
        Reply::status(200)
    });
    let queue = FakeQueue::new();
    queue.runs_per_session.store(true, Ordering::SeqCst);
    queue.commit("s-a", clock.now());
    queue.commit("s-a", clock.now());
    let mut config = config(&receiver.url);
    config.lease = Duration::from_secs(20);
    let worker = worker(&queue, config, &clock);

    assert_eq!(worker.run_once().await.unwrap(), 2);
    assert_eq!(receiver.ids(), ["evt_1"], "the lease ended 5 s before the second attempt");
    assert_eq!((queue.state(2), queue.row(2).attempts), (State::Pending, 0));

    worker.run_once().await.unwrap();
    assert_eq!(queue.state(2), State::Delivered, "taken again, its lease having ended");
}

/// The wall clock: a lease that ends in real time.
struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> evo_domain::Timestamp {
        chrono::Utc::now()
    }
}

#[tokio::test]
async fn a_delivery_longer_than_the_lease_renews_it_so_no_other_worker_takes_the_event() {
    let receiver = Receiver::answering(|_, _| Reply::status(200).after(Duration::from_millis(1200)));
    let queue = FakeQueue::new();
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let id = queue.commit("s-a", clock.now());
    let mut config = config(&receiver.url);
    config.lease = Duration::from_millis(300);
    let first = DeliveryWorker::new(Arc::clone(&queue), config.clone(), Arc::clone(&clock));
    let second = DeliveryWorker::new(Arc::clone(&queue), config, clock);

    let slow = tokio::spawn(async move { first.run_once().await.unwrap() });
    // Twice the lease later, while the first attempt still waits for its answer.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(second.run_once().await.unwrap(), 0, "the renewed lease keeps the event off a second worker");
    assert_eq!(slow.await.unwrap(), 1);

    assert_eq!(queue.state(id), State::Delivered);
    assert_eq!(receiver.ids(), [format!("evt_{id}")], "delivered once");
    assert!(queue.renewals.lock().unwrap().len() >= 2, "renewed every 100 ms");
}

#[tokio::test]
async fn after_the_retry_window_the_event_is_dead_lettered_and_its_session_goes_on() {
    let receiver = Receiver::answering(|request, _| {
        Reply::status(if request.webhook_id() == "evt_1" { 500 } else { 200 })
    });
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let t0 = clock.now();
    let dead = queue.commit("s-a", t0);
    let next = queue.commit("s-a", t0);
    let mut config = config(&receiver.url);
    config.retry_window = Duration::from_secs(4);
    let worker = worker(&queue, config, &clock);

    // Attempts at t0, t0+1 and t0+3 fail; the backoff would then wait 4 s, but the last
    // attempt falls at the window's end, t0+4, and after it the event is a dead letter.
    let mut retries = Vec::new();
    for _ in 0..3 {
        worker.run_once().await.unwrap();
        let row = queue.row(dead);
        assert_eq!(row.state, State::Pending);
        retries.push((row.next_attempt_at - t0).num_seconds());
        clock.advance((row.next_attempt_at - clock.now()).to_std().unwrap());
    }
    assert_eq!(retries, [1, 3, 4]);
    worker.run_once().await.unwrap();
    let row = queue.row(dead);
    assert_eq!((row.state, row.attempts), (State::Dead, 4), "the window has passed");
    assert_eq!(row.last_error.as_deref(), Some("the receiver answered HTTP 500"));
    assert_eq!(queue.delivery_counts().await.unwrap().dead, 1);

    worker.run_once().await.unwrap();
    assert_eq!(queue.state(next), State::Delivered, "a dead letter no longer holds its session back");
    assert_eq!(receiver.ids(), ["evt_1", "evt_1", "evt_1", "evt_1", "evt_2"]);
}

#[tokio::test]
async fn an_event_found_past_its_window_is_tried_once_before_it_is_dead_lettered() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let id = queue.commit("s-a", clock.now());
    let mut config = config(&receiver.url);
    config.retry_window = Duration::from_secs(60);
    clock.advance(Duration::from_secs(3600));
    let worker = worker(&queue, config, &clock);

    worker.run_once().await.unwrap();
    assert_eq!(queue.state(id), State::Delivered);
}

#[tokio::test]
async fn redelivered_dead_letters_are_delivered() {
    let receiver = Receiver::answering(|_, _| Reply::status(500));
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let id = queue.commit("s-a", clock.now());
    let mut config = config(&receiver.url);
    config.retry_window = Duration::from_secs(1);
    let worker = worker(&queue, config, &clock);
    worker.run_once().await.unwrap();
    clock.advance(Duration::from_secs(1));
    worker.run_once().await.unwrap();
    assert_eq!(queue.state(id), State::Dead);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(worker.run_once().await.unwrap(), 0, "a dead letter is not retried");

    receiver.set_script(|_, _| Reply::status(200));
    assert_eq!(queue.redeliver_dead(clock.now()).await.unwrap(), 1);
    worker.run_once().await.unwrap();

    assert_eq!(queue.state(id), State::Delivered);
    assert_eq!(receiver.ids(), ["evt_1", "evt_1", "evt_1"], "the same webhook-id again");
}

#[tokio::test]
async fn no_answer_in_time_and_no_connection_are_failed_attempts() {
    let receiver = Receiver::answering(|_, _| Reply::status(200).after(Duration::from_millis(1500)));
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let slow = queue.commit("s-slow", clock.now());
    let mut slow_config = config(&receiver.url);
    slow_config.request_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    worker(&queue, slow_config, &clock).run_once().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "gave up after the timeout: {:?}",
        started.elapsed()
    );
    let row = queue.row(slow);
    assert_eq!((row.state, row.attempts), (State::Pending, 1));
    assert_eq!(row.last_error.as_deref(), Some("no answer within 300ms"));

    let refused = queue.commit("s-refused", clock.now());
    worker(&queue, config(&closed_url()), &clock).run_once().await.unwrap();
    let row = queue.row(refused);
    assert_eq!((row.state, row.attempts), (State::Pending, 1));
    let detail = row.last_error.unwrap();
    assert!(!detail.is_empty() && detail.len() <= 210, "{detail}");
    assert!(!detail.contains("MfKQ9r8"), "no secret in the detail: {detail}");
}

#[tokio::test]
async fn the_worker_wakes_when_notified_polls_otherwise_and_stops_on_shutdown() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let mut config = config(&receiver.url);
    config.poll_interval = Duration::from_secs(60);
    let worker = worker(&queue, config, &clock);
    let wake = worker.waker();
    let shutdown = CancellationToken::new();
    let running = worker.spawn(shutdown.clone());

    // Let the worker find the outbox empty and go to sleep for a minute.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = queue.commit("s-a", clock.now());
    wake.notify_one();
    let received = tokio::task::spawn_blocking({
        let receiver = receiver.clone();
        move || receiver.wait_for(1, PATIENCE)
    })
    .await
    .unwrap();
    assert_eq!(received.len(), 1, "woken, not waiting for the minute's poll");
    wait_until(|| queue.state(id) == State::Delivered).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), running).await.expect("stops promptly").unwrap();
}

#[tokio::test]
async fn without_a_wake_up_the_worker_polls() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let shutdown = CancellationToken::new();
    let running = worker(&queue, config(&receiver.url), &clock).spawn(shutdown.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let id = queue.commit("s-a", clock.now());
    wait_until(|| queue.state(id) == State::Delivered).await;
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_failing_store_is_waited_out() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    queue.failing.store(true, Ordering::SeqCst);
    let id = queue.commit("s-a", clock.now());
    let shutdown = CancellationToken::new();
    let running = worker(&queue, config(&receiver.url), &clock).spawn(shutdown.clone());

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(receiver.received().is_empty());
    assert!(!running.is_finished(), "a store failure does not end the worker");
    queue.failing.store(false, Ordering::SeqCst);
    wait_until(|| queue.state(id) == State::Delivered).await;

    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_full_batch_is_followed_by_the_next_one_at_once() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let ids: Vec<u64> = (0..10).map(|n| queue.commit(&format!("s-{n}"), clock.now())).collect();
    let mut config = config(&receiver.url);
    config.batch_size = 3;
    config.poll_interval = Duration::from_secs(60);
    let shutdown = CancellationToken::new();
    let running = worker(&queue, config, &clock).spawn(shutdown.clone());
    wait_until(|| ids.iter().all(|&id| queue.state(id) == State::Delivered)).await;
    shutdown.cancel();
    running.await.unwrap();
}

async fn wait_until(done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "not done within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_sessions_backlog_goes_out_without_waiting_for_the_poll() {
    let receiver = Receiver::start();
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    // One session's backlog: the queue hands out one of its events per claim.
    let ids: Vec<u64> = (0..5).map(|_| queue.commit("s-a", clock.now())).collect();
    let mut config = config(&receiver.url);
    config.poll_interval = Duration::from_secs(60);
    let shutdown = CancellationToken::new();
    let running = worker(&queue, config, &clock).spawn(shutdown.clone());
    let started = std::time::Instant::now();
    wait_until(|| ids.iter().all(|id| queue.state(*id) == State::Delivered)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "a delivery is followed by the next claim at once");
    shutdown.cancel();
    running.await.unwrap();
}

/// A batch's deliveries are recorded together: one `mark_delivered` for the whole claim (a
/// commit per event would cost the database a WAL flush each), none for a failed attempt.
#[tokio::test]
async fn a_batch_is_recorded_delivered_in_one_call() {
    let receiver = Receiver::answering(|request, _| {
        Reply::status(if request.body_text().contains("\"s-3\"") { 500 } else { 204 })
    });
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let ids: Vec<_> = ["s-1", "s-2", "s-3", "s-4"].iter().map(|s| queue.commit(s, clock.now())).collect();
    let worker = worker(&queue, config(&receiver.url), &clock);

    assert_eq!(worker.run_once().await.unwrap(), 4);

    let mut marks = queue.marks_delivered.lock().unwrap().clone();
    assert_eq!(marks.len(), 1, "one record for the batch: {marks:?}");
    marks[0].sort_unstable();
    assert_eq!(marks[0], [ids[0], ids[1], ids[3]], "the delivered ones, not the failed one");
    assert_eq!(queue.state(ids[2]), State::Pending);
    assert!([ids[0], ids[1], ids[3]].iter().all(|&id| queue.state(id) == State::Delivered));
}

/// A delivery the store cannot record at once (a database restarting, a failover under way)
/// is recorded again within its lease once the store answers: the event is delivered once,
/// and its session's next event need not wait out the lease.
#[tokio::test]
async fn a_record_the_store_refused_is_made_again_within_the_lease() {
    let queue = FakeQueue::new();
    let store = Arc::clone(&queue);
    // The store goes down as the receiver answers, and is back 300 ms later.
    let receiver = Receiver::answering(move |_, index| {
        if index == 0 {
            store.failing.store(true, Ordering::SeqCst);
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                store.failing.store(false, Ordering::SeqCst);
            });
        }
        Reply::status(200)
    });
    let clock = ManualClock::new();
    let first = queue.commit("s-1", clock.now());
    let worker = worker(&queue, config(&receiver.url), &clock);

    assert_eq!(worker.run_once().await.unwrap(), 1);

    assert_eq!(queue.state(first), State::Delivered, "recorded once the store was back");
    let next = queue.commit("s-1", clock.now());
    assert_eq!(
        worker.run_once().await.unwrap(),
        1,
        "the session's next event is due at once, not after the lease"
    );
    assert_eq!(queue.state(next), State::Delivered);
    assert_eq!(receiver.ids(), [format!("evt_{first}"), format!("evt_{next}")], "each sent once");
}
