//! What the worker tells `/metrics`, read back from a Prometheus recorder (the one the
//! binary installs). One test: the recorder is global to this test binary.

mod support;

use std::sync::Arc;
use std::time::Duration;

use evo_ports::Clock;
use evo_webhooks::{CancellationToken, DeliveryWorker, metrics};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use support::{FakeQueue, ManualClock, Receiver, Reply, State, config};

#[tokio::test]
async fn deliveries_retries_dead_letters_latency_and_the_gauges_are_exported() {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(metrics::DELIVERY_LATENCY.to_owned()),
            metrics::DELIVERY_LATENCY_BUCKETS,
        )
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder).unwrap();

    let receiver = Receiver::answering(|request, _| {
        Reply::status(if request.webhook_id() == "evt_1" { 200 } else { 500 })
    });
    let (queue, clock) = (FakeQueue::new(), ManualClock::new());
    let delivered = queue.commit("s-a", clock.now());
    let dead = queue.commit("s-b", clock.now());
    let mut config = config(&receiver.url);
    config.retry_window = Duration::from_secs(2);
    config.poll_interval = Duration::from_secs(60);
    let worker = DeliveryWorker::new(Arc::clone(&queue), config, Arc::clone(&clock) as Arc<dyn Clock>);
    let wake = worker.waker();
    let shutdown = CancellationToken::new();
    let running = worker.spawn(shutdown.clone());

    // The first pass: evt_1 delivered 1.5 s after its commit (on the worker's clock), evt_2
    // retried; then evt_2 past its window: dead.
    clock.advance(Duration::from_millis(1500));
    wake.notify_one();
    wait_until(|| queue.state(delivered) == State::Delivered && queue.row(dead).attempts == 1).await;
    clock.advance(Duration::from_secs(1));
    wake.notify_one();
    wait_until(|| queue.state(dead) == State::Dead).await;
    wait_until(|| handle.render().contains("evo_webhook_dead_letters 1")).await;

    let text = handle.render();
    shutdown.cancel();
    running.await.unwrap();
    for line in [
        r#"evo_webhook_deliveries_total{outcome="delivered"} 1"#,
        r#"evo_webhook_deliveries_total{outcome="retried"} 1"#,
        r#"evo_webhook_deliveries_total{outcome="dead_lettered"} 1"#,
        r#"evo_webhook_delivery_latency_seconds_bucket{le="1"} 0"#,
        r#"evo_webhook_delivery_latency_seconds_bucket{le="2.5"} 1"#,
        "evo_webhook_delivery_latency_seconds_count 1",
        "evo_webhook_pending 0",
        "evo_webhook_dead_letters 1",
    ] {
        assert!(text.lines().any(|exported| exported == line), "{line:?} missing from:\n{text}");
    }
}

async fn wait_until(done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(3), "not done in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
