//! Outbox retention: settled events past the retention window go, in bounded batches;
//! pending events and dead letters stay.

mod support;

use std::sync::Arc;
use std::time::Duration;

use evo_ports::Clock;
use evo_webhooks::{CancellationToken, RetentionConfig, RetentionTask, purge_settled};
use support::{FakeQueue, ManualClock, State};

#[tokio::test]
async fn settled_events_older_than_the_window_are_purged_in_batches() {
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let old: Vec<u64> = (0..1200).map(|n| queue.commit(&format!("s-{n}"), clock.now())).collect();
    for &id in &old {
        queue.set_state(id, State::Delivered);
    }
    let pending = queue.commit("s-pending", clock.now());
    let dead = queue.commit("s-dead", clock.now());
    queue.set_state(dead, State::Dead);
    clock.advance(Duration::from_secs(72 * 3600 - 60));
    let recent = queue.commit("s-recent", clock.now());
    queue.set_state(recent, State::Delivered);
    clock.advance(Duration::from_secs(120));

    let purged =
        purge_settled(queue.as_ref(), clock.now(), &RetentionConfig::default(), &CancellationToken::new())
            .await
            .unwrap();

    assert_eq!(purged, 1200);
    assert_eq!(queue.ids(), [pending, dead, recent], "pending, dead and recent events are kept");
    assert_eq!(*queue.purges.lock().unwrap(), [500, 500, 500], "500 at a time until a short batch");
}

#[tokio::test]
async fn the_task_purges_at_start_and_every_interval_until_shutdown() {
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let first = queue.commit("s-1", clock.now());
    queue.set_state(first, State::Delivered);
    let config = RetentionConfig {
        retention: Duration::from_secs(3600),
        dead_letter_retention: Duration::from_secs(30 * 86_400),
        batch: 10,
        interval: Duration::from_millis(50),
    };
    clock.advance(Duration::from_secs(3601));
    let shutdown = CancellationToken::new();
    let running = RetentionTask::new(Arc::clone(&queue), config, Arc::clone(&clock) as Arc<dyn Clock>)
        .spawn(shutdown.clone());

    wait_until(|| queue.ids().is_empty()).await;
    let second = queue.commit("s-2", clock.now());
    queue.set_state(second, State::Delivered);
    clock.advance(Duration::from_secs(3601));
    wait_until(|| queue.ids().is_empty()).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), running).await.expect("stops promptly").unwrap();
}

#[tokio::test]
async fn a_failing_store_does_not_end_the_task() {
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    queue.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let id = queue.commit("s-1", clock.now());
    queue.set_state(id, State::Delivered);
    clock.advance(Duration::from_secs(100 * 3600));
    let config = RetentionConfig { interval: Duration::from_millis(30), ..RetentionConfig::default() };
    let shutdown = CancellationToken::new();
    let running = RetentionTask::new(Arc::clone(&queue), config, Arc::clone(&clock) as Arc<dyn Clock>)
        .spawn(shutdown.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(queue.ids(), [id]);
    queue.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_until(|| queue.ids().is_empty()).await;
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn dead_letters_older_than_their_window_are_purged_and_younger_ones_kept() {
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let old = queue.commit("s-old", clock.now());
    queue.set_state(old, State::Dead);
    clock.advance(Duration::from_secs(29 * 86_400));
    let young = queue.commit("s-young", clock.now());
    queue.set_state(young, State::Dead);
    let pending = queue.commit("s-pending", clock.now());
    clock.advance(Duration::from_secs(86_400 + 60));

    let purged =
        purge_settled(queue.as_ref(), clock.now(), &RetentionConfig::default(), &CancellationToken::new())
            .await
            .unwrap();

    assert_eq!(purged, 1, "the dead letter of 30 days and a minute");
    assert_eq!(queue.ids(), [young, pending], "a younger dead letter and a pending event stay");
}

async fn wait_until(done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(3), "not done in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
